//! sluice's docker tasks: build, run, tag, push and pull through the Docker Engine API, which
//! the host offers at [`sluice_plugin::http::DOCKER_ORIGIN`] to tasks granted `docker`.

mod build;
mod dockerignore;
mod engine;
mod files;
mod glob;
mod image;
mod mux;
mod outputs;
mod pull;
mod push;
mod run;
mod tag;
mod tar;

sluice_plugin::plugin! {
    name: "docker",
    version: env!("CARGO_PKG_VERSION"),
    description: "Build, run, tag, push and pull container images through a granted Docker Engine.",
    tasks: [run::RunTask, build::BuildTask, tag::TagTask, push::PushTask, pull::PullTask],
}
