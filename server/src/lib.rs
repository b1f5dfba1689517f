//! # fieldsync-server
//!
//! The relay phones sync with, and the head-office database that managers, the
//! order desk, production, warehouse and finance work from. One binary
//! (`fieldsync-server`), one SQLite file by default.
//!
//! - [`accounts`]: users, devices, enrollment codes (secrets hashed at rest);
//! - [`app`]: the HTTP API (axum);
//! - [`head_office`]: the relational tables kept in step with every change;
//! - [`reports`]: reports over those tables;
//! - [`admin`]: what the `admin` subcommands do (CSV import, export, demo).

pub mod accounts;
pub mod admin;
pub mod app;
pub mod error;
pub mod head_office;
pub mod metrics;
mod openapi;
pub mod reports;

pub use app::{AppState, Limits, router};
pub use error::{Result, ServerError};

/// Serves the API on `listener` until `shutdown` completes; requests in
/// flight finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: std::sync::Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
