//! Turning sqlx's errors into the engine's [`StoreError`], and naming the row behind a
//! [`StoreError::Corrupt`].

use std::fmt::Display;

use sluice_engine::StoreError;
use sqlx::error::ErrorKind;

/// SQLSTATEs of transactions that lost a race and may succeed when retried.
const RETRYABLE: [&str; 2] = ["40001" /* serialization_failure */, "40P01" /* deadlock_detected */];

/// Maps an sqlx error onto the store's error kinds: lost races (unique violations,
/// serialisation failures, deadlocks) are [`StoreError::Conflict`] so callers know a retry may
/// succeed; values that cannot be decoded are [`StoreError::Corrupt`].
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => {
            let retryable = db.code().is_some_and(|code| RETRYABLE.contains(&code.as_ref()));
            if matches!(db.kind(), ErrorKind::UniqueViolation) || retryable {
                StoreError::Conflict(db.message().to_owned())
            } else {
                StoreError::Database(db.message().to_owned())
            }
        }
        sqlx::Error::RowNotFound => StoreError::NotFound(error.to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(error.to_string())
        }
        _ => StoreError::Database(error.to_string()),
    }
}

/// A [`StoreError::Corrupt`] that says which row and column could not be read back.
pub(crate) fn corrupt(row: impl Display, column: &str, problem: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{row}, column `{column}`: {problem}"))
}

/// Names a stored row in words, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowName<'a> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_names_row_and_column() {
        let error = corrupt(RowName::Execution("e1"), "state", "unknown state `BOGUS`");
        assert_eq!(
            error.to_string(),
            "stored data is invalid: execution `e1`, column `state`: unknown state `BOGUS`"
        );
    }
}
