//! The creator's wallet: a tollcast ILP node (connector + durable ledger) whose STREAM
//! receiver (SPSP at `/.well-known/pay`) takes the creator's earnings, and whose Nostr relay
//! can carry the stream's events when no other relay is configured.

use std::sync::Arc;

use tollcast_net::connector::NodeConfig;
use tollcast_net::node_services::NodeServices;
use tollcast_net::stream::StreamReceiver;

use super::StreamerError;
use super::config::WalletSection;

/// A running wallet node.
pub struct Wallet {
    pub services: NodeServices,
}

impl Wallet {
    /// The node config for `w`: the given node TOML, or a standalone node (no peers) with an
    /// SPSP receiver in the configured asset.
    pub fn node_config(w: &WalletSection) -> Result<NodeConfig, StreamerError> {
        if let Some(p) = &w.node_config {
            return NodeConfig::load(p)
                .map_err(|e| StreamerError::Wallet(format!("wallet.node_config: {e}")));
        }
        let toml = format!(
            "[node]\nname = {name}\nlisten = {listen}\nledger = {ledger}\n\n\
             [spsp]\nasset_code = {code}\nasset_scale = {scale}\n",
            name = toml_str(&w.name),
            listen = toml_str(&w.listen.to_string()),
            ledger = toml_str(&w.ledger.to_string_lossy()),
            code = toml_str(&w.asset_code),
            scale = w.asset_scale,
        );
        NodeConfig::from_toml(&toml, "[wallet]")
            .map_err(|e| StreamerError::Wallet(format!("[wallet]: {e}")))
    }

    pub async fn start(w: &WalletSection) -> Result<Self, StreamerError> {
        let cfg = Self::node_config(w)?;
        let services = NodeServices::start(cfg)
            .await
            .map_err(|e| StreamerError::Wallet(format!("starting the creator's node: {e}")))?;
        if services.spsp.is_none() {
            return Err(StreamerError::Wallet(
                "the wallet node has [spsp] disabled: the creator could not be paid".into(),
            ));
        }
        Ok(Self { services })
    }

    /// The receiver taking the earnings.
    pub fn receiver(&self) -> Option<&Arc<StreamReceiver>> {
        self.services.spsp.as_ref().map(|s| &s.receiver)
    }

    /// SPSP URL viewers, relays and tippers pay.
    pub fn spsp_url(&self) -> Option<String> {
        self.services.spsp.as_ref().map(|s| s.url.clone())
    }

    /// Base units received so far.
    pub fn earnings(&self) -> u128 {
        self.receiver().map(|r| r.total_received()).unwrap_or(0)
    }

    /// (asset code, scale) of the earnings.
    pub fn asset(&self) -> (String, u8) {
        self.receiver()
            .map(|r| (r.config().asset_code.clone(), r.config().asset_scale))
            .unwrap_or_default()
    }

    /// The node's Nostr relay WebSocket URL, if it hosts one.
    pub fn nostr_url(&self) -> Option<String> {
        self.services.relay.as_ref().map(|r| r.url.clone())
    }
}

fn toml_str(s: &str) -> String {
    // A TOML basic string: escape backslash and quote; config values have no control chars.
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
