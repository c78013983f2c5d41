//! Presentation-format encodings of record data fields: decimal numbers,
//! BIND-style durations, character strings (RFC 1035 §5.1), Base16, Base64 and
//! Base32 with the extended hex alphabet (RFC 4648), and DNSSEC timestamps
//! (RFC 4034 §3.2).
//!
//! Every decoder returns a short message on failure; the caller adds the
//! position of the token.
//!
//! # Limitations
//! - Base64 does not insist that the unused bits of the last group are zero.
//! - Timestamps are UTC; years before 1970 are rejected, later ones are taken
//!   modulo 2^32 seconds as RFC 4034 §3.1.5 prescribes.

/// The longest character string (RFC 1035 §3.3).
pub(crate) const MAX_CHARACTER_STRING: usize = 255;

/// Parses a decimal number no larger than `maximum`.
pub(crate) fn parse_decimal(text: &str, maximum: u64) -> Result<u64, String> {
    let fail = || format!("expected a number from 0 to {maximum}, found '{text}'");
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(fail());
    }
    let mut value: u64 = 0;
    for digit in text.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|value| value.checked_add(u64::from(digit - b'0')))
            .filter(|&value| value <= maximum)
            .ok_or_else(fail)?;
    }
    Ok(value)
}

/// Parses a duration in seconds: a plain number or BIND units such as `1h30m`,
/// `2d` or `1w` (units s, m, h, d, w, any case; a group without unit must be last).
pub(crate) fn parse_duration(text: &str) -> Result<u32, String> {
    let fail = || format!("expected a duration such as 3600 or 1h30m, found '{text}'");
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(fail());
    }
    let mut total: u64 = 0;
    let mut index = 0;
    while index < bytes.len() {
        let start = index;
        let mut value: u64 = 0;
        while index < bytes.len() && bytes[index].is_ascii_digit() {
            value = value * 10 + u64::from(bytes[index] - b'0');
            if value > u64::from(u32::MAX) {
                return Err(format!("duration '{text}' exceeds 4294967295 seconds"));
            }
            index += 1;
        }
        if index == start {
            return Err(fail());
        }
        let multiplier = match bytes.get(index).map(u8::to_ascii_lowercase) {
            None => 1,
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3600,
            Some(b'd') => 86_400,
            Some(b'w') => 604_800,
            Some(_) => return Err(fail()),
        };
        if index < bytes.len() {
            index += 1;
        }
        total += value * multiplier;
        if total > u64::from(u32::MAX) {
            return Err(format!("duration '{text}' exceeds 4294967295 seconds"));
        }
    }
    Ok(total as u32)
}

/// Decodes a character string's escapes: `\DDD` is a byte in decimal, `\X` is `X`.
/// Does not check the length.
pub(crate) fn decode_escapes(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte != b'\\' {
            decoded.push(byte);
            index += 1;
            continue;
        }
        let Some(&next) = bytes.get(index + 1) else {
            return Err("backslash at the end of the text".to_owned());
        };
        if next.is_ascii_digit() {
            let digits = bytes
                .get(index + 1..index + 4)
                .filter(|digits| digits.iter().all(u8::is_ascii_digit))
                .ok_or("a \\DDD escape needs three decimal digits")?;
            let value = digits
                .iter()
                .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
            let value = u8::try_from(value).map_err(|_| "a \\DDD escape above 255")?;
            decoded.push(value);
            index += 4;
        } else {
            // A multi-byte character after the backslash stands for itself.
            decoded.push(next);
            index += 2;
        }
    }
    Ok(decoded)
}

/// Writes `bytes` as a quoted character string that [`decode_escapes`] reads back.
pub(crate) fn write_quoted(output: &mut String, bytes: &[u8]) {
    output.push('"');
    for &byte in bytes {
        match byte {
            b'"' | b'\\' => {
                output.push('\\');
                output.push(char::from(byte));
            }
            0x20..=0x7e => output.push(char::from(byte)),
            _ => output.push_str(&format!("\\{byte:03}")),
        }
    }
    output.push('"');
}

/// Decodes Base16 (either case), appending to `output`.
pub(crate) fn decode_hex(text: &str, output: &mut Vec<u8>) -> Result<(), String> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(format!("odd number of hexadecimal digits in '{text}'"));
    }
    for pair in bytes.chunks_exact(2) {
        let high = hex_value(pair[0]);
        let low = hex_value(pair[1]);
        match (high, low) {
            (Some(high), Some(low)) => output.push(high << 4 | low),
            _ => return Err(format!("not hexadecimal: '{text}'")),
        }
    }
    Ok(())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Encodes Base16 in upper case.
pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_value(symbol: u8) -> Option<u32> {
    match symbol {
        b'A'..=b'Z' => Some(u32::from(symbol - b'A')),
        b'a'..=b'z' => Some(u32::from(symbol - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(symbol - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes padded Base64 (RFC 4648 §4), appending to `output`.
pub(crate) fn decode_base64(text: &str, output: &mut Vec<u8>) -> Result<(), String> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err("Base64 text whose length is not a multiple of 4".to_owned());
    }
    let groups = bytes.len() / 4;
    for (index, group) in bytes.chunks_exact(4).enumerate() {
        let padding = group
            .iter()
            .rev()
            .take_while(|&&symbol| symbol == b'=')
            .count();
        if padding > 2 || (padding > 0 && index + 1 != groups) {
            return Err("misplaced '=' padding in Base64 text".to_owned());
        }
        let mut value = 0u32;
        for &symbol in &group[..4 - padding] {
            let digit = base64_value(symbol)
                .ok_or_else(|| format!("not Base64: '{}'", char::from(symbol)))?;
            value = value << 6 | digit;
        }
        value <<= 6 * padding as u32;
        let decoded = [(value >> 16) as u8, (value >> 8) as u8, value as u8];
        output.extend_from_slice(&decoded[..3 - padding]);
    }
    Ok(())
}

/// Encodes padded Base64.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let value = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for index in 0..4 {
            if index <= chunk.len() {
                let digit = (value >> (18 - 6 * index)) & 0x3f;
                text.push(char::from(BASE64_ALPHABET[digit as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// Decodes unpadded Base32 with the extended hex alphabet, either case
/// (RFC 4648 §7, as NSEC3 uses it, RFC 5155 §3.3).
pub(crate) fn decode_base32hex(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    if matches!(bytes.len() % 8, 1 | 3 | 6) {
        return Err(format!("'{text}' has a length that Base32 cannot have"));
    }
    let mut output = Vec::with_capacity(bytes.len() * 5 / 8);
    for group in bytes.chunks(8) {
        let mut value = 0u64;
        for &symbol in group {
            let digit = match symbol {
                b'0'..=b'9' => symbol - b'0',
                b'a'..=b'v' => symbol - b'a' + 10,
                b'A'..=b'V' => symbol - b'A' + 10,
                _ => return Err(format!("not Base32hex: '{}'", char::from(symbol))),
            };
            value = value << 5 | u64::from(digit);
        }
        value <<= 5 * (8 - group.len());
        let count = group.len() * 5 / 8;
        for index in 0..count {
            output.push((value >> (32 - 8 * index)) as u8);
        }
    }
    Ok(output)
}

/// Encodes unpadded Base32 with the extended hex alphabet in upper case.
pub(crate) fn encode_base32hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";
    let mut text = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut group = [0u8; 5];
        group[..chunk.len()].copy_from_slice(chunk);
        let value = group
            .iter()
            .fold(0u64, |value, &byte| value << 8 | u64::from(byte));
        let symbols = (chunk.len() * 8).div_ceil(5);
        for index in 0..symbols {
            let digit = (value >> (35 - 5 * index)) & 0x1f;
            text.push(char::from(DIGITS[digit as usize]));
        }
    }
    text
}

/// Whether `year` is a leap year in the Gregorian calendar.
fn is_leap_year(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Leap years in 1..=year.
fn leap_years_through(year: u64) -> u64 {
    year / 4 - year / 100 + year / 400
}

/// Parses a DNSSEC timestamp: `YYYYMMDDHHmmSS` in UTC, or a plain number of
/// seconds since 1970 (RFC 4034 §3.2).
pub(crate) fn parse_timestamp(text: &str) -> Result<u32, String> {
    if text.len() != 14 {
        return parse_decimal(text, u64::from(u32::MAX))
            .map(|value| value as u32)
            .map_err(|_| format!("expected a time as YYYYMMDDHHmmSS or seconds, found '{text}'"));
    }
    let fail = || format!("not a valid time YYYYMMDDHHmmSS: '{text}'");
    if !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(fail());
    }
    let field = |range: std::ops::Range<usize>| -> u64 {
        text[range]
            .bytes()
            .fold(0, |value, digit| value * 10 + u64::from(digit - b'0'))
    };
    let (year, month, day) = (field(0..4), field(4..6), field(6..8));
    let (hour, minute, second) = (field(8..10), field(10..12), field(12..14));
    if year < 1970
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(fail());
    }
    let mut days = 365 * (year - 1970) + leap_years_through(year - 1) - leap_years_through(1969);
    for earlier in 1..month {
        days += days_in_month(year, earlier);
    }
    days += day - 1;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    // Serial number arithmetic: the field holds the time modulo 2^32.
    Ok(seconds as u32)
}

/// Formats seconds since 1970 as `YYYYMMDDHHmmSS` in UTC.
pub(crate) fn format_timestamp(seconds: u32) -> String {
    let seconds = u64::from(seconds);
    let mut days = seconds / 86_400;
    let rest = seconds % 86_400;
    let mut year = 1970;
    loop {
        let length = if is_leap_year(year) { 366 } else { 365 };
        if days < length {
            break;
        }
        days -= length;
        year += 1;
    }
    let mut month = 1;
    while days >= days_in_month(year, month) {
        days -= days_in_month(year, month);
        month += 1;
    }
    format!(
        "{year:04}{month:02}{:02}{:02}{:02}{:02}",
        days + 1,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_bind_units() {
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("2D"), Ok(172_800));
        assert_eq!(parse_duration("1w1d1h1m1s"), Ok(694_861));
        assert_eq!(parse_duration("1h30"), Ok(3630));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("99999999999").is_err());
        assert!(parse_duration("7102w").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn encodings_match_rfc_4648_vectors() {
        let vectors: [(&[u8], &str, &str); 7] = [
            (b"", "", ""),
            (b"f", "Zg==", "CO"),
            (b"fo", "Zm8=", "CPNG"),
            (b"foo", "Zm9v", "CPNMU"),
            (b"foob", "Zm9vYg==", "CPNMUOG"),
            (b"fooba", "Zm9vYmE=", "CPNMUOJ1"),
            (b"foobar", "Zm9vYmFy", "CPNMUOJ1E8"),
        ];
        for (plain, base64, base32hex) in vectors {
            assert_eq!(encode_base64(plain), base64);
            let mut decoded = Vec::new();
            decode_base64(base64, &mut decoded).unwrap();
            assert_eq!(decoded, plain);
            assert_eq!(encode_base32hex(plain), base32hex);
            assert_eq!(decode_base32hex(&base32hex.to_lowercase()).unwrap(), plain);
        }
        assert!(decode_base64("Zg=a", &mut Vec::new()).is_err());
        assert!(decode_base64("Zg==Zg==", &mut Vec::new()).is_err());
        assert!(decode_base64("Z===", &mut Vec::new()).is_err());
        assert!(decode_base32hex("W0").is_err());
        assert!(decode_base32hex("C").is_err());
        let mut hex = Vec::new();
        decode_hex("00fFa1", &mut hex).unwrap();
        assert_eq!(hex, [0, 255, 0xa1]);
        assert_eq!(encode_hex(&hex), "00FFA1");
        assert!(decode_hex("abc", &mut Vec::new()).is_err());
        assert!(decode_hex("zz", &mut Vec::new()).is_err());
    }

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(parse_timestamp("19700101000000"), Ok(0));
        assert_eq!(parse_timestamp("20000229123456"), Ok(951_827_696));
        assert_eq!(parse_timestamp("21060207062815"), Ok(u32::MAX));
        assert_eq!(parse_timestamp("1234"), Ok(1234));
        assert!(parse_timestamp("20010229000000").is_err());
        assert!(parse_timestamp("19691231235959").is_err());
        assert!(parse_timestamp("2000010100006x").is_err());
        for seconds in [0, 1, 951_827_696, 1_700_000_000, u32::MAX] {
            assert_eq!(parse_timestamp(&format_timestamp(seconds)), Ok(seconds));
        }
    }

    #[test]
    fn character_string_escapes() {
        assert_eq!(decode_escapes("a\\\"b\\065\\\\").unwrap(), b"a\"bA\\");
        assert!(decode_escapes("\\25").is_err());
        assert!(decode_escapes("\\256").is_err());
        let mut text = String::new();
        write_quoted(&mut text, b"say \"hi\"\\\x00\xff");
        assert_eq!(text, "\"say \\\"hi\\\"\\\\\\000\\255\"");
        assert_eq!(
            decode_escapes(&text[1..text.len() - 1]).unwrap(),
            b"say \"hi\"\\\x00\xff"
        );
    }
}
