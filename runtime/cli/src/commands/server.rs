//! `sluice server`: the HTTP API on the embedded store under the data dir (or on PostgreSQL
//! with `--database`), until SIGTERM or Ctrl-C. It drives the executions it starts, unless
//! `--api-only` hands them all to `sluice worker` processes.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::node::{Front, NodeArgs};

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The address to listen on; port 0 picks a free one (printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// The largest multipart start request (file inputs, streamed to disk), every part
    /// together: `100MiB`, `2GiB`, or a number of bytes. Larger ones are refused with a 413.
    #[arg(long, value_name = "SIZE", default_value = "100MiB", value_parser = parse_upload_size)]
    pub max_upload_size: u64,
    /// Run no executions here: every one started through this server (API, webhooks,
    /// schedules) is handed to the `sluice worker` processes (and servers without this flag)
    /// on the same database.
    #[arg(long)]
    pub api_only: bool,
    #[command(flatten)]
    pub node: NodeArgs,
}

fn parse_upload_size(text: &str) -> Result<u64, String> {
    match sluice_flow::parse_size(text)? {
        0 => Err("it must be more than 0 bytes".into()),
        size => Ok(size),
    }
}

pub async fn run(args: ServerArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let front = Front::Api { api_only: args.api_only, max_upload_size: args.max_upload_size };
    super::node::run(args.node, args.bind, front, data_dir).await
}
