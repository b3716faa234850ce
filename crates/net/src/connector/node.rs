//! Assembles a running node from a [`NodeConfig`]: opens the ledger (rolling back packets
//! left in flight by a crash), creates/updates accounts, builds the connector, serves BTP
//! (WebSocket at `/`), `/metrics` and `/accounts` on one HTTP port, dials client peers, and
//! retries due settlements.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{State, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tollcast_ledger::{AccountConfig as LedgerAccount, Ledger, LedgerError};
use tollcast_wire::address::Address;

use super::btp_peer::{self, LinkHandler};
use super::config::{NodeConfig, Relation};
use super::core::{AccountInfo, Connector, Links, Settings};
use super::metrics::BalanceRow;
use super::rates::RateTable;
use super::service::AccountId;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    Config(#[from] super::config::ConfigError),
    #[error("ledger {path}: {source}")]
    Ledger { path: String, source: LedgerError },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// `ledger = ":memory:"` keeps the ledger in memory only (benchmarks, throwaway demos):
/// same semantics, no durability.
pub const MEMORY_LEDGER: &str = ":memory:";

/// A running node. Dropping it stops its tasks.
pub struct Node {
    pub connector: Arc<Connector>,
    /// The bound HTTP/BTP address (useful with port 0).
    pub local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One account as `GET /accounts` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountView {
    pub id: String,
    pub relation: Relation,
    pub asset_code: String,
    pub asset_scale: u8,
    /// What this node owes the peer, base units (negative: the peer owes us).
    pub balance: i128,
    pub pending_incoming: i128,
    pub pending_outgoing: i128,
    pub credit_limit: i128,
    pub connected: bool,
}

/// `GET /accounts` body.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountsView {
    pub address: String,
    pub accounts: Vec<AccountView>,
}

fn ledger_config(a: &super::config::AccountConfig) -> LedgerAccount {
    let mut c = LedgerAccount::credit(a.asset_code.clone(), a.asset_scale, a.credit_limit);
    if let Some(t) = a.settle_threshold {
        c = c.with_settlement(i128::from(t), i128::from(a.settle_to));
    }
    c
}

impl Node {
    /// Starts a node; returns once it listens (peers are dialed in the background).
    pub async fn start(cfg: NodeConfig) -> Result<Node, NodeError> {
        Self::start_with(cfg, |_, app| Ok(app)).await
    }

    /// [`Node::start`], letting `mount` add routes to the node's HTTP port once the connector
    /// exists (how [`crate::node_services`] hosts the Nostr relay and SPSP beside BTP).
    pub async fn start_with(
        cfg: NodeConfig,
        mount: impl FnOnce(&Arc<Connector>, axum::Router) -> Result<axum::Router, NodeError>,
    ) -> Result<Node, NodeError> {
        cfg.validate()?;
        let path = cfg.node.ledger.display().to_string();
        let lerr = |source| NodeError::Ledger {
            path: path.clone(),
            source,
        };
        let ledger = if cfg.node.ledger.as_os_str() == MEMORY_LEDGER {
            Ledger::temporary().map_err(lerr)?
        } else {
            Ledger::open(&cfg.node.ledger).map_err(lerr)?
        };
        // Nothing in flight before a restart can still be answered: release it all.
        let rolled = ledger.abort_all_pending().map_err(lerr)?;
        if !rolled.is_empty() {
            tracing::info!("rolled back {} packet(s) left in flight", rolled.len());
        }
        for a in &cfg.accounts {
            let c = ledger_config(a);
            match ledger.create_account(&a.id, c.clone()) {
                Ok(_) => {}
                Err(LedgerError::AccountExists(_)) => {
                    ledger.update_account(&a.id, c).map_err(lerr)?;
                }
                Err(e) => return Err(lerr(e)),
            }
        }
        let address = Address::new(&cfg.address())
            .map_err(|e| super::config::ConfigError::Invalid(format!("node address: {e}")))?;
        let infos = cfg
            .accounts
            .iter()
            .map(|a| AccountInfo {
                id: AccountId(a.id.clone()),
                relation: a.relation,
                asset_code: a.asset_code.clone(),
                asset_scale: a.asset_scale,
                server_token: if a.btp_url.is_none() {
                    a.auth_token.clone()
                } else {
                    None
                },
                max_packet_amount: a.max_packet_amount,
                fee: a.fee,
                accept_btp_settlement: a.accept_btp_settlement,
                peer_pubkey: a
                    .peer_pubkey
                    .as_deref()
                    .and_then(|k| super::config::parse_peer_pubkey(k).ok()),
            })
            .collect::<Vec<_>>();
        let rates = RateTable::new(&cfg.rates)
            .map_err(|e| super::config::ConfigError::Invalid(e.to_string()))?;
        let settings = Settings {
            expiry_margin: Duration::from_millis(cfg.node.expiry_margin_ms),
            max_hold: Duration::from_millis(cfg.node.max_hold_ms),
            default_fee: cfg.fee,
        };
        let keys = cfg.node.signing_keys()?;
        // Claim channels with every peer whose key is configured (idempotent; a key that
        // differs from the one a channel was opened with is refused with a clear error).
        let engine = tollcast_ledger::LocalClaimEngine::new(ledger.clone(), keys.clone());
        for a in &infos {
            if let Some(pk) = a.peer_pubkey {
                engine.register_peer(a.id.as_str(), pk).map_err(lerr)?;
            }
        }
        let connector = Connector::new(address, infos, ledger, rates, settings, keys);
        for r in &cfg.routes {
            connector.add_route(r.prefix.clone(), AccountId(r.account.clone()));
        }
        let listener = tokio::net::TcpListener::bind(cfg.node.listen)
            .await
            .map_err(|source| NodeError::Listen {
                addr: cfg.node.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| NodeError::Listen {
            addr: cfg.node.listen,
            source,
        })?;
        let app = axum::Router::new()
            .route("/", get(ws_upgrade))
            .route("/metrics", get(metrics))
            .route("/accounts", get(accounts))
            .with_state(connector.clone());
        let app = mount(&connector, app)?;
        // Small frames (BTP replies, relay OK/EOSE) must not wait for Nagle + delayed ACK.
        let mut tasks = vec![tokio::spawn(async move {
            if let Err(e) = crate::http_serve::serve(listener, app).await {
                tracing::error!("HTTP server stopped: {e}");
            }
        })];
        let handler: Arc<dyn LinkHandler> = Arc::new(Links(connector.clone()));
        for a in &cfg.accounts {
            if let Some(u) = &a.btp_url {
                let target = btp_peer::parse_btp_url(u, a.auth_token.as_deref())
                    .map_err(super::config::ConfigError::Invalid)?;
                tasks.push(tokio::spawn(btp_peer::run_client(
                    AccountId(a.id.clone()),
                    target,
                    handler.clone(),
                    Duration::from_millis(cfg.node.reconnect_min_ms),
                    Duration::from_millis(cfg.node.reconnect_max_ms),
                )));
            }
        }
        let c = connector.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                c.settle_due().await;
            }
        }));
        Ok(Node {
            connector,
            local_addr,
            tasks,
        })
    }

    /// The URL peers dial to reach this node over BTP.
    pub fn btp_url(&self) -> String {
        format!("ws://{}", self.local_addr)
    }
}

async fn ws_upgrade(State(c): State<Arc<Connector>>, ws: WebSocketUpgrade) -> impl IntoResponse {
    let handler: Arc<dyn LinkHandler> = Arc::new(Links(c));
    ws.on_upgrade(move |socket| btp_peer::serve_socket(socket, handler))
}

/// Current balances of every configured account, in id order.
pub fn accounts_view(c: &Connector) -> Result<AccountsView, LedgerError> {
    let mut out = Vec::new();
    for a in c.ledger().accounts()? {
        let id = AccountId(a.id.clone());
        let Some(info) = c.account_info(&id) else {
            continue;
        };
        out.push(AccountView {
            id: a.id.clone(),
            relation: info.relation,
            asset_code: a.config.asset_code.clone(),
            asset_scale: a.config.asset_scale,
            balance: a.balance,
            pending_incoming: a.pending_incoming,
            pending_outgoing: a.pending_outgoing,
            credit_limit: -a.config.min_balance,
            connected: c.is_connected(&id),
        });
    }
    Ok(AccountsView {
        address: c.address().as_str().to_string(),
        accounts: out,
    })
}

async fn accounts(State(c): State<Arc<Connector>>) -> axum::response::Response {
    match accounts_view(&c) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("ledger error: {e}"),
        )
            .into_response(),
    }
}

async fn metrics(State(c): State<Arc<Connector>>) -> axum::response::Response {
    let rows = match c.ledger().accounts() {
        Ok(accs) => accs
            .into_iter()
            .map(|a| BalanceRow {
                account: a.id,
                asset_code: a.config.asset_code,
                asset_scale: a.config.asset_scale,
                balance: a.balance,
                pending_incoming: a.pending_incoming.max(0) as u128,
                pending_outgoing: a.pending_outgoing.max(0) as u128,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let body = c.metrics_ref().render(&rows);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}
