//! The canonical form and order of an RRset for signing (RFC 4034 §6,
//! corrected by RFC 6840 §5.1), and the data an RRSIG signs (RFC 4034 §3.1.8.1).
//!
//! - Owner names are lower-cased; names inside the data of the types listed
//!   in RFC 4034 §6.2 item 3 are lower-cased too, except NSEC's (RFC 6840
//!   §5.1 removed NSEC from that list).
//! - The TTL is the RRSIG's original TTL.
//! - A wildcard-expanded owner is rebuilt from the RRSIG labels field
//!   (RFC 4035 §5.3.2): `*.` and the rightmost `labels` labels.
//! - Records are sorted by their canonical data as unsigned octet strings,
//!   and exact duplicates are dropped (RFC 4034 §6.3).
//!
//! # Limitations
//! - A6 (obsolete, RFC 6563) is not lower-cased; its data is signed as is.

use crate::rdata::{Rrsig, read_name};
use hanse_wire::{Name, RType, RdataField, Record, canonical_layout};

/// Why an RRset cannot be put in canonical form for a given RRSIG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// No records.
    #[error("empty RRset")]
    Empty,
    /// The records differ in owner name, type or class.
    #[error("records of different owner, type or class")]
    Mixed,
    /// The RRSIG covers another type than the RRset's.
    #[error("the RRSIG covers another type")]
    TypeNotCovered,
    /// The RRSIG labels field exceeds the labels of the owner name.
    #[error("the RRSIG labels field exceeds the owner's labels")]
    BadLabels,
    /// The data of a record with names inside it is malformed.
    #[error("malformed record data")]
    MalformedData,
}

/// The bytes an RRSIG's signature covers: its own fields (signature left out)
/// followed by the RRset in canonical form and order.
pub fn signed_data(rrset: &[Record], rrsig: &Rrsig) -> Result<Vec<u8>, CanonicalError> {
    let first = rrset.first().ok_or(CanonicalError::Empty)?;
    if rrset.iter().any(|record| {
        record.name != first.name || record.rtype != first.rtype || record.class != first.class
    }) {
        return Err(CanonicalError::Mixed);
    }
    if rrsig.type_covered != first.rtype {
        return Err(CanonicalError::TypeNotCovered);
    }
    let owner = signed_owner(&first.name, rrsig.labels)?;
    let mut datas = rrset
        .iter()
        .map(|record| canonical_data(record.rtype, &record.data))
        .collect::<Result<Vec<_>, _>>()?;
    datas.sort();
    datas.dedup();

    let mut out = rrsig.signed_fields();
    let owner = owner.as_wire();
    for data in &datas {
        out.extend_from_slice(owner);
        out.extend_from_slice(&first.rtype.0.to_be_bytes());
        out.extend_from_slice(&first.class.0.to_be_bytes());
        out.extend_from_slice(&rrsig.original_ttl.to_be_bytes());
        // Record data never exceeds 65535 octets in a Record from the wire or a zone file.
        let length = u16::try_from(data.len()).map_err(|_| CanonicalError::MalformedData)?;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(data);
    }
    Ok(out)
}

/// The owner name as signed: lower-cased, and rebuilt as a wildcard when the
/// RRSIG labels field is smaller than the owner's label count.
pub fn signed_owner(owner: &Name, labels: u8) -> Result<Name, CanonicalError> {
    let lowered = owner.to_lowercase();
    let mut count = lowered.label_count();
    // The labels field never counts a leading `*` (RFC 4034 §3.1.3).
    if lowered.is_wildcard() {
        count -= 1;
    }
    let labels = usize::from(labels);
    match labels.cmp(&count) {
        std::cmp::Ordering::Greater => Err(CanonicalError::BadLabels),
        std::cmp::Ordering::Equal => Ok(lowered),
        std::cmp::Ordering::Less => lowered
            .suffix(labels)
            .prepend(b"*")
            .map_err(|_| CanonicalError::BadLabels),
    }
}

/// The record data in canonical form: embedded names lower-cased for the
/// types of RFC 4034 §6.2 item 3 (less NSEC, RFC 6840 §5.1).
pub fn canonical_data(rtype: RType, data: &[u8]) -> Result<Vec<u8>, CanonicalError> {
    let mut out = data.to_vec();
    let mut position = 0;
    let Some(fields) = canonical_layout(rtype) else {
        return Ok(out);
    };
    for field in fields {
        match *field {
            RdataField::Name => {
                let (name, _) =
                    read_name(data.get(position..).ok_or(CanonicalError::MalformedData)?)
                        .ok_or(CanonicalError::MalformedData)?;
                let length = name.as_wire().len();
                out[position..position + length].make_ascii_lowercase();
                position += length;
            }
            RdataField::Fixed(size) => {
                position += size;
                if position > data.len() {
                    return Err(CanonicalError::MalformedData);
                }
            }
            RdataField::CharacterString => {
                let length = usize::from(*data.get(position).ok_or(CanonicalError::MalformedData)?);
                position += 1 + length;
                if position > data.len() {
                    return Err(CanonicalError::MalformedData);
                }
            }
            RdataField::Rest => return Ok(out),
        }
    }
    if position != data.len() {
        return Err(CanonicalError::MalformedData);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanse_wire::Class;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn names_in_data_are_lowercased_but_not_nsec() {
        let mx = [&[0u8, 10][..], name("Mail.Example.").as_wire()].concat();
        let canonical = canonical_data(RType::MX, &mx).unwrap();
        assert_eq!(&canonical[2..], name("mail.example.").as_wire());
        let nsec = [name("Next.Example.").as_wire(), &[0, 1, 0x40]].concat();
        assert_eq!(canonical_data(RType::NSEC, &nsec).unwrap(), nsec);
        assert!(canonical_data(RType::MX, &[0, 10, 3, b'a']).is_err());
        assert!(canonical_data(RType::SOA, name("a.").as_wire()).is_err());
    }

    #[test]
    fn wildcard_owner_is_rebuilt_from_the_labels_field() {
        assert_eq!(
            signed_owner(&name("A.B.Example."), 2).unwrap(),
            name("*.b.example.")
        );
        assert_eq!(
            signed_owner(&name("*.example."), 1).unwrap(),
            name("*.example.")
        );
        assert_eq!(
            signed_owner(&name("www.example."), 2).unwrap().as_wire(),
            name("www.example.").as_wire()
        );
        assert_eq!(
            signed_owner(&name("www.example."), 3),
            Err(CanonicalError::BadLabels)
        );
    }

    #[test]
    fn rrset_is_sorted_and_deduplicated() {
        let record = |data: &[u8]| Record {
            name: name("WWW.example."),
            rtype: RType::A,
            class: Class::IN,
            ttl: 1,
            data: data.into(),
        };
        let rrsig = Rrsig {
            type_covered: RType::A,
            algorithm: crate::Algorithm(13),
            labels: 2,
            original_ttl: 300,
            expiration: 2,
            inception: 1,
            key_tag: 7,
            signer_name: name("Example."),
            signature: Box::new([]),
        };
        let rrset = [
            record(&[192, 0, 2, 2]),
            record(&[192, 0, 2, 1]),
            record(&[192, 0, 2, 2]),
        ];
        let data = signed_data(&rrset, &rrsig).unwrap();
        let fields = rrsig.signed_fields();
        assert!(fields.ends_with(name("example.").as_wire()));
        let rest = &data[fields.len()..];
        let owner = name("www.example.");
        let one = [owner.as_wire(), &[0, 1, 0, 1, 0, 0, 1, 44, 0, 4]].concat();
        assert_eq!(
            rest,
            [&one[..], &[192, 0, 2, 1], &one, &[192, 0, 2, 2]].concat()
        );
        let mut wrong = rrsig.clone();
        wrong.type_covered = RType::AAAA;
        assert_eq!(
            signed_data(&rrset, &wrong),
            Err(CanonicalError::TypeNotCovered)
        );
        assert_eq!(signed_data(&[], &rrsig), Err(CanonicalError::Empty));
    }
}
