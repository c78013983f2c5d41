//! The errors of the feed supply. Each displays as one line that names the
//! file, URL or feed concerned, ready for the log; [`crate::FeedSupply`]
//! keeps them as text in its messages and status.

use std::path::PathBuf;

/// Why a feed's text could not be compiled or a feed file read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// A feed file could not be read.
    #[error("{place}: feed {feed}: cannot read: {source}")]
    Read {
        /// The file.
        place: String,
        /// The feed's name.
        feed: String,
        /// The reason.
        source: std::io::Error,
    },
    /// A policy zone has a syntax error: the whole copy is refused.
    #[error(
        "{place}:{line}:{column}: feed {feed}: {message} (a policy zone with a syntax error is \
         not loaded)"
    )]
    Syntax {
        /// Where the text came from (a path, a URL).
        place: String,
        /// The feed's name.
        feed: String,
        /// The line of the error.
        line: usize,
        /// The column of the error.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A policy zone has no origin: none configured and no SOA below the root.
    #[error(
        "{place}: feed {feed}: the zone has no SOA record below the root to take its origin \
         from; set origin = \"...\" in its [[policy.feed]] entry"
    )]
    NoOrigin {
        /// Where the text came from.
        place: String,
        /// The feed's name.
        feed: String,
    },
}

/// Why an HTTP(S) fetch failed. The copy held stays in force.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request failed (connection, TLS, timeout, protocol).
    #[error("GET {url}: {source}")]
    Request {
        /// The URL.
        url: String,
        /// The client's error.
        source: ureq::Error,
    },
    /// The server answered with a status other than 200 or 304.
    #[error("GET {url}: HTTP status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than the cap.
    #[error("GET {url}: the list exceeds {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap in bytes.
        limit: u64,
    },
}

/// Why the metadata of a saved copy could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// A line is not `key = value`.
    #[error("line {0}: no '='")]
    NoEquals(usize),
    /// A number is not a number, or out of range.
    #[error("line {line}: {key} is not a number in range")]
    BadNumber {
        /// The line.
        line: usize,
        /// The key.
        key: String,
    },
    /// `source` or `format` is missing.
    #[error("source or format missing")]
    Incomplete,
}

/// Why a saved copy could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SavedCopyError {
    /// Writing failed; the old file is intact.
    #[error("{}: cannot save the {what}: {source}", path.display())]
    Write {
        /// The file being replaced.
        path: PathBuf,
        /// `copy` or `copy's metadata`.
        what: &'static str,
        /// The reason.
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The metadata file is corrupt.
    #[error("{}: corrupt metadata: {source}", path.display())]
    Corrupt {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong.
        source: MetadataError,
    },
}
