//! The connector pipeline: validate -> balance -> route -> rate/fee -> balance -> send.
//!
//! Each packet runs in its own task. Both ledger legs of a forwarded packet are reserved in
//! one atomic ledger transaction and committed (FULFILL) or released (REJECT, timeout,
//! unreachable peer) in another, so every path leaves the ledgers balanced.
//!
//! Settlement: when what we owe a peer crosses its threshold, an account with a
//! `peer_pubkey` is settled by a signed cumulative payment-channel claim (the ledger's
//! [`LocalClaimEngine`]) sent as a BTP Message with protocolData
//! [`PROTOCOL_DATA_NAME`] (JSON); the peer credits only claims its ledger verifies (signature
//! by our registered key, cumulative and seq never going back). Claims are cumulative, so the
//! latest one is resent after a failed delivery and on every reconnect (the peer credits only
//! the difference). Accounts without a `peer_pubkey` settle by BTP Transfer (trusted peers).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::btp_codec::{self, ProtocolData};
use futures::future::BoxFuture;
use tollcast_ledger::{
    Direction as LDir, EngineMessage, Ledger, LedgerError, LocalClaimEngine, PROTOCOL_DATA_NAME,
    PacketId, SettlementDue,
};
use tollcast_wire::address::Address;
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ilp::{Prepare, Reject};

use super::btp_peer::{LinkHandler, PeerLink};
use super::config::Relation;
use super::ildcp;
use super::metrics::{Direction, Metrics, Outcome};
use super::rates::{Fee, RateTable, forward_amount};
use super::router::{Hop, Router};
use super::service::{AccountId, IlpReply, IlpService, IncomingRequest};

/// Static facts about one account (from the config).
#[derive(Clone, Debug)]
pub struct AccountInfo {
    pub id: AccountId,
    pub relation: Relation,
    pub asset_code: String,
    pub asset_scale: u8,
    /// Expected BTP token when the peer connects to us (None: we are the client).
    pub server_token: Option<String>,
    pub max_packet_amount: Option<u64>,
    pub fee: Option<Fee>,
    /// Whether BTP Transfers from this peer are credited (see the config field).
    pub accept_btp_settlement: bool,
    /// The peer's x-only key: settlement with it is by signed claims (see the module doc).
    pub peer_pubkey: Option<[u8; 32]>,
}

/// Tunables of the pipeline.
#[derive(Clone, Debug)]
pub struct Settings {
    pub expiry_margin: Duration,
    pub max_hold: Duration,
    pub default_fee: Fee,
}

/// The connector: accounts, routes, live BTP links, ledger and counters.
pub struct Connector {
    address: Address,
    accounts: HashMap<AccountId, AccountInfo>,
    router: RwLock<Router>,
    local_handlers: RwLock<Vec<Arc<dyn IlpService>>>,
    links: RwLock<HashMap<AccountId, Arc<PeerLink>>>,
    link_events: tokio::sync::watch::Sender<u64>,
    settling: std::sync::Mutex<HashSet<AccountId>>,
    /// Accounts whose latest claim the peer has not acknowledged yet (resent periodically).
    unacked: std::sync::Mutex<HashSet<AccountId>>,
    engine: LocalClaimEngine,
    ledger: Ledger,
    rates: RateTable,
    settings: Settings,
    metrics: Metrics,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs a blocking ledger call off the async executor.
async fn ledger_op<T: Send + 'static>(
    ledger: &Ledger,
    f: impl FnOnce(&Ledger) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, LedgerError> {
    let l = ledger.clone();
    tokio::task::spawn_blocking(move || f(&l))
        .await
        .unwrap_or_else(|e| Err(LedgerError::Store(format!("ledger task failed: {e}"))))
}

impl Connector {
    pub fn new(
        address: Address,
        accounts: Vec<AccountInfo>,
        ledger: Ledger,
        rates: RateTable,
        settings: Settings,
        keys: nostr::key::Keys,
    ) -> Arc<Self> {
        let mut router = Router::default();
        for a in &accounts {
            match a.relation {
                Relation::Child => router.insert(
                    format!("{}.{}", address.as_str(), a.id),
                    Hop::Account(a.id.clone()),
                ),
                Relation::Parent => router.insert("", Hop::Account(a.id.clone())),
                Relation::Peer => {}
            }
        }
        Arc::new(Connector {
            address,
            accounts: accounts.into_iter().map(|a| (a.id.clone(), a)).collect(),
            router: RwLock::new(router),
            local_handlers: RwLock::new(Vec::new()),
            links: RwLock::new(HashMap::new()),
            link_events: tokio::sync::watch::channel(0).0,
            settling: Default::default(),
            unacked: Default::default(),
            engine: LocalClaimEngine::new(ledger.clone(), keys),
            ledger,
            rates,
            settings,
            metrics: Metrics::default(),
        })
    }

    /// This node's ILP address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The claim engine that signs our claims and verifies the peers' (node key).
    pub fn claim_engine(&self) -> &LocalClaimEngine {
        &self.engine
    }

    /// This node's x-only public key (what peers configure as `peer_pubkey`).
    pub fn node_pubkey(&self) -> [u8; 32] {
        self.engine.pubkey()
    }

    pub fn metrics_ref(&self) -> &Metrics {
        &self.metrics
    }

    pub fn account_info(&self, id: &AccountId) -> Option<&AccountInfo> {
        self.accounts.get(id)
    }

    pub fn account_infos(&self) -> impl Iterator<Item = &AccountInfo> {
        self.accounts.values()
    }

    /// Adds a static route: destinations under `prefix` go to `account`.
    pub fn add_route(&self, prefix: impl Into<String>, account: AccountId) {
        self.router
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(prefix, Hop::Account(account));
    }

    /// Delivers every PREPARE under `prefix` to `handler` (longest prefix wins). The money
    /// stays with this node; the incoming leg is booked on the sender's account.
    pub fn add_local_handler(&self, prefix: impl Into<String>, handler: Arc<dyn IlpService>) {
        let mut hs = self
            .local_handlers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        hs.push(handler);
        let idx = hs.len() - 1;
        self.router
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(prefix, Hop::Local(idx));
    }

    /// A service that injects PREPAREs into the pipeline as if they came from `from`
    /// (`AccountId::local()`: the node pays from its own funds, no incoming leg).
    pub fn sender(self: &Arc<Self>, from: AccountId) -> Arc<dyn IlpService> {
        Arc::new(LocalSender {
            connector: self.clone(),
            from,
        })
    }

    /// True when a BTP link to `account` is up.
    pub fn is_connected(&self, account: &AccountId) -> bool {
        self.links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(account)
            .is_some_and(|l| l.is_open())
    }

    /// Waits until `account` has a live link (for start-up ordering and tests).
    pub async fn wait_connected(&self, account: &AccountId, timeout: Duration) -> bool {
        let mut rx = self.link_events.subscribe();
        let fut = async {
            loop {
                if self.is_connected(account) {
                    return;
                }
                if rx.changed().await.is_err() {
                    futures::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, fut).await.is_ok()
    }

    fn link(&self, account: &AccountId) -> Option<Arc<PeerLink>> {
        self.links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(account)
            .cloned()
    }

    fn reject(&self, code: ErrorCode, message: impl Into<String>) -> Reject {
        Reject::new(code, Some(self.address.clone()), message)
    }

    /// The whole pipeline for one PREPARE. It runs as its own task: a caller that stops
    /// waiting (a cancelled payment, a dropped future) must not leave a reservation booked and
    /// never settled, so the packet is always carried to its fulfill, reject or expiry.
    pub async fn process(self: &Arc<Self>, req: IncomingRequest) -> IlpReply {
        let me = self.clone();
        match tokio::spawn(async move { me.process_counted(req).await }).await {
            Ok(reply) => reply,
            Err(e) => Err(self.reject(
                ErrorCode::T00_INTERNAL_ERROR,
                format!("packet task failed: {e}"),
            )),
        }
    }

    async fn process_counted(self: &Arc<Self>, req: IncomingRequest) -> IlpReply {
        let from = req.from.clone();
        let amount = req.prepare.amount;
        let result = self.process_inner(req).await;
        let acc = from.as_str();
        match &result {
            Ok(_) => self
                .metrics
                .packet(acc, Direction::Incoming, Outcome::Fulfilled, amount),
            Err(r) => {
                self.metrics
                    .packet(acc, Direction::Incoming, Outcome::Rejected, amount);
                self.metrics.reject(acc, r.code.as_str());
            }
        }
        result
    }

    async fn process_inner(self: &Arc<Self>, req: IncomingRequest) -> IlpReply {
        let IncomingRequest { from, prepare } = req;
        let from_info = if from.is_local() {
            None
        } else {
            match self.accounts.get(&from) {
                Some(a) => Some(a.clone()),
                None => {
                    return Err(self.reject(
                        ErrorCode::F00_BAD_REQUEST,
                        format!("unknown source account {from}"),
                    ));
                }
            }
        };
        let now = SystemTime::now();
        // validate
        if prepare.expires_at <= now {
            return Err(self.reject(
                ErrorCode::R00_TRANSFER_TIMED_OUT,
                format!(
                    "packet expired {} ms before {} could forward it",
                    ms(now).saturating_sub(ms(prepare.expires_at)),
                    self.address.as_str()
                ),
            ));
        }
        let dest = prepare.destination.as_str();
        if dest == "peer.config" {
            return match &from_info {
                Some(a) if a.relation != Relation::Parent => Ok(ildcp::serve(&self.address, a)),
                Some(_) => Err(self.reject(
                    ErrorCode::F00_BAD_REQUEST,
                    "IL-DCP is served to children and peers, not to our parent",
                )),
                None => Err(self.reject(ErrorCode::F00_BAD_REQUEST, "IL-DCP needs a peer account")),
            };
        }
        if dest.starts_with("peer.") {
            return Err(self.reject(
                ErrorCode::F02_UNREACHABLE,
                format!(
                    "peer protocol {dest} is not supported by {}",
                    self.address.as_str()
                ),
            ));
        }
        if let Some(max) = from_info.as_ref().and_then(|a| a.max_packet_amount)
            && prepare.amount > max
        {
            return Err(Reject::amount_too_large(
                Some(self.address.clone()),
                prepare.amount,
                max,
            ));
        }
        // route
        let hop = self
            .router
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .lookup(dest)
            .cloned();
        match hop {
            None => Err(self.reject(
                ErrorCode::F02_UNREACHABLE,
                format!("no route to {dest} at {}", self.address.as_str()),
            )),
            Some(Hop::Local(i)) => {
                let handler = self
                    .local_handlers
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(i)
                    .cloned();
                match handler {
                    Some(h) => self.deliver_local(from, prepare, h).await,
                    None => {
                        Err(self.reject(ErrorCode::T00_INTERNAL_ERROR, "local handler vanished"))
                    }
                }
            }
            Some(Hop::Account(next)) => self.forward(from, from_info, prepare, next, now).await,
        }
    }

    fn ledger_reject(&self, e: LedgerError, incoming_amount: u64) -> Reject {
        match e {
            LedgerError::InsufficientBalance { account, balance, pending, min_balance, amount } => self.reject(
                ErrorCode::T04_INSUFFICIENT_LIQUIDITY,
                format!("insufficient liquidity: account {account} cannot reserve {amount} (balance {balance}, pending {pending}, credit limit {})", -min_balance),
            ),
            LedgerError::ExceedsMaxBalance { account, max_balance, amount, .. } => self.reject(
                ErrorCode::T04_INSUFFICIENT_LIQUIDITY,
                format!("insufficient liquidity: forwarding {amount} to {account} would exceed what we may owe it ({max_balance})"),
            ),
            LedgerError::AmountTooLarge { max, .. } => Reject::amount_too_large(Some(self.address.clone()), incoming_amount, max),
            other => {
                tracing::error!("ledger error: {other}");
                self.reject(ErrorCode::T00_INTERNAL_ERROR, format!("ledger error at {}", self.address.as_str()))
            }
        }
    }

    async fn deliver_local(
        &self,
        from: AccountId,
        prepare: Prepare,
        handler: Arc<dyn IlpService>,
    ) -> IlpReply {
        let id = PacketId::new(rand::random());
        let leg = (!from.is_local()).then(|| from.0.clone());
        if let Some(acc) = leg.clone() {
            let (amount, exp) = (prepare.amount, ms(prepare.expires_at));
            // Queued to the group committer without a blocking-pool hand-off (per packet).
            if let Err(e) = self
                .ledger
                .submit_async(move |tx| tx.prepare(LDir::Incoming, &acc, id, amount, exp))
                .await
            {
                return Err(self.ledger_reject(e, prepare.amount));
            }
        }
        // A local handler is held at most `max_hold`, however far away the expiry is.
        let deadline = deadline_of(
            prepare
                .expires_at
                .min(SystemTime::now() + self.settings.max_hold),
        );
        let req = IncomingRequest {
            from,
            prepare: prepare.clone(),
        };
        let reply = match tokio::time::timeout_at(deadline, handler.handle(req)).await {
            Ok(Ok(f)) if prepare.matches(&f) => Ok(f),
            Ok(Ok(_)) => Err(self.reject(
                ErrorCode::F05_WRONG_CONDITION,
                "local receiver returned a fulfillment that does not match the condition",
            )),
            Ok(Err(r)) => Err(r),
            Err(_) => Err(self.reject(
                ErrorCode::R00_TRANSFER_TIMED_OUT,
                "local receiver did not answer before the packet expired (or the hold limit passed)",
            )),
        };
        if let Some(acc) = leg {
            let ok = reply.is_ok();
            let res = self
                .ledger
                .submit_async(move |tx| {
                    if ok {
                        tx.fulfill(LDir::Incoming, &acc, id)
                    } else {
                        tx.reject(LDir::Incoming, &acc, id)
                    }
                })
                .await;
            if let Err(e) = res {
                tracing::error!("ledger error finishing local packet: {e}");
                return Err(self.reject(ErrorCode::T00_INTERNAL_ERROR, "ledger error"));
            }
        }
        reply
    }

    async fn forward(
        self: &Arc<Self>,
        from: AccountId,
        from_info: Option<AccountInfo>,
        prepare: Prepare,
        next: AccountId,
        now: SystemTime,
    ) -> IlpReply {
        if next == from {
            return Err(self.reject(
                ErrorCode::F02_UNREACHABLE,
                format!(
                    "the route to {} points back to the sender {from}",
                    prepare.destination.as_str()
                ),
            ));
        }
        let Some(next_info) = self.accounts.get(&next).cloned() else {
            return Err(self.reject(
                ErrorCode::F02_UNREACHABLE,
                format!("route points at unknown account {next}"),
            ));
        };
        // rate and fee (a local sender pays in the next hop's asset, no fee)
        let out_amount = match &from_info {
            None => prepare.amount,
            Some(fi) => {
                let rate = match self.rates.rate(
                    &fi.asset_code,
                    fi.asset_scale,
                    &next_info.asset_code,
                    next_info.asset_scale,
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        return Err(
                            self.reject(ErrorCode::F02_UNREACHABLE, format!("cannot convert: {e}"))
                        );
                    }
                };
                let fee = fi.fee.unwrap_or(self.settings.default_fee);
                match forward_amount(prepare.amount, &fee, &rate) {
                    Some(a) => a,
                    None => {
                        return Err(self.reject(
                            ErrorCode::F08_AMOUNT_TOO_LARGE,
                            format!(
                                "amount {} overflows after conversion to {}",
                                prepare.amount, next_info.asset_code
                            ),
                        ));
                    }
                }
            }
        };
        // expiry: shortened by the margin, capped by the hold limit
        let Some(out_expiry) = prepare.expires_at.checked_sub(self.settings.expiry_margin) else {
            return Err(self.reject(ErrorCode::R02_INSUFFICIENT_TIMEOUT, "expiry too early"));
        };
        let out_expiry = out_expiry.min(now + self.settings.max_hold);
        if out_expiry <= now {
            return Err(self.reject(
                ErrorCode::R02_INSUFFICIENT_TIMEOUT,
                format!(
                    "packet expires in {} ms; {} needs {} ms to forward it",
                    ms(prepare.expires_at).saturating_sub(ms(now)),
                    self.address.as_str(),
                    self.settings.expiry_margin.as_millis()
                ),
            ));
        }
        // balance: reserve both legs atomically
        let id = PacketId::new(rand::random());
        let in_leg = from_info.as_ref().map(|a| a.id.0.clone());
        {
            let (in_leg, next_s) = (in_leg.clone(), next.0.clone());
            let (in_amt, in_exp, out_exp) =
                (prepare.amount, ms(prepare.expires_at), ms(out_expiry));
            // Group commit: packets in flight at once share one transaction and one fsync;
            // this packet's two reservations stay atomic (a failing job is rolled back alone).
            let res = self
                .ledger
                .submit_async(move |tx| {
                    if let Some(acc) = &in_leg {
                        tx.prepare(LDir::Incoming, acc, id, in_amt, in_exp)?;
                    }
                    tx.prepare(LDir::Outgoing, &next_s, id, out_amount, out_exp)
                })
                .await;
            if let Err(e) = res {
                return Err(self.ledger_reject(e, prepare.amount));
            }
        }
        // send
        let out = Prepare {
            amount: out_amount,
            expires_at: out_expiry,
            ..prepare.clone()
        };
        let reply = match self.link(&next) {
            None => Err(self.reject(
                ErrorCode::T01_PEER_UNREACHABLE,
                format!("peer {next} is not connected to {}", self.address.as_str()),
            )),
            Some(link) => match link.send_prepare(&out, deadline_of(out_expiry)).await {
                Ok(Ok(f)) if prepare.matches(&f) => Ok(f),
                Ok(Ok(_)) => Err(self.reject(
                    ErrorCode::F05_WRONG_CONDITION,
                    format!("{next} returned a fulfillment that does not match the condition"),
                )),
                Ok(Err(r)) => Err(r),
                Err(super::btp_peer::LinkError::Timeout(_)) => Err(self.reject(
                    ErrorCode::R00_TRANSFER_TIMED_OUT,
                    format!("{next} did not answer before the packet expired"),
                )),
                Err(e) => Err(self.reject(ErrorCode::T01_PEER_UNREACHABLE, e.to_string())),
            },
        };
        let ok = reply.is_ok();
        self.metrics.packet(
            next.as_str(),
            Direction::Outgoing,
            if ok {
                Outcome::Fulfilled
            } else {
                Outcome::Rejected
            },
            out_amount,
        );
        // commit or release both legs atomically
        let next_s = next.0.clone();
        let res = self
            .ledger
            .submit_async(move |tx| {
                let r = if ok {
                    tx.fulfill(LDir::Outgoing, &next_s, id)?
                } else {
                    tx.reject(LDir::Outgoing, &next_s, id)?
                };
                if let Some(acc) = &in_leg {
                    if ok {
                        tx.fulfill(LDir::Incoming, acc, id)?;
                    } else {
                        tx.reject(LDir::Incoming, acc, id)?;
                    }
                }
                Ok(r.settlement_due)
            })
            .await;
        match res {
            Ok(Some(due)) => self.spawn_settlement(due),
            Ok(None) => {}
            Err(e) => {
                tracing::error!("ledger error finishing packet: {e}");
                return Err(self.reject(ErrorCode::T00_INTERNAL_ERROR, "ledger error"));
            }
        }
        reply
    }

    /// Settles what we owe `due.account` down to its `settle_to` (one at a time per account).
    pub fn spawn_settlement(self: &Arc<Self>, due: SettlementDue) {
        let acc = AccountId(due.account.clone());
        {
            let mut s = self.settling.lock().unwrap_or_else(|p| p.into_inner());
            if !s.insert(acc.clone()) {
                return;
            }
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.settle(&acc).await {
                tracing::warn!(account = %acc, "settlement failed (will retry): {e}");
            }
            this.settling
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&acc);
        });
    }

    async fn settle(&self, acc: &AccountId) -> Result<(), String> {
        let link = self
            .link(acc)
            .ok_or_else(|| format!("{acc} is not connected"))?;
        if self
            .accounts
            .get(acc)
            .is_some_and(|a| a.peer_pubkey.is_some())
        {
            return self.settle_by_claim(acc, &link).await;
        }
        // Recompute what is due now: a stale amount could settle twice.
        let a = acc.0.clone();
        let account = ledger_op(&self.ledger, move |l| l.account(&a))
            .await
            .map_err(|e| e.to_string())?;
        let Some(amount) = account.and_then(|a| a.settlement_due()) else {
            return Ok(());
        };
        let reference = hex::encode(rand::random::<[u8; 16]>());
        let (a, r) = (acc.0.clone(), format!("settle:{reference}"));
        ledger_op(&self.ledger, move |l| l.withdraw(&a, amount, &r))
            .await
            .map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let data = [btp_codec::octets(
            SETTLEMENT_REF,
            bytes::Bytes::from(reference.clone()),
        )];
        match link.send_transfer_with(amount, &data, deadline).await {
            Ok(()) => {
                self.metrics.settlement(acc.as_str(), amount);
                Ok(())
            }
            Err(e) => {
                // The peer did not take it: undo our side so both ledgers agree.
                let (a, r) = (acc.0.clone(), format!("settle:{reference}:undo"));
                ledger_op(&self.ledger, move |l| l.deposit(&a, amount, &r))
                    .await
                    .map_err(|e| e.to_string())?;
                Err(e.to_string())
            }
        }
    }

    /// Signs the next cumulative claim for what is due (committed in the ledger in the same
    /// transaction that lowers the balance) and delivers it.
    async fn settle_by_claim(&self, acc: &AccountId, link: &PeerLink) -> Result<(), String> {
        let a = acc.0.clone();
        let engine = self.engine.clone();
        let sent = tokio::task::spawn_blocking(move || engine.settle_due(&a))
            .await
            .map_err(|e| format!("claim task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        let Some(s) = sent else {
            return Ok(());
        };
        // The claim is committed: from here on it only has to reach the peer.
        self.metrics.settlement(acc.as_str(), s.committed.amount);
        self.deliver_claim(acc, link, s.message).await
    }

    /// Sends a claim message; remembers the account for a resend until the peer accepts it.
    async fn deliver_claim(
        &self,
        acc: &AccountId,
        link: &PeerLink,
        message: Vec<u8>,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let pd = [ProtocolData::new(
            PROTOCOL_DATA_NAME,
            btp_codec::ContentType::APPLICATION_JSON,
            bytes::Bytes::from(message),
        )];
        match link.send_settlement_message(&pd, deadline).await {
            Ok(()) => {
                self.unacked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(acc);
                Ok(())
            }
            Err(e) => {
                self.unacked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(acc.clone());
                Err(format!("claim not delivered (will resend): {e}"))
            }
        }
    }

    /// Resends the latest claim on `acc` (after a reconnect or a failed delivery). Claims are
    /// cumulative, so this makes up for any lost one; a peer that has it credits nothing.
    pub async fn resend_latest_claim(&self, acc: &AccountId) -> Result<(), String> {
        if self
            .accounts
            .get(acc)
            .is_none_or(|a| a.peer_pubkey.is_none())
        {
            return Ok(());
        }
        let link = self
            .link(acc)
            .ok_or_else(|| format!("{acc} is not connected"))?;
        let a = acc.0.clone();
        let engine = self.engine.clone();
        let msg = tokio::task::spawn_blocking(move || engine.latest_message(&a))
            .await
            .map_err(|e| format!("claim task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        match msg {
            Some(m) => self.deliver_claim(acc, &link, m).await,
            None => Ok(()),
        }
    }

    /// Verifies a claim a peer sent (BTP protocolData [`PROTOCOL_DATA_NAME`]) and credits the
    /// newly claimed amount once; returns what was credited. Anything else is refused and
    /// changes nothing.
    pub async fn receive_claim_message(
        &self,
        from: &AccountId,
        data: &[u8],
    ) -> Result<u64, String> {
        match self.accounts.get(from) {
            Some(a) if a.peer_pubkey.is_some() => {}
            Some(_) => {
                self.metrics.btp_error("claim_refused");
                return Err(format!(
                    "{} does not settle by claims with {from}: no peer_pubkey configured",
                    self.address.as_str()
                ));
            }
            None => return Err("unknown account".into()),
        }
        // Only claims: a hello could not re-key an account, but keys come from the config.
        let claim = match EngineMessage::from_bytes(data) {
            Ok(EngineMessage::Claim { claim }) => claim,
            Ok(EngineMessage::Hello { .. }) => {
                self.metrics.btp_error("claim_refused");
                return Err("hello refused: peer keys are configured (peer_pubkey)".into());
            }
            Err(e) => {
                self.metrics.btp_error("claim_refused");
                return Err(format!("claim refused: {e}"));
            }
        };
        let a = from.0.clone();
        match ledger_op(&self.ledger, move |l| l.receive_claim(&a, &claim)).await {
            Ok(r) => Ok(r.credited),
            Err(e) => {
                self.metrics.btp_error("claim_refused");
                tracing::warn!(account = %from, "claim refused: {e}");
                Err(format!("claim refused: {e}"))
            }
        }
    }

    /// Retries every due settlement and resends undelivered claims (called periodically by
    /// the node).
    pub async fn settle_due(self: &Arc<Self>) {
        if let Ok(due) = ledger_op(&self.ledger, |l| l.settlements_due()).await {
            for d in due {
                self.spawn_settlement(d);
            }
        }
        let unacked: Vec<AccountId> = self
            .unacked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        for acc in unacked {
            if let Err(e) = self.resend_latest_claim(&acc).await {
                tracing::debug!(account = %acc, "claim resend failed: {e}");
            }
        }
    }
}

/// Protocol-data name carrying the settlement reference in a BTP Transfer (idempotency).
pub const SETTLEMENT_REF: &str = "tollcast_settlement";

fn deadline_of(t: SystemTime) -> tokio::time::Instant {
    let now = SystemTime::now();
    let left = t.duration_since(now).unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + left
}

struct LocalSender {
    connector: Arc<Connector>,
    from: AccountId,
}

impl IlpService for LocalSender {
    fn handle(&self, req: IncomingRequest) -> BoxFuture<'_, IlpReply> {
        Box::pin(self.connector.process(IncomingRequest {
            from: self.from.clone(),
            prepare: req.prepare,
        }))
    }
}

/// The connector answers packets by their `from` account.
pub struct ConnectorService(pub Arc<Connector>);

impl IlpService for ConnectorService {
    fn handle(&self, req: IncomingRequest) -> BoxFuture<'_, IlpReply> {
        Box::pin(self.0.process(req))
    }
}

/// Handle that BTP links call back into (kept separate so links do not own the connector
/// strongly through the trait object in surprising ways).
pub struct Links(pub Arc<Connector>);

impl LinkHandler for Links {
    fn on_prepare(&self, from: AccountId, prepare: Prepare) -> BoxFuture<'_, IlpReply> {
        Box::pin(self.0.process(IncomingRequest { from, prepare }))
    }

    fn on_transfer(
        &self,
        from: AccountId,
        amount: u64,
        data: Vec<ProtocolData>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            // A Transfer carrying a claim is settled by the claim, never by its amount field.
            if let Some(p) = data.iter().find(|p| p.name == PROTOCOL_DATA_NAME) {
                return self
                    .0
                    .receive_claim_message(&from, &p.data)
                    .await
                    .map(|_| ());
            }
            match self.0.accounts.get(&from) {
                Some(a) if a.accept_btp_settlement => {}
                Some(_) => {
                    self.0.metrics.btp_error("settlement_refused");
                    return Err(format!(
                        "{} does not accept BTP settlement from {from} (accept_btp_settlement = false)",
                        self.0.address.as_str()
                    ));
                }
                None => return Err("unknown account".into()),
            }
            let reference = data
                .iter()
                .find(|p| p.name == SETTLEMENT_REF)
                .map(|p| String::from_utf8_lossy(&p.data).into_owned())
                .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
            let (a, r) = (from.0.clone(), format!("settled-by-peer:{reference}"));
            ledger_op(&self.0.ledger, move |l| l.deposit(&a, amount, &r))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    fn on_settlement_message(
        &self,
        from: AccountId,
        data: bytes::Bytes,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.0.receive_claim_message(&from, &data).await.map(|_| ()) })
    }

    fn authenticate(&self, _username: Option<&str>, token: &str) -> Option<AccountId> {
        self.0
            .accounts
            .values()
            .find(|a| {
                a.server_token
                    .as_deref()
                    .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
            })
            .map(|a| a.id.clone())
    }

    fn on_connect(&self, link: Arc<PeerLink>) {
        self.0
            .links
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(link.account.clone(), link.clone());
        self.0.link_events.send_modify(|n| *n += 1);
        // Reconnected: resend our latest claim in case the last one was lost.
        let c = self.0.clone();
        tokio::spawn(async move {
            if let Err(e) = c.resend_latest_claim(&link.account).await {
                tracing::debug!(account = %link.account, "claim resend on connect failed: {e}");
            }
        });
    }

    fn on_disconnect(&self, link: &Arc<PeerLink>) {
        let mut links = self.0.links.write().unwrap_or_else(|p| p.into_inner());
        if links
            .get(&link.account)
            .is_some_and(|l| Arc::ptr_eq(l, link))
        {
            links.remove(&link.account);
        }
        drop(links);
        self.0.link_events.send_modify(|n| *n += 1);
    }

    fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
