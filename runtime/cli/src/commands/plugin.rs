//! `sluice plugin list | describe`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use sluice_sandbox::Plugin;

use crate::catalog::{self, Catalog};
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
    let catalog = Catalog::load(data_dir).await?;
    if json {
        let rows: Vec<_> = catalog
            .plugins
            .iter()
            .map(|(p, origin)| {
                serde_json::json!({
                    "name": p.info().name,
                    "version": p.info().version,
                    "digest": p.digest().to_string(),
                    "source": catalog::describe_origin(origin),
                    "tasks": p.info().tasks.iter().map(|t| format!("{}.{}", p.info().name, t.name)).collect::<Vec<_>>(),
                })
            })
            .collect();
        return crate::output::print(&serde_json::to_string_pretty(&rows)?);
    }
    let mut out = String::new();
    writeln!(out, "{:<12} {:<10} {:<20} {:<10} TASKS", "NAME", "VERSION", "DIGEST", "SOURCE")?;
    for (plugin, origin) in &catalog.plugins {
        let info = plugin.info();
        let tasks: Vec<&str> = info.tasks.iter().map(|t| t.name.as_str()).collect();
        let digest = plugin.digest().to_string();
        let short = &digest[..digest.len().min(19)];
        let source = match origin {
            catalog::Origin::Builtin => "built-in".to_string(),
            catalog::Origin::File(path) => path.display().to_string(),
        };
        writeln!(
            out,
            "{:<12} {:<10} {:<20} {:<10} {}",
            info.name,
            shown(&info.version),
            short,
            source,
            tasks.join(", ")
        )?;
    }
    crate::output::print(&out)
}

async fn describe(data_dir: &Path, which: &str, json: bool) -> anyhow::Result<()> {
    let looks_like_file = which.ends_with(".wasm") || which.contains(std::path::MAIN_SEPARATOR);
    let (plugin, source) = if looks_like_file {
        let sandbox = Catalog::sandbox(data_dir)?;
        (catalog::load_file(&sandbox, Path::new(which)).await?, which.to_string())
    } else {
        let catalog = Catalog::load(data_dir).await?;
        let (plugin, origin) = catalog.find(which).with_context(|| {
            let names: Vec<&str> = catalog.plugins.iter().map(|(p, _)| p.info().name.as_str()).collect();
            format!(
                "no plugin named `{which}` is installed (installed: {}); to describe a component file, pass its path ending in .wasm",
                names.join(", ")
            )
        })?;
        (plugin.clone(), catalog::describe_origin(origin))
    };
    if json {
        let mut doc = serde_json::to_value(plugin.info())?;
        doc["digest"] = plugin.digest().to_string().into();
        crate::output::print(&serde_json::to_string_pretty(&doc)?)
    } else {
        crate::output::print(&description(&plugin, &source)?)
    }
}

fn description(plugin: &Plugin, source: &str) -> anyhow::Result<String> {
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
