//! `fieldsync-server`: run the relay, or administer it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use fieldsync_core::Role;
use fieldsync_server::listener::Connections;
use fieldsync_server::{AppState, Limits, ServerError, accounts, admin};

/// fieldsync's relay: phones sync with it; head office works from its database.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The database file (SQLite; created if missing).
    #[arg(
        long,
        global = true,
        default_value = "fieldsync.db",
        env = "FIELDSYNC_DB"
    )]
    db: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the relay.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "FIELDSYNC_LISTEN")]
        listen: SocketAddr,
        /// On a new database, first create the demo company (see `demo`).
        #[arg(long)]
        demo: bool,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key for --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Sync requests one device may make per second, on average.
        #[arg(long, default_value_t = 2.0)]
        sync_rate: f64,
        /// Sync requests one device may make in a burst.
        #[arg(long, default_value_t = 30.0)]
        sync_burst: f64,
        /// Open connections at most (more wait until one closes); capped by
        /// the process's open-file limit.
        #[arg(long, default_value_t = 8192)]
        max_connections: usize,
        /// Open connections at most from one address (more are closed):
        /// raise it if many phones reach the relay through one NAT.
        #[arg(long, default_value_t = 64)]
        max_connections_per_address: usize,
    },
    /// Create a demo company (users, customers, catalog, a few days of work) in a new database.
    Demo,
    /// Administer users, devices, imports and exports.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a user; prints their API token once.
    CreateUser {
        /// Login id, e.g. li.wei
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// salesperson, manager, order_desk, production, warehouse, finance or admin.
        #[arg(long)]
        role: String,
        /// Region (salespeople and managers).
        #[arg(long)]
        region: Option<String>,
        /// Also ask for a password for the web console (head-office users).
        #[arg(long)]
        password: bool,
    },
    /// Set or reset a user's password for the web console (asked for, or
    /// read from the first line of standard input when it is not a terminal).
    SetPassword {
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// List users.
    Users,
    /// Add a region to the company's list (users and imported customers
    /// must be in one of them; creating a user in a region adds it too).
    AddRegion {
        /// The region, e.g. east (letters, digits and . _ @ -).
        name: String,
    },
    /// List the company's regions.
    Regions,
    /// Issue a one-time enrollment code for a user's phone.
    EnrollCode {
        /// The user.
        #[arg(long)]
        user: String,
        /// Hours the code stays valid.
        #[arg(long, default_value_t = 24)]
        hours: i64,
    },
    /// Revoke a device: it can no longer sync.
    RevokeDevice {
        /// The device id (from enrollment).
        #[arg(long)]
        device: String,
    },
    /// Import customers from CSV (name,address,region,owner,grade,payment_terms,credit_limit).
    ImportCustomers {
        /// The CSV file.
        file: PathBuf,
    },
    /// Import products from CSV (code,name,spec,unit,list_price).
    ImportProducts {
        /// The CSV file.
        file: PathBuf,
    },
    /// Set the company's time zone (an IANA name, e.g. Asia/Shanghai, the
    /// default): it decides business dates (order numbers, sales months,
    /// KPIs, report deadlines). The relay uses it from its next start, and
    /// phones enrolled from then on.
    SetTimeZone {
        /// The zone, e.g. Europe/Berlin.
        zone: String,
    },
    /// Write a consistent copy of the database to a new file (safe while
    /// the relay runs). To restore it, stop the relay and put the copy in
    /// place of the database; phones send back what it lacks.
    Backup {
        /// The new file.
        to: PathBuf,
    },
    /// Import past orders from CSV, one row per order line: number,
    /// customer_code, order_date, status, product, quantity and, optionally,
    /// unit_price, discount_percent, approved_on, shipped_on, delivered_on,
    /// paid_on, cancelled_on, delivery_date, customer_reference, taken_by.
    /// Dates are business dates (2025-03-31) up to today.
    ImportOrders {
        /// The CSV file.
        file: PathBuf,
    },
    /// Publish stock figures from CSV (code and any of on_hand, reserved,
    /// in_production) as a warehouse or production user.
    ImportStock {
        /// The CSV file.
        file: PathBuf,
        /// The warehouse or production user publishing them.
        #[arg(long)]
        user: String,
    },
    /// Export a report as CSV to standard output.
    Export {
        /// sales-by-salesperson, sales-by-order-taker, sales-by-region, sales-by-product, sales-by-month,
        /// visit-kpis, visits-per-day, daily-reports, production, receivables, receivables-aged,
        /// order-performance, changed-after-approval
        report: String,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), ServerError> {
    let limits = match &cli.command {
        Command::Serve {
            sync_rate,
            sync_burst,
            max_connections,
            max_connections_per_address,
            ..
        } => {
            if !(*sync_rate > 0.0 && *sync_burst >= 1.0) {
                return Err(ServerError::BadRequest(
                    "--sync-rate must be above 0 and --sync-burst at least 1".into(),
                ));
            }
            if *max_connections == 0 || *max_connections_per_address == 0 {
                return Err(ServerError::BadRequest(
                    "--max-connections and --max-connections-per-address must be at least 1".into(),
                ));
            }
            Limits {
                syncs_per_second: *sync_rate,
                sync_burst: *sync_burst,
                connections: Connections {
                    max: connections_within_file_limit(*max_connections),
                    per_address: *max_connections_per_address,
                    ..Connections::default()
                },
                ..Limits::default()
            }
        }
        _ => Limits::default(),
    };
    let state = AppState::open(&cli.db, limits)?;
    match cli.command {
        Command::Serve {
            listen,
            demo,
            tls_cert,
            tls_key,
            ..
        } => {
            let empty = {
                let mut relay = state.relay();
                accounts::users(relay.store().connection())?.is_empty()
            };
            if demo && empty {
                print_demo(&admin::demo(&state)?, &cli.db);
            } else if empty {
                println!("The database has no users yet: create one with");
                println!(
                    "  fieldsync-server --db {} admin create-user --id admin --name Admin --role admin",
                    cli.db.display()
                );
            }
            let tls = tls_cert.zip(tls_key);
            serve(state, listen, &cli.db, tls)
        }
        Command::Demo => {
            print_demo(&admin::demo(&state)?, &cli.db);
            println!("\nNext: fieldsync-server --db {} serve", cli.db.display());
            Ok(())
        }
        Command::Admin { command } => admin_command(&state, command),
    }
}

fn print_demo(d: &admin::Demo, db: &std::path::Path) {
    println!("Demo company created in {}.\n", db.display());
    println!("API tokens (shown once; use as Authorization: Bearer <token>):");
    for (user, role, token) in &d.tokens {
        println!("  {user:<6} {role:<12} {token}");
    }
    println!("\nEnrollment code for salesperson li's phone: {}\n", d.code);
}

/// A new password for `user`: asked for twice on a terminal (not shown),
/// else the first line of standard input.
fn read_password(user: &str) -> Result<String, ServerError> {
    use std::io::IsTerminal;
    let failed =
        |e: std::io::Error| ServerError::BadRequest(format!("could not read the password: {e}"));
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New console password for {user}: "))
            .map_err(failed)?;
        let again = rpassword::prompt_password("Again: ").map_err(failed)?;
        if first != again {
            return Err(ServerError::BadRequest(
                "the two passwords differ; nothing was changed".into(),
            ));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(failed)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

fn admin_command(state: &AppState, command: AdminCommand) -> Result<(), ServerError> {
    match command {
        AdminCommand::CreateUser {
            id,
            name,
            role,
            region,
            password,
        } => {
            let role: Role = role.parse()?;
            let mut relay = state.relay();
            let token = accounts::create_user(
                relay.store().connection(),
                &id,
                &name,
                role,
                region.as_deref(),
            )?;
            println!("Created {} user {id}.", role.in_words());
            println!("API token (shown once, keep it safe): {token}");
            if password {
                let p = read_password(&id)?;
                accounts::set_password(relay.store().connection(), &id, &p)?;
                println!("{id} can sign in to the web console.");
            }
        }
        AdminCommand::SetPassword { user } => {
            let p = read_password(&user)?;
            let mut relay = state.relay();
            accounts::set_password(relay.store().connection(), &user, &p)?;
            println!("{user}'s console password is set; their other sessions are signed out.");
        }
        AdminCommand::Users => {
            let mut relay = state.relay();
            for u in accounts::users(relay.store().connection())? {
                println!(
                    "{:<16} {:<12} {:<8} {}",
                    u.id,
                    u.role,
                    u.region.unwrap_or_default(),
                    u.name
                );
            }
        }
        AdminCommand::AddRegion { name } => {
            let mut relay = state.relay();
            if accounts::add_region(relay.store().connection(), &name)? {
                println!("Added region {name}.");
            } else {
                println!("Region {name} was already there.");
            }
        }
        AdminCommand::Regions => {
            let mut relay = state.relay();
            for r in accounts::regions(relay.store().connection())? {
                println!("{r}");
            }
        }
        AdminCommand::EnrollCode { user, hours } => {
            let mut relay = state.relay();
            let (code, expires) = accounts::issue_code(
                relay.store().connection(),
                &user,
                chrono::Duration::hours(hours),
            )?;
            println!("Enrollment code for {user}: {code}");
            println!(
                "It works once, until {} (UTC).",
                expires.format("%Y-%m-%d %H:%M")
            );
        }
        AdminCommand::RevokeDevice { device } => {
            let mut relay = state.relay();
            accounts::revoke_device(relay.store().connection(), &device)?;
            println!("Device {device} is revoked; it can no longer sync.");
        }
        AdminCommand::ImportCustomers { file } => {
            let f = std::fs::File::open(&file).map_err(|e| {
                ServerError::BadRequest(format!("cannot open {}: {e}", file.display()))
            })?;
            let n = admin::import_customers(state, f, &mut |done, total| {
                eprintln!("  {done}/{total} customers")
            })?;
            println!("Imported {} customers: {n}.", n.rows());
        }
        AdminCommand::ImportProducts { file } => {
            let f = std::fs::File::open(&file).map_err(|e| {
                ServerError::BadRequest(format!("cannot open {}: {e}", file.display()))
            })?;
            let n = admin::import_products(state, f, &mut |done, total| {
                eprintln!("  {done}/{total} products")
            })?;
            println!("Imported {} products: {n}.", n.rows());
        }
        AdminCommand::SetTimeZone { zone } => {
            let zone = fieldsync_core::BusinessZone::parse(&zone)?;
            let mut relay = state.relay();
            accounts::set_time_zone(relay.store().connection(), zone)?;
            println!(
                "The company's time zone is now {zone}. Restart the relay to use it; phones enrolled from now on get it too."
            );
        }
        AdminCommand::Backup { to } => {
            admin::backup(state, &to)?;
            println!("Backed up the database to {}.", to.display());
        }
        AdminCommand::ImportOrders { file } => {
            let f = std::fs::File::open(&file).map_err(|e| {
                ServerError::BadRequest(format!("cannot open {}: {e}", file.display()))
            })?;
            let n = admin::import_orders(state, f, &mut |done, total| {
                eprintln!("  {done}/{total} orders")
            })?;
            println!(
                "Imported {} past orders: {} new, {} there already.",
                n.rows(),
                n.created,
                n.unchanged
            );
        }
        AdminCommand::ImportStock { file, user } => {
            let f = std::fs::File::open(&file).map_err(|e| {
                ServerError::BadRequest(format!("cannot open {}: {e}", file.display()))
            })?;
            let n = admin::import_stock(state, f, &user, &mut |_, _| {})?;
            println!("Published the stock of {n} products.");
        }
        AdminCommand::Export { report } => {
            print!("{}", admin::export_report(state, &report)?);
        }
    }
    Ok(())
}

/// Raises the open-file limit as far as the system allows, and keeps
/// `wanted` connections within it (the database, its readers and the log
/// need files too).
fn connections_within_file_limit(wanted: usize) -> usize {
    const FOR_FILES: u64 = 64;
    let files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let room = usize::try_from(files.saturating_sub(FOR_FILES).max(16)).unwrap_or(usize::MAX);
    if wanted > room {
        tracing::warn!(
            wanted,
            allowed = room,
            open_files = files,
            "--max-connections is above what the open-file limit allows; raise the limit (ulimit -n) to keep more"
        );
    }
    wanted.min(room)
}

fn serve(
    state: AppState,
    listen: SocketAddr,
    db: &std::path::Path,
    tls: Option<(PathBuf, PathBuf)>,
) -> Result<(), ServerError> {
    // Database work is serialized on one connection: a few blocking threads
    // suffice, and more would only contend for its lock.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
        .map_err(|e| ServerError::Internal(e.to_string()))?;
    rt.block_on(async move {
        let listener = std::net::TcpListener::bind(listen)
            .map_err(|e| ServerError::BadRequest(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::Internal(e.to_string()))?;
        let shutdown = shutdown_signal();
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!(
            "fieldsync relay listening on {scheme}://{addr} (database {})",
            db.display()
        );
        println!("  health: {scheme}://{addr}/healthz   API: {scheme}://{addr}/openapi.json");
        let state = Arc::new(state);
        let served = match tls {
            Some((cert, key)) => {
                fieldsync_server::serve_tls(listener, state, &cert, &key, shutdown).await
            }
            None => {
                listener
                    .set_nonblocking(true)
                    .map_err(|e| ServerError::Internal(e.to_string()))?;
                let listener = tokio::net::TcpListener::from_std(listener)
                    .map_err(|e| ServerError::Internal(e.to_string()))?;
                fieldsync_server::serve(listener, state, shutdown).await
            }
        };
        served.map_err(|e| ServerError::Internal(e.to_string()))?;
        println!("fieldsync relay stopped; every acknowledged change is on disk.");
        Ok(())
    })
}
/// Listens for Ctrl-C and SIGTERM. The handlers are installed when this is
/// called (before the relay says it is listening), so a signal sent as soon as
/// the relay answers is never missed.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        let term = async {
            match term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
    }
}
