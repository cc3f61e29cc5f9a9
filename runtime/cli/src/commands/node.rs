//! What `sluice server` and `sluice worker` share: the options of a node (a process on the
//! store that may drive executions), the store and engine it opens, and its life until
//! SIGTERM or Ctrl-C (recovery, the lease keeper, the workspace sweeper, the drain).

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sluice_engine::scheduler::Keeper;
use sluice_engine::setup::{self, EngineBuilder};
use sluice_server::auth::{Auth, AuthStart, FIRST_ADMIN, start_auth};
use sluice_server::{AppState, ServerStore};
use sluice_store::SqliteStore;

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The Docker Engine for `docker` tasks: `unix:///path` or `tcp://host:port` (default
    /// `$DOCKER_HOST`, else `unix:///var/run/docker.sock`).
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
    /// On SIGTERM or Ctrl-C, how long running tasks may take to finish (e.g. `30s`, `2m`).
    /// Tasks still running then are cut and run again after the next start.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_grace)]
    pub shutdown_grace: Duration,
    /// The URL people reach the servers at (`https://sluice.example.com`, default
    /// `$SLUICE_PUBLIC_URL`): tasks are told their execution's URL under it
    /// (`<url>/executions/<id>`), so notifications link to it.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// The database to keep flows and executions in: `postgres://user:password@host:port/db`
    /// for PostgreSQL (default `$SLUICE_DATABASE_URL`), which several servers and workers may
    /// share. Unset, the embedded SQLite file `sluice.db` under the data dir.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// The worker tags this process holds, comma-separated (`docker,linux`): it runs the
    /// executions whose tasks ask for (`workerTags:`) none but these.
    #[arg(long, value_name = "TAGS", default_value = "", value_parser = parse_tags)]
    pub tags: WorkerTags,
    /// At most this many executions claimed from the database to drive here at once (those
    /// handed over by `--api-only` servers, or left by nodes that died), so that several
    /// workers share them. Unset, whatever is free.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_executions: Option<u32>,
    /// `/metrics` answers only requests with a token (any role); unset, it is open like
    /// `/healthz`.
    #[arg(long)]
    pub metrics_need_token: bool,
}

/// `--tags`, checked and sorted.
#[derive(Debug, Clone)]
pub struct WorkerTags(Vec<String>);

/// What the node answers on its listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// The whole API and UI (`sluice server`).
    Api { api_only: bool, max_upload_size: u64 },
    /// Health and metrics only (`sluice worker`).
    Worker,
}

/// What `--database` takes.
const DATABASE_SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// The store `--database` (or `$SLUICE_DATABASE_URL`) names, else SQLite under the data dir.
pub(crate) async fn open_store(database: Option<&str>, data_dir: &Path) -> anyhow::Result<ServerStore> {
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

fn parse_tags(text: &str) -> Result<WorkerTags, String> {
    sluice_flow::parse_worker_tags(text).map(WorkerTags)
}

/// Runs the node on `bind` until SIGTERM or Ctrl-C.
pub async fn run(
    args: NodeArgs,
    bind: SocketAddr,
    front: Front,
    data_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let docker = setup::docker_endpoint(args.docker_host.as_deref())?;
    let public_url = setup::public_url(args.public_url.as_deref())?;
    let node = sluice_engine::node::server_node(data_dir)?;
    let api_only = matches!(front, Front::Api { api_only: true, .. });
    let store = Arc::new(open_store(args.database.as_deref(), data_dir).await?);
    // On a shared database, executions may move to a node on another machine.
    let shared_database = matches!(*store, ServerStore::Postgres(_));
    // The embedded SQLite file is this node's own: no other node would take what it hands
    // over, nor hand it anything.
    if !shared_database && (api_only || front == Front::Worker) {
        let what = if api_only { "`sluice server --api-only`" } else { "`sluice worker`" };
        anyhow::bail!(
            "{what} shares the work of other nodes through PostgreSQL: give the servers' database \
             with --database postgres://... (or SLUICE_DATABASE_URL)"
        );
    }
    let installed = EngineBuilder::load_with(data_dir, docker, None)
        .await?
        .public_url(public_url)
        .node(node)
        .api_only(api_only)
        .worker_tags(args.tags.0.clone())
        .max_executions(args.max_executions.map(|n| n as usize));
    let engine = installed.workspace_snapshots(shared_database).build(store.clone(), data_dir)?;
    // The plugins deployed to the database, then the executions that were running when this
    // node last stopped (or crashed), with any another node left behind; after that the keeper
    // takes over what other nodes leave (their lease expires) or hand over, renews this one's,
    // and loads plugins deployed meanwhile. An API-only server drives nothing.
    engine.refresh_plugins().await.context("loading the plugins deployed to the database")?;
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
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"))?;
    let address = listener.local_addr().context("reading the bound address")?;
    // Decided (and said) before "listening", so that what the operator must keep comes first.
    let auth = match front {
        Front::Api { .. } => {
            let given = std::env::var("SLUICE_ADMIN_TOKEN").ok();
            let (auth, start) = start_auth(&store, address, given, args.metrics_need_token)
                .await
                .context("setting up the API's authentication")?;
            tell_auth(&start, address);
            auth
        }
        Front::Worker => Auth::new(true, args.metrics_need_token),
    };
    // Loading and recovering leave freed memory behind; an idle node should not keep it.
    crate::memory::trim();
    eprintln!("listening on http://{address}");
    // On the signal: triggers stop, running tasks get the grace period to finish while the
    // listener still answers reads (starts are refused), then it closes.
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
    let mut serve: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match front {
        Front::Api { max_upload_size, .. } => {
            let state = AppState::new(engine)
                .with_limits(sluice_server::BodyLimits { upload: max_upload_size })
                .with_auth(auth);
            Box::pin(sluice_server::serve(listener, state, stop_signal(), drain))
        }
        Front::Worker => {
            let state = AppState::new(engine).with_auth(auth);
            Box::pin(sluice_server::serve_worker(listener, state, stop_signal(), drain))
        }
    };
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

/// Says at start how the API authenticates.
fn tell_auth(start: &AuthStart, address: SocketAddr) {
    match start {
        AuthStart::Open => eprintln!(
            "auth is off: bound to loopback ({address}) with no token made, anyone on this machine may \
             use the API; `sluice token create` turns it on"
        ),
        AuthStart::On => eprintln!("auth is on: requests need a token (`Authorization: Bearer ...`)"),
        AuthStart::MadeAdmin(token) => {
            eprintln!(
                "auth is on: made the first admin token `{FIRST_ADMIN}`; it is shown this once, keep it \
                 (or give your own with SLUICE_ADMIN_TOKEN):"
            );
            eprintln!("{token}");
        }
    }
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
