//! HTTPS with rustls, as phones require in production.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use fieldsync_server::{AppState, Limits};

#[test]
fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = cert.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let state = Arc::new(AppState::open(&dir.path().join("f.db"), Limits::default()).unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let server = std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                fieldsync_server::serve_tls(listener, state, &c, &k, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            })
    });
    let root = ureq::tls::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    let agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
                .build(),
        )
        .build()
        .new_agent();
    let mut r = agent
        .get(&format!("https://localhost:{port}/healthz"))
        .call()
        .unwrap();
    assert_eq!(r.body_mut().read_to_string().unwrap(), "ok");
    // Plain HTTP to the HTTPS port does not get an answer.
    assert!(
        ureq::get(&format!("http://localhost:{port}/healthz"))
            .call()
            .is_err()
    );
    tx.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn a_missing_certificate_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(AppState::open(&dir.path().join("f.db"), Limits::default()).unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(fieldsync_server::serve_tls(
            listener,
            state,
            &dir.path().join("nope.pem"),
            &dir.path().join("nope.key"),
            async {},
        ))
        .unwrap_err();
    assert!(
        e.to_string().contains("cannot use the TLS certificate"),
        "{e}"
    );
}
