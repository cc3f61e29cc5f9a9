//! sluice's core tasks: `core.log`, `core.http`, `core.fail` and `core.assert`.

mod assert;
mod fail;
mod http;
mod log;

sluice_plugin::plugin! {
    name: "core",
    version: env!("CARGO_PKG_VERSION"),
    description: "The basics every flow needs: log a message, make an HTTP request, fail, and check assertions.",
    tasks: [log::LogTask, http::HttpTask, fail::FailTask, assert::AssertTask],
}
