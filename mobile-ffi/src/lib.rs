//! # fieldsync-mobile
//!
//! The library an Android or iOS app links to work offline and sync: one
//! object, [`FieldSync`], over `fieldsync-core` (where every rule lives), plus
//! the HTTP transport. Bound to Kotlin, Swift and Python with uniffi; see
//! `scripts/bindings.sh`.

uniffi::setup_scaffolding!();

mod error;
mod phone;
mod records;
mod transport;

pub use error::MobileError;
pub use phone::{FieldSync, SyncCancel, SyncProgress};
pub use records::*;
