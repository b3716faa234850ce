//! The running moderator: one subscription over its relays for the streams it moderates
//! (chat 1311, reports 1984, labels 1985), the rule engine and report tallies, and what it
//! publishes (NIP-51 mute list and per-stream block sets, takedown votes, proposals).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use nostr::prelude::{Event, Filter, Keys, Kind, PublicKey, SingleLetterTag, Timestamp};
use serde_json::json;
use tokio::task::JoinHandle;
use tollcast_events::StreamAddress;
use tollcast_events::chat::KIND_LIVE_CHAT;
use tollcast_events::moderation::{
    Appeal, KIND_LABEL, KIND_REPORT, MuteList, Report, TakedownProposal, TakedownVote, Vote,
};
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pool::{PoolItem, RelayPool};
use tollcast_net::stream::StreamReceiver;

use super::config::ModeratorConfig;
use super::rules::RuleEngine;
use super::takedown::ReportTally;

/// Why a moderator could not start.
#[derive(Debug, thiserror::Error)]
pub enum ModeratorError {
    #[error("config: {0}")]
    Config(String),
    #[error("nostr: {0}")]
    Nostr(String),
}

/// Counters for `/metrics` and `/status`.
#[derive(Debug, Default)]
pub struct ModeratorCounters {
    pub chat_seen: AtomicU64,
    pub reports_seen: AtomicU64,
    pub muted: AtomicU64,
    pub votes_published: AtomicU64,
    pub skipped_unpaid: AtomicU64,
}

#[derive(Default)]
struct StreamState {
    tally: ReportTally,
    my_vote: Option<Vote>,
    proposal_seen: bool,
}

struct State_ {
    rules: RuleEngine,
    muted: BTreeSet<PublicKey>,
    streams: HashMap<String, StreamState>,
    ages: HashMap<PublicKey, Option<u64>>,
    last_published: u64,
}

struct Inner {
    cfg: ModeratorConfig,
    keys: Keys,
    streams: Vec<StreamAddress>,
    pool: RelayPool,
    receiver: Option<Arc<StreamReceiver>>,
    started: Instant,
    state: Mutex<State_>,
    counters: ModeratorCounters,
}

/// A running moderator agent. Dropping it stops it.
pub struct ModeratorAgent {
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl Drop for ModeratorAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Parse `30311:<pk>:<d>` or `naddr1…`.
pub fn parse_stream(s: &str) -> Result<StreamAddress, ModeratorError> {
    let s = s.trim();
    let r = if s.starts_with("naddr1") {
        StreamAddress::from_naddr(s)
    } else {
        s.parse()
    };
    r.map_err(|e| ModeratorError::Config(format!("stream `{s}`: {e}")))
}

impl ModeratorAgent {
    /// Start moderating. `receiver` is the agent's STREAM receiver (payments for its work);
    /// with a price and no receiver it moderates only during the grace period.
    pub async fn start(
        cfg: ModeratorConfig,
        keys: Keys,
        receiver: Option<Arc<StreamReceiver>>,
    ) -> Result<Self, ModeratorError> {
        if cfg.relays.is_empty() {
            return Err(ModeratorError::Config(
                "no relays: set `relays` (or --relay) to the stream's Nostr relays".into(),
            ));
        }
        if cfg.streams.is_empty() {
            return Err(ModeratorError::Config(
                "no streams: set `streams` (or --stream) to the addresses to moderate".into(),
            ));
        }
        let streams = cfg
            .streams
            .iter()
            .map(|s| parse_stream(s))
            .collect::<Result<Vec<_>, _>>()?;
        let pool = RelayPool::new(&cfg.relays, ClientOptions::default())
            .map_err(|e| ModeratorError::Nostr(e.to_string()))?;
        let inner = Arc::new(Inner {
            state: Mutex::new(State_ {
                rules: RuleEngine::new(cfg.rules.clone()),
                muted: BTreeSet::new(),
                streams: HashMap::new(),
                ages: HashMap::new(),
                last_published: 0,
            }),
            cfg,
            keys,
            streams,
            pool,
            receiver,
            started: Instant::now(),
            counters: ModeratorCounters::default(),
        });
        let addrs: Vec<String> = inner.streams.iter().map(|s| s.to_string()).collect();
        let creators: Vec<PublicKey> = inner.streams.iter().map(|s| s.pubkey).collect();
        let since = Timestamp::from_secs(Timestamp::now().as_secs().saturating_sub(3600));
        let filters = vec![
            Filter::new()
                .kind(Kind::from(KIND_LIVE_CHAT))
                .custom_tags(SingleLetterTag::LOWERCASE_A, addrs.clone())
                .since(since),
            Filter::new()
                .kind(Kind::from(KIND_REPORT))
                .custom_tags(
                    SingleLetterTag::LOWERCASE_P,
                    creators.iter().map(|p| p.to_hex()),
                )
                .since(since),
            Filter::new()
                .kind(Kind::from(KIND_LABEL))
                .custom_tags(SingleLetterTag::LOWERCASE_A, addrs)
                .since(since),
        ];
        let mut sub = inner
            .pool
            .subscribe(filters)
            .await
            .map_err(|e| ModeratorError::Nostr(e.to_string()))?;
        let run = inner.clone();
        let task = tokio::spawn(async move {
            while let Some(item) = sub.recv().await {
                if let PoolItem::Event { event, .. } = item {
                    run.handle(*event).await;
                }
            }
        });
        Ok(Self { inner, task })
    }

    /// The agent's public key.
    pub fn pubkey(&self) -> PublicKey {
        self.inner.keys.public_key()
    }

    /// True while paid (or free, or in grace).
    pub fn is_active(&self) -> bool {
        self.inner.is_active()
    }

    /// Counters.
    pub fn counters(&self) -> &ModeratorCounters {
        &self.inner.counters
    }

    /// `/status` JSON.
    pub fn status(&self) -> serde_json::Value {
        self.inner.status()
    }

    /// `GET /status`, `GET /metrics` and, with a receiver, SPSP at `/.well-known/pay`.
    pub fn router(&self) -> Router {
        let r = Router::new()
            .route("/status", get(status))
            .route("/metrics", get(metrics))
            .with_state(self.inner.clone());
        match &self.inner.receiver {
            Some(rx) => r.merge(tollcast_net::stream::spsp_http::router(
                rx.clone(),
                "/.well-known/pay",
            )),
            None => r,
        }
    }
}

async fn status(State(i): State<Arc<Inner>>) -> impl IntoResponse {
    axum::Json(i.status())
}

async fn metrics(State(i): State<Arc<Inner>>) -> impl IntoResponse {
    let c = &i.counters;
    let mut out = String::new();
    for (name, help, v) in [
        ("chat_seen", "Chat messages judged.", &c.chat_seen),
        ("reports_seen", "NIP-56 reports counted.", &c.reports_seen),
        ("muted", "Authors muted.", &c.muted),
        (
            "votes_published",
            "Takedown/keep votes published.",
            &c.votes_published,
        ),
        (
            "skipped_unpaid",
            "Events ignored while unpaid.",
            &c.skipped_unpaid,
        ),
    ] {
        out.push_str(&format!(
            "# HELP tollcast_moderator_{name}_total {help}\n# TYPE tollcast_moderator_{name}_total counter\ntollcast_moderator_{name}_total {}\n",
            v.load(Ordering::Relaxed)
        ));
    }
    out.push_str(&format!(
        "# HELP tollcast_moderator_received_total Base units received for moderation.\n# TYPE tollcast_moderator_received_total counter\ntollcast_moderator_received_total {}\n# HELP tollcast_moderator_active 1 while paid.\n# TYPE tollcast_moderator_active gauge\ntollcast_moderator_active {}\n",
        i.received(),
        u8::from(i.is_active())
    ));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}

impl Inner {
    fn received(&self) -> u128 {
        self.receiver.as_ref().map_or(0, |r| r.total_received())
    }

    fn is_active(&self) -> bool {
        self.cfg
            .billing
            .is_paid(self.received(), self.started.elapsed().as_secs())
    }

    fn status(&self) -> serde_json::Value {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let streams: serde_json::Map<String, serde_json::Value> = st
            .streams
            .iter()
            .map(|(k, s)| {
                (
                    k.clone(),
                    json!({
                        "reports": s.tally.count(),
                        "vote": s.my_vote.map(|v| v.as_str()),
                    }),
                )
            })
            .collect();
        json!({
            "pubkey": self.keys.public_key().to_hex(),
            "active": self.is_active(),
            "received": self.received().to_string(),
            "owed": self.cfg.billing.owed(self.started.elapsed().as_secs()),
            "price_per_hour": self.cfg.billing.price_per_hour,
            "muted": st.muted.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
            "streams": streams,
        })
    }

    fn stream_of(&self, ev: &Event) -> Option<&StreamAddress> {
        let a = ev
            .tags
            .iter()
            .map(|t| t.as_slice())
            .find(|t| t.first().map(String::as_str) == Some("a"))?
            .get(1)?;
        self.streams.iter().find(|s| s.to_string() == *a)
    }

    /// A created_at after everything this agent published (replaceable lists and votes must
    /// not tie within one second).
    fn next_ts(&self) -> u64 {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let t = Timestamp::now().as_secs().max(st.last_published + 1);
        st.last_published = t;
        t
    }

    async fn publish(&self, ev: &Event) {
        for (url, r) in self.pool.publish(ev, Duration::from_secs(5)).await {
            match r {
                Ok(a) if a.accepted => {}
                Ok(a) => {
                    tracing::warn!(%url, kind = ev.kind.as_u16(), reason = %a.message, "relay refused")
                }
                Err(e) => tracing::warn!(%url, error = %e, "publish failed"),
            }
        }
    }

    async fn handle(&self, ev: Event) {
        if ev.pubkey == self.keys.public_key() || ev.verify().is_err() {
            return;
        }
        match ev.kind.as_u16() {
            KIND_LIVE_CHAT => self.on_chat(ev).await,
            KIND_REPORT => self.on_report(ev).await,
            KIND_LABEL => self.on_label(ev).await,
            _ => {}
        }
    }

    async fn account_age(&self, who: PublicKey) -> Option<u64> {
        if self.cfg.rules.new_account_age_secs == 0 {
            return Some(u64::MAX);
        }
        if let Some(a) = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ages
            .get(&who)
        {
            return a.map(|since| Timestamp::now().as_secs().saturating_sub(since));
        }
        let profiles = self
            .pool
            .fetch(
                vec![Filter::new().kind(Kind::Metadata).author(who)],
                Duration::from_secs(2),
            )
            .await;
        let oldest = profiles
            .iter()
            .filter(|e| e.verify().is_ok())
            .map(|e| e.created_at.as_secs())
            .min();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.ages.len() > 100_000 {
            st.ages.clear();
        }
        st.ages.insert(who, oldest);
        oldest.map(|since| Timestamp::now().as_secs().saturating_sub(since))
    }

    async fn on_chat(&self, ev: Event) {
        let Some(stream) = self.stream_of(&ev).cloned() else {
            return;
        };
        if ev.pubkey == stream.pubkey {
            return;
        }
        self.counters.chat_seen.fetch_add(1, Ordering::Relaxed);
        if !self.is_active() {
            self.counters.skipped_unpaid.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let age = self.account_age(ev.pubkey).await;
        let lists = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.muted.contains(&ev.pubkey) {
                return;
            }
            let Some(v) = st
                .rules
                .judge(ev.pubkey, &ev.content, ev.created_at.as_secs(), age)
            else {
                return;
            };
            tracing::info!(author = %ev.pubkey, violation = %v, "muting");
            st.muted.insert(ev.pubkey);
            let pubkeys: Vec<PublicKey> = st.muted.iter().copied().collect();
            let words = st.rules.words().to_vec();
            (
                MuteList {
                    stream: None,
                    pubkeys: pubkeys.clone(),
                    words: words.clone(),
                },
                MuteList {
                    stream: Some(stream.clone()),
                    pubkeys,
                    words,
                },
            )
        };
        self.counters.muted.fetch_add(1, Ordering::Relaxed);
        for list in [lists.0, lists.1] {
            let t = self.next_ts();
            if let Ok(e) = list.sign(&self.keys, Some(t)) {
                self.publish(&e).await;
            }
        }
    }

    async fn on_report(&self, ev: Event) {
        let Ok(report) = Report::from_event(&ev) else {
            return;
        };
        if !self
            .cfg
            .takedown
            .report_types
            .iter()
            .any(|t| t == report.report_type.as_str())
        {
            return;
        }
        // A report names the creator (`p`); an `a` tag narrows it to one stream.
        let targets: Vec<StreamAddress> = match self.stream_of(&ev) {
            Some(s) => vec![s.clone()],
            None => self
                .streams
                .iter()
                .filter(|s| s.pubkey == report.pubkey)
                .cloned()
                .collect(),
        };
        self.counters.reports_seen.fetch_add(1, Ordering::Relaxed);
        if !self.is_active() {
            self.counters.skipped_unpaid.fetch_add(1, Ordering::Relaxed);
            return;
        }
        for stream in targets {
            let (vote, propose) = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let s = st.streams.entry(stream.to_string()).or_default();
                s.tally.report(ev.pubkey, ev.created_at.as_secs());
                let n = s.tally.count();
                if n < self.cfg.takedown.reports_needed.max(1) as usize
                    || s.my_vote == Some(Vote::Takedown)
                {
                    continue;
                }
                s.my_vote = Some(Vote::Takedown);
                let propose = self.cfg.takedown.propose && !s.proposal_seen;
                s.proposal_seen = true;
                (
                    TakedownVote {
                        stream: stream.clone(),
                        event: None,
                        vote: Vote::Takedown,
                        reason: format!(
                            "{n} independent reports ({})",
                            self.cfg.takedown.report_types.join(", ")
                        ),
                    },
                    propose,
                )
            };
            if propose {
                let panel = self
                    .cfg
                    .takedown
                    .panel
                    .iter()
                    .filter_map(|p| PublicKey::parse(p).ok())
                    .collect();
                let p = TakedownProposal {
                    stream: stream.clone(),
                    threshold: self.cfg.takedown.threshold.max(1),
                    panel,
                    reason: vote.reason.clone(),
                };
                let t = self.next_ts();
                if let Ok(e) = p.sign(&self.keys, Some(t)) {
                    self.publish(&e).await;
                }
            }
            let t = self.next_ts();
            if let Ok(e) = vote.sign(&self.keys, Some(t)) {
                self.publish(&e).await;
                self.counters
                    .votes_published
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn on_label(&self, ev: Event) {
        let Some(stream) = self.stream_of(&ev).cloned() else {
            return;
        };
        if TakedownProposal::from_event(&ev).is_ok() {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.streams
                .entry(stream.to_string())
                .or_default()
                .proposal_seen = true;
            return;
        }
        let Ok(appeal) = Appeal::from_event(&ev) else {
            return;
        };
        if !self.cfg.takedown.honour_appeals || !self.is_active() {
            return;
        }
        let keep = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let s = st.streams.entry(stream.to_string()).or_default();
            s.tally.appeal(ev.created_at.as_secs());
            if s.my_vote == Some(Vote::Takedown)
                && s.tally.count() < self.cfg.takedown.reports_needed.max(1) as usize
            {
                s.my_vote = Some(Vote::Keep);
                true
            } else {
                false
            }
        };
        if keep {
            let v = TakedownVote {
                stream,
                event: None,
                vote: Vote::Keep,
                reason: format!("appeal heard: {}", appeal.argument),
            };
            let t = self.next_ts();
            if let Ok(e) = v.sign(&self.keys, Some(t)) {
                self.publish(&e).await;
                self.counters
                    .votes_published
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
