//! The relay agent's one start path ([`RelayAgent::start`], behind `tollcast relay` and
//! `tollcast node --role relay`), on loopback with a real origin, Nostr relay and ILP node:
//! a paid relay publishes an offer listing its HTTP SPSP endpoint first and its key for SPSP
//! over Nostr after it; a viewer that gets credentials over Nostr (kinds 23194/23195) and pays
//! them is credited under its pubkey and served; a free relay serves without an offer; a
//! paid config without an ILP node is refused with what is missing.

mod common;

use std::time::Duration;

use common::*;
use tokio::time::Instant;
use tollcast_agents::relay::agent::{RelayAgent, RelayAgentConfig};
use tollcast_agents::viewer::payer::query_nostr;
use tollcast_events::nostr::prelude::Keys;
use tollcast_net::connector::{Node, NodeConfig};
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pool::RelayPool;
use tollcast_net::stream::{SenderConfig, StreamSender};

fn config(rig: &Rig, dir: &std::path::Path) -> RelayAgentConfig {
    let mut c = RelayAgentConfig::new(
        format!("http://{}", rig.origin_addr),
        rig.stream.to_string(),
    );
    c.nostr = vec![rig.nostr_url.clone()];
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.store_dir = dir.join("cache");
    c.billing_db = dir.join("billing.redb");
    c.splits_db = dir.join("splits.redb");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_relay_offers_and_answers_spsp_over_nostr() {
    let rig = start_origin().await;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        NodeConfig::from_toml(
            "[node]\nname = \"edge\"\naddress = \"test.edge\"\nlisten = \"127.0.0.1:0\"\n\
             ledger = \":memory:\"\n",
            "edge",
        )
        .unwrap(),
    )
    .await
    .unwrap();

    // Misconfigured: paid without an ILP node.
    let mut c = config(&rig, dir.path());
    c.price_per_second = Some(1_000);
    let e = RelayAgent::start(c.clone(), None, None)
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("needs an ILP node"), "{e}");

    let agent = RelayAgent::start(c, Some(&node.connector), None)
        .await
        .unwrap();
    let ready = agent.ready();
    assert_eq!(
        ready["credit"]["spsp_nostr"],
        agent.keys.public_key().to_hex()
    );
    assert!(
        agent.lines().iter().any(|(k, _)| k == "credit mode"),
        "{:?}",
        agent.lines()
    );

    // The offer: HTTP SPSP first (readers taking the first value keep working), then the key.
    let offer = rig.wait_offer(agent.keys.public_key()).await;
    assert_eq!(
        offer.spsp[0],
        format!("{}/.well-known/pay", agent.public_url)
    );
    let payee = offer.spsp_nostr().expect("the offer lists SPSP over Nostr");
    assert_eq!(payee.pubkey, agent.keys.public_key());
    assert_eq!(payee.relays, vec![rig.nostr_url.clone()]);

    // A viewer asks over Nostr, pays 1.5 s, and is served under its pubkey.
    let viewer = Keys::generate();
    let pool = RelayPool::new([rig.nostr_url.clone()], ClientOptions::default()).unwrap();
    let d = query_nostr(&pool, &payee, &viewer, Duration::from_secs(5))
        .await
        .unwrap();
    let (receiver, billing) = agent.credit.clone().unwrap();
    assert!(
        d.destination_account
            .as_str()
            .starts_with("test.edge.relay")
    );
    let mut sender = StreamSender::connect(
        receiver.clone(),
        SenderConfig::new(d.destination_account, d.shared_secret),
    )
    .await
    .unwrap();
    sender.send(1_500).await.unwrap();
    let id = viewer.public_key().to_hex();
    let deadline = Instant::now() + Duration::from_secs(5);
    while billing
        .standing_at(&id, Instant::now())
        .is_none_or(|s| s.received < 1_500)
    {
        assert!(Instant::now() < deadline, "payment never credited to {id}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let part = rig.wait_manifests(1).await[0].parts[0].hash.clone();
    let auth = format!("Authorization: Bearer {id}");
    let r = get_with(agent.http, &format!("/{part}.m4s"), &[auth.as_str()]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(agent.http, &format!("/{part}.m4s")).await;
    assert_eq!(r.status, 402, "nobody named");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_relay_serves_without_an_offer() {
    let rig = start_origin().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = RelayAgent::start(config(&rig, dir.path()), None, None)
        .await
        .unwrap();
    assert!(agent.offer_settings().is_none());
    assert!(agent.credit.is_none() && !agent.spsp_nostr);
    let part = rig.wait_manifests(1).await[0].parts[0].hash.clone();
    let r = get(agent.http, &format!("/{part}.m4s")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.body,
        get(rig.origin_addr, &format!("/{part}.m4s")).await.body
    );
    assert!(agent.status_line().starts_with("relay: manifests"));
}
