//! The server's one error type, and how it becomes an HTTP answer: a status
//! code and a JSON body `{"error": "..."}` a person can act on.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No credentials, or credentials nobody has.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed or breaks a rule.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing by that id.
    #[error("{0}")]
    NotFound(String),
    /// The request is too large or asks for too much.
    #[error("{0}")]
    TooLarge(String),
    /// The caller sends too many requests.
    #[error("{0}")]
    TooManyRequests(String),
    /// A business rule or the core refused it.
    #[error(transparent)]
    Core(#[from] fieldsync_core::Error),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// Something unexpected on the server's side.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shorthand.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;

impl ServerError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        use fieldsync_core::ErrorKind;
        match self {
            ServerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ServerError::Core(e) => match e.kind() {
                ErrorKind::NotPermitted => StatusCode::FORBIDDEN,
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::Storage => StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::InvalidInput | ErrorKind::Protocol => StatusCode::BAD_REQUEST,
            },
            ServerError::Database(_) | ServerError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), error = %self, "request refused");
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
