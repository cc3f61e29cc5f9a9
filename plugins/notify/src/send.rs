//! Sending one notification: a 429 or a 5xx answer, and a connection that failed, are tried
//! again after the service's `Retry-After` (seconds or an HTTP date) or a doubling backoff, as
//! the SDK's [`http::Retry`] decides each wait, within `maxAttempts` and a total wait of
//! `maxRetryWait`; the task's own timeout bounds it all. Any other answer goes back to the
//! task, which reads the service's own error from it. Unlike `Request::send_retrying`, the
//! request is built afresh for each send (a webhook's signature carries its time) and every
//! message names the service and its origin only.

use std::time::{Duration, Instant, SystemTime};

use sluice_plugin::TaskError;
use sluice_plugin::http::{self, Request, Response};

use crate::endpoint::Endpoint;

/// Default of `maxAttempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Default of `maxRetryWait`, in seconds.
pub const DEFAULT_MAX_RETRY_WAIT: u64 = 60;
/// The first wait when the service gives no `Retry-After`; it doubles after each attempt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// How long to keep trying.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Sends in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The most time spent waiting between sends, in total.
    pub max_wait: Duration,
    /// No wait may end after this: the task's timeout, less a margin for the send after it.
    pub deadline: Option<Instant>,
}

impl Retry {
    /// From a task's `maxAttempts` and `maxRetryWait` (seconds), and the run's timeout as the
    /// host tells it; call it when the task starts.
    pub fn from_config(max_attempts: Option<u32>, max_retry_wait: Option<u64>) -> Retry {
        let deadline = sluice_plugin::http::task_deadline();
        Retry {
            max_attempts: max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1),
            max_wait: Duration::from_secs(max_retry_wait.unwrap_or(DEFAULT_MAX_RETRY_WAIT)),
            deadline,
        }
    }

    /// Whether a wait of `wait` from now would end past the deadline.
    fn past_deadline(&self, wait: Duration) -> bool {
        self.deadline.is_some_and(|deadline| Instant::now() + wait >= deadline)
    }
}

/// Sends `build()` until it gets an answer that is not retryable (returned, whatever its
/// status) or the retry budget is spent (an error with the service's text, from `describe`).
/// `build` runs once per send, so a signature can be made afresh each time.
pub fn send(
    endpoint: &Endpoint,
    retry: Retry,
    describe: fn(&Response) -> String,
    mut build: impl FnMut() -> Request,
) -> Result<Response, TaskError> {
    let service = format!("{} ({})", endpoint.service, endpoint.origin);
    let mut waited = Duration::ZERO;
    let mut attempt = 1;
    loop {
        let left = retry.max_wait.saturating_sub(waited);
        // The SDK's policy for one wait, within what is left of the total.
        let policy = http::Retry {
            attempts: retry.max_attempts,
            backoff: FIRST_BACKOFF,
            max_wait: left,
            deadline: retry.deadline,
        };
        let backoff = FIRST_BACKOFF.saturating_mul(1 << (attempt - 1).min(16));
        let (what, wait, asked) = match build().follow_redirects(false).send() {
            Ok(response) if !http::is_retryable(response.status) => return Ok(response),
            Ok(response) => {
                let what = format!("answered HTTP {}: {}", response.status, describe(&response));
                let asked =
                    response.header("retry-after").and_then(|v| http::retry_after(v, SystemTime::now()));
                let wait = policy.wait_after(&response, attempt, SystemTime::now());
                (what, wait.ok_or(asked.unwrap_or(backoff)), asked.is_some())
            }
            Err(err @ http::Error::Failed { .. }) => {
                let what = endpoint.transport_error(err).message().to_string();
                let wait = (attempt < retry.max_attempts && backoff <= left && !retry.past_deadline(backoff))
                    .then_some(backoff);
                (what, wait.ok_or(backoff), false)
            }
            Err(err) => return Err(endpoint.transport_error(err)),
        };
        let wait = match wait {
            Ok(wait) => wait,
            Err(_) if attempt >= retry.max_attempts => {
                return Err(TaskError::failed(format!(
                    "{service} {what}; gave up after {attempt} attempts (maxAttempts)"
                )));
            }
            Err(wanted) if retry.past_deadline(wanted) => {
                return Err(TaskError::failed(format!(
                    "{service} {what}; gave up after {attempt} attempts: the next wait of {} s would pass the task's timeout",
                    wanted.as_secs_f64().ceil()
                )));
            }
            Err(wanted) => {
                return Err(TaskError::failed(format!(
                    "{service} {what}; gave up after {attempt} attempts: the next wait of {} s is past what is left of maxRetryWait ({} s)",
                    wanted.as_secs_f64().ceil(),
                    left.as_secs()
                )));
            }
        };
        let source = if asked { "as its Retry-After asks" } else { "backing off" };
        sluice_plugin::warn!(
            "{service} {what}; trying again in {} s, {source} (attempt {} of {})",
            wait.as_secs_f64(),
            attempt + 1,
            retry.max_attempts
        );
        std::thread::sleep(wait);
        waited += wait;
        attempt += 1;
    }
}

/// The error for an answer that is not a success: the service's own text, from `describe`.
pub fn failure(endpoint: &Endpoint, response: &Response, describe: fn(&Response) -> String) -> TaskError {
    TaskError::failed(format!(
        "{} ({}) answered HTTP {}: {}",
        endpoint.service,
        endpoint.origin,
        response.status,
        describe(response)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_from_config() {
        let retry = Retry::from_config(Some(0), Some(5));
        assert_eq!(retry.max_attempts, 1, "at least the first send");
        assert_eq!(retry.max_wait, Duration::from_secs(5));
        assert_eq!(Retry::from_config(None, None).max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert_eq!(retry.deadline, None, "outside an execution there is no timeout to keep to");
        let soon = Retry { deadline: Some(Instant::now() + Duration::from_secs(10)), ..retry };
        assert!(soon.past_deadline(Duration::from_secs(30)) && !soon.past_deadline(Duration::from_secs(1)));
    }
}
