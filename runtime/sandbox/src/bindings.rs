//! Host bindings of the `sluice:plugin@0.1.0` world. WASI and wasi-http come from wasmtime's own
//! crates; only `log` and the `task` export are generated here.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "sluice:plugin/plugin@0.1.0",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi": wasmtime_wasi::p2::bindings,
    },
    require_store_data_send: true,
});

/// The export that identifies an ABI-0.1 plugin.
pub(crate) const TASK_INTERFACE_0_1: &str = "sluice:plugin/task@0.1.0";
