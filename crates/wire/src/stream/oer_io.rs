//! The few OER (RFC 0030) primitives STREAM needs, specialised for zero-copy decoding:
//! the reader walks a [`Bytes`] so octet strings come out as slices of the decrypted
//! buffer, and the writer helpers append to a pre-sized `Vec<u8>`.
//!
//! Kept inside the stream module because STREAM reads var-uints with its own twists
//! (saturating fields, lenient leading zeros) that a general OER codec should not have.

use bytes::Bytes;

use super::error::StreamError;

/// Cursor over a STREAM plaintext.
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn read_u8(&mut self, field: &'static str) -> Result<u8, StreamError> {
        let b = *self.buf.get(self.pos).ok_or(StreamError::Truncated {
            field,
            needed: 1,
            available: 0,
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn read_exact(&mut self, len: usize, field: &'static str) -> Result<Bytes, StreamError> {
        if self.remaining() < len {
            return Err(StreamError::Truncated {
                field,
                needed: len,
                available: self.remaining(),
            });
        }
        let out = self.buf.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(out)
    }

    /// OER length determinant: short form `0..=127`, or `0x80 | n` followed by an
    /// n-byte big-endian length that must be >= 128 and use no leading zero byte.
    fn read_length(&mut self, field: &'static str) -> Result<usize, StreamError> {
        let first = self.read_u8(field)?;
        if first & 0x80 == 0 {
            return Ok(usize::from(first));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > std::mem::size_of::<usize>() {
            return Err(StreamError::NonCanonicalLength { field });
        }
        let bytes = self.read_exact(n, field)?;
        if bytes[0] == 0 {
            return Err(StreamError::NonCanonicalLength { field });
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 128 {
            return Err(StreamError::NonCanonicalLength { field });
        }
        Ok(len)
    }

    /// A length-prefixed octet string, as a zero-copy slice of the input.
    pub(crate) fn read_var_octets(&mut self, field: &'static str) -> Result<Bytes, StreamError> {
        let len = self.read_length(field)?;
        self.read_exact(len, field)
    }

    /// A var-uint that must fit a u64 (as ilp-protocol-stream reads it: 1..=8 bytes,
    /// leading zero bytes tolerated).
    pub(crate) fn read_var_uint(&mut self, field: &'static str) -> Result<u64, StreamError> {
        let bytes = self.read_var_octets(field)?;
        match bytes.len() {
            0 => Err(StreamError::EmptyVarUint { field }),
            1..=8 => Ok(be_u64(&bytes)),
            len => Err(StreamError::VarUintTooLarge { field, len }),
        }
    }

    /// A var-uint that decodes to `u64::MAX` when longer than 8 bytes
    /// (RFC 0029 §5.1.4: `receiveMax` of StreamMaxMoney, `sendMax` of StreamMoneyBlocked).
    pub(crate) fn read_var_uint_saturating(
        &mut self,
        field: &'static str,
    ) -> Result<u64, StreamError> {
        let bytes = self.read_var_octets(field)?;
        match bytes.len() {
            0 => Err(StreamError::EmptyVarUint { field }),
            1..=8 => Ok(be_u64(&bytes)),
            _ => Ok(u64::MAX),
        }
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// Encoded size of an OER length determinant for `len`.
pub(crate) fn length_prefix_len(len: usize) -> usize {
    if len < 128 {
        1
    } else {
        1 + byte_len(len as u64)
    }
}

/// Encoded size of a var-octet-string of `len` bytes.
pub(crate) fn var_octets_len(len: usize) -> usize {
    length_prefix_len(len) + len
}

/// Minimal big-endian byte count of `v` (at least 1).
fn byte_len(v: u64) -> usize {
    (8 - (v.leading_zeros() as usize) / 8).max(1)
}

/// Encoded size of a var-uint (length byte + minimal big-endian bytes).
pub(crate) fn var_uint_len(v: u64) -> usize {
    1 + byte_len(v)
}

pub(crate) fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 128 {
        out.push(len as u8);
    } else {
        let n = byte_len(len as u64);
        out.push(0x80 | n as u8);
        out.extend_from_slice(&(len as u64).to_be_bytes()[8 - n..]);
    }
}

pub(crate) fn write_var_octets(out: &mut Vec<u8>, data: &[u8]) {
    write_length(out, data.len());
    out.extend_from_slice(data);
}

pub(crate) fn write_var_uint(out: &mut Vec<u8>, v: u64) {
    let n = byte_len(v);
    out.push(n as u8);
    out.extend_from_slice(&v.to_be_bytes()[8 - n..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_uint_sizes() {
        for (v, len) in [(0u64, 2), (255, 2), (256, 3), (u64::MAX, 9)] {
            let mut out = Vec::new();
            write_var_uint(&mut out, v);
            assert_eq!(out.len(), len);
            assert_eq!(var_uint_len(v), len);
            assert_eq!(Reader::new(out.into()).read_var_uint("v").unwrap(), v);
        }
    }

    #[test]
    fn long_lengths_are_canonical() {
        for len in [127usize, 128, 255, 256, 70_000] {
            let mut out = Vec::new();
            write_var_octets(&mut out, &vec![1u8; len]);
            assert_eq!(out.len(), var_octets_len(len));
            assert_eq!(
                Reader::new(out.into()).read_var_octets("o").unwrap().len(),
                len
            );
        }
        // 0x81 0x05: a short length in long form is rejected, as oer-utils does.
        let mut r = Reader::new(Bytes::from_static(&[0x81, 0x05, 0, 0, 0, 0, 0]));
        assert_eq!(
            r.read_var_octets("o"),
            Err(StreamError::NonCanonicalLength { field: "o" })
        );
    }
}
