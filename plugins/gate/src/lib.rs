//! sluice's quality gates: a task reads the reports a build step left in the workspace, sums
//! them up, and fails when a threshold is crossed, so a flow stops before it ships what does not
//! pass. Reports found by glob (`reports`) -> parsed (every error names file:line:column) ->
//! totals and the worst items -> thresholds -> outputs with a `summary` object that a UI can
//! show without knowing the task.

mod position;
mod reports;
mod xml;

mod junit;
mod tests_task;

mod cobertura;
mod coverage;
mod coverage_task;
mod jacoco;
mod lcov;

mod sarif;
mod sarif_task;

sluice_plugin::plugin! {
    name: "gate",
    version: env!("CARGO_PKG_VERSION"),
    description: "Quality gates: JUnit test reports, coverage (lcov, Cobertura, JaCoCo) and SARIF findings against thresholds.",
    tasks: [tests_task::TestsTask, coverage_task::CoverageTask, sarif_task::SarifTask],
}
