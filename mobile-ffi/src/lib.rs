//! # fieldsync-mobile
//!
//! The phone library (uniffi bindings for Kotlin, Swift and Python). It is not
//! built yet (see the README's roadmap); this crate holds its place in the
//! workspace so the dependency direction (`mobile-ffi → core`) is fixed from the start.
