//! # fieldsync-server
//!
//! The relay phones sync with, and the head-office database that managers, the
//! order desk, production, warehouse and finance work from. One binary
//! (`fieldsync-server`), one SQLite file by default.
//!
//! - [`accounts`]: users, devices, enrollment codes (secrets hashed at rest);
//! - [`app`]: the HTTP API (axum): state, routes, sync;
//! - `office`: head-office actions on orders, customers and complaints;
//! - [`head_office`]: the relational tables kept in step with every change;
//! - [`reports`]: reports over those tables;
//! - [`readers`]: read-only connections, so reads never wait for sync;
//! - [`admin`]: what the `admin` subcommands do (export, backup, demo);
//! - [`import`]: CSV imports of customers and products;
//! - [`listener`]: accepting connections within limits (slow clients).

pub mod accounts;
pub mod admin;
pub mod app;
pub mod console;
pub mod error;
pub mod head_office;
pub mod import;
pub mod listener;
pub mod lists;
pub mod metrics;
pub(crate) mod office;
mod openapi;
pub mod readers;
pub mod reassign;
pub mod reports;

pub use app::{AppState, Limits, router};
pub use error::{Result, ServerError};

/// Serves the API on `listener` until `shutdown` completes; requests in
/// flight finish first. Connections are limited as `state.limits.connections`
/// says.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: std::sync::Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (limits, counters) = (state.limits.connections, state.metrics.connections.clone());
    listener::serve(listener, router(state), None, limits, counters, shutdown).await
}

/// Serves the API over HTTPS (rustls) on `listener` with the PEM certificate
/// chain and private key given, until `shutdown` completes.
pub async fn serve_tls(
    listener: std::net::TcpListener,
    state: std::sync::Arc<AppState>,
    cert: &std::path::Path,
    key: &std::path::Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = listener::tls_acceptor(cert, key)?;
    state.set_serves_tls();
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let (limits, counters) = (state.limits.connections, state.metrics.connections.clone());
    listener::serve(
        listener,
        router(state),
        Some(tls),
        limits,
        counters,
        shutdown,
    )
    .await
}
