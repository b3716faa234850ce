//! Stateless server credentials, compatible with ilp-protocol-stream 2.x `Server`:
//! a server keeps one 32-byte server secret and hands each client a destination
//! `<server address>.<token>` plus a shared secret derived from the token, so it never
//! stores per-connection secrets.
//!
//! - token plaintext: `nonce (18 random bytes) || var-octets(connection tag, ASCII)
//!   || var-octets(receipt nonce: 0 or 16 bytes) || var-octets(receipt secret: 0 or 32 bytes)`
//! - token = AES-256-GCM under the server secret itself, envelope `iv || tag || ciphertext`,
//!   written in the address as unpadded base64url
//! - shared secret = `HMAC(HMAC(server_secret, "ilp_stream_shared_secret"), token bytes)`
//!
//! The connection tag travels *inside* the encrypted token (not as a visible `~tag`
//! suffix), so only the server can read it.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use bytes::Bytes;

use super::crypto::{ENCRYPTION_OVERHEAD, NONCE_LEN, TAG_LEN, hmac_sha256};
use super::error::StreamError;
use super::oer_io::{self, Reader};

/// Random bytes at the start of every token (ilp-protocol-stream `TOKEN_NONCE_LENGTH`).
pub const TOKEN_NONCE_LEN: usize = 18;
const SHARED_SECRET_STRING: &[u8] = b"ilp_stream_shared_secret";

/// Optional per-connection details sealed into the token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// Application tag (ASCII), e.g. an invoice or viewer id, returned when the token is opened.
    pub connection_tag: Option<String>,
    /// STREAM receipts (RFC 0039): 16-byte nonce and 32-byte secret, both or neither.
    pub receipt: Option<([u8; 16], [u8; 32])>,
}

/// What a client receives: where to pay and the connection's shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionCredentials {
    /// `<server address>.<token>`.
    pub destination_account: String,
    /// The STREAM shared secret for this connection.
    pub shared_secret: [u8; 32],
}

impl std::fmt::Debug for ConnectionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionCredentials")
            .field("destination_account", &self.destination_account)
            .finish_non_exhaustive()
    }
}

/// An opened token: everything the server needs to serve the connection.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionToken {
    /// The shared secret derived from the token.
    pub shared_secret: [u8; 32],
    /// The connection tag sealed in at generation (`None` when empty).
    pub connection_tag: Option<String>,
    /// Receipt nonce and secret, when receipts were enabled.
    pub receipt: Option<([u8; 16], [u8; 32])>,
}

impl std::fmt::Debug for ConnectionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionToken")
            .field("connection_tag", &self.connection_tag)
            .field("receipts", &self.receipt.is_some())
            .finish_non_exhaustive()
    }
}

/// A STREAM server's long-term secret.
#[derive(Clone)]
pub struct ServerSecret {
    cipher: Aes256Gcm,
    shared_secret_key: [u8; 32],
}

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret(..)")
    }
}

impl ServerSecret {
    /// Wraps 32 secret bytes (keep them stable: every issued address depends on them).
    pub fn new(secret: [u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&secret.into()),
            shared_secret_key: hmac_sha256(&secret, SHARED_SECRET_STRING),
        }
    }

    /// A fresh random server secret.
    pub fn random() -> Self {
        Self::new(rand::random())
    }

    /// Issues a destination address under `server_address` and its shared secret
    /// (ilp-protocol-stream `Server#generateAddressAndSecret`).
    pub fn generate_address_and_secret(
        &self,
        server_address: &str,
        opts: &ConnectionOptions,
    ) -> ConnectionCredentials {
        let tag = opts.connection_tag.as_deref().unwrap_or("").as_bytes();
        let (rn, rs): (&[u8], &[u8]) = match &opts.receipt {
            Some((n, s)) => (n, s),
            None => (&[], &[]),
        };
        let plain_len = TOKEN_NONCE_LEN
            + oer_io::var_octets_len(tag.len())
            + oer_io::var_octets_len(rn.len())
            + oer_io::var_octets_len(rs.len());
        let mut token = Vec::with_capacity(ENCRYPTION_OVERHEAD + plain_len);
        token.resize(ENCRYPTION_OVERHEAD, 0);
        token.extend_from_slice(&rand::random::<[u8; TOKEN_NONCE_LEN]>());
        oer_io::write_var_octets(&mut token, tag);
        oer_io::write_var_octets(&mut token, rn);
        oer_io::write_var_octets(&mut token, rs);
        let iv: [u8; NONCE_LEN] = rand::random();
        let (header, body) = token.split_at_mut(ENCRYPTION_OVERHEAD);
        let mac = self
            .cipher
            .encrypt_inout_detached(&Nonce::from(iv), &[], InOutBuf::from(body))
            .expect("token far below the GCM length limit");
        header[..NONCE_LEN].copy_from_slice(&iv);
        header[NONCE_LEN..].copy_from_slice(&mac);
        ConnectionCredentials {
            destination_account: format!("{server_address}.{}", URL_SAFE_NO_PAD.encode(&token)),
            shared_secret: self.shared_secret_for_token(&token),
        }
    }

    /// The shared secret for raw token bytes (no authentication; see [`Self::open_token`]).
    pub fn shared_secret_for_token(&self, token: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.shared_secret_key, token)
    }

    /// Opens the connection token of a destination address (`token` is the address segment
    /// after the server address; base64url or base64, padding optional, as JS accepts).
    pub fn open_token(&self, token: &str) -> Result<ConnectionToken, StreamError> {
        let raw = decode_token(token)?;
        if raw.len() < ENCRYPTION_OVERHEAD {
            return Err(StreamError::InvalidToken("too short"));
        }
        let (iv, rest) = raw.split_at(NONCE_LEN);
        let (mac, ciphertext) = rest.split_at(TAG_LEN);
        let iv: [u8; NONCE_LEN] = iv.try_into().expect("split");
        let mac: [u8; TAG_LEN] = mac.try_into().expect("split");
        let mut plain = vec![0u8; ciphertext.len()];
        let buf = InOutBuf::new(ciphertext, &mut plain).expect("equal lengths");
        self.cipher
            .decrypt_inout_detached(&Nonce::from(iv), &[], buf, &Tag::from(mac))
            .map_err(|_| StreamError::InvalidToken("not issued by this server secret"))?;
        let mut r = Reader::new(Bytes::from(plain));
        if r.remaining() < TOKEN_NONCE_LEN {
            return Err(StreamError::InvalidToken("missing token nonce"));
        }
        for _ in 0..TOKEN_NONCE_LEN {
            r.read_u8("token nonce")?;
        }
        let tag = r.read_var_octets("connection tag")?;
        let connection_tag = if tag.is_empty() {
            None
        } else {
            Some(String::from_utf8_lossy(&tag).into_owned())
        };
        // Tokens from servers without receipts may end here (older layouts).
        let nonce = if r.remaining() > 0 {
            r.read_var_octets("receipt nonce")?
        } else {
            Bytes::new()
        };
        let secret = if r.remaining() > 0 {
            r.read_var_octets("receipt secret")?
        } else {
            Bytes::new()
        };
        let receipt = match (nonce.len(), secret.len()) {
            (0, 0) => None,
            (16, 32) => Some((
                nonce[..].try_into().expect("16"),
                secret[..].try_into().expect("32"),
            )),
            _ => {
                return Err(StreamError::InvalidToken(
                    "receipt nonce must be 16 and secret 32 bytes",
                ));
            }
        };
        Ok(ConnectionToken {
            shared_secret: self.shared_secret_for_token(&raw),
            connection_tag,
            receipt,
        })
    }
}

/// The connection token of `destination` under `server_address` (the first segment after
/// `<server address>.`), or `None` when the destination is not below the server address.
pub fn connection_token_from_destination<'a>(
    server_address: &str,
    destination: &'a str,
) -> Option<&'a str> {
    let rest = destination
        .strip_prefix(server_address)?
        .strip_prefix('.')?;
    let token = rest.split('.').next()?;
    (!token.is_empty()).then_some(token)
}

fn decode_token(token: &str) -> Result<Vec<u8>, StreamError> {
    let trimmed = token.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD_NO_PAD.decode(trimmed))
        .map_err(|_| StreamError::InvalidToken("not base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_and_open() {
        let server = ServerSecret::new([9u8; 32]);
        let opts = ConnectionOptions {
            connection_tag: Some("viewer-42".into()),
            receipt: Some(([1u8; 16], [2u8; 32])),
        };
        let creds = server.generate_address_and_secret("g.tollcast.relay", &opts);
        let token =
            connection_token_from_destination("g.tollcast.relay", &creds.destination_account)
                .unwrap();
        let opened = server.open_token(token).unwrap();
        assert_eq!(opened.shared_secret, creds.shared_secret);
        assert_eq!(opened.connection_tag.as_deref(), Some("viewer-42"));
        assert_eq!(opened.receipt, opts.receipt);
        let other = ServerSecret::new([8u8; 32]);
        assert!(matches!(
            other.open_token(token),
            Err(StreamError::InvalidToken(_))
        ));
        assert!(server.open_token("!!").is_err());
        assert!(server.open_token("").is_err());
        assert_eq!(connection_token_from_destination("g.a", "g.ab.x"), None);
    }
}
