//! The object store: every object of every resource under one lock, one global resourceVersion
//! counter (as etcd's revision), and the watch hub: every write becomes an event kept in a
//! history (so a watch can start at any resourceVersion it was given) and sent to live watchers
//! and to the controllers at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{broadcast, watch};

use crate::resources::ResourceType;

/// What a watch event says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One write, as watchers see it.
#[derive(Debug)]
pub struct Event {
    pub kind: EventType,
    /// [`ResourceType::key`] of the object's resource.
    pub resource: String,
    pub namespace: String,
    pub object: Value,
    pub resource_version: u64,
}

type Key = (String, String, String);

/// What [`Store::transact`] does with the object.
pub enum Outcome {
    /// Nothing; answer this value.
    Keep(Value),
    /// Write this object (a create if absent).
    Put(Value),
    /// Delete the object.
    Remove,
}

#[derive(Default)]
pub struct Objects {
    revision: u64,
    objects: BTreeMap<Key, Value>,
    history: Vec<Arc<Event>>,
}

/// The store. Cheap to share behind an `Arc`.
pub struct Store {
    objects: Mutex<Objects>,
    events: broadcast::Sender<Arc<Event>>,
    revision: watch::Sender<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object["metadata"][field].as_str().unwrap_or("")
}

impl Store {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        let (revision, _) = watch::channel(0);
        Store { objects: Mutex::new(Objects::default()), events, revision }
    }

    fn lock(&self) -> MutexGuard<'_, Objects> {
        // A panic while the lock is held leaves the maps consistent (writes are single inserts).
        self.objects.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The resourceVersion of the last write.
    pub fn revision(&self) -> u64 {
        self.lock().revision
    }

    /// A receiver that changes on every write (for the controllers).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<Value> {
        let ns = if rt.namespaced { namespace } else { "" };
        self.lock().objects.get(&(rt.key(), ns.to_string(), name.to_string())).cloned()
    }

    /// The objects of `rt` (in `namespace`, or all), in name order, and the list's resourceVersion.
    pub fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let guard = self.lock();
        let key = rt.key();
        let items = guard
            .objects
            .range((key.clone(), String::new(), String::new())..)
            .take_while(|((k, _, _), _)| *k == key)
            .filter(|((_, ns, _), _)| namespace.is_none_or(|want| !rt.namespaced || ns == want))
            .map(|(_, v)| v.clone())
            .collect();
        (items, guard.revision)
    }

    /// Writes `object` (a create if absent): stamps the next resourceVersion and tells watchers.
    /// Answers the stored object.
    pub fn put(&self, rt: &ResourceType, mut object: Value) -> Value {
        let mut guard = self.lock();
        let ns = if rt.namespaced { meta_str(&object, "namespace").to_string() } else { String::new() };
        let key = (rt.key(), ns.clone(), meta_str(&object, "name").to_string());
        guard.revision += 1;
        let revision = guard.revision;
        object["metadata"]["resourceVersion"] = Value::String(revision.to_string());
        let kind = if guard.objects.contains_key(&key) { EventType::Modified } else { EventType::Added };
        guard.objects.insert(key, object.clone());
        self.record(&mut guard, kind, rt, ns, object.clone());
        object
    }

    /// Removes the object; answers it as deleted (with the deletion's resourceVersion).
    pub fn remove(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<Value> {
        let mut guard = self.lock();
        let ns = if rt.namespaced { namespace.to_string() } else { String::new() };
        let mut object = guard.objects.remove(&(rt.key(), ns.clone(), name.to_string()))?;
        guard.revision += 1;
        object["metadata"]["resourceVersion"] = Value::String(guard.revision.to_string());
        self.record(&mut guard, EventType::Deleted, rt, ns, object.clone());
        Some(object)
    }

    /// Reads, changes and writes one object under the lock. `change` answers whether it changed
    /// anything; nothing is written (and no event sent) when it did not.
    pub fn update<E>(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value) -> Result<bool, E>,
    ) -> Option<Result<Value, E>> {
        let mut guard = self.lock();
        let ns = if rt.namespaced { namespace.to_string() } else { String::new() };
        let key = (rt.key(), ns.clone(), name.to_string());
        let mut object = guard.objects.get(&key)?.clone();
        match change(&mut object) {
            Err(e) => Some(Err(e)),
            Ok(false) => Some(Ok(object)),
            Ok(true) => {
                guard.revision += 1;
                object["metadata"]["resourceVersion"] = Value::String(guard.revision.to_string());
                guard.objects.insert(key, object.clone());
                self.record(&mut guard, EventType::Modified, rt, ns, object.clone());
                Some(Ok(object))
            }
        }
    }

    /// Reads one object (or its absence), decides, and carries out the decision under one lock.
    pub fn transact<E>(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        decide: impl FnOnce(Option<&Value>) -> Result<Outcome, E>,
    ) -> Result<Value, E> {
        let mut guard = self.lock();
        let ns = if rt.namespaced { namespace.to_string() } else { String::new() };
        let key = (rt.key(), ns.clone(), name.to_string());
        let current = guard.objects.get(&key);
        match decide(current)? {
            Outcome::Keep(value) => Ok(value),
            Outcome::Put(mut object) => {
                guard.revision += 1;
                object["metadata"]["resourceVersion"] = Value::String(guard.revision.to_string());
                let kind =
                    if guard.objects.contains_key(&key) { EventType::Modified } else { EventType::Added };
                guard.objects.insert(key, object.clone());
                self.record(&mut guard, kind, rt, ns, object.clone());
                Ok(object)
            }
            Outcome::Remove => {
                let Some(mut object) = guard.objects.remove(&key) else { return Ok(Value::Null) };
                guard.revision += 1;
                object["metadata"]["resourceVersion"] = Value::String(guard.revision.to_string());
                self.record(&mut guard, EventType::Deleted, rt, ns, object.clone());
                Ok(object)
            }
        }
    }

    fn record(
        &self,
        guard: &mut Objects,
        kind: EventType,
        rt: &ResourceType,
        namespace: String,
        object: Value,
    ) {
        let event =
            Arc::new(Event { kind, resource: rt.key(), namespace, object, resource_version: guard.revision });
        guard.history.push(event.clone());
        // Ignored: no watcher is listening.
        let _ = self.events.send(event);
        self.revision.send_replace(guard.revision);
    }

    /// The events after `since` (from the history) and a receiver of every later one, taken
    /// under one lock so none falls between them.
    pub fn subscribe(&self, since: u64) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let guard = self.lock();
        let receiver = self.events.subscribe();
        let start = guard.history.partition_point(|e| e.resource_version <= since);
        (guard.history[start..].to_vec(), receiver)
    }

    /// A snapshot of the objects of `rt` with a receiver of every later event.
    pub fn snapshot_and_subscribe(
        &self,
        rt: &ResourceType,
    ) -> (Vec<Value>, u64, broadcast::Receiver<Arc<Event>>) {
        let guard = self.lock();
        let receiver = self.events.subscribe();
        let key = rt.key();
        let items = guard.objects.iter().filter(|((k, _, _), _)| *k == key).map(|(_, v)| v.clone()).collect();
        (items, guard.revision, receiver)
    }
}
