//! The one interface every ILP packet handler implements: a service that takes an incoming
//! PREPARE (and the account it came from) and answers with a FULFILL or a REJECT.
//!
//! The connector pipeline (validate -> balance -> route -> send), local handlers (STREAM
//! receiver, Nostr pay-to-write) and local senders all speak this trait, in the spirit of
//! `tower::Service` but without back-pressure plumbing: a packet is a single request/response.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use tollcast_wire::ilp::{Fulfill, Prepare, Reject};

/// The answer to a PREPARE: FULFILL on success, REJECT otherwise.
pub type IlpReply = Result<Fulfill, Reject>;

/// Identifies one account (a peer, parent, child or local account) of a node's ledger.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct AccountId(pub String);

impl AccountId {
    /// The node's own funds: packets sent `from` this account have no incoming ledger leg
    /// (the node itself pays), see `Connector::sender`.
    pub const LOCAL: &'static str = "self";

    pub fn new(id: impl Into<String>) -> Self {
        AccountId(id.into())
    }
    /// The node's own account ([`AccountId::LOCAL`]).
    pub fn local() -> Self {
        AccountId(Self::LOCAL.to_string())
    }
    pub fn is_local(&self) -> bool {
        self.0 == Self::LOCAL
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for AccountId {
    fn from(s: &str) -> Self {
        AccountId(s.to_string())
    }
}

impl From<String> for AccountId {
    fn from(s: String) -> Self {
        AccountId(s)
    }
}

/// A PREPARE together with the account it arrived from.
#[derive(Clone, Debug)]
pub struct IncomingRequest {
    pub from: AccountId,
    pub prepare: Prepare,
}

/// Something that answers ILP PREPAREs.
pub trait IlpService: Send + Sync + 'static {
    fn handle(&self, req: IncomingRequest) -> BoxFuture<'_, IlpReply>;
}

impl<T: IlpService + ?Sized> IlpService for Arc<T> {
    fn handle(&self, req: IncomingRequest) -> BoxFuture<'_, IlpReply> {
        (**self).handle(req)
    }
}

/// Adapts an async closure into an [`IlpService`] (handy for local handlers and tests).
pub struct ServiceFn<F>(pub F);

impl<F, Fut> IlpService for ServiceFn<F>
where
    F: Fn(IncomingRequest) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = IlpReply> + Send + 'static,
{
    fn handle(&self, req: IncomingRequest) -> BoxFuture<'_, IlpReply> {
        Box::pin((self.0)(req))
    }
}
