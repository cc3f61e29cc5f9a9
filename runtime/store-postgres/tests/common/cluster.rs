//! A throwaway PostgreSQL cluster for tests, one per test binary, shared by its tests (each
//! makes its own database in it). Only the standard library, so any crate's tests can include
//! it by path.
//!
//! - Binaries: `$SLUICE_PG_BIN` if set, else the newest `/usr/lib/postgresql/<n>/bin` (Debian's
//!   `postgresql` package), else whatever `initdb` and `pg_ctl` are on the PATH.
//! - The cluster lives in `$TMPDIR/sluice-pg-<pid>`: `initdb` (trust authentication for the
//!   `postgres` role, UTF-8, C locale, no fsync), then `pg_ctl start` on a free port of
//!   127.0.0.1 with its socket in the same directory, durability settings off (the tests never
//!   outlive it; [`durable_cluster`] keeps them, for benchmarks). `$SLUICE_PG_OPTIONS` is
//!   added to the server's options (e.g. `-c shared_preload_libraries=pg_stat_statements`, to
//!   see where a bench's time goes). No system service is involved.
//! - As root, `initdb` and the server refuse to run, so they run as the `postgres` user (which
//!   Debian's package creates) through `runuser`, in a directory given to that user.
//! - Stopping: a watchdog (`sh`, in a process group of its own so a Ctrl-C of the tests does
//!   not kill it first) reads its stdin, a pipe whose writing end only this process holds
//!   (close-on-exec, so no child inherits it). When this process exits, however it exits (even
//!   `kill -9`), the pipe closes, the read ends, and the watchdog runs `pg_ctl stop -m
//!   immediate` and removes the directory. As a second line, a starting binary stops and
//!   removes the clusters of processes that no longer exist.

#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The name of each cluster's directory: this, then the owning process's id.
const PREFIX: &str = "sluice-pg-";

/// The running cluster of this test binary.
pub struct Cluster {
    port: u16,
    bin: PathBuf,
    owner: Owner,
    data: PathBuf,
    log: PathBuf,
    /// The server's options, as `pg_ctl start -o` takes them.
    options: String,
    /// Held until the process exits: its closing tells the watchdog to stop the cluster.
    _watchdog: ChildStdin,
}

/// Starts the cluster on first use; every later call returns it.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::start(false))
}

/// As [`cluster`], with PostgreSQL's durability settings left on (every commit flushed to
/// disk), for benchmarks that claim durable throughput.
pub fn durable_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::start(true))
}

impl Cluster {
    fn start(durable: bool) -> Cluster {
        let bin = bin_dir();
        let owner = Owner::detect();
        remove_stale(&bin, &owner);
        let kind = if durable { "-durable" } else { "" };
        let dir = std::env::temp_dir().join(format!("{PREFIX}{}{kind}", std::process::id()));
        // A directory left by an earlier process with the same id.
        stop_and_remove(&bin, &owner, &dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        owner.give(&dir);
        let data = dir.join("data");
        // Before anything can fail past this point, so the directory goes in every case.
        let watchdog = spawn_watchdog(&bin, &owner, &dir);

        let mut initdb = owner.command(&bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]);
        run(&mut initdb, "initdb");

        let log = dir.join("server.log");
        let mut failures = Vec::new();
        for _ in 0..5 {
            let port = free_port();
            let fast =
                if durable { "" } else { "-c fsync=off -c synchronous_commit=off -c full_page_writes=off" };
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 {fast} -c max_connections=400 \
                 -c max_prepared_transactions=8 {}",
                dir.display(),
                std::env::var("SLUICE_PG_OPTIONS").unwrap_or_default()
            );
            let mut start = owner.command(&bin.join("pg_ctl"));
            start.arg("-D").arg(&data).arg("-l").arg(&log).args(["-w", "-t", "60", "-o", &options, "start"]);
            // Its own process group: a Ctrl-C of the tests leaves the server to the watchdog.
            start.process_group(0);
            match start.stdin(Stdio::null()).output() {
                Ok(out) if out.status.success() => {
                    return Cluster { port, bin, owner, data, log, options, _watchdog: watchdog };
                }
                Ok(out) => failures.push(format!(
                    "port {port}: {}{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                    std::fs::read_to_string(&log).unwrap_or_default()
                )),
                Err(e) => failures.push(format!("cannot run pg_ctl: {e}")),
            }
        }
        panic!("PostgreSQL did not start:\n{}", failures.join("\n"));
    }

    /// Stops the server (`pg_ctl stop -m fast`: every connection is cut), leaves it down for
    /// `down_for`, and starts it again on the same port with the same data.
    pub fn restart(&self, down_for: std::time::Duration) {
        self.stop();
        std::thread::sleep(down_for);
        self.start_again();
    }

    /// Stops the server, cutting every connection; [`Cluster::start_again`] brings it back.
    pub fn stop(&self) {
        let mut stop = self.owner.command(&self.bin.join("pg_ctl"));
        stop.arg("-D").arg(&self.data).args(["-w", "-m", "fast", "stop"]);
        run(&mut stop, "pg_ctl stop");
    }

    /// Starts the stopped server on its port, with its data.
    pub fn start_again(&self) {
        let mut start = self.owner.command(&self.bin.join("pg_ctl"));
        start.arg("-D").arg(&self.data).arg("-l").arg(&self.log).args([
            "-w",
            "-t",
            "60",
            "-o",
            &self.options,
            "start",
        ]);
        start.process_group(0).stdin(Stdio::null());
        run(&mut start, "pg_ctl start");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` in this cluster, as the `postgres` superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database with a name of its own and returns its URL.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("t_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut psql = Command::new(self.bin.join("psql"));
        psql.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .arg("-p")
        .arg(self.port.to_string())
        .arg("-c")
        .arg(format!("CREATE DATABASE {name}"));
        run(&mut psql, "psql CREATE DATABASE");
        self.url(&name)
    }
}

/// Who runs the server: this user, or `postgres` when this is root.
enum Owner {
    Me,
    Postgres { uid: u32, gid: u32 },
}

impl Owner {
    fn detect() -> Owner {
        if id(&["-u"]) != 0 {
            return Owner::Me;
        }
        Owner::Postgres { uid: id(&["-u", "postgres"]), gid: id(&["-g", "postgres"]) }
    }

    fn prefix(&self) -> &'static [&'static str] {
        match self {
            Owner::Me => &[],
            Owner::Postgres { .. } => &["runuser", "-u", "postgres", "--"],
        }
    }

    fn command(&self, program: &Path) -> Command {
        match self.prefix() {
            [] => Command::new(program),
            [first, rest @ ..] => {
                let mut command = Command::new(first);
                command.args(rest).arg(program);
                command
            }
        }
    }

    fn give(&self, path: &Path) {
        if let Owner::Postgres { uid, gid } = self {
            std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                .unwrap_or_else(|e| panic!("cannot give {} to postgres: {e}", path.display()));
        }
    }
}

/// `id <args>` as a number.
fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("cannot run id");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().unwrap_or_else(|_| {
        panic!(
            "`id {}` failed ({}): the PostgreSQL tests run the server as the `postgres` user when \
             run as root; Debian's `postgresql` package creates it",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SLUICE_PG_BIN") {
        return PathBuf::from(dir);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .max();
    match newest {
        Some(version) => PathBuf::from(format!("/usr/lib/postgresql/{version}/bin")),
        // Bare names: found on the PATH.
        None => PathBuf::new(),
    }
}

// Never waited for: it outlives this process, which is its point.
#[allow(clippy::zombie_processes)]
fn spawn_watchdog(bin: &Path, owner: &Owner, dir: &Path) -> ChildStdin {
    let script = r#"cat >/dev/null; "$@" -D "$DIR/data" stop -m immediate >/dev/null 2>&1; rm -rf "$DIR""#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(owner.prefix())
        .arg(bin.join("pg_ctl"))
        .env("DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the PostgreSQL watchdog: {e}"));
    child.stdin.take().expect("piped stdin")
}

/// Stops and removes the clusters of test processes that are gone (killed before their
/// watchdog could run, or a machine that rebooted with /tmp kept).
fn remove_stale(bin: &Path, owner: &Owner) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|p| p.trim_end_matches("-durable").parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            stop_and_remove(bin, owner, &entry.path());
        }
    }
}

fn stop_and_remove(bin: &Path, owner: &Owner, dir: &Path) {
    if !dir.exists() {
        return;
    }
    if dir.join("data").join("postmaster.pid").exists() {
        let _ = owner
            .command(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["stop", "-m", "immediate"])
            .stdin(Stdio::null())
            .output();
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a port on 127.0.0.1");
    listener.local_addr().expect("bound address").port()
}

fn run(command: &mut Command, what: &str) {
    let out = command.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {what} ({e}): the PostgreSQL store's tests need Debian's `postgresql` \
             (or SLUICE_PG_BIN naming a directory with initdb, pg_ctl and psql)"
        )
    });
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
