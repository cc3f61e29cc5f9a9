//! The small policy blocks: `retry`, `allow`, `limits` and the flow's `concurrency`.

use super::keys;
use super::reader::{Node, Reader, is_template};
use crate::diagnostic::Diagnostic;
use crate::model::{
    Allow, Concurrency, ConcurrencyBehavior, Retry, RetryKind, SECRET_ENV_PREFIX, TaskLimits,
};

const RETRY_KINDS: [(&str, RetryKind); 3] = [
    ("constant", RetryKind::Constant),
    ("exponential", RetryKind::Exponential),
    ("random", RetryKind::Random),
];

/// `context` names the block in messages: "`retry` of task `build`".
pub fn retry(r: &mut Reader, node: &Node<'_>, context: &str) -> Option<Retry> {
    let fields = r.mapping(node, "a retry policy (a mapping with `type`, `maxAttempts` and `interval`)")?;
    r.unknown_keys(&fields, &keys::RETRY, context);
    let kind = r
        .require(&fields, "type", context, "choose `constant`, `exponential` or `random`")
        .and_then(|n| r.choice(&n, "retry type", &RETRY_KINDS));
    let max_attempts = r
        .require(&fields, "maxAttempts", context, "say how many attempts in total, the first included")
        .and_then(|n| r.count(&n, 1));
    let interval = r
        .require(&fields, "interval", context, "say how long to wait between attempts, as in `interval: 10s`")
        .and_then(|n| r.duration(&n));
    let max_interval = fields.get("maxInterval").and_then(|n| r.duration(&n));
    let max_duration = fields.get("maxDuration").and_then(|n| r.positive_duration(&n));
    let factor = fields.get("factor").and_then(|n| r.number(&n));
    let kind = kind?;

    if fields.has("factor") && kind != RetryKind::Exponential {
        r.report(Diagnostic::at_key(fields.at("factor"), "`factor` applies only to `exponential` retries"));
    }
    if let Some(factor) = factor
        && factor < 1.0
    {
        r.report(Diagnostic::at(fields.at("factor"), format!("`factor` must be at least 1, found {factor}")));
    }
    if fields.has("maxInterval") && kind == RetryKind::Constant {
        r.report(
            Diagnostic::at_key(
                fields.at("maxInterval"),
                "`maxInterval` applies only to `exponential` and `random` retries",
            )
            .with_hint("a `constant` retry always waits `interval`"),
        );
    }
    if kind == RetryKind::Random && !fields.has("maxInterval") {
        r.report(
            Diagnostic::at(&fields.pointer, format!("missing key `maxInterval` in {context}"))
                .with_hint("a `random` retry waits between `interval` and `maxInterval`"),
        );
    }
    if let (Some(min), Some(max)) = (interval, max_interval)
        && max < min
    {
        r.report(Diagnostic::at(
            fields.at("maxInterval"),
            format!(
                "`maxInterval` ({}) is shorter than `interval` ({})",
                humantime::format_duration(max),
                humantime::format_duration(min)
            ),
        ));
    }
    Some(Retry {
        kind,
        max_attempts: max_attempts?,
        interval: interval?,
        max_interval,
        max_duration,
        factor: factor.unwrap_or(2.0),
    })
}

pub fn allow(r: &mut Reader, node: &Node<'_>, task: &str) -> Option<Allow> {
    let fields = r.mapping(node, "a mapping of capability grants (`network`, `docker`, `env`, `secrets`)")?;
    r.unknown_keys(&fields, &keys::ALLOW, &format!("`allow` of {task}"));
    let network = fields.get("network").and_then(|n| r.strings(&n, "a list of origins")).unwrap_or_default();
    for (i, origin) in network.iter().enumerate() {
        if is_template(origin) {
            // Grants are read before anything renders, and must be reviewable as written.
            r.report(
                Diagnostic::at(
                    format!("{}/{i}", fields.at("network")),
                    format!("`{origin}` is a template; network grants cannot be"),
                )
                .with_hint("write the origin itself; a task's grants are fixed when the flow is deployed"),
            );
            continue;
        }
        if let Err(reason) = check_origin(origin) {
            r.report(
                Diagnostic::at(format!("{}/{i}", fields.at("network")), format!("invalid network origin `{origin}`: {reason}"))
                    .with_hint("write `scheme://host[:port]`, as in `https://api.example.com` or `https://*.example.com:8443`"),
            );
        }
    }
    let env = fields
        .get("env")
        .and_then(|n| r.strings(&n, "a list of environment variable names"))
        .unwrap_or_default();
    for (i, name) in env.iter().enumerate() {
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            r.report(Diagnostic::at(
                format!("{}/{i}", fields.at("env")),
                format!("invalid environment variable name `{name}`"),
            ));
        } else if let Some(secret) = name.strip_prefix(SECRET_ENV_PREFIX) {
            // These hold secrets: as plain env they would reach the plugin unredacted.
            r.report(
                Diagnostic::at(
                    format!("{}/{i}", fields.at("env")),
                    format!("`{name}` holds a secret; secrets are not granted as environment variables"),
                )
                .with_hint(format!(
                    "grant it with `allow: {{secrets: [{secret}]}}` and pass it in the config as `{{{{ secret('{secret}') }}}}`, so it is redacted everywhere"
                )),
            );
        }
    }
    Some(Allow {
        network,
        docker: fields.get("docker").and_then(|n| r.bool(&n)).unwrap_or(false),
        env,
        secrets: fields
            .get("secrets")
            .and_then(|n| r.strings(&n, "a list of secret names"))
            .unwrap_or_default(),
    })
}

/// The shape the sandbox accepts: `scheme://host[:port]` with `*` wildcards; HTTP origins
/// (`http`, `https`, `*`) or TCP destinations (`smtp`, `smtps`, `tcp`, the last with a port).
fn check_origin(origin: &str) -> Result<(), &'static str> {
    let (scheme, rest) = origin.split_once("://").ok_or("it has no `://`")?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https" | "*" | "smtp" | "smtps" | "tcp") {
        return Err("the scheme must be `http`, `https` or `*` (or, for TCP, `smtp`, `smtps` or `tcp`)");
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err("an origin has no path, query, fragment or user info");
    }
    let (host, port) = match rest.strip_prefix('[') {
        // An IPv6 address: `[::1]:8080`.
        Some(bracketed) => {
            let (address, after) = bracketed.split_once(']').ok_or("the host is malformed")?;
            match after {
                "" => (address, None),
                after => (address, Some(after.strip_prefix(':').ok_or("the host is malformed")?)),
            }
        }
        None => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    if host.is_empty() {
        return Err("the host is missing");
    }
    if scheme == "tcp" && port.is_none() {
        return Err("a `tcp://` destination names its port, as in `tcp://host:6379`");
    }
    let wildcard_ok =
        host == "*" || host.strip_prefix("*.").is_some_and(|rest| !rest.is_empty() && !rest.contains('*'));
    if host.contains('*') && !wildcard_ok {
        return Err("`*` may only stand for whole leading labels, as in `*.example.com`");
    }
    if let Some(port) = port
        && port != "*"
        && port.parse::<u16>().is_err()
    {
        return Err("the port must be a number or `*`");
    }
    Ok(())
}

pub fn limits(r: &mut Reader, node: &Node<'_>, task: &str) -> Option<TaskLimits> {
    let fields = r.mapping(node, "a mapping of limits (`memory`, `output`, `log`, `disk`)")?;
    r.unknown_keys(&fields, &keys::LIMITS, &format!("`limits` of {task}"));
    Some(TaskLimits {
        memory: fields.get("memory").and_then(|n| r.size(&n)),
        output: fields.get("output").and_then(|n| r.size(&n)),
        log: fields.get("log").and_then(|n| r.size(&n)),
        disk: fields.get("disk").and_then(|n| r.size(&n)),
    })
}

const BEHAVIORS: [(&str, ConcurrencyBehavior); 3] = [
    ("queue", ConcurrencyBehavior::Queue),
    ("cancel", ConcurrencyBehavior::Cancel),
    ("fail", ConcurrencyBehavior::Fail),
];

pub fn concurrency(r: &mut Reader, node: &Node<'_>) -> Option<Concurrency> {
    let fields = r.mapping(node, "a mapping with `limit` and `behavior`")?;
    let context = "the flow's `concurrency`";
    r.unknown_keys(&fields, &keys::CONCURRENCY, context);
    let limit = r
        .require(&fields, "limit", context, "say how many executions of this flow may run at once")
        .and_then(|n| r.count(&n, 1));
    let behavior = match fields.get("behavior") {
        Some(n) => r.choice(&n, "concurrency behavior", &BEHAVIORS)?,
        None => ConcurrencyBehavior::Queue,
    };
    Some(Concurrency { limit: limit?, behavior })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::check_origin;

    #[test]
    fn origins() {
        assert_eq!(check_origin("https://api.example.com"), Ok(()));
        assert_eq!(check_origin("https://*.example.com:8443"), Ok(()));
        assert_eq!(check_origin("http://127.0.0.1:*"), Ok(()));
        assert_eq!(check_origin("*://[::1]:80"), Ok(()));
        assert_eq!(check_origin("http://[::1]"), Ok(()));
        assert_eq!(check_origin("api.example.com"), Err("it has no `://`"));
        assert_eq!(
            check_origin("ftp://x"),
            Err("the scheme must be `http`, `https` or `*` (or, for TCP, `smtp`, `smtps` or `tcp`)")
        );
        assert_eq!(check_origin("smtp://mail.example.com:587"), Ok(()));
        assert_eq!(check_origin("smtps://mail.example.com"), Ok(()));
        assert_eq!(check_origin("tcp://10.0.0.1:6379"), Ok(()));
        assert_eq!(
            check_origin("tcp://10.0.0.1"),
            Err("a `tcp://` destination names its port, as in `tcp://host:6379`")
        );
        assert_eq!(
            check_origin("https://x.com/path"),
            Err("an origin has no path, query, fragment or user info")
        );
        assert_eq!(check_origin("https://x.com:port"), Err("the port must be a number or `*`"));
        assert_eq!(check_origin("https://"), Err("the host is missing"));
        assert_eq!(
            check_origin("https://foo*.com"),
            Err("`*` may only stand for whole leading labels, as in `*.example.com`")
        );
        assert_eq!(check_origin("https://*"), Ok(()));
    }
}
