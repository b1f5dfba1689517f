//! # fieldsync-server
//!
//! The relay that phones sync with and the head-office database. It is not built
//! yet (see the README's roadmap); this crate holds its place in the workspace so
//! the dependency direction (`server → core`) is fixed from the start.
