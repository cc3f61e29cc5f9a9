//! The task logs as `sluice` stored them (its SQLite store in the test's data dir): what a task
//! wrote, in order, with the time the host received each line, so a test asserts the lines a
//! task logged and their order (and, as a lower bound only, the time between two of them).
//! Also `sluice run` as a child process, so a test looks at the cluster while a task runs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// One line of a task's log.
#[derive(Debug, Clone)]
pub struct Line {
    /// When the host received it.
    pub time: SystemTime,
    pub level: String,
    pub message: String,
}

fn open(data: &Path) -> rusqlite::Connection {
    let db = rusqlite::Connection::open_with_flags(
        data.join("sluice.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    // A `sluice` still running writes meanwhile.
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db
}

/// The lines of `task`'s runs in `execution`, in the order they were logged.
pub fn task_log(data: &Path, execution: &str, task: &str) -> Vec<Line> {
    let db = open(data);
    let mut statement = db
        .prepare(
            "SELECT time, level, message FROM logs WHERE execution_id = ?1 AND task_run = ?2 ORDER BY seq",
        )
        .unwrap();
    statement
        .query_map(rusqlite::params![execution, task], |row| {
            let nanos: i64 = row.get(0)?;
            Ok(Line {
                time: SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)),
                level: row.get(1)?,
                message: row.get(2)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The execution created last in the store, if there is one yet.
pub fn newest_execution(data: &Path) -> Option<String> {
    if !data.join("sluice.db").exists() {
        return None;
    }
    open(data)
        .query_row("SELECT id FROM executions ORDER BY created_at DESC, id DESC LIMIT 1", [], |row| {
            row.get(0)
        })
        .ok()
}

/// The position of the first line of `lines` that `matches`, failing the test with the whole
/// log when none does.
pub fn position(lines: &[Line], what: &str, matches: impl Fn(&str) -> bool) -> usize {
    lines.iter().position(|l| matches(&l.message)).unwrap_or_else(|| {
        let messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
        panic!("no line {what} in the task log:\n{}", messages.join("\n"))
    })
}

/// A `sluice run --json` under way.
pub struct Running {
    child: Option<Child>,
}

impl Running {
    pub fn spawn(mut command: Command) -> Running {
        let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        Running { child: Some(child) }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// Waits for the end: the exit code and the execution document.
    pub fn finish(mut self) -> (i32, Value) {
        let output = self.child.take().unwrap().wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr))
        });
        (output.status.code().unwrap(), doc)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed midway leaves no `sluice` behind.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
