//! Patching a stored wire answer for a new client: the ID, the case of the
//! question name (RFC 4343: echo the client's spelling) and the TTLs, aged by
//! the time the answer spent in the cache. Works in place, allocates nothing.

/// Patches `response`, a copy of a stored answer, for a query with `id` whose
/// question name is `question_name` (same length as the stored one, any case).
/// `ttl_offsets` are the TTL fields to decrease by `elapsed` seconds.
pub fn patch(
    response: &mut [u8],
    id: u16,
    question_name: &[u8],
    ttl_offsets: &[u16],
    elapsed: u32,
) {
    response[0..2].copy_from_slice(&id.to_be_bytes());
    let name_end = 12 + question_name.len();
    if response.len() >= name_end {
        response[12..name_end].copy_from_slice(question_name);
    }
    if elapsed == 0 {
        return;
    }
    for &offset in ttl_offsets {
        let offset = usize::from(offset);
        let Some(field) = response.get_mut(offset..offset + 4) else {
            continue;
        };
        let ttl = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
        field.copy_from_slice(&ttl.saturating_sub(elapsed).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::MessageBuilder;
    use crate::header::Header;
    use crate::message::{Message, Question, Record};
    use crate::name::Name;
    use crate::types::{Class, RType};

    #[test]
    fn patch_ages_ttls_and_copies_id_and_case() {
        let name = Name::from_ascii("www.example.com.").unwrap();
        let mut builder = MessageBuilder::new(
            Header {
                response: true,
                ..Header::default()
            },
            512,
        );
        builder
            .push_question(&Question {
                name: name.clone(),
                rtype: RType::A,
                class: Class::IN,
            })
            .unwrap();
        builder
            .push_answer(&Record {
                name,
                rtype: RType::A,
                class: Class::IN,
                ttl: 300,
                data: vec![1, 2, 3, 4].into(),
            })
            .unwrap();
        let offsets = builder.ttl_offsets().to_vec();
        let mut bytes = builder.finish();
        let client_name = Name::from_ascii("WwW.example.COM.").unwrap();
        patch(&mut bytes, 0x1234, client_name.as_wire(), &offsets, 100);
        let parsed = Message::parse(&bytes).unwrap();
        assert_eq!(parsed.header.id, 0x1234);
        assert_eq!(parsed.answers[0].ttl, 200);
        assert_eq!(parsed.questions[0].name.as_wire(), client_name.as_wire());
    }
}
