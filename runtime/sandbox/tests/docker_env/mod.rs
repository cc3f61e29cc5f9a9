//! The real Docker environment the docker tests and benchmarks need: a running dockerd (started
//! here when the socket does not answer), a `FROM scratch` busybox image built once, and local
//! registries (`docker-registry`, with and without basic auth) on 127.0.0.1.
//!
//! Shared by `runtime/sandbox/tests` and, through `#[path]`, the CLI's tests and benchmark.
//! Without dockerd, busybox-static or docker-registry it panics saying what to install: these
//! tests never skip.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The base image every docker test uses: busybox on `scratch` (no public registry is reachable).
pub const BUSYBOX: &str = "sluice-test/busybox:latest";

/// The label the host puts on containers that runs create.
pub const RUN_LABEL: &str = "sluice.run";

const SOCKET: &str = "/var/run/docker.sock";
const INSTALL: &str = "apt-get install -y docker.io busybox-static docker-registry apache2-utils";

/// One docker test at a time in a process: they assert on the daemon's whole container list.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs the docker CLI; panics with its output when it fails.
pub fn docker(args: &[&str]) -> String {
    let output = docker_output(args);
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn docker_output(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the docker CLI ({e}); install it: {INSTALL}"))
}

fn daemon_answers() -> bool {
    Path::new(SOCKET).exists()
        && docker_output(&["version", "--format", "{{.Server.Version}}"]).status.success()
}

/// Makes sure dockerd runs (starting it in the background if needed) and the busybox image
/// exists. Call at the start of every docker test.
pub fn ready() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        if !daemon_answers() {
            start_dockerd();
        }
        ensure_busybox();
    });
}

// dockerd is left running for the tests after this process (and for the next test binaries).
#[allow(clippy::zombie_processes)]
fn start_dockerd() {
    let log = std::fs::File::create(std::env::temp_dir().join("sluice-test-dockerd.log")).unwrap();
    Command::new("dockerd")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("dockerd is not running and cannot be started ({e}); install it: {INSTALL}")
        });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !daemon_answers() {
        assert!(
            Instant::now() < deadline,
            "dockerd did not answer within 60 s (see /tmp/sluice-test-dockerd.log)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ensure_busybox() {
    if docker_output(&["image", "inspect", BUSYBOX]).status.success() {
        return;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| panic!("no busybox binary; install it: {INSTALL}"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(busybox, dir.path().join("busybox")).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
    docker(&["build", "-q", "-t", BUSYBOX, dir.path().to_str().unwrap()]);
}

/// Builds `dockerfile` (with `files`, path and content, in its context) with the docker CLI as
/// `tag`; returns the image id.
pub fn build_image(tag: &str, dockerfile: &str, files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    for (path, content) in files {
        std::fs::write(dir.path().join(path), content).unwrap();
    }
    docker(&["build", "-q", "-t", tag, dir.path().to_str().unwrap()]);
    docker(&["image", "inspect", "-f", "{{.Id}}", tag]).trim().to_string()
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Ids of all containers (running or not) that carry the run label.
pub fn labelled_containers() -> Vec<String> {
    docker(&["ps", "-aq", "--filter", &format!("label={RUN_LABEL}")]).lines().map(str::to_string).collect()
}

/// Waits until no container carries the run label; panics with the ids after `within`.
pub fn assert_no_labelled_containers(within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = labelled_containers();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "containers left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `docker-registry` on 127.0.0.1 with its own storage, stopped on drop.
pub struct Registry {
    /// `127.0.0.1:<port>`, the registry part of image names.
    pub address: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// A registry without authentication.
    pub fn start() -> Registry {
        Self::start_with(None, closed_port())
    }

    /// A registry without authentication on 127.0.0.1:`port`.
    pub fn start_on(port: u16) -> Registry {
        Self::start_with(None, port)
    }

    /// A registry that wants basic auth for `user` / `password`.
    pub fn with_basic_auth(user: &str, password: &str) -> Registry {
        Self::start_with(Some((user, password)), closed_port())
    }

    fn start_with(auth: Option<(&str, &str)>, port: u16) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let address = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n",
            storage.display()
        );
        if let Some((user, password)) = auth {
            let htpasswd = dir.path().join("htpasswd");
            let output = Command::new("htpasswd")
                .args(["-Bbc", htpasswd.to_str().unwrap(), user, password])
                .output()
                .unwrap_or_else(|e| panic!("cannot run htpasswd ({e}); install it: {INSTALL}"));
            assert!(output.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&output.stderr));
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: sluice-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", config_path.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start docker-registry ({e}); install it: {INSTALL}"));
        let registry = Registry { address, child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&registry.address).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen on {}", registry.address);
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// Where its log goes.
    pub fn log(&self) -> PathBuf {
        self._dir.path().join("registry.log")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
