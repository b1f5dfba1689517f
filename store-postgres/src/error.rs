//! The one error type of the PostgreSQL store.

/// What went wrong in the PostgreSQL store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused a statement or could not be reached.
    #[error("the PostgreSQL database failed: {0}")]
    Database(#[from] postgres::Error),
    /// The database holds something this build cannot read.
    #[error("the PostgreSQL store holds damaged data: {0}")]
    Corrupt(String),
}

/// A result of the PostgreSQL store.
pub type Result<T> = std::result::Result<T, Error>;
