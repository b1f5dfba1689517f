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
    /// The relay's disk is full: nothing was stored.
    fn disk_full(&self) -> bool {
        match self {
            ServerError::Core(fieldsync_core::Error::DiskFull(_)) => true,
            ServerError::Database(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::DiskFull
            }
            _ => false,
        }
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        use fieldsync_core::ErrorKind;
        if self.disk_full() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
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
            // The detail (SQLite's text, a path) stays in the log, under a
            // reference the person can quote; the answer says whose problem
            // it is.
            let reference = reference_id();
            tracing::error!(%reference, error = %self, "request failed");
            let error = if self.disk_full() {
                format!(
                    "the relay cannot store anything right now: its disk is full (reference {reference}). Your work is safe on this phone and is sent at the next sync, once the relay's administrator has made room"
                )
            } else {
                format!(
                    "something went wrong on the relay (reference {reference}); nothing was lost: the work stays on the phone and is sent again at the next sync"
                )
            };
            let mut response = (
                status,
                Json(serde_json::json!({ "error": error, "reference": reference })),
            )
                .into_response();
            if self.disk_full() {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("60"),
                );
            }
            return response;
        }
        tracing::info!(status = status.as_u16(), error = %self, "request refused");
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

/// A short random reference for one failure, to find it in the log.
fn reference_id() -> String {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        b = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos().to_le_bytes())
            .unwrap_or_default();
    }
    b.iter().map(|x| format!("{x:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_error_answers_with_a_reference_not_its_internals() {
        let e = ServerError::Core(fieldsync_core::Error::Store(
            "UNIQUE constraint failed: order_events.order_id".into(),
        ));
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = futures_body(resp);
        assert!(!body.contains("UNIQUE"), "{body}");
        assert!(!body.contains("local store"), "{body}");
        assert!(
            body.contains("something went wrong on the relay (reference "),
            "{body}"
        );
        assert!(body.contains("stays on the phone"), "{body}");
        // A refusal the caller can act on keeps its message.
        let body =
            futures_body(ServerError::BadRequest("amount is required".into()).into_response());
        assert!(body.contains("amount is required"), "{body}");
    }

    #[test]
    fn a_full_disk_is_the_relays_problem_and_the_work_is_safe() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        for e in [
            ServerError::Core(fieldsync_core::Error::from(full)),
            ServerError::Database(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                None,
            )),
        ] {
            let resp = e.into_response();
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(resp.headers()["retry-after"], "60");
            let body = futures_body(resp);
            assert!(body.contains("its disk is full"), "{body}");
            assert!(body.contains("Your work is safe on this phone"), "{body}");
            assert!(!body.contains("local store"), "{body}");
        }
    }

    fn futures_body(resp: Response) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
