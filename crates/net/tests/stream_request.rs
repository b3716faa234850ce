//! STREAM request/response (ILP-native delivery): `StreamSender::request` carries a request
//! as `StreamData` with the money paying for the answer; the receiver's `Responder` answers
//! inside that packet's FULFILL, or refuses and the packet is rejected carrying nothing.
//! Direct (sender -> receiver) and over a real BTP path between two nodes.

mod stream_common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use stream_common::node;
use tollcast_net::connector::AccountId;
use tollcast_net::stream::{
    MAX_RESPONSE_BYTES, ReceiverConfig, ReceiverEvent, Responder, ResponderReply, ResponderRequest,
    SenderConfig, StreamReceiver, StreamSendError, StreamSender,
};
use tollcast_wire::address::Address;

/// Serves slices of one blob at 1 unit per 100 bytes (rounded up): request = u64 offset (BE).
struct BlobServer {
    blob: Bytes,
}

impl BlobServer {
    fn price(len: usize) -> u64 {
        (len as u64).div_ceil(100)
    }
}

impl Responder for BlobServer {
    fn respond(&self, req: ResponderRequest) -> BoxFuture<'static, ResponderReply> {
        let blob = self.blob.clone();
        Box::pin(async move {
            let Some((stream_id, _, data)) = req.data.first().cloned() else {
                return ResponderReply::Pass;
            };
            let Ok(raw) = <[u8; 8]>::try_from(data.as_ref()) else {
                return ResponderReply::Refuse("request is an 8-byte offset".into());
            };
            let offset = u64::from_be_bytes(raw) as usize;
            if offset >= blob.len() {
                return ResponderReply::Refuse("offset past the end".into());
            }
            let end = blob.len().min(offset + req.max_reply);
            let price = BlobServer::price(end - offset);
            if req.amount < price {
                return ResponderReply::Refuse(format!("underpaid: need {price}"));
            }
            // Tiny async hop: the responder may await (disk, upstream) without holding locks.
            tokio::task::yield_now().await;
            ResponderReply::Reply {
                stream_id,
                data: blob.slice(offset..end),
            }
        })
    }
}

fn blob(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<_>>())
}

fn receiver_with(blob: Bytes) -> Arc<StreamReceiver> {
    let r = Arc::new(StreamReceiver::new(ReceiverConfig::new(
        Address::new("test.node.recv").unwrap(),
        "XYZ",
        9,
    )));
    r.set_responder(Some(Arc::new(BlobServer { blob })));
    r
}

/// Fetches the whole blob, paying each packet exactly what its answer costs.
async fn fetch_all(s: &mut StreamSender, len: usize) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let mut requests = 0;
    while out.len() < len {
        let want = (len - out.len()).min(MAX_RESPONSE_BYTES);
        let part = s
            .request(
                3,
                &(out.len() as u64).to_be_bytes(),
                BlobServer::price(want),
            )
            .await
            .unwrap();
        assert_eq!(part.len(), want);
        out.extend_from_slice(&part);
        requests += 1;
    }
    (out, requests)
}

#[tokio::test]
async fn paid_requests_get_their_bytes_in_the_fulfill() {
    let data = blob(100_000);
    let r = receiver_with(data.clone());
    let mut events = r.subscribe();
    let (dest, secret) = r.generate_credentials(Some("viewer-1"));
    let mut s = StreamSender::connect(r.clone(), SenderConfig::new(dest.clone(), secret))
        .await
        .unwrap();
    let (got, requests) = fetch_all(&mut s, data.len()).await;
    assert_eq!(got, data.as_ref());
    assert_eq!(
        requests as usize,
        data.len().div_ceil(MAX_RESPONSE_BYTES),
        "one packet per {MAX_RESPONSE_BYTES} bytes"
    );
    const { assert!(MAX_RESPONSE_BYTES <= 32 * 1024 && MAX_RESPONSE_BYTES > 32_000) };
    let paid: u64 = (0..requests as usize)
        .map(|i| BlobServer::price((data.len() - i * MAX_RESPONSE_BYTES).min(MAX_RESPONSE_BYTES)))
        .sum();
    let t = r.connection_totals(dest.as_str()).unwrap();
    assert_eq!(t.total_received, paid);
    assert_eq!(t.streams.get(&3), Some(&paid));
    assert_eq!(s.totals().sent, paid);
    assert_eq!(s.totals().packets, requests);
    // The money events carry the viewer's tag, per stream.
    let mut credited = 0;
    while let Ok(e) = events.try_recv() {
        if let ReceiverEvent::Money {
            tag,
            stream_id,
            amount,
            ..
        } = e
        {
            assert_eq!((tag.as_deref(), stream_id), (Some("viewer-1"), 3));
            credited += amount;
        }
    }
    assert_eq!(credited, paid);
}

#[tokio::test]
async fn underpaid_or_bad_requests_are_rejected_with_nothing() {
    let data = blob(50_000);
    let r = receiver_with(data.clone());
    let (dest, secret) = r.generate_credentials(None);
    let mut s = StreamSender::connect(r.clone(), SenderConfig::new(dest.clone(), secret))
        .await
        .unwrap();
    // One unit short of the answer's price: REJECT, no money, no bytes.
    let price = BlobServer::price(MAX_RESPONSE_BYTES);
    match s.request(5, &0u64.to_be_bytes(), price - 1).await {
        Err(StreamSendError::Refused(m)) => assert_eq!(m, format!("underpaid: need {price}")),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Unpaid.
    assert!(matches!(
        s.request(5, &0u64.to_be_bytes(), 0).await,
        Err(StreamSendError::Refused(_))
    ));
    // Malformed and out-of-range requests.
    assert!(matches!(
        s.request(5, b"nope", price).await,
        Err(StreamSendError::Refused(_))
    ));
    assert!(matches!(
        s.request(5, &1_000_000u64.to_be_bytes(), price).await,
        Err(StreamSendError::Refused(_))
    ));
    let t = r.connection_totals(dest.as_str());
    assert_eq!(t.map_or(0, |t| t.total_received), 0, "nothing was credited");
    assert_eq!(s.totals().sent, 0);
    // The connection still works: a paid request after the refusals gets its bytes from the
    // right place (the refused requests consumed no stream offsets).
    let got = s.request(5, &0u64.to_be_bytes(), price).await.unwrap();
    assert_eq!(got, data.slice(..MAX_RESPONSE_BYTES));
    let got = s
        .request(5, &(MAX_RESPONSE_BYTES as u64).to_be_bytes(), price)
        .await
        .unwrap();
    assert_eq!(got, data.slice(MAX_RESPONSE_BYTES..));
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        price * 2
    );
    // Plain payments on the same receiver still work (they carry no data: responder not asked).
    s.send(7).await.unwrap();
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        price * 2 + 7
    );
    // Without the async handler a request cannot be answered: refused, never fulfilled empty.
    let (dest2, secret2) = r.generate_credentials(None);
    let sync_only = Arc::new(tollcast_net::connector::ServiceFn({
        let r = r.clone();
        move |req: tollcast_net::connector::IncomingRequest| {
            let reply = r.handle_prepare(&req.prepare);
            async move { reply }
        }
    }));
    let mut s2 = StreamSender::connect(sync_only, SenderConfig::new(dest2, secret2))
        .await
        .unwrap();
    assert!(matches!(
        s2.request(1, &0u64.to_be_bytes(), price).await,
        Err(StreamSendError::Refused(_))
    ));
}

#[tokio::test]
async fn requests_over_a_btp_path_between_two_nodes() {
    let (b, _bd) = node(
        "b",
        "test.b",
        r#"
[[accounts]]
id = "a"
relation = "child"
asset_code = "XYZ"
asset_scale = 9
auth_token = "token-a"
credit_limit = 1000000000000
"#,
    )
    .await;
    let data = blob(200_000);
    let r = StreamReceiver::attach(&b.connector, "recv", "XYZ", 9, None).unwrap();
    r.set_responder(Some(Arc::new(BlobServer { blob: data.clone() })));
    let (a, _ad) = node(
        "a",
        "test.a",
        &format!(
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
        ),
    )
    .await;
    assert!(
        a.connector
            .wait_connected(&AccountId::new("b"), Duration::from_secs(10))
            .await
    );
    let (dest, secret) = r.generate_credentials(Some("far-viewer"));
    let mut cfg = SenderConfig::new(dest.clone(), secret);
    cfg.source_address = Some(Address::new("test.a").unwrap());
    let mut s = StreamSender::connect(a.connector.sender(AccountId::local()), cfg)
        .await
        .unwrap();
    let (got, requests) = fetch_all(&mut s, data.len()).await;
    assert_eq!(got, data.as_ref());
    assert_eq!(requests as usize, data.len().div_ceil(MAX_RESPONSE_BYTES));
    let t = r.connection_totals(dest.as_str()).unwrap();
    assert_eq!(t.total_received, s.totals().delivered);
    assert_eq!(t.total_received, s.totals().sent, "same asset, no fees");
}
