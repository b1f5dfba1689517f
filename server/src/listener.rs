//! Accepting connections so that slow or idle clients cannot hold the
//! relay's sockets: at most [`Connections::max`] open at once (more wait in
//! the kernel's queue until one closes), at most
//! [`Connections::per_address`] from one address (more are closed at once),
//! and each request's headers (and a TLS handshake) must arrive within
//! [`Connections::header_timeout`]. A request's body must keep arriving
//! (the router's body timeout) and the whole request finish within the
//! router's request timeout ([`crate::Limits`]).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::metrics::ConnectionCounters;

/// How many connections the relay keeps open, and for how long it waits for
/// a request's headers.
#[derive(Debug, Clone, Copy)]
pub struct Connections {
    /// Open connections at most, from everyone.
    pub max: usize,
    /// Open connections at most from one address.
    pub per_address: usize,
    /// Longest wait for a request's headers (and a TLS handshake).
    pub header_timeout: Duration,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            max: 8192,
            per_address: 64,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Longest a shutdown waits for requests in flight.
const DRAIN_FOR: Duration = Duration::from_secs(30);

/// Connections open per address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One admitted connection's place in [`PerAddress`], given back on drop.
struct Admitted {
    counts: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn admit(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<Admitted> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Admitted {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) within
/// `limits` until `shutdown` completes; requests in flight then have
/// [`DRAIN_FOR`] to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Connections,
    counters: Arc<ConnectionCounters>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max.max(1)));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut refused_logged = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors, or a connection reset before it
                // was accepted: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = per_address.admit(addr.ip(), limits.per_address) else {
            counters.over_address_limit.fetch_add(1, Ordering::Relaxed);
            if refused_logged.elapsed() > Duration::from_secs(10) {
                tracing::warn!(
                    address = %addr.ip(),
                    limit = limits.per_address,
                    "an address has too many connections open; closing its new ones"
                );
                refused_logged = std::time::Instant::now();
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        let counters = counters.clone();
        tokio::spawn(async move {
            let _held = (permit, admitted);
            counters.open.fetch_add(1, Ordering::Relaxed);
            let served = match tls {
                None => serve_one(stream, addr, app, limits, watcher).await,
                Some(tls) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, tls.accept(stream)).await;
                    match handshake {
                        Ok(Ok(stream)) => serve_one(stream, addr, app, limits, watcher).await,
                        Err(_) => Err(Ended::TooSlow),
                        // A failed handshake (plain HTTP to the HTTPS port,
                        // a scanner): nothing to answer.
                        Ok(Err(_)) => Ok(()),
                    }
                }
            };
            match served {
                Ok(()) => {}
                Err(Ended::TooSlow) => {
                    counters.too_slow.fetch_add(1, Ordering::Relaxed);
                }
                Err(Ended::Http(e)) => {
                    tracing::debug!(address = %addr, error = %e, "connection ended with an error");
                }
            }
            counters.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_FOR) => {
            tracing::warn!("requests still running after {DRAIN_FOR:?}; stopping anyway");
        }
    }
    Ok(())
}

/// Why a connection ended early.
enum Ended {
    /// Its headers (or TLS handshake) did not come in time.
    TooSlow,
    /// Anything else: the client went away, sent garbage.
    Http(hyper::Error),
}

/// Serves HTTP/1.1 on one connection, telling the app the client's address.
async fn serve_one<S>(
    stream: S,
    addr: SocketAddr,
    app: Router,
    limits: Connections,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), Ended>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = app.map_request(move |mut request: axum::extract::Request<_>| {
        request.extensions_mut().insert(ConnectInfo(addr));
        request
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    watcher.watch(connection).await.map_err(|e| {
        if e.is_timeout() {
            Ended::TooSlow
        } else {
            Ended::Http(e)
        }
    })
}

/// The TLS acceptor for the PEM certificate chain and private key given.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> std::io::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let unusable = |e: &dyn std::fmt::Display| {
        std::io::Error::other(format!(
            "cannot use the TLS certificate {} and key {}: {e}",
            cert.display(),
            key.display()
        ))
    };
    // Another part of the process may have installed the provider already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unusable(&e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| unusable(&e))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| unusable(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_places_back_when_its_connections_close() {
        let counts = Arc::new(PerAddress::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let a = counts.admit(ip, 2).unwrap();
        let _b = counts.admit(ip, 2).unwrap();
        assert!(counts.admit(ip, 2).is_none(), "a third is refused");
        assert!(counts.admit(other, 2).is_some(), "others are not");
        drop(a);
        assert!(counts.admit(ip, 2).is_some(), "a place came back");
    }
}
