//! # fieldsync-tests
//!
//! End-to-end tests of fieldsync live in `tests/tests/`. This library holds
//! helpers they share.
