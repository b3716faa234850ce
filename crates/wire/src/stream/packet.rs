//! The STREAM packet (RFC 0029 §5.2): `version (1) || ilp packet type || sequence ||
//! prepare amount || frame count || frames || junk`, and its encrypted form.

use bytes::Bytes;

use super::crypto::{ENCRYPTION_OVERHEAD, StreamKeys};
use super::error::StreamError;
use super::frame::Frame;
use super::oer_io::{self, Reader};

/// The only STREAM version.
pub const STREAM_VERSION: u8 = 1;

/// The ILP packet type a STREAM packet must travel in; receivers discard mismatches so an
/// intermediary cannot move `data` between packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum IlpPacketType {
    /// ILP Prepare (12).
    Prepare = 12,
    /// ILP Fulfill (13).
    Fulfill = 13,
    /// ILP Reject (14).
    Reject = 14,
}

impl TryFrom<u8> for IlpPacketType {
    type Error = StreamError;
    fn try_from(b: u8) -> Result<Self, StreamError> {
        match b {
            12 => Ok(Self::Prepare),
            13 => Ok(Self::Fulfill),
            14 => Ok(Self::Reject),
            other => Err(StreamError::InvalidIlpPacketType(other)),
        }
    }
}

/// A decoded (plaintext) STREAM packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPacket {
    /// Request/response identifier; a reply carries the sequence of the Prepare it answers.
    pub sequence: u64,
    /// ILP packet type this packet must be carried in.
    pub ilp_packet_type: IlpPacketType,
    /// In a Prepare: the minimum the receiver should accept. In a Fulfill/Reject: the
    /// amount that arrived.
    pub prepare_amount: u64,
    /// Frames in wire order (frames of unknown type are dropped on decode).
    pub frames: Vec<Frame>,
}

impl StreamPacket {
    /// A packet with no frames.
    pub fn new(sequence: u64, ilp_packet_type: IlpPacketType, prepare_amount: u64) -> Self {
        Self {
            sequence,
            ilp_packet_type,
            prepare_amount,
            frames: Vec::new(),
        }
    }

    /// Exact length of [`Self::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        2 + oer_io::var_uint_len(self.sequence)
            + oer_io::var_uint_len(self.prepare_amount)
            + oer_io::var_uint_len(self.frames.len() as u64)
            + self.frames.iter().map(Frame::encoded_len).sum::<usize>()
    }

    /// Appends the plaintext encoding to `out` (reserving the exact size first).
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(STREAM_VERSION);
        out.push(self.ilp_packet_type as u8);
        oer_io::write_var_uint(out, self.sequence);
        oer_io::write_var_uint(out, self.prepare_amount);
        oer_io::write_var_uint(out, self.frames.len() as u64);
        for frame in &self.frames {
            frame.encode_to(out);
        }
    }

    /// The plaintext encoding, in one exactly sized allocation.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_to(&mut out);
        out
    }

    /// Decodes a plaintext packet. `StreamData` payloads and receipts become slices of
    /// `buf` (no copy). Unknown frame types and trailing junk are ignored (RFC 0029 §5.2-5.3).
    pub fn decode(buf: Bytes) -> Result<Self, StreamError> {
        let mut r = Reader::new(buf);
        let version = r.read_u8("version")?;
        if version != STREAM_VERSION {
            return Err(StreamError::UnsupportedVersion(version));
        }
        let ilp_packet_type = IlpPacketType::try_from(r.read_u8("ilp packet type")?)?;
        let sequence = r.read_var_uint("sequence")?;
        let prepare_amount = r.read_var_uint("prepare amount")?;
        let count = r.read_var_uint("frame count")?;
        // Each frame takes at least 2 bytes, so a forged count cannot make us over-allocate.
        let mut frames = Vec::with_capacity(count.min(r.remaining() as u64 / 2) as usize);
        for _ in 0..count {
            if let Some(frame) = Frame::decode_from(&mut r)? {
                frames.push(frame);
            }
        }
        Ok(Self {
            sequence,
            ilp_packet_type,
            prepare_amount,
            frames,
        })
    }

    /// [`Self::decode`] from a borrowed slice (copies it once into a [`Bytes`]).
    pub fn decode_slice(buf: &[u8]) -> Result<Self, StreamError> {
        Self::decode(Bytes::copy_from_slice(buf))
    }

    /// Encodes and encrypts with a fresh random nonce, producing the ILP packet `data`
    /// (`nonce || tag || ciphertext`). One allocation; the plaintext is encrypted in place.
    pub fn encrypt_and_encode(&self, keys: &StreamKeys) -> Vec<u8> {
        let mut out = self.reserve_envelope(0);
        keys.encrypt_in_place(&mut out);
        out
    }

    /// Like [`Self::encrypt_and_encode`] but zero-pads the plaintext (allowed junk) so the
    /// encrypted data is at least `total_len` bytes, hiding the real packet size.
    pub fn encrypt_and_encode_padded(&self, keys: &StreamKeys, total_len: usize) -> Vec<u8> {
        let mut out = self.reserve_envelope(total_len);
        out.resize(out.len().max(total_len), 0);
        keys.encrypt_in_place(&mut out);
        out
    }

    /// Encrypts with a caller-chosen nonce (deterministic tests only; never reuse a nonce).
    pub fn encrypt_and_encode_with_nonce(&self, keys: &StreamKeys, nonce: [u8; 12]) -> Vec<u8> {
        let mut out = self.reserve_envelope(0);
        keys.encrypt_in_place_with_nonce(nonce, &mut out);
        out
    }

    fn reserve_envelope(&self, min_len: usize) -> Vec<u8> {
        let len = ENCRYPTION_OVERHEAD + self.encoded_len();
        let mut out = Vec::with_capacity(len.max(min_len));
        out.resize(ENCRYPTION_OVERHEAD, 0);
        self.encode_to(&mut out);
        out
    }

    /// Decrypts ILP packet `data` and decodes it; `StreamData` payloads are slices of the
    /// decrypted buffer.
    pub fn decrypt_and_decode(keys: &StreamKeys, data: &[u8]) -> Result<Self, StreamError> {
        Self::decode(keys.decrypt(data)?)
    }

    /// [`Self::decrypt_and_decode`] for data already in [`Bytes`]; decrypts in place when
    /// the allocation is not shared.
    pub fn decrypt_and_decode_bytes(keys: &StreamKeys, data: Bytes) -> Result<Self, StreamError> {
        Self::decode(keys.decrypt_bytes(data)?)
    }
}
