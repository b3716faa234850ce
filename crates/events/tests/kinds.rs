//! Every tollcast kind: build -> sign -> (TOON round trip) -> parse gives the same value;
//! malformed and tampered events are refused with typed errors; the NIP-53 spec examples.

use nostr::prelude::{EventBuilder, EventId, FinalizeEvent, Keys, Kind, SecretKey, Tag, Timestamp};
use tollcast_events::chat::ChatMessage;
use tollcast_events::jobs::{JobFeedback, JobResult, JobStatus, Rendition, TranscodeRequest};
use tollcast_events::live::{LiveEvent, LiveStatus, Participant};
use tollcast_events::manifest::{PartInfo, SegmentManifest};
use tollcast_events::moderation::{Report, ReportType, TakedownVote, Vote};
use tollcast_events::offer::{Load, RelayOffer};
use tollcast_events::part_manifest::PartManifest;
use tollcast_events::{EventError, Price, Role, Sha256, StreamAddress, from_toon, to_toon};

fn keys(n: u8) -> Keys {
    let mut b = [0u8; 32];
    b[31] = n;
    Keys::new(SecretKey::from_slice(&b).unwrap())
}

fn stream() -> StreamAddress {
    StreamAddress::new(keys(1).public_key(), "show-42")
}

const T: Option<u64> = Some(1_760_000_000);

/// Sign, check the TOON round trip and return the event.
fn signed(ev: nostr::prelude::Event) -> nostr::prelude::Event {
    let back = from_toon(&to_toon(&ev)).unwrap();
    assert_eq!(back, ev);
    ev
}

/// Re-sign `ev` with its tags edited by `f` (a malformed but validly signed event).
fn edit(
    ev: &nostr::prelude::Event,
    f: impl FnOnce(&mut Vec<Vec<String>>),
) -> nostr::prelude::Event {
    let mut tags: Vec<Vec<String>> = ev.tags.iter().map(|t| t.as_slice().to_vec()).collect();
    f(&mut tags);
    EventBuilder::new(ev.kind, ev.content.clone())
        .tags(tags.into_iter().map(|t| Tag::parse(t).unwrap()))
        .custom_created_at(ev.created_at)
        .finalize(&keys(1))
        .unwrap()
}

fn drop_tag(name: &str) -> impl FnOnce(&mut Vec<Vec<String>>) + '_ {
    move |t| t.retain(|x| x[0] != name)
}

#[test]
fn live_event_round_trip_and_errors() {
    let mut le = LiveEvent::new("show-42");
    le.title = Some("Night \"jam\", live: #1".into());
    le.summary = Some("multi\nline".into());
    le.image = Some("https://img.example/p.png".into());
    le.streaming = vec!["http://127.0.0.1:8080/live/show-42/master.m3u8".into()];
    le.status = Some(LiveStatus::Live);
    le.starts = Some(1_760_000_000);
    le.current_participants = Some(12);
    le.hashtags = vec!["music".into(), "jazz".into()];
    le.participants = vec![
        Participant {
            pubkey: keys(1).public_key(),
            relay: None,
            role: Some("Host".into()),
            proof: None,
        },
        Participant {
            pubkey: keys(2).public_key(),
            relay: Some("ws://127.0.0.1:7000".into()),
            role: Some("transcoder".into()),
            proof: None,
        },
    ];
    le.relays = vec!["ws://127.0.0.1:7000".into()];
    let ev = signed(le.sign(&keys(1), T).unwrap());
    assert_eq!(LiveEvent::from_event(&ev).unwrap(), le);
    assert_eq!(le.address(keys(1).public_key()), stream());

    let bad = edit(&ev, drop_tag("d"));
    assert_eq!(
        LiveEvent::from_event(&bad),
        Err(EventError::MissingTag("d"))
    );
    let bad = edit(&ev, |t| {
        t.iter_mut()
            .filter(|x| x[0] == "status")
            .for_each(|x| x[1] = "paused".into())
    });
    assert!(matches!(
        LiveEvent::from_event(&bad),
        Err(EventError::BadTag { tag: "status", .. })
    ));
    let bad = edit(&ev, |t| t.push(vec!["starts".into(), "+5".into()]));
    assert_eq!(
        LiveEvent::from_event(&bad),
        Err(EventError::DuplicateTag("starts"))
    );
    let bad = edit(&ev, |t| {
        t.iter_mut()
            .filter(|x| x[0] == "starts")
            .for_each(|x| x[1] = "-1".into())
    });
    assert!(matches!(
        LiveEvent::from_event(&bad),
        Err(EventError::BadTag { tag: "starts", .. })
    ));
    let bad = edit(&ev, |t| t.push(vec!["p".into(), "zz".into()]));
    assert!(matches!(
        LiveEvent::from_event(&bad),
        Err(EventError::BadTag { tag: "p", .. })
    ));

    // Tampered content: id no longer matches.
    let mut tampered = ev.clone();
    tampered.content = "x".into();
    assert!(matches!(
        LiveEvent::from_event(&tampered),
        Err(EventError::Verify(_))
    ));
    // Another kind.
    let chat = ChatMessage::new(stream(), "hi").sign(&keys(1), T).unwrap();
    assert_eq!(
        LiveEvent::from_event(&chat),
        Err(EventError::WrongKind {
            expected: "30311",
            got: 1311
        })
    );
}

#[test]
fn nip53_spec_examples() {
    // The NIP-53 chat example verifies (reference-peers.md pitfall 6) and parses.
    let chat = r#"{"id":"97aa81798ee6c5637f7b21a411f89e10244e195aa91cb341bf49f718e36c8188","pubkey":"3f770d65d3a764a9c5cb503ae123e62ec7598ad035d836e2a810f3877a745b24","created_at":1687286726,"kind":1311,"tags":[["a","30311:1597246ac22f7d1375041054f2a4986bd971d8d196d7997e48973263ac9879ec:demo-cf-stream","","root"]],"content":"Zaps to live streams is beautiful.","sig":"997f62ddfc0827c121043074d50cfce7a528e978c575722748629a4137c45b75bdbc84170bedc723ef0a5a4c3daebf1fef2e93f5e2ddb98e5d685d022c30b622"}"#;
    let ev = nostr::prelude::Event::from_json(chat).unwrap();
    let m = ChatMessage::from_event(&ev).unwrap();
    assert_eq!(m.stream.identifier, "demo-cf-stream");
    assert_eq!(m.content, "Zaps to live streams is beautiful.");
    assert_eq!(from_toon(&to_toon(&ev)).unwrap(), ev);
    // The NIP-53 30311 example does not verify (its id is not the hash): refused.
    let live = r#"{"id":"57f28dbc264990e2c61e80a883862f7c114019804208b14da0bff81371e484d2","pubkey":"1597246ac22f7d1375041054f2a4986bd971d8d196d7997e48973263ac9879ec","created_at":1687182672,"kind":30311,"tags":[["d","demo-cf-stream"],["title","Adult Swim Metalocalypse"],["summary","Live stream from IPTV-ORG collection"],["streaming","https://adultswim-vodlive.cdn.turner.com/live/metalocalypse/stream.m3u8"],["starts","1687182672"],["status","live"],["t","animation"],["t","iptv"],["image","https://i.imgur.com/CaKq6Mt.png"]],"content":"","sig":"5bc7a60f5688effa5287244a24768cbe0dcd854436090abc3bef172f7f5db1410af4277508dbafc4f70a754a891c90ce3b966a7bc47e7c1eb71ff57640f3d389"}"#;
    let ev = nostr::prelude::Event::from_json(live).unwrap();
    assert!(matches!(
        LiveEvent::from_event(&ev),
        Err(EventError::Verify(_))
    ));
}

#[test]
fn stream_address_and_naddr() {
    let a = stream();
    let s = a.to_string();
    assert!(s.starts_with("30311:") && s.ends_with(":show-42"));
    assert_eq!(s.parse::<StreamAddress>().unwrap(), a);
    assert!("1:abc:d".parse::<StreamAddress>().is_err());
    assert!("30311:zz:d".parse::<StreamAddress>().is_err());
    let naddr = a.to_naddr(&["wss://relay.example.com"]).unwrap();
    assert!(naddr.starts_with("naddr1"));
    assert_eq!(StreamAddress::from_naddr(&naddr).unwrap(), a);
    assert!(StreamAddress::from_naddr("naddr1qqq").is_err());
}

#[test]
fn chat_round_trip() {
    let mut m = ChatMessage::new(stream(), "gm 😀, \"quoted\"\n");
    m.reply_to = Some(EventId::from_slice(&[7u8; 32]).unwrap());
    let ev = signed(m.sign(&keys(3), T).unwrap());
    assert_eq!(ChatMessage::from_event(&ev).unwrap(), m);
    let bad = edit(&ev, drop_tag("a"));
    assert_eq!(
        ChatMessage::from_event(&bad),
        Err(EventError::MissingTag("a"))
    );
}

fn request() -> TranscodeRequest {
    TranscodeRequest {
        stream: stream(),
        source_urls: vec!["http://127.0.0.1:8080/src/".into()],
        output: "video/mp4".into(),
        renditions: vec![
            Rendition {
                name: "720p".into(),
                width: 1280,
                height: 720,
                bitrate: 3_000_000,
            },
            Rendition {
                name: "360p".into(),
                width: 640,
                height: 360,
                bitrate: 800_000,
            },
        ],
        codec: Some("h264".into()),
        bid_per_minute: Some(Price::new(2000, "USD", 6)),
        providers: vec![keys(4).public_key()],
        relays: vec!["ws://127.0.0.1:7000".into()],
    }
}

#[test]
fn jobs_round_trip() {
    let req = request();
    let rev = signed(req.sign(&keys(1), T).unwrap());
    assert_eq!(rev.kind.as_u16(), 5200);
    assert_eq!(TranscodeRequest::from_event(&rev).unwrap(), req);
    let bad = edit(&rev, |t| {
        t.retain(|x| x.get(1).map(String::as_str) != Some("rendition"))
    });
    assert!(TranscodeRequest::from_event(&bad).is_err());
    let bad = edit(&rev, |t| {
        t.iter_mut()
            .filter(|x| x[0] == "bid")
            .for_each(|x| x[3] = "99".into())
    });
    assert!(matches!(
        TranscodeRequest::from_event(&bad),
        Err(EventError::BadTag { tag: "bid", .. })
    ));

    let fb = JobFeedback {
        status: JobStatus::PaymentRequired,
        info: Some("pay per minute".into()),
        request_id: rev.id,
        customer: keys(1).public_key(),
        amount: Some(Price::new(1500, "USD", 6)),
        ilp_address: Some("test.transcoder.alice".into()),
        content: String::new(),
    };
    let fev = signed(fb.sign(&keys(4), T).unwrap());
    assert_eq!(JobFeedback::from_event(&fev).unwrap(), fb);
    let bad = edit(&fev, drop_tag("ilp"));
    assert!(
        JobFeedback::from_event(&bad).is_err(),
        "payment-required without ilp"
    );

    let res = JobResult {
        request_kind: 5200,
        request_id: rev.id,
        customer: keys(1).public_key(),
        request_json: Some(rev.as_json()),
        amount: Some(Price::new(3000, "USD", 6)),
        content: r#"{"720p":"http://127.0.0.1:8081/720p.m3u8"}"#.into(),
    };
    let resev = signed(res.sign(&keys(4), T).unwrap());
    assert_eq!(resev.kind.as_u16(), 6200);
    assert_eq!(JobResult::from_event(&resev).unwrap(), res);
    assert!(matches!(
        JobResult::from_event(&rev),
        Err(EventError::WrongKind { .. })
    ));
}

fn h(n: u8) -> Sha256 {
    Sha256([n; 32])
}

#[test]
fn manifest_round_trip_and_checks() {
    let m = SegmentManifest {
        stream: stream(),
        rendition: "720p".into(),
        msn: 1234,
        init: h(1),
        parts: vec![
            PartInfo {
                hash: h(2),
                duration_us: 333_333,
                size: 1000,
                independent: true,
            },
            PartInfo {
                hash: h(3),
                duration_us: 333_334,
                size: 1500,
                independent: false,
            },
        ],
        segment: h(4),
        segment_size: 2500,
        duration_us: 666_667,
        captured_ms: 1_760_000_000_123,
        sources: vec![h(5)],
        role: Role::Transcoder,
    };
    let ev = signed(m.sign(&keys(4), T).unwrap());
    assert_eq!(SegmentManifest::from_event(&ev).unwrap(), m);
    let bad = edit(&ev, |t| {
        t.iter_mut()
            .filter(|x| x[0] == "segment")
            .for_each(|x| x[2] = "2501".into())
    });
    assert!(matches!(
        SegmentManifest::from_event(&bad),
        Err(EventError::BadTag { tag: "segment", .. })
    ));
    let bad = edit(&ev, |t| {
        t.iter_mut()
            .filter(|x| x[0] == "d")
            .for_each(|x| x[1] = "other".into())
    });
    assert!(matches!(
        SegmentManifest::from_event(&bad),
        Err(EventError::BadTag { tag: "d", .. })
    ));
    let bad = edit(&ev, |t| {
        t.iter_mut()
            .filter(|x| x[0] == "init")
            .for_each(|x| x[1] = "AB".repeat(32))
    });
    assert!(matches!(
        SegmentManifest::from_event(&bad),
        Err(EventError::BadTag { tag: "init", .. })
    ));
    let bad = edit(&ev, |t| {
        t.iter_mut()
            .filter(|x| x[0] == "role")
            .for_each(|x| x[1] = "boss".into())
    });
    assert!(SegmentManifest::from_event(&bad).is_err());
    let bad = edit(&ev, |t| {
        t.iter_mut()
            .filter(|x| x[0] == "part")
            .for_each(|x| x.truncate(3))
    });
    assert!(SegmentManifest::from_event(&bad).is_err());
}

#[test]
fn offer_round_trip_and_checks() {
    let o = RelayOffer {
        stream: Some(stream()),
        price_per_minute: Some(Price::new(100, "USD", 6)),
        price_per_gb: Some(Price::new(20_000, "USD", 6)),
        ilp_address: "test.relay-a".into(),
        spsp: vec!["http://127.0.0.1:9000/.well-known/pay".into()],
        url: Some("http://127.0.0.1:9001/live/".into()),
        upstream: Some("http://127.0.0.1:8080/".into()),
        load: Some(Load {
            viewers: 3,
            capacity: 100,
        }),
        expires_at: Some(1_760_000_600),
    };
    let ev = signed(o.sign(&keys(5), T).unwrap());
    assert_eq!(RelayOffer::from_event(&ev).unwrap(), o);
    assert!(o.is_expired_at(1_760_000_600) && !o.is_expired_at(1_760_000_599));
    let bad = edit(&ev, drop_tag("price"));
    assert_eq!(
        RelayOffer::from_event(&bad),
        Err(EventError::MissingTag("price"))
    );
    let bad = edit(&ev, |t| {
        t.push(vec![
            "price".into(),
            "gb".into(),
            "1".into(),
            "USD".into(),
            "6".into(),
        ])
    });
    assert_eq!(
        RelayOffer::from_event(&bad),
        Err(EventError::DuplicateTag("price"))
    );
    let bad = edit(&ev, drop_tag("ilp"));
    assert_eq!(
        RelayOffer::from_event(&bad),
        Err(EventError::MissingTag("ilp"))
    );
    let any = RelayOffer { stream: None, ..o };
    let ev = any.sign(&keys(5), T).unwrap();
    assert_eq!(RelayOffer::from_event(&ev).unwrap().identifier(), "*");
}

#[test]
fn moderation_round_trip() {
    let r = Report {
        pubkey: keys(6).public_key(),
        event: Some(EventId::from_slice(&[7u8; 32]).unwrap()),
        report_type: ReportType::Spam,
        content: "flooding chat".into(),
    };
    let ev = signed(r.sign(&keys(7), T).unwrap());
    assert_eq!(Report::from_event(&ev).unwrap(), r);
    let v = TakedownVote {
        stream: stream(),
        event: None,
        vote: Vote::Takedown,
        reason: "illegal".into(),
    };
    let ev = signed(v.sign(&keys(7), T).unwrap());
    assert_eq!(TakedownVote::from_event(&ev).unwrap(), v);
    let bad = edit(&ev, |t| {
        t.iter_mut()
            .filter(|x| x[0] == "L")
            .for_each(|x| x[1] = "other".into())
    });
    assert!(matches!(
        TakedownVote::from_event(&bad),
        Err(EventError::BadTag { tag: "L", .. })
    ));
}

#[test]
fn parsers_never_panic_on_junk_tags() {
    // Every parser against events whose tags are arbitrary junk: errors, never panics.
    let junk: Vec<Vec<&str>> = vec![
        vec!["d"],
        vec!["a"],
        vec!["a", ""],
        vec!["a", "30311:"],
        vec!["p", ""],
        vec!["part", "x", "y"],
        vec!["segment"],
        vec!["price", "minute"],
        vec!["status"],
        vec!["e", "zz"],
        vec!["param", "rendition", "x", "0x0", "1"],
        vec!["load", "1"],
        vec!["L"],
        vec!["l", "takedown"],
        vec!["msn", "99999999999999999999999"],
    ];
    for kind in [
        30311u16, 1311, 5200, 6200, 7000, 31311, 21311, 31312, 1984, 1985,
    ] {
        for n in 0..junk.len() {
            let ev = EventBuilder::new(Kind::from(kind), "")
                .tags(junk[..=n].iter().map(|t| Tag::parse(t.clone()).unwrap()))
                .custom_created_at(Timestamp::from_secs(1))
                .finalize(&keys(9))
                .unwrap();
            let _ = LiveEvent::from_event(&ev);
            let _ = ChatMessage::from_event(&ev);
            let _ = TranscodeRequest::from_event(&ev);
            let _ = JobResult::from_event(&ev);
            let _ = JobFeedback::from_event(&ev);
            let _ = SegmentManifest::from_event(&ev);
            let _ = PartManifest::from_event(&ev);
            let _ = RelayOffer::from_event(&ev);
            let _ = Report::from_event(&ev);
            let _ = TakedownVote::from_event(&ev);
        }
    }
}

mod common;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, failure_persistence: None, ..Default::default() })]

    /// Validly signed events of every tollcast kind with random tags built from the names the
    /// parsers look for and hostile values: parsers return Ok or a typed error, never panic,
    /// and whatever parses re-builds into an event that parses to the same value.
    #[test]
    fn parsers_total_on_random_tags(seed in proptest::prelude::any::<u64>()) {
        use rand::{Rng, SeedableRng};
        const NAMES: &[&str] = &["d", "a", "p", "e", "t", "title", "status", "starts", "streaming", "relays", "i",
            "output", "param", "bid", "amount", "ilp", "request", "rendition", "msn", "init", "part", "segment",
            "duration", "captured", "source", "role", "price", "spsp", "load", "expiration", "L", "l"];
        let mut r = rand::rngs::StdRng::seed_from_u64(seed);
        let kinds = [30311u16, 1311, 5200, 6200, 7000, 31311, 21311, 31312, 1984, 1985];
        let kind = kinds[r.random_range(0..kinds.len())];
        let n = r.random_range(0..12);
        let tags: Vec<Tag> = (0..n)
            .map(|_| {
                let mut v = vec![NAMES[r.random_range(0..NAMES.len())].to_string()];
                for _ in 0..r.random_range(0..5) {
                    v.push(match r.random_range(0..6) {
                        0 => keys(1).public_key().to_hex(),
                        1 => stream().to_string(),
                        2 => r.random::<u64>().to_string(),
                        3 => "ab".repeat(32),
                        _ => common::rand_string(&mut r, 4),
                    });
                }
                Tag::parse(v).unwrap()
            })
            .collect();
        let ev = EventBuilder::new(Kind::from(kind), common::rand_string(&mut r, 8))
            .tags(tags)
            .custom_created_at(Timestamp::from_secs(1))
            .finalize(&keys(1))
            .unwrap();
        if let Ok(v) = LiveEvent::from_event(&ev) { proptest::prop_assert_eq!(LiveEvent::from_event(&v.sign(&keys(1), T).unwrap()).unwrap(), v); }
        if let Ok(v) = ChatMessage::from_event(&ev) { proptest::prop_assert_eq!(ChatMessage::from_event(&v.sign(&keys(1), T).unwrap()).unwrap(), v); }
        if let Ok(v) = TranscodeRequest::from_event(&ev) { proptest::prop_assert_eq!(TranscodeRequest::from_event(&v.sign(&keys(1), T).unwrap()).unwrap(), v); }
        if let Ok(v) = JobResult::from_event(&ev) { proptest::prop_assert_eq!(JobResult::from_event(&v.sign(&keys(1), T).unwrap()).unwrap(), v); }
        if let Ok(v) = JobFeedback::from_event(&ev) { proptest::prop_assert_eq!(JobFeedback::from_event(&v.sign(&keys(1), T).unwrap()).unwrap(), v); }
        if let Ok(v) = SegmentManifest::from_event(&ev) { proptest::prop_assert_eq!(SegmentManifest::from_event(&v.sign(&keys(1), T).unwrap()).unwrap(), v); }
        if let Ok(v) = PartManifest::from_event(&ev) { proptest::prop_assert_eq!(PartManifest::from_event(&v.sign(&keys(1), T).unwrap()).unwrap(), v); }
        if let Ok(v) = RelayOffer::from_event(&ev) { proptest::prop_assert_eq!(RelayOffer::from_event(&v.sign(&keys(1), T).unwrap()).unwrap(), v); }
        if let Ok(v) = Report::from_event(&ev) { proptest::prop_assert_eq!(Report::from_event(&v.sign(&keys(1), T).unwrap()).unwrap(), v); }
        if let Ok(v) = TakedownVote::from_event(&ev) { proptest::prop_assert_eq!(TakedownVote::from_event(&v.sign(&keys(1), T).unwrap()).unwrap(), v); }
    }
}
