//! `pods/<name>/log`: a container's output from the runtime, with `container`, `sinceSeconds`,
//! `tailLines` and `follow` (a stream that ends when the container stops).

use std::sync::Arc;
use std::time::Duration;

use ::http::Response;
use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::api::Target;
use crate::cluster::{Cluster, Pods, lock};
use crate::http::{self, Body, Request};
use crate::runtime::Container;
use crate::runtime::LogOptions;
use crate::status::ApiError;

fn container_names(pod: &serde_json::Value) -> Vec<String> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

pub async fn serve(
    cluster: &Arc<Cluster>,
    request: &Request,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let name = target.name.as_deref().unwrap_or("");
    let pod = cluster
        .store
        .get(target.rt, &target.namespace, name)
        .ok_or_else(|| ApiError::not_found(target.rt, name))?;
    let names = container_names(&pod);
    let container_name = match request.param("container") {
        Some(c) if !c.is_empty() => {
            if !names.iter().any(|n| n == c) {
                return Err(ApiError::bad_request(format!("container {c} is not valid for pod {name}")));
            }
            c.to_string()
        }
        _ if names.len() == 1 => names[0].clone(),
        _ => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let runtime = match &cluster.pods {
        Pods::Containers(runtime) => runtime.clone(),
        Pods::Simulated(_) => return Ok(http::text(200, String::new())),
    };
    let started: Option<Container> = lock(&cluster.containers)
        .get(&(target.namespace.clone(), name.to_string()))
        .and_then(|p| p.containers.iter().find(|(n, _)| *n == container_name).map(|(_, c)| c.clone()));
    let Some(container) = started else {
        return Err(ApiError::bad_request(format!(
            "container \"{container_name}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        )));
    };
    let options = LogOptions {
        since: request.param("sinceSeconds").and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs),
        tail: request.param("tailLines").and_then(|t| t.parse::<u64>().ok()),
        timestamps: request.flag("timestamps"),
    };
    let failed = |e: anyhow::Error| {
        ApiError::internal(format!("reading the logs of container {container_name:?}: {e}"))
    };
    if !request.flag("follow") {
        let text = runtime.logs_with(&container, &options).await.map_err(failed)?;
        return Ok(http::text(200, text));
    }
    let mut stream = runtime.follow_logs(&container, &options).await.map_err(failed)?;
    let (out, chunks) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if out.send(Bytes::copy_from_slice(&buffer[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(http::stream("text/plain", chunks))
}
