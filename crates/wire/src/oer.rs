//! Canonical OER (RFC 0030) primitives shared by every Interledger codec in this crate.
//!
//! [`Reader`] is a zero-copy cursor over `&[u8]`: variable-length fields come back as sub-slices
//! of the input, so a caller holding the input as [`bytes::Bytes`] turns them into `Bytes` with
//! [`bytes::Bytes::slice_ref`] without copying. [`Writer`] appends to a [`BytesMut`].
//!
//! Strictness (decode side), chosen so every accepted input has exactly one encoding:
//! - length determinants must be canonical: the short form for 0..=127, the long form with the
//!   minimal number of length bytes (no leading zero byte, value >= 128), 1..=8 length bytes;
//! - a length that points past the end of the input is an error, never a panic or a big allocation;
//! - a var-uint must have 1..=8 content bytes (it is a u64). Leading zero bytes are accepted, as
//!   oer-utils and interledger-rs accept them; the writer always emits the minimal form.

use bytes::{BufMut, Bytes, BytesMut};

/// Why OER bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OerError {
    /// Fewer bytes remain than the field needs.
    #[error("unexpected end of input reading {what}: need {needed} byte(s), {remaining} left")]
    UnexpectedEnd {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length determinant announces more bytes than remain.
    #[error("length prefix says {length} byte(s) but only {remaining} remain")]
    LengthPastEnd {
        /// The announced length.
        length: u64,
        /// Bytes that were left after the length determinant.
        remaining: usize,
    },
    /// The long form was used where the short form (or fewer length bytes) was required.
    #[error("non-canonical length prefix: {0}")]
    NonCanonicalLength(&'static str),
    /// The long-form length-of-length byte announces 0 or more than 8 length bytes.
    #[error("length-of-length must be 1..=8 bytes, got {0}")]
    BadLengthOfLength(u8),
    /// A var-uint longer than 8 bytes does not fit in a u64.
    #[error("var-uint of {0} bytes does not fit in 64 bits")]
    VarUIntTooLarge(usize),
    /// A var-uint with zero content bytes.
    #[error("var-uint must have at least one byte")]
    EmptyVarUInt,
    /// Bytes left over after a complete structure.
    #[error("{count} trailing byte(s) after {what}")]
    TrailingBytes {
        /// The structure that ended.
        what: &'static str,
        /// How many bytes were left.
        count: usize,
    },
}

/// Zero-copy OER reader over a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when everything has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Offset of the next byte from the start of the input.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread bytes (does not advance).
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Error with [`OerError::TrailingBytes`] unless everything was read.
    pub fn expect_end(&self, what: &'static str) -> Result<(), OerError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(OerError::TrailingBytes { what, count }),
        }
    }

    /// Reads exactly `n` bytes as a sub-slice of the input.
    pub fn read_bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], OerError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(OerError::UnexpectedEnd {
                what,
                needed: n,
                remaining,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a fixed-size array (e.g. a 32-byte condition).
    pub fn read_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], OerError> {
        let s = self.read_bytes(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// The next byte without advancing.
    pub fn peek_u8(&self) -> Result<u8, OerError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(OerError::UnexpectedEnd {
                what: "u8",
                needed: 1,
                remaining: 0,
            })
    }

    /// Reads a UInt8.
    pub fn read_u8(&mut self) -> Result<u8, OerError> {
        Ok(self.read_array::<1>("u8")?[0])
    }

    /// Reads a big-endian UInt16.
    pub fn read_u16(&mut self) -> Result<u16, OerError> {
        Ok(u16::from_be_bytes(self.read_array("u16")?))
    }

    /// Reads a big-endian UInt32.
    pub fn read_u32(&mut self) -> Result<u32, OerError> {
        Ok(u32::from_be_bytes(self.read_array("u32")?))
    }

    /// Reads a big-endian UInt64.
    pub fn read_u64(&mut self) -> Result<u64, OerError> {
        Ok(u64::from_be_bytes(self.read_array("u64")?))
    }

    /// Reads a canonical length determinant and checks that that many bytes remain.
    pub fn read_length_prefix(&mut self) -> Result<usize, OerError> {
        let first = self.read_u8()?;
        let length: u64 = if first & 0x80 == 0 {
            u64::from(first)
        } else {
            let n = first & 0x7f;
            if n == 0 || n > 8 {
                return Err(OerError::BadLengthOfLength(n));
            }
            let bytes = self.read_bytes(usize::from(n), "length prefix")?;
            if bytes[0] == 0 {
                return Err(OerError::NonCanonicalLength("leading zero length byte"));
            }
            let v = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            if v < 128 {
                return Err(OerError::NonCanonicalLength(
                    "long form used for a length below 128",
                ));
            }
            v
        };
        let remaining = self.remaining();
        if length > remaining as u64 {
            return Err(OerError::LengthPastEnd { length, remaining });
        }
        Ok(length as usize)
    }

    /// Reads a variable-length octet string as a sub-slice of the input.
    pub fn read_var_octet_string(&mut self) -> Result<&'a [u8], OerError> {
        let len = self.read_length_prefix()?;
        self.read_bytes(len, "var-octet-string")
    }

    /// Skips a variable-length octet string.
    pub fn skip_var_octet_string(&mut self) -> Result<(), OerError> {
        self.read_var_octet_string().map(|_| ())
    }

    /// Reads a variable-length unsigned integer (1..=8 content bytes).
    pub fn read_var_uint(&mut self) -> Result<u64, OerError> {
        let bytes = self.read_var_octet_string()?;
        match bytes.len() {
            0 => Err(OerError::EmptyVarUInt),
            1..=8 => Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))),
            n => Err(OerError::VarUIntTooLarge(n)),
        }
    }

    /// Reads a variable-length unsigned integer, saturating at `u64::MAX` when it is wider
    /// than 64 bits (STREAM requires this for some amount fields).
    pub fn read_var_uint_saturating(&mut self) -> Result<u64, OerError> {
        let bytes = self.read_var_octet_string()?;
        if bytes.is_empty() {
            return Err(OerError::EmptyVarUInt);
        }
        let significant = match bytes.iter().position(|b| *b != 0) {
            Some(i) => &bytes[i..],
            None => return Ok(0),
        };
        if significant.len() > 8 {
            return Ok(u64::MAX);
        }
        Ok(significant
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// Reads a variable-length octet string and returns it as a `Bytes` view of `src`, which
    /// must be the buffer this reader was created from (zero-copy).
    pub fn read_var_octet_bytes(&mut self, src: &Bytes) -> Result<Bytes, OerError> {
        let s = self.read_var_octet_string()?;
        Ok(slice_of(src, s))
    }
}

/// `sub` as a zero-copy `Bytes` view of `src` (`sub` must lie within `src`).
pub fn slice_of(src: &Bytes, sub: &[u8]) -> Bytes {
    if sub.is_empty() {
        Bytes::new()
    } else {
        src.slice_ref(sub)
    }
}

/// Encoded size of a length determinant for `len`.
pub fn length_prefix_len(len: usize) -> usize {
    if len < 128 {
        1
    } else {
        1 + (8 - (len as u64).leading_zeros() as usize / 8)
    }
}

/// Encoded size of a var-octet-string holding `len` bytes.
pub fn var_octet_string_len(len: usize) -> usize {
    length_prefix_len(len) + len
}

/// Minimal number of content bytes of a var-uint (at least 1).
pub fn var_uint_content_len(v: u64) -> usize {
    (8 - v.leading_zeros() as usize / 8).max(1)
}

/// Encoded size of a var-uint (length byte + content).
pub fn var_uint_len(v: u64) -> usize {
    1 + var_uint_content_len(v)
}

/// OER writer appending to a growable buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: BytesMut,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer::default()
    }

    /// An empty writer with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        Writer {
            buf: BytesMut::with_capacity(cap),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The written bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Finishes writing, returning the buffer.
    pub fn into_inner(self) -> BytesMut {
        self.buf
    }

    /// Finishes writing, returning frozen bytes.
    pub fn into_bytes(self) -> Bytes {
        self.buf.freeze()
    }

    /// Appends raw bytes (fixed-size fields).
    pub fn write_bytes(&mut self, b: &[u8]) {
        self.buf.put_slice(b);
    }

    /// Appends a UInt8.
    pub fn write_u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }

    /// Appends a big-endian UInt16.
    pub fn write_u16(&mut self, v: u16) {
        self.buf.put_u16(v);
    }

    /// Appends a big-endian UInt32.
    pub fn write_u32(&mut self, v: u32) {
        self.buf.put_u32(v);
    }

    /// Appends a big-endian UInt64.
    pub fn write_u64(&mut self, v: u64) {
        self.buf.put_u64(v);
    }

    /// Appends a canonical length determinant.
    pub fn write_length_prefix(&mut self, len: usize) {
        if len < 128 {
            self.buf.put_u8(len as u8);
        } else {
            let n = length_prefix_len(len) - 1;
            self.buf.put_u8(0x80 | n as u8);
            self.buf.put_slice(&(len as u64).to_be_bytes()[8 - n..]);
        }
    }

    /// Appends a variable-length octet string.
    pub fn write_var_octet_string(&mut self, b: &[u8]) {
        self.write_length_prefix(b.len());
        self.buf.put_slice(b);
    }

    /// Appends a variable-length unsigned integer in its minimal form.
    pub fn write_var_uint(&mut self, v: u64) {
        let n = var_uint_content_len(v);
        self.buf.put_u8(n as u8);
        self.buf.put_slice(&v.to_be_bytes()[8 - n..]);
    }
}

impl AsRef<[u8]> for Writer {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(len: usize) -> Vec<u8> {
        let mut w = Writer::new();
        w.write_length_prefix(len);
        w.into_inner().to_vec()
    }

    #[test]
    fn length_prefix_forms() {
        assert_eq!(lp(0), [0x00]);
        assert_eq!(lp(127), [0x7f]);
        assert_eq!(lp(128), [0x81, 0x80]);
        assert_eq!(lp(255), [0x81, 0xff]);
        assert_eq!(lp(256), [0x82, 0x01, 0x00]);
        assert_eq!(lp(65536), [0x83, 0x01, 0x00, 0x00]);
        for n in [0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 24] {
            assert_eq!(lp(n).len(), length_prefix_len(n), "{n}");
        }
    }

    #[test]
    fn var_octet_string_round_trip() {
        for n in [0usize, 1, 127, 128, 255, 256, 300, 70000] {
            let data = vec![0xabu8; n];
            let mut w = Writer::new();
            w.write_var_octet_string(&data);
            assert_eq!(w.len(), var_octet_string_len(n));
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes);
            assert_eq!(r.read_var_octet_string().unwrap(), &data[..]);
            r.expect_end("test").unwrap();
        }
    }

    #[test]
    fn rejects_non_canonical_lengths() {
        let mut r = Reader::new(&[0x81, 0x05, 1, 2, 3, 4, 5]);
        assert!(matches!(
            r.read_var_octet_string(),
            Err(OerError::NonCanonicalLength(_))
        ));
        let mut data = vec![0x82, 0x00, 0x80];
        data.extend(std::iter::repeat_n(0, 128));
        assert!(matches!(
            Reader::new(&data).read_var_octet_string(),
            Err(OerError::NonCanonicalLength(_))
        ));
        assert_eq!(
            Reader::new(&[0x80]).read_var_octet_string(),
            Err(OerError::BadLengthOfLength(0))
        );
        assert_eq!(
            Reader::new(&[0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1]).read_var_octet_string(),
            Err(OerError::BadLengthOfLength(9))
        );
        assert_eq!(
            Reader::new(&[0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
                .read_var_octet_string(),
            Err(OerError::LengthPastEnd {
                length: u64::MAX,
                remaining: 0
            })
        );
        assert!(matches!(
            Reader::new(&[0x82, 0x01]).read_var_octet_string(),
            Err(OerError::UnexpectedEnd { .. })
        ));
        assert_eq!(
            Reader::new(&[0x03, 1, 2]).read_var_octet_string(),
            Err(OerError::LengthPastEnd {
                length: 3,
                remaining: 2
            })
        );
    }

    #[test]
    fn var_uint() {
        for v in [0u64, 1, 0xff, 0x100, 0xffff_ffff, u64::MAX] {
            let mut w = Writer::new();
            w.write_var_uint(v);
            assert_eq!(w.len(), var_uint_len(v));
            let b = w.into_bytes();
            assert_eq!(Reader::new(&b).read_var_uint().unwrap(), v);
        }
        assert_eq!(Reader::new(&[1, 0]).read_var_uint(), Ok(0));
        assert_eq!(Reader::new(&[2, 0, 5]).read_var_uint(), Ok(5));
        assert_eq!(
            Reader::new(&[0]).read_var_uint(),
            Err(OerError::EmptyVarUInt)
        );
        let nine = [9, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Reader::new(&nine).read_var_uint(),
            Err(OerError::VarUIntTooLarge(9))
        );
        assert_eq!(Reader::new(&nine).read_var_uint_saturating(), Ok(u64::MAX));
        assert_eq!(
            Reader::new(&[9, 0, 0, 0, 0, 0, 0, 0, 0, 7]).read_var_uint_saturating(),
            Ok(7)
        );
    }

    #[test]
    fn fixed_ints_and_trailing() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 0, 3, 9]);
        assert_eq!(r.read_u8(), Ok(1));
        assert_eq!(r.read_u16(), Ok(2));
        assert_eq!(r.read_u32(), Ok(3));
        assert_eq!(
            r.expect_end("x"),
            Err(OerError::TrailingBytes {
                what: "x",
                count: 1
            })
        );
        assert!(matches!(r.read_u64(), Err(OerError::UnexpectedEnd { .. })));
    }
}
