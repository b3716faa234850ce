//! Payment-channel claims: valid claims credit exactly once; forged, replayed, rolled-back,
//! foreign and malformed claims are refused and change nothing.

use nostr::key::Keys;
use tollcast_ledger::{
    AccountConfig, ChannelId, ChannelRole, Claim, ClaimError, Ledger, LedgerError,
};

struct Pair {
    payer_keys: Keys,
    payer: Ledger,
    payee: Ledger,
}

/// Payer ledger has account "payee" with a Payer channel; payee ledger has account "payer"
/// with the matching Payee channel.
fn pair() -> Pair {
    let payer_keys = Keys::generate();
    let payee_keys = Keys::generate();
    let payer = Ledger::temporary().unwrap();
    let payee = Ledger::temporary().unwrap();
    payer
        .create_account("payee", AccountConfig::credit("USD", 6, 10_000))
        .unwrap();
    payee
        .create_account("payer", AccountConfig::credit("USD", 6, 10_000))
        .unwrap();
    let (p, q) = (
        payer_keys.public_key().to_bytes(),
        payee_keys.public_key().to_bytes(),
    );
    payer
        .open_channel("payee", ChannelRole::Payer, p, q, None)
        .unwrap();
    payee
        .open_channel("payer", ChannelRole::Payee, p, q, None)
        .unwrap();
    Pair {
        payer_keys,
        payer,
        payee,
    }
}

/// Everything observable about the payee side, to prove "nothing changed".
fn snapshot(l: &Ledger) -> String {
    format!(
        "{:?}|{:?}|{:?}",
        l.accounts().unwrap(),
        l.channels().unwrap(),
        l.journal(1, usize::MAX).unwrap()
    )
}

fn assert_refused(l: &Ledger, claim: &Claim, want: fn(&ClaimError) -> bool) {
    let before = snapshot(l);
    match l.receive_claim("payer", claim) {
        Err(LedgerError::Claim(e)) if want(&e) => {}
        other => panic!("expected a claim error, got {other:?}"),
    }
    assert_eq!(before, snapshot(l), "a refused claim changed the ledger");
    l.audit().unwrap();
}

#[test]
fn valid_claims_credit_the_difference_once() {
    let p = pair();
    let c1 = p
        .payer
        .send_claim("payee", 100, &p.payer_keys, "k1")
        .unwrap();
    assert_eq!(c1.receipt.account.balance, -100);
    assert_eq!((c1.claim.cumulative, c1.claim.seq), (100, 1));
    let c2 = p
        .payer
        .send_claim("payee", 50, &p.payer_keys, "k2")
        .unwrap();
    assert_eq!((c2.claim.cumulative, c2.claim.seq), (150, 2));

    // The payee only sees the second one: it credits the full cumulative.
    let r = p.payee.receive_claim("payer", &c2.claim).unwrap();
    assert_eq!(r.credited, 150);
    assert_eq!(r.receipt.account.balance, 150);
    // Identical duplicate: accepted, nothing credited.
    let before = snapshot(&p.payee);
    let r = p.payee.receive_claim("payer", &c2.claim).unwrap();
    assert_eq!(r.credited, 0);
    assert!(r.receipt.is_replay());
    assert_eq!(before, snapshot(&p.payee));
    // Bilateral balances cancel out.
    let a = p.payer.account("payee").unwrap().unwrap().balance;
    let b = p.payee.account("payer").unwrap().unwrap().balance;
    assert_eq!(a + b, 0);
    // Repeating a settlement with the same idempotency key pays nothing more.
    let again = p
        .payer
        .send_claim("payee", 50, &p.payer_keys, "k2")
        .unwrap();
    assert_eq!(again.claim, c2.claim);
    assert!(again.receipt.is_replay());
    assert_eq!(p.payer.account("payee").unwrap().unwrap().balance, -150);
    // The same key for a different amount is refused.
    assert!(matches!(
        p.payer.send_claim("payee", 51, &p.payer_keys, "k2"),
        Err(LedgerError::IdempotencyConflict(_))
    ));
    p.payer.audit().unwrap();
    p.payee.audit().unwrap();
}

#[test]
fn replayed_and_rolled_back_claims_are_refused() {
    let p = pair();
    let c1 = p
        .payer
        .send_claim("payee", 100, &p.payer_keys, "k1")
        .unwrap()
        .claim;
    let c2 = p
        .payer
        .send_claim("payee", 100, &p.payer_keys, "k2")
        .unwrap()
        .claim;
    p.payee.receive_claim("payer", &c2).unwrap();
    // Replay of an older claim.
    assert_refused(&p.payee, &c1, |e| matches!(e, ClaimError::Stale { .. }));
    // A validly signed claim with a higher seq but lower cumulative (rollback).
    let ch = c2.channel_id;
    let rollback = Claim::sign(&p.payer_keys, ch, "USD", 6, 150, 3).unwrap();
    assert_refused(&p.payee, &rollback, |e| {
        matches!(e, ClaimError::Stale { .. })
    });
    // Same seq, different amount.
    let same_seq = Claim::sign(&p.payer_keys, ch, "USD", 6, 500, 2).unwrap();
    assert_refused(&p.payee, &same_seq, |e| {
        matches!(e, ClaimError::Stale { .. })
    });
    // Equal cumulative with a higher seq credits nothing and is refused.
    let equal = Claim::sign(&p.payer_keys, ch, "USD", 6, 200, 4).unwrap();
    assert_refused(&p.payee, &equal, |e| matches!(e, ClaimError::Stale { .. }));
    // A proper next claim still works after all the refusals.
    let next = Claim::sign(&p.payer_keys, ch, "USD", 6, 260, 5).unwrap();
    assert_eq!(p.payee.receive_claim("payer", &next).unwrap().credited, 60);
}

#[test]
fn forged_and_foreign_claims_are_refused() {
    let p = pair();
    let good = p
        .payer
        .send_claim("payee", 100, &p.payer_keys, "k1")
        .unwrap()
        .claim;

    // Flipped signature bit.
    let mut forged = good.clone();
    forged.signature[10] ^= 1;
    assert_refused(&p.payee, &forged, |e| matches!(e, ClaimError::BadSignature));
    // Amount raised after signing.
    let mut inflated = good.clone();
    inflated.cumulative = 1_000_000;
    assert_refused(&p.payee, &inflated, |e| {
        matches!(e, ClaimError::BadSignature)
    });
    // Signed by somebody else (claiming to be them).
    let mallory = Keys::generate();
    let other = Claim::sign(&mallory, good.channel_id, "USD", 6, 100, 1).unwrap();
    assert_refused(&p.payee, &other, |e| {
        matches!(e, ClaimError::WrongSigner { .. })
    });
    // Somebody else's signature, but our payer's key in the signer field.
    let mut spoofed = other.clone();
    spoofed.signer = good.signer;
    assert_refused(&p.payee, &spoofed, |e| {
        matches!(e, ClaimError::BadSignature)
    });
    // A valid claim of a different channel (same payer, another payee).
    let elsewhere = ChannelId::derive(&good.signer, &[7u8; 32], "USD", 6);
    let foreign = Claim::sign(&p.payer_keys, elsewhere, "USD", 6, 100, 1).unwrap();
    assert_refused(&p.payee, &foreign, |e| {
        matches!(e, ClaimError::WrongChannel { .. })
    });
    // Right channel, wrong asset.
    let asset = Claim::sign(&p.payer_keys, good.channel_id, "EUR", 6, 100, 1).unwrap();
    assert_refused(&p.payee, &asset, |e| {
        matches!(e, ClaimError::AssetMismatch { .. })
    });
    let scale = Claim::sign(&p.payer_keys, good.channel_id, "USD", 9, 100, 1).unwrap();
    assert_refused(&p.payee, &scale, |e| {
        matches!(e, ClaimError::AssetMismatch { .. })
    });
    // The genuine claim still works.
    assert_eq!(p.payee.receive_claim("payer", &good).unwrap().credited, 100);
}

#[test]
fn claim_without_channel_or_account_is_refused() {
    let p = pair();
    let good = p
        .payer
        .send_claim("payee", 100, &p.payer_keys, "k1")
        .unwrap()
        .claim;
    assert!(matches!(
        p.payee.receive_claim("nobody", &good),
        Err(LedgerError::UnknownAccount(_))
    ));
    p.payee
        .create_account("stranger", AccountConfig::prepaid("USD", 6))
        .unwrap();
    assert!(matches!(
        p.payee.receive_claim("stranger", &good),
        Err(LedgerError::NoChannel(_))
    ));
    // Signing with the wrong keys is refused on the payer side too, without a change.
    let before = snapshot(&p.payer);
    assert!(
        p.payer
            .send_claim("payee", 5, &Keys::generate(), "k9")
            .is_err()
    );
    assert_eq!(before, snapshot(&p.payer));
}

#[test]
fn capacity_bounds_the_cumulative_amount() {
    let payer_keys = Keys::generate();
    let payee_keys = Keys::generate();
    let l = Ledger::temporary().unwrap();
    l.create_account("x", AccountConfig::prepaid("USD", 2))
        .unwrap();
    let (p, q) = (
        payer_keys.public_key().to_bytes(),
        payee_keys.public_key().to_bytes(),
    );
    l.open_channel("x", ChannelRole::Payer, p, q, Some(100))
        .unwrap();
    l.send_claim("x", 60, &payer_keys, "a").unwrap();
    assert!(matches!(
        l.send_claim("x", 41, &payer_keys, "b"),
        Err(LedgerError::Claim(ClaimError::OverCapacity { .. }))
    ));
    l.send_claim("x", 40, &payer_keys, "c").unwrap();
    l.audit().unwrap();
}

#[test]
fn encodings_round_trip_and_reject_garbage() {
    let keys = Keys::generate();
    let ch = ChannelId::derive(&[1; 32], &[2; 32], "USD", 6);
    let c = Claim::sign(&keys, ch, "USD", 6, u64::MAX, 42).unwrap();
    let json = c.to_json();
    assert!(
        json.contains(&format!("\"cumulative\":\"{}\"", u64::MAX)),
        "{json}"
    );
    assert_eq!(Claim::from_json(json.as_bytes()).unwrap(), c);
    assert_eq!(Claim::from_bytes(&c.to_bytes()).unwrap(), c);
    assert_eq!(serde_json::from_str::<Claim>(&json).unwrap(), c);
    c.verify(&keys.public_key().to_bytes()).unwrap();

    let bytes = c.to_bytes();
    for n in 0..bytes.len() {
        assert!(Claim::from_bytes(&bytes[..n]).is_err(), "truncated at {n}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Claim::from_bytes(&trailing).is_err());
    let mut version = bytes.clone();
    version[0] = 2;
    assert!(Claim::from_bytes(&version).is_err());
    for bad in [
        json.replace("\"cumulative\":\"", "\"cumulative\":\"-"),
        json.replace("\"cumulative\":\"", "\"cumulative\":\"1"),
        json.replace("\"seq\":42", "\"seq\":-1"),
        json.replace(&c.channel_id.to_hex(), "zz"),
        json.replace("}", ",\"extra\":1}"),
        "{}".to_string(),
        "not json".to_string(),
    ] {
        assert!(Claim::from_json(bad.as_bytes()).is_err(), "accepted {bad}");
    }
}

#[test]
fn digest_layout_is_stable() {
    // Pin the documented byte layout: SHA-256("tollcast-claim-v1" || channel || 3 "USD" || 6 ||
    // be64 cumulative || be64 seq).
    use sha2::{Digest, Sha256};
    let ch = ChannelId([9u8; 32]);
    let mut h = Sha256::new();
    h.update(b"tollcast-claim-v1");
    h.update([9u8; 32]);
    h.update([3u8]);
    h.update(b"USD");
    h.update([6u8]);
    h.update(1234u64.to_be_bytes());
    h.update(7u64.to_be_bytes());
    let want: [u8; 32] = h.finalize().into();
    assert_eq!(Claim::digest(&ch, "USD", 6, 1234, 7), want);
}

proptest::proptest! {
    /// Arbitrary bytes never panic the parsers.
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let _ = Claim::from_bytes(&bytes);
        let _ = Claim::from_json(&bytes);
        let _ = tollcast_ledger::EngineMessage::from_bytes(&bytes);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Claims delivered late, out of order and duplicated: the payee ends up credited exactly the
    /// highest cumulative it accepted, never more, and each refused delivery changed nothing.
    #[test]
    fn reordered_and_duplicated_claims_credit_exactly_once(
        amounts in proptest::collection::vec(1..1_000u64, 1..12),
        order in proptest::collection::vec(0..64usize, 1..40),
    ) {
        let p = pair();
        let claims: Vec<Claim> = amounts
            .iter()
            .enumerate()
            .map(|(i, a)| p.payer.send_claim("payee", *a, &p.payer_keys, &format!("k{i}")).unwrap().claim)
            .collect();
        let mut best = 0u64;
        let mut credited = 0u64;
        for i in order {
            let c = &claims[i % claims.len()];
            let before = p.payee.last_journal_id().unwrap();
            match p.payee.receive_claim("payer", c) {
                Ok(r) => {
                    proptest::prop_assert!(c.cumulative >= best);
                    credited += r.credited;
                    best = c.cumulative;
                }
                Err(_) => {
                    proptest::prop_assert!(c.cumulative < best);
                    proptest::prop_assert_eq!(before, p.payee.last_journal_id().unwrap());
                }
            }
        }
        proptest::prop_assert_eq!(credited, best);
        let bal = p.payee.account("payer").unwrap().unwrap().balance;
        proptest::prop_assert_eq!(bal, i128::from(best));
        p.payee.audit().unwrap();
    }
}
