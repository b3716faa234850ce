//! IL-DCP (RFC 0031) served to children and peers: a PREPARE to `peer.config` is answered
//! with a FULFILL (zero fulfillment) whose data gives the child its address
//! (`<our address>.<account id>`), asset scale and asset code. The JS reference plugins and
//! STREAM libraries call this before anything else.

use tollcast_wire::address::Address;
use tollcast_wire::ildcp::Response;
use tollcast_wire::ilp::Fulfill;

use super::core::AccountInfo;

/// The address a child account gets: `<node>.<account id>` (ids are validated as address
/// segments when the config is loaded; an id that still does not fit yields the node's own
/// address, never a panic).
pub fn child_address(node: &Address, account: &AccountInfo) -> Address {
    node.with_suffix(account.id.as_str())
        .unwrap_or_else(|_| node.clone())
}

/// The FULFILL answering `peer.config` for `account`.
pub fn serve(node: &Address, account: &AccountInfo) -> Fulfill {
    Response::new(
        child_address(node, account),
        account.asset_scale,
        account.asset_code.clone(),
    )
    .to_fulfill()
}
