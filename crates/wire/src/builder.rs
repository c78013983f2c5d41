//! Composing messages (RFC 1035 §4.1.4 name compression, RFC 6891 OPT).
//!
//! Records are added section by section; a record that would take the message
//! past its size limit is refused and leaves the message as it was, so the
//! caller can set TC (RFC 2181 §9) or drop the additional section. The builder
//! also remembers where every TTL was written, which the answer cache uses to
//! age stored answers in place.
//!
//! # Limitations
//! Only owner names and the names in NS, CNAME, PTR, SOA and MX data are
//! compressed (RFC 3597 §4 forbids compressing names in newer types).

use crate::error::WireError;
use crate::header::{HEADER_LENGTH, Header};
use crate::message::{Edns, Question, Record};
use crate::name::Name;
use crate::types::{Class, RType};

/// The section a record goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Answer,
    Authority,
    Additional,
}

/// Parts of record data for compression when composing: only the types of
/// RFC 1035 itself are compressed when sending (RFC 3597 §4), a narrower set
/// than [`crate::compressible_layout`] reads.
enum Part {
    Name,
    Fixed(usize),
}

fn sending_layout(rtype: RType) -> Option<&'static [Part]> {
    Some(match rtype {
        RType::NS | RType::CNAME | RType::PTR => &[Part::Name],
        RType::SOA => &[Part::Name, Part::Name, Part::Fixed(20)],
        RType::MX => &[Part::Fixed(2), Part::Name],
        _ => return None,
    })
}

/// Composes a message into a byte buffer.
pub struct MessageBuilder {
    buffer: Vec<u8>,
    header: Header,
    limit: usize,
    reserved: usize,
    edns: Option<Edns>,
    section: Section,
    /// Offsets of the name suffixes written so far, candidates for pointers.
    compression: Vec<u16>,
    ttl_offsets: Vec<u16>,
}

impl MessageBuilder {
    /// Starts a message with `header` (counts are filled in by the builder)
    /// that will not exceed `limit` bytes, OPT record included.
    pub fn new(header: Header, limit: usize) -> MessageBuilder {
        let mut buffer = Vec::with_capacity(512.min(limit.max(HEADER_LENGTH)));
        buffer.extend_from_slice(&[0; HEADER_LENGTH]);
        let header = Header {
            question_count: 0,
            answer_count: 0,
            authority_count: 0,
            additional_count: 0,
            ..header
        };
        MessageBuilder {
            buffer,
            header,
            limit: limit.min(65535),
            reserved: 0,
            edns: None,
            section: Section::Answer,
            compression: Vec::new(),
            ttl_offsets: Vec::new(),
        }
    }

    /// Adds an OPT record at the end, reserving its space now.
    pub fn set_edns(&mut self, edns: Edns) {
        self.reserved = 11
            + edns
                .options
                .iter()
                .map(|option| 4 + option.data.len())
                .sum::<usize>();
        self.edns = Some(edns);
    }

    /// The header as it will be written (counts so far).
    pub fn header_mut(&mut self) -> &mut Header {
        &mut self.header
    }

    /// Adds a question. Questions must come before any record.
    pub fn push_question(&mut self, question: &Question) -> Result<(), WireError> {
        let mark = self.buffer.len();
        let compression_size = self.compression.len();
        self.write_name(&question.name, true);
        self.buffer
            .extend_from_slice(&question.rtype.0.to_be_bytes());
        self.buffer
            .extend_from_slice(&question.class.0.to_be_bytes());
        if let Err(error) = self.check_fits(mark) {
            self.rollback(mark, compression_size);
            return Err(error);
        }
        self.header.question_count += 1;
        Ok(())
    }

    /// Adds a record to the answer section.
    pub fn push_answer(&mut self, record: &Record) -> Result<(), WireError> {
        self.push(Section::Answer, record)
    }

    /// Adds a record to the authority section.
    pub fn push_authority(&mut self, record: &Record) -> Result<(), WireError> {
        self.push(Section::Authority, record)
    }

    /// Adds a record to the additional section.
    pub fn push_additional(&mut self, record: &Record) -> Result<(), WireError> {
        self.push(Section::Additional, record)
    }

    fn push(&mut self, section: Section, record: &Record) -> Result<(), WireError> {
        debug_assert!(section >= self.section, "sections must be written in order");
        self.section = section;
        let mark = self.buffer.len();
        let compression_size = self.compression.len();
        self.write_name(&record.name, true);
        self.buffer.extend_from_slice(&record.rtype.0.to_be_bytes());
        self.buffer.extend_from_slice(&record.class.0.to_be_bytes());
        let ttl_offset = self.buffer.len();
        self.buffer.extend_from_slice(&record.ttl.to_be_bytes());
        let length_offset = self.buffer.len();
        self.buffer.extend_from_slice(&[0, 0]);
        self.write_data(record);
        let data_length = self.buffer.len() - length_offset - 2;
        if data_length > usize::from(u16::MAX) {
            self.rollback(mark, compression_size);
            return Err(WireError::MessageTooLong);
        }
        self.buffer[length_offset..length_offset + 2]
            .copy_from_slice(&(data_length as u16).to_be_bytes());
        if let Err(error) = self.check_fits(mark) {
            self.rollback(mark, compression_size);
            return Err(error);
        }
        self.ttl_offsets.push(ttl_offset as u16);
        let count = match section {
            Section::Answer => &mut self.header.answer_count,
            Section::Authority => &mut self.header.authority_count,
            Section::Additional => &mut self.header.additional_count,
        };
        *count += 1;
        Ok(())
    }

    fn rollback(&mut self, mark: usize, compression_size: usize) {
        self.buffer.truncate(mark);
        // Offsets are pushed in increasing order: drop those past the mark.
        self.compression.truncate(compression_size);
    }

    fn check_fits(&mut self, mark: usize) -> Result<(), WireError> {
        if self.buffer.len() + self.reserved > self.limit {
            self.buffer.truncate(mark);
            return Err(WireError::MessageTooLong);
        }
        Ok(())
    }

    fn write_data(&mut self, record: &Record) {
        let Some(parts) = sending_layout(record.rtype) else {
            self.buffer.extend_from_slice(&record.data);
            return;
        };
        let mut position = 0;
        for part in parts {
            match part {
                Part::Name => {
                    let Ok(length) = crate::name::check_uncompressed(&record.data[position..])
                    else {
                        // Malformed data is written as it is.
                        self.buffer.extend_from_slice(&record.data[position..]);
                        return;
                    };
                    let wire = &record.data[position..position + length];
                    self.write_wire_name(wire, true);
                    position += length;
                }
                Part::Fixed(size) => {
                    let end = (position + size).min(record.data.len());
                    self.buffer.extend_from_slice(&record.data[position..end]);
                    position = end;
                }
            }
        }
        self.buffer.extend_from_slice(&record.data[position..]);
    }

    fn write_name(&mut self, name: &Name, compress: bool) {
        self.write_wire_name(name.as_wire(), compress);
    }

    fn write_wire_name(&mut self, wire: &[u8], compress: bool) {
        let mut position = 0;
        while wire[position] != 0 {
            let suffix = &wire[position..];
            if compress {
                // Messages hold few names: a linear scan over the suffixes
                // written so far beats hashing every suffix.
                let found = self
                    .compression
                    .iter()
                    .copied()
                    .find(|&offset| suffix_at(&self.buffer, usize::from(offset), suffix));
                if let Some(offset) = found {
                    self.buffer
                        .extend_from_slice(&(0xc000 | offset).to_be_bytes());
                    return;
                }
                let here = self.buffer.len();
                if here < 0x3fff {
                    self.compression.push(here as u16);
                }
            }
            let length = usize::from(wire[position]);
            self.buffer
                .extend_from_slice(&wire[position..position + length + 1]);
            position += length + 1;
        }
        self.buffer.push(0);
    }

    /// Offsets of the TTL fields of all records written so far.
    pub fn ttl_offsets(&self) -> &[u16] {
        &self.ttl_offsets
    }

    /// The number of bytes written so far, OPT record excluded.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether nothing beyond the header was written.
    pub fn is_empty(&self) -> bool {
        self.buffer.len() == HEADER_LENGTH
    }

    /// Writes the OPT record and the header and returns the message.
    pub fn finish(mut self) -> Vec<u8> {
        if let Some(edns) = self.edns.take() {
            self.buffer.push(0);
            self.buffer.extend_from_slice(&RType::OPT.0.to_be_bytes());
            self.buffer.extend_from_slice(&edns.udp_size.to_be_bytes());
            let ttl = (u32::from(edns.extended_rcode) << 24)
                | (u32::from(edns.version) << 16)
                | if edns.dnssec_ok { 0x8000 } else { 0 };
            self.buffer.extend_from_slice(&ttl.to_be_bytes());
            let length: usize = edns
                .options
                .iter()
                .map(|option| 4 + option.data.len())
                .sum();
            self.buffer
                .extend_from_slice(&(length as u16).to_be_bytes());
            for option in &edns.options {
                self.buffer.extend_from_slice(&option.code.to_be_bytes());
                self.buffer
                    .extend_from_slice(&(option.data.len() as u16).to_be_bytes());
                self.buffer.extend_from_slice(&option.data);
            }
            self.header.additional_count += 1;
        }
        self.buffer[..HEADER_LENGTH].copy_from_slice(&self.header.to_bytes());
        self.buffer
    }
}

/// Whether the name written at `offset` of `buffer` (following the
/// builder's own backward pointers) equals `suffix`, ignoring ASCII case.
fn suffix_at(buffer: &[u8], mut offset: usize, suffix: &[u8]) -> bool {
    let mut position = 0;
    for _ in 0..256 {
        let Some(&length) = buffer.get(offset) else {
            return false;
        };
        if length & 0xc0 == 0xc0 {
            let Some(&low) = buffer.get(offset + 1) else {
                return false;
            };
            offset = (usize::from(length & 0x3f) << 8) | usize::from(low);
            continue;
        }
        let length = usize::from(length);
        let Some(theirs) = buffer.get(offset..offset + length + 1) else {
            return false;
        };
        let Some(ours) = suffix.get(position..position + length + 1) else {
            return false;
        };
        if !theirs.eq_ignore_ascii_case(ours) {
            return false;
        }
        if length == 0 {
            return true;
        }
        offset += length + 1;
        position += length + 1;
    }
    false
}

/// Composes a query for `name`/`rtype` with the given ID, RD flag and EDNS.
pub fn compose_query(
    id: u16,
    name: &Name,
    rtype: RType,
    recursion_desired: bool,
    edns: Option<Edns>,
) -> Vec<u8> {
    let header = Header {
        id,
        recursion_desired,
        ..Header::default()
    };
    let mut builder = MessageBuilder::new(header, 65535);
    if let Some(edns) = edns {
        builder.set_edns(edns);
    }
    builder
        .push_question(&Question {
            name: name.clone(),
            rtype,
            class: Class::IN,
        })
        .expect("a single question always fits");
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{EdnsOption, Message};

    fn record(name: &str, rtype: RType, data: &[u8]) -> Record {
        Record {
            name: Name::from_ascii(name).unwrap(),
            rtype,
            class: Class::IN,
            ttl: 300,
            data: data.into(),
        }
    }

    #[test]
    fn compresses_and_parses_back() {
        let target = Name::from_ascii("ns1.example.com.").unwrap();
        let mut builder = MessageBuilder::new(
            Header {
                id: 7,
                response: true,
                ..Header::default()
            },
            512,
        );
        builder.set_edns(Edns {
            options: vec![EdnsOption {
                code: 10,
                data: vec![1; 8].into(),
            }],
            ..Edns::default()
        });
        let question = Question {
            name: Name::from_ascii("www.example.com.").unwrap(),
            rtype: RType::NS,
            class: Class::IN,
        };
        builder.push_question(&question).unwrap();
        let ns = record("www.example.com.", RType::NS, target.as_wire());
        builder.push_answer(&ns).unwrap();
        builder
            .push_additional(&record("ns1.example.com.", RType::A, &[192, 0, 2, 1]))
            .unwrap();
        let bytes = builder.finish();
        // The owner of the answer is a pointer to the question.
        assert_eq!(&bytes[12 + 17 + 4..12 + 17 + 6], &[0xc0, 12]);
        let parsed = Message::parse(&bytes).unwrap();
        assert_eq!(parsed.questions, vec![question]);
        assert_eq!(parsed.answers, vec![ns]);
        assert_eq!(parsed.additionals.len(), 1);
        assert_eq!(parsed.edns.unwrap().options[0].data.len(), 8);
    }

    #[test]
    fn refuses_records_past_the_limit() {
        let mut builder = MessageBuilder::new(Header::default(), 60);
        let big = record("a.example.", RType::TXT, &[20; 21]);
        builder.push_answer(&big).unwrap();
        let before = builder.len();
        assert_eq!(builder.push_answer(&big), Err(WireError::MessageTooLong));
        assert_eq!(builder.len(), before);
        let bytes = builder.finish();
        assert_eq!(Message::parse(&bytes).unwrap().answers.len(), 1);
    }
}
