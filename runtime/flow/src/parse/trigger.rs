//! Triggers: `schedule` (cron), `webhook` and `flow` (another flow's execution ended).

use std::str::FromStr;

use super::keys;
use super::reader::{Fields, Node, Reader, is_template};
use crate::diagnostic::Diagnostic;
use crate::model::{RecoverMissed, Trigger, TriggerKind, WebhookSignature};
use crate::suggest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Schedule,
    Webhook,
    Flow,
}

const TYPES: [(&str, Type); 3] =
    [("schedule", Type::Schedule), ("webhook", Type::Webhook), ("flow", Type::Flow)];

const RECOVER_MISSED: [(&str, RecoverMissed); 3] =
    [("all", RecoverMissed::All), ("last", RecoverMissed::Last), ("none", RecoverMissed::None)];

/// What a schedule does about the runs it missed while the server was down, when not set.
pub const DEFAULT_RECOVER_MISSED: RecoverMissed = RecoverMissed::Last;

pub fn list(r: &mut Reader, node: &Node<'_>) -> Vec<Trigger> {
    let Some(items) = r.list(node, "a list of triggers") else { return Vec::new() };
    items.iter().filter_map(|item| trigger(r, item)).collect()
}

fn trigger(r: &mut Reader, node: &Node<'_>) -> Option<Trigger> {
    let fields = r.mapping(node, "a trigger (a mapping with `id` and `type`)")?;
    let id = r
        .require(&fields, "id", "this trigger", "name the trigger, as in `id: nightly`")
        .and_then(|n| r.id(&n, "trigger"));
    let context = match &id {
        Some(id) => format!("trigger `{id}`"),
        None => "this trigger".to_string(),
    };
    let kind_type = r
        .require(&fields, "type", &context, "choose `schedule`, `webhook` or `flow`")
        .and_then(|n| r.choice(&n, "trigger type", &TYPES));
    if let Some(kind_type) = kind_type {
        let (name, extra) = keys::TRIGGER_KINDS[TYPES.iter().position(|(_, t)| *t == kind_type).unwrap_or(0)];
        r.unknown_keys(
            &fields,
            &keys::joined(&keys::TRIGGER_COMMON, extra),
            &format!("{context} (`{name}`)"),
        );
    }
    let description = fields.get("description").and_then(|n| r.string(&n, "a description (a string)"));
    let disabled = fields.get("disabled").and_then(|n| r.bool(&n)).unwrap_or(false);
    let inputs = fields
        .get("inputs")
        .and_then(|n| r.mapping(&n, "a mapping of the flow's input ids to values"))
        .map(|m| m.map.clone())
        .unwrap_or_default();
    let kind = match kind_type? {
        Type::Schedule => schedule(r, &fields, &context),
        Type::Webhook => webhook(r, &fields, &context),
        Type::Flow => flow(r, &fields, &context),
    }?;
    Some(Trigger { id: id?, description, disabled, kind, inputs, pointer: node.pointer.clone() })
}

fn schedule(r: &mut Reader, fields: &Fields<'_>, context: &str) -> Option<TriggerKind> {
    let cron = r
        .require(fields, "cron", context, "say when to run, as in `cron: \"0 3 * * *\"` (every day at 03:00)")
        .and_then(|n| {
            let cron = r.string(&n, "a cron expression like `0 3 * * *`")?;
            if let Err(reason) = check_cron(&cron) {
                r.report(
                    Diagnostic::at(&n.pointer, format!("invalid cron expression `{cron}`: {reason}")).with_hint(
                        "write five fields, `minute hour day-of-month month day-of-week` (as in `0 3 * * 1-5`), \
                         or six with seconds first",
                    ),
                );
            }
            Some(cron)
        });
    let timezone = fields.get("timezone").and_then(|n| {
        let name = r.string(&n, "an IANA time zone name like `Europe/Paris`")?;
        if chrono_tz::Tz::from_str(&name).is_err() {
            let diagnostic = Diagnostic::at(&n.pointer, format!("unknown time zone `{name}`"));
            r.report(match suggest::did_you_mean(&name, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())) {
                Some(hint) => diagnostic.with_hint(hint),
                None => diagnostic.with_hint("use an IANA time zone name like `Europe/Paris` or `UTC`"),
            });
        }
        Some(name)
    });
    let recover_missed = match fields.get("recoverMissed") {
        Some(n) => r.choice(&n, "`recoverMissed` value", &RECOVER_MISSED)?,
        None => DEFAULT_RECOVER_MISSED,
    };
    Some(TriggerKind::Schedule { cron: cron?, timezone, recover_missed })
}

/// Five fields, or six with seconds first; `@daily` and friends too.
pub fn check_cron(cron: &str) -> Result<(), String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(cron)
        .map(|_| ())
        .map_err(|err| err.to_string().trim_end_matches('.').to_string())
}

fn webhook(r: &mut Reader, fields: &Fields<'_>, context: &str) -> Option<TriggerKind> {
    let key = r
        .require(
            fields,
            "key",
            context,
            "set the secret part of the webhook's URL, as in `key: 4wjtkzwVGBM9yKnjm3yv8r`",
        )
        .and_then(|n| {
            let key = r.string(&n, "a key (a string)")?;
            let url_safe =
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !url_safe && !is_template(&key) {
                r.report(
                    Diagnostic::at(&n.pointer, format!("invalid webhook key `{key}`"))
                        .with_hint("the key is part of a URL: use letters, digits, `_` and `-`"),
                );
            }
            Some(key)
        });
    let signature = match fields.get("signature") {
        Some(n) => Some(signature(r, &n, context)?),
        None => None,
    };
    Some(TriggerKind::Webhook { key: key?, signature })
}

fn signature(r: &mut Reader, node: &Node<'_>, context: &str) -> Option<WebhookSignature> {
    let fields = r.mapping(node, "a mapping with `type` (`github` or `gitlab`) and `secret`")?;
    let context = format!("`signature` of {context}");
    r.unknown_keys(&fields, &keys::SIGNATURE, &context);
    #[derive(Clone, Copy)]
    enum Scheme {
        Github,
        Gitlab,
    }
    let scheme = r.require(&fields, "type", &context, "choose `github` or `gitlab`").and_then(|n| {
        r.choice(&n, "signature type", &[("github", Scheme::Github), ("gitlab", Scheme::Gitlab)])
    });
    let secret = r
        .require(&fields, "secret", &context, "name the secret that holds the webhook's signing key")
        .and_then(|n| r.string(&n, "a secret name (a string)"));
    let secret = secret?;
    Some(match scheme? {
        Scheme::Github => WebhookSignature::Github { secret },
        Scheme::Gitlab => WebhookSignature::Gitlab { secret },
    })
}

fn flow(r: &mut Reader, fields: &Fields<'_>, context: &str) -> Option<TriggerKind> {
    let namespace = r
        .require(fields, "namespace", context, "name the namespace of the flow to follow")
        .and_then(|n| r.namespace(&n));
    let flow_id = r.require(fields, "flowId", context, "name the flow to follow").and_then(|n| r.flow_id(&n));
    let states = match fields.get("states") {
        None => keys::TERMINAL_STATES.iter().map(|s| s.to_string()).collect(),
        Some(n) => {
            let states = r.strings(&n, "a list of execution states")?;
            for (i, state) in states.iter().enumerate() {
                if !keys::TERMINAL_STATES.contains(&state.as_str()) {
                    let diagnostic = Diagnostic::at(
                        crate::pointer::index(&n.pointer, i),
                        format!(
                            "unknown execution state `{state}`; expected one of {}",
                            suggest::list(keys::TERMINAL_STATES)
                        ),
                    );
                    r.report(match suggest::did_you_mean(state, keys::TERMINAL_STATES) {
                        Some(hint) => diagnostic.with_hint(hint),
                        None => diagnostic,
                    });
                }
            }
            states
        }
    };
    Some(TriggerKind::Flow { namespace: namespace?, flow_id: flow_id?, states })
}
