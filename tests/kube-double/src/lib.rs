//! A double of the Kubernetes API server for sluice's tests (being built).

pub mod runtime;
