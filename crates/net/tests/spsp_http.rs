//! SPSP over HTTP: our responder answered for the JS reference client (ilp-protocol-spsp
//! `query()`) and for our own client; the credentials it hands out work for a payment.

mod stream_common;

use std::sync::Arc;
use std::time::Duration;

use stream_common::JsPeer;
use tollcast_net::stream::{ReceiverConfig, SenderConfig, StreamReceiver, StreamSender, spsp_http};
use tollcast_wire::address::Address;

async fn serve() -> (Arc<StreamReceiver>, std::net::SocketAddr) {
    let r = Arc::new(StreamReceiver::new(ReceiverConfig::new(
        Address::new("test.spsp.recv").unwrap(),
        "XYZ",
        9,
    )));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = spsp_http::router(r.clone(), "/.well-known/pay");
    tokio::spawn(async move {
        tollcast_net::http_serve::serve(listener, app)
            .await
            .unwrap()
    });
    (r, addr)
}

#[tokio::test]
async fn ilp_protocol_spsp_query_reads_our_responder_and_the_secret_pays() {
    let (r, addr) = serve().await;
    // ilp-protocol-spsp maps an empty path to /.well-known/pay, like RFC 0009 says.
    let mut js = JsPeer::spawn(&[
        "-r",
        "./node20-stream-shim.js",
        "spsp_query.js",
        &format!("http://{addr}/"),
    ]);
    let v = js.next_json(Duration::from_secs(30)).await;
    assert!(v["error"].is_null(), "{v}");
    assert_eq!(v["content_type"], "application/spsp4+json");
    let dest = v["destination_account"].as_str().unwrap();
    assert!(dest.starts_with("test.spsp.recv."), "{dest}");
    let secret = spsp_http::decode_secret(v["shared_secret"].as_str().unwrap()).unwrap();
    // Those credentials open a connection to our receiver.
    let mut s = StreamSender::connect(
        r.clone(),
        SenderConfig::new(Address::new(dest).unwrap(), secret),
    )
    .await
    .unwrap();
    s.send(1000).await.unwrap();
    assert_eq!(r.connection_totals(dest).unwrap().total_received, 1000);
    assert!(js.wait().await.success());
}

#[tokio::test]
async fn our_client_gets_distinct_secrets_tagged_paths_and_errors() {
    let (r, addr) = serve().await;
    let a = spsp_http::query(
        &format!("http://{addr}/.well-known/pay"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let b = spsp_http::query(&format!("http://{addr}"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_ne!(
        a.shared_secret, b.shared_secret,
        "each query gets its own secret"
    );
    assert_ne!(a.destination_account, b.destination_account);
    // A tagged path: the tag reaches the receiver's events.
    let mut ev = r.subscribe();
    let t = spsp_http::query(
        &format!("http://{addr}/.well-known/pay/viewer-9"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut s = StreamSender::connect(
        r.clone(),
        SenderConfig::new(t.destination_account.clone(), t.shared_secret),
    )
    .await
    .unwrap();
    s.send(5).await.unwrap();
    match ev.recv().await.unwrap() {
        tollcast_net::stream::ReceiverEvent::Money { tag, .. } => {
            assert_eq!(tag.as_deref(), Some("viewer-9"))
        }
        other => panic!("{other:?}"),
    }
    // Errors: unknown path (404), bad tag, nothing listening, https, junk receivers.
    let e = spsp_http::query(&format!("http://{addr}/nope"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(e, spsp_http::SpspError::Status { status: 404, .. }),
        "{e}"
    );
    let e = spsp_http::query(
        &format!("http://{addr}/.well-known/pay/bad%20tag"),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, spsp_http::SpspError::Status { status: 404, .. }),
        "{e}"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = spsp_http::query(&format!("http://{closed}/"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(e, spsp_http::SpspError::Http { .. }), "{e}");
    assert!(matches!(
        spsp_http::query("$example.com/alice", Duration::from_secs(1)).await,
        Err(spsp_http::SpspError::HttpsUnsupported(_))
    ));
    assert!(matches!(
        spsp_http::query("not a url", Duration::from_secs(1)).await,
        Err(spsp_http::SpspError::BadReceiver(_))
    ));
    assert!(
        spsp_http::SpspDetails::from_json(
            br#"{"destination_account":"test.x","shared_secret":"AAAA"}"#
        )
        .is_err()
    );
    assert!(spsp_http::SpspDetails::from_json(br#"{"destination_account":"bad address!","shared_secret":"6jR5iNIVRvqeasJeCty6C+YB5X9FhSOUPCL/5nha5Vs="}"#).is_err());
    assert!(spsp_http::SpspDetails::from_json(b"[]").is_err());
}

#[tokio::test]
async fn responder_headers_and_content_negotiation() {
    let (_r, addr) = serve().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /.well-known/pay HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 406"), "{resp}");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /.well-known/pay HTTP/1.1\r\nHost: x\r\nAccept: application/spsp4+json, application/spsp+json\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).await.unwrap();
    let lower = resp.to_ascii_lowercase();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(lower.contains("content-type: application/spsp4+json"));
    assert!(lower.contains("cache-control: no-cache"));
    assert!(lower.contains("access-control-allow-origin: *"));
}
