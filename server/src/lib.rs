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
//! - [`admin`]: what the `admin` subcommands do (CSV import, export, demo).

pub mod accounts;
pub mod admin;
pub mod app;
pub mod error;
pub mod head_office;
pub mod metrics;
mod office;
mod openapi;
pub mod readers;
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
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
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
    // Another part of the process may have installed the provider already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot use the TLS certificate {} and key {}: {e}",
                    cert.display(),
                    key.display()
                ),
            )
        })?;
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
    });
    axum_server::from_tcp_rustls(listener, config)?
        .handle(handle)
        .serve(router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .await
}
