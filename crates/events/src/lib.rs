//! tollcast-events: the Nostr event kinds tollcast speaks and their TOON mapping.
//!
//! Owns typed builders/parsers for live events (NIP-53 30311, chat 1311), NIP-90 jobs,
//! segment manifests, relay offers, moderation events, and the TOON encoding of signed
//! events carried inside ILP packets.
