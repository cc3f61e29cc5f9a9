//! The one path every write takes, from the API and from the controllers alike: metadata the
//! server owns (uid, creationTimestamp, generation, resourceVersion), status kept apart from
//! spec writes, defaulting, validation, managedFields, no-op detection, dry run, and the end of
//! a deletion once the last finalizer is gone.

use serde_json::{Value, json};

use crate::apply;
use crate::defaults;
use crate::resources::{self, ResourceType};
use crate::status::ApiError;
use crate::store::{Outcome, Store};
use crate::validation;

/// Who writes and how.
#[derive(Clone, Debug, Default)]
pub struct WriteContext {
    /// The field manager recorded for a non-apply write; empty records nothing.
    pub manager: String,
    /// `status` or `scale` for a subresource write.
    pub subresource: String,
    pub dry_run: bool,
    /// The object was merged by server-side apply (its managedFields are already set).
    pub applied: bool,
    /// `metadata.resourceVersion` must match the stored one (updates that carry one).
    pub precondition: Option<String>,
    /// A create must not find the object.
    pub create: bool,
}

impl WriteContext {
    pub fn controller(manager: &str) -> Self {
        WriteContext { manager: manager.to_string(), ..Default::default() }
    }

    pub fn status(manager: &str) -> Self {
        WriteContext { manager: manager.to_string(), subresource: "status".into(), ..Default::default() }
    }
}

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn random_suffix() -> String {
    // Kubernetes' generateName alphabet: no vowels, no look-alikes.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4();
    bytes.as_bytes()[..5].iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

fn without_volatile(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    copy
}

fn managed_without_time(object: &Value) -> Value {
    let mut fields = object["metadata"]["managedFields"].clone();
    for entry in fields.as_array_mut().into_iter().flatten() {
        if let Some(map) = entry.as_object_mut() {
            map.remove("time");
        }
    }
    fields
}

/// Whether a namespaced write may go to `namespace`.
pub fn check_namespace(
    store: &Store,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    creating: bool,
) -> Result<(), ApiError> {
    if !rt.namespaced {
        return Ok(());
    }
    let namespaces =
        resources::by_plural("", "v1", "namespaces").ok_or_else(|| ApiError::internal("no namespaces"))?;
    match store.get(namespaces, "", namespace) {
        None => Err(ApiError::not_found(namespaces, namespace)),
        Some(ns) if creating && ns["metadata"]["deletionTimestamp"].is_string() => Err(ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                rt.qualified(),
            ),
            name: Some(name.into()),
            group: rt.group,
            kind: rt.plural,
            causes: Vec::new(),
        }),
        Some(_) => Ok(()),
    }
}

/// Drops `null` fields, as decoding into the API's typed structs does (`creationTimestamp:
/// null` in a template that kubectl sends back, for one).
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Writes `new` (a create when nothing is stored under its name). Answers the stored object
/// (or what would be stored, on a dry run).
pub fn commit(
    store: &Store,
    rt: &ResourceType,
    mut new: Value,
    ctx: &WriteContext,
) -> Result<Value, ApiError> {
    drop_nulls(&mut new);
    new["apiVersion"] = json!(rt.group_version());
    new["kind"] = json!(rt.kind);
    if !new["metadata"].is_object() {
        new["metadata"] = json!({});
    }
    if new["metadata"]["name"].as_str().is_none_or(str::is_empty)
        && let Some(prefix) = new["metadata"]["generateName"].as_str()
    {
        new["metadata"]["name"] = json!(format!("{prefix}{}", random_suffix()));
    }
    let namespace = new["metadata"]["namespace"].as_str().unwrap_or("").to_string();
    if !rt.namespaced
        && let Some(meta) = new["metadata"].as_object_mut()
    {
        meta.remove("namespace");
    }
    let name = new["metadata"]["name"].as_str().unwrap_or("").to_string();
    if name.is_empty() {
        validation::validate(rt, &new, None)?;
    }
    check_namespace(store, rt, &namespace, &name, ctx.create)?;
    store.transact(rt, &namespace, &name, |old| {
        match (old, ctx.create) {
            (Some(_), true) => return Err(ApiError::already_exists(rt, &name)),
            (None, false) if !ctx.applied && ctx.precondition.is_some() => {
                return Err(ApiError::not_found(rt, &name));
            }
            _ => {}
        }
        if let (Some(old), Some(want)) = (old, &ctx.precondition)
            && old["metadata"]["resourceVersion"].as_str() != Some(want.as_str())
        {
            return Err(ApiError::stale(rt, &name));
        }
        match old {
            None => {
                let meta = &mut new["metadata"];
                meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
                meta["creationTimestamp"] = json!(now());
                if rt.generation {
                    meta["generation"] = json!(1);
                }
                if let Some(m) = meta.as_object_mut() {
                    m.remove("deletionTimestamp");
                    m.remove("resourceVersion");
                }
                // A create sets no status (a Namespace's is its phase, defaulted below).
                if rt.has_status()
                    && rt.kind != "Namespace"
                    && ctx.subresource.is_empty()
                    && let Some(map) = new.as_object_mut()
                {
                    map.remove("status");
                }
            }
            Some(old) => {
                for field in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                    "namespace",
                ] {
                    match old["metadata"].get(field) {
                        Some(v) => new["metadata"][field] = v.clone(),
                        None => {
                            if let Some(m) = new["metadata"].as_object_mut() {
                                m.remove(field);
                            }
                        }
                    }
                }
                if ctx.subresource == "status" {
                    let status = new["status"].take();
                    let mut merged = old.clone();
                    merged["status"] = status;
                    if let Some(fields) = new["metadata"].get("managedFields") {
                        merged["metadata"]["managedFields"] = fields.clone();
                    }
                    new = merged;
                } else if rt.has_status() {
                    match old.get("status") {
                        Some(status) => new["status"] = status.clone(),
                        None => {
                            if let Some(map) = new.as_object_mut() {
                                map.remove("status");
                            }
                        }
                    }
                }
            }
        }
        defaults::apply(rt, &mut new);
        if rt.generation && old.is_some_and(|o| o.get("spec") != new.get("spec")) {
            let generation = old.and_then(|o| o["metadata"]["generation"].as_i64()).unwrap_or(1);
            new["metadata"]["generation"] = json!(generation + 1);
        }
        validation::validate(rt, &new, old)?;
        if !ctx.applied && !ctx.manager.is_empty() {
            let api_version = rt.group_version();
            apply::record_update(
                old,
                &mut new,
                &ctx.manager,
                &api_version,
                &ctx.subresource,
                rt.has_status(),
            );
        }
        if let Some(old) = old
            && without_volatile(old) == without_volatile(&new)
            && managed_without_time(old) == managed_without_time(&new)
        {
            return Ok(Outcome::Keep(old.clone()));
        }
        if ctx.dry_run {
            if let Some(old) = old {
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            }
            return Ok(Outcome::Keep(new));
        }
        let deleting = new["metadata"]["deletionTimestamp"].is_string();
        let no_finalizers = new["metadata"]["finalizers"].as_array().is_none_or(Vec::is_empty);
        if deleting && no_finalizers && rt.kind != "Pod" && rt.kind != "Namespace" {
            return Ok(Outcome::Remove);
        }
        Ok(Outcome::Put(new))
    })
}
