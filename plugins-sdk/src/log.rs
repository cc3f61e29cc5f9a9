//! Logging through the host's `log` import.
//!
//! The host tags each line with the execution, task and attempt, redacts secrets and caps the
//! volume, so prefer these over `println!` (stdout also reaches the host, but only at `info`).

pub use crate::bindings::sluice::plugin::log::Level;

/// Emit `message` at `level`; the host splits it into one line per `\n`.
pub fn log(level: Level, message: &str) {
    crate::bindings::sluice::plugin::log::log(level, message);
}

/// Log at `trace`, `format!`-style.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Trace, &::std::format!($($arg)+)) };
}

/// Log at `debug`, `format!`-style.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)+)) };
}

/// Log at `info`, `format!`-style.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)+)) };
}

/// Log at `warn`, `format!`-style.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)+)) };
}

/// Log at `error`, `format!`-style.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)+)) };
}
