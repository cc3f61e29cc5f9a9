//! `sluice`: the command-line front of the sluice workflow runtime. Thin: parsing and printing
//! only; the work is in the runtime crates.

mod commands;
mod memory;
mod output;
mod progress;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sluice: declarative CI/CD workflows whose every task runs in a WebAssembly sandbox.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    /// Where sluice keeps its state (compiled-component cache, third-party plugins).
    /// Defaults to $SLUICE_DATA_DIR, then $XDG_DATA_HOME/sluice, then ~/.local/share/sluice.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect the installed plugins.
    #[command(subcommand)]
    Plugin(commands::plugin::PluginCommand),
    /// Run a flow once, on the embedded store, and wait for it to end. Exit code 0 on SUCCESS
    /// or WARNING, 1 when it failed, 2 when the flow or its inputs are invalid.
    Run(commands::run::RunArgs),
    /// Check flow files against the installed plugins. Exit code 0 when all are valid, 2 when
    /// any has errors (printed to stderr, compiler-style).
    Validate(commands::validate::ValidateArgs),
    /// Print the JSON Schema of flow files, with the installed plugins' task types, for editors.
    Schema,
    /// Serve the HTTP API (flows, executions, logs) on the store in the data dir, until
    /// SIGTERM or Ctrl-C.
    Server(commands::server::ServerArgs),
    /// Make, list and revoke API tokens on the servers' database.
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Check and export the audit log on the servers' database.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Run the executions the servers on the database hand over (and those of nodes that
    /// died), until SIGTERM or Ctrl-C; answers health and metrics only.
    Worker(commands::worker::WorkerArgs),
}

fn main() -> ExitCode {
    memory::limit_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("SLUICE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    if matches!(cli.command, Command::Run(_) | Command::Server(_) | Command::Worker(_))
        && let Err(err) = sluice_engine::setup::workspace_retention()
    {
        eprintln!("error: {err:#}");
        return ExitCode::from(2);
    }
    let given_data_dir = cli.data_dir.clone();
    let data_dir = cli.data_dir.unwrap_or_else(default_data_dir);
    let result = runtime.block_on(async {
        match cli.command {
            Command::Plugin(cmd) => commands::plugin::run(cmd, &data_dir).await.map(|()| ExitCode::SUCCESS),
            Command::Run(args) => commands::run::run(args, given_data_dir.as_deref(), &data_dir).await,
            Command::Validate(args) => commands::validate::run(args, &data_dir).await,
            Command::Schema => commands::schema::run(&data_dir).await.map(|()| ExitCode::SUCCESS),
            Command::Server(args) => commands::server::run(args, &data_dir).await,
            Command::Worker(args) => commands::worker::run(args, &data_dir).await,
            Command::Token(cmd) => commands::token::run(cmd, &data_dir).await,
            Command::Audit(cmd) => commands::audit::run(cmd, &data_dir).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SLUICE_DATA_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("sluice");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/sluice"),
        None => std::env::temp_dir().join("sluice"),
    }
}
