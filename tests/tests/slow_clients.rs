//! Slow and silent clients cannot hold the relay's connections while phones
//! sync: headers must arrive within the header timeout, a body must keep
//! coming, one address holds at most its share of connections.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use fieldsync_core::*;
use fieldsync_server::Limits;
use fieldsync_server::listener::Connections;
use fieldsync_tests::*;
use rust_decimal::Decimal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How a slow client behaves once connected.
#[derive(Clone, Copy)]
enum Slow {
    /// Sends nothing at all.
    Silent,
    /// Sends the start of a request's headers, then a byte every second.
    DripsHeaders,
    /// Sends whole headers, then a body byte every `gap`.
    DripsBody { gap: Duration },
}

/// A client connecting from `from` to the relay and behaving as `how`, until
/// the relay closes the connection (then the time it took) or `give_up`.
async fn slow_client(
    from: IpAddr,
    relay: SocketAddr,
    how: Slow,
    give_up: Duration,
    open: Arc<AtomicUsize>,
) -> Option<Duration> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut stream = socket.connect(relay).await.ok()?;
    let start = Instant::now();
    open.fetch_add(1, Ordering::SeqCst);
    let (first, gap): (&[u8], Duration) = match how {
        Slow::Silent => (b"", Duration::from_secs(3600)),
        Slow::DripsHeaders => (b"POST /v1/sync HTTP/1.1\r\nHost: relay\r\n", Duration::from_secs(1)),
        Slow::DripsBody { gap } => (
            b"POST /v1/sync HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer fsd_x\r\nContent-Length: 1000\r\n\r\n",
            gap,
        ),
    };
    let _ = stream.write_all(first).await;
    let mut buf = [0u8; 512];
    let closed = loop {
        if start.elapsed() > give_up {
            break None;
        }
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                // The relay answered (a timeout status) or closed: read on
                // until it closes.
                Ok(0) | Err(_) => break Some(start.elapsed()),
                Ok(_) => {}
            },
            () = tokio::time::sleep(gap.min(give_up)) => {
                if matches!(how, Slow::Silent) {
                    continue;
                }
                if stream.write_all(b"x").await.is_err() {
                    break Some(start.elapsed());
                }
            }
        }
    };
    open.fetch_sub(1, Ordering::SeqCst);
    closed
}

/// A phone's order of one line, saved on the phone.
fn one_order(p: &mut Phone, customer: &Customer, i: usize) {
    let ctx = p.ctx();
    let number = p.store.next_order_number(Utc::now().date_naive()).unwrap();
    let mut o = OrderDoc::create(
        &ctx,
        customer,
        NewOrder {
            number,
            channel: Channel::Visit,
            reorder_kind: None,
            delivery_date: None,
            evidence: "signed order form".into(),
        },
    )
    .unwrap();
    o.add_line(
        &ctx,
        NewLine {
            product: format!("P{i}"),
            name: "Shirt".into(),
            variant: String::new(),
            unit: "pcs".into(),
            quantity: Decimal::ONE,
            unit_price: Decimal::TEN,
            discount_percent: Decimal::ZERO,
        },
    )
    .unwrap();
    p.store.save(o.document()).unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[test]
fn slow_and_silent_connections_are_dropped_while_phones_keep_syncing() {
    // Attackers and the relay share this process: room for both.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    let defaults = Connections::default();
    let phones: Vec<Phone> = ["li", "wang", "chen"]
        .iter()
        .map(|u| {
            relay.user(u, Role::Salesperson, Some("east"));
            Phone::enroll(&relay.url(), dir.path(), u, &relay.code(u))
        })
        .collect();
    // 12 addresses, 70 connections each (6 over the per-address limit):
    // silent ones and ones dripping their headers.
    let (addresses, per_address) = (12u8, 70usize);
    let open = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let attack_started = Instant::now();
    let attackers: Vec<_> = (0..addresses)
        .flat_map(|a| (0..per_address).map(move |i| (a, i)))
        .map(|(a, i)| {
            let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + a));
            let how = if i % 2 == 0 {
                Slow::Silent
            } else {
                Slow::DripsHeaders
            };
            rt.spawn(slow_client(
                from,
                relay.addr,
                how,
                Duration::from_secs(20),
                open.clone(),
            ))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let counters = relay.state.metrics.connections.clone();
    let relay_open = || counters.open.load(Ordering::SeqCst);
    let held_early = relay_open();
    // Meanwhile three phones each sync 20 times, an order each time.
    let honest: Vec<_> = phones
        .into_iter()
        .map(|mut p| {
            std::thread::spawn(move || {
                let mut c = CustomerDoc::create_prospect(&p.ctx(), "Shop", "1 Road").unwrap();
                p.store.save(c.document()).unwrap();
                let customer = c.read().unwrap();
                (0..20)
                    .map(|i| {
                        one_order(&mut p, &customer, i);
                        let start = Instant::now();
                        let s = p.sync().unwrap();
                        assert!(s.refused.is_empty(), "{s:?}");
                        start.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = honest.into_iter().flat_map(|h| h.join().unwrap()).collect();
    latencies.sort();
    // Past the header timeout, every slow connection is gone.
    let wait_until = defaults.header_timeout + Duration::from_secs(3);
    while attack_started.elapsed() < wait_until {
        std::thread::sleep(Duration::from_millis(100));
    }
    let held_late = relay_open();
    let client_open_late = open.load(Ordering::SeqCst);
    let closed: Vec<Option<Duration>> = attackers
        .into_iter()
        .map(|h| rt.block_on(h).unwrap())
        .collect();
    let refused_at_once = closed
        .iter()
        .filter(|c| c.is_some_and(|d| d < Duration::from_secs(1)))
        .count();
    let longest = closed.iter().flatten().max().copied().unwrap_or_default();
    let too_slow = counters.too_slow.load(Ordering::SeqCst);
    let over_limit = counters.over_address_limit.load(Ordering::SeqCst);
    eprintln!(
        "slow clients: {} connections from {addresses} addresses; the relay held {held_early} after 2 s and {held_late} after {:?}; it closed {over_limit} at once (over {} per address) and {too_slow} for slow headers; longest held (client's clock): {longest:?}, closed at once (client's clock): {refused_at_once}, still open on the client's side (never accepted): {client_open_late}; honest syncs meanwhile: {}, p50 {:?}, p99 {:?}, max {:?}",
        closed.len(),
        wait_until,
        defaults.per_address,
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap(),
    );
    let most = u64::from(addresses) * u64::try_from(defaults.per_address).unwrap();
    assert!(
        held_early <= most,
        "{held_early} held: over the per-address limit"
    );
    assert!(
        held_early >= most / 2,
        "the slow clients did connect ({held_early})"
    );
    // Every address went over its limit (the kernel may drop a few of a
    // burst's connections before the relay sees them, so not all 6 each).
    assert!(
        over_limit >= u64::from(addresses),
        "connections over the per-address limit are closed at once ({over_limit})"
    );
    assert_eq!(held_late, 0, "slow connections outlived the header timeout");
    assert!(
        held_early <= too_slow,
        "every slow connection the relay held was closed as too slow ({too_slow})"
    );
    assert!(
        longest < defaults.header_timeout + Duration::from_secs(2),
        "{longest:?}"
    );
    assert!(
        percentile(&latencies, 0.99) < Duration::from_secs(2),
        "honest syncs waited: p99 {:?}",
        percentile(&latencies, 0.99)
    );
}

#[test]
fn a_body_that_stops_coming_or_drags_on_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        timeout: Duration::from_secs(3),
        body_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let relay = TestRelay::start_with(dir.path(), limits);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let from = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let client = |gap| {
        slow_client(
            from,
            relay.addr,
            Slow::DripsBody { gap },
            Duration::from_secs(20),
            open.clone(),
        )
    };
    // A byte every 2 s: stalls past the body timeout.
    let stalled = rt.block_on(client(Duration::from_secs(2))).unwrap();
    // A byte every 200 ms: never stalls, but the request's time runs out.
    let dragging = rt.block_on(client(Duration::from_millis(200))).unwrap();
    eprintln!("a stalled body was cut off after {stalled:?}, a dragging one after {dragging:?}");
    assert!(stalled < Duration::from_millis(2500), "{stalled:?}");
    assert!(
        dragging >= Duration::from_secs(3) && dragging < Duration::from_secs(6),
        "{dragging:?}"
    );
}
