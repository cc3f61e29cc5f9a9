//! A double of the Kubernetes API server for sluice's tests, held to the real kubectl.
//!
//! No kube-apiserver can run here, so the kubernetes plugin's tests talk to this one: an HTTPS
//! server on 127.0.0.1 (its own CA, a certificate for 127.0.0.1 and `localhost`), bearer-token
//! or client-certificate authentication, and the parts of the API the plugin and kubectl use,
//! behaving as a real cluster does. Its pods are real containers on the test's dockerd (see
//! [`runtime`]), or, in [`Options::without_containers`], pods that become Ready on their own.
//!
//! The path of a request: `server` (TLS, authentication) → `api` (routing) → `rest_read`,
//! `rest_write`, `rest_delete`, `watch`, `logs` → `write` (the one write path: metadata,
//! defaulting in `defaults`, `validation`, managedFields in `apply`) → `store` (objects, the
//! global resourceVersion, the event history watchers and controllers read) → `controllers`.
//!
//! What it implements:
//! - discovery (`/version`, `/api`, `/apis`, resource lists with short names; plain discovery,
//!   which kubectl reads when its aggregated form is not answered), the OpenAPI v3 documents
//!   kubectl's field validation looks up, a minimal OpenAPI v2 document, `/healthz`;
//! - core/v1 Namespaces, Nodes, Pods (+ `log`: `container`, `sinceSeconds`, `tailLines`,
//!   `follow`), Services, Endpoints, ConfigMaps, Secrets, Events; apps/v1 Deployments (+ `scale`,
//!   `status`), ReplicaSets, StatefulSets, DaemonSets; gateway.networking.k8s.io/v1 HTTPRoutes;
//! - get, list and watch with label and field selectors (watches from any resourceVersion, with
//!   bookmarks, `timeoutSeconds`, `sendInitialEvents`); create, update (stale resourceVersion →
//!   409), delete with propagation policies and finalizers; patches: server-side apply with
//!   managedFields, conflicts and `force`, merge, JSON and strategic merge; `dryRun=All`;
//!   `Status` errors worded as the real server words them; Tables for `kubectl get`;
//! - controllers: deployment (revisions, rolling update, recreate, pause, progress deadline,
//!   conditions), ReplicaSet, StatefulSet, DaemonSet, a kubelet (probes, restarts), the garbage
//!   collector, namespaces, Service and HTTPRoute proxies on local ports (a NodePort Service's
//!   on 127.0.0.1:`nodePort`, the node's address, allocated from 30000-32767 when not given).
//!
//! What it leaves out: admission (no webhooks, quotas, limit ranges, pod security), RBAC (every
//! authenticated user may do anything), real scheduling (one node, `kube-double`), API
//! aggregation and CRDs (stored, never served), CBOR, protobuf request bodies of kinds other
//! than Namespace, ConfigMap, Secret, Service and Deployment (answered 415), `fieldValidation`
//! (unknown fields are kept), OpenAPI schemas (`kubectl explain`), recorded events, pagination
//! (`limit` and `continue` answer everything at once), ControllerRevisions, EndpointSlices,
//! volumes, exec and port-forward, pod networking beyond each Service's first port, and the watch
//! cache's expiry (a watch may start at any resourceVersion ever served).
//!
//! In a test:
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use kube_double::{KubeDouble, Options};
//!
//! // Options::default() runs pods as containers on the test's dockerd.
//! let double = KubeDouble::start(Options::without_containers()).await?;
//! double.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?; // kubectl --kubeconfig ...
//! let (server, ca, token) = (double.url(), double.ca_pem(), double.token()); // or a client cert
//! let web = double.object("apps/v1", "deploy", "default", "web"); // what is stored, for asserts
//! let traffic = double.service_url("default", "web"); // http://127.0.0.1:<port> of the Service
//! # let _ = (server, ca, token, web, traffic);
//! # Ok(())
//! # }
//! ```

pub mod runtime;

mod api;
mod apply;
mod cluster;
mod controllers;
mod defaults;
mod discovery;
mod fieldset;
mod http;
mod logs;
mod patch;
mod protobuf;
mod resources;
mod rest_delete;
mod rest_read;
mod rest_write;
mod schema;
mod selectors;
mod server;
mod status;
mod store;
mod table;
mod tls;
mod validation;
mod watch;
mod write;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use cluster::{Cluster, Pods};

pub use controllers::network::LOCAL_PORT;
pub use selectors::{FieldSelector, LabelSelector};

/// How the double runs pods.
#[derive(Clone, Debug)]
pub struct Options {
    /// Run pods as containers on the test's dockerd; otherwise pods become Running and Ready
    /// `ready_delay` after they are scheduled (their probes are not run).
    pub containers: bool,
    pub ready_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { containers: true, ready_delay: Duration::from_millis(50) }
    }
}

impl Options {
    /// Pods without containers, Ready after 50 ms.
    pub fn without_containers() -> Self {
        Options { containers: false, ..Options::default() }
    }
}

/// A running double. Dropping it stops the server and removes its containers.
pub struct KubeDouble {
    cluster: Arc<Cluster>,
    ca_pem: String,
    client: tls::CertifiedKey,
    port: u16,
    tasks: Vec<JoinHandle<()>>,
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

const USER: &str = "kube-double-admin";

impl KubeDouble {
    /// Starts the server on a port of its own, with the namespaces a new cluster has
    /// (`default`, `kube-system`, `kube-public`, `kube-node-lease`) and the node.
    pub async fn start(options: Options) -> anyhow::Result<Self> {
        let pods = if options.containers {
            Pods::Containers(Arc::new(runtime::PodRuntime::connect().await?))
        } else {
            Pods::Simulated(options.ready_delay)
        };
        let pki = tls::make(USER)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let token = uuid::Uuid::new_v4().simple().to_string();
        let cluster = Arc::new(Cluster::new(token, format!("127.0.0.1:{port}"), pods));
        seed(&cluster)?;
        let tasks = vec![
            tokio::spawn(server::serve(listener, pki.server_config.clone(), cluster.clone())),
            tokio::spawn(controllers::run(cluster.clone())),
        ];
        Ok(KubeDouble { cluster, ca_pem: pki.ca_pem, client: pki.client, port, tasks })
    }

    /// [`KubeDouble::start`] with [`Options::without_containers`]: no dockerd needed.
    pub async fn start_without_containers() -> anyhow::Result<Self> {
        KubeDouble::start(Options::without_containers()).await
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The CA that signed the server's (and the client's) certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The bearer token the server accepts.
    pub fn token(&self) -> &str {
        &self.cluster.token
    }

    /// A client certificate and key (PEM) the server accepts, for user `kube-double-admin`.
    pub fn client_certificate(&self) -> (&str, &str) {
        (&self.client.cert_pem, &self.client.key_pem)
    }

    /// A kubeconfig with the server, its CA and the token.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_with(self.token(), &self.ca_pem)
    }

    /// A kubeconfig that presents `token` and trusts `ca_pem` (a wrong one for negative tests).
    pub fn kubeconfig_with(&self, token: &str, ca_pem: &str) -> String {
        self.kubeconfig_for(ca_pem, &format!("    token: {token}\n"))
    }

    /// A kubeconfig that authenticates with the client certificate instead of the token.
    pub fn kubeconfig_with_client_certificate(&self) -> String {
        let user = format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&self.client.cert_pem),
            b64(&self.client.key_pem)
        );
        self.kubeconfig_for(&self.ca_pem, &user)
    }

    fn kubeconfig_for(&self, ca_pem: &str, user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-double\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: {USER}\n  user:\n{user}contexts:\n- name: kube-double\n  context:\n    cluster: kube-double\n    user: {USER}\n    namespace: default\ncurrent-context: kube-double\npreferences: {{}}\n",
            self.url(),
            b64(ca_pem),
        )
    }

    /// Writes [`KubeDouble::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }

    /// The stored object, for assertions: `group_version` as in `apiVersion` (`apps/v1`, `v1`),
    /// `kind_or_resource` a kind, plural, singular or short name (`Deployment`, `deploy`),
    /// `namespace` ignored for cluster-scoped kinds.
    pub fn object(
        &self,
        group_version: &str,
        kind_or_resource: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let rt = resources::lookup(group_version, kind_or_resource)?;
        self.cluster.store.get(rt, namespace, name)
    }

    /// Every stored object of a kind in `namespace` (all namespaces when `None`).
    pub fn objects(
        &self,
        group_version: &str,
        kind_or_resource: &str,
        namespace: Option<&str>,
    ) -> Vec<Value> {
        match resources::lookup(group_version, kind_or_resource) {
            Some(rt) => self.cluster.store.list(rt, namespace).0,
            None => Vec::new(),
        }
    }

    /// `http://127.0.0.1:<port>` where the Service answers (its first port), once the
    /// controllers have seen it.
    pub fn service_url(&self, namespace: &str, name: &str) -> Option<String> {
        self.cluster.proxy_port("services", namespace, name).map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// `http://127.0.0.1:<port>` of the HTTPRoute's listener (its backends split by weight).
    pub fn route_url(&self, namespace: &str, name: &str) -> Option<String> {
        self.cluster.proxy_port("httproutes", namespace, name).map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// The runtime's instance id (the value of [`runtime::INSTANCE_LABEL`] on the containers
    /// of this double), when it runs containers.
    pub fn runtime_instance(&self) -> Option<&str> {
        match &self.cluster.pods {
            Pods::Containers(runtime) => Some(runtime.instance()),
            Pods::Simulated(_) => None,
        }
    }

    /// Stops the server and the controllers and removes every container the double started.
    pub async fn shutdown(mut self) {
        self.cluster.stop();
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Pods::Containers(runtime) = &self.cluster.pods {
            let runtime = runtime.clone();
            // Ignored: a panic in the blocking cleanup leaves containers the next run removes.
            let _ = tokio::task::spawn_blocking(move || runtime.remove_all_blocking()).await;
        }
    }
}

impl Drop for KubeDouble {
    fn drop(&mut self) {
        self.cluster.stop();
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Pods::Containers(runtime) = &self.cluster.pods {
            runtime.remove_all_blocking();
        }
    }
}

fn seed(cluster: &Cluster) -> anyhow::Result<()> {
    let namespaces = cluster::rt("", "namespaces");
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let ctx = write::WriteContext { create: true, ..Default::default() };
        write::commit(&cluster.store, namespaces, ns, &ctx).map_err(|e| anyhow::anyhow!(e.message))?;
    }
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": controllers::daemonset::NODE, "labels": {"kubernetes.io/hostname": controllers::daemonset::NODE, "kubernetes.io/os": "linux"}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": controllers::daemonset::NODE}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "operatingSystem": "linux", "architecture": "amd64"}}});
    cluster.store.put(cluster::rt("", "nodes"), {
        let mut n = node;
        n["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        n["metadata"]["creationTimestamp"] = json!(write::now());
        n
    });
    Ok(())
}
