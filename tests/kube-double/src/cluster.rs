//! The state the API handlers and the controllers share: the store, the credentials, the pod
//! runtime with the containers it started, and the proxies in front of Services and routes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::resources::{self, ResourceType};
use crate::runtime::{Container, PodRuntime, ServiceProxy};
use crate::store::Store;

/// The containers started for one pod, by container name.
#[derive(Clone, Debug, Default)]
pub struct PodContainers {
    pub containers: Vec<(String, Container)>,
}

/// A proxy's owner: (`services` or `httproutes`, namespace, name).
pub type ProxyKey = (&'static str, String, String);

/// What a [`Cluster`] runs pods with.
pub enum Pods {
    /// Real containers on the test's dockerd.
    Containers(Arc<PodRuntime>),
    /// No containers: a pod is Running and Ready this long after it is scheduled.
    Simulated(Duration),
}

pub struct Cluster {
    pub store: Store,
    pub token: String,
    /// `127.0.0.1:<port>` of the API server.
    pub address: String,
    pub pods: Pods,
    /// The containers of each pod, by (namespace, name).
    pub containers: Mutex<HashMap<(String, String), PodContainers>>,
    /// The proxy in front of each Service (`services`) and HTTPRoute (`httproutes`), by
    /// (resource, namespace, name).
    pub proxies: Mutex<HashMap<ProxyKey, Arc<ServiceProxy>>>,
    /// The uids of the pods the kubelet runs a task for.
    pub kubelet_pods: Mutex<HashSet<String>>,
    /// Set when the double stops: pod tasks end without starting anything more.
    pub stopped: AtomicBool,
}

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A served core or apps resource by plural (the table is static; a missing name is a bug).
pub fn rt(group: &str, plural: &str) -> &'static ResourceType {
    match resources::by_plural(group, "v1", plural) {
        Some(rt) => rt,
        None => panic!("{group}/{plural} is not in the resource table"),
    }
}

impl Cluster {
    pub fn new(token: String, address: String, pods: Pods) -> Self {
        Cluster {
            store: Store::new(),
            token,
            address,
            pods,
            containers: Mutex::new(HashMap::new()),
            proxies: Mutex::new(HashMap::new()),
            kubelet_pods: Mutex::new(HashSet::new()),
            stopped: AtomicBool::new(false),
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    pub fn proxy_port(&self, resource: &'static str, namespace: &str, name: &str) -> Option<u16> {
        lock(&self.proxies).get(&(resource, namespace.to_string(), name.to_string())).map(|p| p.port())
    }
}
