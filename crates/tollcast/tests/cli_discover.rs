//! `tollcast discover` against a real Nostr relay on 127.0.0.1: follow graph (1st and 2nd
//! degree), tag filter, ranking from relay-reported viewers, paid chat and verified tip
//! receipts, ended and stranger
//! streams left out (strangers listed with --all).

use std::process::Stdio;
use std::time::Duration;

use nostr::prelude::*;
use serde_json::Value;
use tollcast_events::chat::ChatMessage;
use tollcast_events::live::{LiveEvent, LiveStatus, Participant};
use tollcast_events::offer::{Load, RelayOffer};
use tollcast_events::tip::{TipReceipt, TipRequest};
use tollcast_events::vod::{HLS_MIME, VideoEvent, VideoVariant};
use tollcast_events::{Price, StreamAddress};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};

const BIN: &str = env!("CARGO_BIN_EXE_tollcast");

async fn discover(args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .arg("discover")
            .args(args)
            .env_remove("TOLLCAST_SECRET_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("discover finished in time")
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn follow_list(k: &Keys, follows: &[&Keys]) -> Event {
    let mut b = EventBuilder::new(Kind::from(3), "");
    for f in follows {
        b = b.tag(Tag::parse(["p", &f.public_key().to_hex(), "", ""]).unwrap());
    }
    b.finalize(k).unwrap()
}

fn live(k: &Keys, d: &str, title: &str, tags: &[&str], status: LiveStatus) -> Event {
    LiveEvent {
        title: Some(title.into()),
        status: Some(status),
        hashtags: tags.iter().map(|t| t.to_string()).collect(),
        streaming: vec![format!("http://127.0.0.1:1/{d}/live/master.m3u8")],
        participants: vec![Participant {
            pubkey: k.public_key(),
            relay: None,
            role: Some("Host".into()),
            proof: None,
        }],
        ..LiveEvent::new(d)
    }
    .sign(k, None)
    .unwrap()
}

fn offer(relay: &Keys, stream: &StreamAddress, viewers: u64) -> Event {
    RelayOffer {
        stream: Some(stream.clone()),
        price_per_minute: Some(Price::new(1000, "USD", 6)),
        price_per_gb: None,
        ilp_address: "g.test.relay".into(),
        spsp: vec![],
        url: None,
        upstream: None,
        load: Some(Load {
            viewers,
            capacity: 1000,
        }),
        expires_at: None,
    }
    .sign(relay, None)
    .unwrap()
}

/// A tip receipt for `stream` (creator `recipient`), paid by `payer`, signed by `issuer`.
fn tip(issuer: &Keys, payer: &Keys, recipient: &Keys, stream: &StreamAddress) -> Event {
    let req = TipRequest {
        recipient: recipient.public_key(),
        stream: stream.clone(),
        amount: Price::new(5_000, "USD", 6),
        relays: vec![],
        message: "great show".into(),
    };
    let request = req.sign(payer, None).unwrap();
    TipReceipt {
        recipient: recipient.public_key(),
        payer: payer.public_key(),
        stream: stream.clone(),
        request_id: request.id,
        amount: Price::new(5_000, "USD", 6),
        ilp_address: "g.test.tips".into(),
        stream_receipt: vec![0; 58],
        request,
        message: "great show".into(),
    }
    .sign(issuer, None)
    .unwrap()
}

/// A recorder's NIP-71 event for `host`'s stream `d`.
fn recording(recorder: &Keys, host: &Keys, d: &str, title: &str, tags: &[&str]) -> Event {
    VideoEvent {
        identifier: format!("30311:{}:{d}", host.public_key().to_hex()),
        title: title.into(),
        summary: String::new(),
        published_at: Some(Timestamp::now().as_secs()),
        alt: None,
        variants: vec![VideoVariant {
            url: format!("http://127.0.0.1:1/{}.m3u8", "a".repeat(64)),
            mime: HLS_MIME.into(),
            hash: "a".repeat(64).parse().unwrap(),
            dim: None,
            duration: Some(42.0),
            bitrate: None,
            fallbacks: vec![],
        }],
        duration: Some(42.0),
        hashtags: tags.iter().map(|t| t.to_string()).collect(),
        participants: vec![host.public_key()],
        live: Some(StreamAddress::new(host.public_key(), d)),
    }
    .sign(recorder, None)
    .unwrap()
}

fn titles(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).expect("--json prints JSON");
    v.as_array()
        .expect("an array")
        .iter()
        .map(|l| l["title"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_ranks_followed_streams_by_graph_and_signals() {
    let dir = tempfile::tempdir().unwrap();
    let relay = NostrRelay::open(RelayConfig::default(), dir.path().join("events.redb")).unwrap();
    let (addr, _task) = relay
        .clone()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("ws://{addr}");
    let client = RelayClient::connect(&url, ClientOptions::default()).unwrap();
    let publish = |ev: Event| {
        let client = client.clone();
        async move {
            let ack = client.publish(&ev, Duration::from_secs(10)).await.unwrap();
            assert!(ack.accepted, "relay refused {}: {}", ev.kind, ack.message);
        }
    };

    let [me, alice, bob, carol, dave, edge1, edge2] = std::array::from_fn(|_| Keys::generate());
    // me -> alice, dave; alice -> bob (2nd degree). carol is a stranger.
    publish(follow_list(&me, &[&alice, &dave])).await;
    publish(follow_list(&alice, &[&bob, &me])).await;
    publish(follow_list(&carol, &[&me])).await;

    publish(live(
        &alice,
        "a1",
        "Alice live",
        &["music"],
        LiveStatus::Live,
    ))
    .await;
    publish(live(
        &bob,
        "b1",
        "Bob jam",
        &["Music", "jazz"],
        LiveStatus::Live,
    ))
    .await;
    publish(live(
        &carol,
        "c1",
        "Carol talk",
        &["talk"],
        LiveStatus::Live,
    ))
    .await;
    publish(live(
        &dave,
        "d1",
        "Dave over",
        &["music"],
        LiveStatus::Ended,
    ))
    .await;

    // Bob's stream: two relays report 30 + 10 viewers, four chatters paid for 5 messages.
    let bob_stream = StreamAddress::new(bob.public_key(), "b1");
    publish(offer(&edge1, &bob_stream, 30)).await;
    publish(offer(&edge2, &bob_stream, 10)).await;
    for (i, k) in [&carol, &dave, &me, &alice, &alice].iter().enumerate() {
        publish(
            ChatMessage::new(bob_stream.clone(), format!("hi {i}"))
                .sign(k, None)
                .unwrap(),
        )
        .await;
    }
    // Carol's stream: 100 viewers on one relay.
    let carol_stream = StreamAddress::new(carol.public_key(), "c1");
    publish(offer(&edge1, &carol_stream, 100)).await;

    // Alice's stream: two tips receipted by Alice herself count; one "receipted" by a stranger
    // (not the creator, not an agent she declared) does not.
    let alice_stream = StreamAddress::new(alice.public_key(), "a1");
    publish(tip(&alice, &carol, &alice, &alice_stream)).await;
    publish(tip(&alice, &dave, &alice, &alice_stream)).await;
    publish(tip(&edge1, &dave, &alice, &alice_stream)).await;

    let npub = me.public_key().to_bech32().unwrap();
    let base = [
        "--relay",
        url.as_str(),
        "--pubkey",
        npub.as_str(),
        "--timeout",
        "10",
    ];

    // Graph only: Bob (2nd degree, busy) above Alice (followed, quiet); Carol and Dave absent.
    let (code, out, err) = discover(&[&base[..], &["--json"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(titles(&out), vec!["Bob jam", "Alice live"], "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let bob_l = &v[0];
    assert_eq!(bob_l["distance"], 2);
    assert_eq!(bob_l["viewers"], 40);
    assert_eq!(bob_l["viewers_source"], "relays");
    assert_eq!(bob_l["paid_chat"], 5);
    assert_eq!(bob_l["chatters"], 4);
    assert_eq!(bob_l["host"], bob.public_key().to_hex());
    let naddr = bob_l["naddr"].as_str().unwrap();
    assert_eq!(StreamAddress::from_naddr(naddr).unwrap(), bob_stream);
    assert_eq!(v[1]["distance"], 1);
    assert_eq!(v[1]["viewers_source"], "none");
    assert_eq!(v[1]["tips"], 2, "only receipts signed by the creator count");
    assert_eq!(bob_l["tips"], 0);
    assert!(bob_l["score"].as_f64().unwrap() > v[1]["score"].as_f64().unwrap());

    // Depth 1: only the people I follow.
    let (code, out, err) = discover(&[&base[..], &["--json", "--depth", "1"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(titles(&out), vec!["Alice live"]);

    // Tag filter (case-insensitive).
    let (code, out, err) = discover(&[&base[..], &["--json", "--tag", "JAZZ"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(titles(&out), vec!["Bob jam"]);

    // Everyone: Carol's 100 viewers rank her above quiet Alice but below Bob.
    let (code, out, err) = discover(&[&base[..], &["--json", "--all"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(titles(&out), vec!["Bob jam", "Carol talk", "Alice live"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[1]["distance"], Value::Null);

    // Table output names the columns and the naddr.
    let (code, out, err) = discover(&base).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("TITLE"), "{out}");
    assert!(out.contains("Bob jam") && out.contains(naddr), "{out}");

    // Recordings: a third-party recorder's VOD of Dave's ended stream is found through Dave
    // (followed); Carol's is not, unless --all.
    let recorder = Keys::generate();
    publish(recording(
        &recorder,
        &dave,
        "d1",
        "Dave over (VOD)",
        &["music"],
    ))
    .await;
    publish(recording(
        &recorder,
        &carol,
        "c1",
        "Carol talk (VOD)",
        &["talk"],
    ))
    .await;
    let (code, out, err) = discover(&[&base[..], &["--json", "--vod"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(titles(&out), vec!["Dave over (VOD)"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["distance"], 1);
    assert_eq!(v[0]["duration"], 42.0);
    assert_eq!(
        v[0]["live"],
        format!("30311:{}:d1", dave.public_key().to_hex())
    );
    let (code, out, err) = discover(&[&base[..], &["--json", "--vod", "--all"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(titles(&out), vec!["Dave over (VOD)", "Carol talk (VOD)"]);
    let (code, out, err) =
        discover(&[&base[..], &["--vod", "--all", "--tag", "talk"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Carol talk (VOD)") && !out.contains("Dave over"),
        "{out}"
    );

    // Bad input: exit 1 with a hint.
    let (code, _, err) = discover(&["--relay", url.as_str(), "--pubkey", "nope"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--pubkey"), "{err}");
    let (code, _, err) = discover(&["--relay", "http://x", "--pubkey", npub.as_str()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("ws://"), "{err}");
}
