//! The demo network's money topology, written as node configs: one hub node (ILP connector,
//! Nostr relay at /nostr, SPSP) with every other node as a child under its address — each relay
//! agent's node, the creator's node, and one wallet node per viewer. Wallets are funded by a
//! credit line the hub extends (the demo's faucet); nobody else gets credit, so money only
//! moves when a wallet pays.

use std::path::{Path, PathBuf};

/// The asset everything is priced in.
pub const ASSET_CODE: &str = "USD";
/// Micro-dollars.
pub const ASSET_SCALE: u8 = 6;

/// A child account of the hub: its id, token and credit line.
#[derive(Clone, Debug)]
pub struct Member {
    pub id: String,
    pub token: String,
    /// What the hub lends it (its wallet), base units.
    pub credit: u64,
}

impl Member {
    pub fn new(id: &str, credit: u64) -> Member {
        // Tokens only need to be unique per account on loopback; random so that a stale
        // process from an earlier run cannot connect as someone else.
        let token = format!("{id}-{}", hex::encode(rand::random::<[u8; 8]>()));
        Member {
            id: id.to_string(),
            token,
            credit,
        }
    }

    /// The member's ILP address (under the hub).
    pub fn address(&self) -> String {
        format!("{HUB_ADDRESS}.{}", self.id)
    }

    /// How the member dials the hub.
    pub fn btp_url(&self, hub_port: u16) -> String {
        format!("btp+ws://{}:{}@127.0.0.1:{hub_port}", self.id, self.token)
    }
}

pub const HUB_ADDRESS: &str = "g.tollcast.hub";

/// What a member lets the hub owe it: money received through the hub is the hub's debt until
/// settled, so receivers (relays, the creator) must extend the hub this much credit.
pub const HUB_TRUST: u64 = 1_000_000_000_000;

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn path_str(p: &Path) -> String {
    q(&p.display().to_string())
}

/// The hub's config: connector with all members as children, Nostr relay, SPSP.
pub fn hub_toml(dir: &Path, members: &[Member], fee_basis_points: u32) -> String {
    let mut s = format!(
        "[node]\nname = \"hub\"\naddress = {}\nlisten = \"127.0.0.1:0\"\nledger = {}\n\n\
         [fee]\nbasis_points = {fee_basis_points}\nfixed = 0\n\n\
         [nostr]\nwrite_policy = \"open\"\n[nostr.info]\nname = \"tollcast demo hub\"\n\n",
        q(HUB_ADDRESS),
        path_str(&dir.join("hub.redb")),
    );
    for m in members {
        s.push_str(&format!(
            "[[accounts]]\nid = {}\nrelation = \"child\"\nasset_code = {}\nasset_scale = {ASSET_SCALE}\n\
             auth_token = {}\ncredit_limit = {}\n\n",
            q(&m.id),
            q(ASSET_CODE),
            q(&m.token),
            m.credit
        ));
    }
    s
}

/// A member node's config: its own ledger, the hub as parent (default route).
pub fn member_toml(dir: &Path, m: &Member, hub_port: u16, services: bool) -> String {
    let mut s = format!(
        "[node]\nname = {}\naddress = {}\nlisten = \"127.0.0.1:0\"\nledger = {}\n\n\
         [[accounts]]\nid = \"hub\"\nrelation = \"parent\"\nasset_code = {}\nasset_scale = {ASSET_SCALE}\n\
         btp_url = {}\ncredit_limit = {HUB_TRUST}\n",
        q(&m.id),
        q(&m.address()),
        path_str(&ledger_path(dir, &m.id)),
        q(ASSET_CODE),
        q(&m.btp_url(hub_port)),
    );
    if !services {
        s.push_str("\n[nostr]\nenabled = false\n[spsp]\nenabled = false\n");
    }
    s
}

pub fn ledger_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.redb"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollcast_net::connector::NodeConfig;

    #[test]
    fn configs_parse_and_validate() {
        let dir = Path::new("/tmp/x");
        let ms = vec![
            Member::new("relay-a", 0),
            Member::new("viewer-1", 5_000_000),
        ];
        let hub = NodeConfig::from_toml(&hub_toml(dir, &ms, 10), "hub").unwrap();
        assert_eq!(hub.accounts.len(), 2);
        assert_eq!(hub.accounts[1].credit_limit, 5_000_000);
        let m = NodeConfig::from_toml(&member_toml(dir, &ms[1], 7000, false), "m").unwrap();
        assert_eq!(m.address(), "g.tollcast.hub.viewer-1");
        assert!(!m.nostr.enabled);
        assert!(ms[0].token != Member::new("relay-a", 0).token);
    }
}
