//! Master files (RFC 1035 §5): entries, the `$ORIGIN` and `$TTL` (RFC 2308 §4)
//! directives, owner names, TTLs and classes; and formatting records back.
//!
//! # Limitations
//! - `$INCLUDE` and `$GENERATE` are rejected: the parser never reads files.
//! - Only class IN is accepted.
//! - A record without a TTL takes the latest `$TTL`, or the caller's default;
//!   an explicit TTL on one record does not carry over to the next (the
//!   RFC 1035 rule that RFC 2308 §4 replaced).
//! - TTLs above 2147483647 (RFC 2181 §8) are rejected.

use crate::ZoneError;
use crate::lexer::{Entry, Lexer, Position};
use crate::rdata::{Fields, format_rdata, parse_fields, parse_name};
use crate::text::parse_duration;
use hanse_wire::{Class, Name, RType, Record};

/// The largest TTL (RFC 2181 §8).
const MAX_TTL: u32 = 0x7fff_ffff;

/// Parses a master file into records, in the order they appear.
///
/// `origin` is the initial `$ORIGIN`; `default_ttl` applies to records
/// without a TTL until a `$TTL` directive replaces it.
pub fn parse_zone(text: &str, origin: &Name, default_ttl: u32) -> Result<Vec<Record>, ZoneError> {
    Ok(parse_with_positions(text, origin, default_ttl)?
        .into_iter()
        .map(|(record, _)| record)
        .collect())
}

/// Like [`parse_zone`], with the position where each record starts.
pub(crate) fn parse_with_positions(
    text: &str,
    origin: &Name,
    default_ttl: u32,
) -> Result<Vec<(Record, Position)>, ZoneError> {
    let mut state = State {
        origin: origin.clone(),
        default_ttl,
        previous_owner: None,
    };
    let mut lexer = Lexer::new(text);
    let mut records = Vec::new();
    while let Some(entry) = lexer.next_entry()? {
        if let Some(record) = state.entry(&entry)? {
            records.push((record, entry.tokens[0].position));
        }
    }
    Ok(records)
}

struct State {
    origin: Name,
    default_ttl: u32,
    previous_owner: Option<Name>,
}

impl State {
    fn entry(&mut self, entry: &Entry<'_>) -> Result<Option<Record>, ZoneError> {
        let tokens = &entry.tokens;
        let mut index = 0;
        let owner = if entry.blank_owner {
            self.previous_owner.clone().ok_or_else(|| {
                tokens[0].error("the owner field is blank but no earlier record has an owner")
            })?
        } else {
            let first = &tokens[0];
            if !first.quoted && first.text.starts_with('$') {
                self.directive(entry)?;
                return Ok(None);
            }
            index = 1;
            let owner = parse_name(first, &self.origin)?;
            self.previous_owner = Some(owner.clone());
            owner
        };
        let mut ttl = None;
        let mut class_seen = false;
        let rtype_token = loop {
            let token = tokens
                .get(index)
                .ok_or_else(|| entry.end.error("missing record type"))?;
            index += 1;
            if token.quoted {
                break token;
            }
            if ttl.is_none() && token.text.starts_with(|c: char| c.is_ascii_digit()) {
                ttl = Some(parse_ttl(token.text).map_err(|message| token.error(message))?);
                continue;
            }
            if !class_seen && let Ok(class) = token.text.parse::<Class>() {
                if class != Class::IN {
                    return Err(token.error(format!("class {class} is not supported, only IN")));
                }
                class_seen = true;
                continue;
            }
            break token;
        };
        let rtype: RType = (!rtype_token.quoted)
            .then(|| rtype_token.text.parse().ok())
            .flatten()
            .ok_or_else(|| {
                rtype_token.error(format!("unknown record type '{}'", rtype_token.text))
            })?;
        if rtype.is_meta() {
            return Err(rtype_token.error(format!("{rtype} is not a type of record data")));
        }
        let data = parse_fields(
            rtype,
            Fields::new(&tokens[index..], entry.end),
            &self.origin,
        )?;
        Ok(Some(Record {
            name: owner,
            rtype,
            class: Class::IN,
            ttl: ttl.unwrap_or(self.default_ttl),
            data: data.into(),
        }))
    }

    fn directive(&mut self, entry: &Entry<'_>) -> Result<(), ZoneError> {
        let directive = &entry.tokens[0];
        let mut fields = entry.tokens[1..].iter();
        let mut argument = |what: &str| {
            fields
                .next()
                .ok_or_else(|| entry.end.error(format!("{} needs {what}", directive.text)))
        };
        if directive.is("$ORIGIN") {
            let token = argument("a domain name")?;
            self.origin = parse_name(token, &self.origin)?;
        } else if directive.is("$TTL") {
            let token = argument("a TTL")?;
            if token.quoted {
                return Err(token.error("expected a TTL, found a quoted string"));
            }
            self.default_ttl = parse_ttl(token.text).map_err(|message| token.error(message))?;
        } else if directive.is("$INCLUDE") {
            return Err(
                directive.error("$INCLUDE is not supported: the zone must be a single text")
            );
        } else {
            return Err(directive.error(format!(
                "unknown or unsupported directive '{}'",
                directive.text
            )));
        }
        if let Some(extra) = entry.tokens.get(2) {
            return Err(extra.error(format!("unexpected field '{}'", extra.text)));
        }
        Ok(())
    }
}

/// Parses a TTL with optional BIND units.
fn parse_ttl(text: &str) -> Result<u32, String> {
    let ttl = parse_duration(text).map_err(|message| format!("TTL: {message}"))?;
    if ttl > MAX_TTL {
        return Err(format!("TTL {ttl} exceeds {MAX_TTL} (RFC 2181 §8)"));
    }
    Ok(ttl)
}

/// Formats a record as one master-file line with absolute names:
/// `owner TTL class type data`. [`parse_zone`] reads it back into the same
/// record (for class IN and data that fits its type).
pub fn format_record(record: &Record) -> String {
    format!(
        "{} {} {} {} {}",
        record.name,
        record.ttl,
        record.class,
        record.rtype,
        format_rdata(record.rtype, &record.data)
    )
}
