//! smtp integration tests.
