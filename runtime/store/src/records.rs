//! How records are stored, independent of the database: the codecs both stores use for their
//! columns (timestamps as integer nanoseconds, JSON as the text serde_json wrote, states as the
//! engine's names), the [`StoreError::Corrupt`] that names the row a bad value came from, and
//! the mapping of sqlx's errors and of migration errors onto [`StoreError`].
//!
//! A backend keeps its SQL and its column types; what it reads back goes through these
//! functions, so a row reads back the same (and fails the same) on every backend.

use std::fmt::Display;

use chrono::DateTime;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_engine::{ExecutionState, StoreError, TaskRunKey, TaskRunState, Timestamp};
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::migrate::{MigrateError, Migrator};

/// Log levels from least to most severe.
pub const LOG_LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// Nanoseconds since the Unix epoch: exact for every timestamp the engine makes. The range
/// (1677-09-21 to 2262-04-11) is the price; a timestamp outside it is refused on write.
pub fn timestamp_to_db(time: Timestamp) -> Result<i64, StoreError> {
    time.timestamp_nanos_opt().ok_or_else(|| {
        StoreError::Database(format!(
            "timestamp {time} cannot be stored: only 1677-09-21 to 2262-04-11 is supported"
        ))
    })
}

pub fn optional_timestamp_to_db(time: Option<Timestamp>) -> Result<Option<i64>, StoreError> {
    time.map(timestamp_to_db).transpose()
}

/// For range filters: a bound outside the storable range is clamped, which selects the same rows.
pub fn timestamp_bound_to_db(time: Timestamp) -> i64 {
    time.timestamp_nanos_opt().unwrap_or(if time.timestamp() < 0 { i64::MIN } else { i64::MAX })
}

pub fn timestamp_from_db(nanos: i64) -> Timestamp {
    DateTime::from_timestamp_nanos(nanos)
}

pub fn optional_timestamp_from_db(nanos: Option<i64>) -> Option<Timestamp> {
    nanos.map(timestamp_from_db)
}

pub fn json_to_db(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(format!("cannot encode JSON: {e}")))
}

/// An absent value is SQL NULL, distinct from a JSON `null`.
pub fn optional_json_to_db(value: Option<&impl Serialize>) -> Result<Option<String>, StoreError> {
    value.map(json_to_db).transpose()
}

pub fn json_from_db<T: DeserializeOwned>(
    row: impl Display,
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(row, column, format_args!("invalid JSON: {e}")))
}

pub fn optional_json_from_db<T: DeserializeOwned>(
    row: impl Display,
    column: &str,
    text: Option<&str>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| json_from_db(row, column, t)).transpose()
}

pub fn u32_from_db(row: impl Display, column: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(row, column, format_args!("{value} is not a u32")))
}

pub fn key_from_db(row: impl Display, column: &str, text: &str) -> Result<TaskRunKey, StoreError> {
    text.parse().map_err(|e: String| corrupt(row, column, e))
}

pub fn optional_key_from_db(
    row: impl Display,
    column: &str,
    text: Option<&str>,
) -> Result<Option<TaskRunKey>, StoreError> {
    text.map(|t| key_from_db(row, column, t)).transpose()
}

/// An execution's `state` column: a name the engine does not know is corrupt.
pub fn execution_state_from_db(row: impl Display, name: &str) -> Result<ExecutionState, StoreError> {
    ExecutionState::parse(name)
        .ok_or_else(|| corrupt(row, "state", format_args!("unknown execution state `{name}`")))
}

/// A task run's `state` column: a name the engine does not know is corrupt.
pub fn task_run_state_from_db(row: impl Display, name: &str) -> Result<TaskRunState, StoreError> {
    TaskRunState::parse(name)
        .ok_or_else(|| corrupt(row, "state", format_args!("unknown task run state `{name}`")))
}

/// An execution's `parent_execution` and `parent_task_run` columns, which are set together or
/// not at all.
pub fn parent_from_db(
    row: impl Display + Copy,
    execution: Option<String>,
    task_run: Option<&str>,
) -> Result<Option<(String, TaskRunKey)>, StoreError> {
    match (execution, task_run) {
        (Some(execution), Some(key)) => Ok(Some((execution, key_from_db(row, "parent_task_run", key)?))),
        (None, None) => Ok(None),
        _ => Err(corrupt(row, "parent_task_run", "parent execution and task run must be set together")),
    }
}

/// A log line's `attempt` column.
pub fn attempt_from_db(row: impl Display, attempt: Option<i64>) -> Result<Option<u32>, StoreError> {
    attempt
        .map(|n| u32::try_from(n).map_err(|_| corrupt(&row, "attempt", format_args!("{n} is not a u32"))))
        .transpose()
}

/// An artifact's `size` column.
pub fn size_from_db(row: impl Display, size: i64) -> Result<u64, StoreError> {
    u64::try_from(size).map_err(|_| corrupt(row, "size", format_args!("{size} is not a size")))
}

/// The log levels at `min_level` or above; the name is matched case-insensitively.
pub fn levels_from(min_level: &str) -> Result<&'static [&'static str], StoreError> {
    LOG_LEVELS
        .iter()
        .position(|level| level.eq_ignore_ascii_case(min_level))
        .map(|at| &LOG_LEVELS[at..])
        .ok_or_else(|| {
            StoreError::Database(format!(
                "unknown log level `{min_level}` (expected one of {})",
                LOG_LEVELS.join(", ")
            ))
        })
}

/// A [`StoreError::Corrupt`] that says which row and column could not be read back.
pub fn corrupt(row: impl Display, column: &str, problem: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{row}, column `{column}`: {problem}"))
}

/// Names a stored row in words, for error messages.
#[derive(Debug, Clone, Copy)]
pub enum RowName<'a> {
    Flow { namespace: &'a str, id: &'a str, revision: i64 },
    Execution(&'a str),
    TaskRun { execution_id: &'a str, key: &'a str },
    Log { execution_id: &'a str, seq: i64 },
    Artifact { execution_id: &'a str, name: &'a str },
    Schedule { namespace: &'a str, flow_id: &'a str, trigger_id: &'a str },
}

impl Display for RowName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flow { namespace, id, revision } => {
                write!(f, "flow `{namespace}.{id}` revision {revision}")
            }
            Self::Execution(id) => write!(f, "execution `{id}`"),
            Self::TaskRun { execution_id, key } => {
                write!(f, "task run `{key}` of execution `{execution_id}`")
            }
            Self::Log { execution_id, seq } => write!(f, "log line {seq} of execution `{execution_id}`"),
            Self::Artifact { execution_id, name } => {
                write!(f, "artifact `{name}` of execution `{execution_id}`")
            }
            Self::Schedule { namespace, flow_id, trigger_id } => {
                write!(f, "schedule trigger `{trigger_id}` of flow `{namespace}.{flow_id}`")
            }
        }
    }
}

/// Tells the database errors of a server that cannot serve now (see [`sqlx_error`]).
pub type Unreachable<'a> = &'a dyn Fn(&dyn DatabaseError) -> bool;

/// Maps an sqlx error onto the store's error kinds: lost races (unique violations, and the
/// database errors the backend's `retryable` recognises) are [`StoreError::Conflict`] so
/// callers know a retry may succeed; values that cannot be decoded are [`StoreError::Corrupt`];
/// for a database server (`unreachable` given: it recognises the database errors of a server
/// shutting down or starting), a connection that cannot be had or was lost is
/// [`StoreError::Unavailable`] (a local file has no such state).
pub fn sqlx_error(
    error: sqlx::Error,
    retryable: impl Fn(&dyn DatabaseError) -> bool,
    unreachable: Option<Unreachable<'_>>,
) -> StoreError {
    let server = unreachable.is_some();
    match &error {
        sqlx::Error::Database(db) => {
            if matches!(db.kind(), ErrorKind::UniqueViolation) || retryable(db.as_ref()) {
                StoreError::Conflict(db.message().to_owned())
            } else if unreachable.is_some_and(|f| f(db.as_ref())) {
                StoreError::Unavailable(db.message().to_owned())
            } else {
                StoreError::Database(db.message().to_owned())
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        // (A closed pool is this process closing its store: no later try would succeed.)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed
            if server =>
        {
            StoreError::Unavailable(error.to_string())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound(error.to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(error.to_string())
        }
        _ => StoreError::Database(error.to_string()),
    }
}

/// The newest schema version `migrator` knows (the number of its last migration file).
pub fn newest_version(migrator: &Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Before migrating: a database whose newest applied migration (`applied`, None for a fresh
/// one) is above the `known` of this build is [`newer_schema`].
pub fn refuse_newer(applied: Option<i64>, known: i64) -> Result<(), StoreError> {
    match applied {
        Some(found) if found > known => Err(newer_schema(found, known)),
        _ => Ok(()),
    }
}

/// A migration that failed, for a build that knows schema versions up to `known`: a database
/// written by a newer sluice is [`newer_schema`], a failing statement goes through `db_error`.
pub fn migrate_error(
    error: MigrateError,
    known: i64,
    db_error: impl FnOnce(sqlx::Error) -> StoreError,
) -> StoreError {
    match error {
        MigrateError::VersionMissing(found) if found > known => newer_schema(found, known),
        MigrateError::Execute(e) => db_error(e),
        other => StoreError::Database(format!("cannot migrate the database: {other}")),
    }
}

/// A database whose schema version `found` is above the `known` of this build: refused rather
/// than half-understood.
pub fn newer_schema(found: i64, known: i64) -> StoreError {
    StoreError::Database(format!(
        "the database has schema version {found}, but this sluice knows versions up to {known}: \
         open it with the newer sluice that wrote it"
    ))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_nanosecond() {
        let time = chrono::Utc.timestamp_opt(1_767_225_600, 123_456_789).single().expect("valid");
        let stored = timestamp_to_db(time).expect("in range");
        assert_eq!(stored, 1_767_225_600_123_456_789);
        assert_eq!(timestamp_from_db(stored), time);
    }

    #[test]
    fn timestamps_outside_the_range_are_refused_and_clamped_as_bounds() {
        let far = chrono::Utc.with_ymd_and_hms(2300, 1, 1, 0, 0, 0).single().expect("valid");
        let early = chrono::Utc.with_ymd_and_hms(1600, 1, 1, 0, 0, 0).single().expect("valid");
        assert!(matches!(timestamp_to_db(far), Err(StoreError::Database(_))));
        assert_eq!(timestamp_bound_to_db(far), i64::MAX);
        assert_eq!(timestamp_bound_to_db(early), i64::MIN);
    }

    #[test]
    fn bad_values_are_corrupt_and_name_the_row() {
        let error = u32_from_db("flow `a.b` revision 1", "revision", -1).expect_err("negative");
        assert_eq!(
            error.to_string(),
            "stored data is invalid: flow `a.b` revision 1, column `revision`: -1 is not a u32"
        );
        let error = key_from_db("task run `x`", "key", "[1]").expect_err("no task");
        assert!(matches!(error, StoreError::Corrupt(m) if m.starts_with("task run `x`, column `key`: ")));
        let error = json_from_db::<serde_json::Value>("execution `e`", "inputs", "{").expect_err("bad json");
        assert!(matches!(error, StoreError::Corrupt(m) if m.contains("execution `e`, column `inputs`")));
        let error = execution_state_from_db(RowName::Execution("e1"), "BOGUS").expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "stored data is invalid: execution `e1`, column `state`: unknown execution state `BOGUS`"
        );
    }

    #[test]
    fn corrupt_names_row_and_column() {
        let error = corrupt(RowName::Execution("e1"), "state", "unknown state `BOGUS`");
        assert_eq!(
            error.to_string(),
            "stored data is invalid: execution `e1`, column `state`: unknown state `BOGUS`"
        );
    }

    #[test]
    fn min_level_selects_itself_and_more_severe() {
        assert_eq!(levels_from("TRACE").expect("known"), &LOG_LEVELS[..]);
        assert_eq!(levels_from("warn").expect("known"), &["WARN", "ERROR"]);
        assert_eq!(levels_from("ERROR").expect("known"), &["ERROR"]);
        let error = levels_from("LOUD").expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "database error: unknown log level `LOUD` (expected one of TRACE, DEBUG, INFO, WARN, ERROR)"
        );
    }

    #[test]
    fn parent_columns_are_set_together() {
        let row = RowName::Execution("e");
        assert!(parent_from_db(row, None, None).expect("none").is_none());
        let (id, key) = parent_from_db(row, Some("p".to_owned()), Some("t")).expect("set").expect("some");
        assert_eq!((id.as_str(), key.to_string().as_str()), ("p", "t"));
        let error = parent_from_db(row, Some("p".to_owned()), None).expect_err("half");
        assert!(matches!(error, StoreError::Corrupt(m) if m.ends_with("must be set together")));
    }
}
