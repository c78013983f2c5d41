//! Saved copies: the last good copy of every remote feed, kept on disk so
//! that a restart serves it before the first fetch or transfer completes
//! (issue 3, item 2).
//!
//! Layout, under the state directory: `feeds/NAME.FORMAT` (a policy zone as
//! master-file text with `$ORIGIN` and its SOA; a list as the text fetched)
//! and `feeds/NAME.meta`, plain `key = value` lines: `source`, `format`,
//! `serial`, `etag`, `last_modified`, `fetched_at`.
//!
//! Every file is written atomically: a temporary file in the same directory
//! is written, flushed to disk (`fsync`), renamed over the old one, and the
//! directory is flushed. A failed write leaves the old file as it was. The
//! copy is written before its metadata, so metadata never describes a copy
//! that is not there.
//!
//! # Limitations
//! - After an incremental update the whole zone is written again (simple,
//!   and as costly as a full transfer's write).
//! - A policy zone is written from its compiled rules
//!   ([`hanse_policy::Feed::records`]): apex NS records, skipped records and
//!   the original order are not kept.
//! - Feed names are used in file names; bytes other than ASCII letters,
//!   digits, `-` and `_` are written as `%XX`.

use crate::error::{MetadataError, SavedCopyError};
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The metadata of a saved copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The source the copy came from, as [`crate::FeedSpec::source_text`]
    /// writes it; a copy for another source is not used.
    pub source: String,
    /// The feed format (`rpz`, `hosts`, ...).
    pub format: String,
    /// The SOA serial of a policy zone.
    pub serial: Option<u32>,
    /// The HTTP ETag of a fetched list.
    pub etag: Option<String>,
    /// The HTTP Last-Modified of a fetched list, as received.
    pub last_modified: Option<String>,
    /// When the copy was fetched, Unix seconds.
    pub fetched_at: u64,
}

impl Metadata {
    /// The metadata as `key = value` lines.
    pub fn to_text(&self) -> String {
        let mut text =
            String::from("# Hanse saved feed copy: the metadata of the copy beside it\n");
        let mut line = |key: &str, value: &str| {
            // Values are single lines; line breaks cannot come from a header.
            let value: String = value.chars().filter(|c| !c.is_control()).collect();
            let _ = writeln!(text, "{key} = {value}");
        };
        line("source", &self.source);
        line("format", &self.format);
        if let Some(serial) = self.serial {
            line("serial", &serial.to_string());
        }
        if let Some(etag) = &self.etag {
            line("etag", etag);
        }
        if let Some(last_modified) = &self.last_modified {
            line("last_modified", last_modified);
        }
        line("fetched_at", &self.fetched_at.to_string());
        text
    }

    /// Reads metadata written by [`Metadata::to_text`]. Unknown keys are
    /// ignored; a line without `=`, a bad number, or a missing `source` or
    /// `format` is an error.
    pub fn parse(text: &str) -> Result<Metadata, MetadataError> {
        let mut metadata = Metadata::default();
        let mut seen_source = false;
        let mut seen_format = false;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(MetadataError::NoEquals(index + 1));
            };
            let (key, value) = (key.trim(), value.trim());
            let number = |value: &str| {
                value.parse::<u64>().map_err(|_| MetadataError::BadNumber {
                    line: index + 1,
                    key: key.to_owned(),
                })
            };
            match key {
                "source" => {
                    metadata.source = value.to_owned();
                    seen_source = true;
                }
                "format" => {
                    metadata.format = value.to_owned();
                    seen_format = true;
                }
                "serial" => {
                    metadata.serial = Some(u32::try_from(number(value)?).map_err(|_| {
                        MetadataError::BadNumber {
                            line: index + 1,
                            key: key.to_owned(),
                        }
                    })?);
                }
                "etag" => metadata.etag = Some(value.to_owned()),
                "last_modified" => metadata.last_modified = Some(value.to_owned()),
                "fetched_at" => metadata.fetched_at = number(value)?,
                _ => {}
            }
        }
        if !seen_source || !seen_format {
            return Err(MetadataError::Incomplete);
        }
        Ok(metadata)
    }
}

/// The directory of saved copies under `state_directory`.
pub fn copies_directory(state_directory: &Path) -> PathBuf {
    state_directory.join("feeds")
}

/// The file name stem for a feed name: safe in any file system.
pub fn file_stem(feed_name: &str) -> String {
    let mut stem = String::with_capacity(feed_name.len());
    for byte in feed_name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            stem.push(char::from(byte));
        } else {
            let _ = write!(stem, "%{byte:02X}");
        }
    }
    if stem.is_empty() {
        stem.push('%');
    }
    stem
}

/// The paths of a feed's copy and metadata.
pub fn copy_paths(state_directory: &Path, feed_name: &str, format: &str) -> (PathBuf, PathBuf) {
    let directory = copies_directory(state_directory);
    let stem = file_stem(feed_name);
    (
        directory.join(format!("{stem}.{format}")),
        directory.join(format!("{stem}.meta")),
    )
}

/// Writes `contents` to `path` atomically (temporary file, fsync, rename,
/// fsync of the directory). Creates the directory if needed. On error the
/// file at `path` is unchanged and the temporary file is removed.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let directory = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the path has no directory"))?;
    std::fs::create_dir_all(directory)?;
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path has no file name"))?;
    let temporary = directory.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        File::open(directory)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Writes a copy and then its metadata, both atomically.
pub fn save(
    state_directory: &Path,
    feed_name: &str,
    contents: &[u8],
    metadata: &Metadata,
) -> Result<(), SavedCopyError> {
    let (copy, meta) = copy_paths(state_directory, feed_name, &metadata.format);
    write_atomically(&copy, contents).map_err(|source| SavedCopyError::Write {
        path: copy,
        what: "copy",
        source,
    })?;
    write_atomically(&meta, metadata.to_text().as_bytes()).map_err(|source| SavedCopyError::Write {
        path: meta,
        what: "copy's metadata",
        source,
    })
}

/// What [`read`] found.
#[derive(Debug)]
pub enum SavedCopy {
    /// No copy (no metadata file).
    Missing,
    /// A copy and its metadata.
    Found {
        /// The copy's contents.
        contents: Vec<u8>,
        /// Its metadata.
        metadata: Metadata,
        /// Where the copy is.
        path: PathBuf,
    },
}

/// Reads a feed's saved copy. Errors: unreadable or corrupt metadata, a
/// missing copy beside its metadata.
pub fn read(
    state_directory: &Path,
    feed_name: &str,
    format: &str,
) -> Result<SavedCopy, SavedCopyError> {
    let (copy, meta) = copy_paths(state_directory, feed_name, format);
    let meta_text = match std::fs::read(&meta) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SavedCopy::Missing);
        }
        Err(source) => return Err(SavedCopyError::Read { path: meta, source }),
    };
    let metadata = Metadata::parse(&String::from_utf8_lossy(&meta_text))
        .map_err(|source| SavedCopyError::Corrupt { path: meta, source })?;
    let contents = std::fs::read(&copy).map_err(|source| SavedCopyError::Read {
        path: copy.clone(),
        source,
    })?;
    Ok(SavedCopy::Found {
        contents,
        metadata,
        path: copy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_testnet::Scratch;

    fn metadata() -> Metadata {
        Metadata {
            source: "url http://127.53.0.1:8080/list".to_owned(),
            format: "hosts".to_owned(),
            serial: None,
            etag: Some("\"abc = def\"".to_owned()),
            last_modified: Some("Sun, 06 Nov 1994 08:49:37 GMT".to_owned()),
            fetched_at: 1_700_000_000,
        }
    }

    #[test]
    fn metadata_round_trip() {
        let mut value = metadata();
        assert_eq!(Metadata::parse(&value.to_text()), Ok(value.clone()));
        value.serial = Some(u32::MAX);
        value.etag = None;
        assert_eq!(Metadata::parse(&value.to_text()), Ok(value));
        assert!(Metadata::parse("source = x\n").is_err());
        assert!(Metadata::parse("source = x\nformat = rpz\nserial = 4294967296\n").is_err());
        assert!(Metadata::parse("garbage\n").is_err());
        assert!(Metadata::parse("\u{0}\u{1}").is_err());
    }

    #[test]
    fn save_and_read_round_trip() {
        let directory = Scratch::new("feeds-unit-round-trip");
        save(
            &directory.0,
            "my list/1",
            b"0.0.0.0 a.example\n",
            &metadata(),
        )
        .expect("saved");
        let (copy, _) = copy_paths(&directory.0, "my list/1", "hosts");
        assert!(
            copy.ends_with("feeds/my%20list%2F1.hosts"),
            "{}",
            copy.display()
        );
        let SavedCopy::Found {
            contents,
            metadata: read_back,
            ..
        } = read(&directory.0, "my list/1", "hosts").expect("read")
        else {
            panic!("no copy");
        };
        assert_eq!(contents, b"0.0.0.0 a.example\n");
        assert_eq!(read_back, metadata());
        assert!(matches!(
            read(&directory.0, "other", "hosts"),
            Ok(SavedCopy::Missing)
        ));
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let directory = Scratch::new("feeds-unit-failed-write");
        let path = directory.0.join("feeds").join("x.hosts");
        write_atomically(&path, b"old").expect("first write");
        // The temporary file cannot be created: its name is taken by a
        // directory that is not empty.
        let temporary = directory
            .0
            .join("feeds")
            .join(format!(".x.hosts.tmp-{}", std::process::id()));
        std::fs::create_dir_all(temporary.join("blocker")).expect("blocker");
        assert!(write_atomically(&path, b"new").is_err());
        assert_eq!(std::fs::read(&path).expect("old file"), b"old");
        // A directory that cannot be created (a file is in the way).
        let blocked = directory.0.join("file");
        std::fs::write(&blocked, b"").expect("file");
        let error = save(&blocked, "x", b"new", &metadata())
            .expect_err("no directory")
            .to_string();
        assert!(error.contains("cannot save the copy"), "{error}");
    }

    #[test]
    fn corrupt_metadata_is_an_error_not_a_panic() {
        let directory = Scratch::new("feeds-unit-corrupt");
        let (copy, meta) = copy_paths(&directory.0, "x", "rpz");
        write_atomically(&meta, b"source = zone x.\nformat = rpz\nserial = many\n").expect("meta");
        assert!(
            read(&directory.0, "x", "rpz")
                .expect_err("bad serial")
                .to_string()
                .contains("corrupt")
        );
        write_atomically(&meta, metadata().to_text().as_bytes()).expect("meta");
        // Metadata without its copy.
        assert!(
            read(&directory.0, "x", "rpz")
                .expect_err("no copy")
                .to_string()
                .contains("cannot read")
        );
        write_atomically(&copy, &[0xff, 0xfe, 0]).expect("copy");
        assert!(matches!(
            read(&directory.0, "x", "rpz"),
            Ok(SavedCopy::Found { .. })
        ));
    }
}
