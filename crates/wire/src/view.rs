//! A zero-copy view of a client query, for the hot path.
//!
//! [`QueryView::parse`] reads the header, the single question and an optional
//! OPT record in place and derives the answer-cache key on the stack. Anything
//! unusual (a compressed question, records other than one OPT, several
//! questions) returns `None`, and the caller takes the slow path through
//! [`crate::Message::parse`], which handles every case.

use crate::header::{HEADER_LENGTH, Header};
use crate::name::MAX_NAME_LENGTH;
use crate::types::{Class, RType};

/// The longest cache key: a name, type, class and a flags byte.
pub const MAX_KEY_LENGTH: usize = MAX_NAME_LENGTH + 5;

/// The answer-cache key of a query: lower-cased QNAME, QTYPE, QCLASS and
/// the flags that change the answer (EDNS present, DO, CD, RD).
#[derive(Clone, Copy)]
pub struct CacheKey {
    bytes: [u8; MAX_KEY_LENGTH],
    length: u16,
}

impl CacheKey {
    /// Builds a key from its parts.
    pub fn new(wire_name: &[u8], rtype: RType, class: Class, flags: KeyFlags) -> Option<CacheKey> {
        if wire_name.len() > MAX_NAME_LENGTH {
            return None;
        }
        let mut bytes = [0u8; MAX_KEY_LENGTH];
        let name_length = wire_name.len();
        for (slot, byte) in bytes.iter_mut().zip(wire_name) {
            *slot = byte.to_ascii_lowercase();
        }
        bytes[name_length..name_length + 2].copy_from_slice(&rtype.0.to_be_bytes());
        bytes[name_length + 2..name_length + 4].copy_from_slice(&class.0.to_be_bytes());
        bytes[name_length + 4] = flags.0;
        Some(CacheKey {
            bytes,
            length: (name_length + 5) as u16,
        })
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.length)]
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({:02x?})", self.as_bytes())
    }
}

/// The query flags that are part of a [`CacheKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyFlags(pub u8);

impl KeyFlags {
    /// Builds the flags byte.
    pub fn new(
        edns: bool,
        dnssec_ok: bool,
        checking_disabled: bool,
        recursion_desired: bool,
    ) -> KeyFlags {
        KeyFlags(
            u8::from(edns)
                | (u8::from(dnssec_ok) << 1)
                | (u8::from(checking_disabled) << 2)
                | (u8::from(recursion_desired) << 3),
        )
    }

    /// The flags with the query's AD bit (bit 4) added: a validating
    /// resolver answers AD only to clients that set DO or AD (RFC 6840 §5.7).
    pub fn with_authentic_data(self, authentic_data: bool) -> KeyFlags {
        KeyFlags(self.0 | (u8::from(authentic_data) << 4))
    }
}

/// A borrowed view of a simple client query.
#[derive(Debug, Clone, Copy)]
pub struct QueryView<'a> {
    packet: &'a [u8],
    /// The decoded header.
    pub header: Header,
    question_end: usize,
    /// QTYPE.
    pub rtype: RType,
    /// QCLASS.
    pub class: Class,
    /// The EDNS UDP payload size, if the query had an OPT record.
    pub edns_udp_size: Option<u16>,
    /// The EDNS version.
    pub edns_version: u8,
    /// The DO bit.
    pub dnssec_ok: bool,
}

impl<'a> QueryView<'a> {
    /// Reads a query of the common shape: one uncompressed question and at
    /// most one OPT record. `None` means "use the full parser".
    pub fn parse(packet: &'a [u8]) -> Option<QueryView<'a>> {
        let header = Header::parse(packet).ok()?;
        if header.response
            || header.question_count != 1
            || header.answer_count != 0
            || header.authority_count != 0
            || header.additional_count > 1
        {
            return None;
        }
        let name_length = crate::name::check_uncompressed(packet.get(HEADER_LENGTH..)?).ok()?;
        let type_offset = HEADER_LENGTH + name_length;
        let fixed = packet.get(type_offset..type_offset + 4)?;
        let rtype = RType(u16::from_be_bytes([fixed[0], fixed[1]]));
        let class = Class(u16::from_be_bytes([fixed[2], fixed[3]]));
        let question_end = type_offset + 4;
        let mut view = QueryView {
            packet,
            header,
            question_end,
            rtype,
            class,
            edns_udp_size: None,
            edns_version: 0,
            dnssec_ok: false,
        };
        if header.additional_count == 1 {
            // An OPT record: root owner, type 41, class = size, TTL, RDLENGTH, options.
            let opt = packet.get(question_end..question_end + 11)?;
            if opt[0] != 0 || u16::from_be_bytes([opt[1], opt[2]]) != RType::OPT.0 {
                return None;
            }
            let options_length = usize::from(u16::from_be_bytes([opt[9], opt[10]]));
            if packet.len() != question_end + 11 + options_length {
                return None;
            }
            // The options must tile the data exactly, as Message::parse requires.
            let mut options = &packet[question_end + 11..];
            while !options.is_empty() {
                let length = usize::from(u16::from_be_bytes([*options.get(2)?, *options.get(3)?]));
                options = options.get(4 + length..)?;
            }
            view.edns_udp_size = Some(u16::from_be_bytes([opt[3], opt[4]]));
            view.edns_version = opt[6];
            view.dnssec_ok = opt[7] & 0x80 != 0;
        } else if packet.len() != question_end {
            return None;
        }
        Some(view)
    }

    /// The QNAME in wire form, as the client wrote it.
    pub fn name_wire(&self) -> &'a [u8] {
        &self.packet[HEADER_LENGTH..self.question_end - 4]
    }

    /// The question section's bytes.
    pub fn question_bytes(&self) -> &'a [u8] {
        &self.packet[HEADER_LENGTH..self.question_end]
    }

    /// The answer-cache key of this query.
    pub fn cache_key(&self) -> CacheKey {
        let flags = KeyFlags::new(
            self.edns_udp_size.is_some(),
            self.dnssec_ok,
            self.header.checking_disabled,
            self.header.recursion_desired,
        )
        .with_authentic_data(self.header.authentic_data);
        CacheKey::new(self.name_wire(), self.rtype, self.class, flags)
            .expect("a checked name is at most 255 bytes")
    }

    /// The largest UDP response the client accepts (RFC 6891 §6.2.5: at least 512).
    pub fn udp_limit(&self) -> usize {
        usize::from(self.edns_udp_size.unwrap_or(512).max(512))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::compose_query;
    use crate::message::Edns;
    use crate::name::Name;

    #[test]
    fn view_reads_simple_queries_and_ignores_case_in_the_key() {
        let name = Name::from_ascii("WWW.Example.com.").unwrap();
        let edns = Edns {
            dnssec_ok: true,
            udp_size: 4096,
            ..Edns::default()
        };
        let packet = compose_query(1, &name, RType::AAAA, true, Some(edns));
        let view = QueryView::parse(&packet).unwrap();
        assert_eq!(view.rtype, RType::AAAA);
        assert_eq!(view.edns_udp_size, Some(4096));
        assert!(view.dnssec_ok);
        assert_eq!(view.name_wire(), name.as_wire());
        let lower = compose_query(
            2,
            &name.to_lowercase(),
            RType::AAAA,
            true,
            Some(Edns {
                dnssec_ok: true,
                ..Edns::default()
            }),
        );
        assert_eq!(
            QueryView::parse(&lower).unwrap().cache_key().as_bytes(),
            view.cache_key().as_bytes()
        );
        let plain = compose_query(3, &name, RType::AAAA, true, None);
        assert_ne!(
            QueryView::parse(&plain).unwrap().cache_key().as_bytes(),
            view.cache_key().as_bytes()
        );
    }

    #[test]
    fn view_declines_unusual_shapes() {
        let name = Name::from_ascii("example.com.").unwrap();
        let mut packet = compose_query(1, &name, RType::A, true, None);
        packet.push(0);
        assert!(QueryView::parse(&packet).is_none());
        // An OPT record whose option overruns its data.
        let mut bad_opt = compose_query(1, &name, RType::A, true, Some(Edns::default()));
        bad_opt.truncate(bad_opt.len() - 2);
        bad_opt.extend_from_slice(&[0, 7, 0, 10, 0, 8, 1, 2, 3]);
        assert!(QueryView::parse(&bad_opt).is_none());
        assert!(crate::Message::parse(&bad_opt).is_err());
        assert!(QueryView::parse(&packet[..14]).is_none());
    }
}
