//! sluice's docker tasks: build, run, tag, push and pull through the Docker Engine API.

sluice_plugin::plugin! {
    name: "docker",
    version: env!("CARGO_PKG_VERSION"),
    description: "Build, run, tag, push and pull container images through a granted Docker Engine.",
    tasks: [],
}
