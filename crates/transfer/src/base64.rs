//! Decoding of base64 (RFC 4648 §4), for TSIG secrets as written in
//! configuration files.

/// Decodes standard base64 with `=` padding; ASCII white space is skipped.
/// Returns `None` on any other character or bad padding.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let mut output = Vec::with_capacity(text.len() / 4 * 3);
    let mut accumulator: u32 = 0;
    let mut bits = 0u32;
    let mut padding = 0usize;
    let mut symbols = 0usize;
    for byte in text.bytes() {
        if byte.is_ascii_whitespace() {
            continue;
        }
        if byte == b'=' {
            padding += 1;
            symbols += 1;
            continue;
        }
        if padding > 0 {
            // Data after padding.
            return None;
        }
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        symbols += 1;
        accumulator = (accumulator << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            output.push((accumulator >> bits) as u8);
            accumulator &= (1 << bits) - 1;
        }
    }
    if !symbols.is_multiple_of(4) || padding > 2 {
        return None;
    }
    // Leftover bits must be zero (canonical encoding).
    if accumulator != 0 {
        return None;
    }
    Some(output)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn rfc_4648_vectors() {
        for (text, plain) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(decode(text).as_deref(), Some(plain.as_bytes()), "{text}");
        }
        assert_eq!(decode("Zm9v\nYmFy").as_deref(), Some(&b"foobar"[..]));
    }

    #[test]
    fn refuses_bad_input() {
        for text in ["Zm9", "Zm9v!", "Zg=a", "Zg===", "Zh==", "===="] {
            assert_eq!(decode(text), None, "{text}");
        }
    }
}
