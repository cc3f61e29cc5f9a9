//! The kubernetes plugin against kubectl, on the Kubernetes API double (wall time, medians):
//!
//! - `kubernetes.apply` of 50 objects (a whole `sluice run` process) vs `kubectl apply
//!   --server-side` of the same file (a whole kubectl process), alternating, first creating and
//!   then re-applying unchanged objects;
//! - the time from a Deployment's rollout completing in the cluster (its last pod ready and the
//!   controller's status written, seen by polling the double's store every millisecond) to the
//!   `kubernetes.apply` task with `waitForRollout` seeing it (its `rolled out` log line, as the
//!   host stamped it, read from the store) and to the task's end (its task run's `endedAt`).
//!
//! `cargo bench -p sluice-cli --bench kubernetes [-- RUNS]` (default 7 runs each). Pods are
//! simulated (no dockerd needed): the API calls are what is measured.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use kube_double::{KubeDouble, Options};
use serde_json::Value;

const OBJECTS: usize = 50;

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(7);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let options = Options { containers: false, ready_delay: Duration::from_millis(1500) };
    let double = runtime.block_on(KubeDouble::start(options)).unwrap();
    let data = tempfile::tempdir().unwrap();
    let kubeconfig = data.path().join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).unwrap();

    println!(
        "kubernetes.apply of {OBJECTS} objects vs kubectl apply --server-side ({runs} runs each, alternating, medians)"
    );
    for (label, fresh) in [("create", true), ("re-apply unchanged", false)] {
        let (mut sluice, mut kubectl) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let namespace_sluice = format!("s{run}");
            let namespace_kubectl = format!("k{run}");
            let (ns_s, ns_k) =
                if fresh { (namespace_sluice.as_str(), namespace_kubectl.as_str()) } else { ("s0", "k0") };
            let file_s = write_objects(data.path(), ns_s);
            let file_k = write_objects(data.path(), ns_k);
            sluice.push(time(|| apply_with_sluice(&double, data.path(), &file_s)));
            kubectl.push(time(|| {
                let output = Command::new("kubectl")
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .args(["apply", "--server-side", "-f"])
                    .arg(&file_k)
                    .output()
                    .unwrap();
                assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            }));
        }
        let (s, k) = (median(&mut sluice), median(&mut kubectl));
        println!(
            "  {label:<20} sluice {:>7.1} ms   kubectl {:>7.1} ms   ratio {:.2}x",
            ms(s),
            ms(k),
            ms(s) / ms(k)
        );
    }

    println!(
        "rollout complete in the cluster -> the waiting task sees it / ends ({runs} runs, median and max)"
    );
    let (mut seen, mut ended) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let (s, e) = rollout_latency(&double, data.path(), run);
        seen.push(s);
        ended.push(e);
    }
    let (seen_max, ended_max) = (seen.iter().max().copied().unwrap(), ended.iter().max().copied().unwrap());
    println!("  seen:  median {:.1} ms, max {:.1} ms", ms(median(&mut seen)), ms(seen_max));
    println!("  ended: median {:.1} ms, max {:.1} ms", ms(median(&mut ended)), ms(ended_max));
    drop(double);
    drop(runtime);
}

/// `OBJECTS` objects in one multi-document file: a Namespace, ConfigMaps, Secrets, Services and
/// Deployments (scaled to zero, so no pods are involved).
fn write_objects(dir: &Path, namespace: &str) -> std::path::PathBuf {
    let mut text = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n");
    for i in 1..OBJECTS {
        text.push_str("---\n");
        text.push_str(&match i % 4 {
            0 => format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: config-{i}, namespace: {namespace}}}\ndata: {{key: value-{i}}}\n"),
            1 => format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: secret-{i}, namespace: {namespace}}}\nstringData: {{token: t-{i}}}\n"),
            2 => format!("apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: {namespace}}}\nspec:\n  selector: {{app: app-{i}}}\n  ports: [{{port: 80}}]\n"),
            _ => format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: {namespace}}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n    spec:\n      containers: [{{name: app, image: example.com/app:1}}]\n"),
        });
    }
    let path = dir.join(format!("objects-{namespace}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn sluice_flow(double: &KubeDouble, task: &str) -> String {
    format!(
        "id: bench\nnamespace: bench\ninputs:\n  - {{id: manifests, type: file}}\ntasks:\n  - id: apply\n    type: kubernetes.apply\n    path: \"{{{{ inputs.manifests }}}}\"\n{task}    kubeconfigContent: \"{{{{ secret('KUBECONFIG') }}}}\"\n    allow:\n      network: [\"{}\"]\n      secrets: [KUBECONFIG]\n",
        double.url()
    )
}

fn run_sluice(double: &KubeDouble, data: &Path, flow: &str, manifests: &Path) -> Value {
    let path = data.join("bench.yaml");
    std::fs::write(&path, flow).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(data)
        .args(["run", path.to_str().unwrap(), "--json", "-i"])
        .arg(format!("manifests={}", manifests.display()))
        .env("SLUICE_SECRET_KUBECONFIG", double.kubeconfig())
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(output.status.success(), "{doc:#}");
    doc
}

fn apply_with_sluice(double: &KubeDouble, data: &Path, manifests: &Path) {
    run_sluice(double, data, &sluice_flow(double, ""), manifests);
}

/// One Deployment of 3 pods that become ready 1.5 s after they are scheduled: the task is
/// watching by then. The latencies are from the moment the store holds the completed status to
/// the task's `rolled out` log line and to the task run's end.
fn rollout_latency(double: &KubeDouble, data: &Path, run: usize) -> (Duration, Duration) {
    let name = format!("roll-{run}");
    let manifest = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: app, image: example.com/app:1}}]\n"
    );
    let file = data.join(format!("{name}.yaml"));
    std::fs::write(&file, manifest).unwrap();
    let flow = sluice_flow(double, "    waitForRollout: true\n");
    let completed = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Some(object) = double.object("apps/v1", "Deployment", "default", &name) {
                    let status = &object["status"];
                    if status["availableReplicas"] == 3
                        && status["updatedReplicas"] == 3
                        && status["replicas"] == 3
                        && status["observedGeneration"] == object["metadata"]["generation"]
                    {
                        return SystemTime::now();
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            panic!("{name} did not complete");
        });
        let doc = run_sluice(double, data, &flow, &file);
        let ended = doc["taskRuns"][0]["endedAt"].as_str().unwrap().to_string();
        let execution = doc["executionId"].as_str().unwrap().to_string();
        (watcher.join().unwrap(), ended, execution)
    });
    let (complete, ended, execution) = completed;
    let ended: SystemTime = chrono::DateTime::parse_from_rfc3339(&ended).unwrap().into();
    let seen = rolled_out_at(data, &execution, &name);
    (
        seen.duration_since(complete).unwrap_or(Duration::ZERO),
        ended.duration_since(complete).unwrap_or(Duration::ZERO),
    )
}

/// When the host received the task's `Deployment <name> rolled out` line (the store keeps log
/// times in nanoseconds).
fn rolled_out_at(data: &Path, execution: &str, name: &str) -> SystemTime {
    let db = rusqlite::Connection::open_with_flags(
        data.join("sluice.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let nanos: i64 = db
        .query_row(
            "SELECT time FROM logs WHERE execution_id = ?1 AND message = ?2",
            rusqlite::params![execution, format!("Deployment {name} rolled out")],
            |row| row.get(0),
        )
        .unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap())
}

fn time(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
