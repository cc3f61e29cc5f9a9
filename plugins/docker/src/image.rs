//! Image references, registry credentials, and pulling an image with its progress in the log.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_plugin::TaskError;

use crate::engine::{self, Lines, encode, encode_path};

/// `name[:tag]` or `name@digest`, split the way the Engine API takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The repository, with its registry if any: `127.0.0.1:5000/app`.
    pub name: String,
    /// The tag (`latest` when none is given) or the digest (`sha256:...`).
    pub tag: String,
    /// Whether `tag` is a digest.
    pub digest: bool,
}

impl Reference {
    pub fn parse(image: &str) -> Reference {
        if let Some((name, digest)) = image.split_once('@') {
            return Reference { name: name.to_string(), tag: digest.to_string(), digest: true };
        }
        let slash = image.rfind('/').map_or(0, |i| i + 1);
        match image[slash..].rfind(':') {
            Some(colon) => Reference {
                name: image[..slash + colon].to_string(),
                tag: image[slash + colon + 1..].to_string(),
                digest: false,
            },
            None => Reference { name: image.to_string(), tag: "latest".to_string(), digest: false },
        }
    }

    /// The registry host of the name (`127.0.0.1:5000`), or Docker Hub's.
    pub fn registry(&self) -> String {
        match self.name.split_once('/') {
            Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_string(),
            _ => "https://index.docker.io/v1/".to_string(),
        }
    }

    /// The full reference, `name:tag` or `name@digest`.
    pub fn full(&self) -> String {
        if self.digest {
            format!("{}@{}", self.name, self.tag)
        } else {
            format!("{}:{}", self.name, self.tag)
        }
    }
}

/// Registry credentials, as `pull`, `push` and `run` take them (flattened into each config:
/// `username`, `password`). The password should come from a secret.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// Registry user.
    #[serde(default)]
    username: Option<String>,
    /// Registry password or token (use a secret: `{{ secret('REGISTRY_PASSWORD') }}`).
    #[serde(default)]
    password: Option<String>,
}

impl Credentials {
    /// The `X-Registry-Auth` header value for `server`, as the docker CLI sends it: base64url
    /// (padded) of the credentials, or of `{}` without a user.
    pub fn registry_auth(&self, server: &str) -> String {
        use base64::Engine as _;
        let json = match &self.username {
            Some(username) => serde_json::json!({
                "username": username,
                "password": self.password.as_deref().unwrap_or(""),
                "serveraddress": server,
            }),
            None => serde_json::json!({}),
        };
        base64::engine::general_purpose::URL_SAFE.encode(json.to_string())
    }
}

/// One message of the daemon's JSON progress streams (pull, push, build).
#[derive(Debug, Default, Deserialize)]
pub struct Progress {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub progress: Option<String>,
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub aux: Option<serde_json::Value>,
}

impl Progress {
    /// The line worth logging: statuses with their layer id, without the progress bars (they
    /// would repeat the line hundreds of times).
    pub fn log_line(&self) -> Option<String> {
        if self.progress.is_some() {
            return None;
        }
        let status = self.status.as_deref()?;
        Some(match &self.id {
            Some(id) => format!("{id}: {status}"),
            None => status.to_string(),
        })
    }
}

/// Reads a JSON progress stream: logs what is worth logging, fails on the daemon's `error`,
/// and hands every message to `each`.
pub fn follow_progress(
    request: sluice_plugin::http::Request,
    what: &str,
    mut each: impl FnMut(&Progress),
) -> Result<(), TaskError> {
    let mut lines = Lines::default();
    let mut error: Option<String> = None;
    let mut handle = |line: &str| {
        if line.trim().is_empty() {
            return;
        }
        match serde_json::from_str::<Progress>(line) {
            Ok(message) => {
                if let Some(err) = &message.error {
                    error.get_or_insert_with(|| err.clone());
                }
                each(&message);
            }
            Err(_) => sluice_plugin::info!("{line}"),
        }
    };
    engine::send_streaming(request, what, |chunk| {
        lines.feed(chunk, &mut handle);
        Ok(())
    })?;
    lines.finish(&mut handle);
    match error {
        Some(message) => Err(TaskError::failed(format!("{what}: {message}"))),
        None => Ok(()),
    }
}

/// Pulls `image`, its progress in the log.
pub fn pull(image: &Reference, auth: &str) -> Result<(), TaskError> {
    sluice_plugin::info!("pulling {}", image.full());
    let path = format!("/images/create?fromImage={}&tag={}", encode(&image.name), encode(&image.tag));
    let request = engine::request("POST", &path).header("x-registry-auth", auth);
    follow_progress(request, &format!("pulling {}", image.full()), |message| {
        if let Some(line) = message.log_line() {
            sluice_plugin::info!("{line}");
        }
    })
}

/// Whether the daemon has `image`.
pub fn exists(image: &str) -> Result<bool, TaskError> {
    let response = engine::request("GET", &format!("/images/{}/json", encode_path(image))).send()?;
    match response.status {
        404 => Ok(false),
        _ => engine::ensure_success(response, &format!("inspecting image {image}")).map(|_| true),
    }
}

/// `id` and repo digests of a local image.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInfo {
    pub id: String,
    #[serde(default)]
    pub repo_digests: Option<Vec<String>>,
}

pub fn inspect(image: &str) -> Result<ImageInfo, TaskError> {
    engine::send_json(
        engine::request("GET", &format!("/images/{}/json", encode_path(image))),
        &format!("inspecting image {image}"),
    )
}

/// When to pull the image before running it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PullPolicy {
    /// Pull only when the daemon does not have the image.
    #[default]
    IfNotPresent,
    /// Pull every time.
    Always,
    /// Never pull; fail when the image is missing.
    Never,
}

/// Makes sure the daemon has `image`, pulling it as the policy says.
pub fn ensure(image: &str, policy: PullPolicy, auth: &str) -> Result<(), TaskError> {
    let reference = Reference::parse(image);
    match policy {
        PullPolicy::Always => pull(&reference, auth),
        PullPolicy::IfNotPresent if !exists(image)? => pull(&reference, auth),
        PullPolicy::Never if !exists(image)? => Err(TaskError::failed(format!(
            "image {image} is not present on the Docker daemon and `pull` is `never`"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("127.0.0.1:5000/app");
        assert_eq!((r.name.as_str(), r.tag.as_str(), r.digest), ("127.0.0.1:5000/app", "latest", false));
        assert_eq!(r.registry(), "127.0.0.1:5000");
        let r = Reference::parse("127.0.0.1:5000/app:v1");
        assert_eq!((r.name.as_str(), r.tag.as_str()), ("127.0.0.1:5000/app", "v1"));
        let r = Reference::parse("app@sha256:abc");
        assert_eq!((r.name.as_str(), r.tag.as_str(), r.digest), ("app", "sha256:abc", true));
        assert_eq!(r.full(), "app@sha256:abc");
        assert_eq!(Reference::parse("busybox").registry(), "https://index.docker.io/v1/");
    }

    #[test]
    fn registry_auth_is_padded_base64url_json_as_the_cli_sends_it() {
        assert_eq!(Credentials::default().registry_auth("https://index.docker.io/v1/"), "e30=");
        let credentials: Credentials = serde_json::from_str(r#"{"username":"ci","password":"p?~"}"#).unwrap();
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::URL_SAFE
            .decode(credentials.registry_auth("127.0.0.1:5000"))
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&decoded).unwrap(),
            serde_json::json!({"username": "ci", "password": "p?~", "serveraddress": "127.0.0.1:5000"})
        );
    }
}
