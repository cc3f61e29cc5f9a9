//! `sluice worker`: a node that only runs executions. It claims the executions the servers on
//! its database hand over (`sluice server --api-only`, or tasks asking for `workerTags:` the
//! server lacks) and those whose node died, drives them, and answers health and metrics only.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::node::{Front, NodeArgs};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The address of `/healthz`, `/readyz` and `/metrics`; port 0 picks a free one (printed
    /// on stderr).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub node: NodeArgs,
}

pub async fn run(args: WorkerArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    super::node::run(args.node, args.bind, Front::Worker, data_dir).await
}
