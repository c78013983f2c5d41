//! Fuzzes the TOML configuration of the `hanse` binary (docs/configuration.md):
//! `config::parse` on arbitrary UTF-8 must never panic, and every problem it
//! reports must carry a 1-based line and column.
//!
//! The configuration module lives in the binary crate and uses nothing of
//! the binary but its dependencies, so the target compiles that very file
//! as a module of its own (`#[path]`) instead of making `hanse` a library.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports)]
#[path = "../../crates/hanse/src/config.rs"]
mod config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(problems) = config::parse("fuzz.toml", text) {
        assert!(!problems.is_empty(), "an error without a problem");
        for problem in &problems {
            let _ = problem.to_string();
        }
    }
});
