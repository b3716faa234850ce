//! Payment-channel claims: signed, cumulative, never-decreasing balance proofs.
//!
//! A channel has one payer and one payee (two channels per peering, one each way). The payer
//! signs a claim saying "in channel C I have transferred `cumulative` base units of asset
//! A/scale in total, this is my `seq`-th claim". Because claims are cumulative, the payee only
//! needs the latest one, a lost claim is covered by the next one, and a replayed or rolled-back
//! claim is recognized by its lower `seq`/`cumulative`.
//!
//! # Channel id
//!
//! ```text
//! channel_id = SHA-256( "tollcast-channel-v1"          (19 ASCII bytes)
//!                    || payer x-only public key        (32 bytes, BIP-340)
//!                    || payee x-only public key        (32 bytes)
//!                    || len(asset_code) as u8 || asset_code (UTF-8)
//!                    || asset_scale as u8 )
//! ```
//!
//! # Signed message
//!
//! ```text
//! digest = SHA-256( "tollcast-claim-v1"                (17 ASCII bytes)
//!                || channel_id                        (32 bytes)
//!                || len(asset_code) as u8 || asset_code (UTF-8, 1..=16 bytes)
//!                || asset_scale as u8
//!                || cumulative as u64 big-endian      (8 bytes)
//!                || seq as u64 big-endian             (8 bytes) )
//! signature = BIP-340 Schnorr signature of the 32-byte digest by the payer's key (64 bytes)
//! ```
//!
//! # Encodings
//!
//! JSON (inside an [`EngineMessage`](crate::EngineMessage) `{"type":"claim","claim":{..}}` sent
//! as BTP protocolData [`PROTOCOL_DATA_NAME`](crate::PROTOCOL_DATA_NAME), or as Nostr event
//! content): `{"channelId":hex64,"assetCode":str,"assetScale":u8,"cumulative":"decimal",
//! "seq":u64,"signer":hex64,"signature":hex128}`. `cumulative` is a decimal string because JSON
//! numbers lose precision above 2^53.
//!
//! Compact bytes: `0x01 (version) || channel_id (32) || len(asset_code) u8 || asset_code ||
//! asset_scale u8 || cumulative u64 BE || seq u64 BE || signer (32) || signature (64)`.

use std::sync::LazyLock;

use secp256k1::{Secp256k1, VerifyOnly, XOnlyPublicKey, schnorr};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ClaimError;

static SECP: LazyLock<Secp256k1<VerifyOnly>> = LazyLock::new(Secp256k1::verification_only);

const CHANNEL_TAG: &[u8] = b"tollcast-channel-v1";
const CLAIM_TAG: &[u8] = b"tollcast-claim-v1";
const COMPACT_VERSION: u8 = 1;

/// A 32-byte payment-channel id (see the module doc for its derivation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub [u8; 32]);

impl ChannelId {
    /// Derive the id of the channel from `payer` to `payee` in one asset.
    pub fn derive(payer: &[u8; 32], payee: &[u8; 32], asset_code: &str, asset_scale: u8) -> Self {
        let mut h = Sha256::new();
        h.update(CHANNEL_TAG);
        h.update(payer);
        h.update(payee);
        h.update([asset_code.len() as u8]);
        h.update(asset_code.as_bytes());
        h.update([asset_scale]);
        ChannelId(h.finalize().into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Self, ClaimError> {
        Ok(ChannelId(hex32(s, "channelId")?))
    }
}

impl std::fmt::Display for ChannelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelId({})", self.to_hex())
    }
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32], ClaimError> {
    let v = hex::decode(s).map_err(|e| ClaimError::Malformed(format!("{what}: {e}")))?;
    v.try_into()
        .map_err(|_| ClaimError::Malformed(format!("{what} must be 32 bytes")))
}

/// A signed balance proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub channel_id: ChannelId,
    pub asset_code: String,
    pub asset_scale: u8,
    /// Total transferred in this channel so far, in base units. Never decreases.
    pub cumulative: u64,
    /// Claim sequence number; each new claim has a higher one.
    pub seq: u64,
    /// The payer's x-only public key (BIP-340), 32 bytes.
    pub signer: [u8; 32],
    /// BIP-340 Schnorr signature over [`Claim::digest`], 64 bytes.
    pub signature: [u8; 64],
}

/// JSON form of a claim (see the module doc).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClaimJson {
    channel_id: String,
    asset_code: String,
    asset_scale: u8,
    cumulative: String,
    seq: u64,
    signer: String,
    signature: String,
}

fn check_asset_code(code: &str) -> Result<(), ClaimError> {
    if code.is_empty() || code.len() > 16 {
        return Err(ClaimError::Malformed(
            "asset code must be 1 to 16 bytes".into(),
        ));
    }
    Ok(())
}

impl Claim {
    /// The 32-byte digest the payer signs (layout in the module doc).
    pub fn digest(
        channel_id: &ChannelId,
        asset_code: &str,
        asset_scale: u8,
        cumulative: u64,
        seq: u64,
    ) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(CLAIM_TAG);
        h.update(channel_id.0);
        h.update([asset_code.len() as u8]);
        h.update(asset_code.as_bytes());
        h.update([asset_scale]);
        h.update(cumulative.to_be_bytes());
        h.update(seq.to_be_bytes());
        h.finalize().into()
    }

    /// Sign a claim with the payer's keys.
    pub fn sign(
        keys: &nostr::key::Keys,
        channel_id: ChannelId,
        asset_code: &str,
        asset_scale: u8,
        cumulative: u64,
        seq: u64,
    ) -> Result<Claim, ClaimError> {
        check_asset_code(asset_code)?;
        let digest = Self::digest(&channel_id, asset_code, asset_scale, cumulative, seq);
        let sig = keys.sign_schnorr(digest);
        Ok(Claim {
            channel_id,
            asset_code: asset_code.to_string(),
            asset_scale,
            cumulative,
            seq,
            signer: keys.public_key().to_bytes(),
            signature: sig.to_bytes(),
        })
    }

    /// Check the signature against `expected_signer` (the channel's payer key).
    pub fn verify(&self, expected_signer: &[u8; 32]) -> Result<(), ClaimError> {
        if &self.signer != expected_signer {
            return Err(ClaimError::WrongSigner {
                expected: hex::encode(expected_signer),
                got: hex::encode(self.signer),
            });
        }
        check_asset_code(&self.asset_code)?;
        let pk = XOnlyPublicKey::from_byte_array(expected_signer)
            .map_err(|_| ClaimError::Malformed("signer is not a valid x-only public key".into()))?;
        let sig = schnorr::Signature::from_byte_array(self.signature);
        let digest = Self::digest(
            &self.channel_id,
            &self.asset_code,
            self.asset_scale,
            self.cumulative,
            self.seq,
        );
        SECP.verify_schnorr(&sig, &digest, &pk)
            .map_err(|_| ClaimError::BadSignature)
    }

    /// JSON text (see the module doc).
    pub fn to_json(&self) -> String {
        let j = ClaimJson {
            channel_id: self.channel_id.to_hex(),
            asset_code: self.asset_code.clone(),
            asset_scale: self.asset_scale,
            cumulative: self.cumulative.to_string(),
            seq: self.seq,
            signer: hex::encode(self.signer),
            signature: hex::encode(self.signature),
        };
        serde_json::to_string(&j).unwrap_or_default()
    }

    /// Parse JSON text; structure only (call [`Claim::verify`] or let the ledger verify).
    pub fn from_json(s: &[u8]) -> Result<Claim, ClaimError> {
        let j: ClaimJson =
            serde_json::from_slice(s).map_err(|e| ClaimError::Malformed(e.to_string()))?;
        check_asset_code(&j.asset_code)?;
        if j.cumulative.is_empty() || !j.cumulative.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ClaimError::Malformed(
                "cumulative must be a decimal string".into(),
            ));
        }
        let cumulative = j
            .cumulative
            .parse::<u64>()
            .map_err(|e| ClaimError::Malformed(format!("cumulative: {e}")))?;
        let sig = hex::decode(&j.signature)
            .map_err(|e| ClaimError::Malformed(format!("signature: {e}")))?;
        Ok(Claim {
            channel_id: ChannelId::from_hex(&j.channel_id)?,
            asset_code: j.asset_code,
            asset_scale: j.asset_scale,
            cumulative,
            seq: j.seq,
            signer: hex32(&j.signer, "signer")?,
            signature: sig
                .try_into()
                .map_err(|_| ClaimError::Malformed("signature must be 64 bytes".into()))?,
        })
    }

    /// Compact binary form (see the module doc).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(1 + 32 + 1 + self.asset_code.len() + 1 + 16 + 96);
        v.push(COMPACT_VERSION);
        v.extend_from_slice(&self.channel_id.0);
        v.push(self.asset_code.len() as u8);
        v.extend_from_slice(self.asset_code.as_bytes());
        v.push(self.asset_scale);
        v.extend_from_slice(&self.cumulative.to_be_bytes());
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.signer);
        v.extend_from_slice(&self.signature);
        v
    }

    /// Parse the compact binary form; rejects trailing bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Claim, ClaimError> {
        let mut r = Reader(b);
        if r.take(1)?[0] != COMPACT_VERSION {
            return Err(ClaimError::Malformed(
                "unknown claim encoding version".into(),
            ));
        }
        let channel_id = ChannelId(r.array()?);
        let len = r.take(1)?[0] as usize;
        let code = std::str::from_utf8(r.take(len)?)
            .map_err(|_| ClaimError::Malformed("asset code is not UTF-8".into()))?
            .to_string();
        check_asset_code(&code)?;
        let asset_scale = r.take(1)?[0];
        let cumulative = u64::from_be_bytes(r.array()?);
        let seq = u64::from_be_bytes(r.array()?);
        let signer = r.array()?;
        let signature = r.array()?;
        if !r.0.is_empty() {
            return Err(ClaimError::Malformed("trailing bytes after claim".into()));
        }
        Ok(Claim {
            channel_id,
            asset_code: code,
            asset_scale,
            cumulative,
            seq,
            signer,
            signature,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ClaimError> {
        if self.0.len() < n {
            return Err(ClaimError::Malformed("claim is truncated".into()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ClaimError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
}

impl Serialize for Claim {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ClaimJson {
            channel_id: self.channel_id.to_hex(),
            asset_code: self.asset_code.clone(),
            asset_scale: self.asset_scale,
            cumulative: self.cumulative.to_string(),
            seq: self.seq,
            signer: hex::encode(self.signer),
            signature: hex::encode(self.signature),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Claim {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let bytes = serde_json::to_vec(&v).map_err(serde::de::Error::custom)?;
        Claim::from_json(&bytes).map_err(serde::de::Error::custom)
    }
}
