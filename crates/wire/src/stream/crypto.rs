//! STREAM cryptography (RFC 0029 §5.1 and §6): key derivation from the shared secret,
//! the AES-256-GCM envelope `nonce (12) || tag (16) || ciphertext`, and the
//! HMAC-SHA256 fulfillment / SHA-256 condition of each ILP Prepare.
//!
//! The envelope order (tag *before* ciphertext) is the one ilp-protocol-stream and
//! interledger-rs put on the wire; AES-GCM libraries append the tag, so it is moved here.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit, Nonce, Tag};
use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::error::StreamError;

/// Length of the random AES-GCM nonce (IV) at the start of every envelope.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM authentication tag that follows the nonce.
pub const TAG_LEN: usize = 16;
/// Bytes the envelope adds to a plaintext STREAM packet (nonce + tag).
pub const ENCRYPTION_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

const ENCRYPTION_KEY_STRING: &[u8] = b"ilp_stream_encryption";
const FULFILLMENT_KEY_STRING: &[u8] = b"ilp_stream_fulfillment";

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `message` under `key` (any key length, as in RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `data`; the ILP condition of a fulfillment is `sha256(fulfillment)`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// `encryption_key = HMAC-SHA256(shared_secret, "ilp_stream_encryption")`.
pub fn encryption_key(shared_secret: &[u8]) -> [u8; 32] {
    hmac_sha256(shared_secret, ENCRYPTION_KEY_STRING)
}

/// `fulfillment_key = HMAC-SHA256(shared_secret, "ilp_stream_fulfillment")`.
pub fn fulfillment_key(shared_secret: &[u8]) -> [u8; 32] {
    hmac_sha256(shared_secret, FULFILLMENT_KEY_STRING)
}

/// The ILP condition for a fulfillment: `SHA-256(fulfillment)`.
pub fn condition_for_fulfillment(fulfillment: &[u8; 32]) -> [u8; 32] {
    sha256(fulfillment)
}

/// A random, unfulfillable condition (RFC 0029 §6.1), e.g. for exchange-rate probes.
pub fn random_condition() -> [u8; 32] {
    rand::random()
}

/// The per-connection keys derived once from a shared secret.
///
/// Holds the expanded AES-256 key schedule and the keyed HMAC state, so encrypting,
/// decrypting and computing fulfillments does no key setup per packet.
#[derive(Clone)]
pub struct StreamKeys {
    encryption_key: [u8; 32],
    fulfillment_key: [u8; 32],
    cipher: Aes256Gcm,
    fulfillment_mac: HmacSha256,
}

impl std::fmt::Debug for StreamKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamKeys(..)")
    }
}

impl StreamKeys {
    /// Derives the encryption and fulfillment keys from a connection's shared secret
    /// (32 bytes is usual; any length is accepted, as in the JS reference).
    pub fn from_shared_secret(shared_secret: &[u8]) -> Self {
        Self::from_keys(
            encryption_key(shared_secret),
            fulfillment_key(shared_secret),
        )
    }

    /// Builds keys from already derived encryption and fulfillment keys.
    pub fn from_keys(encryption_key: [u8; 32], fulfillment_key: [u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&encryption_key.into()),
            fulfillment_mac: <HmacSha256 as KeyInit>::new_from_slice(&fulfillment_key)
                .expect("HMAC accepts any key length"),
            encryption_key,
            fulfillment_key,
        }
    }

    /// The AES-256-GCM key (`HMAC-SHA256(shared_secret, "ilp_stream_encryption")`).
    pub fn encryption_key(&self) -> &[u8; 32] {
        &self.encryption_key
    }

    /// The fulfillment HMAC key (`HMAC-SHA256(shared_secret, "ilp_stream_fulfillment")`).
    pub fn fulfillment_key(&self) -> &[u8; 32] {
        &self.fulfillment_key
    }

    /// Fulfillment for an ILP Prepare whose `data` is the encrypted STREAM packet:
    /// `HMAC-SHA256(fulfillment_key, data)`.
    pub fn fulfillment(&self, encrypted_data: &[u8]) -> [u8; 32] {
        let mut mac = self.fulfillment_mac.clone();
        mac.update(encrypted_data);
        mac.finalize().into_bytes().into()
    }

    /// Condition for an ILP Prepare carrying `encrypted_data`: `SHA-256(fulfillment)`.
    pub fn condition(&self, encrypted_data: &[u8]) -> [u8; 32] {
        condition_for_fulfillment(&self.fulfillment(encrypted_data))
    }

    /// Encrypts `plaintext` under a fresh random nonce; returns `nonce || tag || ciphertext`.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        self.encrypt_with_nonce(rand::random(), plaintext)
    }

    /// Encrypts with a caller-chosen nonce. A nonce must never repeat under one key;
    /// this exists for known-answer tests and deterministic fixtures.
    pub fn encrypt_with_nonce(&self, nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; ENCRYPTION_OVERHEAD + plaintext.len()];
        let buf = InOutBuf::new(plaintext, &mut out[ENCRYPTION_OVERHEAD..])
            .expect("input and output lengths are equal");
        let tag = self.seal(nonce, buf);
        out[..NONCE_LEN].copy_from_slice(&nonce);
        out[NONCE_LEN..ENCRYPTION_OVERHEAD].copy_from_slice(&tag);
        out
    }

    /// Encrypts in place a buffer whose first [`ENCRYPTION_OVERHEAD`] bytes are reserved
    /// (their content is ignored) and whose rest is the plaintext; fills in nonce and tag.
    ///
    /// This is how [`super::StreamPacket::encrypt_and_encode`] avoids any copy: the packet
    /// is encoded straight after the reserved header and encrypted where it lies.
    ///
    /// # Panics
    /// If `buf` is shorter than [`ENCRYPTION_OVERHEAD`] (a caller bug, never input-driven).
    pub fn encrypt_in_place(&self, buf: &mut [u8]) {
        self.encrypt_in_place_with_nonce(rand::random(), buf)
    }

    /// [`Self::encrypt_in_place`] with a caller-chosen nonce (tests only; never reuse a nonce).
    pub fn encrypt_in_place_with_nonce(&self, nonce: [u8; NONCE_LEN], buf: &mut [u8]) {
        assert!(
            buf.len() >= ENCRYPTION_OVERHEAD,
            "encrypt_in_place needs {ENCRYPTION_OVERHEAD} reserved header bytes"
        );
        let (header, body) = buf.split_at_mut(ENCRYPTION_OVERHEAD);
        let tag = self.seal(nonce, InOutBuf::from(body));
        header[..NONCE_LEN].copy_from_slice(&nonce);
        header[NONCE_LEN..].copy_from_slice(&tag);
    }

    fn seal(&self, nonce: [u8; NONCE_LEN], buf: InOutBuf<'_, '_, u8>) -> [u8; TAG_LEN] {
        // Only fails past GCM's 64 GiB plaintext limit, far above any ILP packet (32 KiB).
        let tag = self
            .cipher
            .encrypt_inout_detached(&Nonce::from(nonce), &[], buf)
            .expect("AES-GCM plaintext within limits");
        tag.into()
    }

    /// Decrypts `nonce || tag || ciphertext` into a new buffer (one pass, no extra copy).
    pub fn decrypt(&self, data: &[u8]) -> Result<Bytes, StreamError> {
        let (nonce, tag, ciphertext) = split_envelope(data)?;
        let mut out = vec![0u8; ciphertext.len()];
        let buf = InOutBuf::new(ciphertext, &mut out).expect("input and output lengths are equal");
        self.cipher
            .decrypt_inout_detached(&nonce, &[], buf, &tag)
            .map_err(|_| StreamError::Decryption)?;
        Ok(Bytes::from(out))
    }

    /// Decrypts an envelope in place and returns the plaintext as a view into the same
    /// allocation (the 28 header bytes are dropped without copying).
    ///
    /// On failure the buffer's content is unspecified (GCM verifies before decrypting, so
    /// in practice it is left untouched).
    pub fn decrypt_in_place(&self, mut data: BytesMut) -> Result<Bytes, StreamError> {
        let (nonce, tag, _) = split_envelope(&data)?;
        let body = &mut data[ENCRYPTION_OVERHEAD..];
        self.cipher
            .decrypt_inout_detached(&nonce, &[], InOutBuf::from(body), &tag)
            .map_err(|_| StreamError::Decryption)?;
        Ok(data.split_off(ENCRYPTION_OVERHEAD).freeze())
    }

    /// Decrypts ILP packet data held in [`Bytes`]: in place when this is the only handle to
    /// the allocation, otherwise through [`Self::decrypt`].
    pub fn decrypt_bytes(&self, data: Bytes) -> Result<Bytes, StreamError> {
        match data.try_into_mut() {
            Ok(owned) => self.decrypt_in_place(owned),
            Err(shared) => self.decrypt(&shared),
        }
    }
}

type SplitEnvelope<'a> = (Nonce<aes_gcm::aead::consts::U12>, Tag, &'a [u8]);

fn split_envelope(data: &[u8]) -> Result<SplitEnvelope<'_>, StreamError> {
    if data.len() < ENCRYPTION_OVERHEAD {
        return Err(StreamError::CiphertextTooShort { len: data.len() });
    }
    let (nonce, rest) = data.split_at(NONCE_LEN);
    let (tag, ciphertext) = rest.split_at(TAG_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
    let tag: [u8; TAG_LEN] = tag.try_into().expect("split at TAG_LEN");
    Ok((Nonce::from(nonce), Tag::from(tag), ciphertext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_paths() {
        let keys = StreamKeys::from_shared_secret(&[7u8; 32]);
        let msg = b"hello stream";
        let sealed = keys.encrypt(msg);
        assert_eq!(sealed.len(), msg.len() + ENCRYPTION_OVERHEAD);
        assert_eq!(&keys.decrypt(&sealed).unwrap()[..], msg);
        assert_eq!(
            &keys.decrypt_in_place(BytesMut::from(&sealed[..])).unwrap()[..],
            msg
        );
        assert_eq!(
            &keys.decrypt_bytes(Bytes::from(sealed.clone())).unwrap()[..],
            msg
        );
        let shared = Bytes::from(sealed);
        let _keep = shared.clone();
        assert_eq!(&keys.decrypt_bytes(shared).unwrap()[..], msg);
    }

    #[test]
    fn failures_are_typed() {
        let keys = StreamKeys::from_shared_secret(b"a");
        let other = StreamKeys::from_shared_secret(b"b");
        let sealed = keys.encrypt(b"x");
        assert_eq!(other.decrypt(&sealed), Err(StreamError::Decryption));
        assert_eq!(
            keys.decrypt(&sealed[..27]),
            Err(StreamError::CiphertextTooShort { len: 27 })
        );
        let mut tampered = sealed.clone();
        tampered[NONCE_LEN] ^= 1;
        assert_eq!(keys.decrypt(&tampered), Err(StreamError::Decryption));
        // An empty plaintext is a valid 28-byte envelope.
        assert!(keys.decrypt(&keys.encrypt(b"")).unwrap().is_empty());
    }
}
