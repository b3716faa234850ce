//! Pipelined STREAM requests (`StreamSender::start_request` / `next_answer` / `request_many`):
//! several request packets in flight on one connection, each paying for exactly its own
//! answer inside its own FULFILL. Answers may complete in any order; a refused request moves
//! no money and leaves no gap in the request stream (the receiver's tiny data window here
//! would stall on one). Direct, and over a real BTP path with durable ledgers on both nodes.

mod stream_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use stream_common::node;
use tollcast_net::connector::AccountId;
use tollcast_net::stream::{
    MAX_RESPONSE_BYTES, ReceiverConfig, Responder, ResponderReply, ResponderRequest, SenderConfig,
    StreamReceiver, StreamSendError, StreamSender,
};
use tollcast_wire::address::Address;

const SLICE: usize = MAX_RESPONSE_BYTES;

/// 1 unit per 100 bytes, rounded up.
fn price(len: usize) -> u64 {
    (len as u64).div_ceil(100)
}

/// Serves `SLICE`-byte slices of a blob: request = u64 slice index (BE). Slices take 3, 2 or
/// 1 ms to answer by index, so answers overtake each other. Counts requests answered at once.
struct SliceServer {
    blob: Bytes,
    busy: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl SliceServer {
    fn new(blob: Bytes) -> Arc<Self> {
        Arc::new(Self {
            blob,
            busy: Arc::default(),
            most: Arc::default(),
        })
    }

    fn answer(&self, req: &ResponderRequest) -> (ResponderReply, u64) {
        let Some((stream_id, _, data)) = req.data.first().cloned() else {
            return (ResponderReply::Pass, 0);
        };
        let Ok(raw) = <[u8; 8]>::try_from(data.as_ref()) else {
            return (ResponderReply::Refuse("request is a slice index".into()), 0);
        };
        let i = u64::from_be_bytes(raw) as usize;
        if i.saturating_mul(SLICE) >= self.blob.len() {
            return (
                ResponderReply::Refuse(format!("slice {i} is past the end")),
                0,
            );
        }
        let end = self.blob.len().min((i + 1) * SLICE);
        let p = price(end - i * SLICE);
        if req.amount < p {
            return (ResponderReply::Refuse(format!("underpaid: need {p}")), 0);
        }
        let data = self.blob.slice(i * SLICE..end);
        (
            ResponderReply::Reply { stream_id, data },
            3 - (i % 3) as u64,
        )
    }
}

impl Responder for SliceServer {
    fn respond(&self, req: ResponderRequest) -> BoxFuture<'static, ResponderReply> {
        let (reply, delay_ms) = self.answer(&req);
        let (busy, most) = (self.busy.clone(), self.most.clone());
        Box::pin(async move {
            let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            busy.fetch_sub(1, Ordering::SeqCst);
            reply
        })
    }
}

fn blob(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<_>>())
}

/// A receiver whose data window (100 bytes) holds only 12 requests: a gap in the request
/// stream, or requests out of order beyond it, would break the connection.
fn receiver(server: Arc<SliceServer>) -> Arc<StreamReceiver> {
    let mut cfg = ReceiverConfig::new(Address::new("test.node.recv").unwrap(), "XYZ", 9);
    cfg.data_window_per_stream = 100;
    let r = Arc::new(StreamReceiver::new(cfg));
    r.set_responder(Some(server));
    r
}

/// (stream 3, slice index, exact price) for slices `range` of a blob of `len` bytes.
fn slice_requests(len: usize, range: std::ops::Range<usize>) -> Vec<([u8; 8], u64)> {
    range
        .map(|i| {
            let n = len.saturating_sub(i * SLICE).min(SLICE);
            ((i as u64).to_be_bytes(), price(n))
        })
        .collect()
}

async fn run_many(
    s: &mut StreamSender,
    reqs: &[([u8; 8], u64)],
    window: usize,
) -> Vec<Result<Bytes, StreamSendError>> {
    let borrowed: Vec<(u64, &[u8], u64)> = reqs.iter().map(|(r, p)| (3, &r[..], *p)).collect();
    s.request_many(&borrowed, window).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_each_get_their_own_answer() {
    let len = 40 * SLICE - 1_000;
    let data = blob(len);
    let server = SliceServer::new(data.clone());
    let r = receiver(server.clone());
    let (dest, secret) = r.generate_credentials(Some("v"));
    let mut s = StreamSender::connect(r.clone(), SenderConfig::new(dest.clone(), secret))
        .await
        .unwrap();
    let reqs = slice_requests(len, 0..40);
    let answers = run_many(&mut s, &reqs, 16).await;
    let mut got = Vec::new();
    for a in answers {
        got.extend_from_slice(&a.unwrap());
    }
    assert_eq!(
        got,
        data.as_ref(),
        "every answer is its own slice, in order"
    );
    assert!(
        server.most.load(Ordering::SeqCst) > 1,
        "requests were answered concurrently"
    );
    let paid: u64 = reqs.iter().map(|r| r.1).sum();
    let t = r.connection_totals(dest.as_str()).unwrap();
    assert_eq!(t.total_received, paid, "each packet paid once");
    assert_eq!(t.packets, 40);
    assert_eq!(s.totals().sent, paid);
    assert_eq!(s.totals().packets, 40);
    assert_eq!(s.requests_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_in_the_middle_pays_nothing_and_leaves_no_gap() {
    let len = 10 * SLICE;
    let data = blob(len);
    let server = SliceServer::new(data.clone());
    let r = receiver(server);
    let (dest, secret) = r.generate_credentials(None);
    let mut s = StreamSender::connect(r.clone(), SenderConfig::new(dest.clone(), secret))
        .await
        .unwrap();
    // Slices 0..10, with slice 99 (past the end) and an underpaid slice 4 in the middle.
    let mut reqs = slice_requests(len, 0..10);
    reqs.insert(5, (99u64.to_be_bytes(), 1_000));
    reqs[4].1 -= 1;
    let answers = run_many(&mut s, &reqs, 8).await;
    let mut paid = 0;
    for (i, (a, req)) in answers.iter().zip(&reqs).enumerate() {
        match i {
            4 => assert!(
                matches!(a, Err(StreamSendError::Refused(m)) if m.starts_with("underpaid")),
                "{a:?}"
            ),
            5 => assert!(
                matches!(a, Err(StreamSendError::Refused(m)) if m.contains("past the end")),
                "{a:?}"
            ),
            _ => {
                let k = u64::from_be_bytes(req.0) as usize;
                assert_eq!(a.as_ref().unwrap(), &data.slice(k * SLICE..(k + 1) * SLICE));
                paid += req.1;
            }
        }
    }
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        paid
    );
    assert_eq!(s.totals().sent, paid, "refused packets cost nothing");
    // 60 more requests (480 request bytes through a 100-byte window) still go through,
    // pipelined and then one at a time: the refused ones left no gap.
    let more: Vec<_> = (0..60).map(|i| reqs[i % 4]).collect();
    for a in run_many(&mut s, &more, 16).await {
        a.unwrap();
    }
    let one = s
        .request(3, &1u64.to_be_bytes(), price(SLICE))
        .await
        .unwrap();
    assert_eq!(one, data.slice(SLICE..2 * SLICE));
    paid += more.iter().map(|r| r.1).sum::<u64>() + price(SLICE);
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        paid
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_over_btp_books_every_packet_once_on_both_ledgers() {
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
    let len = 30 * SLICE + 17;
    let data = blob(len);
    let r = StreamReceiver::attach(&b.connector, "recv", "XYZ", 9, None).unwrap();
    r.set_responder(Some(SliceServer::new(data.clone())));
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
    let (dest, secret) = r.generate_credentials(Some("far"));
    let mut cfg = SenderConfig::new(dest.clone(), secret);
    cfg.source_address = Some(Address::new("test.a").unwrap());
    let mut s = StreamSender::connect(a.connector.sender(AccountId::local()), cfg)
        .await
        .unwrap();
    // By hand: start 8, collect as they come, keep 8 in flight.
    let reqs = slice_requests(len, 0..31);
    let mut next = 0;
    let mut ids = std::collections::HashMap::new();
    let mut got = vec![Bytes::new(); reqs.len()];
    loop {
        while next < reqs.len() && s.requests_in_flight() < 8 {
            let id = s
                .start_request(3, &reqs[next].0, reqs[next].1)
                .await
                .unwrap();
            ids.insert(id, next);
            next += 1;
        }
        let Some((id, answer)) = s.next_answer().await else {
            break;
        };
        got[ids.remove(&id).expect("an id we started")] = answer.unwrap();
    }
    assert!(ids.is_empty());
    assert_eq!(got.concat(), data.as_ref());
    let paid: u64 = reqs.iter().map(|r| r.1).sum();
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        paid
    );
    assert_eq!(s.totals().sent, paid);
    // Both durable ledgers booked each packet once; they mirror each other.
    let bal = |n: &tollcast_net::connector::Node, acc: &str| {
        n.connector
            .ledger()
            .account(acc)
            .unwrap()
            .map_or(0, |x| x.balance)
    };
    assert_eq!(bal(&a, "b"), paid as i128);
    assert_eq!(bal(&b, "a"), -(paid as i128));
    assert!(a.connector.ledger().pending().unwrap().is_empty());
    assert!(b.connector.ledger().pending().unwrap().is_empty());
    a.connector.ledger().audit().unwrap();
    b.connector.ledger().audit().unwrap();
}
