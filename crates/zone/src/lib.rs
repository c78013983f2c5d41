//! DNS master files (RFC 1035 §5, RFC 3597 §5 generic records, RFC 2308 `$TTL`)
//! and root hints in the `named.root` format.
//!
//! Interface (to be implemented):
//! - `parse_zone(text, origin, default_ttl) -> Result<Vec<Record>, ZoneError>`
//! - `parse_root_hints(text) -> Result<RootHints, ZoneError>`, `builtin_root_hints()`
//! - `format_record(&Record) -> String`
