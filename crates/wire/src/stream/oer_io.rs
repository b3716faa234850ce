//! STREAM's view of the OER primitives (RFC 0030), on top of [`crate::oer`]: the reader
//! walks a [`Bytes`] so octet strings come out as zero-copy slices of the decrypted buffer
//! and errors name the STREAM field; the writer helpers append to a pre-sized `Vec<u8>`
//! (the buffer that is then encrypted in place).
//!
//! STREAM reads var-uints as ilp-protocol-stream does: 1..=8 bytes with leading zero bytes
//! tolerated, and two fields saturate to `u64::MAX` when longer than 8 bytes.

use bytes::Bytes;

use super::error::StreamError;
use crate::oer::{self, OerError};

/// Cursor over a STREAM plaintext.
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
}

fn map_err(field: &'static str, e: OerError) -> StreamError {
    match e {
        OerError::UnexpectedEnd {
            needed, remaining, ..
        } => StreamError::Truncated {
            field,
            needed,
            available: remaining,
        },
        OerError::LengthPastEnd { length, remaining } => StreamError::Truncated {
            field,
            needed: usize::try_from(length).unwrap_or(usize::MAX),
            available: remaining,
        },
        OerError::NonCanonicalLength(_) | OerError::BadLengthOfLength(_) => {
            StreamError::NonCanonicalLength { field }
        }
        OerError::EmptyVarUInt => StreamError::EmptyVarUint { field },
        OerError::VarUIntTooLarge(len) => StreamError::VarUintTooLarge { field, len },
        other => StreamError::Oer {
            field,
            source: other,
        },
    }
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Runs one `crate::oer` read on the unread rest and advances past what it consumed.
    fn with<T>(
        &mut self,
        field: &'static str,
        f: impl FnOnce(&mut oer::Reader<'_>) -> Result<T, OerError>,
    ) -> Result<T, StreamError> {
        let mut r = oer::Reader::new(&self.buf[self.pos..]);
        let v = f(&mut r).map_err(|e| map_err(field, e))?;
        self.pos += r.position();
        Ok(v)
    }

    pub(crate) fn read_u8(&mut self, field: &'static str) -> Result<u8, StreamError> {
        self.with(field, |r| r.read_u8())
    }

    /// A length-prefixed octet string, as a zero-copy slice of the input.
    pub(crate) fn read_var_octets(&mut self, field: &'static str) -> Result<Bytes, StreamError> {
        let start = self.pos;
        let (offset, len) = self.with(field, |r| {
            let s = r.read_var_octet_string()?;
            Ok((r.position() - s.len(), s.len()))
        })?;
        Ok(self.buf.slice(start + offset..start + offset + len))
    }

    fn read_uint_bytes(&mut self, field: &'static str) -> Result<Bytes, StreamError> {
        let bytes = self.read_var_octets(field)?;
        if bytes.is_empty() {
            return Err(StreamError::EmptyVarUint { field });
        }
        Ok(bytes)
    }

    /// A var-uint that must fit a u64 (1..=8 bytes, leading zero bytes tolerated).
    pub(crate) fn read_var_uint(&mut self, field: &'static str) -> Result<u64, StreamError> {
        let bytes = self.read_uint_bytes(field)?;
        match bytes.len() {
            1..=8 => Ok(be_u64(&bytes)),
            len => Err(StreamError::VarUintTooLarge { field, len }),
        }
    }

    /// A var-uint that decodes to `u64::MAX` when longer than 8 bytes, exactly as
    /// ilp-protocol-stream does (RFC 0029 §5.1.4: `receiveMax` of StreamMaxMoney, `sendMax`
    /// of StreamMoneyBlocked).
    pub(crate) fn read_var_uint_saturating(
        &mut self,
        field: &'static str,
    ) -> Result<u64, StreamError> {
        let bytes = self.read_uint_bytes(field)?;
        match bytes.len() {
            1..=8 => Ok(be_u64(&bytes)),
            _ => Ok(u64::MAX),
        }
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

pub(crate) use oer::{var_octet_string_len as var_octets_len, var_uint_len};

pub(crate) fn write_length(out: &mut Vec<u8>, len: usize) {
    let n = oer::length_prefix_len(len);
    if n == 1 {
        out.push(len as u8);
    } else {
        out.push(0x80 | (n - 1) as u8);
        out.extend_from_slice(&(len as u64).to_be_bytes()[8 - (n - 1)..]);
    }
}

pub(crate) fn write_var_octets(out: &mut Vec<u8>, data: &[u8]) {
    write_length(out, data.len());
    out.extend_from_slice(data);
}

pub(crate) fn write_var_uint(out: &mut Vec<u8>, v: u64) {
    let n = oer::var_uint_content_len(v);
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
