//! Node configuration (TOML): identity, listen address, ledger path, accounts, routes,
//! fees and exchange rates. See `examples/*.toml` for commented examples.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::rates::{Fee, RateTable};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub node: NodeSection,
    #[serde(default)]
    pub fee: Fee,
    /// Asset code -> price of one whole unit in a common reference unit, as an exact decimal
    /// string (e.g. `USD = "1"`, `EUR = "1.08"`).
    #[serde(default)]
    pub rates: HashMap<String, String>,
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// `[nostr]`: the node's Nostr relay (see [`crate::node_services`]).
    #[serde(default)]
    pub nostr: crate::node_services::NostrSection,
    /// `[spsp]`: the node's STREAM receiver and SPSP endpoint (see [`crate::node_services`]).
    #[serde(default)]
    pub spsp: crate::node_services::SpspSection,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Short name; the default address is `g.tollcast.<name>`.
    pub name: String,
    /// The node's ILP address (default `g.tollcast.<name>`).
    #[serde(default)]
    pub address: Option<String>,
    /// Where BTP (WebSocket at `/`), `/metrics` and `/accounts` are served.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The durable ledger file (created if missing); `":memory:"` for a throwaway in-memory
    /// ledger (no durability: benchmarks and demos only).
    pub ledger: PathBuf,
    /// How much earlier than the incoming expiry each forwarded PREPARE expires, so this
    /// node always has time to pass a FULFILL back.
    #[serde(default = "default_margin")]
    pub expiry_margin_ms: u64,
    /// Upper bound on how long this node holds a forwarded packet.
    #[serde(default = "default_max_hold")]
    pub max_hold_ms: u64,
    /// BTP client reconnect backoff: first delay and cap.
    #[serde(default = "default_backoff_min")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_backoff_max")]
    pub reconnect_max_ms: u64,
    /// The node's secret key (64 hex chars or `nsec1...`), which signs settlement claims.
    /// Unset: read from (or, on first start, generated into) the key file beside the ledger,
    /// `<ledger>.key`; an in-memory ledger gets a fresh key each start.
    #[serde(default)]
    pub node_key: Option<String>,
}

impl NodeSection {
    /// The node's signing keys: `node_key`, else the key file beside the ledger (created with
    /// a fresh key on first start), else (in-memory ledger) a throwaway key.
    pub fn signing_keys(&self) -> Result<nostr::key::Keys, ConfigError> {
        if let Some(k) = &self.node_key {
            return parse_node_key(k);
        }
        if self.ledger.as_os_str() == super::node::MEMORY_LEDGER {
            return Ok(nostr::key::Keys::generate());
        }
        let path = self.key_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_node_key(text.trim())
                .map_err(|e| ConfigError::Invalid(format!("key file {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keys = nostr::key::Keys::generate();
                write_key_file(&path, &keys.secret_key().to_secret_hex()).map_err(|source| {
                    ConfigError::Read {
                        path: path.display().to_string(),
                        source,
                    }
                })?;
                Ok(keys)
            }
            Err(source) => Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Where the node key lives when `node_key` is not set: `<ledger>.key`.
    pub fn key_file(&self) -> PathBuf {
        let mut p = self.ledger.clone().into_os_string();
        p.push(".key");
        PathBuf::from(p)
    }
}

fn parse_node_key(k: &str) -> Result<nostr::key::Keys, ConfigError> {
    nostr::key::Keys::parse(k).map_err(|e| {
        ConfigError::Invalid(format!(
            "node_key is not a secret key (64 hex chars or nsec1...): {e}"
        ))
    })
}

/// Writes a new key file readable by its owner only, never replacing an existing one.
fn write_key_file(path: &std::path::Path, hex: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    f.write_all(hex.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Parses a peer's x-only public key (64 hex chars or `npub1...`).
pub fn parse_peer_pubkey(s: &str) -> Result<[u8; 32], String> {
    nostr::key::PublicKey::parse(s)
        .map(|p| p.to_bytes())
        .map_err(|e| format!("{s:?} is not a public key (64 hex chars or npub1...): {e}"))
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
fn default_margin() -> u64 {
    1000
}
fn default_max_hold() -> u64 {
    30_000
}
fn default_backoff_min() -> u64 {
    100
}
fn default_backoff_max() -> u64 {
    10_000
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// Gives us our address (IL-DCP) and is the default route.
    Parent,
    /// An equal: routes are configured statically.
    Peer,
    /// Lives under our address (`<our address>.<id>`), gets it from us over IL-DCP.
    Child,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub id: String,
    pub relation: Relation,
    pub asset_code: String,
    pub asset_scale: u8,
    /// Connect to this peer as a BTP client (`ws://host:port` or `btp+ws://user:token@host:port`).
    #[serde(default)]
    pub btp_url: Option<String>,
    /// The BTP auth token: sent when we are the client, expected when the peer connects to us.
    #[serde(default)]
    pub auth_token: Option<String>,
    /// How much this peer may owe us (base units) before its packets get T04.
    #[serde(default)]
    pub credit_limit: u64,
    /// When we owe this peer at least this much, we settle down to `settle_to` (a signed claim
    /// when `peer_pubkey` is set, else a BTP Transfer).
    #[serde(default)]
    pub settle_threshold: Option<u64>,
    #[serde(default)]
    pub settle_to: u64,
    /// PREPAREs from this peer above this amount get F08.
    #[serde(default)]
    pub max_packet_amount: Option<u64>,
    /// Fee charged on packets from this account (overrides `[fee]`).
    #[serde(default)]
    pub fee: Option<Fee>,
    /// Accept this peer's BTP Transfers as settlement (credited to its balance unverified,
    /// as ilp-plugin-btp does). Off by default: an untrusted peer could credit itself.
    #[serde(default)]
    pub accept_btp_settlement: bool,
    /// The peer's public key (64 hex x-only or `npub1...`). When set, settlement with this
    /// peer is by signed cumulative payment-channel claims (BTP protocolData
    /// `tollcast-settlement`): we send claims signed with our node key and credit only claims
    /// signed with this key.
    #[serde(default)]
    pub peer_pubkey: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub prefix: String,
    pub account: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl NodeConfig {
    pub fn from_toml(text: &str, path: &str) -> Result<Self, ConfigError> {
        let cfg: NodeConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        Self::from_toml(&text, &p)
    }

    pub fn address(&self) -> String {
        self.node
            .address
            .clone()
            .unwrap_or_else(|| format!("g.tollcast.{}", self.node.name))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let addr = self.address();
        if let Some(k) = &self.node.node_key {
            parse_node_key(k)?;
        }
        if tollcast_wire::address::Address::new(&addr).is_err() {
            return bad(format!("node address {addr:?} is not a valid ILP address"));
        }
        let mut ids = HashSet::new();
        let mut tokens = HashSet::new();
        for a in &self.accounts {
            if a.id.is_empty()
                || a.id == super::AccountId::LOCAL
                || !a
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'~')
            {
                return bad(format!(
                    "account id {:?}: use letters, digits, '_', '-', '~' (and not \"self\")",
                    a.id
                ));
            }
            if !ids.insert(a.id.as_str()) {
                return bad(format!("account id {:?} is defined twice", a.id));
            }
            if a.btp_url.is_none() && a.auth_token.is_none() {
                return bad(format!(
                    "account {:?}: set btp_url (we connect) or auth_token (it connects to us)",
                    a.id
                ));
            }
            if a.btp_url.is_none() {
                let t = a.auth_token.as_deref().unwrap_or_default();
                if !tokens.insert(t) {
                    return bad(format!(
                        "account {:?}: auth_token is shared with another account; tokens identify accounts",
                        a.id
                    ));
                }
            }
            if let Some(u) = &a.btp_url
                && super::btp_peer::parse_btp_url(u, a.auth_token.as_deref()).is_err()
            {
                return bad(format!(
                    "account {:?}: btp_url {u:?} is not a ws:// or btp+ws:// URL",
                    a.id
                ));
            }
            if let Some(k) = &a.peer_pubkey
                && let Err(e) = parse_peer_pubkey(k)
            {
                return bad(format!("account {:?}: peer_pubkey {e}", a.id));
            }
            if let Some(t) = a.settle_threshold
                && a.settle_to > t
            {
                return bad(format!(
                    "account {:?}: settle_to must not exceed settle_threshold",
                    a.id
                ));
            }
        }
        if self
            .accounts
            .iter()
            .filter(|a| a.relation == Relation::Parent)
            .count()
            > 1
        {
            return bad("at most one parent account".into());
        }
        for r in &self.routes {
            if !ids.contains(r.account.as_str()) {
                return bad(format!(
                    "route {:?} points at unknown account {:?}",
                    r.prefix, r.account
                ));
            }
        }
        RateTable::new(&self.rates).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for a in &self.accounts {
            for b in &self.accounts {
                if a.asset_code != b.asset_code && !self.rates.contains_key(&a.asset_code) {
                    return bad(format!(
                        "no rate for asset {} (accounts {} and {} differ): add it under [rates]",
                        a.asset_code, a.id, b.id
                    ));
                }
            }
        }
        Ok(())
    }
}
