//! The running viewer: candidates, the current relay and its payment session, fetching with
//! failover, state and messages, latency.
//!
//! Fetching reuses the relay agent's client half: per candidate a [`Relay`] pulling from that
//! candidate (presenting our viewer id), all sharing one chunk cache and one manifest book, so
//! a part verified once is never fetched again and every byte is checked (hash + signed
//! manifest) whoever sent it. A failed request is retried on the next candidate before the
//! player gets an answer: the player sees at most a slower response, never a gap.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tollcast_events::nostr::nips::nip19::ToBech32;
use tollcast_events::nostr::prelude::{Keys, PublicKey, Timestamp};
use tollcast_media::manifest::ManifestPart;
use tollcast_media::store::ChunkStore;
use tollcast_net::nostr_relay::pool::{PoolItem, RelayPool};

use super::choice::{self, Candidate};
use super::discovery::{self, Found, Target};
use super::payer::{PayError, PaySession, SpspRoute};
use super::status::{
    CandidateInfo, Parts, RelayInfo, State, Status, StreamInfo, ViewerInfo, WalletInfo,
};
use super::wallet::Wallet;
use super::{ViewerConfig, ViewerError};
use crate::relay::manifests::{Accepted, Listed, ManifestBook};
use crate::relay::upstream::{Upstream, UpstreamResponse};
use crate::relay::{Relay, RelayConfig, RelayError};

/// Capture times remembered (hash -> ms), oldest forgotten first.
const CAPTURES: usize = 20_000;

struct Slot {
    cand: Candidate,
    relay: Relay,
    /// When it was marked unhealthy (retried after [`RETRY_AFTER`] when nothing else works).
    failed_at: Option<Instant>,
}

/// A dropped relay gets another chance after this long, if no other relay can serve.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// While payments to the current relay cannot get through, how often to try paying another
/// relay instead ([`Viewer::pay_around`]).
const PAY_AROUND_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Captures {
    at: HashMap<String, i64>,
    order: VecDeque<String>,
    /// (rendition, msn) -> (part hashes in order, segment closed), from signed manifests (hint
    /// positions): part manifests list an open segment's parts so far, its segment manifest
    /// closes it.
    positions: HashMap<(String, u64), (Vec<String>, bool)>,
    position_order: VecDeque<(String, u64)>,
}

struct Latency {
    /// Capture time of the newest part handed to the player.
    newest_capture_ms: Option<i64>,
    /// What the page says is playing: (when told, capture ms).
    page: Option<(Instant, i64)>,
}

struct Inner {
    cfg: ViewerConfig,
    keys: Keys,
    viewer_id: String,
    found: Found,
    naddr: String,
    pool: RelayPool,
    book: Arc<ManifestBook>,
    captures: Mutex<Captures>,
    /// Bumped whenever a signed manifest arrives.
    manifests_seen: tokio::sync::watch::Sender<u64>,
    /// The producer signs part manifests: parts are verifiable as soon as they exist, so the
    /// player needs no extra hold-back ([`hold_back_for_signing`]).
    parts_signed: std::sync::atomic::AtomicBool,
    store: ChunkStore,
    wallet: Arc<Wallet>,
    slots: Mutex<Vec<Slot>>,
    current: Mutex<Option<PublicKey>>,
    session: tokio::sync::Mutex<Option<(PublicKey, PaySession)>>,
    /// Relays' SPSP-over-Nostr keys that stayed silent lately (payer.rs: HTTP at once).
    spsp_silent: super::payer::SilentNostrKeys,
    /// Last attempt to pay another relay while the path to the current one is down.
    paid_around_at: Mutex<Option<Instant>>,
    switching: tokio::sync::Mutex<()>,
    state: Mutex<(State, Option<String>)>,
    latency: Mutex<Latency>,
    verified: AtomicU64,
    rejected: AtomicU64,
    spent: AtomicU64,
    switches: AtomicU64,
    bytes_served: AtomicU64,
    /// Newest part seen (for stall detection) and last player request.
    last_new_part: Mutex<Instant>,
    last_request: Mutex<Instant>,
    seen_parts: Mutex<(std::collections::HashSet<String>, VecDeque<String>)>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// A running viewer; cheap to clone. [`Viewer::shutdown`] stops its tasks.
#[derive(Clone)]
pub struct Viewer {
    inner: Arc<Inner>,
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What the player asked for.
enum Want<'a> {
    Chunk(&'a str),
    Playlist(&'a str),
}

enum Got {
    Bytes(Bytes),
    Playlist(Arc<UpstreamResponse>),
}

/// Why a relay is dropped (or not), from a failed request.
enum Verdict {
    /// Try the next relay; the message says why this one was dropped.
    Drop(String),
    /// The relay wants money.
    PaymentRequired,
    /// Not the relay's fault; answer the player with this.
    Answer(ViewerError),
}

fn judge(e: &RelayError) -> Verdict {
    match e {
        RelayError::HashMismatch { name, got } => Verdict::Drop(format!(
            "cheated: sent bytes for part {name} that hash to {got}"
        )),
        RelayError::SizeMismatch { hash, got, want } => Verdict::Drop(format!(
            "cheated: part {hash} is {got} bytes, its signed manifest says {want}"
        )),
        RelayError::Upstream(m) => Verdict::Drop(format!("unreachable or stalled: {m}")),
        RelayError::UpstreamStatus { status: 402, .. } => Verdict::PaymentRequired,
        RelayError::UpstreamStatus { status, what } if *status >= 500 => {
            Verdict::Drop(format!("failing: answered {status} for {what}"))
        }
        RelayError::UpstreamStatus { status: 404, what } => {
            Verdict::Answer(ViewerError::NotFound(what.clone()))
        }
        other => Verdict::Answer(ViewerError::Upstream(other.to_string())),
    }
}

impl Viewer {
    /// Find the stream, its offers and the viewer's follow graph, pick and pay a relay, and
    /// start the background tasks (payment top-ups, stall watchdog, balance, offer refresh).
    /// Fails only when the stream cannot be found; having no usable relay is a state
    /// (`no_relay`) the page shows.
    pub async fn start(
        cfg: ViewerConfig,
        keys: Keys,
        target: &str,
        wallet: Arc<Wallet>,
        cache_dir: &std::path::Path,
    ) -> Result<Self, ViewerError> {
        let target = Target::parse(target)?;
        let found = discovery::find_stream(&target, &cfg.nostr, cfg.discovery_timeout()).await?;
        let pool = discovery::pool(&found.nostr_relays)?;
        let hints: Vec<&str> = found.nostr_relays.iter().map(String::as_str).collect();
        let naddr = found
            .address
            .to_naddr(&hints)
            .or_else(|_| found.address.to_naddr(&[]))
            .map_err(|e| ViewerError::Discovery(e.to_string()))?;
        // Manifests by the creator and by agents the live event names as transcoders.
        let extra: Vec<PublicKey> = found
            .live
            .participants
            .iter()
            .filter(|p| p.role.as_deref() == Some("transcoder"))
            .map(|p| p.pubkey)
            .collect();
        let book = Arc::new(ManifestBook::new(found.address.clone(), extra.clone()));
        let store = ChunkStore::open(cache_dir, cfg.cache_mib.saturating_mul(1024 * 1024))
            .map_err(|e| ViewerError::Config(format!("cache {}: {e}", cache_dir.display())))?;
        let viewer_id = keys.public_key().to_hex();
        let now = Instant::now();
        let v = Viewer {
            inner: Arc::new(Inner {
                viewer_id,
                naddr,
                pool,
                book,
                captures: Mutex::new(Captures::default()),
                manifests_seen: tokio::sync::watch::channel(0).0,
                parts_signed: std::sync::atomic::AtomicBool::new(false),
                store,
                wallet,
                slots: Mutex::new(Vec::new()),
                current: Mutex::new(None),
                session: tokio::sync::Mutex::new(None),
                spsp_silent: Default::default(),
                paid_around_at: Mutex::new(None),
                switching: tokio::sync::Mutex::new(()),
                state: Mutex::new((State::Starting, None)),
                latency: Mutex::new(Latency {
                    newest_capture_ms: None,
                    page: None,
                }),
                verified: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                spent: AtomicU64::new(0),
                switches: AtomicU64::new(0),
                bytes_served: AtomicU64::new(0),
                last_new_part: Mutex::new(now),
                last_request: Mutex::new(now - Duration::from_secs(3600)),
                seen_parts: Mutex::new(Default::default()),
                tasks: Mutex::new(Vec::new()),
                found,
                keys,
                cfg,
            }),
        };
        v.follow_manifests(&extra).await?;
        v.refresh_offers().await;
        v.inner.wallet.refresh_balance().await;
        v.choose(None).await;
        v.spawn_tasks();
        Ok(v)
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn config(&self) -> &ViewerConfig {
        &self.inner.cfg
    }
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }
    pub fn found(&self) -> &Found {
        &self.inner.found
    }
    pub fn naddr(&self) -> &str {
        &self.inner.naddr
    }
    pub fn pool(&self) -> &RelayPool {
        &self.inner.pool
    }
    pub fn wallet(&self) -> &Arc<Wallet> {
        &self.inner.wallet
    }
    pub fn manifests(&self) -> &Arc<ManifestBook> {
        &self.inner.book
    }

    /// Stop the background tasks and the payments.
    pub async fn shutdown(&self) {
        // A payment in flight finishes first: aborted mid-send, its money would move without
        // being counted in `spent` (same lock order as the payment loop: switching, session).
        let _switching = self.inner.switching.lock().await;
        let mut session = self.inner.session.lock().await;
        for t in Self::lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
        if let Some((_, s)) = session.take() {
            s.close().await;
        }
    }

    fn set_state(&self, s: State, message: Option<String>) {
        let mut st = Self::lock(&self.inner.state);
        if s == State::Playing && st.0.is_payment_trouble() {
            // Back from a payment trouble: the relay served nothing while unpaid, so the stall
            // clock starts now (else the watchdog drops a relay that was never at fault).
            *Self::lock(&self.inner.last_new_part) = Instant::now();
        }
        if st.0 != s || st.1 != message {
            match &message {
                Some(m) => tracing::info!("viewer: {} - {m}", s.as_str()),
                None => tracing::info!("viewer: {}", s.as_str()),
            }
        }
        *st = (s, message);
    }

    pub fn state(&self) -> (State, Option<String>) {
        Self::lock(&self.inner.state).clone()
    }

    /// Follow segment manifests (31311, the last 10 min) and live part manifests (21311) of the
    /// stream's trusted producers into the book, the capture times and the hint positions.
    async fn follow_manifests(&self, extra: &[PublicKey]) -> Result<(), ViewerError> {
        let mut authors = extra.to_vec();
        authors.push(self.inner.found.address.pubkey);
        let since = Timestamp::from_secs(Timestamp::now().as_secs().saturating_sub(600));
        let mut sub = self
            .inner
            .pool
            .subscribe(crate::relay::nostr::manifest_filters(authors, Some(since)))
            .await
            .map_err(|e| ViewerError::Discovery(format!("manifest subscription: {e}")))?;
        let me = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            while let Some(item) = sub.recv().await {
                let PoolItem::Event { event, .. } = item else {
                    continue;
                };
                let Some(inner) = me.upgrade() else { break };
                match inner.book.accept(&event) {
                    Ok(Accepted::New(listed)) => {
                        match &listed {
                            Listed::Segment(m) => record_captures(
                                &inner,
                                (&m.rendition, m.msn),
                                m.capture_ms,
                                &m.parts,
                                Some(&m.segment),
                            ),
                            Listed::Parts(m) => {
                                inner.parts_signed.store(true, Ordering::Relaxed);
                                record_captures(
                                    &inner,
                                    (&m.rendition, m.msn),
                                    m.capture_ms,
                                    &m.parts,
                                    None,
                                )
                            }
                        }
                        inner.manifests_seen.send_modify(|n| *n += 1);
                    }
                    Ok(Accepted::Duplicate) => {}
                    Err(e) => tracing::warn!("manifest {} dropped: {e}", event.id),
                }
            }
        });
        Self::lock(&self.inner.tasks).push(task);
        Ok(())
    }

    /// Look up offers again; new relays become candidates (their RTT measured).
    pub async fn refresh_offers(&self) {
        let t = self.inner.cfg.discovery_timeout();
        let offers = discovery::find_offers(&self.inner.pool, &self.inner.found.address, t).await;
        let graph =
            discovery::follow_graph(&self.inner.pool, self.inner.keys.public_key(), t).await;
        let known: Vec<PublicKey> = Self::lock(&self.inner.slots)
            .iter()
            .map(|s| s.cand.pubkey)
            .collect();
        let mut fresh = Vec::new();
        for o in &offers {
            if known.contains(&o.relay) {
                continue;
            }
            if let Some(c) = Candidate::from_offer(o, &graph) {
                fresh.push(c);
            }
        }
        let probes = fresh.into_iter().map(|mut c| async move {
            c.rtt = probe_rtt(&c.url).await;
            if c.rtt.is_none() {
                c.healthy = false;
                c.reason = Some("unreachable (no HTTP answer to the RTT probe)".into());
            }
            c
        });
        let fresh = futures_join_all(probes).await;
        let mut slots = Self::lock(&self.inner.slots);
        for c in fresh {
            match self.client_for(&c) {
                Ok(relay) => slots.push(Slot {
                    failed_at: (!c.healthy).then(Instant::now),
                    cand: c,
                    relay,
                }),
                Err(e) => tracing::warn!("relay {} not usable: {e}", c.url),
            }
        }
    }

    fn client_for(&self, c: &Candidate) -> Result<Relay, RelayError> {
        let mut rc = RelayConfig::new(c.url.clone());
        rc.upstream_timeout = self.inner.cfg.stall();
        rc.manifest_wait = Duration::from_millis(self.inner.cfg.manifest_wait_ms);
        rc.upstream_viewer = Some(self.inner.viewer_id.clone());
        Relay::new(rc, self.inner.store.clone(), self.inner.book.clone(), None)
    }

    /// The candidates as the page shows them.
    pub fn candidates(&self) -> Vec<CandidateInfo> {
        let max = self.inner.cfg.max_price_per_second;
        Self::lock(&self.inner.slots)
            .iter()
            .map(|s| CandidateInfo {
                relay: relay_info(&s.cand),
                healthy: s.cand.healthy,
                reason: s.cand.reason.clone(),
                social: s.cand.social,
                score: s.cand.score(max),
            })
            .collect()
    }

    /// The relay in use.
    pub fn current(&self) -> Option<Candidate> {
        let pk = (*Self::lock(&self.inner.current))?;
        Self::lock(&self.inner.slots)
            .iter()
            .find(|s| s.cand.pubkey == pk)
            .map(|s| s.cand.clone())
    }

    fn current_client(&self) -> Option<(PublicKey, Relay)> {
        let pk = (*Self::lock(&self.inner.current))?;
        Self::lock(&self.inner.slots)
            .iter()
            .find(|s| s.cand.pubkey == pk)
            .map(|s| (pk, s.relay.clone()))
    }

    fn mark(&self, pk: &PublicKey, healthy: bool, reason: Option<String>) {
        if let Some(s) = Self::lock(&self.inner.slots)
            .iter_mut()
            .find(|s| s.cand.pubkey == *pk)
        {
            s.cand.healthy = healthy;
            s.cand.reason = reason;
            s.failed_at = (!healthy).then(Instant::now);
        }
    }

    /// Drop `from` (if it is still the current relay) for `reason` and switch.
    pub async fn fail_relay(&self, from: PublicKey, reason: String) {
        if *Self::lock(&self.inner.current) != Some(from) {
            return;
        }
        let _g = self.inner.switching.lock().await;
        if *Self::lock(&self.inner.current) != Some(from) {
            return; // someone switched while we waited
        }
        tracing::warn!("relay {} dropped: {reason}", from.to_hex());
        self.mark(&from, false, Some(reason.clone()));
        self.set_state(
            State::RelayFailed,
            Some(format!(
                "relay failed ({reason}); switching to another relay"
            )),
        );
        self.choose_locked(None).await;
    }

    /// Switch to the relay `pubkey` (the page's choice).
    pub async fn select(&self, pubkey: PublicKey) -> Result<(), ViewerError> {
        let _g = self.inner.switching.lock().await;
        let ok = Self::lock(&self.inner.slots)
            .iter()
            .any(|s| s.cand.pubkey == pubkey);
        if !ok {
            return Err(ViewerError::NotFound(format!(
                "no candidate relay {}",
                pubkey.to_hex()
            )));
        }
        self.mark(&pubkey, true, None);
        self.choose_locked(Some(pubkey)).await;
        match *Self::lock(&self.inner.current) {
            Some(pk) if pk == pubkey => Ok(()),
            _ => Err(ViewerError::Payment(
                self.state().1.unwrap_or_else(|| "could not switch".into()),
            )),
        }
    }

    async fn choose(&self, want: Option<PublicKey>) {
        let _g = self.inner.switching.lock().await;
        self.choose_locked(want).await;
    }

    /// Pick the best healthy candidate (or `want`), stop paying the old one, open and prepay
    /// the new one. Call with `switching` held.
    async fn choose_locked(&self, want: Option<PublicKey>) {
        // Money to the old relay stops first: nothing is paid for a relay we no longer use.
        if let Some((_, old)) = self.inner.session.lock().await.take() {
            tokio::spawn(old.close());
        }
        let had = Self::lock(&self.inner.current).take();
        loop {
            let pick = {
                let slots = Self::lock(&self.inner.slots);
                let cands: Vec<Candidate> = slots.iter().map(|s| s.cand.clone()).collect();
                match want {
                    Some(pk) => cands.iter().find(|c| c.pubkey == pk && c.healthy).cloned(),
                    None => choice::best(&cands, self.inner.cfg.max_price_per_second)
                        .map(|i| cands[i].clone()),
                }
            };
            let Some(c) = pick else {
                let n = Self::lock(&self.inner.slots).len();
                let msg = if n == 0 {
                    "no relay offers this stream yet: waiting for one (offers are looked up again \
                     every few seconds)"
                        .to_string()
                } else {
                    let why: Vec<String> = self
                        .candidates()
                        .into_iter()
                        .map(|c| {
                            format!(
                                "{}: {}",
                                c.relay.url,
                                c.reason.unwrap_or_else(|| {
                                    match self.inner.cfg.max_price_per_second {
                                        Some(m) if c.relay.price_per_second > m => format!(
                                            "price {}/s above your maximum {m}/s",
                                            c.relay.price_per_second
                                        ),
                                        _ => "not reachable".into(),
                                    }
                                })
                            )
                        })
                        .collect();
                    format!(
                        "none of the {n} relays of this stream can serve you ({}); dropped relays \
                         are tried again after {} s, or raise --max-price-per-second",
                        why.join("; "),
                        RETRY_AFTER.as_secs()
                    )
                };
                let refused = self.candidates().iter().any(|c| {
                    c.reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("refused payment"))
                });
                let state = if refused {
                    State::PaymentRequired
                } else {
                    State::NoRelay
                };
                self.set_state(state, Some(msg));
                return;
            };
            if had.is_some() && had != Some(c.pubkey) {
                self.inner.switches.fetch_add(1, Ordering::Relaxed);
            }
            *Self::lock(&self.inner.current) = Some(c.pubkey);
            *Self::lock(&self.inner.last_new_part) = Instant::now();
            match self.open_session(&c).await {
                Ok(()) => {
                    let st = self.state().0;
                    if st != State::Playing {
                        self.set_state(State::Starting, None);
                    }
                    return;
                }
                Err(PayError::RelayRefused(m)) => {
                    self.mark(&c.pubkey, false, Some(format!("refused payment: {m}")));
                    *Self::lock(&self.inner.current) = None;
                    if want.is_some() {
                        self.set_state(
                            State::PaymentRequired,
                            Some(format!(
                                "relay {} refused payment ({m}); choose another relay",
                                c.url
                            )),
                        );
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    // Wallet or path trouble: another relay would not help. Stay on this relay;
                    // the payment loop retries.
                    self.payment_failed(&e);
                    return;
                }
            }
        }
    }

    async fn open_session(&self, c: &Candidate) -> Result<(), PayError> {
        if c.price_per_second == 0 {
            return Ok(()); // a free relay
        }
        let (s, r) = self.open_paid(c).await?;
        *self.inner.session.lock().await = Some((c.pubkey, s));
        r
    }

    /// A session to `c`, prepaid `pay_ahead` (the prepayment's outcome beside it; what left
    /// the wallet is counted in `spent` either way). Not installed: the caller decides.
    async fn open_paid(
        &self,
        c: &Candidate,
    ) -> Result<(PaySession, Result<(), PayError>), PayError> {
        // What the relay has counted for us so far (its 402 says), before this session pays.
        let before = payment_required_body(&c.url, &self.inner.viewer_id)
            .await
            .and_then(|p| p.received?.parse::<u128>().ok());
        let w = &self.inner.wallet;
        // SPSP over Nostr or HTTP (payer.rs): credentials tagged with our viewer id either way.
        let route = SpspRoute::of(c, self.inner.cfg.spsp, &self.inner.keys, &self.inner.pool)
            .remembering(&self.inner.spsp_silent);
        let mut s = PaySession::open(
            w.service(),
            &route,
            &self.inner.viewer_id,
            c.price_per_second,
            (w.asset_code.clone(), w.asset_scale),
            w.connected(),
            Duration::from_secs(5),
        )
        .await?;
        s.received_before = before;
        let until = Instant::now() + self.inner.cfg.pay_ahead();
        let r = s.top_up(until, w.connected()).await;
        self.inner.spent.fetch_add(s.sent, Ordering::Relaxed);
        Ok((s, r.map(|_| ())))
    }

    /// Payments to `from` cannot get through although the wallet answers (only the path
    /// wallet -> relay is down): switch to another healthy candidate if one can be paid. Its
    /// session is opened and prepaid before anything changes, so when none can be paid the
    /// viewer stays on `from` (and resumes there when the path is back). The old session is
    /// closed before the new one is installed (one relay paid at a time); parts already
    /// fetched stay in the shared store, so none is fetched (paid) twice and the player goes
    /// on from where it was. Tried at most every [`PAY_AROUND_EVERY`].
    async fn pay_around(&self, from: PublicKey) {
        if !self.inner.wallet.connected() {
            return; // the wallet's own link: no other relay can be paid either
        }
        {
            let mut at = Self::lock(&self.inner.paid_around_at);
            if at.is_some_and(|t| t.elapsed() < PAY_AROUND_EVERY) {
                return;
            }
            *at = Some(Instant::now());
        }
        let _g = self.inner.switching.lock().await;
        if *Self::lock(&self.inner.current) != Some(from) {
            return;
        }
        let max = self.inner.cfg.max_price_per_second;
        let mut others: Vec<(f64, Candidate)> = Self::lock(&self.inner.slots)
            .iter()
            .filter(|s| s.cand.pubkey != from)
            .filter_map(|s| Some((s.cand.score(max)?, s.cand.clone())))
            .collect();
        others.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, c) in others {
            let session = if c.price_per_second == 0 {
                None
            } else {
                match self.open_paid(&c).await {
                    Ok((s, Ok(()))) => Some(s),
                    Ok((s, Err(e))) => {
                        tracing::info!("relay {} cannot be paid either: {e}", c.url);
                        tokio::spawn(s.close());
                        continue;
                    }
                    Err(e) => {
                        tracing::info!("relay {} cannot be paid either: {e}", c.url);
                        continue;
                    }
                }
            };
            let mut guard = self.inner.session.lock().await;
            if let Some((_, old)) = guard.take() {
                tokio::spawn(old.close());
            }
            let why = self.state().1.unwrap_or_default();
            tracing::warn!(
                "payments to relay {} cannot get through; switched to {}",
                from.to_hex(),
                c.url
            );
            self.mark(&from, false, Some(format!("payment path down: {why}")));
            *Self::lock(&self.inner.current) = Some(c.pubkey);
            *guard = session.map(|s| (c.pubkey, s));
            drop(guard);
            self.inner.switches.fetch_add(1, Ordering::Relaxed);
            *Self::lock(&self.inner.last_new_part) = Instant::now();
            self.set_state(State::Starting, None);
            return;
        }
    }

    fn payment_failed(&self, e: &PayError) {
        let w = &self.inner.wallet;
        match e {
            PayError::WalletEmpty(m) => self.set_state(
                State::WalletEmpty,
                Some(format!(
                    "your wallet is empty: the wallet node refused to pay ({m}). Add funds to \
                     your account there (or raise its credit limit); playback resumes by itself"
                )),
            ),
            PayError::PathDown(m) => self.set_state(
                State::PaymentPathDown,
                Some(super::payer::path_down_message(m, w.connected())),
            ),
            PayError::RelayRefused(m) => self.set_state(
                State::PaymentRequired,
                Some(format!("the relay refused payment ({m}); switching relays")),
            ),
        }
    }

    /// One payment round: keep paid time `pay_ahead` ahead of now.
    async fn pay_tick(&self) {
        let Some(cur) = self.current() else { return };
        if cur.price_per_second == 0 {
            return;
        }
        let res = {
            let mut guard = self.inner.session.lock().await;
            match guard.as_mut() {
                Some((pk, s)) if *pk == cur.pubkey => {
                    let until = Instant::now() + self.inner.cfg.pay_ahead();
                    let before = s.sent;
                    let r = s.top_up(until, self.inner.wallet.connected()).await;
                    self.inner
                        .spent
                        .fetch_add(s.sent - before, Ordering::Relaxed);
                    Some(r)
                }
                _ => None,
            }
        };
        match res {
            Some(Ok(_)) => {
                let st = self.state().0;
                if st.is_payment_trouble() {
                    self.set_state(State::Playing, None);
                }
            }
            Some(Err(PayError::RelayRefused(m))) => {
                self.fail_relay(cur.pubkey, format!("refused payment: {m}"))
                    .await
            }
            Some(Err(e)) => {
                self.payment_failed(&e);
                if matches!(e, PayError::PathDown(_)) {
                    self.pay_around(cur.pubkey).await;
                }
            }
            None => {
                // No session (it failed to open): try again, unless a switch opened one while
                // we waited (paying twice ahead would waste money).
                let _g = self.inner.switching.lock().await;
                let opened = matches!(
                    self.inner.session.lock().await.as_ref(),
                    Some((pk, _)) if *pk == cur.pubkey
                );
                if !opened && self.current().map(|c| c.pubkey) == Some(cur.pubkey) {
                    match self.open_session(&cur).await {
                        Ok(()) => {
                            if self.state().0.is_payment_trouble() {
                                self.set_state(State::Playing, None);
                            }
                        }
                        Err(PayError::RelayRefused(m)) => {
                            drop(_g);
                            self.fail_relay(cur.pubkey, format!("refused payment: {m}"))
                                .await
                        }
                        Err(e) => {
                            drop(_g);
                            self.payment_failed(&e);
                            if matches!(e, PayError::PathDown(_)) {
                                self.pay_around(cur.pubkey).await;
                            }
                        }
                    }
                }
            }
        }
    }

    fn spawn_tasks(&self) {
        let mut tasks = Vec::new();
        // Payments.
        let me = self.clone();
        let every = Duration::from_millis(self.inner.cfg.pay_every_ms.max(20));
        tasks.push(tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                t.tick().await;
                me.pay_tick().await;
            }
        }));
        // Stall watchdog: the player keeps asking but no new part arrives.
        let me = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_millis(200));
            loop {
                t.tick().await;
                let stall = me.inner.cfg.stall();
                let active = Self::lock(&me.inner.last_request).elapsed() < Duration::from_secs(2);
                let quiet = Self::lock(&me.inner.last_new_part).elapsed();
                // Twice the bound: a blocked request already fails after one.
                if active
                    && quiet > stall * 2
                    && me.state().0 == State::Playing
                    && let Some(c) = me.current()
                {
                    me.fail_relay(
                        c.pubkey,
                        format!("stalled: no new part for {:.1} s", quiet.as_secs_f64()),
                    )
                    .await;
                }
            }
        }));
        // Wallet balance and offer refresh.
        let me = self.clone();
        let refresh = Duration::from_secs(self.inner.cfg.refresh_s.max(1));
        tasks.push(tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(1));
            let mut last_refresh = Instant::now();
            loop {
                t.tick().await;
                me.inner.wallet.refresh_balance().await;
                let no_relay = me.current().is_none();
                if last_refresh.elapsed() >= refresh
                    || (no_relay && last_refresh.elapsed() >= Duration::from_secs(3))
                {
                    last_refresh = Instant::now();
                    me.refresh_offers().await;
                    if me.current().is_none() {
                        me.retry_dropped();
                        me.choose(None).await;
                    }
                }
            }
        }));
        Self::lock(&self.inner.tasks).extend(tasks);
    }

    /// Give relays dropped long ago another chance (called when none can serve).
    fn retry_dropped(&self) {
        for s in Self::lock(&self.inner.slots).iter_mut() {
            if s.failed_at.is_some_and(|t| t.elapsed() >= RETRY_AFTER) {
                s.cand.healthy = true;
                s.cand.reason = None;
                s.failed_at = None;
            }
        }
    }

    fn note_request(&self) {
        *Self::lock(&self.inner.last_request) = Instant::now();
    }

    fn note_part(&self, bytes: &Bytes, hash: &str) {
        self.inner.verified.fetch_add(1, Ordering::Relaxed);
        self.inner
            .bytes_served
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        {
            let mut seen = Self::lock(&self.inner.seen_parts);
            if seen.0.insert(hash.to_string()) {
                seen.1.push_back(hash.to_string());
                if seen.1.len() > CAPTURES
                    && let Some(old) = seen.1.pop_front()
                {
                    seen.0.remove(&old);
                }
                *Self::lock(&self.inner.last_new_part) = Instant::now();
            }
        }
        if let Some(c) = Self::lock(&self.inner.captures).at.get(hash).copied() {
            let mut l = Self::lock(&self.inner.latency);
            if l.newest_capture_ms.is_none_or(|n| c > n) {
                l.newest_capture_ms = Some(c);
            }
        }
        let st = self.state().0;
        if matches!(st, State::Starting | State::RelayFailed) {
            self.set_state(State::Playing, None);
        }
    }

    /// The page reports the capture time of what it plays.
    pub fn report_playing(&self, capture_ms: i64) {
        Self::lock(&self.inner.latency).page = Some((Instant::now(), capture_ms));
    }

    /// Latency now, ms: wall clock minus the capture time of what the page reports playing
    /// (if it did within 5 s), else of the newest part handed to the player.
    pub fn latency_ms(&self) -> Option<f64> {
        let l = Self::lock(&self.inner.latency);
        let now = unix_ms();
        if let Some((at, c)) = l.page
            && at.elapsed() < Duration::from_secs(5)
        {
            return Some((now - c) as f64);
        }
        l.newest_capture_ms.map(|c| (now - c) as f64)
    }

    /// On a 402 from `pk`: pay now if we owe, drop the relay if it asks for more than it
    /// offered or refuses although paid. Returns whether to retry the request.
    async fn on_payment_required(
        &self,
        pk: PublicKey,
        body: Option<PaymentRequiredView>,
        tries: &mut u32,
    ) -> Result<(), ViewerError> {
        let Some(cand) = self.current().filter(|c| c.pubkey == pk) else {
            return Ok(()); // already switched
        };
        let (remaining, delivered, before) = {
            let g = self.inner.session.lock().await;
            match g.as_ref() {
                Some((p, s)) if *p == pk => (Some(s.remaining()), s.delivered, s.received_before),
                _ => (None, 0, None),
            }
        };
        *tries += 1;
        // What the relay says (its price, what it received from us): from the 402 itself, or
        // asked again (a chunk's 402 body is not kept).
        let pr = match body {
            Some(b) => Some(b),
            None => payment_required_body(&cand.url, &self.inner.viewer_id).await,
        };
        // It counted everything we sent, we paid for more time than has passed, and still
        // refuses: it is not selling at its advertised price.
        if let (Some(pr), Some(r), Some(before)) = (&pr, remaining, before)
            && r > Duration::from_millis(300)
            && pr
                .received
                .as_deref()
                .and_then(|x| x.parse::<u128>().ok())
                .is_some_and(|got| got >= before + delivered as u128)
        {
            self.fail_relay(
                pk,
                format!(
                    "overcharging: answered 402 Payment Required with {:.1} s of paid time left \
                     and all {delivered} units we sent counted ({})",
                    r.as_secs_f64(),
                    pr.message
                ),
            )
            .await;
            return Ok(());
        }
        if let Some(pr) = &pr
            && pr.price_per_second > cand.price_per_second
        {
            self.fail_relay(
                pk,
                format!(
                    "overcharging: asks {}/s, its offer says {}/s",
                    pr.price_per_second, cand.price_per_second
                ),
            )
            .await;
            return Ok(());
        }
        match remaining {
            Some(r) if r > Duration::from_millis(300) => {
                // Paid: the relay may still be crediting our last payment. Then it cheats.
                if *tries <= 5 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                } else {
                    let why = pr.map(|p| p.message).unwrap_or_default();
                    self.fail_relay(
                        pk,
                        format!(
                            "overcharging: answered 402 Payment Required with {:.1} s of paid \
                             time left ({why})",
                            r.as_secs_f64()
                        ),
                    )
                    .await;
                }
                Ok(())
            }
            _ => {
                if *tries > 3 {
                    let msg = self
                        .state()
                        .1
                        .unwrap_or_else(|| "the relay wants payment and paying it failed".into());
                    return Err(ViewerError::Payment(msg));
                }
                self.pay_tick().await;
                Ok(())
            }
        }
    }

    async fn fetch(&self, want: Want<'_>) -> Result<Got, ViewerError> {
        self.note_request();
        let mut tries_402 = 0u32;
        for _ in 0..16 {
            let Some((pk, relay)) = self.current_client() else {
                let msg = self.state().1.unwrap_or_else(|| "no relay chosen".into());
                return Err(ViewerError::NoRelay(msg));
            };
            let mut body_402: Option<PaymentRequiredView> = None;
            let res = match want {
                Want::Chunk(h) => relay.chunk(h).await.map(Got::Bytes),
                Want::Playlist(p) => match relay.playlist(p).await {
                    Ok(r) if r.status.is_success() => {
                        if r.body.windows(14).any(|w| w == b"#EXT-X-ENDLIST") {
                            self.set_state(
                                State::Ended,
                                Some("the stream has ended; nothing more is paid".into()),
                            );
                        }
                        if self.inner.parts_signed.load(Ordering::Relaxed) {
                            Ok(Got::Playlist(r))
                        } else {
                            Ok(Got::Playlist(hold_back_for_signing(r)))
                        }
                    }
                    Ok(r) => {
                        if r.status.as_u16() == 402 {
                            body_402 = serde_json::from_slice(&r.body).ok();
                        }
                        Err(RelayError::UpstreamStatus {
                            status: r.status.as_u16(),
                            what: p.to_string(),
                        })
                    }
                    Err(e) => Err(e),
                },
            };
            let e = match res {
                Ok(g) => {
                    if let (Got::Bytes(b), Want::Chunk(h)) = (&g, &want) {
                        self.note_part(b, h);
                    }
                    return Ok(g);
                }
                Err(e) => e,
            };
            match judge(&e) {
                Verdict::Drop(reason) => {
                    if matches!(
                        e,
                        RelayError::HashMismatch { .. } | RelayError::SizeMismatch { .. }
                    ) {
                        self.inner.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                    self.fail_relay(pk, reason).await;
                }
                Verdict::PaymentRequired => {
                    self.on_payment_required(pk, body_402.take(), &mut tries_402)
                        .await?
                }
                Verdict::Answer(e) => {
                    if matches!(e, ViewerError::Upstream(_)) {
                        tracing::debug!("request failed: {e}");
                    }
                    return Err(e);
                }
            }
        }
        Err(ViewerError::NoRelay(
            "gave up after trying several relays for this request".into(),
        ))
    }

    /// A verified chunk by hash (from the cache or the current relay, with failover).
    pub async fn chunk(&self, hash: &str) -> Result<Bytes, ViewerError> {
        match self.fetch(Want::Chunk(hash)).await? {
            Got::Bytes(b) => Ok(b),
            Got::Playlist(_) => Err(ViewerError::Upstream("unexpected playlist".into())),
        }
    }

    /// A preload-hinted part (`{msn}.{part}.m4s` of `rendition`): the signed part (or segment)
    /// manifest of that segment says which hash sits at that position, then the part is fetched
    /// by hash like any other, so a relay cannot slip unsigned bytes in through a position. (A
    /// part is never served before a manifest lists it anyway: waiting here costs nothing.)
    pub async fn hinted_part(&self, rendition: &str, file: &str) -> Result<Bytes, ViewerError> {
        self.note_request();
        let (msn, idx) = file
            .strip_suffix(".m4s")
            .and_then(|s| s.split_once('.'))
            .and_then(|(m, p)| Some((m.parse::<u64>().ok()?, p.parse::<usize>().ok()?)))
            .ok_or_else(|| ViewerError::Target("hint file must be {msn}.{part}.m4s".into()))?;
        let key = (rendition.to_string(), msn);
        let mut rx = self.inner.manifests_seen.subscribe();
        let wait = Duration::from_millis(self.inner.cfg.manifest_wait_ms);
        let deadline = Instant::now() + wait;
        let hash = loop {
            let found = Self::lock(&self.inner.captures)
                .positions
                .get(&key)
                .map(|(parts, closed)| (parts.get(idx).cloned(), *closed));
            match found {
                Some((Some(h), _)) => break h,
                Some((None, true)) => {
                    return Err(ViewerError::NotFound(format!(
                        "segment {msn} of {rendition} closed without part {idx}"
                    )));
                }
                // Not signed yet: the next part manifest (or the segment's) will say.
                Some((None, false)) | None => {}
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(ViewerError::Upstream(format!(
                    "no signed manifest for segment {msn} of {rendition} within {wait:?}"
                )));
            }
        };
        self.chunk(&hash).await
    }

    /// A playlist from the current relay (blocking reloads passed through).
    pub async fn playlist(
        &self,
        path_and_query: &str,
    ) -> Result<Arc<UpstreamResponse>, ViewerError> {
        match self.fetch(Want::Playlist(path_and_query)).await? {
            Got::Playlist(p) => Ok(p),
            Got::Bytes(_) => Err(ViewerError::Upstream("unexpected bytes".into())),
        }
    }

    /// Count `n` wallet units spent outside the relay payments (chat, tips).
    pub(crate) fn add_spent(&self, n: u64) {
        self.inner.spent.fetch_add(n, Ordering::Relaxed);
    }

    /// What was spent (wallet units) since the start.
    pub fn spent(&self) -> u64 {
        self.inner.spent.load(Ordering::Relaxed)
    }

    /// Parts handed to the player (verified) and refused (bad hash / size).
    pub fn parts(&self) -> (u64, u64) {
        (
            self.inner.verified.load(Ordering::Relaxed),
            self.inner.rejected.load(Ordering::Relaxed),
        )
    }

    pub fn switches(&self) -> u64 {
        self.inner.switches.load(Ordering::Relaxed)
    }

    pub fn bytes_served(&self) -> u64 {
        self.inner.bytes_served.load(Ordering::Relaxed)
    }

    /// The `/api/status` document.
    pub fn status(&self) -> Status {
        let f = &self.inner.found;
        let (state, message) = self.state();
        let w = &self.inner.wallet;
        let spent = self.spent();
        let balance = w
            .balance()
            .map(|b| b.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
            .unwrap_or(-(spent.min(i64::MAX as u64) as i64));
        let chat_price = self.chat_price();
        let cur = self.current();
        let (ac, sc) = cur
            .as_ref()
            .map(|c| (c.asset_code.clone(), c.asset_scale))
            .unwrap_or((w.asset_code.clone(), w.asset_scale));
        let (verified, rejected) = self.parts();
        Status {
            state,
            message,
            stream: StreamInfo {
                address: f.address.to_string(),
                naddr: self.inner.naddr.clone(),
                title: f.live.title.clone(),
                summary: f.live.summary.clone(),
                image: f.live.image.clone(),
                status: f.live.status.map(|s| s.as_str().to_string()),
                starts: f.live.starts,
                host: f.address.pubkey.to_hex(),
                nostr_relays: f.nostr_relays.clone(),
                chat_price,
                asset_code: ac,
                asset_scale: sc,
            },
            relay: cur.as_ref().map(relay_info),
            candidates: self.candidates(),
            wallet: WalletInfo {
                balance,
                asset_code: w.asset_code.clone(),
                asset_scale: w.asset_scale,
                spent,
            },
            latency_ms: self.latency_ms(),
            parts: Parts { verified, rejected },
            viewer: ViewerInfo {
                pubkey: self.inner.keys.public_key().to_hex(),
                npub: self.inner.keys.public_key().to_bech32().unwrap_or_default(),
            },
            switches: self.switches(),
        }
    }
}

/// From a producer that signs no part manifests, a part is verifiable only once the manifest
/// of its segment is signed (when the segment closes), so it reaches the player up to one target
/// duration after the origin listed it. Tell the player: PART-HOLD-BACK grows by the target
/// duration, so low-latency players keep that much more buffer instead of stalling at the edge.
/// (Not applied once part manifests arrive: then parts are verifiable as soon as they exist.)
fn hold_back_for_signing(r: Arc<UpstreamResponse>) -> Arc<UpstreamResponse> {
    let Ok(text) = std::str::from_utf8(&r.body) else {
        return r;
    };
    let target = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .and_then(|v| v.trim().parse::<f64>().ok());
    let Some(target) = target else { return r };
    let mut out = String::with_capacity(text.len() + 16);
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        match line.strip_prefix("#EXT-X-SERVER-CONTROL:") {
            Some(attrs) => {
                let (attrs, nl) = match attrs.strip_suffix('\n') {
                    Some(a) => (a, "\n"),
                    None => (attrs, ""),
                };
                let fixed: Vec<String> = attrs
                    .split(',')
                    .map(|kv| match kv.split_once('=') {
                        Some(("PART-HOLD-BACK", v)) => match v.trim().parse::<f64>() {
                            Ok(v) => {
                                changed = true;
                                format!("PART-HOLD-BACK={:.3}", v + target)
                            }
                            Err(_) => kv.to_string(),
                        },
                        _ => kv.to_string(),
                    })
                    .collect();
                out.push_str("#EXT-X-SERVER-CONTROL:");
                out.push_str(&fixed.join(","));
                out.push_str(nl);
            }
            None => out.push_str(line),
        }
    }
    if !changed {
        return r;
    }
    Arc::new(UpstreamResponse {
        status: r.status,
        content_type: r.content_type.clone(),
        cache_control: r.cache_control.clone(),
        body: Bytes::from(out),
    })
}

/// Remember the capture time of every part (and of the segment, once closed) and the part
/// positions of segment `key` = (rendition, msn). `segment` is the closed segment's hash (a
/// segment manifest); None for a part manifest's list so far, which never shortens or reopens
/// what is known.
fn record_captures(
    inner: &Inner,
    key: (&str, u64),
    capture_ms: i64,
    parts: &[ManifestPart],
    segment: Option<&str>,
) {
    let mut c = inner.captures.lock().unwrap_or_else(|e| e.into_inner());
    let mut t = capture_ms as f64;
    let mut add = |h: &str, at: i64| {
        if c.at.insert(h.to_string(), at).is_none() {
            c.order.push_back(h.to_string());
        }
    };
    if let Some(seg) = segment {
        add(seg, capture_ms);
    }
    for p in parts {
        add(&p.hash, t.round() as i64);
        t += p.duration * 1000.0;
    }
    while c.order.len() > CAPTURES {
        if let Some(old) = c.order.pop_front() {
            c.at.remove(&old);
        }
    }
    let key = (key.0.to_string(), key.1);
    let hashes: Vec<String> = parts.iter().map(|p| p.hash.clone()).collect();
    let closed = segment.is_some();
    match c.positions.get_mut(&key) {
        Some(known) => {
            if closed || (!known.1 && hashes.len() > known.0.len()) {
                *known = (hashes, closed);
            }
        }
        None => {
            c.positions.insert(key.clone(), (hashes, closed));
            c.position_order.push_back(key);
        }
    }
    while c.position_order.len() > CAPTURES / 8 {
        if let Some(old) = c.position_order.pop_front() {
            c.positions.remove(&old);
        }
    }
}

fn relay_info(c: &Candidate) -> RelayInfo {
    RelayInfo {
        pubkey: c.pubkey.to_hex(),
        url: c.url.clone(),
        price_per_second: c.price_per_second,
        price_per_gb: c.price_per_gb,
        rtt_ms: c.rtt.map(|d| d.as_secs_f64() * 1000.0),
        ilp_address: c.ilp_address.clone(),
    }
}

/// Fastest of three HTTP round trips to the relay (any HTTP answer counts: a paid relay
/// answers 402 to an unpaid probe).
pub async fn probe_rtt(base: &str) -> Option<Duration> {
    let up = Upstream::new(base, Duration::from_secs(2)).ok()?;
    let mut best: Option<Duration> = None;
    for _ in 0..3 {
        let t = Instant::now();
        if up.get("/live/master.m3u8").await.is_ok() {
            let d = t.elapsed();
            best = Some(best.map_or(d, |b| b.min(d)));
        }
    }
    best
}

/// The fields of a relay's 402 answer the viewer acts on.
#[derive(Debug, serde::Deserialize)]
struct PaymentRequiredView {
    price_per_second: u64,
    #[serde(default)]
    message: String,
    /// Money the relay received from this viewer id (decimal string).
    #[serde(default)]
    received: Option<String>,
}

/// The relay's 402 JSON for us, if it answers 402 to a playlist request now.
async fn payment_required_body(base: &str, viewer: &str) -> Option<PaymentRequiredView> {
    let up = Upstream::new(base, Duration::from_secs(2))
        .ok()?
        .with_bearer(viewer);
    let r = up.get("/live/master.m3u8").await.ok()?;
    if r.status.as_u16() != 402 {
        return None;
    }
    serde_json::from_slice(&r.body).ok()
}

async fn futures_join_all<F>(fs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_hold_back_grows_by_the_target_duration() {
        let pl = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600,HOLD-BACK=3.000\n#EXT-X-PART-INF:PART-TARGET=0.200\n";
        let r = Arc::new(UpstreamResponse {
            status: axum::http::StatusCode::OK,
            content_type: None,
            cache_control: None,
            body: Bytes::from(pl),
        });
        let out = hold_back_for_signing(r);
        let text = std::str::from_utf8(&out.body).unwrap();
        assert!(
            text.contains(
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.600,HOLD-BACK=3.000\n"
            ),
            "{text}"
        );
        assert!(text.starts_with("#EXTM3U\n#EXT-X-TARGETDURATION:1\n"));
        // The master playlist (no SERVER-CONTROL) is untouched.
        let m = Arc::new(UpstreamResponse {
            status: axum::http::StatusCode::OK,
            content_type: None,
            cache_control: None,
            body: Bytes::from_static(
                b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nsource/index.m3u8\n",
            ),
        });
        assert_eq!(hold_back_for_signing(m.clone()).body, m.body);
    }
}
