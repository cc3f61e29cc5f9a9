//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), as kubectl's typed clients
//! send them (`kubectl create namespace|configmap|secret|deployment|service`): the `k8s\0`
//! envelope, the `runtime.Unknown` it wraps, and the fields of the kinds described here, as far
//! as those commands fill them in (the rest is defaulted as for JSON). Any other kind is
//! answered 415 by the caller.

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// What a field holds, in the shape of its JSON.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    /// A plain int32/int64: zero is its absence, as JSON's omitempty has it.
    Int,
    /// A pointer int (`replicas`): written only when set, zero included.
    IntPtr,
    IntOrString,
    Message(&'static [Field]),
    RepeatedMessage(&'static [Field]),
    MapStr,
    MapBytes,
    RepeatedStr,
}

type Field = (u64, &'static str, Kind);

const OBJECT_META: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (5, "uid", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (11, "labels", Kind::MapStr),
    (12, "annotations", Kind::MapStr),
    (14, "finalizers", Kind::RepeatedStr),
];
const NAMESPACE_SPEC: &[Field] = &[(1, "finalizers", Kind::RepeatedStr)];
const NAMESPACE: &[Field] =
    &[(1, "metadata", Kind::Message(OBJECT_META)), (2, "spec", Kind::Message(NAMESPACE_SPEC))];
const CONFIG_MAP: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "data", Kind::MapStr),
    (3, "binaryData", Kind::MapBytes),
    (4, "immutable", Kind::Bool),
];
const SECRET: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "data", Kind::MapBytes),
    (3, "type", Kind::Str),
    (4, "stringData", Kind::MapStr),
    (5, "immutable", Kind::Bool),
];

const LABEL_SELECTOR_REQUIREMENT: &[Field] =
    &[(1, "key", Kind::Str), (2, "operator", Kind::Str), (3, "values", Kind::RepeatedStr)];
const LABEL_SELECTOR: &[Field] = &[
    (1, "matchLabels", Kind::MapStr),
    (2, "matchExpressions", Kind::RepeatedMessage(LABEL_SELECTOR_REQUIREMENT)),
];
const CONTAINER_PORT: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "hostPort", Kind::Int),
    (3, "containerPort", Kind::Int),
    (4, "protocol", Kind::Str),
    (5, "hostIP", Kind::Str),
];
const ENV_VAR: &[Field] = &[(1, "name", Kind::Str), (2, "value", Kind::Str)];
const RESOURCES: &[Field] = &[];
const CONTAINER: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "image", Kind::Str),
    (3, "command", Kind::RepeatedStr),
    (4, "args", Kind::RepeatedStr),
    (5, "workingDir", Kind::Str),
    (6, "ports", Kind::RepeatedMessage(CONTAINER_PORT)),
    (7, "env", Kind::RepeatedMessage(ENV_VAR)),
    (8, "resources", Kind::Message(RESOURCES)),
    (13, "terminationMessagePath", Kind::Str),
    (14, "imagePullPolicy", Kind::Str),
    (20, "terminationMessagePolicy", Kind::Str),
];
const POD_SPEC: &[Field] = &[
    (2, "containers", Kind::RepeatedMessage(CONTAINER)),
    (3, "restartPolicy", Kind::Str),
    (4, "terminationGracePeriodSeconds", Kind::IntPtr),
    (6, "dnsPolicy", Kind::Str),
    (7, "nodeSelector", Kind::MapStr),
    (8, "serviceAccountName", Kind::Str),
    (16, "hostname", Kind::Str),
    (19, "schedulerName", Kind::Str),
    (20, "initContainers", Kind::RepeatedMessage(CONTAINER)),
];
const POD_TEMPLATE: &[Field] =
    &[(1, "metadata", Kind::Message(OBJECT_META)), (2, "spec", Kind::Message(POD_SPEC))];
const ROLLING_UPDATE: &[Field] =
    &[(1, "maxUnavailable", Kind::IntOrString), (2, "maxSurge", Kind::IntOrString)];
const STRATEGY: &[Field] = &[(1, "type", Kind::Str), (2, "rollingUpdate", Kind::Message(ROLLING_UPDATE))];
const DEPLOYMENT_SPEC: &[Field] = &[
    (1, "replicas", Kind::IntPtr),
    (2, "selector", Kind::Message(LABEL_SELECTOR)),
    (3, "template", Kind::Message(POD_TEMPLATE)),
    (4, "strategy", Kind::Message(STRATEGY)),
    (5, "minReadySeconds", Kind::Int),
    (6, "revisionHistoryLimit", Kind::IntPtr),
    (7, "paused", Kind::Bool),
    (9, "progressDeadlineSeconds", Kind::IntPtr),
];
const DEPLOYMENT: &[Field] =
    &[(1, "metadata", Kind::Message(OBJECT_META)), (2, "spec", Kind::Message(DEPLOYMENT_SPEC))];
const SERVICE_PORT: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "protocol", Kind::Str),
    (3, "port", Kind::Int),
    (4, "targetPort", Kind::IntOrString),
    (5, "nodePort", Kind::Int),
];
const SERVICE_SPEC: &[Field] = &[
    (1, "ports", Kind::RepeatedMessage(SERVICE_PORT)),
    (2, "selector", Kind::MapStr),
    (3, "clusterIP", Kind::Str),
    (4, "type", Kind::Str),
];
const SERVICE: &[Field] =
    &[(1, "metadata", Kind::Message(OBJECT_META)), (2, "spec", Kind::Message(SERVICE_SPEC))];

const TYPE_META: &[Field] = &[(1, "apiVersion", Kind::Str), (2, "kind", Kind::Str)];

struct Reader<'a> {
    bytes: &'a [u8],
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skipped,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// The next field: its number and value, `None` at the end (or on malformed input).
    fn field(&mut self) -> Option<(u64, Wire<'a>)> {
        if self.bytes.is_empty() {
            return None;
        }
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                if len > self.bytes.len() {
                    return None;
                }
                let (data, rest) = self.bytes.split_at(len);
                self.bytes = rest;
                Wire::Bytes(data)
            }
            1 => {
                self.bytes = self.bytes.get(8..)?;
                Wire::Skipped
            }
            5 => {
                self.bytes = self.bytes.get(4..)?;
                Wire::Skipped
            }
            _ => return None,
        };
        Some((key >> 3, wire))
    }
}

fn text(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

/// A map entry message: key (1) and value (2).
fn entry(bytes: &[u8]) -> (String, &[u8]) {
    let mut reader = Reader { bytes };
    let (mut key, mut value) = (String::new(), &[][..]);
    while let Some((number, wire)) = reader.field() {
        match (number, wire) {
            (1, Wire::Bytes(k)) => key = String::from_utf8_lossy(k).into_owned(),
            (2, Wire::Bytes(v)) => value = v,
            _ => {}
        }
    }
    (key, value)
}

fn decode(bytes: &[u8], fields: &[Field]) -> Value {
    let mut object = Map::new();
    let mut reader = Reader { bytes };
    while let Some((number, wire)) = reader.field() {
        let Some((_, name, kind)) = fields.iter().find(|(n, _, _)| *n == number) else { continue };
        let name = (*name).to_string();
        match (kind, wire) {
            // gogo-protobuf writes empty strings out; JSON would leave them out.
            (Kind::Str, Wire::Bytes([])) => {}
            (Kind::Str, Wire::Bytes(b)) => {
                object.insert(name, text(b));
            }
            (Kind::Bool | Kind::Int, Wire::Varint(0)) => {}
            (Kind::Bool, Wire::Varint(_)) => {
                object.insert(name, json!(true));
            }
            (Kind::Int | Kind::IntPtr, Wire::Varint(v)) => {
                // int32 negatives come sign-extended to 64 bits
                object.insert(name, json!(v as i64));
            }
            (Kind::IntOrString, Wire::Bytes(b)) => {
                let parsed =
                    decode(b, &[(1, "type", Kind::Int), (2, "intVal", Kind::Int), (3, "strVal", Kind::Str)]);
                let value = if parsed["type"] == 1 {
                    parsed["strVal"].clone()
                } else {
                    json!(parsed["intVal"].as_i64().unwrap_or(0))
                };
                object.insert(name, value);
            }
            (Kind::RepeatedMessage(inner), Wire::Bytes(b)) => {
                if let Some(list) = object.entry(name).or_insert_with(|| json!([])).as_array_mut() {
                    list.push(decode(b, inner));
                }
            }
            (Kind::Message(inner), Wire::Bytes(b)) => {
                object.insert(name, decode(b, inner));
            }
            (Kind::MapStr | Kind::MapBytes, Wire::Bytes(b)) => {
                let (key, value) = entry(b);
                let value = match kind {
                    Kind::MapBytes => json!(base64::engine::general_purpose::STANDARD.encode(value)),
                    _ => text(value),
                };
                if let Some(map) = object.entry(name).or_insert_with(|| json!({})).as_object_mut() {
                    map.insert(key, value);
                }
            }
            (Kind::RepeatedStr, Wire::Bytes(b)) => {
                if let Some(list) = object.entry(name).or_insert_with(|| json!([])).as_array_mut() {
                    list.push(text(b));
                }
            }
            _ => {}
        }
    }
    Value::Object(object)
}

/// The object in a protobuf body, as JSON, when its kind is one described here.
pub fn decode_body(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(b"k8s\0")?;
    let mut reader = Reader { bytes: unknown };
    let (mut type_meta, mut raw) = (Value::Null, &[][..]);
    while let Some((number, wire)) = reader.field() {
        match (number, wire) {
            (1, Wire::Bytes(b)) => type_meta = decode(b, TYPE_META),
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let fields = match (type_meta["apiVersion"].as_str()?, type_meta["kind"].as_str()?) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "Service") => SERVICE,
        ("apps/v1", "Deployment") => DEPLOYMENT,
        _ => return None,
    };
    let mut object = decode(raw, fields);
    object["apiVersion"] = type_meta["apiVersion"].clone();
    object["kind"] = type_meta["kind"].clone();
    Some(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_config_map_in_its_envelope() {
        let meta =
            [field(1, b"settings"), field(11, &[field(1, b"app"), field(2, b"web")].concat())].concat();
        let raw = [field(1, &meta), field(2, &[field(1, b"k"), field(2, b"v")].concat())].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        assert_eq!(
            decode_body(&body),
            Some(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "labels": {"app": "web"}}, "data": {"k": "v"}}))
        );
        let other =
            [b"k8s\0".to_vec(), field(1, &[field(1, b"batch/v1"), field(2, b"Job")].concat())].concat();
        assert_eq!(decode_body(&other), None);
    }
}
