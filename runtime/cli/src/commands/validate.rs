//! `sluice validate <flow.yaml>...`: parse and validate flow files against the installed
//! plugins, printing compiler-style diagnostics.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use sluice_engine::setup::EngineBuilder;

/// Exit code when a flow has errors (or cannot be read).
const INVALID: u8 = 2;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The flow files to check.
    #[arg(required = true, value_name = "FLOW")]
    flows: Vec<PathBuf>,
}

/// Each valid file gets a line on stdout; the problems of the others go to stderr.
pub async fn run(args: ValidateArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let installed = EngineBuilder::load(data_dir).await?;
    let mut valid = String::new();
    let mut invalid = String::new();
    for path in &args.flows {
        let file_name = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) => {
                separate(&mut invalid);
                writeln!(invalid, "{file_name}: error: cannot read the file: {err}")?;
                continue;
            }
        };
        match sluice_flow::load(&file_name, &text, installed.plugins()) {
            Ok(locked) => {
                let tasks = locked.flow.all_tasks().len();
                let plural = if tasks == 1 { "" } else { "s" };
                writeln!(
                    valid,
                    "{file_name}: ok ({}.{}, {tasks} task{plural})",
                    locked.flow.namespace, locked.flow.id
                )?;
            }
            Err(diagnostics) => {
                separate(&mut invalid);
                invalid.push_str(&sluice_flow::render(&diagnostics, &file_name, &text));
            }
        }
    }
    if !valid.is_empty() {
        crate::output::print(&valid)?;
    }
    if invalid.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprint!("{invalid}");
    Ok(ExitCode::from(INVALID))
}

/// A blank line between the reports of two files.
fn separate(report: &mut String) {
    if !report.is_empty() {
        report.push('\n');
    }
}
