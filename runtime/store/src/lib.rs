//! sluice persistence: [`sluice_engine::Store`] on SQLite.
