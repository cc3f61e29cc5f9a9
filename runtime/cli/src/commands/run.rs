//! `sluice run flow.yaml`: one execution on the embedded store, with live progress or one JSON
//! document. Exit code 0 on SUCCESS/WARNING, 1 on failure, 2 on an invalid flow or inputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use sluice_engine::document::execution_document;
use sluice_engine::scheduler::{Keeper, Plugins, StartError, StartRequest};
use sluice_engine::setup::{self, EngineBuilder};
use sluice_engine::{ExecutionState, Store};
use sluice_flow::inputs::RawInput;
use sluice_store::SqliteStore;

use crate::progress::Progress;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The flow file (YAML).
    pub flow: PathBuf,
    /// An input of the flow, `key=value`; repeat for more.
    #[arg(long = "input", short = 'i', value_name = "KEY=VALUE")]
    pub inputs: Vec<String>,
    /// Print one JSON document with the result instead of progress lines.
    #[arg(long)]
    pub json: bool,
    /// The Docker Engine for `docker` tasks: `unix:///path` or `tcp://host:port` (default
    /// `$DOCKER_HOST`, else `unix:///var/run/docker.sock`).
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
}

/// Exit code for an invalid flow or invalid inputs.
const INVALID: u8 = 2;

/// `state_dir`: where the store and workspaces go (`--data-dir`), or None for a temporary
/// directory removed afterwards. Plugins and the compiled-component cache always come from
/// `plugin_dir`, so a one-shot run still starts warm.
pub async fn run(args: RunArgs, state_dir: Option<&Path>, plugin_dir: &Path) -> anyhow::Result<ExitCode> {
    let text = match std::fs::read_to_string(&args.flow) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", args.flow.display());
            return Ok(ExitCode::from(INVALID));
        }
    };
    let inputs = match parse_inputs(&args.inputs) {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(INVALID));
        }
    };
    let docker = setup::docker_endpoint(args.docker_host.as_deref())?;
    let file_name = args.flow.display().to_string();
    // A one-shot run loads only the built-in plugins its flow uses (each is a few ms to read).
    let needed = setup::builtins_needed(&file_name, &text);
    let installed = EngineBuilder::load_with(plugin_dir, docker, needed.as_ref()).await?;
    let locked = match sluice_flow::load(&file_name, &text, installed.plugins()) {
        Ok(locked) => locked,
        Err(diagnostics) => {
            eprint!("{}", sluice_flow::render(&diagnostics, &file_name, &text));
            return Ok(ExitCode::from(INVALID));
        }
    };

    let temp;
    let state_dir = match state_dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("sluice-run-")
                .tempdir()
                .context("creating a temporary data dir")?;
            temp.path().to_path_buf()
        }
    };
    let store = Arc::new(SqliteStore::open(&state_dir.join("sluice.db")).await.context("opening the store")?);
    let flow = &locked.flow;
    let saved = store.save_flow(&flow.namespace, &flow.id, &text).await?;
    deploy_subflows(&store, &args.flow, flow, installed.plugins()).await?;

    let engine = installed.build(store.clone(), &state_dir)?;
    // Renews the run's leases through long tasks, so a server on the same data dir never
    // takes the run's execution for abandoned.
    let _keeper = engine.keep_leases(Keeper::RenewOnly);
    let progress = (!args.json).then(|| Progress::start(engine.subscribe()));
    let request = StartRequest {
        flow: locked,
        revision: saved.revision,
        inputs,
        labels: BTreeMap::new(),
        trigger: Some(json!({"type": "cli"})),
        parent: None,
    };
    let handle = match engine.start(request).await {
        Ok(handle) => handle,
        Err(StartError::Inputs(errors)) => {
            eprintln!("error: invalid inputs for {file_name}:");
            for error in errors {
                eprintln!("  {error}");
            }
            return Ok(ExitCode::from(INVALID));
        }
        Err(StartError::Disabled(flow)) => {
            eprintln!(
                "error: flow {flow} is disabled (`disabled: true` in {file_name}); enable it to run it"
            );
            return Ok(ExitCode::from(INVALID));
        }
        Err(other) => return Err(other.into()),
    };
    let execution_id = handle.id.clone();
    let finished = handle.finished();
    tokio::pin!(finished);
    // Ctrl-C kills the execution (running tasks are stopped, their runs recorded KILLED)
    // instead of leaving it half-done in the store.
    let record = tokio::select! {
        record = &mut finished => record,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: killing execution {execution_id}");
            engine.kill(&execution_id);
            finished.await
        }
    };
    let done = record.context("the execution stopped without a final state")?;
    let (record, runs) = (&done.record, &done.task_runs);
    if let Some(progress) = progress {
        progress.finish(record, runs).await;
    } else {
        println!("{}", serde_json::to_string_pretty(&execution_document(record, runs))?);
    }
    let _ = engine.sweep_workspaces_every(setup::WORKSPACE_SWEEP_EVERY).await;
    Ok(match record.state {
        ExecutionState::Success | ExecutionState::Warning => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

fn parse_inputs(pairs: &[String]) -> Result<BTreeMap<String, RawInput>, String> {
    let mut inputs = BTreeMap::new();
    for pair in pairs {
        let (key, value) =
            pair.split_once('=').ok_or_else(|| format!("--input `{pair}` must be `key=value`"))?;
        if inputs.insert(key.to_owned(), RawInput::Text(value.to_owned())).is_some() {
            return Err(format!("--input `{key}` is given twice"));
        }
    }
    Ok(inputs)
}

/// Stores the flows this one starts as subflows (transitively), found among the YAML files
/// beside it, so `flow.subflow` resolves in a one-shot run.
async fn deploy_subflows(
    store: &SqliteStore,
    path: &Path,
    flow: &sluice_flow::Flow,
    plugins: &Plugins,
) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut wanted: Vec<(String, String)> = subflow_refs(flow);
    if wanted.is_empty() {
        return Ok(());
    }
    let mut siblings = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(locked) = sluice_flow::load(&path.display().to_string(), &text, plugins)
        {
            siblings.push((locked.flow.clone(), text));
        }
    }
    let mut deployed = Vec::new();
    while let Some((namespace, id)) = wanted.pop() {
        if deployed.contains(&(namespace.clone(), id.clone())) {
            continue;
        }
        if let Some((child, text)) = siblings.iter().find(|(f, _)| f.namespace == namespace && f.id == id) {
            store.save_flow(&namespace, &id, text).await?;
            wanted.extend(subflow_refs(child));
        }
        deployed.push((namespace, id));
    }
    Ok(())
}

fn subflow_refs(flow: &sluice_flow::Flow) -> Vec<(String, String)> {
    flow.all_tasks()
        .into_iter()
        .filter_map(|t| match &t.kind {
            sluice_flow::TaskKind::Subflow { namespace, flow_id, .. } => {
                Some((namespace.clone(), flow_id.clone()))
            }
            _ => None,
        })
        .collect()
}
