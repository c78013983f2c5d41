//! DNS listeners (to be implemented).
