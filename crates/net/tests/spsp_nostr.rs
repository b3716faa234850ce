//! SPSP over Nostr: sans-io checks of the kind 23194/23195 exchange, and the full exchange
//! through a real tollcast relay followed by a STREAM payment with the credentials.

use std::sync::Arc;
use std::time::Duration;

use nostr::prelude::{EventBuilder, FinalizeEvent, Keys, Kind, Tag};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};
use tollcast_net::stream::spsp_nostr::{self, SpspNostrError};
use tollcast_net::stream::{
    ReceiverConfig, ReceiverEvent, SenderConfig, StreamReceiver, StreamSender,
};
use tollcast_wire::address::Address;

fn receiver() -> Arc<StreamReceiver> {
    Arc::new(StreamReceiver::new(ReceiverConfig::new(
        Address::new("test.n.recv").unwrap(),
        "XYZ",
        9,
    )))
}

#[test]
fn request_response_round_trip_and_rejections() {
    let r = receiver();
    let payer = Keys::generate();
    let payee = Keys::generate();
    let pending = spsp_nostr::build_request(&payer, &payee.public_key(), None).unwrap();
    assert_eq!(pending.event.kind.as_u16(), spsp_nostr::KIND_SPSP_REQUEST);
    assert!(
        !pending.event.content.contains(&pending.request_id),
        "content is encrypted"
    );
    let resp = spsp_nostr::answer_request(&payee, &r, &pending.event).unwrap();
    assert_eq!(resp.kind.as_u16(), spsp_nostr::KIND_SPSP_RESPONSE);
    let d = spsp_nostr::parse_response(&payer, &pending, &resp).unwrap();
    assert!(d.destination_account.as_str().starts_with("test.n.recv."));

    // A third party can neither answer for the payee nor read the request.
    let mallory = Keys::generate();
    assert!(matches!(
        spsp_nostr::answer_request(&mallory, &r, &pending.event),
        Err(SpspNostrError::NotForUs(_))
    ));
    let forged = spsp_nostr::answer_request(&payee, &r, &pending.event).unwrap();
    assert!(spsp_nostr::parse_response(&mallory, &pending, &forged).is_err());
    // A response from someone else than the payee is refused.
    let other_pending = spsp_nostr::build_request(&payer, &mallory.public_key(), None).unwrap();
    let from_mallory = spsp_nostr::answer_request(&mallory, &r, &other_pending.event).unwrap();
    assert!(matches!(
        spsp_nostr::parse_response(&payer, &pending, &from_mallory),
        Err(SpspNostrError::NotForUs(_))
    ));
    // Tampered content breaks the signature.
    let mut tampered = pending.event.clone();
    tampered.content.push('A');
    assert!(matches!(
        spsp_nostr::answer_request(&payee, &r, &tampered),
        Err(SpspNostrError::BadSignature)
    ));
    // Wrong kind.
    let wrong = EventBuilder::new(Kind::Custom(1), "x")
        .tag(Tag::public_key(payee.public_key()))
        .finalize(&payer)
        .unwrap();
    assert!(matches!(
        spsp_nostr::answer_request(&payee, &r, &wrong),
        Err(SpspNostrError::WrongKind { .. })
    ));
    // Not NIP-44.
    let junk = EventBuilder::new(Kind::Custom(23194), "not encrypted")
        .tag(Tag::public_key(payee.public_key()))
        .finalize(&payer)
        .unwrap();
    assert!(matches!(
        spsp_nostr::answer_request(&payee, &r, &junk),
        Err(SpspNostrError::BadContent(_))
    ));
    // Stale request (replay of an old one).
    let old_body = format!(r#"{{"requestId":"ab","timestamp":{}}}"#, 1_000_000);
    let content = nostr::nips::nip44::encrypt(
        payer.secret_key(),
        &payee.public_key(),
        old_body,
        nostr::nips::nip44::Version::V2,
    )
    .unwrap();
    let stale = EventBuilder::new(Kind::Custom(23194), content)
        .tag(Tag::public_key(payee.public_key()))
        .finalize(&payer)
        .unwrap();
    assert!(matches!(
        spsp_nostr::answer_request(&payee, &r, &stale),
        Err(SpspNostrError::Stale(1_000_000))
    ));
}

#[tokio::test]
async fn exchange_through_a_tollcast_relay_then_pay() {
    let dir = tempfile::tempdir().unwrap();
    let relay = NostrRelay::open(RelayConfig::default(), dir.path().join("events.redb")).unwrap();
    let (addr, _task) = relay.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("ws://{addr}");
    let r = receiver();
    let payee = Keys::generate();
    let server = spsp_nostr::serve(
        RelayClient::connect(&url, ClientOptions::default()).unwrap(),
        payee.clone(),
        r.clone(),
    )
    .await
    .unwrap();
    let payer = Keys::generate();
    let client = RelayClient::connect(&url, ClientOptions::default()).unwrap();
    let d = spsp_nostr::query(
        &client,
        &payer,
        &payee.public_key(),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let mut ev = r.subscribe();
    let mut s = StreamSender::connect(
        r.clone(),
        SenderConfig::new(d.destination_account.clone(), d.shared_secret),
    )
    .await
    .unwrap();
    s.send(321).await.unwrap();
    match ev.recv().await.unwrap() {
        ReceiverEvent::Money { tag, amount, .. } => {
            assert_eq!(amount, 321);
            assert_eq!(
                tag.as_deref(),
                Some(payer.public_key().to_hex().as_str()),
                "tag names the payer"
            );
        }
        other => panic!("{other:?}"),
    }
    // Nobody answers for an unknown npub: a clear timeout.
    let e = spsp_nostr::query(
        &client,
        &payer,
        &Keys::generate().public_key(),
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SpspNostrError::Timeout(..)), "{e}");
    server.abort();
}
