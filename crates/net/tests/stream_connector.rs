//! STREAM over real connector paths:
//! - tollcast sender -> node A -BTP-> node B -> tollcast receiver (Rust only);
//! - @interledger/pay (JS) -ilp-plugin-btp-> node B -> tollcast receiver;
//! - tollcast sender -> node A -BTP-> ilp-connector (JS) -> @interledger/stream-receiver and
//!   ilp-protocol-stream servers.
//!
//! Amounts must arrive exactly.

mod stream_common;

use std::sync::Arc;
use std::time::Duration;

use stream_common::{JsPeer, node};
use tollcast_net::connector::AccountId;
use tollcast_net::stream::{SenderConfig, StreamReceiver, StreamSender};
use tollcast_wire::address::Address;

const B_ACCOUNTS: &str = r#"
[[accounts]]
id = "a"
relation = "child"
asset_code = "XYZ"
asset_scale = 9
auth_token = "token-a"
credit_limit = 1000000000000
max_packet_amount = 40000

[[accounts]]
id = "js"
relation = "child"
asset_code = "XYZ"
asset_scale = 9
auth_token = "token-js"
credit_limit = 1000000000000000
"#;

async fn receiver_node() -> (
    tollcast_net::connector::Node,
    tempfile::TempDir,
    Arc<StreamReceiver>,
) {
    let (b, dir) = node("b", "test.b", B_ACCOUNTS).await;
    let r = StreamReceiver::attach(&b.connector, "recv", "XYZ", 9, None).unwrap();
    assert_eq!(r.config().server_address.as_str(), "test.b.recv");
    (b, dir, r)
}

#[tokio::test]
async fn rust_sender_pays_rust_receiver_through_two_nodes() {
    let (b, _bd, r) = receiver_node().await;
    let a_accounts = format!(
        r#"
[[accounts]]
id = "b"
relation = "parent"
asset_code = "XYZ"
asset_scale = 9
btp_url = "{}"
auth_token = "token-a"

[[routes]]
prefix = "test.b"
account = "b"
"#,
        b.btp_url()
    );
    let (a, _ad) = node("a", "test.a", &a_accounts).await;
    assert!(
        a.connector
            .wait_connected(&AccountId::new("b"), Duration::from_secs(10))
            .await
    );
    let (dest, secret) = r.generate_credentials(Some("rust-e2e"));
    let mut cfg = SenderConfig::new(dest.clone(), secret);
    cfg.source_address = Some(Address::new("test.a").unwrap());
    let mut s = StreamSender::connect(a.connector.sender(AccountId::local()), cfg)
        .await
        .unwrap();
    // Node B takes at most 40,000 per packet from A: the sender learns it from F08.
    let receipt = s.send(1_000_000).await.unwrap();
    assert_eq!(receipt.sent, 1_000_000);
    assert_eq!(receipt.delivered, 1_000_000);
    assert_eq!(s.max_packet_amount(), 40_000);
    assert_eq!(receipt.packets, 25);
    for _ in 0..50 {
        s.send(1_000).await.unwrap();
    }
    s.close().await.unwrap();
    let t = r.connection_totals(dest.as_str()).unwrap();
    assert_eq!(t.total_received, 1_050_000);
    assert!(t.closed);
}

#[tokio::test]
async fn interledger_pay_js_pays_rust_receiver_over_btp() {
    let (b, _bd, r) = receiver_node().await;
    let (dest, secret) = r.generate_credentials(Some("js-payer"));
    use base64::Engine;
    let secret_b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let btp = format!("btp+ws://:token-js@{}", b.local_addr);
    let mut js = JsPeer::spawn(&[
        "pay_into_tollcast.js",
        &btp,
        dest.as_str(),
        &secret_b64,
        "123456789",
    ]);
    let out = js.next_json(Duration::from_secs(60)).await;
    assert!(out["error"].is_null(), "@interledger/pay failed: {out}");
    assert_eq!(out["amountSent"], "123456789");
    assert_eq!(out["amountDelivered"], "123456789");
    assert_eq!(out["destinationAsset"]["code"], "XYZ");
    assert!(js.wait().await.success());
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        123_456_789
    );
}

async fn pay_js_receiver(implementation: &str) {
    let mut args = vec![];
    if implementation == "ilp-protocol-stream" {
        args.extend(["-r", "./node20-stream-shim.js"]);
    }
    args.extend(["receiver_behind_ilp_connector.js", "--impl", implementation]);
    let mut js = JsPeer::spawn(&args);
    let info = js.next_json(Duration::from_secs(60)).await;
    assert!(info["error"].is_null(), "JS receiver failed: {info}");
    let btp = info["btp"].as_str().unwrap();
    let a_accounts = format!(
        r#"
[[accounts]]
id = "jsconn"
relation = "parent"
asset_code = "XYZ"
asset_scale = 9
btp_url = "{btp}"

[[routes]]
prefix = "test.jsconn"
account = "jsconn"
"#
    );
    let (a, _ad) = node("a", "test.a", &a_accounts).await;
    assert!(
        a.connector
            .wait_connected(&AccountId::new("jsconn"), Duration::from_secs(20))
            .await
    );
    let dest = Address::new(info["destinationAccount"].as_str().unwrap()).unwrap();
    let secret =
        tollcast_net::stream::spsp_http::decode_secret(info["sharedSecret"].as_str().unwrap())
            .unwrap();
    let mut s = StreamSender::connect(
        a.connector.sender(AccountId::local()),
        SenderConfig::new(dest, secret),
    )
    .await
    .unwrap();
    assert_eq!(s.remote_asset(), Some(&("XYZ".to_string(), 9)));
    let receipt = s.send(987_654_321).await.unwrap();
    assert_eq!(receipt.delivered, 987_654_321);
    for _ in 0..20 {
        s.send(1_000).await.unwrap();
    }
    // Data stream (ilp-protocol-stream exposes received bytes; the stateless receiver does not).
    let text = "hello from tollcast ".repeat(2000);
    if implementation == "ilp-protocol-stream" {
        s.send_data(text.as_bytes()).await.unwrap();
    }
    js.send_line("report").await;
    let report = js.next_json(Duration::from_secs(20)).await;
    assert_eq!(
        report["received"], "987674321",
        "{implementation}: {report}"
    );
    if implementation == "ilp-protocol-stream" {
        assert_eq!(report["data"].as_str().unwrap().len(), text.len());
        assert_eq!(report["data"], text.as_str());
    }
    let _ = s.close().await;
    js.send_line("quit").await;
}

#[tokio::test]
async fn rust_sender_pays_stream_receiver_js_behind_ilp_connector() {
    pay_js_receiver("stream-receiver").await;
}

#[tokio::test]
async fn rust_sender_pays_ilp_protocol_stream_js_behind_ilp_connector() {
    pay_js_receiver("ilp-protocol-stream").await;
}

/// Exchange-rate probing over real connectors: A (USD, scale 6) -> M converts USD->EUR at
/// the configured rates -> B (EUR, scale 9) -> receiver. The sender measures the path rate
/// with its probe and the receiver gets exactly what the connectors computed.
#[tokio::test]
async fn rate_probe_across_a_currency_converting_connector() {
    let (b, _bd) = node(
        "b",
        "test.b",
        r#"
[[accounts]]
id = "m"
relation = "peer"
asset_code = "EUR"
asset_scale = 9
auth_token = "token-m"
credit_limit = 1000000000000000
"#,
    )
    .await;
    let r = StreamReceiver::attach(&b.connector, "recv", "EUR", 9, None).unwrap();
    let (m, _md) = node(
        "m",
        "test.m",
        &format!(
            r#"
[rates]
USD = "1"
EUR = "1.25"

[[accounts]]
id = "a"
relation = "child"
asset_code = "USD"
asset_scale = 6
auth_token = "token-a"
credit_limit = 1000000000000

[[accounts]]
id = "b"
relation = "peer"
asset_code = "EUR"
asset_scale = 9
btp_url = "{}"
auth_token = "token-m"

[[routes]]
prefix = "test.b"
account = "b"
"#,
            b.btp_url()
        ),
    )
    .await;
    let (a, _ad) = node(
        "a",
        "test.a",
        &format!(
            r#"
[[accounts]]
id = "m"
relation = "parent"
asset_code = "USD"
asset_scale = 6
btp_url = "{}"
auth_token = "token-a"
"#,
            m.btp_url()
        ),
    )
    .await;
    assert!(
        m.connector
            .wait_connected(&AccountId::new("b"), Duration::from_secs(10))
            .await
    );
    assert!(
        a.connector
            .wait_connected(&AccountId::new("m"), Duration::from_secs(10))
            .await
    );
    let (dest, secret) = r.generate_credentials(None);
    let mut cfg = SenderConfig::new(dest.clone(), secret);
    cfg.source_asset = Some(("USD".into(), 6));
    let mut s = StreamSender::connect(a.connector.sender(AccountId::local()), cfg)
        .await
        .unwrap();
    assert_eq!(s.remote_asset(), Some(&("EUR".to_string(), 9)));
    // 1 USD (10^6 at scale 6) = 0.8 EUR (8 * 10^8 at scale 9).
    let rate = s.rate().unwrap();
    assert_eq!(
        rate.delivered as u128 * 1_000_000,
        rate.sent as u128 * 800_000_000,
        "{rate:?}"
    );
    let receipt = s.send(2_500_000).await.unwrap(); // 2.5 USD
    assert_eq!(receipt.sent, 2_500_000);
    assert_eq!(receipt.delivered, 2_000_000_000); // 2 EUR
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        2_000_000_000
    );
}
