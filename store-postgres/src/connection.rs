//! Connections as a relay opens them, and waiting for news in the log.
//!
//! Every relay connection carries time limits: a statement that runs too
//! long is cancelled, and a session left idle inside a transaction is ended
//! by the server. An open writing transaction holds back the log's horizon
//! (see [`crate::log`]), so without them one stuck relay would hold back
//! every phone's news.
//!
//! Phones waiting for news are woken by `LISTEN`/`NOTIFY`: a commit sends
//! one notification ([`RelayDocuments::commit`](crate::RelayDocuments::commit)),
//! and a waiter wakes on it. It is only a hint: a woken waiter reads the log
//! (which may have nothing new yet, if an older transaction still runs),
//! and waiters read it every few seconds anyway.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use crate::error::Result;

/// The channel commits notify.
pub(crate) const CHANNEL: &str = "fieldsync_log";

/// The time limits of a relay's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A statement running longer is cancelled (`statement_timeout`).
    pub statement: Duration,
    /// A session idle inside a transaction longer is ended
    /// (`idle_in_transaction_session_timeout`).
    pub idle_in_transaction: Duration,
}

impl Default for Timeouts {
    /// 30 seconds a statement, 10 seconds idle in a transaction.
    fn default() -> Self {
        Timeouts {
            statement: Duration::from_secs(30),
            idle_in_transaction: Duration::from_secs(10),
        }
    }
}

/// Opens a relay connection to `url` (a PostgreSQL connection string) with
/// `timeouts`.
pub fn connect(url: &str, timeouts: Timeouts) -> Result<Client> {
    let mut client = Client::connect(url, NoTls)?;
    client.batch_execute(&format!(
        "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {};",
        timeouts.statement.as_millis(),
        timeouts.idle_in_transaction.as_millis()
    ))?;
    Ok(client)
}

/// A connection listening for commits to the log.
pub struct LogWaiter {
    client: Client,
}

impl std::fmt::Debug for LogWaiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWaiter").finish_non_exhaustive()
    }
}

impl LogWaiter {
    /// Listens for commits on a connection of its own to `url`.
    pub fn listen(url: &str) -> Result<LogWaiter> {
        let mut client = Client::connect(url, NoTls)?;
        client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        Ok(LogWaiter { client })
    }

    /// Waits until a commit was notified or `timeout` passed; `true` if
    /// one was (notifications that piled up count as one).
    pub fn wait(&mut self, timeout: Duration) -> Result<bool> {
        let mut notifications = self.client.notifications();
        let woken = notifications.timeout_iter(timeout).next()?.is_some();
        // Take the rest that are already here: one wake-up for all of them.
        while notifications.iter().next()?.is_some() {}
        Ok(woken)
    }
}
