//! Versioned schemas: each component of a database (the device store, the
//! relay store, later the head-office tables) has an ordered list of
//! migrations, recorded in `schema_migrations`, so one file can hold several
//! components and a file written by an older version is brought up to date
//! when opened.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};

/// Opens a SQLite database file (creating it) with the settings every store uses.
pub(crate) fn open(path: &std::path::Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| Error::Store(format!("cannot open {}: {e}", path.display())))?;
    configure(&conn).map_err(|e| {
        Error::Store(format!(
            "{} is not a usable fieldsync store ({}); if it is damaged, move it aside: a phone re-enrolls and gets everything back from the relay, a relay is restored from its backup",
            path.display(),
            e.to_string().trim_start_matches("the local store failed: ")
        ))
    })?;
    Ok(conn)
}

/// WAL, full fsync on commit, foreign keys, and a busy timeout.
pub(crate) fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Fail early, with a clear message, on a file that is not a database.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|e| Error::Store(format!("this file is not a usable fieldsync store ({e})")))?;
    Ok(())
}

/// One step of a component's schema: SQL, then optional Rust (to backfill data).
pub struct Migration {
    /// SQL run in the migration's transaction.
    pub sql: &'static str,
    /// Rust run after the SQL, in the same transaction.
    pub backfill: Option<fn(&Connection) -> Result<()>>,
}

/// Brings `component` up to the last of `migrations`; returns the version it was at.
pub fn migrate(conn: &mut Connection, component: &str, migrations: &[Migration]) -> Result<u32> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            component TEXT PRIMARY KEY,
            version INTEGER NOT NULL
        )",
    )?;
    let current: u32 = conn
        .query_row(
            "SELECT version FROM schema_migrations WHERE component = ?1",
            [component],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    if current as usize > migrations.len() {
        return Err(Error::Store(format!(
            "the {component} schema is version {current}, newer than this build knows ({}); update the app",
            migrations.len()
        )));
    }
    for (i, m) in migrations.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)?;
        if let Some(backfill) = m.backfill {
            backfill(&tx)?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (component, version) VALUES (?1, ?2)
             ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            params![component, i as u32 + 1],
        )?;
        tx.commit()?;
    }
    Ok(current)
}
