//! Round trips and refusals of the society kinds: tip request/receipt (9736/9737), reaction
//! (7), takedown proposal / appeal / relay notice (1985 labels), NIP-51 mute list and block
//! set (10000/30000). Tampered or foreign events are refused with an error, never a panic.

use tollcast_events::moderation::{
    Appeal, MuteList, TakedownNotice, TakedownProposal, TakedownVote, Vote,
};
use tollcast_events::nostr::prelude::{Event, EventBuilder, FinalizeEvent, Keys, Kind, Tag};
use tollcast_events::reaction::Reaction;
use tollcast_events::tip::{TipReceipt, TipRequest, tip_endpoints};
use tollcast_events::{Price, StreamAddress};
use tollcast_wire::stream::Receipt;

fn stream(k: &Keys) -> StreamAddress {
    StreamAddress::new(k.public_key(), "show")
}

fn receipt_pair(creator: &Keys, payer: &Keys, agent: &Keys, amount: u64) -> (Event, [u8; 32]) {
    let req = TipRequest {
        recipient: creator.public_key(),
        stream: stream(creator),
        amount: Price::new(amount, "USD", 6),
        relays: vec!["ws://127.0.0.1:1".into()],
        message: "bravo".into(),
    }
    .sign(payer, None)
    .unwrap();
    let secret = [9u8; 32];
    let mut nonce = [0u8; 16];
    nonce.copy_from_slice(&req.id.as_bytes()[..16]);
    let sr = Receipt {
        nonce,
        stream_id: 1,
        total_received: amount,
    }
    .sign(&secret);
    let ev = TipReceipt {
        recipient: creator.public_key(),
        payer: payer.public_key(),
        stream: stream(creator),
        request_id: req.id,
        amount: Price::new(amount, "USD", 6),
        ilp_address: "test.c.tips.abc".into(),
        stream_receipt: sr.to_vec(),
        request: req,
        message: "bravo".into(),
    }
    .sign(agent, None)
    .unwrap();
    (ev, secret)
}

#[test]
fn tip_receipt_round_trip_and_checks() {
    let (creator, payer, agent) = (Keys::generate(), Keys::generate(), Keys::generate());
    let (ev, secret) = receipt_pair(&creator, &payer, &agent, 1234);
    let r = TipReceipt::from_event(&ev).unwrap();
    assert_eq!(r.amount.amount, 1234);
    assert_eq!(r.payer, payer.public_key());
    assert_eq!(r.message, "bravo");
    r.check_issuer(&ev.pubkey, &[agent.public_key()]).unwrap();
    assert!(
        r.check_issuer(&ev.pubkey, &[]).is_err(),
        "an undeclared agent is not trusted"
    );
    r.check_issuer(&creator.public_key(), &[]).unwrap();
    assert_eq!(r.verify_stream_receipt(&secret).unwrap().1, 1);
    assert!(r.verify_stream_receipt(&[0; 32]).is_err());
    // Same event re-signed with a different amount than the STREAM receipt: caught by the auditor.
    let mut other = r.clone();
    other.amount.amount = 99_999;
    let forged = other.sign(&agent, None).unwrap();
    let f = TipReceipt::from_event(&forged).unwrap();
    assert!(f.verify_stream_receipt(&secret).is_err());
    // A request for another creator embedded in the receipt is refused.
    let mut wrong = r.clone();
    wrong.recipient = Keys::generate().public_key();
    assert!(TipReceipt::from_event(&wrong.sign(&agent, None).unwrap()).is_err());
}

#[test]
fn tip_request_refusals() {
    let (creator, payer) = (Keys::generate(), Keys::generate());
    let ok = TipRequest {
        recipient: creator.public_key(),
        stream: stream(&creator),
        amount: Price::new(5, "USD", 6),
        relays: vec![],
        message: String::new(),
    };
    TipRequest::from_event(&ok.sign(&payer, None).unwrap()).unwrap();
    let mut zero = ok.clone();
    zero.amount.amount = 0;
    assert!(TipRequest::from_event(&zero.sign(&payer, None).unwrap()).is_err());
    let mut other_stream = ok.clone();
    other_stream.stream = stream(&Keys::generate());
    assert!(TipRequest::from_event(&other_stream.sign(&payer, None).unwrap()).is_err());
    let mut tampered = ok.sign(&payer, None).unwrap();
    tampered.content = "changed".into();
    assert!(TipRequest::from_event(&tampered).is_err());
}

#[test]
fn reaction_labels_and_lists_round_trip() {
    let (creator, m1, m2) = (Keys::generate(), Keys::generate(), Keys::generate());
    let s = stream(&creator);
    let line = EventBuilder::new(Kind::from(1311), "hi")
        .finalize(&m1)
        .unwrap();
    let r = Reaction {
        target: line.id,
        target_author: m1.public_key(),
        target_kind: 1311,
        stream: s.clone(),
        content: "🔥".into(),
    };
    assert_eq!(
        Reaction::from_event(&r.sign(&m2, None).unwrap()).unwrap(),
        r
    );

    let p = TakedownProposal {
        stream: s.clone(),
        threshold: 2,
        panel: vec![m1.public_key(), m2.public_key()],
        reason: "3 reports".into(),
    };
    let pe = p.sign(&m1, None).unwrap();
    assert_eq!(TakedownProposal::from_event(&pe).unwrap(), p);
    assert!(
        TakedownVote::from_event(&pe).is_err(),
        "a proposal is not a vote"
    );
    assert!(Appeal::from_event(&pe).is_err());

    let a = Appeal {
        stream: s.clone(),
        argument: "context".into(),
    };
    assert_eq!(
        Appeal::from_event(&a.sign(&creator, None).unwrap()).unwrap(),
        a
    );
    let v = TakedownVote {
        stream: s.clone(),
        event: None,
        vote: Vote::Keep,
        reason: "appeal heard".into(),
    };
    assert!(Appeal::from_event(&v.sign(&m1, None).unwrap()).is_err());

    for down in [true, false] {
        let n = TakedownNotice {
            stream: s.clone(),
            taken_down: down,
            moderators: vec![m1.public_key()],
            reason: "{}".into(),
        };
        assert_eq!(
            TakedownNotice::from_event(&n.sign(&m2, None).unwrap()).unwrap(),
            n
        );
    }

    let mute = MuteList {
        stream: None,
        pubkeys: vec![m1.public_key()],
        words: vec!["spam".into()],
    };
    let me = mute.sign(&creator, None).unwrap();
    assert_eq!(me.kind.as_u16(), 10000);
    assert_eq!(MuteList::from_event(&me).unwrap(), mute);
    let block = MuteList {
        stream: Some(s.clone()),
        ..mute.clone()
    };
    let be = block.sign(&creator, None).unwrap();
    assert_eq!(be.kind.as_u16(), 30000);
    assert_eq!(MuteList::from_event(&be).unwrap(), block);
    // A kind-30000 set that is not a block set is refused.
    let other = EventBuilder::new(Kind::from(30000), "")
        .tag(Tag::parse(["d", "friends"]).unwrap())
        .finalize(&creator)
        .unwrap();
    assert!(MuteList::from_event(&other).is_err());
}

#[test]
fn tip_endpoints_from_the_live_event() {
    let creator = Keys::generate();
    let agent = Keys::generate();
    let live = EventBuilder::new(Kind::from(30311), "")
        .tag(Tag::parse(["d", "show"]).unwrap())
        .tag(Tag::parse(["tip", "http://127.0.0.1:9/", &agent.public_key().to_hex()]).unwrap())
        .tag(Tag::parse(["tip", "http://127.0.0.1:10/", "not-a-key"]).unwrap())
        .finalize(&creator)
        .unwrap();
    let eps = tip_endpoints(&live);
    assert_eq!(eps.len(), 2);
    assert_eq!(eps[0].1, Some(agent.public_key()));
    assert_eq!(eps[1].1, None);
}

#[test]
fn junk_tags_never_panic() {
    let k = Keys::generate();
    let shapes: &[&[&str]] = &[
        &["a"],
        &["a", "30311:zz:d"],
        &["p", "00"],
        &["amount", "x", "USD", "6"],
        &["amount", "1", "U S D", "99"],
        &["stream_receipt", "zz"],
        &["description", "{not json"],
        &["l", "proposal"],
        &["threshold", "0"],
        &["e", "nothex"],
        &["k", "99999999"],
    ];
    for kind in [7u16, 1985, 9736, 9737, 10000, 30000] {
        for s in shapes {
            let ev = EventBuilder::new(Kind::from(kind), "x")
                .tag(Tag::parse(s.iter().copied()).unwrap())
                .finalize(&k)
                .unwrap();
            let _ = TipRequest::from_event(&ev);
            let _ = TipReceipt::from_event(&ev);
            let _ = Reaction::from_event(&ev);
            let _ = TakedownProposal::from_event(&ev);
            let _ = Appeal::from_event(&ev);
            let _ = TakedownNotice::from_event(&ev);
            let _ = MuteList::from_event(&ev);
        }
    }
}
