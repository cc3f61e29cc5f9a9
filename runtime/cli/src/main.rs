//! `sluice`: the command-line front of the sluice workflow runtime. Thin: parsing and printing
//! only; the work is in the runtime crates.

mod catalog;
mod commands;
mod output;

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
}

fn main() -> ExitCode {
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
    let data_dir = cli.data_dir.unwrap_or_else(default_data_dir);
    let result = runtime.block_on(async {
        match cli.command {
            Command::Plugin(cmd) => commands::plugin::run(cmd, &data_dir).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
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
