//! Shared by the machine tests: flow builders and a scripted test scheduler.
#![allow(dead_code)]

pub mod build;
pub mod driver;

pub use build::*;
pub use driver::*;
