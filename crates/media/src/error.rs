//! The media crate's typed errors: every failure on untrusted input (encoder bytes, HTTP requests,
//! stored chunks) becomes one of these, never a panic.

use thiserror::Error;

/// Errors from parsing, cutting, storing and serving media.
#[derive(Debug, Error)]
pub enum MediaError {
    /// The fragmented MP4 stream is malformed (bad box header, undecodable moov/moof, ...).
    #[error("malformed fragmented MP4: {0}")]
    Fmp4(String),
    /// A box larger than the configured limit: refuse rather than buffer unbounded input.
    #[error("MP4 box `{kind}` of {size} bytes exceeds the {limit}-byte limit")]
    BoxTooLarge { kind: String, size: u64, limit: u64 },
    /// A fragment arrived before the init segment (moov) it depends on.
    #[error("media fragment before the init segment (ftyp+moov)")]
    FragmentBeforeInit,
    /// Chunk store I/O or index failure.
    #[error("chunk store: {0}")]
    Store(String),
    /// A chunk is larger than the whole store bound.
    #[error("chunk of {size} bytes exceeds the store bound of {bound} bytes")]
    ChunkTooLarge { size: u64, bound: u64 },
    /// A hex SHA-256 name that is not 64 lowercase hex digits.
    #[error("invalid chunk hash `{0}` (want 64 lowercase hex digits)")]
    BadHash(String),
    /// ffmpeg could not be started or failed.
    #[error("ffmpeg: {0}")]
    Ffmpeg(String),
    /// A source URL or option the ingest does not understand.
    #[error("bad source: {0}")]
    BadSource(String),
    /// A manifest does not match the bytes or signature it covers.
    #[error("manifest verification failed: {0}")]
    Manifest(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<redb::Error> for MediaError {
    fn from(e: redb::Error) -> Self {
        MediaError::Store(e.to_string())
    }
}

macro_rules! redb_from {
    ($($t:ty),*) => {$(
        impl From<$t> for MediaError {
            fn from(e: $t) -> Self { MediaError::Store(e.to_string()) }
        }
    )*};
}
redb_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, MediaError>;
