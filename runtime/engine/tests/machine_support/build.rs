//! Small builders for typed flows, so machine tests do not depend on the parser.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::TimeZone;
use serde_json::{Value, json};
use sluice_engine::{ExecutionRecord, Timestamp};
use sluice_flow::{Flow, Input, InputType, Retry, RetryKind, Task, TaskKind, TaskType};

pub fn t0() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().expect("a valid instant")
}

pub fn at(seconds: u64) -> Timestamp {
    t0() + chrono::TimeDelta::seconds(seconds as i64)
}

pub fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

pub fn task(id: &str, kind: TaskKind) -> Task {
    Task::new(id, kind, &format!("/tasks/{id}"))
}

pub fn plugin(id: &str) -> Task {
    let task_type = TaskType { plugin: "core".into(), task: "log".into(), digest: None };
    task(id, TaskKind::Plugin { task_type, config: serde_json::Map::new() })
}

pub fn seq(id: &str, tasks: Vec<Task>) -> Task {
    task(id, TaskKind::Sequential { tasks })
}

pub fn par(id: &str, concurrency: u32, tasks: Vec<Task>) -> Task {
    task(id, TaskKind::Parallel { tasks, concurrency })
}

pub fn if_(id: &str, then: Vec<Task>, otherwise: Vec<Task>) -> Task {
    task(id, TaskKind::If { condition: "{{ inputs.go }}".into(), then, otherwise })
}

pub fn switch(id: &str, cases: Vec<(&str, Vec<Task>)>, default: Vec<Task>) -> Task {
    let cases: BTreeMap<String, Vec<Task>> = cases.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    task(id, TaskKind::Switch { value: "{{ inputs.env }}".into(), cases, default })
}

pub fn for_each(id: &str, concurrency: u32, tasks: Vec<Task>) -> Task {
    task(id, TaskKind::ForEach { values: json!("{{ inputs.items }}"), concurrency, tasks })
}

pub fn subflow(id: &str, wait: bool) -> Task {
    task(
        id,
        TaskKind::Subflow {
            namespace: "team".into(),
            flow_id: "child".into(),
            inputs: serde_json::Map::new(),
            wait,
        },
    )
}

pub fn pause(id: &str, timeout: Option<Duration>) -> Task {
    let input = Input::new("approved", InputType::Bool, "");
    task(id, TaskKind::Pause { timeout, on_resume: vec![input] })
}

pub fn sleep(id: &str) -> Task {
    task(id, TaskKind::Sleep { duration: "{{ inputs.nap }}".into() })
}

pub fn fail(id: &str) -> Task {
    task(id, TaskKind::Fail { message: "{{ inputs.why }}".into() })
}

pub trait TaskExt {
    fn after(self, ids: &[&str]) -> Task;
    fn allow_failure(self) -> Task;
    fn retry(self, retry: Retry) -> Task;
    fn run_if(self) -> Task;
    fn disabled(self) -> Task;
    fn timeout(self, timeout: Duration) -> Task;
}

impl TaskExt for Task {
    fn after(mut self, ids: &[&str]) -> Task {
        self.depends_on = ids.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    fn allow_failure(mut self) -> Task {
        self.allow_failure = true;
        self
    }
    fn retry(mut self, retry: Retry) -> Task {
        self.retry = Some(retry);
        self
    }
    fn run_if(mut self) -> Task {
        self.run_if = Some("{{ inputs.go }}".into());
        self
    }
    fn disabled(mut self) -> Task {
        self.disabled = true;
        self
    }
    fn timeout(mut self, timeout: Duration) -> Task {
        self.timeout = Some(timeout);
        self
    }
}

pub fn retry(kind: RetryKind, max_attempts: u32, interval: u64) -> Retry {
    Retry {
        kind,
        max_attempts,
        interval: secs(interval),
        max_interval: None,
        max_duration: None,
        factor: 2.0,
    }
}

pub fn flow(tasks: Vec<Task>) -> Flow {
    Flow {
        id: "pipeline".into(),
        namespace: "team".into(),
        description: None,
        labels: BTreeMap::new(),
        inputs: Vec::new(),
        variables: BTreeMap::new(),
        tasks,
        errors: Vec::new(),
        finally: Vec::new(),
        outputs: BTreeMap::new(),
        triggers: Vec::new(),
        concurrency: None,
        timeout: None,
        retry: None,
        disabled: false,
    }
}

pub trait FlowExt {
    fn errors(self, tasks: Vec<Task>) -> Flow;
    fn finally(self, tasks: Vec<Task>) -> Flow;
    fn outputs(self) -> Flow;
    fn timeout(self, timeout: Duration) -> Flow;
    fn retry(self, retry: Retry) -> Flow;
}

impl FlowExt for Flow {
    fn errors(mut self, tasks: Vec<Task>) -> Flow {
        self.errors = tasks;
        self
    }
    fn finally(mut self, tasks: Vec<Task>) -> Flow {
        self.finally = tasks;
        self
    }
    fn outputs(mut self) -> Flow {
        self.outputs.insert("result".into(), Value::String("{{ outputs.a }}".into()));
        self
    }
    fn timeout(mut self, timeout: Duration) -> Flow {
        self.timeout = Some(timeout);
        self
    }
    fn retry(mut self, retry: Retry) -> Flow {
        self.retry = Some(retry);
        self
    }
}

pub fn record(id: &str) -> ExecutionRecord {
    ExecutionRecord::new(id, "team", "pipeline", 1, t0())
}
