//! Fuzzes the DNS cookie walks of `hanse_wire::cookie`: finding the OPT
//! record and the COOKIE option in arbitrary bytes, checking a server cookie
//! and appending an option in place must never panic; an appended option
//! must be found again, and a message that parsed must still parse.

#![no_main]

use hanse_wire::Message;
use hanse_wire::cookie::{ServerSecrets, append_option, find_cookie, find_opt, find_option};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let secrets = ServerSecrets::new([7; 16]);
    if let Some(Ok(cookie)) = find_cookie(data) {
        let _ = secrets.respond(&cookie, [127, 0, 0, 1].into(), 1_000_000);
    }
    let mut buffer = data.to_vec();
    buffer.resize(data.len() + 12, 0);
    let parsed_before = Message::parse(data).is_ok();
    if let Some(length) = append_option(&mut buffer, data.len(), 65001, &[1, 2, 3, 4, 5, 6, 7, 8]) {
        let message = &buffer[..length];
        let opt = find_opt(message).expect("the OPT record it was appended to");
        assert_eq!(find_option(message, &opt, 65001).map(<[u8]>::len), Some(8));
        if parsed_before {
            assert!(Message::parse(message).is_ok());
        }
    }
});
