//! Owned DNS messages: questions, resource records, the EDNS OPT pseudo-record
//! (RFC 1035 §4, RFC 3597, RFC 6891).
//!
//! [`Message::parse`] checks every count, length and pointer and decompresses
//! names inside record data of the types listed in RFC 3597 §4 (plus the types
//! that RFC 3597 says receivers should decompress), so that the record data
//! a [`Record`] holds never depends on the packet it came from.

use crate::error::WireError;
use crate::header::{HEADER_LENGTH, Header};
use crate::name::{MAX_NAME_LENGTH, Name, decompress_into};
use crate::types::{Class, RType, Rcode};
use crate::types::{RdataField, compressible_layout};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A question: the name, type and class asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Question {
    /// QNAME.
    pub name: Name,
    /// QTYPE.
    pub rtype: RType,
    /// QCLASS.
    pub class: Class,
}

/// A resource record with uncompressed record data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// The owner name.
    pub name: Name,
    /// The record type.
    pub rtype: RType,
    /// The record class.
    pub class: Class,
    /// Time to live in seconds.
    pub ttl: u32,
    /// The record data, with any names in it uncompressed.
    pub data: Box<[u8]>,
}

impl Record {
    /// The name in the data of NS, CNAME, DNAME, PTR (and the other
    /// single-name types), or `None` for other types or bad data.
    pub fn target_name(&self) -> Option<Name> {
        match self.rtype {
            RType::NS
            | RType::CNAME
            | RType::DNAME
            | RType::PTR
            | RType::MD
            | RType::MF
            | RType::MB
            | RType::MG
            | RType::MR => Name::from_wire(&self.data).ok(),
            RType::MX | RType::KX | RType::AFSDB | RType::RT => {
                Name::from_wire(self.data.get(2..)?).ok()
            }
            RType::SRV => Name::from_wire(self.data.get(6..)?).ok(),
            _ => None,
        }
    }

    /// The address in the data of an A or AAAA record.
    pub fn address(&self) -> Option<IpAddr> {
        match self.rtype {
            RType::A => <[u8; 4]>::try_from(&*self.data)
                .ok()
                .map(|b| Ipv4Addr::from(b).into()),
            RType::AAAA => <[u8; 16]>::try_from(&*self.data)
                .ok()
                .map(|b| Ipv6Addr::from(b).into()),
            _ => None,
        }
    }

    /// The MINIMUM field of an SOA record, which bounds negative caching (RFC 2308 §5).
    pub fn soa_minimum(&self) -> Option<u32> {
        if self.rtype != RType::SOA {
            return None;
        }
        let tail = self.data.len().checked_sub(4)?;
        Some(u32::from_be_bytes(self.data[tail..].try_into().ok()?))
    }

    /// The SERIAL field of an SOA record.
    pub fn soa_serial(&self) -> Option<u32> {
        if self.rtype != RType::SOA {
            return None;
        }
        let tail = self.data.len().checked_sub(20)?;
        Some(u32::from_be_bytes(
            self.data[tail..tail + 4].try_into().ok()?,
        ))
    }
}

/// One EDNS option (RFC 6891 §6.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdnsOption {
    /// OPTION-CODE.
    pub code: u16,
    /// OPTION-DATA.
    pub data: Box<[u8]>,
}

/// The contents of an OPT pseudo-record (RFC 6891 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edns {
    /// The requestor's UDP payload size.
    pub udp_size: u16,
    /// The upper eight bits of the extended response code.
    pub extended_rcode: u8,
    /// The EDNS version.
    pub version: u8,
    /// DO: DNSSEC answers OK (RFC 3225).
    pub dnssec_ok: bool,
    /// The options in order.
    pub options: Vec<EdnsOption>,
}

impl Default for Edns {
    fn default() -> Edns {
        Edns {
            udp_size: 1232,
            extended_rcode: 0,
            version: 0,
            dnssec_ok: false,
            options: Vec::new(),
        }
    }
}

/// A parsed DNS message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The header, with counts as they were on the wire.
    pub header: Header,
    /// The question section.
    pub questions: Vec<Question>,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section.
    pub authorities: Vec<Record>,
    /// The additional section, without the OPT record.
    pub additionals: Vec<Record>,
    /// The OPT record, if there was one.
    pub edns: Option<Edns>,
}

impl Message {
    /// Parses a whole message. Bytes after the last record are ignored.
    pub fn parse(packet: &[u8]) -> Result<Message, WireError> {
        let header = Header::parse(packet)?;
        let mut reader = Reader {
            packet,
            position: HEADER_LENGTH,
        };
        let mut message = Message {
            header,
            ..Message::default()
        };
        // Counts come from the sender: never pre-allocate from them.
        for _ in 0..header.question_count {
            let name = reader.name()?;
            let rtype = RType(reader.u16()?);
            let class = Class(reader.u16()?);
            message.questions.push(Question { name, rtype, class });
        }
        for _ in 0..header.answer_count {
            let record = reader.record()?;
            if record.rtype == RType::OPT {
                return Err(WireError::BadOpt);
            }
            message.answers.push(record);
        }
        for _ in 0..header.authority_count {
            let record = reader.record()?;
            if record.rtype == RType::OPT {
                return Err(WireError::BadOpt);
            }
            message.authorities.push(record);
        }
        for _ in 0..header.additional_count {
            let record = reader.record()?;
            if record.rtype == RType::OPT {
                if message.edns.is_some() || !record.name.is_root() {
                    return Err(WireError::BadOpt);
                }
                message.edns = Some(parse_opt(&record)?);
            } else {
                message.additionals.push(record);
            }
        }
        Ok(message)
    }

    /// The full response code, with the EDNS extension if present.
    pub fn rcode(&self) -> Rcode {
        let high = self
            .edns
            .as_ref()
            .map_or(0, |edns| u16::from(edns.extended_rcode));
        Rcode((high << 4) | u16::from(self.header.rcode))
    }

    /// The first question, if any.
    pub fn question(&self) -> Option<&Question> {
        self.questions.first()
    }
}

fn parse_opt(record: &Record) -> Result<Edns, WireError> {
    let mut options = Vec::new();
    let mut data = &record.data[..];
    while !data.is_empty() {
        if data.len() < 4 {
            return Err(WireError::BadOpt);
        }
        let code = u16::from_be_bytes([data[0], data[1]]);
        let length = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let value = data.get(4..4 + length).ok_or(WireError::BadOpt)?;
        options.push(EdnsOption {
            code,
            data: value.into(),
        });
        data = &data[4 + length..];
    }
    Ok(Edns {
        udp_size: record.class.0,
        extended_rcode: (record.ttl >> 24) as u8,
        version: (record.ttl >> 16) as u8,
        dnssec_ok: record.ttl & 0x8000 != 0,
        options,
    })
}

/// A cursor over a packet.
struct Reader<'a> {
    packet: &'a [u8],
    position: usize,
}

impl Reader<'_> {
    fn u16(&mut self) -> Result<u16, WireError> {
        let bytes = self
            .packet
            .get(self.position..self.position + 2)
            .ok_or(WireError::ShortInput)?;
        self.position += 2;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let bytes = self
            .packet
            .get(self.position..self.position + 4)
            .ok_or(WireError::ShortInput)?;
        self.position += 4;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn name(&mut self) -> Result<Name, WireError> {
        let (name, next) = Name::parse_compressed(self.packet, self.position)?;
        self.position = next;
        Ok(name)
    }

    fn record(&mut self) -> Result<Record, WireError> {
        let name = self.name()?;
        let rtype = RType(self.u16()?);
        let class = Class(self.u16()?);
        let ttl = self.u32()?;
        let length = usize::from(self.u16()?);
        let end = self.position + length;
        if end > self.packet.len() {
            return Err(WireError::ShortInput);
        }
        let data = decompress_data(self.packet, self.position, end, rtype)?;
        self.position = end;
        Ok(Record {
            name,
            rtype,
            class,
            ttl,
            data,
        })
    }
}

fn decompress_data(
    packet: &[u8],
    start: usize,
    end: usize,
    rtype: RType,
) -> Result<Box<[u8]>, WireError> {
    let raw = &packet[start..end];
    match rtype {
        RType::A if raw.len() != 4 => return Err(WireError::BadRecordData),
        RType::AAAA if raw.len() != 16 => return Err(WireError::BadRecordData),
        _ => {}
    }
    let Some(fields) = compressible_layout(rtype) else {
        return Ok(raw.into());
    };
    // Names are read from the packet (for pointers) but must not run past `end`.
    let bounded = &packet[..end];
    let mut data = Vec::with_capacity(raw.len() + 16);
    let mut position = start;
    for field in fields {
        match field {
            RdataField::Name => {
                let mut buffer = [0u8; MAX_NAME_LENGTH];
                let (length, next) = decompress_into(bounded, position, &mut buffer)
                    .map_err(|_| WireError::BadRecordData)?;
                data.extend_from_slice(&buffer[..length]);
                position = next;
            }
            RdataField::Fixed(size) => {
                let bytes = bounded
                    .get(position..position + size)
                    .ok_or(WireError::BadRecordData)?;
                data.extend_from_slice(bytes);
                position += size;
            }
            RdataField::CharacterString => {
                let length = usize::from(*bounded.get(position).ok_or(WireError::BadRecordData)?);
                let bytes = bounded
                    .get(position..position + 1 + length)
                    .ok_or(WireError::BadRecordData)?;
                data.extend_from_slice(bytes);
                position += 1 + length;
            }
            RdataField::Rest => {
                data.extend_from_slice(&bounded[position.min(end)..]);
                position = end;
            }
        }
    }
    if position != end {
        return Err(WireError::BadRecordData);
    }
    Ok(data.into())
}
