//! One message to one server: connect, the SMTP conversation, and sending again when the
//! server says "try later". A `4xx` reply (RFC 5321 4.2.1: a transient failure, such as
//! greylisting's `451`) or a connection that failed before the message was accepted is tried
//! again after 1 s, 2 s, 4 s, ... within `maxAttempts` and `maxRetryWait`; a `5xx`, a TLS
//! failure or a refusal by the host is final. A connection lost after the whole message was
//! sent is final too: the server may have taken it, and a second send could deliver it twice.

use std::time::Duration;

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
        let mut waited = Duration::ZERO;
        let mut wait = FIRST_BACKOFF;
        for attempt in 1.. {
            let error = match self.attempt() {
                Ok(reply) => return Ok(reply),
                Err(Failure::Final(error)) => return Err(error),
                Err(Failure::Transient(error)) => error,
            };
            if attempt >= retry.max_attempts {
                return Err(gave_up(error, attempt, "that was the last of maxAttempts".into()));
            }
            if waited + wait > retry.max_wait {
                let left = retry.max_wait.saturating_sub(waited);
                let why = format!(
                    "the next wait of {} s is past what is left of maxRetryWait ({} s)",
                    wait.as_secs(),
                    left.as_secs()
                );
                return Err(gave_up(error, attempt, why));
            }
            sluice_plugin::warn!(
                "{}; sending again in {} s (attempt {} of {})",
                error.message(),
                wait.as_secs(),
                attempt + 1,
                retry.max_attempts
            );
            std::thread::sleep(wait);
            waited += wait;
            wait *= 2;
        }
        unreachable!("the loop returns")
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
