//! Running the real kubectl against a double: a kubeconfig and a discovery cache of the test's
//! own, and the command's exit code, stdout and stderr.

// Shared by two test binaries; each uses a part.
#![allow(dead_code)]

pub mod api;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use kube_double::KubeDouble;

/// kubectl with its own kubeconfig and cache directory.
pub struct Kubectl {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

/// What a kubectl run answered.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0, answering stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "kubectl failed: {self:#?}");
        &self.stdout
    }

    /// Asserts a failure, answering stderr.
    #[track_caller]
    pub fn failed(&self) -> &str {
        assert_ne!(self.code, 0, "kubectl succeeded: {self:#?}");
        &self.stderr
    }

    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(self.ok()) {
            Ok(v) => v,
            Err(e) => panic!("kubectl printed no JSON ({e}): {self:#?}"),
        }
    }
}

fn from_output(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Kubectl {
    /// kubectl for `double`, authenticated with its token.
    pub fn new(double: &KubeDouble) -> Self {
        Kubectl::with_kubeconfig(&double.kubeconfig())
    }

    pub fn with_kubeconfig(kubeconfig: &str) -> Self {
        let present = std::process::Command::new("kubectl").args(["version", "--client"]).output();
        if !present.is_ok_and(|o| o.status.success()) {
            panic!(
                "kubectl is not on PATH: install kubectl 1.32 (https://dl.k8s.io/release/v1.32.4/bin/linux/amd64/kubectl)"
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, kubeconfig).expect("write kubeconfig");
        Kubectl { dir, kubeconfig: path }
    }

    /// Writes a manifest into the test's directory.
    pub fn manifest(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write manifest");
        path
    }

    /// Runs kubectl with `args`, killed after two minutes.
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut command = tokio::process::Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("HOME", self.dir.path())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in two minutes"))
            .expect("run kubectl");
        from_output(output)
    }
}

/// Polls `check` every 50 ms until it holds, for at most `seconds`.
pub async fn eventually(seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {seconds} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Deployment manifest of `image` with `replicas`, labelled `app: <name>`.
pub fn deployment(name: &str, image: &str, replicas: u32, extra_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
{extra_spec}  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: web
        image: {image}
        ports:
        - containerPort: 8080
"
    )
}

/// The body of `GET <path>` on `url` (`http://127.0.0.1:<port>`), over HTTP/1.0.
pub async fn http_get(url: &str, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await??;
    let text = String::from_utf8_lossy(&response).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => Ok(body.to_string()),
        _ => Err(std::io::Error::other(format!("not a 200 answer: {text:?}"))),
    }
}

fn dockerd_answers() -> bool {
    std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Starts dockerd (detached, in its own session, as the brief of these tests says) unless it
/// answers already, and waits up to a minute for it.
pub fn docker_ready() {
    static READY: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    READY.get_or_init(|| {
        if dockerd_answers() {
            return;
        }
        let started = std::process::Command::new("sh")
            .args(["-c", "(setsid dockerd >/tmp/dockerd.log 2>&1 &)"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            started,
            "dockerd cannot be started; install it: apt-get install -y docker.io busybox-static"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !dockerd_answers() {
            assert!(
                std::time::Instant::now() < deadline,
                "dockerd did not answer within 60 s (see /tmp/dockerd.log)"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}
