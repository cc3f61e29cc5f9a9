//! The `test` plugin: guest behaviors the host tests drive, hostile ones included.
//!
//! It implements the raw [`Guest`] trait rather than `sluice_plugin::plugin!`, so tasks can
//! return what a well-behaved plugin never would (malformed JSON, huge outputs, traps).
//! Every task's contract is documented where it is implemented; host tests depend on it.

mod cleanup;
mod fs;
mod hostile;
mod net;
mod plain;
mod tcp;
mod tls;

use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_plugin::bindings::exports::sluice::plugin::task::Guest;
use sluice_plugin::bindings::sluice::plugin::types::{PluginInfo, TaskError, TaskInfo};

/// Config schema of `echo`: the one strict schema, for the host's config validation tests.
const ECHO_SCHEMA: &str =
    r#"{"type":"object","properties":{"value":{}},"required":["value"],"additionalProperties":false}"#;

/// Output schema of `emit`: the one strict output schema, for the host's output checks.
const EMIT_OUTPUT_SCHEMA: &str =
    r#"{"type":"object","properties":{"count":{"type":"integer"}},"required":["count"]}"#;

/// Every task: name and description. Config and output schemas are `{}` except `echo`'s
/// config schema and `emit`'s output schema.
const TASKS: &[(&str, &str)] = &[
    ("noop", "Returns `{}`."),
    ("echo", "Logs `echo` and returns `{\"value\": config.value}`."),
    ("emit", "Returns `config.output` as it is; its output schema wants `{count: integer}`."),
    ("read-file", "Reads `path` as text: `{ok, content}` or `{ok: false, error}`."),
    ("write-file", "Writes `content` to `path`: `{ok}` or `{ok: false, error}`."),
    ("list-dir", "Lists `path`, sorted: `{ok, entries}` or `{ok: false, error}`."),
    ("set-executable", "Sets `path` executable or not (`executable`): `{ok}` or `{ok: false, error}`."),
    ("is-executable", "Whether `path` is executable: `{ok, executable}` or `{ok: false, error}`."),
    ("fetch", "GETs `url` with the SDK client: `{status, body}`; errors as the SDK maps them."),
    ("fetch-many", "GETs `url` `times` times in a row: `{bodies}`."),
    ("spin", "Loops forever."),
    ("alloc", "Allocates 1 MiB blocks without bound."),
    ("snoop", "Reports what a previous run left in memory, then leaves `mark` behind."),
    ("recurse", "Recurses with small frames until the wasm call stack overflows."),
    ("recurse-shadow-stack", "Recurses with 1 KiB frames until the stack in linear memory runs out."),
    ("log-flood", "Logs `lines` info lines of `size` bytes (default 100)."),
    ("stdio", "Prints `stdout` lines, `partial` without newline, and `stderr` lines."),
    ("big-output", "Returns `{\"data\": \"xxx...\"}` of about `bytes` bytes."),
    ("bad-json", "Returns output that is not JSON."),
    ("trap", "Panics."),
    ("env", "Returns `{vars, cwd}`: the environment and the current directory."),
    ("say", "Logs `message` at info and returns `{message}`."),
    ("sleep", "Sleeps `ms` milliseconds."),
    ("key-by", "Returns `{byKey: {<config.key>: true}}`."),
    ("open-files", "Creates files and keeps them open, up to `count`."),
    ("fill-disk", "Grows `fill.bin` by `bytes` (`how`: write, append, set-len); `{written, error}`."),
    ("fail", "Returns the task error `kind` (invalid-config, denied, failed) with `message`."),
    ("tls-fetch", "Sets TLS trust per origin (`trust`), sleeps `sleepMs`, GETs `url`: `{status, body}`."),
    ("tls-trust", "One `set-origin-trust` call: `{ok}` or `{ok: false, kind, message}`."),
    ("tls-trust-many", "Trusts `ca` for `<prefix>1..=count` until refused: `{set, ok, kind?, message?}`."),
    (
        "tcp-talk",
        "Connects by TCP and runs `steps` (write, readLine, startTls, ...): `{ok, received, kind?, message?}`.",
    ),
    ("tcp-hold", "Opens `count` TCP connections and holds them: `{opened, ok, kind?, message?}`."),
    (
        "cleanup-then",
        "Registers `requests` for the host to send if the run is stopped, then does `then`: `{registered, ok}`.",
    ),
    ("context", "Returns `{execution}`: the `context` interface's document as JSON, or null."),
];

/// Task result with output as a JSON value, serialized by [`Component::run`].
type Outcome = Result<Value, TaskError>;

struct Component;

impl Guest for Component {
    fn describe() -> PluginInfo {
        let tasks = TASKS
            .iter()
            .map(|&(name, description)| TaskInfo {
                name: name.to_string(),
                description: description.to_string(),
                config_schema: if name == "echo" { ECHO_SCHEMA } else { "{}" }.to_string(),
                output_schema: if name == "emit" { EMIT_OUTPUT_SCHEMA } else { "{}" }.to_string(),
                capabilities: Vec::new(),
            })
            .collect();
        PluginInfo {
            name: "test".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Guest behaviors for the host's tests.".to_string(),
            tasks,
        }
    }

    fn run(task: String, config: String) -> Result<String, TaskError> {
        let config = config.as_str();
        let output = match task.as_str() {
            // Returns its text verbatim, so it bypasses JSON serialization.
            "bad-json" => return Ok("this is {not json".to_string()),
            "noop" => plain::noop(),
            "echo" => plain::echo(parse(config)?),
            "emit" => plain::emit(parse(config)?),
            "say" => plain::say(parse(config)?),
            "sleep" => plain::sleep(parse(config)?),
            "env" => plain::env(),
            "stdio" => plain::stdio(parse(config)?),
            "fail" => plain::fail(parse(config)?),
            "key-by" => plain::key_by(parse(config)?),
            "context" => plain::context(),
            "cleanup-then" => cleanup::then(parse(config)?),
            "open-files" => hostile::open_files(parse(config)?),
            "fill-disk" => hostile::fill_disk(parse(config)?),
            "read-file" => fs::read_file(parse(config)?),
            "write-file" => fs::write_file(parse(config)?),
            "list-dir" => fs::list_dir(parse(config)?),
            "set-executable" => fs::set_executable(parse(config)?),
            "is-executable" => fs::is_executable(parse(config)?),
            "fetch" => net::fetch(parse(config)?),
            "fetch-many" => net::fetch_many(parse(config)?),
            "tls-fetch" => tls::fetch(parse(config)?),
            "tls-trust" => tls::trust(parse(config)?),
            "tls-trust-many" => tls::trust_many(parse(config)?),
            "tcp-talk" => tcp::talk(parse(config)?),
            "tcp-hold" => tcp::hold(parse(config)?),
            "spin" => hostile::spin(),
            "alloc" => hostile::alloc(),
            "snoop" => hostile::snoop(parse(config)?),
            "recurse" => hostile::recurse(),
            "recurse-shadow-stack" => hostile::recurse_shadow_stack(),
            "trap" => hostile::trap(),
            "log-flood" => hostile::log_flood(parse(config)?),
            "big-output" => hostile::big_output(parse(config)?),
            other => Err(TaskError::InvalidConfig(format!("unknown task `{other}`"))),
        }?;
        Ok(output.to_string())
    }
}

/// Parse a task's config, a config error being `invalid-config`.
fn parse<T: DeserializeOwned>(config: &str) -> Result<T, TaskError> {
    serde_json::from_str(config).map_err(|err| TaskError::InvalidConfig(err.to_string()))
}

sluice_plugin::bindings::export!(Component with_types_in sluice_plugin::bindings);
