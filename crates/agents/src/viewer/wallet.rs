//! The viewer's wallet: an account at a tollcast ILP node, reached like `tollcast pay` does: a
//! small in-process node whose only account is that node (relation parent, dialed over BTP
//! with the account's token). Payments leave from the in-process node's own funds and are
//! booked at the wallet node on the viewer's account (prepaid balance or credit limit).
//!
//! The balance comes from the wallet node's `GET /accounts` (same host:port as BTP) when the
//! account id is known: spendable = balance (what the node owes us) + credit limit.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tollcast_net::connector::{AccountId, AccountsView, IlpService, Node, NodeConfig};

use super::ViewerError;
use crate::relay::upstream::Upstream;

/// A lost wallet link is redialed at least this often (ms): it is the viewer's only way to
/// pay, and playback stops while it is down (the node default backs off to 10 s).
const RECONNECT_MAX_MS: u64 = 1_000;

/// Where the wallet is.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct WalletConfig {
    /// `btp+ws://:TOKEN@HOST:PORT` (or `ws://HOST:PORT` with `token`).
    pub node: String,
    #[serde(default)]
    pub token: Option<String>,
    /// The account's asset at the node.
    #[serde(default = "default_code")]
    pub asset_code: String,
    #[serde(default = "default_scale")]
    pub asset_scale: u8,
    /// The account's id at the node (to read its balance from `/accounts`); default: the
    /// user part of the `node` URL (`btp+ws://alice:TOKEN@...`), if any.
    #[serde(default)]
    pub account: Option<String>,
}

fn default_code() -> String {
    "USD".into()
}
fn default_scale() -> u8 {
    6
}

/// A connected wallet. Dropping it stops the in-process node.
pub struct Wallet {
    node: Option<Node>,
    service: Arc<dyn IlpService>,
    pub asset_code: String,
    pub asset_scale: u8,
    admin: Option<Upstream>,
    account: Option<String>,
    /// (spendable balance, when read).
    balance: Mutex<Option<i128>>,
    upstream_link: AccountId,
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Wallet {
    /// Dial the wallet node; `ledger` is the in-process node's ledger file. Fails (with what to
    /// do) if the node does not accept the link within `timeout`.
    pub async fn connect(
        cfg: &WalletConfig,
        ledger: &Path,
        timeout: Duration,
    ) -> Result<Self, ViewerError> {
        let token_line = match &cfg.token {
            Some(t) => format!("auth_token = {}\n", toml_str(t)),
            None => String::new(),
        };
        let text = format!(
            "[node]\nname = \"viewer\"\naddress = \"private.tollcast.viewer\"\nlisten = \"127.0.0.1:0\"\nledger = {}\n\
             reconnect_max_ms = {RECONNECT_MAX_MS}\n\n\
             [[accounts]]\nid = \"wallet\"\nrelation = \"parent\"\nasset_code = {}\nasset_scale = {}\nbtp_url = {}\n{token_line}",
            toml_str(&ledger.display().to_string()),
            toml_str(&cfg.asset_code),
            cfg.asset_scale,
            toml_str(&cfg.node),
        );
        let ncfg = NodeConfig::from_toml(&text, "wallet").map_err(|e| {
            ViewerError::Wallet(format!(
                "wallet node `{}`: {e} (give btp+ws://:TOKEN@HOST:PORT)",
                cfg.node
            ))
        })?;
        let node = Node::start(ncfg)
            .await
            .map_err(|e| ViewerError::Wallet(format!("starting the local node: {e}")))?;
        let link = AccountId::new("wallet");
        if !node.connector.wait_connected(&link, timeout).await {
            return Err(ViewerError::Wallet(format!(
                "could not connect to the wallet node at {} within {timeout:?}: check the URL and \
                 the token, and that `tollcast node` runs there",
                cfg.node
            )));
        }
        let account = cfg.account.clone().or_else(|| {
            url::Url::parse(&cfg.node)
                .ok()
                .map(|u| u.username().to_string())
                .filter(|u| !u.is_empty())
        });
        let admin = url::Url::parse(&cfg.node).ok().and_then(|u| {
            let host = u.host_str()?.to_string();
            let port = u.port_or_known_default()?;
            Upstream::new(&format!("http://{host}:{port}"), Duration::from_secs(3)).ok()
        });
        let service = node.connector.sender(AccountId::local());
        Ok(Self {
            node: Some(node),
            service,
            asset_code: cfg.asset_code.clone(),
            asset_scale: cfg.asset_scale,
            admin,
            account,
            balance: Mutex::new(None),
            upstream_link: link,
        })
    }

    /// Where STREAM packets go.
    pub fn service(&self) -> Arc<dyn IlpService> {
        self.service.clone()
    }

    /// Is the BTP link to the wallet node up?
    pub fn connected(&self) -> bool {
        self.node
            .as_ref()
            .is_none_or(|n| n.connector.is_connected(&self.upstream_link))
    }

    /// Spendable balance as last read (None: unknown).
    pub fn balance(&self) -> Option<i128> {
        *self.balance.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read the balance from the wallet node's `/accounts` (needs the account id).
    pub async fn refresh_balance(&self) -> Option<i128> {
        let (admin, account) = (self.admin.as_ref()?, self.account.as_ref()?);
        let resp = admin.get("/accounts").await.ok()?;
        if resp.status != axum::http::StatusCode::OK {
            return None;
        }
        let view: AccountsView = serde_json::from_slice(&resp.body).ok()?;
        let a = view.accounts.iter().find(|a| &a.id == account)?;
        let spendable = a.balance + a.credit_limit;
        *self.balance.lock().unwrap_or_else(|e| e.into_inner()) = Some(spendable);
        Some(spendable)
    }
}
