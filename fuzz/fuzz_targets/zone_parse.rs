//! Fuzzes the master-file parser with arbitrary UTF-8: `parse_zone` and
//! `parse_root_hints` must never panic, errors must carry 1-based positions,
//! and every record read must format to a line that reads back identically.

#![no_main]

use hanse_wire::Name;
use hanse_zone::{format_rdata, format_record, parse_rdata, parse_root_hints, parse_zone};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Name::from_ascii("example.com.").expect("a valid origin");
    match parse_zone(text, &origin, 3600) {
        Ok(records) => {
            for record in &records {
                let line = format_record(record);
                let again = parse_zone(&line, &Name::root(), 0)
                    .unwrap_or_else(|error| panic!("{line:?} does not parse: {error}"));
                assert_eq!(again.len(), 1, "{line:?}");
                assert_eq!(&again[0], record, "{line:?}");
                assert_eq!(again[0].name.as_wire(), record.name.as_wire(), "{line:?}");
                assert_eq!(again[0].data, record.data, "{line:?}");
                let rdata = format_rdata(record.rtype, &record.data);
                let parsed = parse_rdata(record.rtype, &rdata, &Name::root())
                    .unwrap_or_else(|error| panic!("{rdata:?} does not parse: {error}"));
                assert_eq!(parsed, record.data, "{rdata:?}");
            }
        }
        Err(error) => {
            assert!(error.line >= 1 && error.column >= 1, "{error}");
        }
    }
    if let Err(error) = parse_root_hints(text) {
        assert!(error.line >= 1 && error.column >= 1, "{error}");
    }
});
