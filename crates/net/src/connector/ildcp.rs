//! IL-DCP (RFC 0031) served to children and peers: a PREPARE to `peer.config` is answered
//! with a FULFILL (zero fulfillment) whose data gives the child its address
//! (`<our address>.<account id>`), asset scale and asset code. The JS reference plugins and
//! STREAM libraries call this before anything else.

use bytes::Bytes;
use tollcast_wire::address::Address;
use tollcast_wire::ilp::Fulfill;
use tollcast_wire::oer::Writer;

use super::core::AccountInfo;

/// The address a child account gets.
pub fn child_address(node: &Address, account: &AccountInfo) -> String {
    format!("{}.{}", node.as_str(), account.id)
}

/// OER `DynamicConfigurationResponseData`: address, scale, code.
pub fn encode_response(address: &str, asset_scale: u8, asset_code: &str) -> Bytes {
    let mut w = Writer::new();
    w.write_var_octet_string(address.as_bytes());
    w.write_u8(asset_scale);
    w.write_var_octet_string(asset_code.as_bytes());
    w.into_bytes()
}

/// The FULFILL answering `peer.config` for `account`.
pub fn serve(node: &Address, account: &AccountInfo) -> Fulfill {
    Fulfill {
        fulfillment: [0u8; 32],
        data: encode_response(
            &child_address(node, account),
            account.asset_scale,
            &account.asset_code,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_ilp_protocol_ildcp() {
        // ILDCP.serializeIldcpResponse({clientAddress: 'test.conn.client', assetScale: 9, assetCode: 'XYZ'})
        let b = encode_response("test.conn.client", 9, "XYZ");
        assert_eq!(
            hex::encode(&b),
            "10746573742e636f6e6e2e636c69656e7409035859 5a".replace(' ', "")
        );
    }
}
