//! `kubernetes.get`: one object by name, or a label-selected list, as outputs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_plugin::{Capability, Task, TaskError};

use crate::api::{Api, encode, failure};
use crate::cluster::Connection;
use crate::resources::Resources;
use crate::target::Kind;

pub struct GetTask;

/// Config of `kubernetes.get`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GetConfig {
    #[serde(flatten)]
    pub target: Kind,
    /// The object's name; without it, the list of objects matching the selectors.
    #[serde(default)]
    pub name: Option<String>,
    /// A label selector for a list: `app=web,tier in (front,back)`.
    #[serde(default)]
    pub label_selector: Option<String>,
    /// A field selector for a list: `status.phase=Running`.
    #[serde(default)]
    pub field_selector: Option<String>,
    /// With `name`: succeed with `found: false` when the object does not exist.
    #[serde(default)]
    pub allow_missing: bool,
    #[serde(flatten)]
    pub connection: Connection,
}

/// Outputs of `kubernetes.get`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetOutput {
    /// Whether the named object exists (lists: whether any matched).
    pub found: bool,
    /// The named object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// The listed objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<Value>>,
    /// How many objects were found.
    pub count: usize,
}

impl Task for GetTask {
    const NAME: &'static str = "get";
    const DESCRIPTION: &'static str = "Reads one object (`kind`, `name`) or lists objects of a \
        kind by `labelSelector`/`fieldSelector`, and outputs them as JSON for later tasks.";
    type Config = GetConfig;
    type Output = GetOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("server")]
    }

    fn run(config: GetConfig) -> Result<GetOutput, TaskError> {
        let api = Api::connect(&config.connection)?;
        let (resource, namespace) = config.target.resolve(&api, &Resources::default())?;
        let ns = namespace.as_deref();
        if let Some(name) = &config.name {
            if config.label_selector.is_some() || config.field_selector.is_some() {
                return Err(TaskError::invalid_config("give `name` or selectors, not both"));
            }
            let what = format!("get {} {name}", resource.kind);
            return match api.get(&resource.item(ns, name)).map_err(|err| failure(&what, &api, err))? {
                Some(object) => Ok(GetOutput { found: true, object: Some(object), items: None, count: 1 }),
                None if config.allow_missing => {
                    Ok(GetOutput { found: false, object: None, items: None, count: 0 })
                }
                None => Err(TaskError::failed(format!(
                    "{what}: not found{}",
                    ns.map(|n| format!(" in namespace {n}")).unwrap_or_default()
                ))),
            };
        }
        let items = list(
            &api,
            &resource.collection(ns),
            config.label_selector.as_deref(),
            config.field_selector.as_deref(),
        )
        .map_err(|err| failure(&format!("list {}", resource.plural), &api, err))?;
        Ok(GetOutput { found: !items.is_empty(), count: items.len(), object: None, items: Some(items) })
    }
}

/// The items of a collection, following `continue` tokens.
pub fn list(
    api: &Api,
    collection: &str,
    labels: Option<&str>,
    fields: Option<&str>,
) -> Result<Vec<Value>, crate::api::CallError> {
    let mut query = Vec::new();
    if let Some(labels) = labels {
        query.push(format!("labelSelector={}", encode(labels)));
    }
    if let Some(fields) = fields {
        query.push(format!("fieldSelector={}", encode(fields)));
    }
    query.push("limit=500".into());
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let mut url = format!("{collection}?{}", query.join("&"));
        if !token.is_empty() {
            url.push_str(&format!("&continue={}", encode(&token)));
        }
        let mut page = api.call_json(api.request("GET", &url))?;
        if let Some(page_items) = page["items"].as_array_mut() {
            items.append(page_items);
        }
        match page["metadata"]["continue"].as_str() {
            Some(next) if !next.is_empty() => token = next.to_string(),
            _ => return Ok(items),
        }
    }
}
