//! tollcast-agents: the roles of the network (streamer, transcoder, relay, viewer, moderator,
//! recorder), their pricing and revenue splits, built on net, media and ledger.
