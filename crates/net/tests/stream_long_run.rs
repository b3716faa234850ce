//! One STREAM connection carrying continuous small payments (a compressed "per-second
//! payments for hours": 100,000 packets) must not grow memory. A counting global allocator
//! measures live heap bytes after a warm-up and at the end.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tollcast_net::stream::{ReceiverConfig, SenderConfig, StreamReceiver, StreamSender};
use tollcast_wire::address::Address;

struct Counting;
static LIVE: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as i64 - l.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[tokio::test(flavor = "current_thread")]
async fn hundred_thousand_payments_on_one_connection_do_not_grow_memory() {
    let r = Arc::new(StreamReceiver::new(ReceiverConfig::new(
        Address::new("test.node.recv").unwrap(),
        "XYZ",
        9,
    )));
    let (dest, secret) = r.generate_credentials(Some("long-run"));
    let mut s = StreamSender::connect(r.clone(), SenderConfig::new(dest.clone(), secret))
        .await
        .unwrap();
    // Nobody listens to events here: the broadcast channel must not buffer them forever.
    let mut sub = r.subscribe();
    for _ in 0..10_000 {
        s.send(7).await.unwrap();
    }
    while sub.try_recv().is_ok() {}
    drop(sub);
    let warm = LIVE.load(Ordering::Relaxed);
    const N: u64 = 100_000;
    for _ in 0..N {
        s.send(7).await.unwrap();
    }
    let end = LIVE.load(Ordering::Relaxed);
    let total = r.connection_totals(dest.as_str()).unwrap();
    assert_eq!(total.total_received, 7 * (N + 10_000));
    assert_eq!(s.totals().delivered, 7 * (N + 10_000));
    let growth = end - warm;
    println!(
        "live heap after warm-up {warm} B, after {N} more packets {end} B (growth {growth} B)"
    );
    assert!(
        growth < 16 * 1024,
        "live heap grew by {growth} bytes over {N} packets"
    );
}
