//! Whole-device sync: one request and one answer bring a phone and the relay
//! up to date in the common case, however many documents the phone holds.
//!
//! Sans-IO: both sides turn bytes into bytes ([`SyncSession`] on the device,
//! [`Relay`] on the relay); the phone library and the server move the bytes.
//! See `wire` for the envelope, `device` and `relay` for each side.

mod authorship;
mod device;
mod reconcile;
mod relay;
pub mod wire;

pub use authorship::{NoOtherSigners, Signers};
pub use device::{SyncSession, SyncSummary};
pub use relay::{
    Accepted, LogEntry, MOVED_DOCUMENT_GRACE, Policy, Relay, RelayLimits, RelayStore, Scope,
    Sender, VisibilityOnly,
};
