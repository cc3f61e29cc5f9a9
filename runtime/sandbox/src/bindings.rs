//! Host bindings of the `sluice:plugin@0.1.0` world. WASI and wasi-http come from wasmtime's own
//! crates; only `log`, `workspace`, `tls`, `tcp`, `cleanup` and the `task` export are generated here.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "sluice:plugin/plugin@0.1.0",
    exports: { default: async },
    // The tcp interface does network I/O, and `connect` traps when the run's resource table is
    // full (its handle limit), as opening a file does.
    imports: { "sluice:plugin/tcp": async | trappable },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi": wasmtime_wasi::p2::bindings,
        "sluice:plugin/tcp.connection": crate::capabilities::tcp::Connection,
    },
    require_store_data_send: true,
});

// A future incompatible ABI gets its own `bindgen!` (world `sluice:plugin/plugin@0.2.0`, in a
// sibling module) and its own export name below; `Sandbox::load` picks the bindings by the
// export a component has, so plugins built against 0.1 keep loading and running.

/// The export that identifies an ABI-0.1 plugin.
pub(crate) const TASK_INTERFACE_0_1: &str = "sluice:plugin/task@0.1.0";

/// The import of the `context` interface (any patch version of the ABI).
pub(crate) const CONTEXT_INTERFACE: &str = "sluice:plugin/context@";
