//! [`DockerEndpoint`]: where the Docker Engine listens, and opening one connection to it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use tokio::io::{AsyncRead, AsyncWrite};

/// Where the host reaches the Docker Engine. Set by the operator (`--docker-host`), never by a
/// flow; components never see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerEndpoint {
    /// A unix socket, `unix:///var/run/docker.sock`.
    Unix(PathBuf),
    /// Plain TCP, `tcp://host:port`.
    Tcp(String),
}

/// The daemon's usual socket.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

impl Default for DockerEndpoint {
    fn default() -> Self {
        DockerEndpoint::Unix(PathBuf::from("/var/run/docker.sock"))
    }
}

/// Why a Docker endpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid Docker host `{text}`: {reason} (expected `unix:///path/to/docker.sock` or `tcp://host:port`)"
)]
pub struct DockerEndpointError {
    text: String,
    reason: &'static str,
}

impl FromStr for DockerEndpoint {
    type Err = DockerEndpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| DockerEndpointError { text: text.to_string(), reason };
        if let Some(path) = text.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(err("the socket path must be absolute"));
            }
            return Ok(DockerEndpoint::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = text.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| err("a tcp host needs a port"))?;
            if host.is_empty() || rest.contains('/') {
                return Err(err("malformed host"));
            }
            port.parse::<u16>().map_err(|_| err("the port must be a number from 0 to 65535"))?;
            return Ok(DockerEndpoint::Tcp(rest.to_string()));
        }
        Err(err("the scheme must be unix:// or tcp://"))
    }
}

impl fmt::Display for DockerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerEndpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            DockerEndpoint::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

/// A byte stream to the daemon.
pub(crate) trait DockerStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> DockerStream for T {}

impl DockerEndpoint {
    /// Opens one connection to the daemon.
    pub(crate) async fn connect(&self) -> std::io::Result<Box<dyn DockerStream>> {
        Ok(match self {
            DockerEndpoint::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            DockerEndpoint::Tcp(address) => {
                let stream = tokio::net::TcpStream::connect(address.as_str()).await?;
                stream.set_nodelay(true)?;
                Box::new(stream)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_and_tcp() {
        assert_eq!(
            "unix:///var/run/docker.sock".parse::<DockerEndpoint>(),
            Ok(DockerEndpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!("tcp://10.0.0.5:2375".parse(), Ok(DockerEndpoint::Tcp("10.0.0.5:2375".into())));
        assert_eq!(DockerEndpoint::default().to_string(), DEFAULT_DOCKER_HOST);
        for (bad, reason) in [
            ("/var/run/docker.sock", "the scheme must be unix:// or tcp://"),
            ("unix://docker.sock", "the socket path must be absolute"),
            ("tcp://host", "a tcp host needs a port"),
            ("tcp://host:port", "the port must be a number from 0 to 65535"),
        ] {
            let err = bad.parse::<DockerEndpoint>().expect_err(bad);
            assert_eq!(err.reason, reason, "{bad}");
        }
    }
}
