//! Fuzzes `parse_proxy_header` (PROXY protocol version 2): it must never
//! panic; an accepted header lies within the input and the cap, parses the
//! same from exactly its own octets, and every shorter prefix of it is
//! reported incomplete with the length needed, as a stream reader relies on.

#![no_main]

use hanse_wire::proxy::{
    FIXED_LENGTH, MAX_HEADER_LENGTH, ProxyCommand, ProxyHeaderError, parse_proxy_header,
    read_fixed_part,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok((header, length)) = parse_proxy_header(bytes) else {
        return;
    };
    assert!((FIXED_LENGTH..=MAX_HEADER_LENGTH).contains(&length));
    assert!(length <= bytes.len());
    assert_eq!(read_fixed_part(bytes).unwrap().header_length, length);
    assert_eq!(parse_proxy_header(&bytes[..length]), Ok((header, length)));
    if header.command == ProxyCommand::Local {
        assert_eq!(header.source, None);
    }
    assert_eq!(header.source.is_some(), header.destination.is_some());
    for end in [0, 1, FIXED_LENGTH - 1, FIXED_LENGTH, length - 1] {
        if end >= length {
            continue;
        }
        let needed = if end < FIXED_LENGTH {
            FIXED_LENGTH
        } else {
            length
        };
        assert_eq!(
            parse_proxy_header(&bytes[..end]),
            Err(ProxyHeaderError::Incomplete { needed })
        );
    }
});
