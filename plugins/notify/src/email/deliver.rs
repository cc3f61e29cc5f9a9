//! One message to one server: connect, the SMTP conversation, and sending again when the
//! server says "try later". A `4xx` reply (RFC 5321 4.2.1: a transient failure, such as
//! greylisting's `451`) or a connection that failed before the message was accepted is tried
//! again after 1 s, 2 s, 4 s, ... within `maxAttempts`, `maxRetryWait` and the task's timeout
//! (as every notifier, `crate::send::Retry`); a `5xx`, a TLS
//! failure or a refusal by the host is final. A connection lost after the whole message was
//! sent is final too: the server may have taken it, and a second send could deliver it twice.

use std::time::{Duration, Instant};

use sluice_plugin::TaskError;
use sluice_plugin::tcp::{self, Tls};

use super::smtp::{self, Reply, Session};
use crate::send::Retry;

/// The first wait before sending again; it doubles after each attempt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// What to send, and where.
pub struct Delivery<'a> {
    pub host: &'a str,
    pub port: u16,
    pub tls: Tls,
    /// STARTTLS before anything else (`security: starttls`).
    pub starttls: bool,
    pub timeout: Duration,
    pub helo: &'a str,
    pub credentials: Option<(&'a str, &'a str)>,
    pub from: &'a str,
    pub recipients: &'a [&'a str],
    pub message: &'a [u8],
}

/// How an attempt failed.
enum Failure {
    /// Worth another attempt.
    Transient(TaskError),
    Final(TaskError),
}

impl Delivery<'_> {
    fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Sends the message, again after a transient failure; the server's reply to it.
    pub fn send(&self, retry: Retry) -> Result<Reply, TaskError> {
        let pause = |wait, line: &str| {
            sluice_plugin::warn!("{line}");
            std::thread::sleep(wait);
        };
        with_retries(retry, pause, || self.attempt())
    }

    fn attempt(&self) -> Result<Reply, Failure> {
        let server = self.server();
        let connection =
            tcp::connect(self.host, self.port, self.tls, self.timeout).map_err(|err| match err {
                tcp::Error::Connect(_) | tcp::Error::Timeout(_) | tcp::Error::Io(_) => {
                    Failure::Transient(TaskError::failed(err.to_string()))
                }
                other => Failure::Final(other.into()),
            })?;
        let failed = |err: smtp::Error| classify(&server, err);
        let mut session = Session::open(connection).map_err(failed)?;
        let mut extensions = session.hello(self.helo).map_err(failed)?;
        if self.starttls {
            if !extensions.starttls {
                return Err(Failure::Final(TaskError::failed(format!(
                    "SMTP {server} does not offer STARTTLS, so the message would go in clear; use `security: tls` \
                     if the server takes TLS from the first byte (usually port 465)"
                ))));
            }
            session.start_tls().map_err(failed)?;
            extensions = session.hello(self.helo).map_err(failed)?;
        }
        if let Some(size) = extensions.size
            && self.message.len() as u64 > size
        {
            return Err(Failure::Final(TaskError::failed(format!(
                "SMTP {server} takes messages up to {size} bytes (SIZE); this one is {} bytes",
                self.message.len()
            ))));
        }
        if let Some((user, password)) = self.credentials {
            session.authenticate(&extensions.auth, user, password).map_err(failed)?;
        }
        session.envelope(self.from, self.recipients).map_err(failed)?;
        let reply = session.data(self.message).map_err(|err| match err {
            // The whole message went out: the server may have it.
            smtp::Error::Transport(why) => Failure::Final(TaskError::failed(format!(
                "SMTP {server}: {why} after the message was sent; it may have been delivered, so it is not sent again"
            ))),
            other => classify(&server, other),
        })?;
        session.quit();
        Ok(reply)
    }
}

/// `attempt` until it succeeds, fails for good, or the budget is spent; `pause` logs the line
/// that says why and waits.
fn with_retries<T>(
    retry: Retry,
    mut pause: impl FnMut(Duration, &str),
    mut attempt: impl FnMut() -> Result<T, Failure>,
) -> Result<T, TaskError> {
    let mut waited = Duration::ZERO;
    let mut wait = FIRST_BACKOFF;
    let mut attempts = 1;
    loop {
        let error = match attempt() {
            Ok(value) => return Ok(value),
            Err(Failure::Final(error)) => return Err(error),
            Err(Failure::Transient(error)) => error,
        };
        if attempts >= retry.max_attempts {
            return Err(gave_up(error, attempts, "that was the last of maxAttempts".into()));
        }
        if waited + wait > retry.max_wait {
            let left = retry.max_wait.saturating_sub(waited);
            let why = format!(
                "the next wait of {} s is past what is left of maxRetryWait ({} s)",
                wait.as_secs(),
                left.as_secs()
            );
            return Err(gave_up(error, attempts, why));
        }
        // A wait the task's timeout would cut short ends the task now, with the server's reply.
        if retry.deadline.is_some_and(|deadline| Instant::now() + wait >= deadline) {
            let why = format!("the next wait of {} s would pass the task's timeout", wait.as_secs());
            return Err(gave_up(error, attempts, why));
        }
        let line = format!(
            "{}; sending again in {} s (attempt {} of {})",
            error.message(),
            wait.as_secs(),
            attempts + 1,
            retry.max_attempts
        );
        pause(wait, &line);
        waited += wait;
        wait *= 2;
        attempts += 1;
    }
}

/// A refusal with the server's reply; transient when the reply is `4xx` or the connection
/// failed.
fn classify(server: &str, err: smtp::Error) -> Failure {
    match err {
        smtp::Error::Refused { command, reply } => {
            let error = TaskError::failed(format!("SMTP {server} refused {command}: {reply}"));
            if (400..500).contains(&reply.code) { Failure::Transient(error) } else { Failure::Final(error) }
        }
        smtp::Error::Transport(why) => Failure::Transient(TaskError::failed(format!("SMTP {server}: {why}"))),
        smtp::Error::Unsupported(why) | smtp::Error::Tls(why) => {
            Failure::Final(TaskError::failed(format!("SMTP {server}: {why}")))
        }
    }
}

fn gave_up(error: TaskError, attempts: u32, why: String) -> TaskError {
    TaskError::failed(format!("{}; gave up after {attempts} attempts: {why}", error.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(max_attempts: u32, max_wait: u64) -> Retry {
        Retry { max_attempts, max_wait: Duration::from_secs(max_wait), deadline: None }
    }

    fn busy() -> Failure {
        Failure::Transient(TaskError::failed("SMTP h:587 refused RCPT TO:<a@b>: 451 later"))
    }

    #[test]
    fn transient_failures_are_tried_again_with_doubling_waits() {
        let (mut waits, mut calls) = (Vec::new(), 0);
        let result = with_retries(
            retry(5, 60),
            |d, _| waits.push(d.as_secs()),
            || {
                calls += 1;
                if calls < 3 { Err(busy()) } else { Ok("sent") }
            },
        );
        assert_eq!((result, calls, waits), (Ok("sent"), 3, vec![1, 2]));
    }

    #[test]
    fn the_budget_ends_the_retries_with_the_last_reply() {
        let mut waits = Vec::new();
        let result: Result<(), _> =
            with_retries(retry(3, 60), |d, _| waits.push(d.as_secs()), || Err(busy()));
        assert_eq!(
            result,
            Err(TaskError::failed(
                "SMTP h:587 refused RCPT TO:<a@b>: 451 later; gave up after 3 attempts: that was the last of maxAttempts"
            ))
        );
        assert_eq!(waits, [1, 2]);
        let result: Result<(), _> = with_retries(retry(10, 5), |_, _| {}, || Err(busy()));
        let message = result.expect_err("spent").to_string();
        assert!(
            message.ends_with(
                "gave up after 3 attempts: the next wait of 4 s is past what is left of maxRetryWait (2 s)"
            ),
            "{message}"
        );
    }

    #[test]
    fn no_wait_passes_the_tasks_timeout() {
        let soon = Retry { deadline: Some(Instant::now() + Duration::from_millis(500)), ..retry(5, 60) };
        let result: Result<(), _> = with_retries(soon, |_, _| panic!("no wait"), || Err(busy()));
        let message = result.expect_err("deadline").to_string();
        assert!(
            message.ends_with("gave up after 1 attempts: the next wait of 1 s would pass the task's timeout"),
            "{message}"
        );
    }

    #[test]
    fn a_final_failure_is_not_tried_again() {
        let mut calls = 0;
        let result: Result<(), _> = with_retries(
            retry(5, 60),
            |_, _| panic!("no wait"),
            || {
                calls += 1;
                Err(Failure::Final(TaskError::failed("550 no")))
            },
        );
        assert_eq!((result, calls), (Err(TaskError::failed("550 no")), 1));
    }
}
