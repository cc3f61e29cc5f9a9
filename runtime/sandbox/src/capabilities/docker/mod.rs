//! The Docker Engine route: a component with the `docker` grant sends plain HTTP to
//! [`DOCKER_ORIGIN`] and the host forwards it to the configured daemon ([`DockerEndpoint`]),
//! refusing what would reach the host itself (`policy`, `container`, read as the daemon reads
//! requests: `wire`), and removes the containers a run left
//! behind when it ends (`cleanup`). Components never learn where the daemon is.

mod cleanup;
mod container;
mod endpoint;
mod policy;
mod route;
mod wire;

pub use endpoint::{DEFAULT_DOCKER_HOST, DockerEndpoint, DockerEndpointError};
pub use route::DOCKER_DENIED_HEADER;
pub(crate) use route::DockerSession;

/// The host name components use for the Docker Engine API.
pub const DOCKER_AUTHORITY: &str = "docker.sluice.internal";

/// The origin components send Docker Engine API requests to (`http://docker.sluice.internal`).
pub const DOCKER_ORIGIN: &str = "http://docker.sluice.internal";

/// Whether a request is for the Docker route (any scheme or port of the reserved host).
pub(crate) fn is_docker(uri: &http::Uri) -> bool {
    uri.host().is_some_and(|host| host.eq_ignore_ascii_case(DOCKER_AUTHORITY))
}
