//! Task log lines: one pipe per run that splits, redacts, caps and forwards every line the
//! component emits (through the `log` import, stdout or stderr) to the caller's [`LogSink`].

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, WasmStr};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::secrets::Redactor;
use crate::bindings::sluice::plugin::log;
use crate::state::RunState;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Finest detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Normal progress.
    Info,
    /// Something odd that did not stop the task.
    Warn,
    /// Something failed.
    Error,
}

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The component's `log` import.
    Plugin,
    /// The component's stdout.
    Stdout,
    /// The component's stderr.
    Stderr,
    /// The host, about the run (denials, truncation).
    Host,
}

/// One log line of a task run, already redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When the host received it.
    pub time: SystemTime,
    /// Its severity.
    pub level: LogLevel,
    /// Where it came from.
    pub source: LogSource,
    /// The text, without the trailing newline.
    pub message: String,
}

/// Receives the lines of a run as they happen (to stream them, store them or both).
pub trait LogSink: Send + Sync {
    /// Called once per line, in order.
    fn line(&self, line: LogLine);
}

impl LogSink for tokio::sync::mpsc::UnboundedSender<LogLine> {
    fn line(&self, line: LogLine) {
        // A receiver that went away no longer wants the lines; the run goes on.
        let _ = self.send(line);
    }
}

/// A sink that keeps every line in memory.
#[derive(Debug, Default)]
pub struct CollectLogs(Mutex<Vec<LogLine>>);

impl CollectLogs {
    /// The lines received so far.
    pub fn lines(&self) -> Vec<LogLine> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl LogSink for CollectLogs {
    fn line(&self, line: LogLine) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(line);
    }
}

/// A sink that drops every line.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardLogs;

impl LogSink for DiscardLogs {
    fn line(&self, _line: LogLine) {}
}

/// The longest log line: a longer stdout/stderr line is cut into pieces (so one unterminated
/// flood cannot grow the buffer without bound), a longer `log` message line is cut short.
const MAX_LINE: usize = 64 << 10;

/// The per-run log pipe, shared by the `log` import and the stdout/stderr streams.
#[derive(Clone)]
pub(crate) struct LogPipe(Arc<Mutex<PipeState>>);

struct PipeState {
    sink: Arc<dyn LogSink>,
    redact: Redactor,
    budget: usize,
    truncated: bool,
    stdout_partial: Vec<u8>,
    stderr_partial: Vec<u8>,
}

impl LogPipe {
    pub(crate) fn new(sink: Arc<dyn LogSink>, redact: &[String], budget: usize) -> Self {
        let redact = Redactor::new(redact);
        LogPipe(Arc::new(Mutex::new(PipeState {
            sink,
            redact,
            budget,
            truncated: false,
            stdout_partial: Vec::new(),
            stderr_partial: Vec::new(),
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PipeState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A message from the component, split into lines.
    /// Logs a message from the `log` import, read in place from the guest's memory: each line
    /// is cut at [`MAX_LINE`] (with a note of its length), so a huge message costs the host at
    /// most one line's copy, and reading stops once the log limit is reached.
    pub(crate) fn message(&self, level: LogLevel, source: LogSource, message: &str) {
        let mut state = self.state();
        for line in message.split('\n') {
            if state.truncated {
                break;
            }
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.len() <= MAX_LINE {
                state.emit(level, source, line);
                continue;
            }
            let mut cut = state.redact.safe_cut(line.as_bytes(), MAX_LINE);
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            let note = format!("{} [line cut: {} bytes in all]", &line[..cut], line.len());
            state.emit(level, source, &note);
        }
    }

    /// A line from the host itself; not counted against the budget.
    pub(crate) fn host(&self, level: LogLevel, message: String) {
        let state = self.state();
        let message = state.redact.redacted(&message);
        state.sink.line(LogLine { time: SystemTime::now(), level, source: LogSource::Host, message });
    }

    /// Whether the log budget ran out during the run.
    pub(crate) fn truncated(&self) -> bool {
        self.state().truncated
    }

    /// Emits what stdout and stderr left without a final newline.
    pub(crate) fn flush_partial_lines(&self) {
        let mut state = self.state();
        for source in [LogSource::Stdout, LogSource::Stderr] {
            let partial = std::mem::take(state.partial(source));
            if !partial.is_empty() {
                let text = String::from_utf8_lossy(&partial).into_owned();
                state.emit(level_of(source), source, &text);
            }
        }
    }

    fn stdio_bytes(&self, source: LogSource, bytes: &[u8]) {
        let mut state = self.state();
        let mut buf = std::mem::take(state.partial(source));
        buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let line = &buf[start..start + pos];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            state.emit(level_of(source), source, &String::from_utf8_lossy(line));
            start += pos + 1;
        }
        let mut rest = buf.split_off(start);
        while rest.len() > MAX_LINE {
            // Never split a secret across two lines: each half would escape redaction.
            let cut = state.redact.safe_cut(&rest, MAX_LINE).max(1);
            let tail = rest.split_off(cut);
            state.emit(level_of(source), source, &String::from_utf8_lossy(&rest));
            rest = tail;
        }
        *state.partial(source) = rest;
    }
}

fn level_of(source: LogSource) -> LogLevel {
    match source {
        LogSource::Stderr => LogLevel::Warn,
        _ => LogLevel::Info,
    }
}

impl PipeState {
    fn partial(&mut self, source: LogSource) -> &mut Vec<u8> {
        match source {
            LogSource::Stderr => &mut self.stderr_partial,
            _ => &mut self.stdout_partial,
        }
    }

    fn emit(&mut self, level: LogLevel, source: LogSource, line: &str) {
        if self.truncated {
            return;
        }
        let cost = line.len() + 1;
        if cost > self.budget {
            self.truncated = true;
            let message =
                "log truncated: the task's log limit was reached; later lines were dropped".to_string();
            self.sink.line(LogLine {
                time: SystemTime::now(),
                level: LogLevel::Warn,
                source: LogSource::Host,
                message,
            });
            return;
        }
        self.budget -= cost;
        let message = self.redact.redacted(line);
        self.sink.line(LogLine { time: SystemTime::now(), level, source, message });
    }
}

/// The component's stdout or stderr, turned into log lines.
pub(crate) struct StdioToLog {
    pipe: LogPipe,
    source: LogSource,
}

impl StdioToLog {
    pub(crate) fn new(pipe: LogPipe, source: LogSource) -> Self {
        StdioToLog { pipe, source }
    }
}

impl IsTerminal for StdioToLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StdioToLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(StdioWriter { pipe: self.pipe.clone(), source: self.source })
    }
}

struct StdioWriter {
    pipe: LogPipe,
    source: LogSource,
}

impl AsyncWrite for StdioWriter {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.pipe.stdio_bytes(self.source, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Sends the run's stdout and stderr into its log.
pub(crate) fn grant(wasi: &mut wasmtime_wasi::WasiCtxBuilder, log: &LogPipe) {
    wasi.stdout(StdioToLog::new(log.clone(), LogSource::Stdout))
        .stderr(StdioToLog::new(log.clone(), LogSource::Stderr));
}

/// The `log` import as the guest sees it; linked by hand (not through the generated bindings)
/// so the message is read in place from the guest's memory instead of copied out whole.
const LOG_INTERFACE: &str = "sluice:plugin/log@0.1.0";

pub(crate) fn link(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    linker.instance(LOG_INTERFACE)?.func_wrap(
        "log",
        |store: StoreContextMut<'_, RunState>, (level, message): (log::Level, WasmStr)| {
            let text = message.to_str(&store)?;
            let level = match level {
                log::Level::Trace => LogLevel::Trace,
                log::Level::Debug => LogLevel::Debug,
                log::Level::Info => LogLevel::Info,
                log::Level::Warn => LogLevel::Warn,
                log::Level::Error => LogLevel::Error,
            };
            store.data().log.message(level, LogSource::Plugin, &text);
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe(budget: usize, redact: &[&str]) -> (LogPipe, Arc<CollectLogs>) {
        let sink = Arc::new(CollectLogs::default());
        let redact: Vec<String> = redact.iter().map(|s| s.to_string()).collect();
        (LogPipe::new(sink.clone(), &redact, budget), sink)
    }

    fn messages(sink: &CollectLogs) -> Vec<String> {
        sink.lines().into_iter().map(|l| l.message).collect()
    }

    #[test]
    fn splits_messages_and_redacts_longest_secret_first() {
        let (pipe, sink) = pipe(1000, &["abc", "abcdef"]);
        pipe.message(LogLevel::Info, LogSource::Plugin, "token=abcdef\nshort=abc\r\nend");
        assert_eq!(messages(&sink), ["token=******", "short=******", "end"]);
    }

    #[test]
    fn stdio_lines_are_split_across_writes_and_flushed_at_the_end() {
        let (pipe, sink) = pipe(1000, &[]);
        pipe.stdio_bytes(LogSource::Stdout, b"hel");
        pipe.stdio_bytes(LogSource::Stdout, b"lo\nwor");
        pipe.stdio_bytes(LogSource::Stderr, b"oops\n");
        pipe.stdio_bytes(LogSource::Stdout, b"ld\npartial");
        pipe.flush_partial_lines();
        let lines = sink.lines();
        let got: Vec<_> = lines.iter().map(|l| (l.source, l.level, l.message.as_str())).collect();
        assert_eq!(
            got,
            [
                (LogSource::Stdout, LogLevel::Info, "hello"),
                (LogSource::Stderr, LogLevel::Warn, "oops"),
                (LogSource::Stdout, LogLevel::Info, "world"),
                (LogSource::Stdout, LogLevel::Info, "partial"),
            ]
        );
    }

    #[test]
    fn budget_truncates_with_one_marker() {
        let (pipe, sink) = pipe(10, &[]);
        for _ in 0..5 {
            pipe.message(LogLevel::Info, LogSource::Plugin, "1234");
        }
        assert!(pipe.truncated());
        assert_eq!(
            messages(&sink),
            ["1234", "1234", "log truncated: the task's log limit was reached; later lines were dropped"]
        );
    }

    #[test]
    fn a_huge_message_line_is_cut_with_its_length() {
        let (pipe, sink) = pipe(1 << 20, &[]);
        let huge = format!("{}\nnext", "y".repeat(3 * MAX_LINE));
        pipe.message(LogLevel::Info, LogSource::Plugin, &huge);
        let got = messages(&sink);
        assert_eq!(got[0], format!("{} [line cut: {} bytes in all]", "y".repeat(MAX_LINE), 3 * MAX_LINE));
        assert_eq!(got[1], "next");
    }

    #[test]
    fn cuts_never_split_a_secret() {
        let secret = "s3cr3t-value";
        let mut line = "z".repeat(MAX_LINE - 4);
        line.push_str(secret);
        line.push_str(&"z".repeat(100));
        let (pipe, sink) = pipe(1 << 20, &[secret]);
        pipe.message(LogLevel::Info, LogSource::Plugin, &line);
        let (stdio, stdio_sink) = self::pipe(1 << 20, &[secret]);
        stdio.stdio_bytes(LogSource::Stdout, line.as_bytes());
        stdio.flush_partial_lines();
        let all = [messages(&sink), messages(&stdio_sink)].concat();
        assert_eq!(all.len(), 3, "{:?}", all.iter().map(|m| m.len()).collect::<Vec<_>>());
        for message in &all {
            for part in ["s3cr", "3t-value", "s3cr3t"] {
                assert!(!message.contains(part), "{part} leaked");
            }
        }
        assert_eq!(messages(&stdio_sink)[1], format!("******{}", "z".repeat(100)));
    }
}
