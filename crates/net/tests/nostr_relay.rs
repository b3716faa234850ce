//! NIP-01/09/11/40/42 behaviour of the tollcast relay over a real WebSocket on 127.0.0.1.

mod nostr_common;

use std::time::Duration;

use nostr::prelude::*;
use nostr_common::*;
use serde_json::json;
use tollcast_net::nostr_relay::{RelayConfig, WritePolicy};

#[tokio::test]
async fn publish_req_eose_live_and_close() {
    let r = start_relay(RelayConfig::default()).await;
    let keys = Keys::generate();
    let mut a = Raw::connect(&r.url).await;
    let e1 = note(&keys, 1, "hello", vec![], now() - 10);
    assert_eq!(a.publish(&e1).await, (true, String::new()));

    let mut b = Raw::connect(&r.url).await;
    let got = b.req_open("s1", vec![json!({"kinds": [1]})]).await;
    assert_eq!(ids(&got), vec![e1.id]);

    // Live: a new matching event arrives after EOSE, a non-matching one does not.
    let e2 = note(&keys, 1, "live", vec![], now());
    let other = note(&keys, 7, "+", vec![], now());
    assert!(a.publish(&other).await.0);
    assert!(a.publish(&e2).await.0);
    let m = b.recv().await;
    assert_eq!(m[0], "EVENT");
    assert_eq!(m[1], "s1");
    assert_eq!(m[2]["id"], e2.id.to_hex());

    // CLOSE stops delivery.
    b.send(json!(["CLOSE", "s1"])).await;
    // Round-trip a REQ so we know CLOSE was processed before publishing.
    assert!(
        b.req("probe", vec![json!({"ids": [e2.id.to_hex()]})])
            .await
            .len()
            == 1
    );
    assert!(
        b.req("probe2", vec![json!({"kinds": [9999]})])
            .await
            .is_empty()
    );
    let e3 = note(&keys, 1, "after close", vec![], now());
    assert!(a.publish(&e3).await.0);
    assert!(b.try_recv(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn bad_signature_and_tampered_events_are_refused_and_not_stored() {
    let r = start_relay(RelayConfig::default()).await;
    let keys = Keys::generate();
    let mut a = Raw::connect(&r.url).await;
    let good = note(&keys, 1, "original", vec![], now());

    // Tampered content: the id no longer matches.
    let mut v = serde_json::to_value(&good).unwrap();
    v["content"] = json!("tampered");
    a.send(json!(["EVENT", v])).await;
    let ok = a.recv().await;
    assert_eq!(ok[0], "OK");
    assert_eq!(ok[1], good.id.to_hex());
    assert_eq!(ok[2], false);
    assert!(ok[3].as_str().unwrap().starts_with("invalid:"), "{ok}");

    // Forged signature (another key's signature over the same id).
    let mut v = serde_json::to_value(&good).unwrap();
    let other = note(&Keys::generate(), 1, "x", vec![], now());
    v["sig"] = json!(other.sig.to_string());
    a.send(json!(["EVENT", v])).await;
    let ok = a.recv().await;
    assert_eq!(ok[2], false);
    assert!(ok[3].as_str().unwrap().starts_with("invalid:"), "{ok}");

    // Malformed event (bad hex id).
    a.send(json!(["EVENT", {"id": "zz", "kind": 1}])).await;
    let ok = a.recv().await;
    assert_eq!(ok[0], "OK");
    assert_eq!(ok[2], false);
    assert!(ok[3].as_str().unwrap().starts_with("invalid:"));

    assert_eq!(r.relay.core().store.len().unwrap(), 0, "nothing stored");
    // Non-JSON and unknown messages get a NOTICE, the connection stays usable.
    a.send_text("not json").await;
    assert_eq!(a.recv().await[0], "NOTICE");
    a.send(json!(["FOO"])).await;
    assert_eq!(a.recv().await[0], "NOTICE");
    assert_eq!(a.publish(&good).await, (true, String::new()));
    let (ok, msg) = a.publish(&good).await;
    assert!(ok);
    assert!(msg.starts_with("duplicate:"), "{msg}");
}

#[tokio::test]
async fn replaceable_and_addressable_keep_only_the_latest() {
    let r = start_relay(RelayConfig::default()).await;
    let keys = Keys::generate();
    let mut a = Raw::connect(&r.url).await;
    let t = now() - 100;
    let m1 = note(&keys, 0, "{\"name\":\"a\"}", vec![], t);
    let m2 = note(&keys, 0, "{\"name\":\"b\"}", vec![], t + 1);
    assert!(a.publish(&m1).await.0);
    assert!(a.publish(&m2).await.0);
    let (ok, msg) = a
        .publish(&note(&keys, 0, "{\"name\":\"old\"}", vec![], t - 5))
        .await;
    assert!(!ok && msg.starts_with("duplicate:"), "{msg}");
    let got = a
        .req(
            "m",
            vec![json!({"kinds": [0], "authors": [keys.public_key().to_hex()]})],
        )
        .await;
    assert_eq!(ids(&got), vec![m2.id]);

    // 30311 live events: replaced per d tag, different d tags coexist.
    let s1v1 = note(
        &keys,
        30311,
        "",
        vec![tag(&["d", "stream-1"]), tag(&["status", "live"])],
        t,
    );
    let s2 = note(&keys, 30311, "", vec![tag(&["d", "stream-2"])], t);
    let s1v2 = note(
        &keys,
        30311,
        "",
        vec![tag(&["d", "stream-1"]), tag(&["status", "ended"])],
        t + 10,
    );
    for e in [&s1v1, &s2, &s1v2] {
        assert!(a.publish(e).await.0);
    }
    let got = a.req("l", vec![json!({"kinds": [30311]})]).await;
    let mut want = vec![s1v2.id, s2.id];
    want.sort();
    let mut have = ids(&got);
    have.sort();
    assert_eq!(have, want);
    assert!(r.relay.core().store.get(&s1v1.id).unwrap().is_none());
    let by_d = a
        .req("d", vec![json!({"kinds": [30311], "#d": ["stream-1"]})])
        .await;
    assert_eq!(ids(&by_d), vec![s1v2.id]);

    // Same timestamp: the lowest id wins (NIP-01).
    let x = note(&keys, 30311, "x", vec![tag(&["d", "tie"])], t);
    let y = note(&keys, 30311, "y", vec![tag(&["d", "tie"])], t);
    assert!(a.publish(&x).await.0);
    let (_, _) = a.publish(&y).await;
    let got = a.req("tie", vec![json!({"#d": ["tie"]})]).await;
    assert_eq!(ids(&got), vec![x.id.min(y.id)]);
}

#[tokio::test]
async fn nip09_deletion_by_e_and_a_tags() {
    let r = start_relay(RelayConfig::default()).await;
    let alice = Keys::generate();
    let mallory = Keys::generate();
    let mut a = Raw::connect(&r.url).await;
    let t = now() - 100;
    let n1 = note(&alice, 1, "to delete", vec![], t);
    let n2 = note(&alice, 1, "keep", vec![], t);
    let live = note(&alice, 30311, "", vec![tag(&["d", "show"])], t);
    for e in [&n1, &n2, &live] {
        assert!(a.publish(e).await.0);
    }
    // Someone else's deletion request changes nothing.
    let fake = note(&mallory, 5, "", vec![tag(&["e", &n1.id.to_hex()])], t + 1);
    assert!(a.publish(&fake).await.0);
    assert!(r.relay.core().store.get(&n1.id).unwrap().is_some());

    let coord = format!("30311:{}:show", alice.public_key().to_hex());
    let del = note(
        &alice,
        5,
        "spam",
        vec![tag(&["e", &n1.id.to_hex()]), tag(&["a", &coord])],
        t + 2,
    );
    assert!(a.publish(&del).await.0);
    let got = a
        .req("q", vec![json!({"authors": [alice.public_key().to_hex()]})])
        .await;
    let mut have = ids(&got);
    have.sort();
    let mut want = vec![n2.id, del.id];
    want.sort();
    assert_eq!(
        have, want,
        "deleted note and address gone, deletion request kept"
    );

    // Re-publishing the deleted event or an older version of the address is refused.
    let (ok, msg) = a.publish(&n1).await;
    assert!(!ok && msg.starts_with("blocked:"), "{msg}");
    let (ok, _) = a
        .publish(&note(&alice, 30311, "", vec![tag(&["d", "show"])], t + 1))
        .await;
    assert!(!ok);
    // A newer version of the address after the deletion is fine.
    let newer = note(&alice, 30311, "back", vec![tag(&["d", "show"])], t + 50);
    assert!(a.publish(&newer).await.0);
}

#[tokio::test]
async fn nip40_expiration() {
    let r = start_relay(RelayConfig::default()).await;
    let keys = Keys::generate();
    let mut a = Raw::connect(&r.url).await;
    let expired = note(
        &keys,
        1,
        "old",
        vec![tag(&["expiration", &(now() - 1).to_string()])],
        now() - 5,
    );
    let (ok, msg) = a.publish(&expired).await;
    assert!(!ok && msg.starts_with("invalid:"), "{msg}");

    let soon = note(
        &keys,
        1,
        "soon",
        vec![tag(&["expiration", &(now() + 1).to_string()])],
        now(),
    );
    let lasting = note(
        &keys,
        1,
        "stays",
        vec![tag(&["expiration", &(now() + 3600).to_string()])],
        now(),
    );
    assert!(a.publish(&soon).await.0);
    assert!(a.publish(&lasting).await.0);
    assert_eq!(a.req("q", vec![json!({"kinds": [1]})]).await.len(), 2);
    // Let the first expire (expiration < now needs the clock to pass it).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let got = a.req("q2", vec![json!({"kinds": [1]})]).await;
    assert_eq!(
        ids(&got),
        vec![lasting.id],
        "expired events are never served"
    );
    let purged = r
        .relay
        .core()
        .store
        .purge_expired(Timestamp::now())
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert!(r.relay.core().store.get(&soon.id).unwrap().is_none());
    assert!(r.relay.core().store.get(&lasting.id).unwrap().is_some());
}

#[tokio::test]
async fn filters_limit_since_until_tags_authors_ids_and_or() {
    let r = start_relay(RelayConfig::default()).await;
    let k1 = Keys::generate();
    let k2 = Keys::generate();
    let mut a = Raw::connect(&r.url).await;
    let base = now() - 1000;
    let mut all = Vec::new();
    for i in 0..20u64 {
        let keys = if i % 2 == 0 { &k1 } else { &k2 };
        let tags = vec![tag(&["t", if i % 3 == 0 { "music" } else { "talk" }])];
        let e = note(
            keys,
            if i % 4 == 0 { 1311 } else { 1 },
            &format!("n{i}"),
            tags,
            base + i,
        );
        assert!(a.publish(&e).await.0);
        all.push(e);
    }
    // limit: newest first.
    let got = a.req("lim", vec![json!({"limit": 5})]).await;
    let want: Vec<_> = all.iter().rev().take(5).map(|e| e.id).collect();
    assert_eq!(ids(&got), want);
    // limit 0: nothing stored, only live.
    assert!(a.req("lim0", vec![json!({"limit": 0})]).await.is_empty());
    // since/until inclusive.
    let got = a
        .req("range", vec![json!({"since": base + 5, "until": base + 9})])
        .await;
    assert_eq!(got.len(), 5);
    assert!(
        got.iter()
            .all(|e| (base + 5..=base + 9).contains(&e.created_at.as_secs()))
    );
    // authors + kinds.
    let got = a
        .req(
            "ak",
            vec![json!({"authors": [k1.public_key().to_hex()], "kinds": [1311]})],
        )
        .await;
    let want: Vec<_> = all
        .iter()
        .filter(|e| e.pubkey == k1.public_key() && e.kind.as_u16() == 1311)
        .map(|e| e.id)
        .rev()
        .collect();
    assert_eq!(ids(&got), want);
    // tag filter + author.
    let got = a
        .req(
            "tag",
            vec![json!({"#t": ["music"], "authors": [k2.public_key().to_hex()]})],
        )
        .await;
    let want: Vec<_> = all
        .iter()
        .filter(|e| {
            e.pubkey == k2.public_key()
                && e.content.trim_start_matches('n').parse::<u64>().unwrap() % 3 == 0
        })
        .map(|e| e.id)
        .rev()
        .collect();
    assert_eq!(ids(&got), want);
    // tag filter alone with limit.
    let got = a
        .req("tag2", vec![json!({"#t": ["music"], "limit": 2})])
        .await;
    assert_eq!(ids(&got), vec![all[18].id, all[15].id]);
    // ids.
    let got = a
        .req(
            "ids",
            vec![json!({"ids": [all[3].id.to_hex(), all[7].id.to_hex()]})],
        )
        .await;
    assert_eq!(ids(&got), vec![all[7].id, all[3].id]);
    // Two filters are OR-ed, results deduplicated.
    let got = a
        .req(
            "or",
            vec![
                json!({"ids": [all[0].id.to_hex()]}),
                json!({"ids": [all[0].id.to_hex(), all[1].id.to_hex()]}),
            ],
        )
        .await;
    assert_eq!(ids(&got), vec![all[1].id, all[0].id]);
    // #e / #p style tags on live delivery.
    let target = all[0].id.to_hex();
    a.send(json!(["REQ", "live-e", {"#e": [target]}])).await;
    assert_eq!(a.recv().await[0], "EOSE");
    let reply = note(&k2, 1, "reply", vec![tag(&["e", &target])], now());
    a.send(json!(["EVENT", reply])).await;
    let mut saw_event = false;
    let mut saw_ok = false;
    while !(saw_event && saw_ok) {
        let m = a.recv().await;
        match m[0].as_str().unwrap() {
            "EVENT" => {
                assert_eq!(m[1], "live-e");
                assert_eq!(m[2]["id"], reply.id.to_hex());
                saw_event = true;
            }
            "OK" => saw_ok = true,
            _ => panic!("{m}"),
        }
    }
}

#[tokio::test]
async fn req_limits_and_bad_filters_get_closed() {
    let mut cfg = RelayConfig::default();
    cfg.limits.max_filters = 2;
    cfg.limits.max_subscriptions = 1;
    let r = start_relay(cfg).await;
    let mut a = Raw::connect(&r.url).await;
    a.send(json!(["REQ", "x", {}, {}, {}])).await;
    let m = a.recv().await;
    assert_eq!(m[0], "CLOSED");
    assert!(m[2].as_str().unwrap().starts_with("invalid:"));
    a.send(json!(["REQ", "y".repeat(65), {}])).await;
    let m = a.recv().await;
    assert_eq!(m[0], "CLOSED");
    a.send(json!(["REQ", "bad", {"ids": ["nothex"]}])).await;
    let m = a.recv().await;
    assert_eq!(m[0], "CLOSED");
    assert!(m[2].as_str().unwrap().starts_with("invalid:"), "{m}");
    assert!(a.req_open("one", vec![json!({})]).await.is_empty());
    a.send(json!(["REQ", "two", {}])).await;
    let m = a.recv().await;
    assert_eq!(m[0], "CLOSED");
    assert!(m[2].as_str().unwrap().starts_with("rate-limited:"), "{m}");
    // Replacing the same id is allowed.
    assert!(
        a.req_open("one", vec![json!({"kinds": [1]})])
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn ephemeral_events_are_fanned_out_not_stored() {
    let r = start_relay(RelayConfig::default()).await;
    let keys = Keys::generate();
    let mut sub = Raw::connect(&r.url).await;
    assert!(
        sub.req_open("e", vec![json!({"kinds": [20001]})])
            .await
            .is_empty()
    );
    let mut a = Raw::connect(&r.url).await;
    let e = note(&keys, 20001, "ping", vec![], now());
    assert_eq!(a.publish(&e).await, (true, String::new()));
    let m = sub.recv().await;
    assert_eq!(m[2]["id"], e.id.to_hex());
    assert!(a.req("q", vec![json!({"kinds": [20001]})]).await.is_empty());
    assert_eq!(r.relay.core().store.len().unwrap(), 0);
}

#[tokio::test]
async fn nip11_document_and_cors() {
    let mut cfg = RelayConfig::default();
    cfg.info.name = "test relay".into();
    cfg.info.ilp_address = Some("g.test.relay".into());
    let r = start_relay(cfg).await;
    let resp = http_get(r.addr, &[("Accept", "application/nostr+json")]).await;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head_l = head.to_ascii_lowercase();
    assert!(head_l.contains("content-type: application/nostr+json"));
    assert!(head_l.contains("access-control-allow-origin: *"));
    assert!(head_l.contains("access-control-allow-headers"));
    assert!(head_l.contains("access-control-allow-methods"));
    let doc: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(doc["name"], "test relay");
    for nip in [1, 9, 11, 40, 42] {
        assert!(
            doc["supported_nips"]
                .as_array()
                .unwrap()
                .contains(&json!(nip))
        );
    }
    assert_eq!(doc["limitation"]["max_subid_length"], 64);
    assert_eq!(
        doc["tollcast"]["pay_to_write"]["ilp_address"],
        "g.test.relay"
    );
    // Without the Accept header: a plain-text hint, not the document.
    let resp = http_get(r.addr, &[]).await;
    assert!(resp.contains("WebSocket"));
}

async fn http_get(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(T, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn paid_accounts_policy_needs_auth_and_balance() {
    let operator = Keys::generate();
    let mut cfg = RelayConfig {
        write_policy: WritePolicy::PaidAccounts,
        ..Default::default()
    };
    cfg.pricing.base_per_byte = 2;
    cfg.pricing.free_authors.insert(operator.public_key());
    let r = start_relay(cfg).await;
    let user = Keys::generate();
    let mut a = Raw::connect(&r.url).await;
    let auth = a.recv().await;
    assert_eq!(auth[0], "AUTH");
    let challenge = auth[1].as_str().unwrap().to_string();

    let e = note(&user, 1, "paid note", vec![], now());
    let (ok, msg) = a.publish(&e).await;
    assert!(!ok && msg.starts_with("auth-required:"), "{msg}");
    // The operator writes for free without auth.
    assert!(a.publish(&note(&operator, 1, "op", vec![], now())).await.0);

    // Wrong challenge is refused.
    let bad = EventBuilder::new(Kind::Authentication, "")
        .tags([tag(&["relay", &r.url]), tag(&["challenge", "nope"])])
        .finalize(&user)
        .unwrap();
    a.send(json!(["AUTH", bad])).await;
    let m = a.recv().await;
    assert_eq!(m[2], false);
    let good = EventBuilder::new(Kind::Authentication, "")
        .tags([tag(&["relay", &r.url]), tag(&["challenge", &challenge])])
        .finalize(&user)
        .unwrap();
    a.send(json!(["AUTH", good])).await;
    let m = a.recv().await;
    assert_eq!(m[0], "OK");
    assert_eq!(m[2], true, "{m}");

    let (ok, msg) = a.publish(&e).await;
    assert!(!ok && msg.starts_with("restricted:"), "{msg}");
    let store = &r.relay.core().store;
    store.credit(user.public_key(), 100_000).await.unwrap();
    assert_eq!(a.publish(&e).await, (true, String::new()));
    let toon_len = tollcast_net::nostr_relay::toon::encode_event(&e)
        .unwrap()
        .len() as u64;
    assert_eq!(
        store.balance(&user.public_key()).unwrap(),
        100_000 - 2 * toon_len
    );
    // A duplicate is not charged again.
    assert!(a.publish(&e).await.1.starts_with("duplicate:"));
    assert_eq!(
        store.balance(&user.public_key()).unwrap(),
        100_000 - 2 * toon_len
    );
}

#[tokio::test]
async fn metrics_render_as_prometheus_text() {
    let r = start_relay(RelayConfig::default()).await;
    let mut a = Raw::connect(&r.url).await;
    assert!(
        a.publish(&note(&Keys::generate(), 1, "m", vec![], now()))
            .await
            .0
    );
    let text = r.relay.metrics().render_prometheus();
    assert!(text.contains("# TYPE tollcast_nostr_events_stored_total counter"));
    assert!(
        text.contains("tollcast_nostr_events_stored_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("tollcast_nostr_connections_open 1\n"),
        "{text}"
    );
}
