//! A throwaway PostgreSQL cluster for tests: Debian's PostgreSQL (`.ci/run`
//! installs it), initialised in a temporary directory, listening on
//! 127.0.0.1 and a socket in that directory only, with fsync on (the
//! durability tests rely on it), stopped when dropped (also when a test
//! fails). As root (CI), the cluster runs as the `postgres` user, since
//! `initdb` refuses root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running throwaway cluster.
pub struct TestPostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    databases: AtomicUsize,
}

impl TestPostgres {
    /// Initialises and starts a cluster (a second or two).
    pub fn start() -> TestPostgres {
        let bin = postgres_bin();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("fieldsync-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if as_postgres {
            // The postgres user must reach and own the cluster's directory.
            run(Command::new("chmod").arg("755").arg(dir.path()));
            run(Command::new("chown").arg("postgres:postgres").arg(&data));
        }
        let port = crate::free_port();
        let pg = TestPostgres {
            dir,
            port,
            bin,
            as_postgres,
            databases: AtomicUsize::new(0),
        };
        run(pg
            .command("initdb")
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "-D",
            ])
            .arg(&data));
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=on -c max_connections=200",
            data.display()
        );
        run(pg
            .command("pg_ctl")
            .args(["-w", "-l"])
            .arg(data.join("log"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "start"]));
        pg
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// A new, empty database in the cluster; returns its connection string.
    pub fn database(&self, purpose: &str) -> String {
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let name = format!("{purpose}_{n}");
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("the test cluster accepts connections");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        self.url(&name)
    }

    fn url(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={database}",
            self.port
        )
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(&data)
            .arg("stop")
            .output();
    }
}

fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|b| b.join("initdb").exists());
    versions.sort();
    versions.pop().expect(
        "PostgreSQL is needed for these tests: install Debian's postgresql package (.ci/run does)",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(c: &mut Command) {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{c:?} did not run: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
