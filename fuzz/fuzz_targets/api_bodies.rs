//! Fuzzes the JSON request bodies of the HTTP API (docs/api.md): the first
//! byte picks the document (`ProfileDocument` for `POST`/`PUT
//! /api/v1/profiles`, `ClientMapping` for `/api/v1/clients`), the rest is
//! the body. Deserialisation (serde_json, as the API does it) must never
//! panic; an accepted document must serialise to JSON that reads back
//! equal; and its TOML form, put into a configuration's `[policy]` section
//! the way the API policy file is merged, goes through the configuration's
//! validation (`config::parse`, compiled from the binary's own file) without
//! a panic.

#![no_main]

use hanse_api::model::{ClientMapping, ProfileDocument};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;

#[allow(dead_code, unused_imports)]
#[path = "../../crates/hanse/src/config.rs"]
mod config;

#[derive(Serialize)]
struct Policy {
    profile: Vec<ProfileDocument>,
    client: Vec<ClientMapping>,
}

#[derive(Serialize)]
struct Document {
    policy: Policy,
}

fn validate(policy: Policy) {
    let Ok(text) = toml::to_string(&Document { policy }) else {
        return;
    };
    if let Err(problems) = config::parse("fuzz.toml", &text) {
        assert!(!problems.is_empty(), "an error without a problem");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        if let Ok(document) = serde_json::from_slice::<ProfileDocument>(body) {
            let json = serde_json::to_vec(&document).expect("serialises");
            let again: ProfileDocument = serde_json::from_slice(&json).expect("reads back");
            assert_eq!(again, document);
            validate(Policy {
                profile: vec![document],
                client: Vec::new(),
            });
        }
    } else if let Ok(mapping) = serde_json::from_slice::<ClientMapping>(body) {
        let json = serde_json::to_vec(&mapping).expect("serialises");
        let again: ClientMapping = serde_json::from_slice(&json).expect("reads back");
        assert_eq!(again, mapping);
        validate(Policy {
            profile: Vec::new(),
            client: vec![mapping],
        });
    }
});
