//! Container logs through `docker logs`: read whole, or followed as they grow.

use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

use super::docker::PodRuntime;
use super::{Container, ContainerState};

/// A whole log that takes longer than this to read is stuck.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Which lines of a container's log, and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Only lines newer than this long ago (`sinceSeconds`).
    pub since: Option<Duration>,
    /// Only the last lines (`tailLines`).
    pub tail: Option<u64>,
    /// Each line after an RFC 3339 timestamp with nanoseconds and a space (`timestamps`).
    pub timestamps: bool,
}

/// A container's log as it grows (`docker logs --follow`): ends when the container stops.
/// Dropping it ends the follow.
#[derive(Debug)]
pub struct LogStream {
    child: Child,
    reader: pipe::Receiver,
}

impl AsyncRead for LogStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl PodRuntime {
    /// The container's stdout and stderr, interleaved in the order dockerd stored them (its two
    /// copiers run apart, so lines written to both within a moment may swap, as a kubelet's
    /// may); `since` keeps lines newer than that long ago, `tail` the last lines.
    pub async fn logs(
        &self,
        container: &Container,
        since: Option<Duration>,
        tail: Option<u64>,
    ) -> anyhow::Result<String> {
        self.logs_with(container, &LogOptions { since, tail, timestamps: false }).await
    }

    /// [`PodRuntime::logs`] with every option.
    pub async fn logs_with(&self, container: &Container, options: &LogOptions) -> anyhow::Result<String> {
        let mut stream = spawn(container, options, false)?;
        let mut bytes = Vec::new();
        tokio::time::timeout(READ_TIMEOUT, stream.reader.read_to_end(&mut bytes))
            .await
            .context("docker logs did not finish")?
            .context("reading docker logs")?;
        let status = stream.child.wait().await.context("docker logs")?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.success() {
            bail!("docker logs {} failed: {}", container.id, text.trim());
        }
        Ok(text)
    }

    /// The log from `options` on, then each line as the container writes it, until it stops.
    pub async fn follow_logs(
        &self,
        container: &Container,
        options: &LogOptions,
    ) -> anyhow::Result<LogStream> {
        if self.state(container).await == ContainerState::Missing {
            bail!("no container {} on the test's dockerd", container.id);
        }
        spawn(container, options, true)
    }
}

/// `docker logs` with stdout and stderr both into one pipe, so their lines keep the order the
/// CLI writes them in.
fn spawn(container: &Container, options: &LogOptions, follow: bool) -> anyhow::Result<LogStream> {
    let mut command = Command::new("docker");
    command.arg("logs");
    if follow {
        command.arg("--follow");
    }
    if options.timestamps {
        command.arg("--timestamps");
    }
    if let Some(since) = options.since {
        let from = SystemTime::now()
            .checked_sub(since)
            .unwrap_or(SystemTime::UNIX_EPOCH)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        command.args(["--since", &format!("{}.{:09}", from.as_secs(), from.subsec_nanos())]);
    }
    if let Some(tail) = options.tail {
        command.args(["--tail", &tail.to_string()]);
    }
    command.arg(&container.id);
    let (reader, writer) = std::io::pipe().context("a pipe for docker logs")?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone().context("a pipe for docker logs")?)
        .stderr(writer)
        .kill_on_drop(true);
    let child = command.spawn().context("cannot run the docker CLI")?;
    drop(command); // its ends of the writer, so the reader sees the end when docker exits
    let reader = pipe::Receiver::from_owned_fd(OwnedFd::from(reader)).context("the docker logs pipe")?;
    Ok(LogStream { child, reader })
}
