//! Sandbox overheads on the real path: instantiate-and-run of a no-op task from a warm
//! `InstancePre`, loading a compiled component from the disk cache vs compiling it, and the
//! throughput of 1,000 concurrent no-op tasks.
//!
//! `cargo bench -p sluice-sandbox --bench sandbox`

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use sluice_sandbox::{DiscardLogs, Grants, Limits, Plugin, RunRequest, Sandbox, SandboxConfig};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

async fn run_noop(sandbox: &Sandbox, plugin: &Plugin, workspace: &std::path::Path) {
    let config = json!({});
    let report = sandbox
        .run(
            plugin,
            RunRequest {
                task: "noop",
                config: &config,
                grants: &Grants::default(),
                limits: Limits::default(),
                workspace,
                logs: Arc::new(DiscardLogs),
                execution: None,
            },
        )
        .await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
}

fn instantiate_and_run(c: &mut Criterion) {
    let rt = runtime();
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let plugin = rt.block_on(sandbox.load(&test_programs_artifacts::test_programs_bytes())).unwrap();
    let workspace = tempfile::tempdir().unwrap();
    c.bench_function("instantiate_and_run_noop", |b| {
        b.to_async(&rt).iter(|| run_noop(&sandbox, &plugin, workspace.path()))
    });
}

fn load(c: &mut Criterion) {
    let rt = runtime();
    let wasm = test_programs_artifacts::test_programs_bytes();
    let cache = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        cache_dir: Some(cache.path().into()),
        max_concurrent_runs: 4,
        ..SandboxConfig::default()
    };
    // Fill the cache once.
    rt.block_on(Sandbox::new(config.clone()).unwrap().load(&wasm)).unwrap();
    let mut group = c.benchmark_group("load_component");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("from_disk_cache", |b| {
        b.iter_batched(
            || Sandbox::new(config.clone()).unwrap(),
            |sandbox| rt.block_on(sandbox.load(&wasm)).unwrap(),
            BatchSize::PerIteration,
        )
    });
    let uncached = SandboxConfig { cache_dir: None, ..config };
    group.bench_function("compile", |b| {
        b.iter_batched(
            || Sandbox::new(uncached.clone()).unwrap(),
            |sandbox| rt.block_on(sandbox.load(&wasm)).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn concurrent(c: &mut Criterion) {
    const TASKS: u64 = 1000;
    let rt = runtime();
    let sandbox = Arc::new(Sandbox::new(SandboxConfig::default()).unwrap());
    let plugin = rt.block_on(sandbox.load(&test_programs_artifacts::test_programs_bytes())).unwrap();
    let workspace = Arc::new(tempfile::tempdir().unwrap());
    let mut group = c.benchmark_group("concurrent");
    group.throughput(Throughput::Elements(TASKS)).sample_size(20);
    group.bench_function("1000_noop_tasks", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let sandbox = sandbox.clone();
            let plugin = plugin.clone();
            let workspace = workspace.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..TASKS {
                        let (sandbox, plugin, workspace) =
                            (sandbox.clone(), plugin.clone(), workspace.clone());
                        set.spawn(async move { run_noop(&sandbox, &plugin, workspace.path()).await });
                    }
                    set.join_all().await;
                }
                start.elapsed()
            }
        })
    });
    group.finish();
}

criterion_group!(benches, instantiate_and_run, load, concurrent);
criterion_main!(benches);
