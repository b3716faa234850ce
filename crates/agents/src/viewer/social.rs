//! Chat and tips from the viewer page, through the viewer's key and wallet.
//!
//! - Chat: a kind-1311 message signed with the viewer key. If the stream's Nostr relay sells
//!   writes (its NIP-11 names a `tollcast.pay_to_write.ilp_address`), it is paid-to-write with
//!   the chat agent's [`ChatClient`] at the price the creator set (`chat_price`, else the relay's
//!   per-byte price); otherwise it is published for free on the stream's relays.
//! - Tips: with the live event's `["tip", url, agent]` service, the tips agent's [`tip`] flow
//!   (signed request, STREAM payment, verified receipt); without one, a plain STREAM payment
//!   to the creator's `spsp` endpoint (no receipt).

use std::time::Duration;

use axum::http::header;
use bytes::Bytes;
use http_body_util::BodyExt;
use tollcast_events::chat::ChatMessage;
use tollcast_events::nostr::prelude::PublicKey;
use tollcast_net::stream::{SenderConfig, StreamSender, spsp_http};
use tollcast_wire::address::Address;

use super::{Viewer, ViewerError};
use crate::chat::{ChatClient, ChatSettings};

/// What a chat write did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChatSent {
    pub id: String,
    /// Base units paid to write it (0: free relay).
    pub paid: u64,
}

/// What a tip did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TipSent {
    /// The verified tip receipt (kind 9737) id, when the stream has a tip service.
    pub receipt_id: Option<String>,
    /// What the creator's side counted.
    pub delivered: u64,
    /// What left the wallet.
    pub sent: u64,
}

/// The pay-to-write ILP address a Nostr relay names in its NIP-11 document, if any.
pub async fn pay_to_write_address(ws_url: &str) -> Option<String> {
    let u = url::Url::parse(ws_url).ok()?;
    if u.scheme() != "ws" {
        return None; // TLS relays: not reachable with this client
    }
    let host = u.host_str()?.to_string();
    let port = u.port_or_known_default()?;
    let path = if u.path().is_empty() { "/" } else { u.path() }.to_string();
    let fut = async move {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .ok()?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.ok()?;
        let driver = tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header(header::HOST, format!("{host}:{port}"))
            .header(header::ACCEPT, "application/nostr+json")
            .body(http_body_util::Empty::<Bytes>::new())
            .ok()?;
        let resp = sender.send_request(req).await.ok()?;
        let body = http_body_util::Limited::new(resp.into_body(), 256 * 1024)
            .collect()
            .await
            .ok()?
            .to_bytes();
        driver.abort();
        let doc: serde_json::Value = serde_json::from_slice(&body).ok()?;
        doc["tollcast"]["pay_to_write"]["ilp_address"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    tokio::time::timeout(Duration::from_secs(3), fut)
        .await
        .ok()
        .flatten()
}

fn tag_values<'a>(
    ev: &'a tollcast_events::nostr::prelude::Event,
    name: &str,
) -> Option<&'a [String]> {
    ev.tags
        .iter()
        .map(|t| t.as_slice())
        .find(|s| s.first().map(String::as_str) == Some(name))
}

impl Viewer {
    /// The stream's chat price per message (the creator's `chat_price`), if set.
    pub fn chat_price(&self) -> Option<u64> {
        ChatSettings::from_live_event(&self.found().event)
            .ok()
            .and_then(|s| s.price)
    }

    /// Sign and send a chat message for the stream (paid-to-write where the relay sells writes).
    pub async fn chat(&self, content: &str) -> Result<ChatSent, ViewerError> {
        let content = content.trim();
        if content.is_empty() || content.chars().count() > 2000 {
            return Err(ViewerError::Target("write 1 to 2000 characters".into()));
        }
        let f = self.found();
        let stream = f.address.clone();
        for url in &f.nostr_relays {
            let Some(ilp) = pay_to_write_address(url).await else {
                continue;
            };
            let addr = Address::new(&ilp).map_err(|e| {
                ViewerError::Upstream(format!("{url} names a bad ILP address: {e}"))
            })?;
            let mut client = ChatClient::new(
                self.keys().clone(),
                self.wallet().service(),
                addr,
                stream.clone(),
            )
            .with_relay_hint(url.clone());
            if let Ok(s) = ChatSettings::from_live_event(&f.event) {
                client = client.with_settings(&s);
            }
            let sent = client
                .send(content)
                .await
                .map_err(|e| ViewerError::Payment(format!("chat not sent: {e}")))?;
            self.add_spent(sent.paid);
            return Ok(ChatSent {
                id: sent.event.id.to_hex(),
                paid: sent.paid,
            });
        }
        // No relay sells writes: publish for free.
        let mut m = ChatMessage::new(stream, content);
        m.relay = f.nostr_relays.first().cloned();
        let ev = m
            .sign(self.keys(), None)
            .map_err(|e| ViewerError::Upstream(format!("signing the message: {e}")))?;
        let results = self.pool().publish(&ev, Duration::from_secs(5)).await;
        match tollcast_net::nostr_relay::pool::any_accepted(&results) {
            Ok(()) => Ok(ChatSent {
                id: ev.id.to_hex(),
                paid: 0,
            }),
            Err(why) => Err(ViewerError::Upstream(format!(
                "no relay took the message ({why})"
            ))),
        }
    }

    /// Tip the creator `amount` base units with `message`.
    pub async fn tip(&self, amount: u64, message: &str) -> Result<TipSent, ViewerError> {
        if amount == 0 {
            return Err(ViewerError::Target("tip at least 1 base unit".into()));
        }
        let f = self.found();
        let w = self.wallet();
        if let Some(t) = tag_values(&f.event, "tip")
            && let Some(url) = t.get(1)
        {
            let agent = t.get(2).and_then(|k| PublicKey::from_hex(k).ok());
            let out = crate::tips::tip(
                self.keys(),
                w.service(),
                url,
                agent,
                &f.address,
                amount,
                (&w.asset_code, w.asset_scale),
                message,
                f.nostr_relays.clone(),
            )
            .await
            .map_err(|e| ViewerError::Payment(format!("tip failed: {e}")))?;
            self.add_spent(out.sent);
            return Ok(TipSent {
                receipt_id: Some(out.receipt.id.to_hex()),
                delivered: out.delivered,
                sent: out.sent,
            });
        }
        let Some(spsp) = tag_values(&f.event, "spsp").and_then(|t| t.get(1)) else {
            return Err(ViewerError::NotFound(
                "this stream takes no tips (its live event names no tip service or SPSP endpoint)"
                    .into(),
            ));
        };
        let d = spsp_http::query(spsp, Duration::from_secs(5))
            .await
            .map_err(|e| ViewerError::Payment(format!("the creator's SPSP endpoint: {e}")))?;
        let mut cfg = SenderConfig::new(d.destination_account, d.shared_secret);
        cfg.source_asset = Some((w.asset_code.clone(), w.asset_scale));
        let mut s = StreamSender::connect(w.service(), cfg)
            .await
            .map_err(|e| ViewerError::Payment(format!("STREAM to the creator: {e}")))?;
        let source = match s.rate() {
            Some(r) => r.invert(amount).max(1),
            None => amount,
        };
        let res = s.send(source).await;
        let t = s.totals();
        let _ = s.close().await;
        self.add_spent(t.sent);
        res.map_err(|e| {
            ViewerError::Payment(format!("tip stopped after delivering {}: {e}", t.delivered))
        })?;
        Ok(TipSent {
            receipt_id: None,
            delivered: t.delivered,
            sent: t.sent,
        })
    }
}
