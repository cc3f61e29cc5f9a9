//! `sluice token create|list|revoke`: API tokens, made and revoked on the servers' database
//! directly (who can open the database is an admin already). A token is printed once, when it
//! is made; the database keeps its hash.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use sluice_governance::{GovernanceStore, Grant, Grants, NamespacePattern, NewAuditEntry, NewToken, Role};
use sluice_server::ServerStore;

use super::node::open_store;

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// The servers' database (`postgres://...`, default `$SLUICE_DATABASE_URL`); unset, the
    /// embedded SQLite file under the data dir.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it (once: only its hash is kept).
    Create(CreateArgs),
    /// List the tokens (names, grants, expiry; never the tokens).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke the live token of this name. Servers stop taking it within 5 s.
    Revoke {
        name: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What the token is for (`ci`, `alice`): unique among live tokens, named in the audit log.
    #[arg(long)]
    pub name: String,
    /// viewer, runner, editor or admin; repeat for several (each with its --namespace).
    #[arg(long, value_name = "ROLE", value_parser = Role::parse)]
    pub role: Vec<Role>,
    /// The namespaces of the --role given at the same place: `*`, `acme.*` (acme and below) or
    /// `acme.web`. One --namespace applies to every --role; none means `*`.
    #[arg(long, value_name = "PATTERN", value_parser = NamespacePattern::parse)]
    pub namespace: Vec<NamespacePattern>,
    /// A grant as `role:pattern` (`editor:acme.*`), repeatable, beside --role/--namespace.
    #[arg(long, value_name = "ROLE:PATTERN", value_parser = Grant::parse)]
    pub grant: Vec<Grant>,
    /// How long it lives (`90d`, `12h`); unset, until revoked.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// The grants of `--role`/`--namespace`/`--grant`.
fn grants(args: &CreateArgs) -> anyhow::Result<Grants> {
    let mut grants = args.grant.clone();
    let namespaces = &args.namespace;
    if namespaces.len() > 1 && namespaces.len() != args.role.len() {
        anyhow::bail!(
            "{} --role and {} --namespace: give one --namespace for all roles, or one per --role",
            args.role.len(),
            namespaces.len()
        );
    }
    if args.role.is_empty() && !namespaces.is_empty() {
        anyhow::bail!("--namespace needs a --role to grant over it");
    }
    for (i, role) in args.role.iter().enumerate() {
        let namespace = match namespaces.len() {
            0 => NamespacePattern::everything(),
            1 => namespaces[0].clone(),
            _ => namespaces[i].clone(),
        };
        grants.push(Grant { role: *role, namespace });
    }
    if grants.is_empty() {
        anyhow::bail!("give the token a role: --role viewer|runner|editor|admin [--namespace 'acme.*']");
    }
    Ok(Grants(grants))
}

/// Who the audit log names for a command run on the database.
fn actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned()))
}

async fn audit(
    store: &ServerStore,
    action: &str,
    target: String,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let entry = NewAuditEntry::now(actor(), action, target, details);
    store.append_audit(entry).await.context("recording it in the audit log")?;
    Ok(())
}

pub async fn run(command: TokenCommand, data_dir: &Path) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create(args) => {
            let grants = grants(&args)?;
            let now = chrono::Utc::now();
            let expires_at = match &args.expires {
                Some(text) => Some(
                    sluice_server::token_expiry(now, text).map_err(|e| anyhow::anyhow!("--expires: {e}"))?,
                ),
                None => None,
            };
            let made = NewToken::generate(&args.name, grants, now, expires_at).map_err(anyhow::Error::msg)?;
            let store = open_store(args.db.database.as_deref(), data_dir).await?;
            store.create_token(&made.record).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let details = json!({"grants": made.record.grants, "expiresAt": expires_at});
            audit(&store, "token.create", format!("token:{}", made.record.name), details).await?;
            store.close().await;
            let held: Vec<String> = made.record.grants.0.iter().map(ToString::to_string).collect();
            eprintln!("made token `{}` ({}); it is shown this once:", made.record.name, held.join(", "));
            println!("{}", made.token);
        }
        TokenCommand::List { json, db } => {
            let store = open_store(db.database.as_deref(), data_dir).await?;
            let tokens = store.tokens().await?;
            store.close().await;
            if json {
                let docs: Vec<_> = tokens.iter().map(sluice_server::token_document).collect();
                println!("{}", serde_json::to_string_pretty(&docs)?);
                return Ok(ExitCode::SUCCESS);
            }
            let now = chrono::Utc::now();
            println!("{:<24} {:<10} {:<25} {:<25} GRANTS", "NAME", "STATE", "CREATED", "EXPIRES");
            for token in &tokens {
                let state = match (token.revoked_at, token.is_live(now)) {
                    (Some(_), _) => "revoked",
                    (None, false) => "expired",
                    (None, true) => "live",
                };
                let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                let grants: Vec<String> = token.grants.0.iter().map(ToString::to_string).collect();
                println!(
                    "{:<24} {:<10} {:<25} {:<25} {}",
                    token.name,
                    state,
                    time(token.created_at),
                    token.expires_at.map_or("never".to_owned(), time),
                    grants.join(", ")
                );
            }
        }
        TokenCommand::Revoke { name, db } => {
            let store = open_store(db.database.as_deref(), data_dir).await?;
            if !store.revoke_token(&name, chrono::Utc::now()).await? {
                store.close().await;
                eprintln!("error: no live token named `{name}` (see `sluice token list`)");
                return Ok(ExitCode::FAILURE);
            }
            audit(&store, "token.revoke", format!("token:{name}"), json!({})).await?;
            store.close().await;
            eprintln!("revoked token `{name}`; servers stop taking it within 5 s");
        }
    }
    Ok(ExitCode::SUCCESS)
}
