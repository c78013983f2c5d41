//! A simulated DNS hierarchy for tests (to be implemented).
