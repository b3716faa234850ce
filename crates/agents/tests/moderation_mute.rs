//! A moderator agent watching a paid chat: a spammer's message with a banned word gets the
//! spammer muted (a NIP-51 kind-10000 list and a kind-30000 `block:` set are published), and
//! the chat relay's gate then refuses the spammer's paid messages while others still chat.
//! Money is conserved across every ledger.

mod society_common;

use std::time::Duration;

use society_common::*;
use tollcast_agents::chat::{ChatClient, ChatSettings};
use tollcast_agents::moderator::{ModeratorAgent, ModeratorConfig};
use tollcast_events::live::{LiveEvent, LiveStatus, Participant};
use tollcast_events::moderation::{KIND_FOLLOW_SET, KIND_MUTE_LIST, MuteList};
use tollcast_events::nostr::prelude::{Filter, FinalizeEvent, Keys, Kind, Tag};

#[tokio::test]
async fn keyword_rule_mutes_a_spammer_and_the_gate_honours_it() {
    let creator = Keys::generate();
    let mod_keys = Keys::generate();
    let c = creator_side(&creator, &["v", "s"]).await;
    let mut live = LiveEvent::new("mute-test");
    live.status = Some(LiveStatus::Live);
    live.participants.push(Participant {
        pubkey: mod_keys.public_key(),
        relay: None,
        role: Some("moderator".into()),
        proof: None,
    });
    let live = live
        .to_builder()
        .unwrap()
        .tag(Tag::parse(["chat_price", "20", "USD", "6"]).unwrap())
        .finalize(&creator)
        .unwrap();
    publish(&c.relay_url, &live).await;
    let settings = ChatSettings::from_live_event(&live).unwrap();

    let mut cfg = ModeratorConfig {
        relays: vec![c.relay_url.clone()],
        streams: vec![settings.stream.to_string()],
        ..Default::default()
    };
    cfg.rules.banned_words = vec!["Buy Followers".into()];
    cfg.rules.new_account_age_secs = 0;
    let agent = ModeratorAgent::start(cfg, mod_keys.clone(), None)
        .await
        .unwrap();
    assert!(agent.is_active(), "a free moderator is active");

    let v = wallet("v", &c).await;
    let s = wallet("s", &c).await;
    let spammer = Keys::generate();
    let fan = Keys::generate();
    let spam = ChatClient::new(
        spammer.clone(),
        s.sender(),
        c.relay_ilp.clone(),
        settings.stream.clone(),
    )
    .with_settings(&settings);
    let chat = ChatClient::new(
        fan,
        v.sender(),
        c.relay_ilp.clone(),
        settings.stream.clone(),
    )
    .with_settings(&settings);
    chat.send("hello").await.unwrap();
    // The first spam line is paid and stored: the moderator reacts to what it sees.
    spam.send("BUY FOLLOWERS at spam.example").await.unwrap();

    // The moderator publishes its mute list naming the spammer and the banned word.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let list = loop {
        let found = fetch(
            &c.relay_url,
            Filter::new()
                .kind(Kind::from(KIND_MUTE_LIST))
                .author(mod_keys.public_key()),
        )
        .await;
        if let Some(ev) = found.first() {
            break MuteList::from_event(ev).unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no mute list within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(list.pubkeys, vec![spammer.public_key()]);
    assert_eq!(list.words, vec!["buy followers".to_string()]);
    // The per-stream block set follows right after the mute list.
    let set = loop {
        let sets = fetch(
            &c.relay_url,
            Filter::new()
                .kind(Kind::from(KIND_FOLLOW_SET))
                .author(mod_keys.public_key()),
        )
        .await;
        if let Some(ev) = sets.first() {
            break MuteList::from_event(ev).unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no block set within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(set.stream.as_ref(), Some(&settings.stream));
    assert_eq!(set.pubkeys, vec![spammer.public_key()]);

    // The gate refuses the muted spammer (nothing charged), even with a clean message.
    let e = spam.send("just saying hi").await.unwrap_err();
    assert_eq!(e.prefix(), Some("blocked"), "{e}");
    // A banned word from anyone else is refused too; ordinary chat still flows.
    assert_eq!(
        chat.send("where to buy followers?")
            .await
            .unwrap_err()
            .prefix(),
        Some("blocked")
    );
    chat.send("nice stream").await.unwrap();
    assert_eq!(s.paid(), 20);
    assert_eq!(v.paid(), 40);
    assert_eq!(agent.status()["muted"][0], spammer.public_key().to_hex());
    assert_conserved(&c, &[&v, &s]);
}
