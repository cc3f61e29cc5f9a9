//! The environment capability: the variables a run is granted, and no others (the host's own
//! environment never reaches a component). The flow names them in `allow.env`; the engine
//! resolves their values from its process and refuses the secret-holding ones.

use wasmtime_wasi::WasiCtxBuilder;

/// Gives the run exactly these variables.
pub(crate) fn grant(wasi: &mut WasiCtxBuilder, env: &[(String, String)]) {
    wasi.envs(env);
}
