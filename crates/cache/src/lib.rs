//! Caches (to be implemented).
