//! Node configs for the multi-process tests: a hub with child accounts, members with the hub as
//! parent (USD, scale 6, large credit lines both ways), each written to `<dir>/<name>.toml`
//! with its ledger beside it.

use std::net::SocketAddr;
use std::path::Path;

/// Writes `<dir>/<name>.toml` listening on `listen`; returns its path.
pub fn node_toml_at(dir: &Path, name: &str, address: &str, listen: &str, body: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[node]\nname = \"{name}\"\naddress = \"{address}\"\nlisten = \"{listen}\"\nledger = \"{}\"\n\n{body}",
            dir.join(format!("{name}.redb")).display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// [`node_toml_at`] on an ephemeral port, with `accounts` then `extra` sections.
pub fn node_toml(dir: &Path, name: &str, address: &str, accounts: &str, extra: &str) -> String {
    node_toml_at(
        dir,
        name,
        address,
        "127.0.0.1:0",
        &format!("{accounts}\n{extra}"),
    )
}

/// A hub's child account `id` (token `t-{id}`).
pub fn child_account(id: &str) -> String {
    format!(
        "[[accounts]]\nid = \"{id}\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\nauth_token = \"t-{id}\"\ncredit_limit = 1000000000000\n\n"
    )
}

/// Member `id`'s parent account: the hub at `hub` over BTP.
pub fn parent_account(hub: SocketAddr, id: &str) -> String {
    format!(
        "[[accounts]]\nid = \"hub\"\nrelation = \"parent\"\nasset_code = \"USD\"\nasset_scale = 6\nbtp_url = \"ws://{hub}\"\nauth_token = \"t-{id}\"\ncredit_limit = 1000000000000\n\n"
    )
}
