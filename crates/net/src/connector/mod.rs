//! The ILP connector: BTP peering, routing, fees, exchange rates, ledger integration, IL-DCP.
//!
//! # Interface for local code (STREAM, SPSP, Nostr pay-to-write)
//!
//! Everything that handles ILP packets implements [`IlpService`]:
//!
//! ```ignore
//! pub type IlpReply = Result<Fulfill, Reject>;
//! pub struct IncomingRequest { pub from: AccountId, pub prepare: Prepare }
//! pub trait IlpService: Send + Sync + 'static {
//!     fn handle(&self, req: IncomingRequest) -> BoxFuture<'_, IlpReply>;
//! }
//! ```
//!
//! - Receiving: `connector.add_local_handler(prefix, Arc<dyn IlpService>)` makes the node
//!   deliver every PREPARE whose destination starts with `prefix` (longest prefix wins) to
//!   the handler instead of forwarding it. The incoming leg is booked on the sending peer's
//!   account; the money stays with the node.
//! - Sending: `connector.sender(AccountId::local())` returns an `Arc<dyn IlpService>`; each
//!   PREPARE handed to it runs through the full pipeline (route, fee/rate, ledger, forward) as
//!   if it had arrived from that account. `AccountId::local()` ("self") means the node pays
//!   from its own funds (no incoming ledger leg); any configured account id books the
//!   incoming leg on that account like a peer's packet.
//!
//! # Running a node
//!
//! ```ignore
//! let node = Node::start(NodeConfig::load(path)?).await?;   // or NodeConfig::from_toml(text, name)
//! node.connector.add_local_handler("g.tollcast.me.stream", receiver);
//! let pay = node.connector.sender(AccountId::local());
//! let reply = pay.handle(IncomingRequest { from: AccountId::local(), prepare }).await;
//! node.connector.add_route("g.other", AccountId::from("peer"));
//! node.connector.wait_connected(&AccountId::from("peer"), timeout).await;
//! ```
//!
//! `Node::start` opens the ledger (`":memory:"` for a throwaway one), rolls back packets a
//! crash left in flight, serves BTP at `ws://<listen>/`, Prometheus text at `/metrics` and
//! balances at `/accounts` (JSON [`AccountsView`]), and dials accounts that have a `btp_url`
//! (reconnecting with exponential backoff).
//!
//! # Pipeline
//!
//! A packet goes validate (expiry, IL-DCP) -> balance (reserve on the incoming account) ->
//! route (longest prefix) -> rate/fee -> balance (reserve on the outgoing account) -> send
//! (BTP peer or local handler, with a timeout at the shortened expiry); FULFILL commits both
//! legs, REJECT or timeout rolls both back.

pub mod btp_codec;
pub mod btp_peer;
pub mod config;
pub mod core;
pub mod ildcp;
pub mod metrics;
pub mod node;
pub mod rates;
pub mod router;
pub mod service;

pub use config::NodeConfig;
pub use core::{AccountInfo, Connector, Settings};
pub use node::{AccountView, AccountsView, Node};
pub use service::{AccountId, IlpReply, IlpService, IncomingRequest, ServiceFn};
