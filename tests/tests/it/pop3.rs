//! pop3 integration tests.
