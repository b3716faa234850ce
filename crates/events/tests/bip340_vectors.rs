//! BIP-340 test vectors (bitcoin/bips `bip-0340/test-vectors.csv`, 19 rows) through the
//! secp256k1 0.30 crate that `nostr` 0.45.6 signs and verifies with (the public key is parsed
//! by `nostr` and handed to secp256k1 as its own x-only key type, so both are the same crate).
//! Rows with a secret key are signed with their aux_rand and must reproduce the signature;
//! every row is verified and must give the expected TRUE/FALSE.

mod common;

use secp256k1::{Keypair, Secp256k1, XOnlyPublicKey, schnorr::Signature};

#[test]
fn bip340_vectors() {
    let csv = std::fs::read_to_string(common::vectors_dir().join("nostr/bip340-test-vectors.csv"))
        .unwrap();
    let secp = Secp256k1::new();
    let (mut pass, mut total, mut signed) = (0, 0, 0);
    let mut failures = Vec::new();
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let (idx, sk, pk, aux, msg, sig, expect) =
            (f[0], f[1], f[2], f[3], f[4], f[5], f[6] == "TRUE");
        total += 1;
        let msg = hex::decode(msg).unwrap();
        let sig_bytes = hex::decode(sig).unwrap();
        let mut ok = true;
        if !sk.is_empty() {
            signed += 1;
            let kp = Keypair::from_seckey_slice(&secp, &hex::decode(sk).unwrap()).unwrap();
            let aux: [u8; 32] = hex::decode(aux).unwrap().try_into().unwrap();
            let produced = secp.sign_schnorr_with_aux_rand(&msg, &kp, &aux);
            if produced.to_byte_array().as_slice() != sig_bytes.as_slice() {
                ok = false;
                failures.push(format!("row {idx}: signature differs"));
            }
            if kp.x_only_public_key().0.serialize().as_slice()
                != hex::decode(pk).unwrap().as_slice()
            {
                ok = false;
                failures.push(format!("row {idx}: public key differs"));
            }
        }
        // Public key via nostr (rejects points not on the curve), signature via secp256k1.
        let verified =
            match nostr::prelude::PublicKey::from_hex(&pk.to_lowercase()).map(|k| k.xonly()) {
                Ok(Ok(xonly)) => {
                    let xonly: XOnlyPublicKey = xonly;
                    match Signature::from_slice(&sig_bytes) {
                        Ok(s) => secp.verify_schnorr(&s, &msg, &xonly).is_ok(),
                        Err(_) => false,
                    }
                }
                _ => false,
            };
        if verified != expect {
            ok = false;
            failures.push(format!(
                "row {idx}: verify gave {verified}, expected {expect}"
            ));
        }
        if ok {
            pass += 1;
        }
    }
    println!("CONFORMANCE bip340: {pass}/{total} ({signed} signed with aux_rand, all verified)");
    assert_eq!(total, 19);
    assert_eq!(signed, 8);
    assert!(failures.is_empty(), "{failures:?}");
}
