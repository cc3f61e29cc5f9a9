//! The laptop setup of `examples/cicd`, every piece real and on 127.0.0.1, for the end-to-end
//! test of its pipeline: the service's repository behind `git http-backend`, `sluice server`
//! (the example flow deployed, its secrets set), Debian's `docker-registry`, the Kubernetes API
//! double whose pods are real containers on the test's dockerd, the real Prometheus scraping
//! those pods, and the Slack, Jira and PagerDuty doubles.
//!
//! The pipeline's inputs default to fixed ports (below), as the example's README sets them up:
//! ports under 32768, out of the range the kernel hands out to the other tests' servers.

#![allow(dead_code, clippy::unwrap_used)]

pub mod github;
pub mod shoppers;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use kube_double::{KubeDouble, Options};
use serde_json::Value;

use crate::common::server::Server;
use crate::docker_env::{Registry, closed_port, docker_output};
use crate::jira::Jira;
use crate::support_git::{GitServer, git, make_repo};
use crate::support_kube::prometheus::Prometheus;
use crate::support_notify::{pagerduty, server::Server as NotifyServer, slack};

pub const REGISTRY_PORT: u16 = 15000;
pub const PROMETHEUS_PORT: u16 = 19090;
pub const JIRA_PORT: u16 = 18080;
pub const PAGERDUTY_PORT: u16 = 18082;
/// The shop Service's NodePort (the double's node is 127.0.0.1).
pub const SHOP_URL: &str = "http://127.0.0.1:30080";
pub const IMAGE: &str = "127.0.0.1:15000/shop/service";

pub const WEBHOOK_SECRET: &str = "gh-hook-s3cret-for-the-shop";
pub const JIRA_EMAIL: &str = "ci@shop.example";
pub const JIRA_TOKEN: &str = "jira-api-tokenSECRET-0001";

/// `examples/cicd` in the source tree.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cicd")
}

/// Everything the pipeline talks to. Dropped in field order: the server stops first.
pub struct World {
    pub server: Server,
    pub kube: Arc<KubeDouble>,
    pub prometheus: Prometheus,
    pub registry: Registry,
    pub slack: NotifyServer,
    pub pagerduty: NotifyServer,
    pub jira: Jira,
    pub git: GitServer,
    /// The developer's clone the pushes are made from.
    pub work: PathBuf,
    pub clone_url: String,
    dir: tempfile::TempDir,
}

impl World {
    /// Builds (or finds cached) the base image, starts every piece and deploys the pipeline.
    pub async fn start() -> World {
        crate::docker_env::ready();
        base_image();
        let dir = tempfile::tempdir().unwrap();
        let repos = dir.path().join("git");
        std::fs::create_dir_all(&repos).unwrap();
        make_repo(&repos, "shop", |work| {
            copy_dir(&example_dir().join("service"), work);
            git(work, &["add", "-A"]);
            git(work, &["commit", "-q", "-m", "shop: the first version"]);
        });
        let git_server = GitServer::start(&repos);
        let clone_url = crate::support_git::Serves::url(&git_server, "shop");

        let registry = Registry::start_on(REGISTRY_PORT);
        let kube = Arc::new(KubeDouble::start(Options::default()).await.unwrap());
        let prometheus = start_prometheus(&kube);
        let slack = slack::start();
        let pagerduty = pagerduty::start_on(PAGERDUTY_PORT);
        let jira = Jira::start_on(JIRA_PORT, &[basic(JIRA_EMAIL, JIRA_TOKEN)]);
        jira.add_issue(1, "Release the shop service", "In Progress");

        let port = closed_port();
        let public_url = format!("http://127.0.0.1:{port}");
        let secrets = [
            ("SLUICE_SECRET_GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET.to_string()),
            ("SLUICE_SECRET_KUBECONFIG", kube.kubeconfig()),
            ("SLUICE_SECRET_SLACK_WEBHOOK", slack.url(slack::WEBHOOK_PATH)),
            ("SLUICE_SECRET_JIRA_TOKEN", JIRA_TOKEN.to_string()),
            ("SLUICE_SECRET_PAGERDUTY_ROUTING_KEY", pagerduty::ROUTING_KEY.to_string()),
        ];
        let env: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let data = dir.path().join("sluice");
        let server =
            Server::start_bound(&data, &format!("127.0.0.1:{port}"), &["--public-url", &public_url], &env);
        let pipeline = std::fs::read_to_string(example_dir().join("pipeline.yaml")).unwrap();
        let (status, doc) = server.post("/api/v1/flows", &pipeline).await;
        assert_eq!(status, 201, "deploying examples/cicd/pipeline.yaml: {doc:#}");

        World {
            server,
            kube,
            prometheus,
            registry,
            slack,
            pagerduty,
            jira,
            git: git_server,
            work: repos.join("shop.work"),
            clone_url,
            dir,
        }
    }

    /// Commits the work tree's changes (after `change` ran in it) and pushes them to the served
    /// repository; the new commit's id.
    pub fn commit_and_push(&self, message: &str, change: impl FnOnce(&Path)) -> String {
        change(&self.work);
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        self.push_head()
    }

    /// Pushes the work tree's HEAD to `main` of the served repository; its commit id.
    pub fn push_head(&self) -> String {
        let bare = self.work.with_file_name("shop.git");
        git(&self.work, &["push", "-q", bare.to_str().unwrap(), "HEAD:main"]);
        git(&self.work, &["rev-parse", "HEAD"]).trim().to_string()
    }

    /// Applies one of `examples/cicd/changes/*.patch` to the work tree.
    pub fn apply_patch(work: &Path, name: &str) {
        let patch = example_dir().join("changes").join(name);
        git(work, &["apply", patch.to_str().unwrap()]);
    }

    /// Sends GitHub's push webhook for `after` (over `before`) and waits for the execution it
    /// started to end; its document.
    pub async fn push(&self, before: &str, after: &str, message: &str) -> Value {
        let event = github::push_event(&self.clone_url, before, after, message);
        let body = serde_json::to_vec(&event).unwrap();
        let url = self.server.url("/api/v1/webhooks/examples.cicd/shop-delivery/shop-push");
        let mut request = self.server.http.post(url).body(body.clone());
        for (name, value) in
            github::delivery_headers(WEBHOOK_SECRET, &body, &format!("delivery-{}", &after[..8]))
        {
            request = request.header(name, value);
        }
        let (status, started) = self.server.send(request).await;
        assert_eq!(status, 202, "{started:#}");
        let doc = self.wait_for_end(started["executionId"].as_str().unwrap()).await;
        assert_eq!(doc["flowId"], "shop-delivery");
        doc
    }

    /// Waits until the execution has ended (up to 10 minutes); its document.
    pub async fn wait_for_end(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let (status, doc) = self.server.get(&format!("/api/v1/executions/{id}")).await;
            assert_eq!(status, 200, "{doc:#}");
            if matches!(
                doc["state"].as_str(),
                Some("SUCCESS" | "FAILED" | "WARNING" | "KILLED" | "CANCELLED")
            ) {
                return doc;
            }
            assert!(Instant::now() < deadline, "execution {id} did not end within 10 minutes: {doc:#}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The tags the registry holds for the shop's image.
    pub fn registry_tags(&self) -> Vec<String> {
        let url = format!("http://{}/v2/shop/service/tags/list", self.registry.address);
        let Some(body) = crate::support_kube::http_get(&url) else { return Vec::new() };
        let doc: Value = serde_json::from_str(&body).unwrap_or_default();
        let mut tags: Vec<String> = doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        tags.sort();
        tags
    }

    /// The image of the shop Deployment's container, as stored in the cluster.
    pub fn deployed_image(&self, name: &str) -> Option<String> {
        let deployment = self.kube.object("apps/v1", "Deployment", "shop", name)?;
        deployment["spec"]["template"]["spec"]["containers"][0]["image"].as_str().map(String::from)
    }

    /// The Deployment's replicas, as stored.
    pub fn replicas(&self, name: &str) -> Option<i64> {
        self.kube.object("apps/v1", "Deployment", "shop", name)?["spec"]["replicas"].as_i64()
    }

    /// The pods of the shop namespace that are not being deleted, with `label` (`key=value`).
    pub fn live_pods(&self, label: (&str, &str)) -> Vec<Value> {
        self.kube
            .objects("v1", "Pod", Some("shop"))
            .into_iter()
            .filter(|p| !p["metadata"]["deletionTimestamp"].is_string())
            .filter(|p| p["metadata"]["labels"][label.0] == label.1)
            .collect()
    }
}

impl World {
    /// Runs `work` while taking [`World::diagnose`] every second: its output, and the samples
    /// (each with the seconds since the start), to print when a release went wrong.
    pub async fn traced<T>(&self, work: impl std::future::Future<Output = T>) -> (T, String) {
        let done = std::sync::atomic::AtomicBool::new(false);
        let samples = std::sync::Mutex::new(Vec::new());
        let sample = async {
            let start = Instant::now();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let at = start.elapsed().as_secs_f64();
                samples.lock().unwrap().push(format!("at {at:.1} s: {}", self.diagnose()));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        let work = async {
            let output = work.await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            output
        };
        let (output, ()) = tokio::join!(work, sample);
        (output, samples.into_inner().unwrap().join("\n"))
    }

    /// What to look at when a release did not go as expected: the shop's pods as the cluster has
    /// them, and what Prometheus scrapes.
    pub fn diagnose(&self) -> String {
        let pods: Vec<String> = self
            .kube
            .objects("v1", "Pod", Some("shop"))
            .iter()
            .map(|p| {
                let ready = p["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True");
                format!(
                    "{} {} ready={ready} ip={} track={} deleting={}",
                    p["metadata"]["name"].as_str().unwrap_or("?"),
                    p["status"]["phase"].as_str().unwrap_or("?"),
                    p["status"]["podIP"].as_str().unwrap_or("-"),
                    p["metadata"]["labels"]["sluice.dev/track"].as_str().unwrap_or("stable"),
                    p["metadata"]["deletionTimestamp"].is_string()
                )
            })
            .collect();
        let targets =
            crate::support_kube::http_get(&format!("{}/api/v1/targets?state=active", self.prometheus.url))
                .and_then(|body| serde_json::from_str::<Value>(&body).ok())
                .map(|doc| {
                    doc["data"]["activeTargets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| format!("{} {} {}", t["labels"]["pod"], t["health"], t["lastError"]))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
        let endpoints = self.kube.object("v1", "Endpoints", "shop", "shop").map(|e| e["subsets"].to_string());
        format!(
            "pods:\n  {}\nendpoints of shop: {}\nscrape targets:\n  {}",
            pods.join("\n  "),
            endpoints.unwrap_or_default(),
            targets.join("\n  ")
        )
    }
}

/// `Basic base64(user:password)`, as Jira's double expects it.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// The example's base image (`examples/cicd/base-image.sh`: Debian's minbase with python3,
/// pytest, coverage and pyflakes), built once and then found in dockerd's image store.
fn base_image() {
    let script = example_dir().join("base-image.sh");
    let started = Instant::now();
    let output = std::process::Command::new("bash").arg(&script).output().unwrap();
    assert!(
        output.status.success(),
        "{} failed:\n{}{}",
        script.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("base image ready in {:.1} s", started.elapsed().as_secs_f64());
    assert!(docker_output(&["image", "inspect", "sluice-cicd/python:bookworm"]).status.success());
}

/// Prometheus as a cluster runs it, scraping each pod of the shop that asks for it
/// (`prometheus.io/scrape`) at its pod IP and `http` port, its series labelled with the pod's
/// name and canary track. Debian builds Prometheus without Kubernetes service discovery, so
/// [`discover_pods`] plays `kubernetes_sd_configs` (role pod): it lists the pods and hands
/// Prometheus the targets through `file_sd_configs`.
fn start_prometheus(kube: &Arc<KubeDouble>) -> Prometheus {
    let scrape = |dir: &Path| {
        format!(
            "  - job_name: shop\n    file_sd_configs:\n      - files: ['{}/pods.json']\n        refresh_interval: 1s\n",
            dir.display()
        )
    };
    let prometheus = Prometheus::with_scrape_configs(PROMETHEUS_PORT, scrape, &[("pods.json", "[]")]);
    let targets = prometheus.dir().join("pods.json");
    let kube = Arc::downgrade(kube);
    std::thread::spawn(move || {
        // Until the double is gone.
        while let Some(kube) = kube.upgrade() {
            let pods = serde_json::to_string(&discover_pods(&kube)).unwrap();
            drop(kube);
            let next = targets.with_extension("next");
            std::fs::write(&next, pods).unwrap();
            std::fs::rename(&next, &targets).unwrap();
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    prometheus
}

/// The scrape targets of the shop's running pods, as Prometheus's pod discovery and the
/// relabelling of a cluster's usual scrape config would make them.
fn discover_pods(kube: &KubeDouble) -> Vec<Value> {
    kube.objects("v1", "Pod", Some("shop"))
        .iter()
        .filter(|pod| pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true")
        .filter_map(|pod| {
            let ip = pod["status"]["podIP"].as_str().filter(|_| pod["status"]["phase"] == "Running")?;
            let port = pod["spec"]["containers"].as_array()?.iter().find_map(|c| {
                c["ports"].as_array()?.iter().find(|p| p["name"] == "http")?["containerPort"].as_u64()
            })?;
            let mut labels = serde_json::json!({"pod": pod["metadata"]["name"]});
            if let Some(track) = pod["metadata"]["labels"]["sluice.dev/track"].as_str() {
                labels["track"] = track.into();
            }
            Some(serde_json::json!({"targets": [format!("{ip}:{port}")], "labels": labels}))
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
