//! Revenue splits end to end, real sockets on 127.0.0.1: the relay's ILP node B has four
//! children — the viewers' node A, the creator's C, the transcoder's T and the upstream relay's
//! U (each payee serving SPSP over HTTP for a STREAM receiver on its node). Viewers pay the
//! relay in credit mode (per second, over STREAM) and in ILP-native mode (per packet); a child
//! relay pays its upstream share (tag `relay-…`, kept whole). The split comes from the `split`
//! tags of a signed kind-30311 event plus the relay's margin and upstream share. The relay's
//! `Splitter` pays the shares in batches through B. Checks: books balance exactly, every payee
//! got its share (its receiver and both ledgers agree), money is conserved across all five
//! ledgers, the relay's net equals margin + residue + kept, and owed shares survive a restart
//! of the splitter (books in redb).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tollcast_agents::relay::native::{NativeFetcher, NativePricing, NativeServer};
use tollcast_agents::relay::splits::{SplitsConfig, Splitter};
use tollcast_events::live::LiveEvent;
use tollcast_events::nostr::prelude::FinalizeEvent;
use tollcast_events::split::{SplitRole, SplitShare, Splits};
use tollcast_net::connector::{AccountId, Node};
use tollcast_net::stream::{SenderConfig, StreamReceiver, StreamSender, spsp_http};
use tollcast_wire::address::Address;

fn child(id: &str) -> String {
    format!(
        r#"
[[accounts]]
id = "{id}"
relation = "child"
asset_code = "USD"
asset_scale = 9
auth_token = "token-{id}"
credit_limit = 1000000000000
"#
    )
}

fn parent(btp: &str, id: &str) -> String {
    format!(
        r#"
[[accounts]]
id = "b"
relation = "parent"
asset_code = "USD"
asset_scale = 9
btp_url = "{btp}"
auth_token = "token-{id}"
credit_limit = 1000000000000
"#
    )
}

/// A payee: a node under B with a STREAM receiver and its SPSP endpoint on HTTP.
async fn payee(b: &Node, id: &str) -> (Node, tempfile::TempDir, Arc<StreamReceiver>, String) {
    let (n, d) = ilp_node(id, &format!("test.b.{id}"), &parent(&b.btp_url(), id)).await;
    assert!(
        n.connector
            .wait_connected(&AccountId::new("b"), Duration::from_secs(10))
            .await
    );
    let r = StreamReceiver::attach(&n.connector, "pay", "USD", 9, None).unwrap();
    let addr = serve(spsp_http::router(r.clone(), "/.well-known/pay")).await;
    (n, d, r, format!("http://{addr}/.well-known/pay"))
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_are_forwarded_in_batches_and_books_balance() {
    let rig = start_origin().await;
    let (relay, relay_addr, _rd) = rig
        .relay(
            &format!("http://{}", rig.origin_addr),
            None,
            Duration::from_secs(8),
        )
        .await;
    let accounts = ["a", "c", "t", "u"].map(child).join("\n");
    let (b, _bd) = ilp_node("b", "test.b", &accounts).await;
    let (a, _ad) = ilp_node("a", "test.b.a", &parent(&b.btp_url(), "a")).await;
    assert!(
        a.connector
            .wait_connected(&AccountId::new("b"), Duration::from_secs(10))
            .await
    );
    let (c, _cd, c_recv, c_spsp) = payee(&b, "c").await;
    let (t, _td, t_recv, t_spsp) = payee(&b, "t").await;
    let (u, _ud, u_recv, u_spsp) = payee(&b, "u").await;

    // The creator signs the live event with its split: creator 7, transcoder 3.
    let splits = Splits {
        shares: vec![
            SplitShare::new(SplitRole::Creator, c_spsp.clone(), 7),
            SplitShare::new(SplitRole::Transcoder, t_spsp.clone(), 3),
        ],
    };
    let live = splits
        .add_to(LiveEvent::new("relay-test").to_builder().unwrap())
        .finalize(&rig.keys)
        .unwrap();
    let mut cfg = SplitsConfig::new(rig.stream.to_string());
    cfg.shares = Splits::from_live_event(&live).unwrap();
    cfg.relay_margin_ppm = 100_000;
    cfg.upstream_pay_to = Some(u_spsp.clone());
    cfg.upstream_ppm = 50_000;
    cfg.batch = Duration::from_millis(200);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("splits.redb");

    // Credit-mode and ILP-native receivers on B, both booked by the splitter.
    let credit = StreamReceiver::attach(&b.connector, "relay", "USD", 9, None).unwrap();
    let native = StreamReceiver::attach(&b.connector, "native", "USD", 9, None).unwrap();
    let pricing = NativePricing {
        price_per_gb: 7_000_000_000,
        price_per_part: 13,
    };
    native.set_responder(Some(NativeServer::new(relay.clone(), pricing)));
    let viewer_pays = |r: &Arc<StreamReceiver>, tag: &str| {
        let (dest, secret) = r.generate_credentials(Some(tag));
        let mut cfg = SenderConfig::new(dest, secret);
        cfg.source_address = Some(Address::new("test.b.a").unwrap());
        cfg
    };

    // First life of the splitter: payments are booked, nothing is paid out yet.
    let splitter = Splitter::open(cfg.clone(), &db).unwrap();
    let follow1 = (splitter.follow(&credit), splitter.follow(&native));
    let mut alice = StreamSender::connect(
        a.connector.sender(AccountId::local()),
        viewer_pays(&credit, "alice"),
    )
    .await
    .unwrap();
    alice.send(1_000_003).await.unwrap();
    let mut child_relay = StreamSender::connect(
        a.connector.sender(AccountId::local()),
        viewer_pays(&credit, "relay-child"),
    )
    .await
    .unwrap();
    child_relay.send(10_007).await.unwrap();
    let manifests = rig.wait_manifests(2).await;
    let mut bob = NativeFetcher::connect(
        a.connector.sender(AccountId::local()),
        viewer_pays(&native, "bob"),
        pricing,
    )
    .await
    .unwrap();
    for p in &manifests[0].parts {
        wait_known(&relay, &p.hash).await;
        bob.fetch(&p.hash, Some(p.size)).await.unwrap();
    }
    let paid = 1_000_003 + 10_007 + bob.stats().paid as u128;
    wait_until("payments booked", || {
        let bk = splitter.books();
        bk.received + bk.kept == paid
    })
    .await;
    let books = splitter.books();
    assert_eq!(books.kept, 10_007, "the child relay's money is kept whole");
    assert!(books.owed() > 0);
    books.check().unwrap();
    // "kill": the splitter goes away with its shares owed (books committed after each burst).
    follow1.0.abort();
    follow1.1.abort();
    drop(splitter);
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Second life: the same file, the owed shares are there and get paid in batches.
    let splitter = Splitter::open(cfg, &db).unwrap();
    assert_eq!(splitter.books(), books, "books survived the restart");
    let _f = (splitter.follow(&credit), splitter.follow(&native));
    let payout = splitter.run(
        b.connector.sender(AccountId::local()),
        b.connector.address().clone(),
    );
    let r = splitter
        .payout_once(
            &b.connector.sender(AccountId::local()),
            b.connector.address(),
        )
        .await;
    assert!(r.errors.is_empty(), "first batch: {:?}", r.errors);
    // More revenue while batches run.
    alice.send(333_331).await.unwrap();
    let paid = paid + 333_331;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !{
        let bk = splitter.books();
        bk.received + bk.kept == paid
            && bk.owed() == 0
            && bk.payees.iter().all(|p| p.in_flight == 0)
    } {
        assert!(
            tokio::time::Instant::now() < deadline,
            "shares never all paid: {:?}",
            splitter.books()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    payout.abort();
    let books = splitter.books();
    books.check().unwrap();
    println!("books: {}", serde_json::to_string(&books).unwrap());
    assert_eq!(books.received + books.kept, paid);
    assert_eq!(
        books.margin,
        (books.received) * 100_000 / 1_000_000,
        "10 % margin"
    );
    assert!(books.residue < 3, "rounding residue is tiny and booked");
    let shares: u128 = books.payees.iter().map(|p| p.target).sum();
    assert_eq!(paid, books.margin + books.residue + books.kept + shares);

    // Every payee got exactly its share: books, its receiver and both ledgers agree.
    for (node, recv, id, role) in [
        (&c, &c_recv, "c", "creator"),
        (&t, &t_recv, "t", "transcoder"),
        (&u, &u_recv, "u", "upstream"),
    ] {
        let p = books.payees.iter().find(|p| p.role == role).unwrap();
        assert_eq!(p.fees, 0, "no fees between children of one node");
        assert_eq!(p.delivered, p.target, "{role}");
        assert_eq!(recv.total_received(), p.target, "{role} receiver");
        assert_eq!(ledger_balance(&b, id), p.target as i128, "B owes {role}");
        assert_eq!(ledger_balance(node, "b"), -(p.target as i128));
    }
    let creator = books.payees.iter().find(|p| p.role == "creator").unwrap();
    let transcoder = books
        .payees
        .iter()
        .find(|p| p.role == "transcoder")
        .unwrap();
    let rest = books.received - books.margin - books.payees[0].target;
    assert_eq!(creator.target, rest * 7 / 10);
    assert_eq!(transcoder.target, rest * 3 / 10);

    // Conservation across all ledgers, and the relay's net is its own share.
    let nodes = [("a", &a), ("b", &b), ("c", &c), ("t", &t), ("u", &u)];
    let mut sum = 0i128;
    for (_, n) in nodes {
        n.connector.ledger().audit().unwrap();
        for acc in n.connector.ledger().accounts().unwrap() {
            assert_eq!(acc.pending_incoming + acc.pending_outgoing, 0);
            sum += acc.balance;
        }
    }
    assert_eq!(sum, 0, "every unit owed somewhere is owed by someone");
    assert_eq!(ledger_balance(&a, "b"), paid as i128, "viewers paid");
    let b_net: i128 = -b
        .connector
        .ledger()
        .accounts()
        .unwrap()
        .iter()
        .map(|a| a.balance)
        .sum::<i128>();
    assert_eq!(
        b_net,
        books.relay_own() as i128,
        "relay keeps margin + residue + kept"
    );
    let _ = relay_addr;
}
