//! Raw TCP through the `tcp` interface (via the SDK): a scripted conversation, and a task that
//! holds connections open for the host's limits.

use std::io::{Read, Write};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_plugin::tcp::{self, Connection, Tls};

use crate::Outcome;

/// One step of a conversation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    /// Sends the text.
    Write(String),
    /// Sends this many bytes of `x` (past the host's per-call bound: the SDK splits them).
    WriteBytes(usize),
    /// Reads until the received text ends in `\n` (or the peer closes).
    ReadLine,
    /// Reads exactly this many bytes.
    ReadBytes(usize),
    /// Upgrades to TLS.
    StartTls,
    /// Closes the connection.
    Close,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Talk {
    host: String,
    port: u16,
    #[serde(default)]
    implicit_tls: bool,
    #[serde(default)]
    timeout_ms: u64,
    /// Trust this CA for the destination first (`tls::trust_origin(trust_origin, ca)`).
    trust_origin: Option<String>,
    ca: Option<String>,
    #[serde(default)]
    steps: Vec<Step>,
}

/// `tcp-talk` `{host, port, implicitTls?, timeoutMs?, trustOrigin?, ca?, steps: [...]}`:
/// connects and runs the steps, stopping at the first failure: `{ok, received: [text per
/// read step]}`, with `kind` and `message` of the failure when `ok` is false.
pub fn talk(config: Talk) -> Outcome {
    if let (Some(origin), Some(ca)) = (&config.trust_origin, &config.ca) {
        sluice_plugin::tls::trust_origin(origin, Some(ca), None)?;
    }
    let mut received = Vec::new();
    let tls = if config.implicit_tls { Tls::Implicit } else { Tls::None };
    let result = tcp::connect(&config.host, config.port, tls, Duration::from_millis(config.timeout_ms))
        .and_then(|mut connection| {
            config.steps.iter().try_for_each(|step| run_step(&mut connection, step, &mut received))
        });
    let mut output = outcome(result);
    output["received"] = json!(received);
    Ok(output)
}

fn run_step(connection: &mut Connection, step: &Step, received: &mut Vec<String>) -> Result<(), tcp::Error> {
    match step {
        Step::Write(text) => connection.write_all(text.as_bytes()).map_err(from_io),
        Step::WriteBytes(n) => connection.write_all(&vec![b'x'; *n]).map_err(from_io),
        Step::ReadLine => {
            let mut line = Vec::new();
            let mut byte = [0];
            while !line.ends_with(b"\n") {
                match connection.read(&mut byte).map_err(from_io)? {
                    0 => break,
                    _ => line.push(byte[0]),
                }
            }
            received.push(String::from_utf8_lossy(&line).into_owned());
            Ok(())
        }
        Step::ReadBytes(n) => {
            let mut data = vec![0; *n];
            connection.read_exact(&mut data).map_err(from_io)?;
            received.push(String::from_utf8_lossy(&data).into_owned());
            Ok(())
        }
        Step::StartTls => connection.start_tls(),
        Step::Close => {
            connection.close();
            Ok(())
        }
    }
}

fn from_io(err: std::io::Error) -> tcp::Error {
    tcp::Error::from_io(&err).cloned().unwrap_or_else(|| tcp::Error::Io(err.to_string()))
}

#[derive(Deserialize)]
pub struct Hold {
    host: String,
    port: u16,
    count: usize,
    /// Close each connection right after opening it.
    #[serde(default)]
    close: bool,
}

/// `tcp-hold` `{host, port, count, close?}`: opens `count` connections (keeping them open
/// unless `close`), stopping at the first refusal: `{opened, ok, kind?, message?}`.
pub fn hold(config: Hold) -> Outcome {
    let mut held = Vec::new();
    let mut last = Ok(());
    for _ in 0..config.count {
        match tcp::connect(&config.host, config.port, Tls::None, Duration::from_secs(10)) {
            Ok(mut connection) if config.close => {
                connection.close();
                held.push(connection);
            }
            Ok(connection) => held.push(connection),
            Err(err) => {
                last = Err(err);
                break;
            }
        }
    }
    let mut output = outcome(last);
    output["opened"] = json!(held.len());
    Ok(output)
}

fn outcome(result: Result<(), tcp::Error>) -> Value {
    let (kind, message) = match result {
        Ok(()) => return json!({ "ok": true }),
        Err(tcp::Error::Denied(m)) => ("denied", m),
        Err(tcp::Error::Limit(m)) => ("limit", m),
        Err(tcp::Error::Connect(m)) => ("connect", m),
        Err(tcp::Error::Timeout(m)) => ("timeout", m),
        Err(tcp::Error::Tls(m)) => ("tls", m),
        Err(tcp::Error::Io(m)) => ("io", m),
        Err(tcp::Error::Invalid(m)) => ("invalid", m),
        Err(other) => ("other", other.to_string()),
    };
    json!({ "ok": false, "kind": kind, "message": message })
}
