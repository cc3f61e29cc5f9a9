//! `?watch=true`: a chunked stream of JSON lines `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK",
//! "object":...}`, starting after the given resourceVersion (from the store's history) or
//! with the current objects as ADDED, filtered by namespace and selectors (an object that stops
//! matching is DELETED for the watcher, one that starts matching is ADDED), with bookmarks,
//! `sendInitialEvents` and `timeoutSeconds`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ::http::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::api::Target;
use crate::cluster::Cluster;
use crate::http::{self, Body, Request};
use crate::resources::ResourceType;
use crate::rest_read::Filter;
use crate::status::ApiError;
use crate::store::{Event, EventType};
use crate::table;

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn key(object: &Value) -> (String, String) {
    let meta = &object["metadata"];
    (meta["namespace"].as_str().unwrap_or("").to_string(), meta["name"].as_str().unwrap_or("").to_string())
}

struct Watcher {
    filter: Filter,
    resource: String,
    matching: HashSet<(String, String)>,
    out: mpsc::Sender<Bytes>,
    /// Objects go as one-row Tables (`kubectl get -w` asks for them).
    table: Option<&'static ResourceType>,
}

impl Watcher {
    fn event(&self, kind: &str, object: &Value) -> Bytes {
        match self.table {
            Some(rt) => line(
                kind,
                &table::of(rt, std::slice::from_ref(object), &object["metadata"]["resourceVersion"]),
            ),
            None => line(kind, object),
        }
    }

    /// Sends what `event` means to this watcher; false once the client is gone.
    async fn send(&mut self, event: &Event) -> bool {
        if event.resource != self.resource {
            return true;
        }
        if let Some(ns) = &self.filter.namespace
            && event.namespace != *ns
        {
            return true;
        }
        let k = key(&event.object);
        let matches = self.filter.matches(&event.object);
        let was = self.matching.contains(&k);
        let kind = match (event.kind, matches, was) {
            (EventType::Deleted, _, true) | (EventType::Deleted, true, false) => {
                self.matching.remove(&k);
                "DELETED"
            }
            (EventType::Deleted, false, false) => return true,
            (_, true, true) => "MODIFIED",
            (_, true, false) => {
                self.matching.insert(k);
                "ADDED"
            }
            (_, false, true) => {
                self.matching.remove(&k);
                "DELETED"
            }
            (_, false, false) => return true,
        };
        self.out.send(self.event(kind, &event.object)).await.is_ok()
    }
}

fn bookmark(target: &Target, revision: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": target.rt.kind, "apiVersion": target.rt.group_version(), "metadata": meta})
}

pub fn serve(cluster: &Arc<Cluster>, request: &Request, target: &Target) -> Result<Response<Body>, ApiError> {
    let filter = Filter::of(request, target)?;
    let since = request.param("resourceVersion").unwrap_or("");
    let initial_events = request.flag("sendInitialEvents") || since.is_empty() || since == "0";
    let bookmarks = request.flag("allowWatchBookmarks");
    let timeout =
        request.param("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).map(Duration::from_secs);
    let since: u64 = if initial_events {
        0
    } else {
        since.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version {since:?}")))?
    };

    let (snapshot, history, revision, receiver) = if initial_events {
        let (items, revision, receiver) = cluster.store.snapshot_and_subscribe(target.rt);
        (items, Vec::new(), revision, receiver)
    } else {
        let (history, receiver) = cluster.store.subscribe(since);
        (Vec::new(), history, since, receiver)
    };
    let (out, chunks) = mpsc::channel(256);
    let table = table::wanted(request.header("accept")).then_some(target.rt);
    let mut watcher = Watcher { filter, resource: target.rt.key(), matching: HashSet::new(), out, table };
    if !initial_events {
        let (items, _) = cluster.store.list(target.rt, watcher.filter.namespace.as_deref());
        // Objects that existed at `since` count as matching when they match now and were not
        // created in the replayed history (the history says nothing of their earlier labels).
        for item in items.iter().filter(|i| watcher.filter.matches(i)) {
            let replayed = history.iter().any(|e| e.kind == EventType::Added && key(&e.object) == key(item));
            if !replayed {
                watcher.matching.insert(key(item));
            }
        }
    }
    let send_initial_end = request.flag("sendInitialEvents");
    let target_bookmark = bookmark(target, revision, true);
    let kind = target.rt.kind;
    let api_version = target.rt.group_version();
    tokio::spawn(async move {
        let run = async {
            for object in snapshot.iter().filter(|o| watcher.filter.matches(o)) {
                watcher.matching.insert(key(object));
                if watcher.out.send(watcher.event("ADDED", object)).await.is_err() {
                    return;
                }
            }
            if send_initial_end && watcher.out.send(line("BOOKMARK", &target_bookmark)).await.is_err() {
                return;
            }
            for event in &history {
                if !watcher.send(event).await {
                    return;
                }
            }
            live(&mut watcher, receiver, bookmarks, kind, &api_version).await;
        };
        match timeout {
            Some(t) => {
                let _ = tokio::time::timeout(t, run).await;
            }
            None => run.await,
        }
    });
    Ok(http::stream("application/json", chunks))
}

async fn live(
    watcher: &mut Watcher,
    mut receiver: broadcast::Receiver<Arc<Event>>,
    bookmarks: bool,
    kind: &str,
    api_version: &str,
) {
    let mut last = 0u64;
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    ticker.tick().await;
    loop {
        tokio::select! {
            event = receiver.recv() => match event {
                Ok(event) => {
                    last = event.resource_version;
                    if !watcher.send(&event).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let gone = ApiError { code: 410, reason: "Expired", ..ApiError::bad_request("too old resource version") };
                    let _ = watcher.out.send(line("ERROR", &gone.to_status())).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick() => {
                if watcher.out.is_closed() {
                    return;
                }
                if bookmarks && last > 0 {
                    let object = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last.to_string()}});
                    if watcher.out.send(line("BOOKMARK", &object)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
