//! `sluice audit verify|export`: the audit log on the servers' database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use sluice_governance::audit::Verifier;
use sluice_governance::{AuditFilter, GovernanceStore};

use super::node::open_store;
use super::token::DatabaseArgs;

/// Entries read at once.
const PAGE: u32 = 10_000;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain from the first entry; name the first one altered, removed or moved.
    /// Exit code 0 when it holds (the head is printed: keep it to check later that nothing
    /// was cut off the end), 1 when it is broken.
    Verify {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Write the entries as JSON lines, oldest first.
    Export {
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Only this actor's entries (`token:ci`, `trigger:acme.build/nightly`).
        #[arg(long)]
        actor: Option<String>,
        /// Only this action (`flow.update`), or a kind ending with a dot (`execution.`).
        #[arg(long)]
        action: Option<String>,
        /// Only entries numbered above this one.
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

pub async fn run(command: AuditCommand, data_dir: &Path) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { db } => {
            let store = open_store(db.database.as_deref(), data_dir).await?;
            let mut verifier = Verifier::default();
            let mut after = 0;
            loop {
                let filter =
                    AuditFilter { after_seq: Some(after), limit: Some(PAGE), ..AuditFilter::default() };
                let page = store.audit_entries(&filter).await?;
                for entry in &page {
                    if let Err(broken) = verifier.check(entry) {
                        store.close().await;
                        eprintln!("error: the audit log is broken at {broken}");
                        return Ok(ExitCode::FAILURE);
                    }
                }
                match page.last() {
                    Some(last) if page.len() == PAGE as usize => after = last.seq,
                    _ => break,
                }
            }
            store.close().await;
            match verifier.head() {
                Some((seq, hash)) => println!("the audit log holds: {seq} entries, head {seq} {hash}"),
                None => println!("the audit log is empty"),
            }
        }
        AuditCommand::Export { output, actor, action, after, db } => {
            let store = open_store(db.database.as_deref(), data_dir).await?;
            let mut out: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut after = after.unwrap_or(0);
            loop {
                let filter = AuditFilter {
                    after_seq: Some(after),
                    actor: actor.clone(),
                    action: action.clone(),
                    limit: Some(PAGE),
                    ..AuditFilter::default()
                };
                let page = store.audit_entries(&filter).await?;
                for entry in &page {
                    writeln!(out, "{}", entry.to_json())?;
                }
                match page.last() {
                    Some(last) if page.len() == PAGE as usize => after = last.seq,
                    _ => break,
                }
            }
            out.flush()?;
            store.close().await;
        }
    }
    Ok(ExitCode::SUCCESS)
}
