//! Paid chat and tips over real sockets: a creator node (Nostr relay with the chat gate at
//! `test.c.nostr`, tip agent at `test.c.tips`), viewer, spammer and moderator wallets as
//! child nodes over BTP. Checks: an underpaying spammer is rejected and nothing is stored;
//! a paid message is stored; slow mode refuses a second message; the creator and a moderator
//! chat free; reactions are paid; a tip moves money to the creator and its receipt verifies
//! (signature, issuer, embedded request, RFC 0039 receipt); subscriber-only chat admits a
//! tipper; money is conserved across every ledger.

mod society_common;

use society_common::*;
use tollcast_agents::chat::{ChatClient, ChatSettings};
use tollcast_agents::tips::tip;
use tollcast_events::live::{LiveEvent, LiveStatus, Participant};
use tollcast_events::nostr::prelude::{
    Event, EventBuilder, Filter, FinalizeEvent, Keys, Kind, Tag,
};
use tollcast_events::tip::{KIND_TIP_RECEIPT, TipReceipt};

const PRICE: u64 = 50;

fn live_event(
    creator: &Keys,
    moderator: &Keys,
    tip_url: &str,
    tip_agent: &Keys,
    extra: &[&[&str]],
) -> Event {
    let mut live = LiveEvent::new("society-test");
    live.title = Some("society".into());
    live.status = Some(LiveStatus::Live);
    live.participants.push(Participant {
        pubkey: moderator.public_key(),
        relay: None,
        role: Some("Moderator".into()),
        proof: None,
    });
    let mut b: EventBuilder = live.to_builder().unwrap();
    b = b.tag(Tag::parse(["tip", tip_url, &tip_agent.public_key().to_hex()]).unwrap());
    for t in extra {
        b = b.tag(Tag::parse(t.iter().copied()).unwrap());
    }
    b.finalize(creator).unwrap()
}

#[tokio::test]
async fn paid_chat_slow_mode_free_creator_and_a_verified_tip() {
    let creator = Keys::generate();
    let moderator = Keys::generate();
    let c = creator_side(&creator, &["v", "s", "m"]).await;
    let price = PRICE.to_string();
    let live = live_event(
        &creator,
        &moderator,
        &c.tip_url,
        &c.tip_agent,
        &[&["chat_price", &price, "USD", "6"], &["slow_mode", "30"]],
    );
    publish(&c.relay_url, &live).await;
    let settings = ChatSettings::from_live_event(&live).unwrap();
    assert_eq!(settings.price, Some(PRICE));
    assert_eq!(settings.slow_mode_secs, 30);
    assert_eq!(settings.moderators, vec![moderator.public_key()]);
    assert_eq!(settings.tip_agents, vec![c.tip_agent.public_key()]);
    let stream = settings.stream.clone();

    let viewer_w = wallet("v", &c).await;
    let spam_w = wallet("s", &c).await;
    let mod_w = wallet("m", &c).await;
    let viewer = Keys::generate();
    let spammer = Keys::generate();

    // Spammer underpays by one: rejected, nothing stored, nothing paid.
    let spam = ChatClient::new(
        spammer.clone(),
        spam_w.sender(),
        c.relay_ilp.clone(),
        stream.clone(),
    )
    .with_price(PRICE - 1);
    let e = spam.send("BUY CHEAP FOLLOWERS").await.unwrap_err();
    assert_eq!(e.prefix(), Some("underpaid"), "{e}");
    assert_eq!(spam_w.paid(), 0);

    // Nor can the spammer chat around the price over the WebSocket (the creator can).
    {
        use tollcast_events::chat::ChatMessage;
        use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
        let ws = RelayClient::connect(&c.relay_url, ClientOptions::default()).unwrap();
        let free = ChatMessage::new(stream.clone(), "free spam over ws")
            .sign(&spammer, None)
            .unwrap();
        let ack = ws.publish(&free, T).await.unwrap();
        assert!(!ack.accepted);
        assert!(ack.message.starts_with("restricted:"), "{}", ack.message);
        let own = ChatMessage::new(stream.clone(), "creator over ws")
            .sign(&creator, None)
            .unwrap();
        assert!(ws.publish(&own, T).await.unwrap().accepted);
    }

    // Viewer pays the price: stored.
    let chat = ChatClient::new(
        viewer.clone(),
        viewer_w.sender(),
        c.relay_ilp.clone(),
        stream.clone(),
    )
    .with_settings(&settings);
    let sent = chat.send("hello from the audience").await.unwrap();
    assert_eq!(sent.paid, PRICE);
    // Slow mode: the second message within 30 s is refused (and not charged).
    let e = chat.send("second too soon").await.unwrap_err();
    assert_eq!(e.prefix(), Some("rate-limited"), "{e}");
    assert_eq!(viewer_w.paid(), PRICE as i128);

    // The creator chats free (from its own node's funds: amount 0), twice in a row.
    let own = ChatClient::new(
        creator.clone(),
        c.node
            .connector
            .sender(tollcast_net::connector::AccountId::local()),
        c.relay_ilp.clone(),
        stream.clone(),
    )
    .with_settings(&settings);
    assert_eq!(own.send("welcome!").await.unwrap().paid, 0);
    assert_eq!(own.send("stream starts now").await.unwrap().paid, 0);
    // The moderator too, through its own wallet.
    let m = ChatClient::new(
        moderator.clone(),
        mod_w.sender(),
        c.relay_ilp.clone(),
        stream.clone(),
    )
    .with_settings(&settings);
    assert_eq!(m.send("be nice").await.unwrap().paid, 0);
    assert_eq!(mod_w.paid(), 0);
    // A viewer who claims to be free is not.
    let freeloader = ChatClient::new(
        Keys::generate(),
        spam_w.sender(),
        c.relay_ilp.clone(),
        stream.clone(),
    )
    .with_price(0);
    assert_eq!(
        freeloader.send("free?").await.unwrap_err().prefix(),
        Some("underpaid")
    );

    // A paid reaction to the creator's line.
    let welcome = fetch(
        &c.relay_url,
        Filter::new()
            .kind(Kind::from(1311))
            .author(creator.public_key()),
    )
    .await;
    assert_eq!(welcome.len(), 3);
    let r = chat.react(&welcome[0], "🔥").await.unwrap();
    assert_eq!(r.paid, PRICE);

    // What is stored: exactly the paid and free lines, none of the refused ones.
    let lines = fetch(
        &c.relay_url,
        Filter::new().kind(Kind::from(1311)).custom_tag(
            tollcast_events::nostr::prelude::SingleLetterTag::LOWERCASE_A,
            stream.to_string(),
        ),
    )
    .await;
    let mut texts: Vec<&str> = lines.iter().map(|e| e.content.as_str()).collect();
    texts.sort();
    assert_eq!(
        texts,
        vec![
            "be nice",
            "creator over ws",
            "hello from the audience",
            "stream starts now",
            "welcome!"
        ]
    );

    // Tip: 1000 units with a message.
    let before = c.tips.total_received();
    let out = tip(
        &viewer,
        viewer_w.sender(),
        &c.tip_url,
        Some(c.tip_agent.public_key()),
        &stream,
        1000,
        ("USD", 6),
        "great stream",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(out.delivered, 1000);
    assert_eq!((out.requested, out.shortfall()), (1000, 0));
    assert_eq!(c.tips.total_received() - before, 1000);
    assert_eq!(out.parsed.payer, viewer.public_key());
    assert_eq!(out.parsed.message, "great stream");
    // Anyone: the receipt was published, parses, and its signer is the declared agent.
    let published = fetch(
        &c.relay_url,
        Filter::new()
            .kind(Kind::from(KIND_TIP_RECEIPT))
            .id(out.receipt.id),
    )
    .await;
    assert_eq!(published.len(), 1);
    let parsed = TipReceipt::from_event(&published[0]).unwrap();
    parsed
        .check_issuer(&published[0].pubkey, &settings.tip_agents)
        .unwrap();
    assert!(
        parsed
            .check_issuer(&Keys::generate().public_key(), &settings.tip_agents)
            .is_err()
    );
    // The auditor with the receipt secret: the RFC 0039 receipt says 1000.
    parsed
        .verify_stream_receipt(&c.tips.receipt_secret())
        .unwrap();
    assert!(parsed.verify_stream_receipt(&[7; 32]).is_err());
    // A tampered amount breaks the signature.
    let mut forged = published[0].clone();
    forged.content = "tampered".into();
    assert!(TipReceipt::from_event(&forged).is_err());

    assert_eq!(viewer_w.paid(), (PRICE * 2 + 1000) as i128);
    assert_conserved(&c, &[&viewer_w, &spam_w, &mod_w]);
}

#[tokio::test]
async fn subscriber_only_chat_admits_tippers() {
    let creator = Keys::generate();
    let moderator = Keys::generate();
    let c = creator_side(&creator, &["v", "s"]).await;
    let live = live_event(
        &creator,
        &moderator,
        &c.tip_url,
        &c.tip_agent,
        &[
            &["chat_price", "5", "USD", "6"],
            &["chat_mode", "subscribers"],
        ],
    );
    publish(&c.relay_url, &live).await;
    let settings = ChatSettings::from_live_event(&live).unwrap();
    assert!(settings.subscribers_only);
    let v = wallet("v", &c).await;
    let s = wallet("s", &c).await;
    let fan = Keys::generate();
    let stranger = Keys::generate();
    let stream = settings.stream.clone();
    let fan_chat = ChatClient::new(fan.clone(), v.sender(), c.relay_ilp.clone(), stream.clone())
        .with_settings(&settings);
    assert_eq!(
        fan_chat.send("hi").await.unwrap_err().prefix(),
        Some("restricted")
    );
    tip(
        &fan,
        v.sender(),
        &c.tip_url,
        Some(c.tip_agent.public_key()),
        &stream,
        200,
        ("USD", 6),
        "sub",
        vec![],
    )
    .await
    .unwrap();
    fan_chat.send("hi, I subscribed").await.unwrap();
    let other =
        ChatClient::new(stranger, s.sender(), c.relay_ilp.clone(), stream).with_settings(&settings);
    assert_eq!(
        other.send("me too").await.unwrap_err().prefix(),
        Some("restricted")
    );
    assert_conserved(&c, &[&v, &s]);
}
