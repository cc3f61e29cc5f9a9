//! What the kubernetes plugin's tests share: a Kubernetes API double (its pods real containers
//! on the test's dockerd), the real `sluice` binary running flows against it, the real kubectl
//! to look at the cluster as an operator would, and plain HTTP to the Services' local ports.

#![allow(dead_code)]

pub mod log;
pub mod prometheus;
pub mod scripted;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kube_double::{KubeDouble, Options};
use serde_json::Value;

/// One cluster and one data dir for a test.
pub struct Kube {
    pub double: KubeDouble,
    pub data: tempfile::TempDir,
    // Last: the double's tasks run on it, so it goes after them.
    pub runtime: tokio::runtime::Runtime,
}

impl Kube {
    /// A cluster whose pods are real containers.
    pub fn start() -> Kube {
        Kube::with(Options::default())
    }

    pub fn with(options: Options) -> Kube {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let double = runtime.block_on(KubeDouble::start(options)).unwrap();
        Kube { double, data: tempfile::tempdir().unwrap(), runtime }
    }

    /// The web image pods run (`/` answers its `VERSION`, `/healthz` 200 unless
    /// `FAIL_READINESS=1`).
    pub fn web_image() -> String {
        kube_double::runtime::images::web_image().unwrap()
    }

    /// The task lines that reach this cluster: the kubeconfig from a secret, its server granted.
    pub fn connection(&self) -> String {
        self.connection_from("KUBECONFIG")
    }

    /// The same with another of [`Kube::secrets`]' kubeconfigs.
    pub fn connection_from(&self, secret: &str) -> String {
        self.connection_granting(secret, &[])
    }

    /// The connection lines, also granting `origins` (analysis URLs).
    pub fn connection_granting(&self, secret: &str, origins: &[&str]) -> String {
        let mut network = vec![format!("\"{}\"", self.double.url())];
        network.extend(origins.iter().map(|o| format!("\"{}\"", origin(o))));
        format!(
            "    kubeconfigContent: \"{{{{ secret('{secret}') }}}}\"\n    allow:\n      network: [{}]\n      secrets: [{secret}]\n",
            network.join(", ")
        )
    }

    /// The kubeconfig's context name.
    pub fn context(&self) -> String {
        let config: Value = yaml_serde::from_str(&self.double.kubeconfig()).unwrap();
        config["current-context"].as_str().unwrap().to_string()
    }

    /// The environment `sluice` runs with: the kubeconfig as a secret, and two that must fail
    /// (another token; another CA).
    pub fn secrets(&self) -> Vec<(String, String)> {
        let double = &self.double;
        vec![
            ("SLUICE_SECRET_KUBECONFIG".to_string(), double.kubeconfig()),
            (
                "SLUICE_SECRET_KUBECONFIG_WRONG_TOKEN".to_string(),
                double.kubeconfig_with("not-the-token", double.ca_pem()),
            ),
            (
                "SLUICE_SECRET_KUBECONFIG_WRONG_CA".to_string(),
                double.kubeconfig_with(double.token(), &other_ca_pem()),
            ),
            ("SLUICE_SECRET_KUBECONFIG_CERT".to_string(), double.kubeconfig_with_client_certificate()),
            ("SLUICE_SECRET_TOKEN".to_string(), double.token().to_string()),
            ("SLUICE_SECRET_CA".to_string(), double.ca_pem().to_string()),
        ]
    }

    /// The local URL of a Service, once the double serves it.
    pub fn service_url(&self, namespace: &str, name: &str) -> String {
        let mut url = None;
        eventually(&format!("Service {namespace}/{name} gets a local port"), Duration::from_secs(10), || {
            url = self.double.service_url(namespace, name);
            url.is_some()
        });
        url.unwrap()
    }

    /// The local URL of an HTTPRoute's listener, once the double serves it.
    pub fn route_url(&self, namespace: &str, name: &str) -> String {
        let mut url = None;
        eventually(
            &format!("HTTPRoute {namespace}/{name} gets a local port"),
            Duration::from_secs(10),
            || {
                url = self.double.route_url(namespace, name);
                url.is_some()
            },
        );
        url.unwrap()
    }

    pub fn flow(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.data.path().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.arg("--data-dir").arg(self.data.path()).args(args);
        for (key, value) in self.secrets() {
            command.env(key, value);
        }
        command
    }

    fn sluice(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `sluice run --json` of a flow, started in the background: the test looks at the
    /// cluster (and at [`Kube::live_log`]) while it runs, then [`log::Running::finish`]es it.
    pub fn spawn_json(&self, flow: &Path) -> log::Running {
        log::Running::spawn(self.command(&["run", flow.to_str().unwrap(), "--json"]))
    }

    /// The lines a task logged in the execution of `doc` (as stored, in order).
    pub fn task_log(&self, doc: &Value, task: &str) -> Vec<log::Line> {
        log::task_log(self.data.path(), doc["executionId"].as_str().unwrap(), task)
    }

    /// The messages of [`Kube::task_log`].
    pub fn messages(&self, doc: &Value, task: &str) -> Vec<String> {
        self.task_log(doc, task).into_iter().map(|l| l.message).collect()
    }

    /// What `task` logged so far in the newest execution (one started by
    /// [`Kube::spawn_json`], still running).
    pub fn live_log(&self, task: &str) -> Vec<String> {
        log::newest_execution(self.data.path())
            .map(|execution| log::task_log(self.data.path(), &execution, task))
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.message)
            .collect()
    }

    /// Runs `args` in the container of a pod (its only container), as `docker exec` does.
    pub fn exec_in_pod(&self, pod: &str, args: &[&str]) {
        let instance = self.double.runtime_instance().expect("a double that runs containers");
        // The labels kube-double's runtime puts on a pod's containers.
        let ps = Command::new("docker")
            .args(["ps", "--quiet", "--filter"])
            .arg(format!("label=kube-double={instance}"))
            .arg("--filter")
            .arg(format!("label=kube-double.pod={pod}"))
            .output()
            .unwrap();
        let ids = String::from_utf8_lossy(&ps.stdout).trim().to_string();
        assert!(!ids.is_empty() && !ids.contains('\n'), "pod {pod}: containers {ids:?}");
        let exec = Command::new("docker").arg("exec").arg(&ids).args(args).output().unwrap();
        assert!(exec.status.success(), "docker exec in {pod}: {}", String::from_utf8_lossy(&exec.stderr));
    }

    /// `sluice run --json` of a flow: the exit code and the execution document.
    pub fn run_json(&self, flow: &Path) -> (i32, Value) {
        self.run_json_with(flow, &[])
    }

    /// The same with more arguments (`-i key=value`).
    pub fn run_json_with(&self, flow: &Path, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["run", flow.to_str().unwrap(), "--json"];
        all.extend_from_slice(args);
        let output = self.sluice(&all);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr))
        });
        (output.status.code().unwrap(), doc)
    }

    /// `sluice run` with its progress lines: the exit code and stdout.
    pub fn run_text(&self, flow: &Path) -> (i32, String) {
        let output = self.sluice(&["run", flow.to_str().unwrap()]);
        (output.status.code().unwrap(), String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The real kubectl against the cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        let kubeconfig = self.data.path().join("kubeconfig");
        if !kubeconfig.exists() {
            std::fs::write(&kubeconfig, self.double.kubeconfig()).unwrap();
        }
        Command::new("kubectl").arg("--kubeconfig").arg(&kubeconfig).args(args).output().unwrap_or_else(|e| {
            panic!("cannot run kubectl ({e}): install it (apt-get install -y kubernetes-client)")
        })
    }

    /// An object as `kubectl get -o json` shows it; `None` when it does not exist.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let output = self.kubectl(&["get", kind, name, "-n", namespace, "-o", "json"]);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("NotFound"), "kubectl get {kind} {name}: {stderr}");
            return None;
        }
        Some(serde_json::from_slice(&output.stdout).unwrap())
    }

    /// The names of the objects of a kind in a namespace, with a label selector.
    pub fn names(&self, kind: &str, namespace: &str, selector: &str) -> Vec<String> {
        let mut args = vec!["get", kind, "-n", namespace, "-o", "json"];
        if !selector.is_empty() {
            args.extend(["-l", selector]);
        }
        let output = self.kubectl(&args);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let list: Value = serde_json::from_slice(&output.stdout).unwrap();
        let mut names: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    /// Waits until 8 requests in a row, each on a fresh connection, are all answered by
    /// `version`: after a rollout the Service's endpoints settle a moment later, as on a real
    /// cluster (a pod on its way out leaves the endpoints after the rollout is complete).
    pub fn serves_only(&self, url: &str, version: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let seen = self.traffic(url, 8);
            if seen.get(version) == Some(&8) {
                return;
            }
            assert!(Instant::now() < deadline, "{url} still answers {seen:?}, not only {version}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until `count` requests (fresh connections) split exactly as `expected`
    /// (version, answers), the endpoints having settled.
    pub fn splits(&self, url: &str, count: usize, expected: &[(&str, usize)]) {
        let expected: std::collections::BTreeMap<String, usize> =
            expected.iter().map(|(v, n)| (v.to_string(), *n)).collect();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let seen = self.traffic(url, count);
            if seen == expected {
                return;
            }
            assert!(Instant::now() < deadline, "{url} splits {seen:?}, not {expected:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `count` requests to a Service's local port, one connection each: how many answered
    /// each body (a version of the web image), and how many got no answer.
    pub fn traffic(&self, url: &str, count: usize) -> std::collections::BTreeMap<String, usize> {
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..count {
            let body = http_get(url).unwrap_or_else(|| "(no answer)".to_string());
            *seen.entry(body.trim().to_string()).or_insert(0) += 1;
        }
        seen
    }
}

/// A CA certificate that signed nothing the double serves.
fn other_ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

/// The manifests of a web Deployment (the double's web image, `VERSION` in its env, a
/// readiness probe on `/healthz`) and its Service.
pub fn web_manifests(name: &str, version: &str, replicas: u32, extra_env: &str) -> String {
    let image = Kube::web_image();
    format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: 20
  selector:
    matchLabels: {{app: {name}}}
  strategy:
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: web
          image: {image}
          ports: [{{containerPort: 8080}}]
          env:
            - {{name: VERSION, value: "{version}"}}{extra_env}
          readinessProbe:
            httpGet: {{path: /healthz, port: 8080}}
            periodSeconds: 1
"#
    )
}

/// Indents YAML text to sit under a task's key (`manifests: |`).
pub fn indented(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// `http://host:port` of a URL.
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    format!("{scheme}://{}", rest.split('/').next().unwrap())
}

/// A GET over a fresh connection: the body, or `None` when nothing answered.
pub fn http_get(url: &str) -> Option<String> {
    http_get_status(url).map(|(_, body)| body)
}

/// A GET over a fresh connection: the status and the body, or `None` when nothing answered.
pub fn http_get_status(url: &str) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = TcpStream::connect(authority).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /{path} HTTP/1.0\r\nhost: {authority}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Waits until `check` holds, or fails the test saying what was waited for.
pub fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {timeout:?}");
}

/// The error of a failed task run in an execution document.
pub fn task_error(doc: &Value, task: &str) -> String {
    let runs = doc["taskRuns"].as_array().unwrap_or_else(|| panic!("no taskRuns in {doc:#}"));
    let run = runs
        .iter()
        .rev()
        .find(|r| r["taskId"] == task)
        .unwrap_or_else(|| panic!("no run of {task} in {doc:#}"));
    run["error"].as_str().unwrap_or_else(|| panic!("{task} has no error: {run:#}")).to_string()
}

/// The outputs of a task in an execution document.
pub fn task_outputs(doc: &Value, task: &str) -> Value {
    doc["outputs"][task].clone()
}
