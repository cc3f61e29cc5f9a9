//! Which cluster a task talks to and as whom: a kubeconfig (a workspace file, e.g. a `file`
//! input, or its text from a secret) with its current or a named context, or `server` +
//! `token` + `caCert` given directly. Resolved into one [`Cluster`].

use std::path::{Path, PathBuf};

use base64::Engine as _;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_plugin::TaskError;

/// How to reach the cluster, flattened into every task's config.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// Path of a kubeconfig file in the workspace (a `file` input lands at
    /// `/workspace/inputs/<id>/<name>`: pass `{{ inputs.kubeconfig }}`).
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// A kubeconfig's YAML text, e.g. `{{ secret('KUBECONFIG') }}`.
    #[serde(default)]
    pub kubeconfig_content: Option<String>,
    /// The kubeconfig context to use (default: its `current-context`).
    #[serde(default)]
    pub context: Option<String>,
    /// The API server's URL, `https://host:6443` (instead of a kubeconfig). Granted to the
    /// task by being given here.
    #[serde(default)]
    pub server: Option<String>,
    /// A bearer token (use a secret).
    #[serde(default)]
    pub token: Option<String>,
    /// The cluster's CA certificate(s), PEM. Without it the public roots are trusted.
    #[serde(default)]
    pub ca_cert: Option<String>,
    /// A client certificate (PEM) for certificate authentication, with `clientKey`.
    #[serde(default)]
    pub client_cert: Option<String>,
    /// The client certificate's private key (PEM; use a secret).
    #[serde(default)]
    pub client_key: Option<String>,
}

/// A resolved cluster connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// `https://host:port`, with a path prefix if the kubeconfig has one, no trailing `/`.
    pub server: String,
    /// The origin of `server` (`https://host:port`), the unit of a network grant and of TLS
    /// trust.
    pub origin: String,
    pub auth: Auth,
    /// CA certificates (PEM) to trust instead of the public roots.
    pub ca_pem: Option<String>,
    /// The context's namespace, the default when a task gives none.
    pub namespace: Option<String>,
    /// Where the settings came from, for error messages (`kubeconfig ... context "prod"`).
    pub source: String,
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    /// A client certificate chain and key, PEM; presented during the TLS handshake.
    Certificate {
        chain_pem: String,
        key_pem: String,
    },
}

impl Connection {
    /// The cluster these settings name. Every mistake is reported with the field it is in.
    pub fn resolve(&self) -> Result<Cluster, TaskError> {
        let kubeconfig = match (&self.kubeconfig, &self.kubeconfig_content) {
            (Some(_), Some(_)) => {
                return Err(TaskError::invalid_config(
                    "give `kubeconfig` (a file) or `kubeconfigContent`, not both",
                ));
            }
            (Some(path), None) => {
                let path = PathBuf::from(path);
                let text = std::fs::read_to_string(&path).map_err(|err| {
                    TaskError::invalid_config(format!("kubeconfig: cannot read {}: {err}", path.display()))
                })?;
                Some((text, format!("kubeconfig {}", path.display()), path.parent().map(Path::to_path_buf)))
            }
            (None, Some(text)) => Some((text.clone(), "kubeconfigContent".to_string(), None)),
            (None, None) => None,
        };
        let mut cluster = match kubeconfig {
            Some((text, source, base)) => {
                if self.server.is_some() {
                    return Err(TaskError::invalid_config(
                        "give `server` or a kubeconfig, not both (the kubeconfig names its server)",
                    ));
                }
                from_kubeconfig(&text, self.context.as_deref(), &source, base.as_deref())?
            }
            None => {
                let Some(server) = &self.server else {
                    return Err(TaskError::invalid_config(
                        "no cluster: give `kubeconfig` (a workspace file), `kubeconfigContent`, or `server` with `token`",
                    ));
                };
                if self.context.is_some() {
                    return Err(TaskError::invalid_config("`context` needs a kubeconfig"));
                }
                let (server, origin) = server_and_origin(server)
                    .map_err(|e| TaskError::invalid_config(format!("server: {e}")))?;
                Cluster {
                    server,
                    origin,
                    auth: Auth::None,
                    ca_pem: None,
                    namespace: None,
                    source: "server".into(),
                }
            }
        };
        // Settings given directly win over the kubeconfig's, as kubectl's flags do.
        if let Some(token) = &self.token {
            cluster.auth = Auth::Bearer(token.clone());
        }
        match (&self.client_cert, &self.client_key) {
            (Some(chain_pem), Some(key_pem)) => {
                cluster.auth = Auth::Certificate { chain_pem: chain_pem.clone(), key_pem: key_pem.clone() }
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(TaskError::invalid_config("`clientCert` and `clientKey` go together"));
            }
            (None, None) => {}
        }
        if let Some(ca) = &self.ca_cert {
            cluster.ca_pem = Some(ca.clone());
        }
        if cluster.ca_pem.is_some() && !cluster.server.starts_with("https://") {
            return Err(TaskError::invalid_config(format!(
                "a CA certificate is given but the server {} is not https",
                cluster.server
            )));
        }
        Ok(cluster)
    }
}

/// `https://host:port/prefix` without its trailing `/`, and its origin.
fn server_and_origin(url: &str) -> Result<(String, String), String> {
    let url = url.trim().trim_end_matches('/');
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| format!("`{url}` is not a URL (expected https://host:port)"))?;
    if scheme != "https" && scheme != "http" {
        return Err(format!("`{url}`: the scheme must be https (or http), not {scheme}"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    Ok((url.to_string(), format!("{scheme}://{authority}")))
}

/// The parts of a kubeconfig sluice reads (`clusters`, `users`, `contexts`, `current-context`).
#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(default, rename = "current-context")]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    cluster: KubeCluster,
}

#[derive(Deserialize)]
struct NamedUser {
    name: String,
    #[serde(default)]
    user: KubeUser,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    context: KubeContext,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct KubeCluster {
    server: String,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    certificate_authority: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct KubeUser {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    token_file: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    client_key: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    exec: Option<serde_json::Value>,
    #[serde(default, rename = "auth-provider")]
    auth_provider: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct KubeContext {
    cluster: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

/// The cluster of `context` (or the current one) in a kubeconfig's text.
fn from_kubeconfig(
    text: &str,
    context: Option<&str>,
    source: &str,
    base: Option<&Path>,
) -> Result<Cluster, TaskError> {
    let invalid = |message: String| TaskError::invalid_config(format!("{source}: {message}"));
    let config: Kubeconfig =
        yaml_serde::from_str(text).map_err(|err| invalid(format!("not a kubeconfig: {err}")))?;
    let context_name = match context.or(config.current_context.as_deref()).filter(|c| !c.is_empty()) {
        Some(name) => name.to_string(),
        None => return Err(invalid("has no current-context: set `context`".into())),
    };
    let names = |list: Vec<&str>| if list.is_empty() { "none".to_string() } else { list.join(", ") };
    let ctx = config.contexts.iter().find(|c| c.name == context_name).ok_or_else(|| {
        invalid(format!(
            "no context \"{context_name}\" (it has: {})",
            names(config.contexts.iter().map(|c| c.name.as_str()).collect())
        ))
    })?;
    let ctx = &ctx.context;
    let cluster = config.clusters.iter().find(|c| c.name == ctx.cluster).ok_or_else(|| {
        invalid(format!(
            "context \"{context_name}\" names cluster \"{}\", which it does not define",
            ctx.cluster
        ))
    })?;
    let cluster = &cluster.cluster;
    let default_user = KubeUser::default();
    let user = match &ctx.user {
        Some(name) if !name.is_empty() => {
            config.users.iter().find(|u| &u.name == name).map(|u| &u.user).ok_or_else(|| {
                invalid(format!("context \"{context_name}\" names user \"{name}\", which it does not define"))
            })?
        }
        _ => &default_user,
    };
    let source = format!("{source} context \"{context_name}\"");
    let invalid = |message: String| TaskError::invalid_config(format!("{source}: {message}"));
    if cluster.insecure_skip_tls_verify {
        return Err(invalid(
            "insecure-skip-tls-verify is not supported: give the cluster's CA (certificate-authority-data)"
                .into(),
        ));
    }
    let (server, origin) = server_and_origin(&cluster.server).map_err(|e| invalid(format!("server: {e}")))?;
    let read_file = |field: &str, path: &str| -> Result<String, TaskError> {
        let path = match base {
            Some(base) if Path::new(path).is_relative() => base.join(path),
            _ => PathBuf::from(path),
        };
        std::fs::read_to_string(&path).map_err(|err| {
            invalid(format!("{field}: cannot read {} in the workspace: {err}", path.display()))
        })
    };
    let data = |field: &str, value: &str| -> Result<String, TaskError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|err| invalid(format!("{field} is not base64: {err}")))?;
        String::from_utf8(bytes).map_err(|_| invalid(format!("{field} is not PEM text")))
    };
    let ca_pem = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
        (Some(value), _) => Some(data("certificate-authority-data", value)?),
        (None, Some(path)) => Some(read_file("certificate-authority", path)?),
        (None, None) => None,
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(invalid(
            "the user authenticates with an exec or auth-provider plugin, which a sandboxed task cannot run: use a token or a client certificate".into(),
        ));
    }
    let cert = match (&user.client_certificate_data, &user.client_certificate) {
        (Some(value), _) => Some(data("client-certificate-data", value)?),
        (None, Some(path)) => Some(read_file("client-certificate", path)?),
        (None, None) => None,
    };
    let key = match (&user.client_key_data, &user.client_key) {
        (Some(value), _) => Some(data("client-key-data", value)?),
        (None, Some(path)) => Some(read_file("client-key", path)?),
        (None, None) => None,
    };
    let auth = match (cert, key, &user.token, &user.token_file, &user.username) {
        (Some(chain_pem), Some(key_pem), _, _, _) => Auth::Certificate { chain_pem, key_pem },
        (Some(_), None, ..) | (None, Some(_), ..) => {
            return Err(invalid(
                "the user has a client certificate without its key, or a key without its certificate".into(),
            ));
        }
        (None, None, Some(token), _, _) => Auth::Bearer(token.clone()),
        (None, None, None, Some(path), _) => Auth::Bearer(read_file("tokenFile", path)?.trim().to_string()),
        (None, None, None, None, Some(username)) => {
            Auth::Basic { username: username.clone(), password: user.password.clone().unwrap_or_default() }
        }
        _ => Auth::None,
    };
    Ok(Cluster {
        server,
        origin,
        auth,
        ca_pem,
        namespace: ctx.namespace.clone().filter(|n| !n.is_empty()),
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: dev
clusters:
  - name: dev-cluster
    cluster:
      server: https://127.0.0.1:6443/
      certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
  - name: prod-cluster
    cluster:
      server: https://prod.example.com
users:
  - name: dev-user
    user:
      token: abc123
  - name: cert-user
    user:
      client-certificate-data: Q0VSVA==
      client-key-data: S0VZ
contexts:
  - name: dev
    context: {cluster: dev-cluster, user: dev-user, namespace: shop}
  - name: prod
    context: {cluster: prod-cluster, user: cert-user}
"#;

    fn content(context: Option<&str>) -> Connection {
        Connection {
            kubeconfig_content: Some(KUBECONFIG.into()),
            context: context.map(str::to_string),
            ..Connection::default()
        }
    }

    #[test]
    fn the_current_context_gives_server_ca_token_and_namespace() {
        let cluster = content(None).resolve().unwrap();
        assert_eq!(cluster.server, "https://127.0.0.1:6443");
        assert_eq!(cluster.origin, "https://127.0.0.1:6443");
        assert_eq!(cluster.auth, Auth::Bearer("abc123".into()));
        assert_eq!(cluster.ca_pem.as_deref(), Some("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(cluster.namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn a_named_context_and_a_client_certificate() {
        let cluster = content(Some("prod")).resolve().unwrap();
        assert_eq!(cluster.origin, "https://prod.example.com");
        assert_eq!(cluster.auth, Auth::Certificate { chain_pem: "CERT".into(), key_pem: "KEY".into() });
        assert_eq!(cluster.namespace, None);
    }

    #[test]
    fn direct_settings_win_over_the_kubeconfig() {
        let mut connection = content(None);
        connection.token = Some("other".into());
        assert_eq!(connection.resolve().unwrap().auth, Auth::Bearer("other".into()));
    }

    #[test]
    fn mistakes_name_the_field() {
        let err = content(Some("nope")).resolve().unwrap_err();
        assert_eq!(
            err,
            TaskError::invalid_config("kubeconfigContent: no context \"nope\" (it has: dev, prod)")
        );
        let err = Connection::default().resolve().unwrap_err();
        assert!(err.message().starts_with("no cluster: give `kubeconfig`"), "{err}");
        let direct = Connection { server: Some("ftp://x".into()), ..Connection::default() };
        assert_eq!(
            direct.resolve().unwrap_err(),
            TaskError::invalid_config("server: `ftp://x`: the scheme must be https (or http), not ftp")
        );
        let insecure = Connection {
            kubeconfig_content: Some(
                "current-context: c\nclusters: [{name: k, cluster: {server: 'https://k', insecure-skip-tls-verify: true}}]\ncontexts: [{name: c, context: {cluster: k}}]\n".into(),
            ),
            ..Connection::default()
        };
        assert!(
            insecure.resolve().unwrap_err().message().contains("insecure-skip-tls-verify is not supported")
        );
        let exec = Connection {
            kubeconfig_content: Some(
                "current-context: c\nclusters: [{name: k, cluster: {server: 'https://k'}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n".into(),
            ),
            ..Connection::default()
        };
        assert!(exec.resolve().unwrap_err().message().contains("exec or auth-provider plugin"));
    }

    #[test]
    fn server_token_and_ca_directly() {
        let connection = Connection {
            server: Some("https://10.0.0.1:6443".into()),
            token: Some("t".into()),
            ca_cert: Some("PEM".into()),
            ..Connection::default()
        };
        let cluster = connection.resolve().unwrap();
        assert_eq!(cluster.server, "https://10.0.0.1:6443");
        assert_eq!(cluster.auth, Auth::Bearer("t".into()));
        assert_eq!(cluster.ca_pem.as_deref(), Some("PEM"));
    }
}
