//! Services and HTTPRoutes: each Service gets a cluster IP, a proxy on 127.0.0.1 in front of its
//! ready pods (its first port, to the pods' published ports) and an Endpoints object; each
//! HTTPRoute a proxy splitting connections between its backend Services by weight, and an
//! Accepted status. The local ports are on the annotation [`LOCAL_PORT`] and through
//! `KubeDouble::service_url` / `route_url`.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{deleting, name_of, namespace_of, pod_ready};
use crate::cluster::{Cluster, lock, rt};
use crate::runtime::ServiceProxy;
use crate::selectors::LabelSelector;
use crate::write::{self, WriteContext};

/// The annotation that tells where a Service or HTTPRoute answers on 127.0.0.1.
pub const LOCAL_PORT: &str = "kube-double.sluice.dev/local-port";

pub async fn reconcile(cluster: &Arc<Cluster>) {
    services(cluster).await;
    routes(cluster).await;
}

/// The object's proxy: on `node_port` when one is asked for (a NodePort Service: the node's
/// address is 127.0.0.1, so that is where it answers), else on a port of its own.
async fn proxy(
    cluster: &Cluster,
    resource: &'static str,
    ns: &str,
    name: &str,
    node_port: Option<u16>,
) -> Option<Arc<ServiceProxy>> {
    let key = (resource, ns.to_string(), name.to_string());
    if let Some(p) = lock(&cluster.proxies).get(&key)
        && node_port.is_none_or(|port| port == p.port())
    {
        return Some(p.clone());
    }
    let bound = match node_port {
        Some(port) => ServiceProxy::bind_to(SocketAddr::from(([127, 0, 0, 1], port))).await,
        None => ServiceProxy::bind().await,
    };
    let bound = Arc::new(bound.ok()?);
    lock(&cluster.proxies).insert(key, bound.clone());
    Some(bound)
}

/// The node port a NodePort or LoadBalancer Service answers on: its first port's `nodePort`, or
/// one allocated from the node port range (free on 127.0.0.1) when it has none yet.
fn node_port(cluster: &Cluster, svc: &Value) -> Option<u16> {
    if !matches!(svc["spec"]["type"].as_str(), Some("NodePort" | "LoadBalancer")) {
        return None;
    }
    if let Some(port) = svc["spec"]["ports"][0]["nodePort"].as_u64() {
        return u16::try_from(port).ok();
    }
    let key = ("services", namespace_of(svc).to_string(), name_of(svc).to_string());
    if let Some(p) = lock(&cluster.proxies).get(&key)
        && crate::validation::NODE_PORTS.contains(&u64::from(p.port()))
    {
        return Some(p.port());
    }
    crate::validation::NODE_PORTS
        .filter_map(|p| u16::try_from(p).ok())
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
}

fn forget_missing(cluster: &Cluster, resource: &'static str, live: &[Value]) {
    lock(&cluster.proxies).retain(|(r, ns, name), _| {
        *r != resource || live.iter().any(|o| namespace_of(o) == ns && name_of(o) == name && !deleting(o))
    });
}

/// Annotates the object with its local port (and a Service with its cluster IP).
fn mark(cluster: &Cluster, resource: &'static str, object: &Value, port: u16, cluster_ip: Option<String>) {
    let mut next = object.clone();
    next["metadata"]["annotations"][LOCAL_PORT] = json!(port.to_string());
    if resource == "services" && matches!(object["spec"]["type"].as_str(), Some("NodePort" | "LoadBalancer"))
    {
        next["spec"]["ports"][0]["nodePort"] = json!(port);
    }
    if let Some(ip) = cluster_ip {
        next["spec"]["clusterIP"] = json!(ip);
        next["spec"]["clusterIPs"] = json!([ip]);
    }
    if next != *object {
        let _ = write::commit(
            &cluster.store,
            rt(if resource == "services" { "" } else { "gateway.networking.k8s.io" }, resource),
            next,
            &WriteContext::default(),
        );
    }
}

/// The published address of the pod's container port `target` (a number or a port name).
fn backend(cluster: &Cluster, pod: &Value, target: &Value) -> Option<SocketAddr> {
    let containers =
        lock(&cluster.containers).get(&(namespace_of(pod).to_string(), name_of(pod).to_string())).cloned()?;
    let number = match target {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(named) => pod["spec"]["containers"]
            .as_array()?
            .iter()
            .find_map(|c| {
                c["ports"].as_array()?.iter().find(|p| p["name"] == named.as_str())?["containerPort"].as_u64()
            })
            .and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }?;
    containers
        .containers
        .iter()
        .find(|(_, c)| c.port == Some(number))
        .and_then(|(_, c)| c.host_port)
        .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
}

async fn services(cluster: &Arc<Cluster>) {
    let services = rt("", "services");
    let (items, _) = cluster.store.list(services, None);
    forget_missing(cluster, "services", &items);
    let (pods, _) = cluster.store.list(rt("", "pods"), None);
    for svc in items.iter().filter(|s| !deleting(s)) {
        let (ns, name) = (namespace_of(svc), name_of(svc));
        let Some(proxy) = proxy(cluster, "services", ns, name, node_port(cluster, svc)).await else {
            continue;
        };
        // A cluster IP from the uid: stable, and unique enough for a test's few Services.
        let ip = svc["spec"]["clusterIP"].as_str().is_none_or(str::is_empty).then(|| {
            let uid = svc["metadata"]["uid"].as_str().unwrap_or("");
            let n = u32::from_str_radix(uid.get(..4).unwrap_or("0"), 16).unwrap_or(0);
            format!("10.96.{}.{}", (n / 250) % 250, n % 250 + 2)
        });
        mark(cluster, "services", svc, proxy.port(), ip);
        let Some(selector) = svc["spec"]["selector"].as_object().filter(|s| !s.is_empty()) else { continue };
        let selector = LabelSelector::from_object(&json!({"matchLabels": selector})).unwrap_or_default();
        let target = svc["spec"]["ports"][0]["targetPort"].clone();
        let target = if target.is_null() { svc["spec"]["ports"][0]["port"].clone() } else { target };
        let ready: Vec<&Value> = pods
            .iter()
            .filter(|p| namespace_of(p) == ns && selector.matches(p) && !deleting(p) && pod_ready(p))
            .collect();
        let mut backends: Vec<(SocketAddr, u32)> =
            ready.iter().filter_map(|p| backend(cluster, p, &target)).map(|a| (a, 1)).collect();
        backends.sort();
        if proxy.backends() != backends {
            proxy.set_backends(backends);
        }
        endpoints(cluster, svc, &ready);
    }
}

fn endpoints(cluster: &Cluster, svc: &Value, ready: &[&Value]) {
    let addresses: Vec<Value> = ready
        .iter()
        .map(|p| json!({"ip": p["status"]["podIP"], "nodeName": super::daemonset::NODE,
            "targetRef": {"kind": "Pod", "namespace": namespace_of(p), "name": name_of(p), "uid": p["metadata"]["uid"]}}))
        .collect();
    let ports: Vec<Value> = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let mut port =
                json!({"port": p["targetPort"].as_u64().or(p["port"].as_u64()), "protocol": p["protocol"]});
            if let Some(n) = p["name"].as_str() {
                port["name"] = json!(n);
            }
            port
        })
        .collect();
    let subsets =
        if addresses.is_empty() { json!([]) } else { json!([{"addresses": addresses, "ports": ports}]) };
    let endpoints_rt = rt("", "endpoints");
    let existing = cluster.store.get(endpoints_rt, namespace_of(svc), name_of(svc));
    if existing
        .as_ref()
        .is_some_and(|e| e["subsets"] == subsets || (e.get("subsets").is_none() && subsets == json!([])))
    {
        return;
    }
    let mut object = existing.clone().unwrap_or_else(|| {
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {
            "name": name_of(svc), "namespace": namespace_of(svc), "labels": svc["metadata"]["labels"].clone()}})
    });
    if subsets == json!([]) {
        object.as_object_mut().map(|m| m.remove("subsets"));
    } else {
        object["subsets"] = subsets;
    }
    let ctx =
        WriteContext { create: existing.is_none(), ..WriteContext::controller("kube-controller-manager") };
    let _ = write::commit(&cluster.store, endpoints_rt, object, &ctx);
}

async fn routes(cluster: &Arc<Cluster>) {
    let routes_rt = rt("gateway.networking.k8s.io", "httproutes");
    let (items, _) = cluster.store.list(routes_rt, None);
    forget_missing(cluster, "httproutes", &items);
    for route in items.iter().filter(|r| !deleting(r)) {
        let (ns, name) = (namespace_of(route), name_of(route));
        let Some(proxy) = proxy(cluster, "httproutes", ns, name, None).await else { continue };
        mark(cluster, "httproutes", route, proxy.port(), None);
        let mut backends: Vec<(SocketAddr, u32)> = Vec::new();
        for rule in route["spec"]["rules"].as_array().into_iter().flatten() {
            for backend_ref in rule["backendRefs"].as_array().into_iter().flatten() {
                let target_ns = backend_ref["namespace"].as_str().unwrap_or(ns);
                let service = backend_ref["name"].as_str().unwrap_or("");
                let weight = backend_ref["weight"].as_u64().unwrap_or(1) as u32;
                if let Some(port) = cluster.proxy_port("services", target_ns, service) {
                    backends.push((SocketAddr::from(([127, 0, 0, 1], port)), weight));
                }
            }
        }
        if proxy.backends() != backends {
            proxy.set_backends(backends);
        }
        let generation = route["metadata"]["generation"].as_i64().unwrap_or(1);
        let parents: Vec<Value> = route["spec"]["parentRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|parent| {
                let previous = route["status"]["parents"].as_array().and_then(|ps| ps.iter().find(|p| p["parentRef"] == *parent));
                let previous_condition = |kind: &str| previous.and_then(|p| p["conditions"].as_array()?.iter().find(|c| c["type"] == kind).cloned());
                let mut accepted = super::make_condition(previous_condition("Accepted").as_ref(), "Accepted", "True", "Accepted", "Route is accepted", false);
                accepted["observedGeneration"] = json!(generation);
                let mut resolved = super::make_condition(previous_condition("ResolvedRefs").as_ref(), "ResolvedRefs", "True", "ResolvedRefs", "Resolved all the Object references for the Route", false);
                resolved["observedGeneration"] = json!(generation);
                json!({"parentRef": parent, "controllerName": "kube-double.sluice.dev/gateway", "conditions": [accepted, resolved]})
            })
            .collect();
        super::set_status(cluster, routes_rt, route, json!({"parents": parents}), "kube-double-gateway");
    }
}
