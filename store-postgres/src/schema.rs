//! Schema changes that several relays may run at once.
//!
//! Relays migrate the database when they start; several starting together
//! would race (PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe against
//! a concurrent one), so each schema change runs in a transaction that
//! first takes one advisory lock: the relays take turns.

use postgres::GenericClient;

use crate::error::Result;

/// The advisory lock key schema changes take ("fieldsyn" in ASCII).
const SCHEMA_LOCK: i64 = 0x6669_656c_6473_796e;

/// Runs `sql` (statements) as one schema change, one relay at a time.
pub(crate) fn change(client: &mut impl GenericClient, sql: &str) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    tx.batch_execute(sql)?;
    tx.commit()?;
    Ok(())
}
