//! The phone library's one error type. Each variant carries a reason written
//! for the person using the app.

/// What went wrong, for the app to show.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum MobileError {
    /// Something typed is not valid (an amount, a date, an empty name).
    #[error("{reason}")]
    InvalidInput {
        /// What to fix.
        reason: String,
    },
    /// The user's role may not do this, or the document is someone else's.
    #[error("{reason}")]
    NotPermitted {
        /// Why not.
        reason: String,
    },
    /// Not possible in the document's current state (an approved order, a
    /// submitted report).
    #[error("{reason}")]
    NotNow {
        /// Why not.
        reason: String,
    },
    /// No such document on this phone.
    #[error("{reason}")]
    NotFound {
        /// Which.
        reason: String,
    },
    /// The phone is not enrolled yet, or its enrollment was refused.
    #[error("{reason}")]
    NotEnrolled {
        /// What to do.
        reason: String,
    },
    /// The relay could not be reached or answered with an error; nothing was lost.
    #[error("{reason}")]
    Network {
        /// What happened.
        reason: String,
    },
    /// The sync was cancelled; what was already applied stays, the rest is sent next time.
    #[error("{reason}")]
    Cancelled {
        /// What happened.
        reason: String,
    },
    /// The local store failed or is damaged.
    #[error("{reason}")]
    Storage {
        /// What happened and what to do.
        reason: String,
    },
}

impl From<fieldsync_core::Error> for MobileError {
    fn from(e: fieldsync_core::Error) -> Self {
        use fieldsync_core::ErrorKind as K;
        let reason = e.to_string();
        match e.kind() {
            K::NotPermitted => MobileError::NotPermitted { reason },
            K::Conflict => MobileError::NotNow { reason },
            K::NotFound => MobileError::NotFound { reason },
            K::Storage => MobileError::Storage { reason },
            K::Protocol => MobileError::Network { reason },
            K::InvalidInput => MobileError::InvalidInput { reason },
        }
    }
}

pub(crate) fn invalid(reason: impl Into<String>) -> MobileError {
    MobileError::InvalidInput {
        reason: reason.into(),
    }
}
