//! Domain names (RFC 1035 §3.1, §4.1.4; RFC 4343 case-insensitivity;
//! RFC 4034 §6.1 canonical order).
//!
//! A [`Name`] holds the uncompressed wire form of an absolute name. Comparison,
//! hashing and ordering ignore ASCII case; the bytes keep the case they came with.
//!
//! Decompression only follows pointers that point strictly backwards, before
//! the label sequence that contains them, so every pointer chain ends; a hop
//! limit bounds the work in addition.
//!
//! # Limitations
//! - Relative names exist only in the zone-file parser, never here.
//! - Extended label types (RFC 6891 §5, obsolete) are rejected.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The longest name in wire form, root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LENGTH: usize = 255;
/// The longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LENGTH: usize = 63;
/// How many compression pointers one name may follow.
const MAX_POINTER_HOPS: usize = 127;

/// Why a name is not valid. Whoever sent it is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Longer than 255 bytes in wire form.
    #[error("name longer than 255 octets")]
    TooLong,
    /// A label longer than 63 bytes.
    #[error("label longer than 63 octets")]
    LabelTooLong,
    /// An empty label in the middle of a name (`a..b`).
    #[error("empty label")]
    EmptyLabel,
    /// A compression pointer that points forward, to itself, or past the packet.
    #[error("bad compression pointer")]
    BadPointer,
    /// Too many compression pointers.
    #[error("too many compression pointers")]
    PointerLoop,
    /// A label type other than a plain label or a pointer.
    #[error("unknown label type")]
    BadLabelType,
    /// The name runs past the end of its buffer.
    #[error("name runs past the end of the data")]
    ShortInput,
    /// A malformed backslash escape in presentation format.
    #[error("bad escape in name")]
    BadEscape,
}

/// An absolute domain name in uncompressed wire form.
#[derive(Clone)]
pub struct Name {
    wire: Box<[u8]>,
}

impl Name {
    /// The root name `.`.
    pub fn root() -> Name {
        Name {
            wire: Box::new([0]),
        }
    }

    /// Takes an uncompressed wire-form name that fills `wire` exactly.
    pub fn from_wire(wire: &[u8]) -> Result<Name, NameError> {
        let length = check_uncompressed(wire)?;
        if length != wire.len() {
            return Err(NameError::ShortInput);
        }
        Ok(Name { wire: wire.into() })
    }

    /// Reads a possibly compressed name at `offset` of `packet`. Returns the
    /// name and the offset just past it in the original byte stream.
    pub fn parse_compressed(packet: &[u8], offset: usize) -> Result<(Name, usize), NameError> {
        let mut buffer = [0u8; MAX_NAME_LENGTH];
        let (length, next) = decompress_into(packet, offset, &mut buffer)?;
        Ok((
            Name {
                wire: buffer[..length].into(),
            },
            next,
        ))
    }

    /// Parses presentation format (`www.example.com.`, `\.` and `\DDD`
    /// escapes). The trailing dot is optional: the name is always absolute.
    pub fn from_ascii(text: &str) -> Result<Name, NameError> {
        if text == "." || text.is_empty() {
            return Ok(Name::root());
        }
        let bytes = text.as_bytes();
        let mut wire = Vec::with_capacity(bytes.len() + 2);
        let mut label_start = 0;
        wire.push(0);
        let mut index = 0;
        while index < bytes.len() {
            let byte = bytes[index];
            match byte {
                b'.' => {
                    let label_length = wire.len() - label_start - 1;
                    if label_length == 0 {
                        return Err(NameError::EmptyLabel);
                    }
                    wire[label_start] = label_length as u8;
                    label_start = wire.len();
                    wire.push(0);
                    index += 1;
                    continue;
                }
                b'\\' => {
                    let next = *bytes.get(index + 1).ok_or(NameError::BadEscape)?;
                    if next.is_ascii_digit() {
                        let digits = bytes
                            .get(index + 1..index + 4)
                            .ok_or(NameError::BadEscape)?;
                        if !digits.iter().all(u8::is_ascii_digit) {
                            return Err(NameError::BadEscape);
                        }
                        let value = digits
                            .iter()
                            .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
                        if value > 255 {
                            return Err(NameError::BadEscape);
                        }
                        wire.push(value as u8);
                        index += 4;
                    } else {
                        wire.push(next);
                        index += 2;
                    }
                }
                _ => {
                    wire.push(byte);
                    index += 1;
                }
            }
            if wire.len() - label_start - 1 > MAX_LABEL_LENGTH {
                return Err(NameError::LabelTooLong);
            }
        }
        let last_length = wire.len() - label_start - 1;
        if last_length > 0 {
            wire[label_start] = last_length as u8;
            wire.push(0);
        }
        if wire.len() > MAX_NAME_LENGTH {
            return Err(NameError::TooLong);
        }
        Ok(Name { wire: wire.into() })
    }

    /// The uncompressed wire form, root label included.
    pub fn as_wire(&self) -> &[u8] {
        &self.wire
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.wire.len() == 1
    }

    /// The labels from left to right, without the root label.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            wire: &self.wire,
            position: 0,
        }
    }

    /// The number of labels, not counting the root label.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The leftmost label, or `None` for the root.
    pub fn first_label(&self) -> Option<&[u8]> {
        self.labels().next()
    }

    /// Whether the leftmost label is `*` (RFC 4592).
    pub fn is_wildcard(&self) -> bool {
        self.first_label() == Some(b"*")
    }

    /// The name with its leftmost label removed, or `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        let skip = usize::from(self.wire[0]) + 1;
        Some(Name {
            wire: self.wire[skip..].into(),
        })
    }

    /// The rightmost `count` labels of this name (`count` 0 is the root).
    pub fn suffix(&self, count: usize) -> Name {
        let total = self.label_count();
        let mut position = 0;
        for _ in 0..total.saturating_sub(count) {
            position += usize::from(self.wire[position]) + 1;
        }
        Name {
            wire: self.wire[position..].into(),
        }
    }

    /// Whether this name equals `ancestor` or lies below it (case-insensitive).
    pub fn is_subdomain_of(&self, ancestor: &Name) -> bool {
        let own = self.label_count();
        let theirs = ancestor.label_count();
        if theirs > own {
            return false;
        }
        let mut position = 0;
        for _ in 0..own - theirs {
            position += usize::from(self.wire[position]) + 1;
        }
        self.wire[position..].eq_ignore_ascii_case(&ancestor.wire)
    }

    /// This name with `label` added on the left.
    pub fn prepend(&self, label: &[u8]) -> Result<Name, NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LENGTH {
            return Err(NameError::LabelTooLong);
        }
        if self.wire.len() + label.len() + 1 > MAX_NAME_LENGTH {
            return Err(NameError::TooLong);
        }
        let mut wire = Vec::with_capacity(self.wire.len() + label.len() + 1);
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
        wire.extend_from_slice(&self.wire);
        Ok(Name { wire: wire.into() })
    }

    /// Replaces the suffix `old` of this name with `new` (DNAME substitution,
    /// RFC 6672 §2.2). Fails if the result is too long; `None` if `old` is not a suffix.
    pub fn replace_suffix(&self, old: &Name, new: &Name) -> Option<Result<Name, NameError>> {
        if !self.is_subdomain_of(old) {
            return None;
        }
        let keep = self.wire.len() - old.wire.len();
        if keep + new.wire.len() > MAX_NAME_LENGTH {
            return Some(Err(NameError::TooLong));
        }
        let mut wire = Vec::with_capacity(keep + new.wire.len());
        wire.extend_from_slice(&self.wire[..keep]);
        wire.extend_from_slice(&new.wire);
        Some(Ok(Name { wire: wire.into() }))
    }

    /// The same name with ASCII letters in lower case (the canonical form).
    pub fn to_lowercase(&self) -> Name {
        Name {
            wire: self.wire.to_ascii_lowercase().into(),
        }
    }
}

/// Iterator over the labels of a [`Name`], left to right.
pub struct Labels<'a> {
    wire: &'a [u8],
    position: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let length = usize::from(*self.wire.get(self.position)?);
        if length == 0 {
            return None;
        }
        let label = &self.wire[self.position + 1..self.position + 1 + length];
        self.position += length + 1;
        Some(label)
    }
}

/// Checks an uncompressed name at the start of `wire`; returns its length.
pub(crate) fn check_uncompressed(wire: &[u8]) -> Result<usize, NameError> {
    let mut position = 0;
    loop {
        let length = usize::from(*wire.get(position).ok_or(NameError::ShortInput)?);
        if length & 0xc0 != 0 {
            return Err(NameError::BadLabelType);
        }
        position += length + 1;
        if position > MAX_NAME_LENGTH {
            return Err(NameError::TooLong);
        }
        if length == 0 {
            return Ok(position);
        }
        if position > wire.len() {
            return Err(NameError::ShortInput);
        }
    }
}

/// Decompresses the name at `offset` into `buffer`. Returns the name's
/// length and the offset after the name in the original stream.
pub(crate) fn decompress_into(
    packet: &[u8],
    offset: usize,
    buffer: &mut [u8; MAX_NAME_LENGTH],
) -> Result<(usize, usize), NameError> {
    let mut position = offset;
    // The lowest offset read so far: a pointer must point below it.
    let mut floor = offset;
    let mut next = None;
    let mut length = 0;
    let mut hops = 0;
    loop {
        let byte = *packet.get(position).ok_or(NameError::ShortInput)?;
        match byte & 0xc0 {
            0x00 => {
                let label_length = usize::from(byte);
                if length + label_length + 1 > MAX_NAME_LENGTH {
                    return Err(NameError::TooLong);
                }
                if label_length == 0 {
                    buffer[length] = 0;
                    length += 1;
                    return Ok((length, next.unwrap_or(position + 1)));
                }
                let label = packet
                    .get(position + 1..position + 1 + label_length)
                    .ok_or(NameError::ShortInput)?;
                buffer[length] = byte;
                buffer[length + 1..length + 1 + label_length].copy_from_slice(label);
                length += label_length + 1;
                position += label_length + 1;
            }
            0xc0 => {
                let low = *packet.get(position + 1).ok_or(NameError::ShortInput)?;
                let target = (usize::from(byte & 0x3f) << 8) | usize::from(low);
                if target >= floor {
                    return Err(NameError::BadPointer);
                }
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return Err(NameError::PointerLoop);
                }
                if next.is_none() {
                    next = Some(position + 2);
                }
                floor = target;
                position = target;
            }
            _ => return Err(NameError::BadLabelType),
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.wire.eq_ignore_ascii_case(&other.wire)
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.wire.len());
        // Eight lower-cased bytes per call: one hasher call per byte is slow.
        for chunk in self.wire.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            word.make_ascii_lowercase();
            state.write_u64(u64::from_le_bytes(word));
        }
    }
}

impl Ord for Name {
    /// Canonical DNS name order (RFC 4034 §6.1): label by label from the
    /// right, each compared as lower-cased octet strings.
    fn cmp(&self, other: &Name) -> Ordering {
        let mine: Vec<&[u8]> = self.labels().collect();
        let theirs: Vec<&[u8]> = other.labels().collect();
        for (left, right) in mine.iter().rev().zip(theirs.iter().rev()) {
            let left = left.iter().map(u8::to_ascii_lowercase);
            let right = right.iter().map(u8::to_ascii_lowercase);
            match left.cmp(right) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        mine.len().cmp(&theirs.len())
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            for &byte in label {
                match byte {
                    b'.' | b'\\' | b'(' | b')' | b';' | b'"' | b'$' | b'@' => {
                        write!(f, "\\{}", byte as char)?
                    }
                    0x21..=0x7e => write!(f, "{}", byte as char)?,
                    _ => write!(f, "\\{byte:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;
    fn from_str(text: &str) -> Result<Name, NameError> {
        Name::from_ascii(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn presentation_round_trip() {
        for text in [".", "com.", "www.Example.com.", "a\\.b.c.", "\\000.x."] {
            assert_eq!(name(text).to_string(), text);
        }
        assert_eq!(name("example.com"), name("EXAMPLE.com."));
    }

    #[test]
    fn rejects_bad_presentation() {
        assert_eq!(Name::from_ascii("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(
            Name::from_ascii(&"a".repeat(64)),
            Err(NameError::LabelTooLong)
        );
        let long = vec!["abcdefghi"; 26].join(".");
        assert_eq!(Name::from_ascii(&long), Err(NameError::TooLong));
        assert_eq!(Name::from_ascii("a\\9"), Err(NameError::BadEscape));
        assert_eq!(Name::from_ascii("a\\256"), Err(NameError::BadEscape));
    }

    #[test]
    fn subdomains_and_suffixes() {
        let www = name("www.example.com.");
        assert!(www.is_subdomain_of(&name("EXAMPLE.com.")));
        assert!(www.is_subdomain_of(&Name::root()));
        assert!(!name("example.com.").is_subdomain_of(&www));
        assert!(!name("wwwexample.com.").is_subdomain_of(&name("example.com.")));
        assert_eq!(www.suffix(2), name("example.com."));
        assert_eq!(www.suffix(0), Name::root());
        assert_eq!(www.parent(), Some(name("example.com.")));
        assert_eq!(
            www.replace_suffix(&name("example.com."), &name("example.net."))
                .unwrap()
                .unwrap(),
            name("www.example.net.")
        );
    }

    #[test]
    fn canonical_order() {
        // The example of RFC 4034 §6.1, already in order.
        let ordered = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        for pair in ordered.windows(2) {
            assert!(name(pair[0]) < name(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn decompression_rejects_loops_and_forward_pointers() {
        // A pointer to itself.
        assert_eq!(
            Name::parse_compressed(&[0xc0, 0x00], 0),
            Err(NameError::BadPointer)
        );
        // A forward pointer.
        assert_eq!(
            Name::parse_compressed(&[0xc0, 0x02, 0x00], 0),
            Err(NameError::BadPointer)
        );
        // Two labels that point at each other.
        let packet = [1, b'a', 0xc0, 4, 1, b'b', 0xc0, 0];
        assert!(Name::parse_compressed(&packet, 4).is_err());
        // A valid backward pointer.
        let packet = [3, b'c', b'o', b'm', 0, 3, b'w', b'w', b'w', 0xc0, 0];
        let (parsed, next) = Name::parse_compressed(&packet, 5).unwrap();
        assert_eq!(parsed, name("www.com."));
        assert_eq!(next, 11);
    }
}
