//! Compiles the first-party plugins so that the `sluice` binary embeds them.

fn main() {
    for (package, var) in [
        ("sluice-plugin-core", "SLUICE_PLUGIN_CORE_WASM"),
        ("sluice-plugin-git", "SLUICE_PLUGIN_GIT_WASM"),
        ("sluice-plugin-docker", "SLUICE_PLUGIN_DOCKER_WASM"),
        ("sluice-plugin-kubernetes", "SLUICE_PLUGIN_KUBERNETES_WASM"),
        ("sluice-plugin-notify", "SLUICE_PLUGIN_NOTIFY_WASM"),
        ("sluice-plugin-jira", "SLUICE_PLUGIN_JIRA_WASM"),
        ("sluice-plugin-servicenow", "SLUICE_PLUGIN_SERVICENOW_WASM"),
        ("sluice-plugin-jenkins", "SLUICE_PLUGIN_JENKINS_WASM"),
        ("sluice-plugin-gate", "SLUICE_PLUGIN_GATE_WASM"),
    ] {
        let wasm = sluice_guest_build::build_component(package);
        println!("cargo:rustc-env={var}={}", wasm.display());
    }
}
