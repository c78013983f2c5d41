//! Iterative resolution (to be implemented).
