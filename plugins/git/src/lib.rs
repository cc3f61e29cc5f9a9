//! sluice's git tasks: `git.clone` and `git.push`, speaking smart HTTP over wasi:http.

sluice_plugin::plugin! {
    name: "git",
    version: env!("CARGO_PKG_VERSION"),
    description: "Clone and push git repositories over smart HTTP, entirely inside the sandbox.",
    tasks: [],
}
