//! A whole tollcast node: the ILP connector plus the services every node hosts, all on the
//! node's one HTTP port.
//!
//! - `/` — BTP (WebSocket), `/accounts`, `/metrics` (connector, relay and receiver counters).
//! - `/nostr` — the Nostr relay (NIP-01 WebSocket, NIP-11 with `Accept: application/nostr+json`).
//!   It cannot share `/` with BTP (both are WebSocket upgrades on the same route), and one port
//!   is simpler to open and proxy than two. Paid writes arrive over ILP at `<node>.nostr`
//!   ([`PayToWrite`]), routed by the connector like any local address.
//! - `/.well-known/pay` — SPSP (HTTP) for the node's STREAM receiver at `<node>.pay`; with
//!   `[spsp] nostr_key` it also answers SPSP requests over Nostr on the node's own relay.
//!
//! Both services are on by default; `[nostr] enabled = false` / `[spsp] enabled = false` turn
//! them off. See `examples/node-*.toml`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use nostr::prelude::{Keys, PublicKey};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tollcast_wire::address::Address;

use crate::connector::node::{MEMORY_LEDGER, NodeError};
use crate::connector::{Node, NodeConfig};
use crate::nostr_relay::client::{ClientOptions, RelayClient};
use crate::nostr_relay::pay_to_write::PayToWrite;
use crate::nostr_relay::{
    NostrRelay, Pricing, RelayConfig, RelayInfo, RelayLimits, StoreError, WritePolicy,
};
use crate::stream::{StreamReceiver, spsp_http, spsp_nostr};

/// `[nostr]` in the node config.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NostrSection {
    /// Host the relay (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// HTTP path of the relay WebSocket and NIP-11 on the node's port (default `/nostr`).
    #[serde(default = "default_nostr_path")]
    pub path: String,
    /// Event store file (default: beside the ledger, `<ledger stem>.nostr.redb`).
    #[serde(default)]
    pub db: Option<PathBuf>,
    /// Pay-to-write ILP address segment under the node address (default `nostr`).
    #[serde(default = "default_nostr_segment")]
    pub segment: String,
    /// Who may publish over the WebSocket: `open` (default) or `paid_accounts`.
    #[serde(default = "default_write_policy")]
    pub write_policy: WritePolicy,
    /// `[nostr.pricing]`: `base_per_byte`, `kind_per_byte`, `free_authors` (hex pubkeys).
    #[serde(default)]
    pub pricing: Pricing,
    /// `[nostr.info]`: NIP-11 name, description, contact, pubkey.
    #[serde(default)]
    pub info: RelayInfo,
    /// `[nostr.limits]`: message, subscription and event limits.
    #[serde(default)]
    pub limits: RelayLimits,
    /// Authors refused everywhere (hex pubkeys).
    #[serde(default)]
    pub blocked_authors: Vec<PublicKey>,
    /// The relay's public URL as clients see it (NIP-42 `relay` tag); default the local URL.
    #[serde(default)]
    pub public_url: Option<String>,
}

impl Default for NostrSection {
    fn default() -> Self {
        Self {
            enabled: true,
            path: default_nostr_path(),
            db: None,
            segment: default_nostr_segment(),
            write_policy: default_write_policy(),
            pricing: Pricing::default(),
            info: RelayInfo::default(),
            limits: RelayLimits::default(),
            blocked_authors: Vec::new(),
            public_url: None,
        }
    }
}

/// `[spsp]` in the node config.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpspSection {
    /// Host the STREAM receiver and SPSP endpoint (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Receiver ILP address segment under the node address (default `pay`).
    #[serde(default = "default_spsp_segment")]
    pub segment: String,
    /// HTTP path of the SPSP endpoint on the node's port (default `/.well-known/pay`).
    #[serde(default = "default_spsp_path")]
    pub path: String,
    /// Asset the receiver reports (default: the first account's asset).
    #[serde(default)]
    pub asset_code: Option<String>,
    #[serde(default)]
    pub asset_scale: Option<u8>,
    /// 64 hex chars: the receiver's server secret (default: derived from the node key, so
    /// issued credentials survive restarts either way).
    #[serde(default)]
    pub secret: Option<String>,
    /// Secret key (nsec or hex): also answer SPSP over Nostr (kinds 23194/23195) for this key
    /// on the node's own relay. Needs `[nostr]` enabled.
    #[serde(default)]
    pub nostr_key: Option<String>,
}

impl Default for SpspSection {
    fn default() -> Self {
        Self {
            enabled: true,
            segment: default_spsp_segment(),
            path: default_spsp_path(),
            asset_code: None,
            asset_scale: None,
            secret: None,
            nostr_key: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_nostr_path() -> String {
    "/nostr".into()
}
fn default_nostr_segment() -> String {
    "nostr".into()
}
fn default_write_policy() -> WritePolicy {
    WritePolicy::Open
}
fn default_spsp_segment() -> String {
    "pay".into()
}
fn default_spsp_path() -> String {
    "/.well-known/pay".into()
}

#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    #[error("{0}")]
    Node(#[from] NodeError),
    #[error("nostr relay store {path}: {source}")]
    Store { path: String, source: StoreError },
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("SPSP over Nostr: {0}")]
    SpspNostr(String),
}

/// The hosted relay.
pub struct HostedRelay {
    pub relay: NostrRelay,
    /// `ws://<node addr><path>`.
    pub url: String,
    /// Where paid writes go.
    pub ilp_address: Address,
}

/// The hosted receiver.
pub struct HostedSpsp {
    pub receiver: Arc<StreamReceiver>,
    /// `http://<node addr><path>`.
    pub url: String,
    /// The key answering SPSP over Nostr, if configured.
    pub nostr_pubkey: Option<PublicKey>,
}

/// A running node with its services. Dropping it stops everything.
pub struct NodeServices {
    pub node: Node,
    pub relay: Option<HostedRelay>,
    pub spsp: Option<HostedSpsp>,
    tasks: Vec<JoinHandle<()>>,
    temp_db: Option<PathBuf>,
}

impl Drop for NodeServices {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(p) = &self.temp_db {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn relay_db_path(cfg: &NodeConfig) -> (PathBuf, bool) {
    if let Some(p) = &cfg.nostr.db {
        return (p.clone(), false);
    }
    let ledger = &cfg.node.ledger;
    if ledger.as_os_str() == MEMORY_LEDGER {
        // No durable home: a per-process file removed when the node stops.
        let p = std::env::temp_dir().join(format!(
            "tollcast-{}-{}.nostr.redb",
            cfg.node.name,
            std::process::id()
        ));
        return (p, true);
    }
    let stem = ledger
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "node".into());
    (ledger.with_file_name(format!("{stem}.nostr.redb")), false)
}

fn parse_secret(s: &str) -> Option<[u8; 32]> {
    hex::decode(s.trim()).ok()?.try_into().ok()
}

/// The receiver's server secret when `[spsp] secret` is unset: a one-way, domain-separated
/// function of the node key (knowing it reveals nothing about the key).
fn derive_spsp_secret(node_secret: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"tollcast node spsp server secret v1");
    h.update(node_secret);
    h.finalize().into()
}

fn normalize_path(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.starts_with('/') {
        t.to_string()
    } else {
        format!("/{t}")
    }
}

/// Appends `extra()` to successful `GET /metrics` bodies.
async fn append_metrics(
    extra: Arc<dyn Fn() -> String + Send + Sync>,
    req: Request,
    next: Next,
) -> Response {
    let is_metrics = req.uri().path() == "/metrics";
    let resp = next.run(req).await;
    if !is_metrics || !resp.status().is_success() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let mut bytes = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(b) => b.to_vec(),
        Err(_) => Vec::new(),
    };
    bytes.extend_from_slice(extra().as_bytes());
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

fn receiver_metrics(r: &StreamReceiver) -> String {
    let c = r.config();
    format!(
        "# HELP tollcast_spsp_received_total Base units received by the node's STREAM receiver.\n\
         # TYPE tollcast_spsp_received_total counter\n\
         tollcast_spsp_received_total{{address=\"{}\",asset_code=\"{}\",asset_scale=\"{}\"}} {}\n",
        c.server_address.as_str(),
        c.asset_code,
        c.asset_scale,
        r.total_received()
    )
}

impl NodeServices {
    /// Starts the connector and the services `cfg` enables; returns once the port listens.
    pub async fn start(cfg: NodeConfig) -> Result<NodeServices, ServicesError> {
        let mut temp_db = None;
        let relay = if cfg.nostr.enabled {
            let (path, temp) = relay_db_path(&cfg);
            let mut info = cfg.nostr.info.clone();
            if info.ilp_address.is_none() {
                // NIP-11 tells writers where paid writes go.
                info.ilp_address = Some(format!("{}.{}", cfg.address(), cfg.nostr.segment));
            }
            let rc = RelayConfig {
                info,
                limits: cfg.nostr.limits.clone(),
                write_policy: cfg.nostr.write_policy,
                pricing: cfg.nostr.pricing.clone(),
                blocked_authors: cfg.nostr.blocked_authors.iter().copied().collect(),
                public_url: cfg.nostr.public_url.clone(),
            };
            let r = NostrRelay::open(rc, &path).map_err(|source| ServicesError::Store {
                path: path.display().to_string(),
                source,
            })?;
            if temp {
                temp_db = Some(path);
            }
            Some(r)
        } else {
            None
        };
        let spsp_asset = if cfg.spsp.enabled {
            let first = cfg.accounts.first();
            let code = cfg
                .spsp
                .asset_code
                .clone()
                .or_else(|| first.map(|a| a.asset_code.clone()));
            let scale = cfg
                .spsp
                .asset_scale
                .or_else(|| first.map(|a| a.asset_scale));
            match (code, scale) {
                (Some(c), Some(s)) => Some((c, s)),
                _ => {
                    return Err(ServicesError::Invalid(
                        "[spsp] needs asset_code and asset_scale when the node has no accounts \
                         (or set [spsp] enabled = false)"
                            .into(),
                    ));
                }
            }
        } else {
            None
        };
        let secret = match cfg.spsp.secret.as_deref() {
            Some(s) => Some(parse_secret(s).ok_or_else(|| {
                ServicesError::Invalid("[spsp] secret must be 64 hex chars".into())
            })?),
            // Derived from the node key, so issued credentials survive restarts without
            // another secret to keep (an in-memory ledger has a throwaway key).
            None if cfg.spsp.enabled => {
                let keys = cfg.node.signing_keys().map_err(NodeError::from)?;
                Some(derive_spsp_secret(keys.secret_key().as_secret_bytes()))
            }
            None => None,
        };
        let nostr_keys = match &cfg.spsp.nostr_key {
            Some(k) if cfg.spsp.enabled => {
                if relay.is_none() {
                    return Err(ServicesError::Invalid(
                        "[spsp] nostr_key needs the node's relay ([nostr] enabled = true)".into(),
                    ));
                }
                Some(Keys::parse(k).map_err(|e| {
                    ServicesError::Invalid(format!("[spsp] nostr_key is not a secret key: {e}"))
                })?)
            }
            _ => None,
        };
        let nostr_path = normalize_path(&cfg.nostr.path);
        let spsp_path = normalize_path(&cfg.spsp.path);
        let nostr_segment = cfg.nostr.segment.clone();
        let spsp_segment = cfg.spsp.segment.clone();

        let mut ptw_addr = None;
        let mut receiver = None;
        let relay_for_mount = relay.clone();
        let node = Node::start_with(cfg, |connector, mut app| {
            let invalid =
                |m: String| NodeError::Config(crate::connector::config::ConfigError::Invalid(m));
            let mut metrics: Vec<Arc<dyn Fn() -> String + Send + Sync>> = Vec::new();
            if let Some(r) = &relay_for_mount {
                let addr = connector
                    .address()
                    .with_suffix(&nostr_segment)
                    .map_err(|e| invalid(format!("[nostr] segment: {e}")))?;
                connector.add_local_handler(
                    addr.as_str().to_string(),
                    Arc::new(PayToWrite::new(r, addr.clone())),
                );
                ptw_addr = Some(addr);
                app = app.nest(&nostr_path, crate::nostr_relay::router(r.clone()));
                let m = r.clone();
                metrics.push(Arc::new(move || m.metrics().render_prometheus()));
            }
            if let Some((code, scale)) = &spsp_asset {
                let rx = StreamReceiver::attach(connector, &spsp_segment, code, *scale, secret)
                    .map_err(|e| invalid(format!("[spsp] segment: {e}")))?;
                app = app.merge(spsp_http::router(rx.clone(), &spsp_path));
                let m = rx.clone();
                metrics.push(Arc::new(move || receiver_metrics(&m)));
                receiver = Some(rx);
            }
            if !metrics.is_empty() {
                let extra: Arc<dyn Fn() -> String + Send + Sync> =
                    Arc::new(move || metrics.iter().map(|f| f()).collect::<String>());
                app = app.layer(axum::middleware::from_fn(move |req, next| {
                    append_metrics(extra.clone(), req, next)
                }));
            }
            Ok(app)
        })
        .await?;
        let local: SocketAddr = node.local_addr;
        let mut tasks = Vec::new();
        let relay = match (relay, ptw_addr) {
            (Some(r), Some(ilp_address)) => {
                tasks.push(r.spawn_expiry_purge(Duration::from_secs(30)));
                Some(HostedRelay {
                    relay: r,
                    url: format!("ws://{local}{nostr_path}"),
                    ilp_address,
                })
            }
            _ => None,
        };
        let mut spsp = receiver.map(|receiver| HostedSpsp {
            receiver,
            url: format!("http://{local}{spsp_path}"),
            nostr_pubkey: None,
        });
        if let (Some(keys), Some(s), Some(r)) = (nostr_keys, spsp.as_mut(), relay.as_ref()) {
            let client = RelayClient::connect(&r.url, ClientOptions::default())
                .map_err(|e| ServicesError::SpspNostr(e.to_string()))?;
            s.nostr_pubkey = Some(keys.public_key());
            let task = spsp_nostr::serve(client, keys, s.receiver.clone())
                .await
                .map_err(|e| ServicesError::SpspNostr(e.to_string()))?;
            tasks.push(task);
        }
        Ok(NodeServices {
            node,
            relay,
            spsp,
            tasks,
            temp_db,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[node]\nname = \"n\"\nledger = \"/tmp/n.redb\"\n";

    #[test]
    fn sections_default_on_and_parse_prices() {
        let cfg = NodeConfig::from_toml(BASE, "t").unwrap();
        assert!(cfg.nostr.enabled && cfg.spsp.enabled);
        assert_eq!(cfg.nostr.path, "/nostr");
        assert_eq!(cfg.spsp.path, "/.well-known/pay");
        assert_eq!(
            relay_db_path(&cfg),
            (PathBuf::from("/tmp/n.nostr.redb"), false)
        );
        let text = format!(
            "{BASE}[nostr]\nwrite_policy = \"paid_accounts\"\n[nostr.pricing]\nbase_per_byte = 3\n\
             [spsp]\nsegment = \"recv\"\nasset_code = \"EUR\"\nasset_scale = 2\n"
        );
        let cfg = NodeConfig::from_toml(&text, "t").unwrap();
        assert_eq!(cfg.nostr.write_policy, WritePolicy::PaidAccounts);
        assert_eq!(cfg.nostr.pricing.base_per_byte, 3);
        assert_eq!(cfg.spsp.segment, "recv");
        assert_eq!(cfg.spsp.asset_scale, Some(2));
    }

    #[test]
    fn typos_are_refused() {
        for bad in ["[nostr]\nenable = false\n", "[spsp]\npth = \"/x\"\n"] {
            let err = NodeConfig::from_toml(&format!("{BASE}{bad}"), "t").unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{err}");
        }
    }

    #[test]
    fn secrets() {
        assert_eq!(parse_secret(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_secret("abcd"), None);
        assert_eq!(parse_secret(&"zz".repeat(32)), None);
        let a = derive_spsp_secret(&[1; 32]);
        assert_eq!(a, derive_spsp_secret(&[1; 32]));
        assert_ne!(a, derive_spsp_secret(&[2; 32]));
        assert_ne!(a, [1; 32]);
    }

    #[tokio::test]
    async fn spsp_needs_an_asset_and_nostr_key_needs_the_relay() {
        let dir = std::env::temp_dir().join(format!("tollcast-ns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("r.redb");
        let ledger = format!(
            "ledger = \":memory:\"\n[nostr]\ndb = \"{}\"\n",
            db.display()
        );
        let cfg = NodeConfig::from_toml(&format!("[node]\nname = \"n\"\n{ledger}"), "t").unwrap();
        let err = NodeServices::start(cfg).await.err().unwrap();
        assert!(err.to_string().contains("asset_code"), "{err}");
        let cfg = NodeConfig::from_toml(
            "[node]\nname = \"n\"\nledger = \":memory:\"\n[nostr]\nenabled = false\n\
             [spsp]\nasset_code = \"USD\"\nasset_scale = 9\nnostr_key = \"\"\n",
            "t",
        )
        .unwrap();
        let err = NodeServices::start(cfg).await.err().unwrap();
        assert!(err.to_string().contains("[nostr] enabled"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
