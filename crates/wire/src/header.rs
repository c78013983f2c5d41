//! The 12-byte message header (RFC 1035 §4.1.1, RFC 4035 §3.2 for AD and CD).

use crate::error::WireError;

/// The length of the header in bytes.
pub const HEADER_LENGTH: usize = 12;

/// The kind of a message (RFC 1035 §4.1.1, RFC 6895 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opcode(pub u8);

impl Opcode {
    /// A standard query.
    pub const QUERY: Opcode = Opcode(0);
    /// A zone change notification (RFC 1996).
    pub const NOTIFY: Opcode = Opcode(4);
    /// A dynamic update (RFC 2136).
    pub const UPDATE: Opcode = Opcode(5);
}

/// A decoded message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// The query ID.
    pub id: u16,
    /// QR: this is a response.
    pub response: bool,
    /// The opcode (4 bits).
    pub opcode: u8,
    /// AA: authoritative answer.
    pub authoritative: bool,
    /// TC: truncated.
    pub truncated: bool,
    /// RD: recursion desired.
    pub recursion_desired: bool,
    /// RA: recursion available.
    pub recursion_available: bool,
    /// The reserved Z bit.
    pub zero: bool,
    /// AD: authentic data.
    pub authentic_data: bool,
    /// CD: checking disabled.
    pub checking_disabled: bool,
    /// The low four bits of the response code.
    pub rcode: u8,
    /// Number of questions.
    pub question_count: u16,
    /// Number of answer records.
    pub answer_count: u16,
    /// Number of authority records.
    pub authority_count: u16,
    /// Number of additional records.
    pub additional_count: u16,
}

impl Header {
    /// Decodes the header at the start of `packet`.
    pub fn parse(packet: &[u8]) -> Result<Header, WireError> {
        let bytes: &[u8; HEADER_LENGTH] = packet
            .get(..HEADER_LENGTH)
            .and_then(|b| b.try_into().ok())
            .ok_or(WireError::ShortInput)?;
        let flags_high = bytes[2];
        let flags_low = bytes[3];
        Ok(Header {
            id: u16::from_be_bytes([bytes[0], bytes[1]]),
            response: flags_high & 0x80 != 0,
            opcode: (flags_high >> 3) & 0x0f,
            authoritative: flags_high & 0x04 != 0,
            truncated: flags_high & 0x02 != 0,
            recursion_desired: flags_high & 0x01 != 0,
            recursion_available: flags_low & 0x80 != 0,
            zero: flags_low & 0x40 != 0,
            authentic_data: flags_low & 0x20 != 0,
            checking_disabled: flags_low & 0x10 != 0,
            rcode: flags_low & 0x0f,
            question_count: u16::from_be_bytes([bytes[4], bytes[5]]),
            answer_count: u16::from_be_bytes([bytes[6], bytes[7]]),
            authority_count: u16::from_be_bytes([bytes[8], bytes[9]]),
            additional_count: u16::from_be_bytes([bytes[10], bytes[11]]),
        })
    }

    /// Encodes the header into 12 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LENGTH] {
        let flags_high = (u8::from(self.response) << 7)
            | ((self.opcode & 0x0f) << 3)
            | (u8::from(self.authoritative) << 2)
            | (u8::from(self.truncated) << 1)
            | u8::from(self.recursion_desired);
        let flags_low = (u8::from(self.recursion_available) << 7)
            | (u8::from(self.zero) << 6)
            | (u8::from(self.authentic_data) << 5)
            | (u8::from(self.checking_disabled) << 4)
            | (self.rcode & 0x0f);
        let mut bytes = [0u8; HEADER_LENGTH];
        bytes[0..2].copy_from_slice(&self.id.to_be_bytes());
        bytes[2] = flags_high;
        bytes[3] = flags_low;
        bytes[4..6].copy_from_slice(&self.question_count.to_be_bytes());
        bytes[6..8].copy_from_slice(&self.answer_count.to_be_bytes());
        bytes[8..10].copy_from_slice(&self.authority_count.to_be_bytes());
        bytes[10..12].copy_from_slice(&self.additional_count.to_be_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let header = Header {
            id: 0xbeef,
            response: true,
            opcode: 4,
            authoritative: true,
            truncated: false,
            recursion_desired: true,
            recursion_available: true,
            zero: false,
            authentic_data: true,
            checking_disabled: true,
            rcode: 3,
            question_count: 1,
            answer_count: 2,
            authority_count: 3,
            additional_count: 4,
        };
        assert_eq!(Header::parse(&header.to_bytes()).unwrap(), header);
        assert_eq!(Header::parse(&[0; 11]), Err(WireError::ShortInput));
    }
}
