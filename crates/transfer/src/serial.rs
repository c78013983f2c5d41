//! Serial number arithmetic (RFC 1982) for SOA serials.

/// Whether serial `a` is newer than serial `b` in RFC 1982 §3.2 arithmetic
/// with SERIAL_BITS = 32.
///
/// Two serials exactly 2^31 apart are undefined by RFC 1982; neither is
/// newer here, so a primary cannot make a client accept such a jump.
pub fn serial_newer(a: u32, b: u32) -> bool {
    let distance = a.wrapping_sub(b);
    distance != 0 && distance < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::serial_newer;

    #[test]
    fn rfc_1982_comparisons() {
        assert!(serial_newer(2, 1));
        assert!(!serial_newer(1, 2));
        assert!(!serial_newer(7, 7));
        // Wrapping around 2^32.
        assert!(serial_newer(0, u32::MAX));
        assert!(serial_newer(5, 0xffff_fff0));
        assert!(!serial_newer(0xffff_fff0, 5));
        // The largest step forward, and the undefined half-way point.
        assert!(serial_newer(0x7fff_ffff, 0));
        assert!(!serial_newer(0x8000_0000, 0));
        assert!(!serial_newer(0, 0x8000_0000));
    }
}
