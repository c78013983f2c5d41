//! Record data in presentation format: parsing it into uncompressed wire
//! form and formatting wire form back.
//!
//! Implements the presentation formats of A, NS, CNAME, PTR, MX, SOA, TXT,
//! HINFO (RFC 1035 §3.3, §3.4), AAAA (RFC 3596), SRV (RFC 2782), NAPTR
//! (RFC 3403), DNAME (RFC 6672), DS, DNSKEY, RRSIG, NSEC (RFC 4034), NSEC3,
//! NSEC3PARAM (RFC 5155), CDS, CDNSKEY (RFC 7344), TLSA (RFC 6698), SSHFP
//! (RFC 4255), CAA (RFC 8659), SPF (RFC 7208) and the generic form
//! `\# length hex` of RFC 3597 §5 for every type.
//!
//! Names in record data are stored uncompressed and keep their case.
//! [`format_rdata`] falls back to the generic form whenever the data does not
//! fit its type's layout exactly, so that its output always parses back to
//! the same bytes.
//!
//! # Limitations
//! - Other types (LOC, SVCB, HTTPS, ...) are accepted in the generic form only.
//! - Algorithm fields accept the DNSSEC algorithm mnemonics of RFC 8624 and
//!   numbers; formatting always writes numbers.

use crate::ZoneError;
use crate::lexer::{Lexer, Position, Token};
use crate::text::{
    MAX_CHARACTER_STRING, decode_base32hex, decode_base64, decode_escapes, decode_hex,
    encode_base32hex, encode_base64, encode_hex, format_timestamp, parse_decimal, parse_duration,
    parse_timestamp, write_quoted,
};
use hanse_wire::{Name, NameError, RType};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The largest record data (RDLENGTH is 16 bits).
pub const MAX_RECORD_DATA_LENGTH: usize = 65535;

/// The data fields of one record, consumed left to right.
pub(crate) struct Fields<'t, 'a> {
    tokens: &'t [Token<'a>],
    index: usize,
    end: Position,
}

impl<'t, 'a> Fields<'t, 'a> {
    pub fn new(tokens: &'t [Token<'a>], end: Position) -> Fields<'t, 'a> {
        Fields {
            tokens,
            index: 0,
            end,
        }
    }

    fn next(&mut self, what: &str) -> Result<Token<'a>, ZoneError> {
        let token = self
            .tokens
            .get(self.index)
            .ok_or_else(|| self.end.error(format!("missing {what}")))?;
        self.index += 1;
        Ok(*token)
    }

    fn unquoted(&mut self, what: &str) -> Result<Token<'a>, ZoneError> {
        let token = self.next(what)?;
        if token.quoted {
            return Err(token.error(format!("expected {what}, found a quoted string")));
        }
        Ok(token)
    }

    fn rest(&mut self) -> &'t [Token<'a>] {
        let rest = &self.tokens[self.index..];
        self.index = self.tokens.len();
        rest
    }

    fn finish(&self) -> Result<(), ZoneError> {
        match self.tokens.get(self.index) {
            Some(token) => Err(token.error(format!("unexpected field '{}'", token.text))),
            None => Ok(()),
        }
    }

    /// Where the data starts, for errors about the data as a whole.
    fn start(&self) -> Position {
        self.tokens.first().map_or(self.end, |token| token.position)
    }

    fn number(&mut self, what: &str, maximum: u64) -> Result<u64, ZoneError> {
        let token = self.unquoted(what)?;
        parse_decimal(token.text, maximum)
            .map_err(|message| token.error(format!("{what}: {message}")))
    }

    fn u8(&mut self, what: &str) -> Result<u8, ZoneError> {
        Ok(self.number(what, u64::from(u8::MAX))? as u8)
    }

    fn u16(&mut self, what: &str) -> Result<u16, ZoneError> {
        Ok(self.number(what, u64::from(u16::MAX))? as u16)
    }

    fn u32(&mut self, what: &str) -> Result<u32, ZoneError> {
        Ok(self.number(what, u64::from(u32::MAX))? as u32)
    }

    fn duration(&mut self, what: &str) -> Result<u32, ZoneError> {
        let token = self.unquoted(what)?;
        parse_duration(token.text).map_err(|message| token.error(format!("{what}: {message}")))
    }

    fn timestamp(&mut self, what: &str) -> Result<u32, ZoneError> {
        let token = self.unquoted(what)?;
        parse_timestamp(token.text).map_err(|message| token.error(format!("{what}: {message}")))
    }

    fn algorithm(&mut self) -> Result<u8, ZoneError> {
        let token = self.unquoted("algorithm")?;
        if let Some(&(_, number)) = ALGORITHMS
            .iter()
            .find(|(mnemonic, _)| mnemonic.eq_ignore_ascii_case(token.text))
        {
            return Ok(number);
        }
        parse_decimal(token.text, 255)
            .map(|number| number as u8)
            .map_err(|_| token.error(format!("unknown algorithm '{}'", token.text)))
    }

    fn rtype(&mut self, what: &str) -> Result<RType, ZoneError> {
        let token = self.unquoted(what)?;
        token
            .text
            .parse()
            .map_err(|()| token.error(format!("unknown record type '{}'", token.text)))
    }

    fn name(&mut self, what: &str, origin: &Name) -> Result<Name, ZoneError> {
        let token = self.next(what)?;
        parse_name(&token, origin)
    }

    fn character_string(&mut self, what: &str) -> Result<Vec<u8>, ZoneError> {
        let token = self.next(what)?;
        character_string(&token)
    }

    /// The remaining tokens joined, for Base16 and Base64 fields that may
    /// contain blanks. At least one token is required.
    fn joined(&mut self, what: &str) -> Result<(String, Position), ZoneError> {
        let first = self.unquoted(what)?;
        let mut joined = first.text.to_owned();
        for token in self.rest() {
            if token.quoted {
                return Err(token.error(format!("expected {what}, found a quoted string")));
            }
            joined.push_str(token.text);
        }
        Ok((joined, first.position))
    }

    fn hex(&mut self, what: &str, output: &mut Vec<u8>) -> Result<(), ZoneError> {
        let (text, position) = self.joined(what)?;
        decode_hex(&text, output).map_err(|message| position.error(format!("{what}: {message}")))
    }

    fn base64(&mut self, what: &str, output: &mut Vec<u8>) -> Result<(), ZoneError> {
        let (text, position) = self.joined(what)?;
        decode_base64(&text, output).map_err(|message| position.error(format!("{what}: {message}")))
    }

    /// An NSEC3 salt: `-` for none, otherwise Base16; written with its length.
    fn salt(&mut self, output: &mut Vec<u8>) -> Result<(), ZoneError> {
        let token = self.unquoted("salt")?;
        if token.text == "-" {
            output.push(0);
            return Ok(());
        }
        let mut salt = Vec::new();
        decode_hex(token.text, &mut salt)
            .map_err(|message| token.error(format!("salt: {message}")))?;
        let length =
            u8::try_from(salt.len()).map_err(|_| token.error("salt longer than 255 octets"))?;
        output.push(length);
        output.extend_from_slice(&salt);
        Ok(())
    }

    /// A type bitmap (RFC 4034 §4.1.2) from the remaining tokens.
    fn type_bitmap(&mut self, output: &mut Vec<u8>) -> Result<(), ZoneError> {
        let mut types = BTreeSet::new();
        for token in self.rest() {
            let rtype: RType = (!token.quoted)
                .then(|| token.text.parse().ok())
                .flatten()
                .ok_or_else(|| token.error(format!("unknown record type '{}'", token.text)))?;
            types.insert(rtype.0);
        }
        write_type_bitmap(&types, output);
        Ok(())
    }
}

/// DNSSEC algorithm mnemonics (IANA "DNS Security Algorithm Numbers").
const ALGORITHMS: &[(&str, u8)] = &[
    ("RSAMD5", 1),
    ("DH", 2),
    ("DSA", 3),
    ("RSASHA1", 5),
    ("DSA-NSEC3-SHA1", 6),
    ("RSASHA1-NSEC3-SHA1", 7),
    ("RSASHA256", 8),
    ("RSASHA512", 10),
    ("ECC-GOST", 12),
    ("ECDSAP256SHA256", 13),
    ("ECDSAP384SHA384", 14),
    ("ED25519", 15),
    ("ED448", 16),
    ("INDIRECT", 252),
    ("PRIVATEDNS", 253),
    ("PRIVATEOID", 254),
];

/// Whether a name in presentation format ends with an unescaped dot.
fn is_absolute(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut index = 0;
    let mut last_dot = false;
    while index < bytes.len() {
        if bytes[index] == b'\\' {
            last_dot = false;
            index += 2;
        } else {
            last_dot = bytes[index] == b'.';
            index += 1;
        }
    }
    last_dot
}

/// Parses a name token: `@` is the origin, a name without a trailing dot is
/// relative to the origin.
pub(crate) fn parse_name(token: &Token<'_>, origin: &Name) -> Result<Name, ZoneError> {
    if token.quoted {
        return Err(token.error("expected a domain name, found a quoted string"));
    }
    let text = token.text;
    if text == "@" {
        return Ok(origin.clone());
    }
    let describe = |error: NameError| token.error(format!("bad domain name '{text}': {error}"));
    let name = Name::from_ascii(text).map_err(describe)?;
    if is_absolute(text) {
        return Ok(name);
    }
    let relative = name.as_wire();
    let mut wire = Vec::with_capacity(relative.len() + origin.as_wire().len());
    wire.extend_from_slice(&relative[..relative.len() - 1]);
    wire.extend_from_slice(origin.as_wire());
    Name::from_wire(&wire).map_err(|_| {
        token.error(format!(
            "domain name '{text}' longer than 255 octets with the origin {origin}"
        ))
    })
}

/// Decodes a character string token, at most 255 octets.
fn character_string(token: &Token<'_>) -> Result<Vec<u8>, ZoneError> {
    let bytes = decode_escapes(token.text).map_err(|message| token.error(message))?;
    if bytes.len() > MAX_CHARACTER_STRING {
        return Err(token.error("character string longer than 255 octets"));
    }
    Ok(bytes)
}

fn push_character_string(output: &mut Vec<u8>, bytes: &[u8]) {
    output.push(bytes.len() as u8);
    output.extend_from_slice(bytes);
}

fn write_type_bitmap(types: &BTreeSet<u16>, output: &mut Vec<u8>) {
    let mut window: Option<(u8, [u8; 32], usize)> = None;
    for &rtype in types {
        let (number, bit) = ((rtype >> 8) as u8, usize::from(rtype & 0xff));
        if let Some((current, bits, length)) = &window
            && *current != number
        {
            output.push(*current);
            output.push(*length as u8);
            output.extend_from_slice(&bits[..*length]);
            window = None;
        }
        let (_, bits, length) = window.get_or_insert((number, [0; 32], 0));
        bits[bit / 8] |= 0x80 >> (bit % 8);
        *length = (*length).max(bit / 8 + 1);
    }
    if let Some((number, bits, length)) = window {
        output.push(number);
        output.push(length as u8);
        output.extend_from_slice(&bits[..length]);
    }
}

/// Parses presentation-format record data of type `rtype` into uncompressed
/// wire form. Relative names are completed with `origin`.
///
/// `text` may span lines inside parentheses and contain comments; positions in
/// errors count from its start.
pub fn parse_rdata(rtype: RType, text: &str, origin: &Name) -> Result<Box<[u8]>, ZoneError> {
    let mut lexer = Lexer::new(text);
    let mut tokens = Vec::new();
    let mut end = Position { line: 1, column: 1 };
    while let Some(entry) = lexer.next_entry()? {
        tokens.extend_from_slice(&entry.tokens);
        end = entry.end;
    }
    parse_fields(rtype, Fields::new(&tokens, end), origin).map(Vec::into_boxed_slice)
}

/// Parses the data fields of one record.
pub(crate) fn parse_fields(
    rtype: RType,
    mut fields: Fields<'_, '_>,
    origin: &Name,
) -> Result<Vec<u8>, ZoneError> {
    let start = fields.start();
    if fields.tokens.first().is_some_and(|token| token.is("\\#")) {
        return parse_generic(rtype, fields);
    }
    let mut data = Vec::new();
    match rtype {
        RType::A => {
            let token = fields.unquoted("IPv4 address")?;
            let address: Ipv4Addr = token
                .text
                .parse()
                .map_err(|_| token.error(format!("bad IPv4 address '{}'", token.text)))?;
            data.extend_from_slice(&address.octets());
        }
        RType::AAAA => {
            let token = fields.unquoted("IPv6 address")?;
            let address: Ipv6Addr = token
                .text
                .parse()
                .map_err(|_| token.error(format!("bad IPv6 address '{}'", token.text)))?;
            data.extend_from_slice(&address.octets());
        }
        RType::NS | RType::CNAME | RType::DNAME | RType::PTR => {
            data.extend_from_slice(fields.name("target name", origin)?.as_wire());
        }
        RType::MX => {
            data.extend_from_slice(&fields.u16("preference")?.to_be_bytes());
            data.extend_from_slice(fields.name("exchange", origin)?.as_wire());
        }
        RType::SOA => {
            data.extend_from_slice(
                fields
                    .name("primary server name (MNAME)", origin)?
                    .as_wire(),
            );
            data.extend_from_slice(fields.name("mailbox name (RNAME)", origin)?.as_wire());
            data.extend_from_slice(&fields.u32("serial")?.to_be_bytes());
            for what in ["refresh", "retry", "expire", "minimum"] {
                data.extend_from_slice(&fields.duration(what)?.to_be_bytes());
            }
        }
        RType::TXT | RType::SPF => {
            let first = fields.character_string("text")?;
            push_character_string(&mut data, &first);
            for token in fields.rest() {
                push_character_string(&mut data, &character_string(token)?);
                if data.len() > MAX_RECORD_DATA_LENGTH {
                    return Err(token.error("record data longer than 65535 octets"));
                }
            }
        }
        RType::SRV => {
            for what in ["priority", "weight", "port"] {
                data.extend_from_slice(&fields.u16(what)?.to_be_bytes());
            }
            data.extend_from_slice(fields.name("target", origin)?.as_wire());
        }
        RType::CAA => {
            data.push(fields.u8("flags")?);
            let tag = fields.unquoted("tag")?;
            if tag.text.is_empty()
                || tag.text.len() > 255
                || !tag.text.bytes().all(|byte| byte.is_ascii_alphanumeric())
            {
                return Err(tag.error(format!(
                    "bad CAA tag '{}': letters and digits only",
                    tag.text
                )));
            }
            data.push(tag.text.len() as u8);
            data.extend_from_slice(tag.text.as_bytes());
            let value = fields.next("value")?;
            data.extend(decode_escapes(value.text).map_err(|message| value.error(message))?);
        }
        RType::HINFO => {
            push_character_string(&mut data, &fields.character_string("CPU")?);
            push_character_string(&mut data, &fields.character_string("OS")?);
        }
        RType::NAPTR => {
            data.extend_from_slice(&fields.u16("order")?.to_be_bytes());
            data.extend_from_slice(&fields.u16("preference")?.to_be_bytes());
            for what in ["flags", "services", "regular expression"] {
                push_character_string(&mut data, &fields.character_string(what)?);
            }
            data.extend_from_slice(fields.name("replacement", origin)?.as_wire());
        }
        RType::DS | RType::CDS => {
            data.extend_from_slice(&fields.u16("key tag")?.to_be_bytes());
            data.push(fields.algorithm()?);
            data.push(fields.u8("digest type")?);
            fields.hex("digest", &mut data)?;
        }
        RType::DNSKEY | RType::CDNSKEY => {
            data.extend_from_slice(&fields.u16("flags")?.to_be_bytes());
            data.push(fields.u8("protocol")?);
            data.push(fields.algorithm()?);
            fields.base64("public key", &mut data)?;
        }
        RType::RRSIG => {
            data.extend_from_slice(&fields.rtype("type covered")?.0.to_be_bytes());
            data.push(fields.algorithm()?);
            data.push(fields.u8("labels")?);
            data.extend_from_slice(&fields.duration("original TTL")?.to_be_bytes());
            data.extend_from_slice(&fields.timestamp("signature expiration")?.to_be_bytes());
            data.extend_from_slice(&fields.timestamp("signature inception")?.to_be_bytes());
            data.extend_from_slice(&fields.u16("key tag")?.to_be_bytes());
            data.extend_from_slice(fields.name("signer's name", origin)?.as_wire());
            fields.base64("signature", &mut data)?;
        }
        RType::NSEC => {
            data.extend_from_slice(fields.name("next domain name", origin)?.as_wire());
            fields.type_bitmap(&mut data)?;
        }
        RType::NSEC3 => {
            data.push(fields.u8("hash algorithm")?);
            data.push(fields.u8("flags")?);
            data.extend_from_slice(&fields.u16("iterations")?.to_be_bytes());
            fields.salt(&mut data)?;
            let token = fields.unquoted("next hashed owner name")?;
            let hash = decode_base32hex(token.text)
                .map_err(|message| token.error(format!("next hashed owner name: {message}")))?;
            let length = u8::try_from(hash.len())
                .map_err(|_| token.error("next hashed owner name longer than 255 octets"))?;
            data.push(length);
            data.extend_from_slice(&hash);
            fields.type_bitmap(&mut data)?;
        }
        RType::NSEC3PARAM => {
            data.push(fields.u8("hash algorithm")?);
            data.push(fields.u8("flags")?);
            data.extend_from_slice(&fields.u16("iterations")?.to_be_bytes());
            fields.salt(&mut data)?;
        }
        RType::TLSA | RType::SMIMEA => {
            data.push(fields.u8("certificate usage")?);
            data.push(fields.u8("selector")?);
            data.push(fields.u8("matching type")?);
            fields.hex("certificate association data", &mut data)?;
        }
        RType::SSHFP => {
            data.push(fields.u8("algorithm")?);
            data.push(fields.u8("fingerprint type")?);
            fields.hex("fingerprint", &mut data)?;
        }
        _ => {
            return Err(start.error(format!(
                "record type {rtype} is only supported in the generic form \\# length hex"
            )));
        }
    }
    fields.finish()?;
    if data.len() > MAX_RECORD_DATA_LENGTH {
        return Err(start.error("record data longer than 65535 octets"));
    }
    Ok(data)
}

/// The generic form of RFC 3597 §5: `\# length hex...`.
fn parse_generic(rtype: RType, mut fields: Fields<'_, '_>) -> Result<Vec<u8>, ZoneError> {
    let marker = fields.next("\\#")?;
    let length_token = fields.unquoted("data length")?;
    let length = parse_decimal(length_token.text, MAX_RECORD_DATA_LENGTH as u64)
        .map_err(|message| length_token.error(format!("data length: {message}")))?
        as usize;
    let mut data = Vec::with_capacity(length);
    if length > 0 {
        fields.hex("data", &mut data)?;
    }
    fields.finish()?;
    if data.len() != length {
        return Err(length_token.error(format!(
            "data length {length} does not match the {} octets given",
            data.len()
        )));
    }
    if !is_valid_wire(rtype, &data) {
        return Err(marker.error(format!("the data does not fit the layout of type {rtype}")));
    }
    Ok(data)
}

/// Whether wire data is acceptable for its type as far as a message parser
/// checks it: the sizes of addresses and the names of the types whose names
/// may be compressed (RFC 3597 §4).
fn is_valid_wire(rtype: RType, data: &[u8]) -> bool {
    let mut reader = Reader { data, position: 0 };
    let complete = match rtype {
        RType::A => reader.bytes(4).is_some(),
        RType::AAAA => reader.bytes(16).is_some(),
        RType::NS
        | RType::MD
        | RType::MF
        | RType::CNAME
        | RType::MB
        | RType::MG
        | RType::MR
        | RType::PTR
        | RType::DNAME => reader.name().is_some(),
        RType::SOA => {
            reader.name().is_some() && reader.name().is_some() && reader.bytes(20).is_some()
        }
        RType::MINFO | RType::RP => reader.name().is_some() && reader.name().is_some(),
        RType::MX | RType::AFSDB | RType::RT | RType::KX => {
            reader.u16().is_some() && reader.name().is_some()
        }
        RType::PX => reader.u16().is_some() && reader.name().is_some() && reader.name().is_some(),
        RType::SRV => reader.bytes(6).is_some() && reader.name().is_some(),
        RType::NAPTR => {
            reader.bytes(4).is_some()
                && (0..3).all(|_| reader.character_string().is_some())
                && reader.name().is_some()
        }
        _ => return true,
    };
    complete && reader.is_empty()
}

/// A cursor over wire-form record data.
struct Reader<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, count: usize) -> Option<&'a [u8]> {
        let bytes = self
            .data
            .get(self.position..self.position.checked_add(count)?)?;
        self.position += count;
        Some(bytes)
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|bytes| bytes[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes(2)
            .map(|bytes| u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|bytes| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn name(&mut self) -> Option<Name> {
        let start = self.position;
        let mut position = start;
        loop {
            let length = usize::from(*self.data.get(position)?);
            if length > 63 {
                return None;
            }
            position += length + 1;
            if position - start > 255 {
                return None;
            }
            if length == 0 {
                break;
            }
        }
        let name = Name::from_wire(self.data.get(start..position)?).ok()?;
        self.position = position;
        Some(name)
    }

    fn character_string(&mut self) -> Option<&'a [u8]> {
        let length = usize::from(self.u8()?);
        self.bytes(length)
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = &self.data[self.position..];
        self.position = self.data.len();
        rest
    }

    fn is_empty(&self) -> bool {
        self.position == self.data.len()
    }
}

/// Formats wire-form record data in presentation format. Data that does not
/// fit the layout of its type is written in the generic form `\# length hex`.
pub fn format_rdata(rtype: RType, data: &[u8]) -> String {
    format_known(rtype, data).unwrap_or_else(|| format_generic(data))
}

fn format_generic(data: &[u8]) -> String {
    if data.is_empty() {
        return "\\# 0".to_owned();
    }
    format!("\\# {} {}", data.len(), encode_hex(data))
}

/// Writes the type bitmap if it is in canonical form: windows in increasing
/// order, each 1 to 32 octets long with a non-zero last octet.
fn write_types(output: &mut String, reader: &mut Reader<'_>) -> Option<()> {
    let mut previous: Option<u8> = None;
    while !reader.is_empty() {
        let window = reader.u8()?;
        if previous.is_some_and(|previous| previous >= window) {
            return None;
        }
        previous = Some(window);
        let length = usize::from(reader.u8()?);
        let bits = reader.bytes(length)?;
        if !(1..=32).contains(&length) || bits[length - 1] == 0 {
            return None;
        }
        for (index, &byte) in bits.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    let rtype = RType(u16::from(window) << 8 | (index * 8 + bit) as u16);
                    write!(output, " {rtype}").ok()?;
                }
            }
        }
    }
    Some(())
}

fn write_salt(output: &mut String, reader: &mut Reader<'_>) -> Option<()> {
    let salt = reader.character_string()?;
    if salt.is_empty() {
        output.push_str(" -");
    } else {
        write!(output, " {}", encode_hex(salt)).ok()?;
    }
    Some(())
}

fn non_empty(bytes: &[u8]) -> Option<&[u8]> {
    (!bytes.is_empty()).then_some(bytes)
}

fn format_known(rtype: RType, data: &[u8]) -> Option<String> {
    let mut reader = Reader { data, position: 0 };
    let mut output = String::new();
    let out = &mut output;
    match rtype {
        RType::A => {
            let octets: [u8; 4] = reader.bytes(4)?.try_into().ok()?;
            write!(out, "{}", Ipv4Addr::from(octets)).ok()?;
        }
        RType::AAAA => {
            let octets: [u8; 16] = reader.bytes(16)?.try_into().ok()?;
            write!(out, "{}", Ipv6Addr::from(octets)).ok()?;
        }
        RType::NS | RType::CNAME | RType::DNAME | RType::PTR => {
            write!(out, "{}", reader.name()?).ok()?;
        }
        RType::MX => write!(out, "{} {}", reader.u16()?, reader.name()?).ok()?,
        RType::SOA => {
            write!(out, "{} {}", reader.name()?, reader.name()?).ok()?;
            for _ in 0..5 {
                write!(out, " {}", reader.u32()?).ok()?;
            }
        }
        RType::TXT | RType::SPF => {
            while !reader.is_empty() {
                if !out.is_empty() {
                    out.push(' ');
                }
                write_quoted(out, reader.character_string()?);
            }
            if out.is_empty() {
                return None;
            }
        }
        RType::SRV => {
            let (priority, weight, port) = (reader.u16()?, reader.u16()?, reader.u16()?);
            write!(out, "{priority} {weight} {port} {}", reader.name()?).ok()?;
        }
        RType::CAA => {
            let flags = reader.u8()?;
            let tag = reader.character_string()?;
            if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return None;
            }
            write!(out, "{flags} {} ", std::str::from_utf8(tag).ok()?).ok()?;
            write_quoted(out, reader.rest());
        }
        RType::HINFO => {
            write_quoted(out, reader.character_string()?);
            out.push(' ');
            write_quoted(out, reader.character_string()?);
        }
        RType::NAPTR => {
            write!(out, "{} {}", reader.u16()?, reader.u16()?).ok()?;
            for _ in 0..3 {
                out.push(' ');
                write_quoted(out, reader.character_string()?);
            }
            write!(out, " {}", reader.name()?).ok()?;
        }
        RType::DS | RType::CDS => {
            let (tag, algorithm, digest_type) = (reader.u16()?, reader.u8()?, reader.u8()?);
            let digest = encode_hex(non_empty(reader.rest())?);
            write!(out, "{tag} {algorithm} {digest_type} {digest}").ok()?;
        }
        RType::DNSKEY | RType::CDNSKEY => {
            let (flags, protocol, algorithm) = (reader.u16()?, reader.u8()?, reader.u8()?);
            let key = encode_base64(non_empty(reader.rest())?);
            write!(out, "{flags} {protocol} {algorithm} {key}").ok()?;
        }
        RType::RRSIG => {
            let covered = RType(reader.u16()?);
            let (algorithm, labels, original_ttl) = (reader.u8()?, reader.u8()?, reader.u32()?);
            let expiration = format_timestamp(reader.u32()?);
            let inception = format_timestamp(reader.u32()?);
            let (tag, signer) = (reader.u16()?, reader.name()?);
            let signature = encode_base64(non_empty(reader.rest())?);
            write!(
                out,
                "{covered} {algorithm} {labels} {original_ttl} {expiration} {inception} {tag} \
                 {signer} {signature}"
            )
            .ok()?;
        }
        RType::NSEC => {
            write!(out, "{}", reader.name()?).ok()?;
            write_types(out, &mut reader)?;
        }
        RType::NSEC3 => {
            write!(out, "{} {} {}", reader.u8()?, reader.u8()?, reader.u16()?).ok()?;
            write_salt(out, &mut reader)?;
            let hash = non_empty(reader.character_string()?)?;
            write!(out, " {}", encode_base32hex(hash)).ok()?;
            write_types(out, &mut reader)?;
        }
        RType::NSEC3PARAM => {
            write!(out, "{} {} {}", reader.u8()?, reader.u8()?, reader.u16()?).ok()?;
            write_salt(out, &mut reader)?;
        }
        RType::TLSA | RType::SMIMEA => {
            let (usage, selector, matching) = (reader.u8()?, reader.u8()?, reader.u8()?);
            let association = encode_hex(non_empty(reader.rest())?);
            write!(out, "{usage} {selector} {matching} {association}").ok()?;
        }
        RType::SSHFP => {
            let (algorithm, kind) = (reader.u8()?, reader.u8()?);
            let fingerprint = encode_hex(non_empty(reader.rest())?);
            write!(out, "{algorithm} {kind} {fingerprint}").ok()?;
        }
        _ => return None,
    }
    reader.is_empty().then_some(output)
}
