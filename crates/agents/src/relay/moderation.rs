//! Relays honour takedown decisions: [`TakedownWatch`] subscribes to the kind-1985 votes of
//! the moderators this relay trusts for its stream, counts the newest vote of each
//! ([`crate::moderator::takedown::VoteTally`]), and once `threshold` of them vote takedown
//! it stops serving: [`TakedownWatch::guard`] wraps the relay's router so every request
//! (except `/metrics`) gets `451 Unavailable For Legal Reasons` with a JSON reason, and the
//! relay announces the decision as a signed [`TakedownNotice`] (kind 1985, `taken-down`).
//! When votes drop below the threshold (moderators heard an appeal) it serves again and
//! announces `restored`.
//!
//! Latency: votes arrive by subscription push; the decision applies to the next request,
//! well inside the 5 s the network promises.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nostr::prelude::{Filter, Keys, Kind, PublicKey, SingleLetterTag, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollcast_events::StreamAddress;
use tollcast_events::moderation::{KIND_LABEL, TakedownNotice, TakedownVote};
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pool::{PoolItem, RelayPool};

use crate::moderator::takedown::VoteTally;

/// Which moderators a relay trusts, and how many must agree (`[relay.moderation]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TakedownPolicy {
    /// Moderator pubkeys (hex) whose votes count. Default: none (the watch is off).
    pub moderators: Vec<String>,
    /// Takedown votes needed. Default 2.
    pub threshold: u32,
    /// Nostr relays to read votes from and announce on. Default: none.
    pub relays: Vec<String>,
}

impl Default for TakedownPolicy {
    fn default() -> Self {
        Self {
            moderators: Vec::new(),
            threshold: 2,
            relays: Vec::new(),
        }
    }
}

/// The body of a 451 answer (also the content of the notice event).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TakenDown {
    pub error: String,
    pub stream: String,
    pub moderators: Vec<String>,
    pub votes: usize,
    pub threshold: u32,
    pub reasons: Vec<String>,
    /// Unix seconds of the decision.
    pub since: u64,
    /// Id of the relay's notice event, when it signed one.
    pub notice: Option<String>,
}

/// Why the watch could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("moderator `{0}` is not a public key")]
    BadModerator(String),
    #[error("nostr: {0}")]
    Nostr(String),
    #[error("no relays to read moderator votes from")]
    NoRelays,
}

struct Inner {
    stream: StreamAddress,
    threshold: u32,
    state: RwLock<Option<TakenDown>>,
    changes: watch::Sender<bool>,
}

/// A running watch; clones share it. Dropping the last clone stops it.
#[derive(Clone)]
pub struct TakedownWatch {
    inner: Arc<Inner>,
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl TakedownWatch {
    /// Start watching `stream`; `keys` signs the relay's notices (None: no notices).
    pub async fn start(
        stream: StreamAddress,
        policy: &TakedownPolicy,
        keys: Option<Keys>,
    ) -> Result<Self, WatchError> {
        if policy.relays.is_empty() {
            return Err(WatchError::NoRelays);
        }
        let moderators = policy
            .moderators
            .iter()
            .map(|m| PublicKey::parse(m).map_err(|_| WatchError::BadModerator(m.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let pool = RelayPool::new(&policy.relays, ClientOptions::default())
            .map_err(|e| WatchError::Nostr(e.to_string()))?;
        let filter = Filter::new()
            .kind(Kind::from(KIND_LABEL))
            .authors(moderators.clone())
            .custom_tag(SingleLetterTag::LOWERCASE_A, stream.to_string());
        let mut sub = pool
            .subscribe(vec![filter])
            .await
            .map_err(|e| WatchError::Nostr(e.to_string()))?;
        let (changes, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            stream,
            threshold: policy.threshold.max(1),
            state: RwLock::new(None),
            changes,
        });
        let run = inner.clone();
        let task = tokio::spawn(async move {
            let mut tally = VoteTally::default();
            while let Some(item) = sub.recv().await {
                let PoolItem::Event { event, .. } = item else {
                    continue;
                };
                if !moderators.contains(&event.pubkey) {
                    continue;
                }
                let Ok(v) = TakedownVote::from_event(&event) else {
                    continue;
                };
                if v.stream != run.stream || v.event.is_some() {
                    continue;
                }
                if !tally.record(event.pubkey, event.created_at.as_secs(), v.vote, &v.reason) {
                    continue;
                }
                run.apply(&tally, keys.as_ref(), &pool).await;
            }
        });
        Ok(Self {
            inner,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    /// The decision in force, if the stream is taken down.
    pub fn taken_down(&self) -> Option<TakenDown> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Notified (true = taken down) whenever the decision changes.
    pub fn changes(&self) -> watch::Receiver<bool> {
        self.inner.changes.subscribe()
    }

    /// Wrap a relay router: 451 with the JSON reason while taken down (`/metrics` stays up).
    pub fn guard(&self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), gate))
    }
}

async fn gate(State(w): State<TakedownWatch>, req: Request, next: Next) -> Response {
    if req.uri().path() != "/metrics"
        && let Some(t) = w.taken_down()
    {
        let mut r = (StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS, axum::Json(t)).into_response();
        r.headers_mut().insert(
            axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
            axum::http::HeaderValue::from_static("*"),
        );
        return r;
    }
    next.run(req).await
}

impl Inner {
    async fn apply(&self, tally: &VoteTally, keys: Option<&Keys>, pool: &RelayPool) {
        let decided = tally.decided(self.threshold);
        let was = self
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        if decided == was {
            return;
        }
        let voters: Vec<PublicKey> = tally.takedown_votes().into_iter().collect();
        let mut body = TakenDown {
            error: "taken down by independent moderators".into(),
            stream: self.stream.to_string(),
            moderators: voters.iter().map(|p| p.to_hex()).collect(),
            votes: voters.len(),
            threshold: self.threshold,
            reasons: tally.reasons(),
            since: Timestamp::now().as_secs(),
            notice: None,
        };
        let notice = keys.and_then(|k| {
            TakedownNotice {
                stream: self.stream.clone(),
                taken_down: decided,
                moderators: voters.clone(),
                reason: serde_json::to_string(&body).unwrap_or_default(),
            }
            .sign(k, None)
            .ok()
        });
        if decided {
            body.notice = notice.as_ref().map(|n| n.id.to_hex());
            *self.state.write().unwrap_or_else(|e| e.into_inner()) = Some(body);
            tracing::warn!(stream = %self.stream, votes = voters.len(), "taken down: stopped serving");
        } else {
            *self.state.write().unwrap_or_else(|e| e.into_inner()) = None;
            tracing::info!(stream = %self.stream, "takedown lifted: serving again");
        }
        self.changes.send_replace(decided);
        if let Some(n) = notice {
            for (url, r) in pool.publish(&n, Duration::from_secs(5)).await {
                if let Err(e) = r {
                    tracing::warn!(%url, error = %e, "takedown notice not published");
                }
            }
        }
    }
}
