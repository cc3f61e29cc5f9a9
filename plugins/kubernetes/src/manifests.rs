//! Manifests: read from a workspace file or directory, or inline text; multi-document YAML
//! split at its `---` markers so every error names its file and line; `List`s expanded; image
//! overrides; sorted so what others depend on is applied first.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sluice_plugin::TaskError;

use crate::resources::apply_rank;

/// One object to apply, and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub object: Value,
    /// `deploy/k8s/app.yaml:12` (the line its document starts on).
    pub origin: String,
}

impl Manifest {
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// Reads the manifests at `path` (a file, or a directory's `.yaml`, `.yml` and `.json` files in
/// name order, and its subdirectories' too when `recursive`).
pub fn from_path(path: &str, recursive: bool) -> Result<Vec<Manifest>, TaskError> {
    let root = PathBuf::from(path);
    let metadata = std::fs::metadata(&root).map_err(|err| {
        TaskError::invalid_config(format!("manifests: cannot read {path} in the workspace: {err}"))
    })?;
    let mut files = Vec::new();
    if metadata.is_dir() {
        collect(&root, recursive, &mut files)?;
        if files.is_empty() {
            return Err(TaskError::invalid_config(format!(
                "manifests: {path} has no .yaml, .yml or .json file"
            )));
        }
    } else {
        files.push(root);
    }
    let mut manifests = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|err| {
            TaskError::invalid_config(format!("manifests: cannot read {}: {err}", file.display()))
        })?;
        manifests.extend(parse(&text, &file.display().to_string())?);
    }
    Ok(manifests)
}

fn collect(dir: &Path, recursive: bool, files: &mut Vec<PathBuf>) -> Result<(), TaskError> {
    let read =
        |err: std::io::Error| TaskError::invalid_config(format!("manifests: {}: {err}", dir.display()));
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            if recursive {
                collect(&entry, recursive, files)?;
            }
        } else if matches!(entry.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            files.push(entry);
        }
    }
    Ok(())
}

/// Parses the documents of one text (`source` names it in errors). Empty documents are
/// skipped; a `List` (`kind: List`, `items:`) gives its items.
pub fn parse(text: &str, source: &str) -> Result<Vec<Manifest>, TaskError> {
    let mut manifests = Vec::new();
    for (first_line, document) in documents(text) {
        let value: Value = match yaml_serde::from_str::<Option<Value>>(document) {
            Ok(Some(value)) => value,
            Ok(None) => continue,
            Err(err) => {
                let line = err.location().map_or(first_line, |l| first_line + l.line() - 1);
                let message = err.to_string();
                // The location is ours to give: drop yaml's own (relative to the document).
                let message = message.split(" at line ").next().unwrap_or(&message).to_string();
                return Err(TaskError::invalid_config(format!("{source}:{line}: not valid YAML: {message}")));
            }
        };
        let origin = format!("{source}:{first_line}");
        match value {
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                for item in map.get("items").and_then(Value::as_array).cloned().unwrap_or_default() {
                    manifests.push(check(Manifest { object: item, origin: origin.clone() })?);
                }
            }
            Value::Object(_) => manifests.push(check(Manifest { object: value, origin })?),
            other => {
                return Err(TaskError::invalid_config(format!(
                    "{origin}: a manifest must be a mapping with apiVersion, kind and metadata, not {}",
                    type_name(&other)
                )));
            }
        }
    }
    Ok(manifests)
}

/// The documents of a YAML stream with the line each starts on (1-based). A document marker
/// is `---` at the start of a line; `...` ends a document.
fn documents(text: &str) -> Vec<(usize, &str)> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let marker = bare == "---" || bare.starts_with("--- ") || bare == "...";
        if marker {
            documents.push((start_line, &text[start..offset]));
            // `--- {inline}`: what follows the marker on its line begins the next document.
            let inline = bare.starts_with("--- ");
            start = if inline { offset + 4 } else { offset + line.len() };
            start_line = if inline { index + 1 } else { index + 2 };
        }
        offset += line.len();
    }
    documents.push((start_line, &text[start..]));
    documents.retain(|(_, d)| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    documents
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn check(manifest: Manifest) -> Result<Manifest, TaskError> {
    let missing = |field: &str| {
        TaskError::invalid_config(format!(
            "{}: the manifest has no {field} (every object needs apiVersion, kind and metadata.name)",
            manifest.origin
        ))
    };
    if manifest.api_version().is_empty() {
        return Err(missing("apiVersion"));
    }
    if manifest.kind().is_empty() {
        return Err(missing("kind"));
    }
    if manifest.name().is_empty() {
        return Err(missing("metadata.name"));
    }
    Ok(manifest)
}

/// Sorts for applying: namespaces and CRDs, then config, then services, workloads and routes;
/// the written order otherwise.
pub fn sort(manifests: &mut [Manifest]) {
    manifests.sort_by_key(|m| apply_rank(m.kind()));
}

/// The repository of an image reference: `reg:5000/team/app:1.2@sha256:...` → `reg:5000/team/app`.
pub fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(colon) => &image[..slash + colon],
        None => image,
    }
}

/// Replaces the image of every container (and init container) whose image repository is a
/// key of `images` with its value. Returns how many containers changed.
pub fn override_images(object: &mut Value, images: &std::collections::BTreeMap<String, String>) -> usize {
    if images.is_empty() {
        return 0;
    }
    let mut changed = 0;
    for spec in pod_specs(object) {
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else { continue };
            for container in containers {
                let Some(image) = container["image"].as_str() else { continue };
                if let Some(new) = images.get(repository(image)) {
                    container["image"] = Value::String(new.clone());
                    changed += 1;
                }
            }
        }
    }
    changed
}

/// The pod specs inside an object: a Pod's, a workload's template's, a CronJob's job's.
fn pod_specs(object: &mut Value) -> Vec<&mut Value> {
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    let spec = match kind.as_str() {
        "Pod" => object.get_mut("spec"),
        "CronJob" => object.pointer_mut("/spec/jobTemplate/spec/template/spec"),
        _ => object.pointer_mut("/spec/template/spec"),
    };
    spec.filter(|s| s.is_object()).into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const STREAM: &str = "# the app\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\n---\n# nothing\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      initContainers: [{name: init, image: 'busybox:1.36'}]\n      containers:\n        - {name: web, image: 'reg:5000/shop/web:1.0'}\n        - {name: side, image: 'reg:5000/shop/web-sidecar:1.0'}\n...\n--- {apiVersion: v1, kind: Namespace, metadata: {name: shop}}\n";

    #[test]
    fn documents_with_their_lines() {
        let manifests = parse(STREAM, "k8s/app.yaml").unwrap();
        let found: Vec<(&str, &str, &str)> =
            manifests.iter().map(|m| (m.kind(), m.name(), m.origin.as_str())).collect();
        assert_eq!(
            found,
            [
                ("ConfigMap", "config", "k8s/app.yaml:1"),
                ("Deployment", "web", "k8s/app.yaml:8"),
                ("Namespace", "shop", "k8s/app.yaml:20"),
            ]
        );
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   bad: [\n";
        let err = parse(text, "m.yaml").unwrap_err();
        assert!(err.message().starts_with("m.yaml:9: not valid YAML"), "{err}");
        let err = parse("apiVersion: v1\nkind: Pod\n", "p.yaml").unwrap_err();
        assert_eq!(
            err.message(),
            "p.yaml:1: the manifest has no metadata.name (every object needs apiVersion, kind and metadata.name)"
        );
        let err = parse("- a\n- b\n", "l.yaml").unwrap_err();
        assert!(err.message().contains("must be a mapping"), "{err}");
    }

    #[test]
    fn lists_expand_and_sort_puts_namespaces_first() {
        let text = "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}\n  - {apiVersion: v1, kind: Namespace, metadata: {name: n}}\n";
        let mut manifests = parse(text, "list.yaml").unwrap();
        sort(&mut manifests);
        assert_eq!(manifests.iter().map(Manifest::kind).collect::<Vec<_>>(), ["Namespace", "Deployment"]);
    }

    #[test]
    fn images_are_replaced_by_repository() {
        assert_eq!(repository("reg:5000/shop/web:1.0"), "reg:5000/shop/web");
        assert_eq!(repository("reg:5000/shop/web@sha256:abc"), "reg:5000/shop/web");
        assert_eq!(repository("busybox"), "busybox");
        let mut manifests = parse(STREAM, "a.yaml").unwrap();
        let images = [("reg:5000/shop/web".to_string(), "reg:5000/shop/web@sha256:1111".to_string())].into();
        assert_eq!(override_images(&mut manifests[1].object, &images), 1);
        let containers = &manifests[1].object["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "reg:5000/shop/web@sha256:1111");
        assert_eq!(containers[1]["image"], "reg:5000/shop/web-sidecar:1.0");
    }

    #[test]
    fn a_directory_gives_its_manifest_files_in_name_order() {
        let dir = std::env::temp_dir().join(format!("sluice-manifests-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n");
        std::fs::write(dir.join("b.yml"), cm("b")).unwrap();
        std::fs::write(dir.join("a.yaml"), cm("a")).unwrap();
        std::fs::write(
            dir.join("c.json"),
            r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}}"#,
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
        std::fs::write(dir.join("sub/d.yaml"), cm("d")).unwrap();
        let names = |recursive| {
            from_path(dir.to_str().unwrap(), recursive)
                .unwrap()
                .iter()
                .map(|m| m.name().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(false), ["a", "b", "c"]);
        assert_eq!(names(true), ["a", "b", "c", "d"]);
        let empty = dir.join("sub/empty");
        std::fs::create_dir_all(&empty).unwrap();
        let err = from_path(empty.to_str().unwrap(), false).unwrap_err();
        assert!(err.message().ends_with("has no .yaml, .yml or .json file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
