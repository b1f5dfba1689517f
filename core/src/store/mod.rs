//! Where documents live: the phone's local store ([`DeviceStore`]) and the
//! relay's embedded store ([`SqliteRelayStore`]), both on SQLite (bundled, so a
//! fresh machine needs nothing).
//!
//! Both keep a document as a compact snapshot plus the incremental changes made
//! since, compacted from time to time; both open in WAL mode with full fsync, so
//! a committed transaction survives a crash or a killed process.

pub(crate) mod device;
mod index;
mod open_docs;
mod relay;
mod schema;

pub use device::{DeviceIdentity, DeviceStore, RefusedDoc};
pub use index::{IndexEntry, index_entry};
pub use relay::{Projection, SqliteRelayStore};
pub use schema::{Migration, migrate};

use automerge::ChangeHash;

use crate::error::{Error, Result};

/// Encodes heads as concatenated 32-byte hashes.
pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// Decodes heads written by [`encode_heads`].
pub(crate) fn decode_heads(bytes: &[u8]) -> Result<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(Error::Store("stored heads are damaged".into()));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            ChangeHash(h)
        })
        .collect())
}
