//! Prints the API's OpenAPI document (what `/api/v1/openapi.json` serves),
//! for validators and schema-driven test tools:
//! `cargo run -p hanse-api --example openapi > openapi.json`.

fn main() {
    println!("{}", hanse_api::openapi_json());
}
