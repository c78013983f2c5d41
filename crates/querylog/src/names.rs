//! Domain names as the query log handles them: presentation form, lowercased,
//! without the trailing dot (the root is `.`).
//!
//! The log stores each query name twice: as given, and with its labels in
//! reverse order (`www.example.com` → `com.example.www`). The reversed form
//! turns "this name or any name below it" (a suffix in presentation form, a
//! subtree in RFC 9499 terms) into a prefix, which an SQLite index answers as
//! a range.
//!
//! Limitations: names are text as the caller gives them; escaped dots
//! (`\.`, RFC 1035 §5.1) are respected when labels are split, but other
//! escapes (`\DDD`) are kept as written, so the same label written two ways
//! is two names.

/// Returns the name lowercased, without a trailing dot; the root stays `.`.
pub(crate) fn normalise(name: &str) -> String {
    let trimmed = strip_trailing_dot(name);
    if trimmed.is_empty() {
        return ".".to_owned();
    }
    trimmed.to_ascii_lowercase()
}

/// Returns `name` without one trailing (unescaped) dot.
fn strip_trailing_dot(name: &str) -> &str {
    let Some(stripped) = name.strip_suffix('.') else {
        return name;
    };
    // `a\.` ends with an escaped dot: keep it.
    let backslashes = stripped.bytes().rev().take_while(|&b| b == b'\\').count();
    if backslashes % 2 == 1 { name } else { stripped }
}

/// Returns the labels of a normalised name in reverse order, joined by dots;
/// the root gives the empty string.
pub(crate) fn reverse(name: &str) -> String {
    if name == "." || name.is_empty() {
        return String::new();
    }
    let mut labels = Vec::new();
    let bytes = name.as_bytes();
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'.' => {
                labels.push(&name[start..index]);
                index += 1;
                start = index;
            }
            _ => index += 1,
        }
    }
    labels.push(&name[start.min(name.len())..]);
    labels.reverse();
    labels.join(".")
}

/// Writes the name in uncompressed wire form `wire` (RFC 1035 §3.1) into
/// `output` in the log's form: presentation form (RFC 1035 §5.1 escapes),
/// lowercased, without the trailing dot; the root (and an empty or
/// malformed name) is `.`. Reuses `output`'s allocation.
pub(crate) fn presentation_from_wire(wire: &[u8], output: &mut String) {
    output.clear();
    let mut rest = wire;
    while let Some((&length, tail)) = rest.split_first() {
        let length = usize::from(length);
        if length == 0 || length > 63 || tail.len() < length {
            break;
        }
        if !output.is_empty() {
            output.push('.');
        }
        for &byte in &tail[..length] {
            let byte = byte.to_ascii_lowercase();
            match byte {
                b'.' | b'\\' | b'(' | b')' | b';' | b'"' | b'$' | b'@' => {
                    output.push('\\');
                    output.push(char::from(byte));
                }
                0x21..=0x7e => output.push(char::from(byte)),
                _ => {
                    output.push('\\');
                    output.push(char::from(b'0' + byte / 100));
                    output.push(char::from(b'0' + byte / 10 % 10));
                    output.push(char::from(b'0' + byte % 10));
                }
            }
        }
        rest = &tail[length..];
    }
    if output.is_empty() {
        output.push('.');
    }
}

/// Writes the labels of a normalised name in reverse order, joined by dots,
/// into `output` (the root gives the empty string). Reuses the allocation.
pub(crate) fn reverse_into(name: &str, output: &mut String) {
    output.clear();
    if name == "." || name.is_empty() {
        return;
    }
    let bytes = name.as_bytes();
    // Label boundaries, right to left, skipping escaped dots.
    let mut end = name.len();
    let mut starts = [0usize; 128];
    let mut count = 0;
    let mut index = 0;
    let mut start = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'.' => {
                if count < starts.len() {
                    starts[count] = start;
                    count += 1;
                }
                index += 1;
                start = index;
            }
            _ => index += 1,
        }
    }
    if count >= starts.len() {
        // More labels than a name can have: fall back to the allocating form.
        output.push_str(&reverse(name));
        return;
    }
    starts[count] = start.min(name.len());
    count += 1;
    for position in (0..count).rev() {
        let label_start = starts[position];
        let label_end = if position + 1 < count {
            starts[position + 1] - 1
        } else {
            end
        };
        if !output.is_empty() {
            output.push('.');
        }
        output.push_str(&name[label_start..label_end.max(label_start)]);
        end = label_end;
    }
}

/// The uncompressed wire form (RFC 1035 §3.1), lowercased, of a name in
/// presentation form (`\X` and `\DDD` escapes, RFC 1035 §5.1); `None` if
/// it is not a valid name.
pub(crate) fn wire_from_presentation(text: &str) -> Option<Vec<u8>> {
    let name = normalise(text);
    let mut wire = Vec::with_capacity(name.len() + 2);
    if name != "." {
        let bytes = name.as_bytes();
        let mut label = Vec::with_capacity(63);
        let mut index = 0;
        loop {
            let end = index >= bytes.len();
            if end || bytes[index] == b'.' {
                if label.is_empty() || label.len() > 63 {
                    return None;
                }
                wire.push(label.len() as u8);
                wire.extend_from_slice(&label);
                label.clear();
                if end {
                    break;
                }
                index += 1;
                continue;
            }
            if bytes[index] == b'\\' {
                let digits = bytes.get(index + 1..index + 4);
                match digits {
                    Some(digits) if digits.iter().all(u8::is_ascii_digit) => {
                        let value = digits
                            .iter()
                            .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
                        label.push(u8::try_from(value).ok()?.to_ascii_lowercase());
                        index += 4;
                    }
                    _ => {
                        label.push(bytes.get(index + 1)?.to_ascii_lowercase());
                        index += 2;
                    }
                }
                continue;
            }
            label.push(bytes[index]);
            index += 1;
        }
    }
    wire.push(0);
    (wire.len() <= 255).then_some(wire)
}

/// Whether the name in wire form `name` equals the name in wire form
/// `suffix` or lies below it, ASCII case ignored. Allocates nothing; a
/// malformed `name` is read only as far as its labels are whole.
pub(crate) fn wire_is_at_or_below(name: &[u8], suffix: &[u8]) -> bool {
    let mut position = 0;
    while position < name.len() {
        if name.len() - position == suffix.len() && name[position..].eq_ignore_ascii_case(suffix) {
            return true;
        }
        let length = usize::from(name[position]);
        if length == 0 {
            return false;
        }
        position += 1 + length;
    }
    false
}

/// Whether `name` equals `suffix` or lies below it, compared without regard
/// to ASCII case and to one trailing dot on either side. The root suffix
/// (`.`) covers every name. Allocates nothing.
pub(crate) fn is_at_or_below(name: &str, suffix: &str) -> bool {
    let name = strip_trailing_dot(name);
    let suffix = strip_trailing_dot(suffix);
    if suffix.is_empty() {
        return true;
    }
    if name.len() < suffix.len() {
        return false;
    }
    let split = name.len() - suffix.len();
    if !name.is_char_boundary(split) || !name[split..].eq_ignore_ascii_case(suffix) {
        return false;
    }
    if split == 0 {
        return true;
    }
    // The byte before the suffix must be an unescaped label separator.
    let head = &name.as_bytes()[..split];
    if head[split - 1] != b'.' {
        return false;
    }
    let backslashes = head[..split - 1]
        .iter()
        .rev()
        .take_while(|&&b| b == b'\\')
        .count();
    backslashes % 2 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_lowercases_and_strips_the_trailing_dot() {
        assert_eq!(normalise("WWW.Example.COM."), "www.example.com");
        assert_eq!(normalise("."), ".");
        assert_eq!(normalise(""), ".");
        assert_eq!(normalise("a\\."), "a\\.");
    }

    #[test]
    fn reverse_orders_labels_from_the_top() {
        assert_eq!(reverse("www.example.com"), "com.example.www");
        assert_eq!(reverse("com"), "com");
        assert_eq!(reverse("."), "");
        assert_eq!(reverse("a\\.b.example"), "example.a\\.b");
    }

    #[test]
    fn wire_names_become_the_logs_form() {
        let mut text = String::new();
        presentation_from_wire(b"\x03WWW\x07Example\x03com\x00", &mut text);
        assert_eq!(text, "www.example.com");
        presentation_from_wire(b"\x00", &mut text);
        assert_eq!(text, ".");
        presentation_from_wire(b"", &mut text);
        assert_eq!(text, ".");
        presentation_from_wire(b"\x03a.b\x02\x00\xff\x00", &mut text);
        assert_eq!(text, "a\\.b.\\000\\255");
        // Malformed: a length past the end stops the name.
        presentation_from_wire(b"\x01a\x09b", &mut text);
        assert_eq!(text, "a");
        for name in ["www.example.com", "com", ".", "a\\.b.example", "x.y.z.w"] {
            let mut reversed = String::new();
            reverse_into(name, &mut reversed);
            assert_eq!(reversed, reverse(name), "{name}");
        }
        let long: String = vec!["a"; 200].join(".");
        let mut reversed = String::new();
        reverse_into(&long, &mut reversed);
        assert_eq!(reversed, reverse(&long));
    }

    #[test]
    fn wire_exclusions_follow_label_boundaries() {
        let suffix = wire_from_presentation("Example.COM.").expect("name");
        assert_eq!(suffix, b"\x07example\x03com\x00");
        assert!(wire_is_at_or_below(
            b"\x03WWW\x07EXAMPLE\x03com\x00",
            &suffix
        ));
        assert!(wire_is_at_or_below(b"\x07example\x03com\x00", &suffix));
        assert!(!wire_is_at_or_below(b"\x0abadexample\x03com\x00", &suffix));
        assert!(!wire_is_at_or_below(b"\x03com\x00", &suffix));
        assert!(!wire_is_at_or_below(b"\x09", &suffix));
        let root = wire_from_presentation(".").expect("root");
        assert!(wire_is_at_or_below(b"\x01a\x00", &root));
        assert_eq!(
            wire_from_presentation("a\\.b.\\065").expect("escapes"),
            b"\x03a.b\x01a\x00"
        );
        assert_eq!(wire_from_presentation("a..b"), None);
        assert_eq!(wire_from_presentation(&"x".repeat(64)), None);
    }

    #[test]
    fn suffix_matching_respects_label_boundaries() {
        assert!(is_at_or_below("example.com", "example.com"));
        assert!(is_at_or_below("www.Example.com.", "example.COM"));
        assert!(!is_at_or_below("badexample.com", "example.com"));
        assert!(!is_at_or_below("com", "example.com"));
        assert!(is_at_or_below("anything.test", "."));
        // An escaped dot is not a label separator.
        assert!(!is_at_or_below("a\\.example.com", "a\\.example.com.x"));
        assert!(!is_at_or_below("x\\.example.com", "example.com"));
        assert!(is_at_or_below("x\\\\.example.com", "example.com"));
        // Multi-byte text never splits inside a character.
        assert!(!is_at_or_below("é.com", "\u{a9}.com"));
    }
}
