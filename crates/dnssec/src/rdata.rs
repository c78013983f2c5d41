//! Typed views of the DNSSEC record data: DNSKEY, DS, RRSIG, NSEC (RFC 4034
//! §2–§5), NSEC3 and NSEC3PARAM (RFC 5155 §3–§4), the type bit maps they
//! share, and the key tag (RFC 4034 Appendix B).
//!
//! Every view is parsed from the uncompressed record data a
//! [`Record`](hanse_wire::Record) holds. Malformed data gives an
//! [`RdataError`]; no input makes a parser panic, and each parser reads its
//! input once.
//!
//! # Limitations
//! - The views do not check semantics beyond the layout (an unknown algorithm
//!   or digest type parses; the verifier decides what to do with it).
//! - Names inside the data must be uncompressed, as RFC 4034 §2.1, §3.1.7 and
//!   §4.1.1 require.

use hanse_wire::{MAX_NAME_LENGTH, Name, RType};

/// Why record data is not a valid DNSSEC record of the expected type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RdataError {
    /// The data ends before a fixed-size field.
    #[error("{0} record data too short")]
    TooShort(&'static str),
    /// A name inside the data is not a valid uncompressed name.
    #[error("{0} record data holds a bad name")]
    BadName(&'static str),
    /// The type bit map breaks RFC 4034 §4.1.2 (order, window length).
    #[error("bad type bit map")]
    BadTypeBitmap,
    /// A length byte points past the end of the data.
    #[error("{0} record data has a bad length field")]
    BadLength(&'static str),
    /// Bytes left over after the last field of a fixed layout.
    #[error("{0} record data has trailing bytes")]
    TrailingData(&'static str),
    /// The record is not of the type this view reads.
    #[error("expected a {expected} record, got {found}")]
    WrongType {
        /// The type the view reads.
        expected: RType,
        /// The type of the record given.
        found: RType,
    },
}

/// A DNSSEC algorithm number (IANA "DNS Security Algorithm Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Algorithm(pub u8);

impl Algorithm {
    /// RSA/MD5 (deprecated, RFC 6725).
    pub const RSAMD5: Algorithm = Algorithm(1);
    /// RSA/SHA-1 (RFC 3110).
    pub const RSASHA1: Algorithm = Algorithm(5);
    /// DSA with SHA-1 (RFC 2536), retired by RFC 8624.
    pub const DSA: Algorithm = Algorithm(3);
    /// DSA with SHA-1, NSEC3 alias (RFC 5155 §2), retired by RFC 8624.
    pub const DSA_NSEC3_SHA1: Algorithm = Algorithm(6);
    /// RSA/SHA-1 with NSEC3 (RFC 5155).
    pub const RSASHA1_NSEC3_SHA1: Algorithm = Algorithm(7);
    /// RSA/SHA-256 (RFC 5702).
    pub const RSASHA256: Algorithm = Algorithm(8);
    /// RSA/SHA-512 (RFC 5702).
    pub const RSASHA512: Algorithm = Algorithm(10);
    /// ECDSA P-256 with SHA-256 (RFC 6605).
    pub const ECDSAP256SHA256: Algorithm = Algorithm(13);
    /// ECDSA P-384 with SHA-384 (RFC 6605).
    pub const ECDSAP384SHA384: Algorithm = Algorithm(14);
    /// Ed25519 (RFC 8080).
    pub const ED25519: Algorithm = Algorithm(15);
    /// Ed448 (RFC 8080).
    pub const ED448: Algorithm = Algorithm(16);
}

/// A DS digest type number (IANA "Digest Algorithms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DigestType(pub u8);

impl DigestType {
    /// SHA-1 (RFC 4034).
    pub const SHA1: DigestType = DigestType(1);
    /// SHA-256 (RFC 4509).
    pub const SHA256: DigestType = DigestType(2);
    /// SHA-384 (RFC 6605).
    pub const SHA384: DigestType = DigestType(4);
}

/// The DNSKEY flag of a zone key (RFC 4034 §2.1.1, bit 7).
pub const ZONE_KEY_FLAG: u16 = 0x0100;
/// The DNSKEY flag of a revoked key (RFC 5011 §7, bit 8).
pub const REVOKE_FLAG: u16 = 0x0080;
/// The DNSKEY flag of a secure entry point (RFC 4034 §2.1.1, bit 15).
pub const SECURE_ENTRY_POINT_FLAG: u16 = 0x0001;
/// The only valid DNSKEY protocol value (RFC 4034 §2.1.2).
pub const DNSKEY_PROTOCOL: u8 = 3;

/// The data of a DNSKEY record (RFC 4034 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dnskey {
    /// The flags field.
    pub flags: u16,
    /// The protocol field; 3 for every usable key.
    pub protocol: u8,
    /// The algorithm of the key.
    pub algorithm: Algorithm,
    /// The public key, in the algorithm's own format.
    pub public_key: Box<[u8]>,
    /// The whole record data, which DS digests and the key tag cover.
    rdata: Box<[u8]>,
    key_tag: u16,
}

impl Dnskey {
    /// Reads DNSKEY record data.
    pub fn parse(data: &[u8]) -> Result<Dnskey, RdataError> {
        if data.len() < 4 {
            return Err(RdataError::TooShort("DNSKEY"));
        }
        Ok(Dnskey {
            flags: u16::from_be_bytes([data[0], data[1]]),
            protocol: data[2],
            algorithm: Algorithm(data[3]),
            public_key: data[4..].into(),
            rdata: data.into(),
            key_tag: compute_key_tag(data),
        })
    }

    /// Reads the data of a DNSKEY record.
    pub fn from_record(record: &hanse_wire::Record) -> Result<Dnskey, RdataError> {
        expect_type(record, RType::DNSKEY)?;
        Dnskey::parse(&record.data)
    }

    /// The key tag (RFC 4034 Appendix B).
    pub fn key_tag(&self) -> u16 {
        self.key_tag
    }

    /// The record data as it came.
    pub fn rdata(&self) -> &[u8] {
        &self.rdata
    }

    /// Whether the zone key flag is set: only such keys verify RRSIGs.
    pub fn is_zone_key(&self) -> bool {
        self.flags & ZONE_KEY_FLAG != 0
    }

    /// Whether the secure entry point flag is set (a hint, never a rule).
    pub fn is_secure_entry_point(&self) -> bool {
        self.flags & SECURE_ENTRY_POINT_FLAG != 0
    }

    /// Whether the key is revoked (RFC 5011 §2.1): it no longer verifies anything.
    pub fn is_revoked(&self) -> bool {
        self.flags & REVOKE_FLAG != 0
    }
}

/// Computes the key tag of DNSKEY record data (RFC 4034 Appendix B; B.1 for
/// algorithm 1).
pub fn compute_key_tag(data: &[u8]) -> u16 {
    if data.get(3) == Some(&Algorithm::RSAMD5.0) {
        // Appendix B.1: the most significant 16 of the least significant 24
        // bits of the modulus, which ends the record data.
        if data.len() >= 4 + 3 {
            let end = data.len();
            return u16::from_be_bytes([data[end - 3], data[end - 2]]);
        }
        return 0;
    }
    let mut sum: u32 = 0;
    for (index, &byte) in data.iter().enumerate() {
        sum += if index & 1 == 0 {
            u32::from(byte) << 8
        } else {
            u32::from(byte)
        };
    }
    sum += (sum >> 16) & 0xffff;
    (sum & 0xffff) as u16
}

/// The data of a DS record (RFC 4034 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ds {
    /// The key tag of the DNSKEY it refers to.
    pub key_tag: u16,
    /// The algorithm of that DNSKEY.
    pub algorithm: Algorithm,
    /// How the digest was computed.
    pub digest_type: DigestType,
    /// The digest of the owner name and the DNSKEY record data.
    pub digest: Box<[u8]>,
}

impl Ds {
    /// Reads DS record data.
    pub fn parse(data: &[u8]) -> Result<Ds, RdataError> {
        if data.len() < 4 {
            return Err(RdataError::TooShort("DS"));
        }
        Ok(Ds {
            key_tag: u16::from_be_bytes([data[0], data[1]]),
            algorithm: Algorithm(data[2]),
            digest_type: DigestType(data[3]),
            digest: data[4..].into(),
        })
    }

    /// Reads the data of a DS record.
    pub fn from_record(record: &hanse_wire::Record) -> Result<Ds, RdataError> {
        expect_type(record, RType::DS)?;
        Ds::parse(&record.data)
    }
}

/// The length of the RRSIG fields before the signer's name.
const RRSIG_FIXED_LENGTH: usize = 18;

/// The data of an RRSIG record (RFC 4034 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrsig {
    /// The type of the RRset it signs.
    pub type_covered: RType,
    /// The algorithm of the signature.
    pub algorithm: Algorithm,
    /// The number of labels of the signed owner name, not counting a leading `*`.
    pub labels: u8,
    /// The TTL of the RRset as the signer saw it.
    pub original_ttl: u32,
    /// The end of the validity period, seconds since 1970 modulo 2^32.
    pub expiration: u32,
    /// The start of the validity period, seconds since 1970 modulo 2^32.
    pub inception: u32,
    /// The key tag of the DNSKEY that made it.
    pub key_tag: u16,
    /// The owner of that DNSKEY, the apex of the signed zone.
    pub signer_name: Name,
    /// The signature itself.
    pub signature: Box<[u8]>,
}

impl Rrsig {
    /// Reads RRSIG record data.
    pub fn parse(data: &[u8]) -> Result<Rrsig, RdataError> {
        if data.len() < RRSIG_FIXED_LENGTH + 1 {
            return Err(RdataError::TooShort("RRSIG"));
        }
        let u32_at =
            |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        let (signer_name, rest) =
            read_name(&data[RRSIG_FIXED_LENGTH..]).ok_or(RdataError::BadName("RRSIG"))?;
        Ok(Rrsig {
            type_covered: RType(u16::from_be_bytes([data[0], data[1]])),
            algorithm: Algorithm(data[2]),
            labels: data[3],
            original_ttl: u32_at(4),
            expiration: u32_at(8),
            inception: u32_at(12),
            key_tag: u16::from_be_bytes([data[16], data[17]]),
            signer_name,
            signature: rest.into(),
        })
    }

    /// Reads the data of an RRSIG record.
    pub fn from_record(record: &hanse_wire::Record) -> Result<Rrsig, RdataError> {
        expect_type(record, RType::RRSIG)?;
        Rrsig::parse(&record.data)
    }

    /// The record data without the signature, with the signer's name in
    /// canonical (lower-case) form: the first part of the signed data
    /// (RFC 4034 §3.1.8.1).
    pub fn signed_fields(&self) -> Vec<u8> {
        let signer = self.signer_name.to_lowercase();
        let mut out = Vec::with_capacity(RRSIG_FIXED_LENGTH + signer.as_wire().len());
        out.extend_from_slice(&self.type_covered.0.to_be_bytes());
        out.push(self.algorithm.0);
        out.push(self.labels);
        out.extend_from_slice(&self.original_ttl.to_be_bytes());
        out.extend_from_slice(&self.expiration.to_be_bytes());
        out.extend_from_slice(&self.inception.to_be_bytes());
        out.extend_from_slice(&self.key_tag.to_be_bytes());
        out.extend_from_slice(signer.as_wire());
        out
    }
}

/// A type bit map (RFC 4034 §4.1.2), checked on parse: windows in increasing
/// order, each 1 to 32 octets long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeBitmap {
    bytes: Box<[u8]>,
}

impl TypeBitmap {
    /// Reads a type bit map that fills `data`.
    pub fn parse(data: &[u8]) -> Result<TypeBitmap, RdataError> {
        let mut position = 0;
        let mut previous_window: Option<u8> = None;
        while position < data.len() {
            let window = data[position];
            let length = usize::from(*data.get(position + 1).ok_or(RdataError::BadTypeBitmap)?);
            if length == 0 || length > 32 || previous_window.is_some_and(|before| window <= before)
            {
                return Err(RdataError::BadTypeBitmap);
            }
            if position + 2 + length > data.len() {
                return Err(RdataError::BadTypeBitmap);
            }
            previous_window = Some(window);
            position += 2 + length;
        }
        Ok(TypeBitmap { bytes: data.into() })
    }

    /// Whether the map lists `rtype`.
    pub fn contains(&self, rtype: RType) -> bool {
        let [window, low] = rtype.0.to_be_bytes();
        let mut position = 0;
        while position + 1 < self.bytes.len() {
            let length = usize::from(self.bytes[position + 1]);
            if self.bytes[position] == window {
                let index = usize::from(low / 8);
                return index < length
                    && self.bytes[position + 2 + index] & (0x80 >> (low % 8)) != 0;
            }
            position += 2 + length;
        }
        false
    }

    /// The listed types, in increasing order.
    pub fn types(&self) -> Vec<RType> {
        let mut types = Vec::new();
        let mut position = 0;
        while position + 1 < self.bytes.len() {
            let window = u16::from(self.bytes[position]);
            let length = usize::from(self.bytes[position + 1]);
            for (index, &byte) in self.bytes[position + 2..position + 2 + length]
                .iter()
                .enumerate()
            {
                for bit in 0..8u16 {
                    if byte & (0x80 >> bit) != 0 {
                        types.push(RType(window << 8 | (index as u16) << 3 | bit));
                    }
                }
            }
            position += 2 + length;
        }
        types
    }

    /// The map in wire form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The data of an NSEC record (RFC 4034 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nsec {
    /// The next owner name in canonical order in the zone (the apex for the last).
    pub next_name: Name,
    /// The types present at the owner name.
    pub types: TypeBitmap,
}

impl Nsec {
    /// Reads NSEC record data.
    pub fn parse(data: &[u8]) -> Result<Nsec, RdataError> {
        let (next_name, rest) = read_name(data).ok_or(RdataError::BadName("NSEC"))?;
        Ok(Nsec {
            next_name,
            types: TypeBitmap::parse(rest)?,
        })
    }

    /// Reads the data of an NSEC record.
    pub fn from_record(record: &hanse_wire::Record) -> Result<Nsec, RdataError> {
        expect_type(record, RType::NSEC)?;
        Nsec::parse(&record.data)
    }
}

/// The NSEC3 flag that marks opt-out (RFC 5155 §3.1.2.1).
pub const OPT_OUT_FLAG: u8 = 0x01;
/// The NSEC3 hash algorithm SHA-1 (RFC 5155 §11), the only one defined.
pub const NSEC3_HASH_SHA1: u8 = 1;

/// The data of an NSEC3 record (RFC 5155 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nsec3 {
    /// The hash algorithm (1, SHA-1).
    pub hash_algorithm: u8,
    /// The flags; bit 0 is opt-out.
    pub flags: u8,
    /// Additional hash iterations.
    pub iterations: u16,
    /// The salt appended at every iteration.
    pub salt: Box<[u8]>,
    /// The next hashed owner name, in binary (not base32hex).
    pub next_hashed_owner: Box<[u8]>,
    /// The types present at the original owner name.
    pub types: TypeBitmap,
}

impl Nsec3 {
    /// Reads NSEC3 record data.
    pub fn parse(data: &[u8]) -> Result<Nsec3, RdataError> {
        let (parameters, rest) = Nsec3Param::parse_prefix(data, "NSEC3")?;
        let hash_length = usize::from(*rest.first().ok_or(RdataError::TooShort("NSEC3"))?);
        let next_hashed_owner = rest
            .get(1..1 + hash_length)
            .ok_or(RdataError::BadLength("NSEC3"))?;
        if hash_length == 0 {
            return Err(RdataError::BadLength("NSEC3"));
        }
        Ok(Nsec3 {
            hash_algorithm: parameters.hash_algorithm,
            flags: parameters.flags,
            iterations: parameters.iterations,
            salt: parameters.salt,
            next_hashed_owner: next_hashed_owner.into(),
            types: TypeBitmap::parse(&rest[1 + hash_length..])?,
        })
    }

    /// Reads the data of an NSEC3 record.
    pub fn from_record(record: &hanse_wire::Record) -> Result<Nsec3, RdataError> {
        expect_type(record, RType::NSEC3)?;
        Nsec3::parse(&record.data)
    }

    /// Whether the opt-out flag is set.
    pub fn is_opt_out(&self) -> bool {
        self.flags & OPT_OUT_FLAG != 0
    }
}

/// The data of an NSEC3PARAM record (RFC 5155 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nsec3Param {
    /// The hash algorithm (1, SHA-1).
    pub hash_algorithm: u8,
    /// The flags (zero in a valid NSEC3PARAM).
    pub flags: u8,
    /// Additional hash iterations.
    pub iterations: u16,
    /// The salt.
    pub salt: Box<[u8]>,
}

impl Nsec3Param {
    /// Reads NSEC3PARAM record data.
    pub fn parse(data: &[u8]) -> Result<Nsec3Param, RdataError> {
        let (parameters, rest) = Nsec3Param::parse_prefix(data, "NSEC3PARAM")?;
        if !rest.is_empty() {
            return Err(RdataError::TrailingData("NSEC3PARAM"));
        }
        Ok(parameters)
    }

    /// Reads the data of an NSEC3PARAM record.
    pub fn from_record(record: &hanse_wire::Record) -> Result<Nsec3Param, RdataError> {
        expect_type(record, RType::NSEC3PARAM)?;
        Nsec3Param::parse(&record.data)
    }

    fn parse_prefix<'a>(
        data: &'a [u8],
        what: &'static str,
    ) -> Result<(Nsec3Param, &'a [u8]), RdataError> {
        if data.len() < 5 {
            return Err(RdataError::TooShort(what));
        }
        let salt_length = usize::from(data[4]);
        let salt = data
            .get(5..5 + salt_length)
            .ok_or(RdataError::BadLength(what))?;
        Ok((
            Nsec3Param {
                hash_algorithm: data[0],
                flags: data[1],
                iterations: u16::from_be_bytes([data[2], data[3]]),
                salt: salt.into(),
            },
            &data[5 + salt_length..],
        ))
    }
}

fn expect_type(record: &hanse_wire::Record, expected: RType) -> Result<(), RdataError> {
    if record.rtype == expected {
        Ok(())
    } else {
        Err(RdataError::WrongType {
            expected,
            found: record.rtype,
        })
    }
}

/// Reads an uncompressed name at the start of `data`; returns it and the rest.
pub(crate) fn read_name(data: &[u8]) -> Option<(Name, &[u8])> {
    let mut position = 0;
    loop {
        let length = usize::from(*data.get(position)?);
        if length & 0xc0 != 0 {
            return None;
        }
        position += 1 + length;
        if position > MAX_NAME_LENGTH {
            return None;
        }
        if length == 0 {
            break;
        }
    }
    let name = Name::from_wire(data.get(..position)?).ok()?;
    Some((name, &data[position..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_bitmap_reads_and_rejects() {
        // A (1), MX (15), RRSIG (46), NSEC (47), TYPE1234 (window 4).
        let mut map = vec![0, 6, 0x40, 0x01, 0, 0, 0, 0x03];
        map.extend_from_slice(&[4, 27]);
        map.extend(std::iter::repeat_n(0, 26));
        map.push(0x20);
        let bitmap = TypeBitmap::parse(&map).unwrap();
        assert!(bitmap.contains(RType::A));
        assert!(bitmap.contains(RType::MX));
        assert!(bitmap.contains(RType::RRSIG) && bitmap.contains(RType::NSEC));
        assert!(bitmap.contains(RType(1234)));
        assert!(!bitmap.contains(RType::AAAA) && !bitmap.contains(RType(1235)));
        assert_eq!(
            bitmap.types(),
            vec![RType::A, RType::MX, RType::RRSIG, RType::NSEC, RType(1234)]
        );
        assert!(TypeBitmap::parse(&[]).unwrap().types().is_empty());
        for bad in [
            &[0u8][..],
            &[0, 0],
            &[0, 33],
            &[0, 2, 1],
            &[1, 1, 1, 0, 1, 1],
        ] {
            assert_eq!(
                TypeBitmap::parse(bad),
                Err(RdataError::BadTypeBitmap),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn short_and_malformed_data_gives_errors() {
        assert!(Dnskey::parse(&[1, 0, 3]).is_err());
        assert!(Ds::parse(&[0, 1, 8]).is_err());
        assert!(Rrsig::parse(&[0; 18]).is_err());
        // A signer name that runs past the end.
        let mut rrsig = vec![0u8; 18];
        rrsig.extend_from_slice(&[3, b'c', b'o']);
        assert_eq!(Rrsig::parse(&rrsig), Err(RdataError::BadName("RRSIG")));
        // A compression pointer instead of a name.
        assert!(Nsec::parse(&[0xc0, 0x0c]).is_err());
        assert!(Nsec3::parse(&[1, 0, 0, 0, 4, 1]).is_err());
        assert!(Nsec3::parse(&[1, 0, 0, 0, 0, 0]).is_err());
        assert!(Nsec3Param::parse(&[1, 0, 0, 0, 0, 9]).is_err());
        assert_eq!(
            Nsec3Param::parse(&[1, 0, 0, 10, 1, 0xab])
                .unwrap()
                .iterations,
            10
        );
    }

    #[test]
    fn key_tag_of_algorithm_one_uses_the_modulus() {
        let data = [1, 0, 3, 1, 1, 3, 0xaa, 0xbb, 0xcc, 0xdd];
        assert_eq!(compute_key_tag(&data), 0xbbcc);
    }
}
