//! `sluice plugin list | describe`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use sluice_engine::document::{plugin_document, plugin_summary};
use sluice_engine::setup::{self, EngineBuilder, Origin};
use sluice_sandbox::{DockerEndpoint, Plugin};

use crate::terminal::shown;

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the installed plugins: built in, and `*.wasm` files in <data-dir>/plugins.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Describe a plugin's tasks, with their config and output JSON Schemas.
    Describe {
        /// An installed plugin's name (`core`), or the path of a component file (`x.wasm`).
        plugin: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: PluginCommand, data_dir: &Path) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::List { json } => list(data_dir, json).await,
        PluginCommand::Describe { plugin, json } => describe(data_dir, &plugin, json).await,
    }
}

async fn list(data_dir: &Path, json: bool) -> anyhow::Result<()> {
    let installed = EngineBuilder::load(data_dir).await?;
    let plugins = installed.plugins();
    if json {
        let rows: Vec<_> =
            plugins.installed().map(|(plugin, origin)| plugin_summary(plugin, origin)).collect();
        return crate::output::print(&serde_json::to_string_pretty(&rows)?);
    }
    let mut out = String::new();
    writeln!(out, "{:<12} {:<10} {:<20} {:<10} TASKS", "NAME", "VERSION", "DIGEST", "SOURCE")?;
    for (plugin, origin) in plugins.installed() {
        let info = plugin.info();
        let tasks: Vec<&str> = info.tasks.iter().map(|t| t.name.as_str()).collect();
        let digest = plugin.digest().to_string();
        let short = &digest[..digest.len().min(19)];
        writeln!(
            out,
            "{:<12} {:<10} {:<20} {:<10} {}",
            info.name,
            shown(&info.version),
            short,
            origin,
            tasks.join(", ")
        )?;
    }
    crate::output::print(&out)
}

async fn describe(data_dir: &Path, which: &str, json: bool) -> anyhow::Result<()> {
    let looks_like_file = which.ends_with(".wasm") || which.contains(std::path::MAIN_SEPARATOR);
    let (plugin, origin) = if looks_like_file {
        let sandbox = setup::sandbox(data_dir, DockerEndpoint::default())?;
        (setup::load_file(&sandbox, Path::new(which)).await?, Origin::File(which.into()))
    } else {
        let installed = EngineBuilder::load(data_dir).await?;
        let plugins = installed.plugins();
        let (plugin, origin) = plugins.find(which).with_context(|| {
            let names: Vec<&str> = plugins.iter().map(|p| p.info().name.as_str()).collect();
            format!(
                "no plugin named `{which}` is installed (installed: {}); to describe a component file, pass its path ending in .wasm",
                names.join(", ")
            )
        })?;
        (plugin.clone(), origin.clone())
    };
    if json {
        crate::output::print(&serde_json::to_string_pretty(&plugin_document(&plugin, &origin))?)
    } else {
        crate::output::print(&description(&plugin, &origin)?)
    }
}

fn description(plugin: &Plugin, source: &Origin) -> anyhow::Result<String> {
    let mut out = String::new();
    let info = plugin.info();
    writeln!(out, "{} {} ({source})", info.name, shown(&info.version))?;
    writeln!(out, "digest: {}", plugin.digest())?;
    writeln!(out, "{}", shown(&info.description))?;
    for task in &info.tasks {
        writeln!(out)?;
        writeln!(out, "{}.{}", info.name, task.name)?;
        writeln!(out, "  {}", shown(&task.description))?;
        if !task.capabilities.is_empty() {
            let caps: Vec<String> = task.capabilities.iter().map(ToString::to_string).collect();
            writeln!(out, "  capabilities: {}", shown(&caps.join("; ")))?;
        }
        writeln!(out, "  config schema:")?;
        for line in serde_json::to_string_pretty(&task.config_schema)?.lines() {
            writeln!(out, "    {line}")?;
        }
        writeln!(out, "  output schema:")?;
        for line in serde_json::to_string_pretty(&task.output_schema)?.lines() {
            writeln!(out, "    {line}")?;
        }
    }
    Ok(out)
}
