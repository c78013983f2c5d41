//! EDNS padding of responses on encrypted transports (RFC 7830, with the
//! block-length policy of RFC 8467 §4.1: responses padded to a multiple of
//! 468 octets), and the smallest TTL of a response, which sets the HTTP
//! freshness lifetime of a DoH answer (RFC 8484 §5.1).
//!
//! Both read a message by walking its records in place: names are skipped
//! (labels or a compression pointer, never followed), every length is checked
//! against the message, and the walk is bounded by the record counts of the
//! header, so no input makes it panic or loop.
//!
//! # Limitations
//! - A response is padded only if its OPT record is the last record of the
//!   message (which is where this server writes it) and the padded message
//!   still fits in 65535 octets; otherwise it is sent unpadded.
//! - Queries are not required to be padded; a query is taken to ask for
//!   padding when its OPT record carries a Padding option of any length.

/// The EDNS option code of Padding (RFC 7830 §4).
const PADDING_OPTION: u16 = 12;
/// The record type of OPT (RFC 6891 §6.1.1).
const OPT_TYPE: u16 = 41;
/// The block length responses are padded to (RFC 8467 §4.1).
pub(crate) const RESPONSE_BLOCK: usize = 468;
/// The length of a DNS header.
const HEADER_LENGTH: usize = 12;

/// Where one resource record lies in a message.
#[derive(Debug, Clone, Copy)]
struct RecordPosition {
    /// The record's type.
    rtype: u16,
    /// The record's TTL field.
    ttl: u32,
    /// The offset of the RDLENGTH field.
    rdlength_offset: usize,
    /// The offset of the record data.
    data_offset: usize,
    /// The record data's length.
    data_length: usize,
}

/// The offset just past the (possibly compressed) name at `position`.
fn skip_name(message: &[u8], mut position: usize) -> Option<usize> {
    // A name has at most 127 labels; a compression pointer ends it.
    for _ in 0..128 {
        let length = *message.get(position)?;
        match length {
            0 => return Some(position + 1),
            1..=63 => position += 1 + usize::from(length),
            0xc0..=0xff => {
                message.get(position + 1)?;
                return Some(position + 2);
            }
            _ => return None,
        }
    }
    None
}

fn read_u16(message: &[u8], position: usize) -> Option<u16> {
    let bytes = message.get(position..position + 2)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

fn read_u32(message: &[u8], position: usize) -> Option<u32> {
    let bytes = message.get(position..position + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Every record of the answer, authority and additional sections, in
/// order, or `None` if the message is not well formed.
fn records(message: &[u8]) -> Option<Vec<RecordPosition>> {
    if message.len() < HEADER_LENGTH {
        return None;
    }
    let questions = read_u16(message, 4)?;
    let record_count = usize::from(read_u16(message, 6)?)
        + usize::from(read_u16(message, 8)?)
        + usize::from(read_u16(message, 10)?);
    let mut position = HEADER_LENGTH;
    for _ in 0..questions {
        position = skip_name(message, position)? + 4;
    }
    if position > message.len() {
        return None;
    }
    // Each record takes at least 11 octets: the count cannot outgrow the message.
    let mut found = Vec::with_capacity(record_count.min(message.len() / 11));
    for _ in 0..record_count {
        let fixed = skip_name(message, position)?;
        let rtype = read_u16(message, fixed)?;
        let ttl = read_u32(message, fixed + 4)?;
        let rdlength_offset = fixed + 8;
        let data_length = usize::from(read_u16(message, rdlength_offset)?);
        let data_offset = rdlength_offset + 2;
        if data_offset + data_length > message.len() {
            return None;
        }
        found.push(RecordPosition {
            rtype,
            ttl,
            rdlength_offset,
            data_offset,
            data_length,
        });
        position = data_offset + data_length;
    }
    Some(found)
}

/// Whether a query's OPT record carries a Padding option (RFC 7830 §4).
pub(crate) fn wants_padding(query: &[u8]) -> bool {
    let Some(records) = records(query) else {
        return false;
    };
    records
        .iter()
        .filter(|record| record.rtype == OPT_TYPE)
        .any(|record| {
            let options = &query[record.data_offset..record.data_offset + record.data_length];
            let mut position = 0;
            while let (Some(code), Some(length)) =
                (read_u16(options, position), read_u16(options, position + 2))
            {
                if code == PADDING_OPTION {
                    return true;
                }
                position += 4 + usize::from(length);
            }
            false
        })
}

/// Pads `response` to a multiple of [`RESPONSE_BLOCK`] octets with a
/// Padding option in its OPT record; returns whether it did.
pub(crate) fn pad_response(response: &mut Vec<u8>) -> bool {
    let Some(records) = records(response) else {
        return false;
    };
    let Some(last) = records.last() else {
        return false;
    };
    if last.rtype != OPT_TYPE || last.data_offset + last.data_length != response.len() {
        return false;
    }
    // The option's own code and length come first, then zero octets.
    let unpadded = response.len() + 4;
    let padded = unpadded.div_ceil(RESPONSE_BLOCK) * RESPONSE_BLOCK;
    let padding = padded - unpadded;
    let Ok(rdlength) = u16::try_from(last.data_length + 4 + padding) else {
        return false;
    };
    let (Ok(padding_length), true) = (u16::try_from(padding), padded <= usize::from(u16::MAX))
    else {
        return false;
    };
    response[last.rdlength_offset..last.rdlength_offset + 2]
        .copy_from_slice(&rdlength.to_be_bytes());
    response.extend_from_slice(&PADDING_OPTION.to_be_bytes());
    response.extend_from_slice(&padding_length.to_be_bytes());
    response.resize(padded, 0);
    true
}

/// The smallest TTL of the response's records (OPT excluded), or `None`
/// if it has none or cannot be read.
pub(crate) fn minimum_ttl(response: &[u8]) -> Option<u32> {
    records(response)?
        .iter()
        .filter(|record| record.rtype != OPT_TYPE)
        .map(|record| record.ttl)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::{Edns, EdnsOption, Message, Name, RType, compose_query};

    fn query_with_options(options: Vec<EdnsOption>) -> Vec<u8> {
        let name = Name::from_ascii("www.example.").unwrap();
        compose_query(
            7,
            &name,
            RType::A,
            true,
            Some(Edns {
                options,
                ..Edns::default()
            }),
        )
    }

    #[test]
    fn a_padding_option_is_recognised_and_its_absence_too() {
        let padded = query_with_options(vec![EdnsOption {
            code: PADDING_OPTION,
            data: vec![0; 10].into(),
        }]);
        assert!(wants_padding(&padded));
        let cookie = query_with_options(vec![EdnsOption {
            code: 10,
            data: vec![1; 8].into(),
        }]);
        assert!(!wants_padding(&cookie));
        let name = Name::from_ascii("www.example.").unwrap();
        assert!(!wants_padding(&compose_query(
            7,
            &name,
            RType::A,
            true,
            None
        )));
        assert!(!wants_padding(&[0; 5]));
    }

    #[test]
    fn a_response_is_padded_to_the_block_and_still_parses() {
        // A query is a well-formed message with an OPT record last.
        let mut message = query_with_options(Vec::new());
        let before = Message::parse(&message).unwrap();
        assert!(pad_response(&mut message));
        assert_eq!(message.len() % RESPONSE_BLOCK, 0);
        let after = Message::parse(&message).expect("padded message parses");
        assert_eq!(after.questions, before.questions);
        let options = after.edns.expect("OPT kept").options;
        assert_eq!(options.len(), 1);
        assert_eq!(options[0].code, PADDING_OPTION);
        assert!(options[0].data.iter().all(|&octet| octet == 0));
    }

    #[test]
    fn a_message_without_opt_or_truncated_is_left_alone() {
        let name = Name::from_ascii("www.example.").unwrap();
        let mut plain = compose_query(7, &name, RType::A, true, None);
        let copy = plain.clone();
        assert!(!pad_response(&mut plain));
        assert_eq!(plain, copy);
        let mut cut = query_with_options(Vec::new());
        cut.pop();
        assert!(!pad_response(&mut cut));
        assert_eq!(minimum_ttl(&cut), None);
    }

    #[test]
    fn walking_garbage_never_panics() {
        let mut state = 0x1234_5678u32;
        for length in 0..600 {
            let bytes: Vec<u8> = (0..length)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            let _ = wants_padding(&bytes);
            let _ = minimum_ttl(&bytes);
            let mut copy = bytes.clone();
            let _ = pad_response(&mut copy);
        }
    }
}
