//! The machine alone: no store, no sandbox; every command is answered at once. Prints the cost
//! per task (median of several runs) for a chain, fan-outs and a loop, and of a restore.
//!
//! `cargo bench -p sluice-engine --bench machine`

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../tests/machine_support/build.rs"]
mod build;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use build::*;
use serde_json::json;
use sluice_engine::ExecutionState;
use sluice_engine::machine::{Command, Evaluation, Event, Execution};
use sluice_flow::Flow;

/// Runs an execution to its end, answering every command immediately.
fn drive(flow: &Arc<Flow>, values: usize) -> (Duration, Execution) {
    let now = at(0);
    let started = Instant::now();
    let mut exec = Execution::new(flow.clone(), record("bench"));
    let mut pending: VecDeque<Command> = exec.apply(Event::Start { now }).unwrap().commands.into();
    while let Some(command) = pending.pop_front() {
        let event = match command {
            Command::Dispatch { run, attempt } => {
                Event::TaskSucceeded { run, attempt, now, outputs: json!({}) }
            }
            Command::Evaluate { run, .. } => {
                let list = (0..values).map(|i| json!(i)).collect();
                Event::Evaluated { run, now, result: Ok(Evaluation::List(list)) }
            }
            Command::Finished { state } => {
                assert_eq!(state, ExecutionState::Success);
                break;
            }
            other => panic!("unexpected {other:?}"),
        };
        pending.extend(exec.apply(event).unwrap().commands);
    }
    (started.elapsed(), exec)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn report(name: &str, flow: Flow, tasks: usize, values: usize, rounds: usize) {
    let flow = Arc::new(flow);
    drive(&flow, values);
    let samples = (0..rounds).map(|_| drive(&flow, values).0).collect();
    let total = median(samples);
    let per_task = total.as_secs_f64() * 1e6 / tasks as f64;
    println!("{name:<28} {tasks:>6} tasks  {:>9.2} ms  {per_task:>6.2} µs/task", total.as_secs_f64() * 1e3);
}

fn report_restore(n: usize, rounds: usize) {
    // Half of a fan-out done: restore rebuilds and re-dispatches the other half.
    let tasks = (0..n).map(|i| plugin(&format!("t{i}"))).collect();
    let flow = Arc::new(flow(vec![par("all", 0, tasks)]));
    let mut exec = Execution::new(flow.clone(), record("bench"));
    let step = exec.apply(Event::Start { now: at(0) }).unwrap();
    for command in step.commands.into_iter().take(n / 2) {
        if let Command::Dispatch { run, attempt } = command {
            exec.apply(Event::TaskSucceeded { run, attempt, now: at(1), outputs: json!({}) }).unwrap();
        }
    }
    let runs: Vec<_> = exec.task_runs().cloned().collect();
    let samples = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let (_, step) = Execution::restore(flow.clone(), exec.record().clone(), runs.clone(), at(2));
            assert_eq!(step.commands.len(), n - n / 2);
            started.elapsed()
        })
        .collect();
    let total = median(samples);
    println!(
        "{:<28} {n:>6} runs   {:>9.2} ms  {:>6.2} µs/run",
        "restore half-done fan-out",
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e6 / n as f64
    );
}

fn main() {
    let chain = |n: usize| flow((0..n).map(|i| plugin(&format!("t{i}"))).collect());
    let fan_out = |n: usize| flow(vec![par("all", 0, (0..n).map(|i| plugin(&format!("t{i}"))).collect())]);
    let limited = |n: usize| flow(vec![par("all", 8, (0..n).map(|i| plugin(&format!("t{i}"))).collect())]);
    let each = || flow(vec![for_each("each", 0, vec![plugin("a"), plugin("b")])]);
    report("sequential chain", chain(1000), 1000, 0, 30);
    report("parallel fan-out", fan_out(1000), 1000, 0, 30);
    report("parallel, concurrency 8", limited(1000), 1000, 0, 30);
    report("parallel fan-out", fan_out(10_000), 10_000, 0, 10);
    report("forEach 1000 x (a, b)", each(), 2000, 1000, 30);
    report_restore(10_000, 10);
}
