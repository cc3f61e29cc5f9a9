//! `sluice server`: the HTTP API on the embedded store under the data dir (or on PostgreSQL
//! with `--database`), until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sluice_engine::scheduler::Keeper;
use sluice_engine::setup::{self, EngineBuilder};
use sluice_server::{AppState, ServerStore};
use sluice_store::SqliteStore;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The address to listen on; port 0 picks a free one (printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// The Docker Engine for `docker` tasks: `unix:///path` or `tcp://host:port` (default
    /// `$DOCKER_HOST`, else `unix:///var/run/docker.sock`).
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
    /// On SIGTERM or Ctrl-C, how long running tasks may take to finish (e.g. `30s`, `2m`).
    /// Tasks still running then are cut and run again after the next start.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_grace)]
    pub shutdown_grace: Duration,
    /// The largest multipart start request (file inputs, streamed to disk), every part
    /// together: `100MiB`, `2GiB`, or a number of bytes. Larger ones are refused with a 413.
    #[arg(long, value_name = "SIZE", default_value = "100MiB", value_parser = parse_upload_size)]
    pub max_upload_size: u64,
    /// The URL people reach this server at (`https://sluice.example.com`, default
    /// `$SLUICE_PUBLIC_URL`): tasks are told their execution's URL under it
    /// (`<url>/executions/<id>`), so notifications link to it.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// The database to keep flows and executions in: `postgres://user:password@host:port/db`
    /// for PostgreSQL (default `$SLUICE_DATABASE_URL`), which several servers may share. Unset,
    /// the embedded SQLite file `sluice.db` under the data dir.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

/// What `--database` takes.
const DATABASE_SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// The store `--database` (or `$SLUICE_DATABASE_URL`) names, else SQLite under the data dir.
async fn open_store(database: Option<&str>, data_dir: &Path) -> anyhow::Result<ServerStore> {
    let from_env = std::env::var("SLUICE_DATABASE_URL").ok().filter(|url| !url.is_empty());
    let Some(url) = database.map(str::to_owned).or(from_env) else {
        let store = SqliteStore::open(&data_dir.join("sluice.db")).await.context("opening the store")?;
        return Ok(store.into());
    };
    if !DATABASE_SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
        // Only the scheme: the rest may hold a password.
        let scheme = url.split_once("://").map_or("no scheme", |(scheme, _)| scheme);
        anyhow::bail!(
            "--database: unsupported database URL ({scheme}); accepted: {} (PostgreSQL), or leave it \
             unset for the embedded SQLite store under the data dir",
            DATABASE_SCHEMES.join(" or ")
        );
    }
    ServerStore::postgres(&url).await.context("opening the PostgreSQL store")
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    sluice_flow::duration::parse_duration(text)
}

fn parse_upload_size(text: &str) -> Result<u64, String> {
    match sluice_flow::parse_size(text)? {
        0 => Err("it must be more than 0 bytes".into()),
        size => Ok(size),
    }
}

pub async fn run(args: ServerArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let docker = setup::docker_endpoint(args.docker_host.as_deref())?;
    let public_url = setup::public_url(args.public_url.as_deref())?;
    let node = sluice_engine::node::server_node(data_dir)?;
    let installed = EngineBuilder::load_with(data_dir, docker, None).await?.public_url(public_url).node(node);
    let store = Arc::new(open_store(args.database.as_deref(), data_dir).await?);
    // On a shared database, executions may move to a server on another machine.
    let shared_database = matches!(*store, ServerStore::Postgres(_));
    let engine = installed.workspace_snapshots(shared_database).build(store.clone(), data_dir)?;
    // Executions that were running when this server last stopped (or crashed) continue first,
    // with any another server left behind; after that the keeper takes over what other
    // servers leave (their lease expires) and renews this one's.
    let recovered = engine.recover().await.context("recovering unfinished executions")?;
    if !recovered.is_empty() {
        eprintln!("continuing {} unfinished executions", recovered.len());
    }
    let _keeper = engine.keep_leases(Keeper::TakeOver);
    // Workspaces of finished executions go once past their retention, checked hourly.
    let sweeper = engine.clone();
    let sweeping = tokio::spawn(async move {
        loop {
            if let Err(error) = sweeper.sweep_workspaces_every(setup::WORKSPACE_SWEEP_EVERY).await {
                eprintln!("warning: sweeping expired workspaces: {error}");
            }
            tokio::time::sleep(setup::WORKSPACE_SWEEP_EVERY).await;
        }
    });
    let listener =
        tokio::net::TcpListener::bind(args.bind).await.with_context(|| format!("binding {}", args.bind))?;
    let address = listener.local_addr().context("reading the bound address")?;
    // Loading and recovering leave freed memory behind; an idle server should not keep it.
    crate::memory::trim();
    eprintln!("listening on http://{address}");
    // On the signal: triggers stop, running tasks get the grace period to finish while the
    // API still answers reads (starts are refused), then the listener closes.
    let (drained_tx, drained) = tokio::sync::oneshot::channel::<()>();
    let draining = engine.clone();
    let grace = args.shutdown_grace;
    let drain = async move {
        eprintln!(
            "stopping: {} running task(s) may take up to {grace:?} to finish",
            draining.running_attempts()
        );
        let drained = draining.drain(grace).await;
        if drained.cut > 0 {
            eprintln!("{} task(s) still running were cut; they run again after the next start", drained.cut);
        }
        let _ = drained_tx.send(());
    };
    let limits = sluice_server::BodyLimits { upload: args.max_upload_size };
    let state = AppState::new(engine).with_limits(limits);
    let serve = sluice_server::serve(listener, state, stop_signal(), drain);
    tokio::pin!(serve);
    tokio::select! {
        served = &mut serve => served.context("serving")?,
        _ = drained => {
            // Followers of live streams and `?wait=true` callers would hold the shutdown open.
            match tokio::time::timeout(Duration::from_secs(2), &mut serve).await {
                Ok(served) => served.context("serving")?,
                Err(_) => eprintln!("closing the connections still open"),
            }
        }
    }
    sweeping.abort();
    store.close().await;
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
