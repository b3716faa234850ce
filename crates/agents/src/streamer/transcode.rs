//! The streamer's side of transcoding: the hook through which the current NIP-90 transcoding
//! job is moved to another transcoder when a verifier reports the current one as cheating.
//!
//! The job itself is placed by H1's job client (`transcoder::job_client`); until a job client
//! is installed with [`TranscodeHook::set_replacer`], a replace request is recorded and
//! broadcast (subscribers see it) but nothing else happens.

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tollcast_events::nostr::prelude::{EventId, PublicKey};

/// A request to move the job away from `transcoder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceRequest {
    /// The transcoder to drop (and not pick again).
    pub transcoder: PublicKey,
    /// Human-readable reason (e.g. the verifier's scores).
    pub reason: String,
    /// The signed report that triggered it.
    pub report: Option<EventId>,
}

type Replacer =
    Arc<dyn Fn(ReplaceRequest) -> futures_lite::BoxFuture<Result<String, String>> + Send + Sync>;

/// Where replace requests go.
#[derive(Clone)]
pub struct TranscodeHook {
    replacer: Arc<Mutex<Option<Replacer>>>,
    excluded: Arc<Mutex<Vec<PublicKey>>>,
    tx: broadcast::Sender<ReplaceRequest>,
}

impl Default for TranscodeHook {
    fn default() -> Self {
        Self {
            replacer: Arc::new(Mutex::new(None)),
            excluded: Arc::new(Mutex::new(Vec::new())),
            tx: broadcast::channel(64).0,
        }
    }
}

/// Boxed future without an extra dependency.
pub mod futures_lite {
    pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
}

impl TranscodeHook {
    /// Install what moves the job (the job client's `replace(reason)`); it returns a
    /// description of the new assignment.
    pub fn set_replacer(
        &self,
        f: impl Fn(ReplaceRequest) -> futures_lite::BoxFuture<Result<String, String>>
        + Send
        + Sync
        + 'static,
    ) {
        *self.replacer.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(f));
    }

    /// Replace requests as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<ReplaceRequest> {
        self.tx.subscribe()
    }

    /// Transcoders dropped so far (never chosen again).
    pub fn excluded(&self) -> Vec<PublicKey> {
        self.excluded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Move the job away from `req.transcoder` (once per transcoder): exclude it, tell
    /// subscribers, and run the replacer if one is installed. Returns the replacer's answer,
    /// `Ok(None)` without a replacer or for a transcoder already dropped.
    pub async fn replace(&self, req: ReplaceRequest) -> Result<Option<String>, String> {
        {
            let mut ex = self.excluded.lock().unwrap_or_else(|e| e.into_inner());
            if ex.contains(&req.transcoder) {
                return Ok(None);
            }
            ex.push(req.transcoder);
        }
        let _ = self.tx.send(req.clone());
        let f = self
            .replacer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match f {
            Some(f) => f(req).await.map(Some),
            None => {
                tracing::warn!(
                    "transcoder {} reported ({}), but no job client is installed to move the job",
                    req.transcoder,
                    req.reason
                );
                Ok(None)
            }
        }
    }
}

/// Follow verifiers' reports about this stream's transcoders on `client` and move the job on
/// each valid one: only reports signed by a key in `verifiers` count (anyone can publish a
/// kind-1984 event; the streamer acts on the verifiers it trusts).
pub async fn follow_reports(
    client: &tollcast_net::nostr_relay::client::RelayClient,
    stream: tollcast_events::StreamAddress,
    verifiers: Vec<PublicKey>,
    hook: TranscodeHook,
) -> Result<tokio::task::JoinHandle<()>, tollcast_net::nostr_relay::client::ClientError> {
    use crate::verifier::report::{KIND_REPORT, TranscodeReport};
    use tollcast_events::nostr::prelude::{Filter, Kind, SingleLetterTag, Timestamp};
    use tollcast_net::nostr_relay::client::SubItem;
    let filter = Filter::new()
        .kind(Kind::from(KIND_REPORT))
        .authors(verifiers.clone())
        .custom_tag(SingleLetterTag::LOWERCASE_A, stream.to_string())
        .since(Timestamp::from_secs(
            Timestamp::now().as_secs().saturating_sub(600),
        ));
    let mut sub = client.subscribe(vec![filter]).await?;
    Ok(tokio::spawn(async move {
        while let Some(item) = sub.recv().await {
            let SubItem::Event(ev) = item else { continue };
            if !verifiers.contains(&ev.pubkey) {
                continue;
            }
            let Ok(r) = TranscodeReport::from_event(&ev) else {
                continue;
            };
            if r.stream != stream {
                continue;
            }
            let req = ReplaceRequest {
                transcoder: r.transcoder,
                reason: format!("verifier {}: {}", ev.pubkey, r.content),
                report: Some(ev.id),
            };
            match hook.replace(req).await {
                Ok(Some(new)) => tracing::info!("transcoding job moved: {new}"),
                Ok(None) => {}
                Err(e) => tracing::warn!("moving the transcoding job failed: {e}"),
            }
        }
    }))
}

/// The job currently placed (None before the first acceptance or after a failed move).
pub type CurrentJob = Arc<tokio::sync::Mutex<Option<crate::transcoder::job_client::ActiveJob>>>;

/// Place the job with the transcoder job client (request, offers, cheapest acceptable one)
/// and install the hook's replacer: a replace request for the current transcoder cancels its
/// job, excludes it and places the job again.
/// `holder` always names the transcoder holding the job (for status displays).
pub async fn place_job(
    client: crate::transcoder::job_client::JobClient,
    hook: &TranscodeHook,
    holder: Arc<Mutex<Option<PublicKey>>>,
) -> Result<CurrentJob, String> {
    let job = client.start().await.map_err(|e| e.to_string())?;
    tracing::info!("transcoding job placed with {}", job.transcoder.to_hex());
    *holder.lock().unwrap_or_else(|e| e.into_inner()) = Some(job.transcoder);
    let current: CurrentJob = Arc::new(tokio::sync::Mutex::new(Some(job)));
    let cur = current.clone();
    hook.set_replacer(move |req: ReplaceRequest| {
        let cur = cur.clone();
        let holder = holder.clone();
        Box::pin(async move {
            let mut slot = cur.lock().await;
            match slot.take() {
                Some(job) if job.transcoder == req.transcoder => {
                    match job.replace(&req.reason).await {
                        Ok(new) => {
                            let who = new.transcoder.to_hex();
                            *holder.lock().unwrap_or_else(|e| e.into_inner()) =
                                Some(new.transcoder);
                            *slot = Some(new);
                            Ok(format!("job moved to transcoder {who}"))
                        }
                        Err(e) => {
                            *holder.lock().unwrap_or_else(|e| e.into_inner()) = None;
                            Err(format!("no other transcoder took the job: {e}"))
                        }
                    }
                }
                Some(job) => {
                    let who = job.transcoder.to_hex();
                    *slot = Some(job);
                    Ok(format!("job already with transcoder {who}"))
                }
                None => Err("no job placed".into()),
            }
        })
    });
    Ok(current)
}
