//! Paying the chosen relay in credit mode: one STREAM connection viewer -> relay, topped up so the paid time runs a small margin ahead of now and never further: a relay
//! that fails costs at most that margin. [`PaySession::top_up`] mirrors the relay's
//! bookkeeping (money buys `delivered / price_per_second` seconds from where paid time ends).
//!
//! Credentials come by SPSP, tagged with our viewer id (our pubkey hex) so the relay credits
//! us: over Nostr (kinds 23194/23195 to the key the offer names in a `nostr:` SPSP value; the
//! relay tags them with the requester's pubkey) or over HTTP (`{spsp}/{viewer}`).
//! [`SpspMethod::Auto`] asks over Nostr when the offer allows it and falls back to HTTP when
//! no answer comes in time ([`SpspRoute`]); a key that stayed silent is remembered for a while
//! ([`SilentNostrKeys`]) so the next session with that relay asks over HTTP at once instead
//! of waiting for Nostr again.
//!
//! Failures are sorted into what the viewer can act on ([`PayError`]): wallet empty (the wallet
//! node refused to reserve the amount), connector path down (no route / link down), relay
//! refused (its SPSP or STREAM receiver said no).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tollcast_events::nostr::prelude::{Keys, PublicKey};
use tollcast_events::offer::SpspNostr;
use tollcast_net::connector::IlpService;
use tollcast_net::nostr_relay::pool::RelayPool;
use tollcast_net::stream::spsp_http::SpspDetails;
use tollcast_net::stream::spsp_nostr::{self, SpspNostrError};
use tollcast_net::stream::{SenderConfig, StreamSendError, StreamSender, spsp_http};

use super::choice::Candidate;

/// How the viewer asks a relay for STREAM credentials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpspMethod {
    /// Over Nostr when the relay's offer names a key for it, else (or when Nostr does not
    /// answer in time) over HTTP.
    #[default]
    Auto,
    /// Over HTTP only.
    Http,
    /// Over Nostr only (a relay whose offer names no key for it is not paid).
    Nostr,
}

impl std::str::FromStr for SpspMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "http" => Ok(Self::Http),
            "nostr" => Ok(Self::Nostr),
            o => Err(format!("`{o}`: want auto, http or nostr")),
        }
    }
}

/// How the credentials of a session were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpspVia {
    Http,
    Nostr,
}

/// Keys answering SPSP over Nostr that stayed silent (no answer within the Nostr bound), each
/// until an expiry: in [`SpspMethod::Auto`] a route skips Nostr for them and asks over HTTP at
/// once, so every new payment session with such a relay does not wait the Nostr bound again.
/// After the expiry the key is asked again (it may have come online); an answer forgets it.
#[derive(Debug)]
pub struct SilentNostrKeys {
    ttl: Duration,
    until: Mutex<HashMap<PublicKey, Instant>>,
}

impl Default for SilentNostrKeys {
    fn default() -> Self {
        Self::new(Self::DEFAULT_TTL)
    }
}

impl SilentNostrKeys {
    /// How long a silent key is skipped by default.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(600);

    /// Remember silent keys for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            until: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` stayed silent less than the expiry ago (expired entries are dropped).
    pub fn is_silent(&self, key: &PublicKey) -> bool {
        let now = Instant::now();
        let mut m = self.until.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, t| *t > now);
        m.contains_key(key)
    }

    /// `key` did not answer in time: skip it until the expiry.
    pub fn mark_silent(&self, key: PublicKey) {
        let until = Instant::now() + self.ttl;
        self.until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, until);
    }

    /// `key` answered: ask it again next time.
    pub fn answered(&self, key: &PublicKey) {
        self.until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// Where and how to ask one relay for credentials.
pub struct SpspRoute<'a> {
    pub method: SpspMethod,
    /// HTTP SPSP base (`http://h/.well-known/pay`; the viewer id is appended).
    pub http: Option<&'a str>,
    /// The key answering SPSP over Nostr and where.
    pub nostr: Option<&'a SpspNostr>,
    /// Our keys (the request is signed by them: the relay credits this pubkey).
    pub keys: &'a Keys,
    /// Nostr relays the offer came from (used when the offer names none).
    pub pool: &'a RelayPool,
    /// Bound of the Nostr exchange before falling back to HTTP.
    pub nostr_timeout: Duration,
    /// Keys that stayed silent lately (shared across sessions; None: no memory).
    pub silent: Option<&'a SilentNostrKeys>,
}

impl<'a> SpspRoute<'a> {
    /// The route to `c` with `method`.
    pub fn of(c: &'a Candidate, method: SpspMethod, keys: &'a Keys, pool: &'a RelayPool) -> Self {
        Self {
            method,
            http: c.spsp.as_deref(),
            nostr: c.spsp_nostr.as_ref(),
            keys,
            pool,
            nostr_timeout: Duration::from_secs(3),
            silent: None,
        }
    }

    /// The same route, remembering silent Nostr keys in `silent` (and skipping them in
    /// [`SpspMethod::Auto`]).
    pub fn remembering(self, silent: &'a SilentNostrKeys) -> Self {
        Self {
            silent: Some(silent),
            ..self
        }
    }

    /// Ask for credentials tagged `viewer`: (details, how, round trip).
    pub async fn credentials(
        &self,
        viewer: &str,
        timeout: Duration,
    ) -> Result<(SpspDetails, SpspVia, Duration), PayError> {
        let nostr = match (self.method, self.nostr) {
            (SpspMethod::Http, _) => None,
            (SpspMethod::Nostr, None) => {
                return Err(PayError::RelayRefused(
                    "its offer names no key answering SPSP over Nostr (--spsp nostr)".into(),
                ));
            }
            (SpspMethod::Auto, Some(n))
                if self.http.is_some() && self.silent.is_some_and(|s| s.is_silent(&n.pubkey)) =>
            {
                tracing::debug!(
                    "SPSP over Nostr to {} stayed silent lately; asking over HTTP",
                    n.pubkey.to_hex()
                );
                None
            }
            (_, n) => n,
        };
        let mut nostr_failure = None;
        if let Some(n) = nostr {
            let t0 = Instant::now();
            let bound = match self.method {
                SpspMethod::Nostr => timeout,
                _ => self.nostr_timeout.min(timeout),
            };
            let res = query_nostr(self.pool, n, self.keys, bound).await;
            if let Some(silent) = self.silent {
                match &res {
                    Ok(_) => silent.answered(&n.pubkey),
                    Err(SpspNostrError::Timeout(..)) => silent.mark_silent(n.pubkey),
                    Err(_) => {}
                }
            }
            match res {
                Ok(d) => return Ok((d, SpspVia::Nostr, t0.elapsed())),
                Err(e) if self.method == SpspMethod::Nostr => {
                    return Err(match e {
                        SpspNostrError::Timeout(..) | SpspNostrError::Relay(_) => {
                            PayError::PathDown(format!("SPSP over Nostr: {e}"))
                        }
                        e => PayError::RelayRefused(format!("SPSP over Nostr: {e}")),
                    });
                }
                Err(e) => {
                    tracing::info!(
                        "SPSP over Nostr to {} failed ({e}); asking over HTTP",
                        n.pubkey.to_hex()
                    );
                    nostr_failure = Some(e);
                }
            }
        }
        let Some(spsp) = self.http else {
            return Err(PayError::RelayRefused(match nostr_failure {
                Some(e) => format!("SPSP over Nostr: {e}; its offer names no HTTP SPSP endpoint"),
                None => "its offer names no SPSP endpoint to pay".into(),
            }));
        };
        let url = format!("{}/{viewer}", spsp.trim_end_matches('/'));
        let t0 = Instant::now();
        let d = spsp_http::query(&url, timeout)
            .await
            .map_err(|e| PayError::RelayRefused(format!("SPSP {url}: {e}")))?;
        Ok((d, SpspVia::Http, t0.elapsed()))
    }
}

/// SPSP over Nostr to the key an offer names, through `pool` (or, when the offer names
/// relays the pool lacks, a pool over those): [`spsp_nostr::query_payee`].
pub async fn query_nostr(
    pool: &RelayPool,
    payee: &SpspNostr,
    keys: &Keys,
    timeout: Duration,
) -> Result<SpspDetails, SpspNostrError> {
    spsp_nostr::query_payee(pool, keys, payee, timeout).await
}

/// Why paying failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    #[error("wallet empty: {0}")]
    WalletEmpty(String),
    #[error("payment path down: {0}")]
    PathDown(String),
    #[error("relay refused payment: {0}")]
    RelayRefused(String),
}

/// What the page says when payments cannot get through (`payment_path_down`): what happened
/// and what to do.
pub fn path_down_message(m: &str, wallet_connected: bool) -> String {
    if wallet_connected {
        format!(
            "payments cannot reach the relay: the Interledger path from your wallet node to it \
             is down ({m}). A connector on the way is offline or unreachable; nothing is lost \
             (unpaid time is not charged). Payment is retried every second and playback \
             resumes by itself when the path is back; if it lasts, tell your wallet node's \
             operator or pick another relay below"
        )
    } else {
        format!(
            "payments cannot leave: the link to your wallet node is down ({m}). Check that the \
             wallet node (--node) is running and reachable; the link is redialed and playback \
             resumes by itself once it is back"
        )
    }
}

/// Sort a STREAM failure.
pub fn classify(e: &StreamSendError, wallet_connected: bool) -> PayError {
    if !wallet_connected {
        return PayError::PathDown(format!("the link to the wallet node is down ({e})"));
    }
    match e {
        StreamSendError::Rejected { code, message, .. }
        | StreamSendError::RetriesExhausted { code, message, .. } => {
            let c = code.as_str();
            if c == "T04" && message.contains("cannot reserve") {
                PayError::WalletEmpty(message.clone())
            } else if c.starts_with('F') && c != "F02" {
                PayError::RelayRefused(e.to_string())
            } else {
                PayError::PathDown(e.to_string())
            }
        }
        StreamSendError::ProbeFailed(m) if m.contains("T04") && m.contains("cannot reserve") => {
            PayError::WalletEmpty(m.clone())
        }
        StreamSendError::ProbeFailed(m) if m.contains("F02") || m.contains("T01") => {
            PayError::PathDown(e.to_string())
        }
        _ => PayError::RelayRefused(e.to_string()),
    }
}

/// A paying connection to one relay.
pub struct PaySession {
    sender: StreamSender,
    /// Destination base units per second of service.
    pub price_per_second: u64,
    /// Our units (the wallet's) that left, over the session.
    pub sent: u64,
    /// Relay units that arrived, over the session.
    pub delivered: u64,
    /// Paid service lasts until then, as the relay counts it.
    pub paid_until: Option<Instant>,
    /// What the relay said it had received from our viewer id before this session paid
    /// (from its 402 answer; None: unknown). Lets a later 402 be judged: if the relay counts
    /// everything this session sent on top of it and still refuses, it overcharges.
    pub received_before: Option<u128>,
    /// How the credentials were obtained, and that exchange's round trip.
    pub via: SpspVia,
    pub spsp_rtt: Duration,
}

impl PaySession {
    /// Ask for credentials tagged `viewer` along `route` (over Nostr or HTTP) and open the
    /// STREAM connection through `service`.
    pub async fn open(
        service: Arc<dyn IlpService>,
        route: &SpspRoute<'_>,
        viewer: &str,
        price_per_second: u64,
        source_asset: (String, u8),
        wallet_connected: bool,
        timeout: Duration,
    ) -> Result<Self, PayError> {
        let (d, via, spsp_rtt) = route.credentials(viewer, timeout).await?;
        tracing::info!(
            "SPSP credentials over {via:?} in {:.1} ms",
            spsp_rtt.as_secs_f64() * 1000.0
        );
        let mut cfg = SenderConfig::new(d.destination_account, d.shared_secret);
        cfg.source_asset = Some(source_asset);
        cfg.packet_timeout = timeout;
        cfg.max_attempts = 6;
        let sender = tokio::time::timeout(timeout, StreamSender::connect(service, cfg))
            .await
            .map_err(|_| {
                PayError::PathDown(format!(
                    "no STREAM answer from the relay within {timeout:?}"
                ))
            })?
            .map_err(|e| classify(&e, wallet_connected))?;
        Ok(Self {
            sender,
            price_per_second: price_per_second.max(1),
            sent: 0,
            delivered: 0,
            paid_until: None,
            received_before: None,
            via,
            spsp_rtt,
        })
    }

    /// Destination amount that buys paid time from `base` to `until` (rounded up).
    pub fn amount_for(&self, base: Instant, until: Instant) -> u64 {
        let secs = until.saturating_duration_since(base).as_secs_f64();
        (secs * self.price_per_second as f64).ceil() as u64
    }

    /// Pay so paid time lasts until `until` (nothing if it already does). Returns what left
    /// our wallet.
    pub async fn top_up(
        &mut self,
        until: Instant,
        wallet_connected: bool,
    ) -> Result<u64, PayError> {
        let now = Instant::now();
        let base = self.paid_until.map_or(now, |t| t.max(now));
        let dest = self.amount_for(base, until);
        if dest == 0 {
            return Ok(0);
        }
        let source = match self.sender.rate() {
            Some(r) if r.delivered > 0 => {
                let mut s = r.invert(dest).max(1);
                if r.apply(s) < dest {
                    s += 1;
                }
                s
            }
            _ => dest,
        };
        let before = self.sender.totals();
        let res = self.sender.send(source).await;
        let after = self.sender.totals();
        let (sent, delivered) = (after.sent - before.sent, after.delivered - before.delivered);
        self.sent += sent;
        self.delivered += delivered;
        if delivered > 0 {
            let secs = delivered as f64 / self.price_per_second as f64;
            self.paid_until = Some(base + Duration::from_secs_f64(secs));
        }
        match res {
            Ok(_) => Ok(sent),
            Err(e) => Err(classify(&e, wallet_connected)),
        }
    }

    /// Paid time left now.
    pub fn remaining(&self) -> Duration {
        self.paid_until
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    /// Close the connection (no more money goes to this relay).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.sender.close()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollcast_wire::error_code::ErrorCode;

    #[test]
    fn failures_are_sorted() {
        let t04 = StreamSendError::RetriesExhausted {
            attempts: 6,
            code: ErrorCode::T04_INSUFFICIENT_LIQUIDITY,
            message: "insufficient liquidity: account viewer cannot reserve 5 (balance 0, pending 0, credit limit 0)".into(),
        };
        assert!(matches!(classify(&t04, true), PayError::WalletEmpty(_)));
        assert!(matches!(classify(&t04, false), PayError::PathDown(_)));
        let f02 = StreamSendError::Rejected {
            code: ErrorCode::F02_UNREACHABLE,
            message: "no route".into(),
            triggered_by: "test.bank".into(),
        };
        assert!(matches!(classify(&f02, true), PayError::PathDown(_)));
        let closed = StreamSendError::ClosedByReceiver("bye".into());
        assert!(matches!(classify(&closed, true), PayError::RelayRefused(_)));
    }

    #[tokio::test]
    async fn silent_keys_expire_and_are_forgotten_on_answer() {
        let (a, b) = (Keys::generate().public_key(), Keys::generate().public_key());
        let silent = SilentNostrKeys::new(Duration::from_millis(100));
        assert!(!silent.is_silent(&a));
        silent.mark_silent(a);
        silent.mark_silent(b);
        assert!(silent.is_silent(&a) && silent.is_silent(&b));
        silent.answered(&b);
        assert!(silent.is_silent(&a) && !silent.is_silent(&b));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!silent.is_silent(&a), "expired");
        assert_eq!(SilentNostrKeys::default().ttl, Duration::from_secs(600));
    }
}
