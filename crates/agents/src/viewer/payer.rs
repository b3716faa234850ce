//! Paying the chosen relay in credit mode: one STREAM connection viewer -> relay (credentials
//! from the relay's SPSP endpoint `/.well-known/pay/{viewer}`, so the relay credits our viewer
//! id), topped up so the paid time runs a small margin ahead of now and never further: a relay
//! that fails costs at most that margin. [`PaySession::top_up`] mirrors the relay's
//! bookkeeping (money buys `delivered / price_per_second` seconds from where paid time ends).
//!
//! Failures are sorted into what the viewer can act on ([`PayError`]): wallet empty (the wallet
//! node refused to reserve the amount), connector path down (no route / link down), relay
//! refused (its SPSP or STREAM receiver said no).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tollcast_net::connector::IlpService;
use tollcast_net::stream::{SenderConfig, StreamSendError, StreamSender, spsp_http};

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
}

impl PaySession {
    /// Ask `spsp` (the relay's SPSP base, e.g. `http://h/.well-known/pay`) for credentials
    /// tagged `viewer` and open the STREAM connection through `service`.
    pub async fn open(
        service: Arc<dyn IlpService>,
        spsp: &str,
        viewer: &str,
        price_per_second: u64,
        source_asset: (String, u8),
        wallet_connected: bool,
        timeout: Duration,
    ) -> Result<Self, PayError> {
        let url = format!("{}/{viewer}", spsp.trim_end_matches('/'));
        let d = spsp_http::query(&url, timeout)
            .await
            .map_err(|e| PayError::RelayRefused(format!("SPSP {url}: {e}")))?;
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
}
