//! Numeric code points of the DNS: record types, classes and response codes
//! (IANA "Domain Name System (DNS) Parameters"; RFC 1035, RFC 6895).

use std::fmt;
use std::str::FromStr;

/// A record type (RR TYPE), a 16-bit code point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RType(pub u16);

macro_rules! rtypes {
    ($($name:ident = $value:expr),* $(,)?) => {
        impl RType {
            $(#[doc = concat!("The `", stringify!($name), "` record type.")]
            pub const $name: RType = RType($value);)*

            /// The mnemonic of a known type, if it has one.
            pub fn mnemonic(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }

        impl FromStr for RType {
            type Err = ();
            /// Parses a mnemonic (case-insensitive) or the RFC 3597 `TYPEnnn` form.
            fn from_str(text: &str) -> Result<Self, ()> {
                let upper = text.to_ascii_uppercase();
                match upper.as_str() {
                    $(stringify!($name) => Ok(RType($value)),)*
                    _ => upper
                        .strip_prefix("TYPE")
                        .and_then(|number| number.parse::<u16>().ok())
                        .map(RType)
                        .ok_or(()),
                }
            }
        }
    };
}

rtypes! {
    A = 1, NS = 2, MD = 3, MF = 4, CNAME = 5, SOA = 6, MB = 7, MG = 8, MR = 9, NULL = 10,
    WKS = 11, PTR = 12, HINFO = 13, MINFO = 14, MX = 15, TXT = 16, RP = 17, AFSDB = 18,
    SIG = 24, KEY = 25, PX = 26, AAAA = 28, LOC = 29, SRV = 33, NAPTR = 35, KX = 36,
    CERT = 37, DNAME = 39, OPT = 41, APL = 42, DS = 43, SSHFP = 44, IPSECKEY = 45,
    RRSIG = 46, NSEC = 47, DNSKEY = 48, DHCID = 49, NSEC3 = 50, NSEC3PARAM = 51,
    TLSA = 52, SMIMEA = 53, HIP = 55, CDS = 59, CDNSKEY = 60, OPENPGPKEY = 61,
    CSYNC = 62, ZONEMD = 63, SVCB = 64, HTTPS = 65, SPF = 99, EUI48 = 108, EUI64 = 109,
    TKEY = 249, TSIG = 250, IXFR = 251, AXFR = 252, MAILB = 253, MAILA = 254, ANY = 255,
    URI = 256, CAA = 257, RT = 21,
}

impl RType {
    /// Whether this is a query-only or meta type (RFC 6895 §3.1) that never
    /// appears as data in a cache.
    pub fn is_meta(self) -> bool {
        matches!(self.0, 41 | 128..=255)
    }
}

impl fmt::Display for RType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mnemonic() {
            Some(name) => f.write_str(name),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

impl fmt::Debug for RType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A record class. Only [`Class::IN`] is resolved; CH and HS pass through.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Class(pub u16);

impl Class {
    /// The Internet class.
    pub const IN: Class = Class(1);
    /// The Chaos class.
    pub const CH: Class = Class(3);
    /// The Hesiod class.
    pub const HS: Class = Class(4);
    /// The NONE class (RFC 2136).
    pub const NONE: Class = Class(254);
    /// The ANY class (query only).
    pub const ANY: Class = Class(255);
}

impl FromStr for Class {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        let upper = text.to_ascii_uppercase();
        match upper.as_str() {
            "IN" => Ok(Class::IN),
            "CH" | "CHAOS" => Ok(Class::CH),
            "HS" => Ok(Class::HS),
            _ => upper
                .strip_prefix("CLASS")
                .and_then(|number| number.parse::<u16>().ok())
                .map(Class)
                .ok_or(()),
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Class::IN => f.write_str("IN"),
            Class::CH => f.write_str("CH"),
            Class::HS => f.write_str("HS"),
            Class(other) => write!(f, "CLASS{other}"),
        }
    }
}

/// A response code, 12 bits once EDNS extends the header's four (RFC 6891 §6.1.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rcode(pub u16);

impl Rcode {
    /// No error.
    pub const NOERROR: Rcode = Rcode(0);
    /// The server could not interpret the query.
    pub const FORMERR: Rcode = Rcode(1);
    /// The server failed to process the query.
    pub const SERVFAIL: Rcode = Rcode(2);
    /// The name does not exist.
    pub const NXDOMAIN: Rcode = Rcode(3);
    /// The server does not implement this kind of query.
    pub const NOTIMP: Rcode = Rcode(4);
    /// The server refuses to answer.
    pub const REFUSED: Rcode = Rcode(5);
    /// Unsupported EDNS version (RFC 6891).
    pub const BADVERS: Rcode = Rcode(16);
    /// Bad or missing server cookie (RFC 7873).
    pub const BADCOOKIE: Rcode = Rcode(23);

    /// The low four bits, which go in the header.
    pub fn header_bits(self) -> u8 {
        (self.0 & 0x0f) as u8
    }

    /// The high eight bits, which go in the OPT record's TTL field.
    pub fn extended_bits(self) -> u8 {
        ((self.0 >> 4) & 0xff) as u8
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "NOERROR",
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            16 => "BADVERS",
            23 => "BADCOOKIE",
            other => return write!(f, "RCODE{other}"),
        };
        f.write_str(name)
    }
}

impl fmt::Debug for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Rcode {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        (0..=23u16)
            .map(Rcode)
            .find(|rcode| rcode.to_string().eq_ignore_ascii_case(text))
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_mnemonics_round_trip() {
        for value in 0..=300u16 {
            let rtype = RType(value);
            assert_eq!(rtype.to_string().parse::<RType>(), Ok(rtype));
        }
        assert_eq!("aaaa".parse::<RType>(), Ok(RType::AAAA));
        assert_eq!("TYPE65534".parse::<RType>(), Ok(RType(65534)));
        assert!("TYPEX".parse::<RType>().is_err());
    }

    #[test]
    fn rcode_splits_into_header_and_extension() {
        assert_eq!(Rcode::BADVERS.header_bits(), 0);
        assert_eq!(Rcode::BADVERS.extended_bits(), 1);
        assert_eq!("nxdomain".parse::<Rcode>(), Ok(Rcode::NXDOMAIN));
    }
}

/// One field of record data, for walking the names inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdataField {
    /// A domain name.
    Name,
    /// A fixed number of octets.
    Fixed(usize),
    /// A `<character-string>`: a length octet and that many octets.
    CharacterString,
    /// Everything that follows, opaque.
    Rest,
}

/// Where the names are in the data of the types that RFC 1035 and its
/// successors define with embedded names, which a message may compress
/// (RFC 3597 §4: compression is only read for these): `None` for every other
/// type.
pub fn compressible_layout(rtype: RType) -> Option<&'static [RdataField]> {
    use RdataField::*;
    Some(match rtype {
        RType::NS
        | RType::MD
        | RType::MF
        | RType::CNAME
        | RType::MB
        | RType::MG
        | RType::MR
        | RType::PTR
        | RType::DNAME => &[Name],
        RType::SOA => &[Name, Name, Fixed(20)],
        RType::MINFO | RType::RP => &[Name, Name],
        RType::MX | RType::AFSDB | RType::RT | RType::KX => &[Fixed(2), Name],
        RType::PX => &[Fixed(2), Name, Name],
        RType::SRV => &[Fixed(6), Name],
        RType::NAPTR => &[
            Fixed(4),
            CharacterString,
            CharacterString,
            CharacterString,
            Name,
        ],
        _ => return None,
    })
}

/// Where the names are in the data of the types whose names RFC 4034 §6.2
/// lower-cases for the canonical form (without NSEC, RFC 6840 §5.1): the
/// compressible types plus SIG, RRSIG (the signer's name) and NXT.
pub fn canonical_layout(rtype: RType) -> Option<&'static [RdataField]> {
    use RdataField::*;
    match rtype {
        RType::SIG | RType::RRSIG => Some(&[Fixed(18), Name, Rest]),
        // NXT (type 30, obsolete): the next name, then a bit map.
        RType(30) => Some(&[Name, Rest]),
        _ => compressible_layout(rtype),
    }
}
