//! The relay's store on PostgreSQL, for companies that run several relay
//! processes over one database (SQLite, in `fieldsync-core`, stays the
//! embedded default).
//!
//! So far: the relay's log ordered by commit ([`RelayLog`]), the part that
//! several writers make hard, and its documents committed only if each is
//! still at the heads it was decided on ([`RelayDocuments`]), over
//! connections with time limits that wake waiting phones on commits
//! ([`connection`]). With one writer a log can be read by its sequence
//! numbers; with several, entry 11 can commit before entry 10, and
//! a device that synced in between would skip entry 10 for ever. Here every
//! entry carries the id of the transaction that wrote it, and a reader sees
//! only entries of transactions older than the oldest one still running, in
//! (transaction, entry) order: a prefix that never changes once read.

pub mod connection;
pub mod documents;
mod error;
mod identity;
pub mod log;
mod schema;

pub use connection::{LogWaiter, Timeouts, connect};
pub use documents::{Commit, CreditFigures, Decided, RelayDocuments, StoredDocument};
pub use error::{Error, Result};
pub use identity::database_identity;
pub use log::{LogCursor, LogEntry, LogRead, NewEntry, RelayLog};
