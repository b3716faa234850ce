//! Revenue splits: what viewers pay this relay for a stream is shared out — the relay's margin,
//! its upstream relay's share (both from the relay's config, parts per million of revenue),
//! and the rest over the stream's `split` tags (creator, transcoder… from the live event the
//! creator signed, see [`tollcast_events::split`]). Shares are forwarded over ILP in batches
//! (every [`SplitsConfig::batch`], default 5 s): one STREAM connection per payee, from the
//! relay's node to the payee's SPSP endpoint, so each node's ledger records every transfer.
//!
//! Books per stream ([`StreamBooks`]) balance exactly, checked by [`StreamBooks::check`]:
//! `received + kept = margin + residue + kept + Σ target`, and for each payee
//! `target = delivered + fees + in flight + owed` (`fees` = source amount minus what arrived).
//! Shares are computed from cumulative revenue (`floor(total · share)`), so rounding never
//! loses a unit: the residue (below one unit per payee) stays with the relay, booked.
//!
//! Payments from connections tagged with [`SplitsConfig::kept_prefix`] (default `relay-`:
//! child relays paying their upstream share) are the relay's own revenue, `kept` whole and not
//! split again (their creator share was split out by the child).
//!
//! Durable: revenue and what was sent live in a redb file, committed before a batch pays and
//! after it; a share owed but not yet sent survives kill -9. A payout interrupted by a crash
//! is booked as still owed (`in_flight` is cleared on open and logged): at most that batch may
//! be paid twice, never lost.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redb::{Database, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tollcast_events::split::{SplitRole, Splits};
use tollcast_net::connector::{AccountId, IlpService};
use tollcast_net::stream::{ReceiverEvent, SenderConfig, StreamReceiver, StreamSender, spsp_http};
use tollcast_wire::address::Address;

use super::RelayError;

const BOOKS: TableDefinition<&str, &[u8]> = TableDefinition::new("split_books");
const PPM: u128 = 1_000_000;

/// How a relay shares its revenue for one stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitsConfig {
    /// Books key: the stream address (`30311:<pubkey>:<d>`).
    pub stream: String,
    /// The relay's margin, parts per million of revenue (default 100,000 = 10 %).
    #[serde(default = "default_margin")]
    pub relay_margin_ppm: u32,
    /// The upstream relay's share: its SPSP endpoint (pay it there) and parts per million.
    #[serde(default)]
    pub upstream_pay_to: Option<String>,
    #[serde(default)]
    pub upstream_ppm: u32,
    /// The rest goes to these payees by weight (normally the live event's `split` tags).
    #[serde(skip)]
    pub shares: Splits,
    /// How often owed shares are paid out (default 5 s).
    #[serde(default = "default_batch", with = "ms")]
    pub batch: Duration,
    /// Smallest payout sent (smaller debts wait for the next batch; default 1).
    #[serde(default = "default_min_payout")]
    pub min_payout: u64,
    /// Viewer ids (credential tags) with this prefix are relays paying their upstream share:
    /// their money is kept whole (default `relay-`).
    #[serde(default = "default_kept_prefix")]
    pub kept_prefix: String,
}

fn default_margin() -> u32 {
    100_000
}
fn default_batch() -> Duration {
    Duration::from_secs(5)
}
fn default_min_payout() -> u64 {
    1
}
fn default_kept_prefix() -> String {
    "relay-".into()
}

mod ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

impl SplitsConfig {
    /// Defaults (10 % margin, no upstream, no payees, 5 s batches) for `stream`.
    pub fn new(stream: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            relay_margin_ppm: default_margin(),
            upstream_pay_to: None,
            upstream_ppm: 0,
            shares: Splits::default(),
            batch: default_batch(),
            min_payout: default_min_payout(),
            kept_prefix: default_kept_prefix(),
        }
    }

    /// Refuses shares that add up to more than the whole.
    pub fn validate(&self) -> Result<(), RelayError> {
        let fixed = self.relay_margin_ppm as u64 + self.upstream_ppm as u64;
        if fixed > PPM as u64 {
            return Err(RelayError::Config(format!(
                "relay margin {} ppm + upstream {} ppm exceed 1,000,000 ppm (100 %)",
                self.relay_margin_ppm, self.upstream_ppm
            )));
        }
        if self.upstream_ppm > 0 && self.upstream_pay_to.is_none() {
            return Err(RelayError::Config(
                "an upstream share needs the upstream's SPSP endpoint (upstream_pay_to)".into(),
            ));
        }
        Ok(())
    }

    /// Payees in payout order: upstream first, then the event's shares.
    fn payees(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(u) = &self.upstream_pay_to
            && self.upstream_ppm > 0
        {
            out.push((SplitRole::Upstream.as_str().to_string(), u.clone()));
        }
        for s in &self.shares.shares {
            out.push((s.role.as_str().to_string(), s.pay_to.clone()));
        }
        out
    }

    /// Targets for cumulative split revenue `total`: (margin, residue, per payee in
    /// [`Self::payees`] order). Margin + residue + Σ payees = total, exactly.
    fn targets(&self, total: u128) -> (u128, u128, Vec<u128>) {
        let margin = total * self.relay_margin_ppm as u128 / PPM;
        let upstream = if self.upstream_pay_to.is_some() {
            total * self.upstream_ppm as u128 / PPM
        } else {
            0
        };
        let rest = total - margin - upstream;
        let mut out = Vec::new();
        if self.upstream_pay_to.is_some() && self.upstream_ppm > 0 {
            out.push(upstream);
        }
        let w = self.shares.total_weight() as u128;
        let mut given = 0;
        for s in &self.shares.shares {
            let t = rest * s.weight as u128 / w;
            given += t;
            out.push(t);
        }
        // No payees: the rest is unassigned and stays with the relay (booked as residue).
        (margin, rest - given, out)
    }
}

/// What was paid to one payee (persisted, keyed by role + pay_to).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Paid {
    /// Source amount of fulfilled packets (our units).
    sent: u128,
    /// What arrived at the payee (its units).
    delivered: u128,
    /// A payout in progress (cleared on open: a crash leaves it owed).
    in_flight: u128,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    /// Viewer revenue subject to the split.
    received: u128,
    /// Revenue kept whole (child relays' upstream shares).
    kept: u128,
    paid: HashMap<String, Paid>,
}

fn payee_key(role: &str, pay_to: &str) -> String {
    format!("{role} {pay_to}")
}

/// One payee's line in the books.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayeeBooks {
    pub role: String,
    pub pay_to: String,
    /// Share of the revenue so far.
    pub target: u128,
    /// Source amount sent so far (delivered + fees).
    pub sent: u128,
    pub delivered: u128,
    /// Path fees: sent − delivered.
    pub fees: u128,
    pub in_flight: u128,
    /// Still to send: target − sent − in flight.
    pub owed: u128,
}

/// The books of one stream at this relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamBooks {
    pub stream: String,
    /// Viewer payments subject to the split.
    pub received: u128,
    /// Revenue kept whole (child relays' upstream shares).
    pub kept: u128,
    pub margin: u128,
    /// Rounding residue (and unassigned revenue without payees), kept by the relay.
    pub residue: u128,
    pub payees: Vec<PayeeBooks>,
}

impl StreamBooks {
    /// Total the payees are owed and not yet sent.
    pub fn owed(&self) -> u128 {
        self.payees.iter().map(|p| p.owed).sum()
    }
    /// Total sent to payees (source amounts).
    pub fn sent(&self) -> u128 {
        self.payees.iter().map(|p| p.sent).sum()
    }
    /// The relay's own: margin + residue + kept.
    pub fn relay_own(&self) -> u128 {
        self.margin + self.residue + self.kept
    }
    /// Checks the identities of the module doc; the error says which one broke.
    pub fn check(&self) -> Result<(), String> {
        let targets: u128 = self.payees.iter().map(|p| p.target).sum();
        if self.received != self.margin + self.residue + targets {
            return Err(format!(
                "received {} != margin {} + residue {} + shares {targets}",
                self.received, self.margin, self.residue
            ));
        }
        for p in &self.payees {
            if p.target != p.delivered + p.fees + p.in_flight + p.owed {
                return Err(format!(
                    "{} {}: share {} != delivered {} + fees {} + in flight {} + owed {}",
                    p.role, p.pay_to, p.target, p.delivered, p.fees, p.in_flight, p.owed
                ));
            }
        }
        Ok(())
    }
}

/// What one payout batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutReport {
    /// Payees paid (fully or partly).
    pub paid: u64,
    /// Source amount sent.
    pub sent: u128,
    /// Errors by payee (retried next batch).
    pub errors: Vec<String>,
}

/// Splits one stream's revenue and pays the shares. Share it (`Arc`).
pub struct Splitter {
    cfg: SplitsConfig,
    db: Arc<Database>,
    state: Mutex<State>,
    /// One payout at a time (batches never overlap).
    payout: tokio::sync::Mutex<HashMap<String, StreamSender>>,
}

struct State {
    saved: Saved,
    /// Per STREAM connection: total already booked (lagging event subscribers catch up).
    connections: HashMap<Arc<str>, u64>,
}

fn err(e: impl std::fmt::Display) -> RelayError {
    RelayError::Cache(format!("splits store: {e}"))
}

impl Splitter {
    /// Opens (or creates) the books in the redb file at `path`.
    pub fn open(cfg: SplitsConfig, path: &Path) -> Result<Arc<Self>, RelayError> {
        cfg.validate()?;
        let db = Database::create(path).map_err(err)?;
        let mut saved: Saved = {
            let tx = db.begin_write().map_err(err)?;
            let v = {
                let t = tx.open_table(BOOKS).map_err(err)?;
                match redb::ReadableTable::get(&t, cfg.stream.as_str()).map_err(err)? {
                    Some(v) => serde_json::from_slice(v.value()).map_err(err)?,
                    None => Saved::default(),
                }
            };
            tx.commit().map_err(err)?;
            v
        };
        for (k, p) in saved.paid.iter_mut() {
            if p.in_flight > 0 {
                tracing::warn!(
                    "splits: payout of {} to {k} was interrupted; booked as still owed",
                    p.in_flight
                );
                p.in_flight = 0;
            }
        }
        let s = Arc::new(Self {
            cfg,
            db: Arc::new(db),
            state: Mutex::new(State {
                saved,
                connections: HashMap::new(),
            }),
            payout: tokio::sync::Mutex::new(HashMap::new()),
        });
        s.persist()?;
        Ok(s)
    }

    pub fn config(&self) -> &SplitsConfig {
        &self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits the books (durable when this returns).
    fn persist(&self) -> Result<(), RelayError> {
        let bytes = serde_json::to_vec(&self.lock().saved).map_err(err)?;
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut t = tx.open_table(BOOKS).map_err(err)?;
            t.insert(self.cfg.stream.as_str(), bytes.as_slice())
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    async fn persist_async(self: &Arc<Self>) -> Result<(), RelayError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.persist())
            .await
            .map_err(err)?
    }

    /// Books a payment of `amount` from a viewer (credential `tag`); not yet durable (the
    /// [`Self::follow`] task commits after each burst of events).
    pub fn book(&self, tag: Option<&str>, amount: u64) {
        let mut st = self.lock();
        if tag.is_some_and(|t| t.starts_with(&self.cfg.kept_prefix)) {
            st.saved.kept += amount as u128;
        } else {
            st.saved.received += amount as u128;
        }
    }

    /// Books a packet of `amount` that brought `connection` to `total`: each unit once, and
    /// units of packets whose events were missed (lagging subscriber) with the next one. The
    /// first event of a connection seen by this splitter books its own amount only (earlier
    /// packets were booked by an earlier splitter, or are not this splitter's business).
    pub fn book_packet(&self, tag: Option<&str>, connection: Arc<str>, amount: u64, total: u64) {
        let delta = {
            let mut st = self.lock();
            let seen = st
                .connections
                .entry(connection)
                .or_insert(total.saturating_sub(amount));
            let d = total.saturating_sub(*seen);
            *seen = (*seen).max(total);
            d
        };
        if delta > 0 {
            self.book(tag, delta);
        }
    }

    /// Books every payment `receiver` takes (money events), committing after each burst;
    /// runs until the receiver is dropped.
    pub fn follow(self: &Arc<Self>, receiver: &StreamReceiver) -> tokio::task::JoinHandle<()> {
        let mut rx = receiver.subscribe();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let first = rx.recv().await;
                let mut next = Some(first);
                while let Some(ev) = next.take() {
                    match ev {
                        Ok(ReceiverEvent::Money {
                            connection,
                            tag,
                            amount,
                            connection_total,
                            ..
                        }) => me.book_packet(tag.as_deref(), connection, amount, connection_total),
                        Ok(_) => {}
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!("splits missed {n} STREAM events; totals catch up")
                        }
                        Err(RecvError::Closed) => {
                            let _ = me.persist_async().await;
                            return;
                        }
                    }
                    next = match rx.try_recv() {
                        Ok(e) => Some(Ok(e)),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                            Some(Err(RecvError::Lagged(n)))
                        }
                        Err(_) => None,
                    };
                }
                if let Err(e) = me.persist_async().await {
                    tracing::error!("splits: {e}");
                }
            }
        })
    }

    /// The books now.
    pub fn books(&self) -> StreamBooks {
        let st = self.lock();
        let (margin, residue, targets) = self.cfg.targets(st.saved.received);
        let payees = self
            .cfg
            .payees()
            .into_iter()
            .zip(targets)
            .map(|((role, pay_to), target)| {
                let p = st
                    .saved
                    .paid
                    .get(&payee_key(&role, &pay_to))
                    .cloned()
                    .unwrap_or_default();
                PayeeBooks {
                    owed: target.saturating_sub(p.sent + p.in_flight),
                    fees: p.sent - p.delivered.min(p.sent),
                    role,
                    pay_to,
                    target,
                    sent: p.sent,
                    delivered: p.delivered,
                    in_flight: p.in_flight,
                }
            })
            .collect();
        StreamBooks {
            stream: self.cfg.stream.clone(),
            received: st.saved.received,
            kept: st.saved.kept,
            margin,
            residue,
            payees,
        }
    }

    /// Pays every payee what it is owed (at least `min_payout`) over STREAM through `service`
    /// (the relay node's local sender), `source` being the node's ILP address.
    pub async fn payout_once(
        self: &Arc<Self>,
        service: &Arc<dyn IlpService>,
        source: &Address,
    ) -> PayoutReport {
        let mut senders = self.payout.lock().await;
        let mut report = PayoutReport::default();
        let books = self.books();
        for p in books.payees {
            if p.owed < self.cfg.min_payout as u128 || p.owed == 0 {
                continue;
            }
            let key = payee_key(&p.role, &p.pay_to);
            let amount = p.owed.min(u64::MAX as u128) as u64;
            if !senders.contains_key(&key) {
                match connect(service, source, &p.pay_to).await {
                    Ok(s) => {
                        senders.insert(key.clone(), s);
                    }
                    Err(e) => {
                        report.errors.push(format!("{key}: {e}"));
                        continue;
                    }
                }
            }
            let sender = senders.get_mut(&key).expect("inserted above");
            // Intent first: a crash from here on leaves the amount owed (see the module doc).
            self.lock()
                .saved
                .paid
                .entry(key.clone())
                .or_default()
                .in_flight = amount as u128;
            if let Err(e) = self.persist_async().await {
                report.errors.push(format!("{key}: {e}"));
                self.lock()
                    .saved
                    .paid
                    .entry(key.clone())
                    .or_default()
                    .in_flight = 0;
                continue;
            }
            let before = sender.totals();
            let result = sender.send(amount).await;
            let after = sender.totals();
            let (sent, delivered) = (after.sent - before.sent, after.delivered - before.delivered);
            {
                let mut st = self.lock();
                let e = st.saved.paid.entry(key.clone()).or_default();
                e.in_flight = 0;
                e.sent += sent as u128;
                e.delivered += delivered as u128;
            }
            if let Err(e) = self.persist_async().await {
                report.errors.push(format!("{key}: {e}"));
            }
            if sent > 0 {
                report.paid += 1;
                report.sent += sent as u128;
            }
            if let Err(e) = result {
                report.errors.push(format!("{key}: {e}"));
                // A fresh connection next batch (the receiver may have restarted).
                senders.remove(&key);
            }
        }
        report
    }

    /// Pays out every [`SplitsConfig::batch`] until aborted.
    pub fn run(
        self: &Arc<Self>,
        service: Arc<dyn IlpService>,
        source: Address,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.cfg.batch.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let r = me.payout_once(&service, &source).await;
                for e in r.errors {
                    tracing::warn!("splits payout: {e}");
                }
            }
        })
    }
}

async fn connect(
    service: &Arc<dyn IlpService>,
    source: &Address,
    pay_to: &str,
) -> Result<StreamSender, String> {
    let d = spsp_http::query(pay_to, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    let mut cfg = SenderConfig::new(d.destination_account, d.shared_secret);
    cfg.from = AccountId::local();
    cfg.source_address = Some(source.clone());
    StreamSender::connect(service.clone(), cfg)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollcast_events::split::SplitShare;

    fn cfg() -> SplitsConfig {
        let mut c = SplitsConfig::new("30311:ab:show");
        c.relay_margin_ppm = 150_000;
        c.upstream_pay_to = Some("http://127.0.0.1:1/.well-known/pay".into());
        c.upstream_ppm = 50_000;
        c.shares = Splits {
            shares: vec![
                SplitShare::new(SplitRole::Creator, "http://127.0.0.1:2/.well-known/pay", 7),
                SplitShare::new(
                    SplitRole::Transcoder,
                    "http://127.0.0.1:3/.well-known/pay",
                    3,
                ),
            ],
        };
        c
    }

    #[test]
    fn shares_add_up_exactly_for_any_total() {
        let c = cfg();
        for total in [0u128, 1, 2, 3, 7, 99, 1_000, 1_234_567, u64::MAX as u128] {
            let (m, r, t) = c.targets(total);
            assert_eq!(m + r + t.iter().sum::<u128>(), total, "total {total}");
            assert!(r < 3, "residue below one unit per payee: {r}");
        }
        let (m, r, t) = c.targets(1_000_000);
        assert_eq!((m, r), (150_000, 0));
        assert_eq!(t, vec![50_000, 560_000, 240_000]);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let mut c = cfg();
        c.relay_margin_ppm = 990_000;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.upstream_pay_to = None;
        assert!(c.validate().is_err());
        assert!(cfg().validate().is_ok());
    }

    #[test]
    fn books_balance_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("splits.redb");
        {
            let s = Splitter::open(cfg(), &path).unwrap();
            s.book(Some("alice"), 1_001);
            s.book(Some("relay-child"), 500);
            // First event seen on c1 (after 200 booked elsewhere), a duplicate, then an event
            // whose predecessor was missed: 100 + 25 + 25 booked.
            s.book_packet(Some("bob"), Arc::from("c1"), 100, 300);
            s.book_packet(Some("bob"), Arc::from("c1"), 100, 300);
            s.book_packet(Some("bob"), Arc::from("c1"), 25, 350);
            s.persist().unwrap();
            let b = s.books();
            b.check().unwrap();
            assert_eq!((b.received, b.kept), (1_151, 500));
            assert_eq!(b.owed(), b.payees.iter().map(|p| p.target).sum::<u128>());
            // Simulate a crash in the middle of a payout: intent written, nothing confirmed.
            s.lock()
                .saved
                .paid
                .entry(payee_key("creator", "http://127.0.0.1:2/.well-known/pay"))
                .or_default()
                .in_flight = 10;
            s.persist().unwrap();
        }
        let s = Splitter::open(cfg(), &path).unwrap();
        let b = s.books();
        b.check().unwrap();
        assert_eq!((b.received, b.kept), (1_151, 500));
        assert_eq!(b.payees.iter().map(|p| p.in_flight).sum::<u128>(), 0);
        assert_eq!(b.owed(), b.payees.iter().map(|p| p.target).sum::<u128>());
    }
}
