//! [`Retry`]: sending a request again after a 429 or a 5xx, honouring `Retry-After`, bounded.
//!
//! Services (Jira, ServiceNow, Slack, ...) answer 429 when a client goes too fast and say when to
//! come back in `Retry-After` (seconds or an HTTP date); a 5xx is often a moment's trouble. Both
//! are worth a few more tries; every other answer, and a request that never got one, is handed
//! back as it is, so the caller reports the service's own error.

use std::time::{Duration, Instant, SystemTime};

use super::{Error, Request, Response};

/// How often and how long to wait before sending a request again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// How many times the request is sent in all, the first time included (at least 1).
    pub attempts: u32,
    /// The wait before the second attempt when the server does not say; it doubles each time.
    pub backoff: Duration,
    /// The longest wait accepted: a `Retry-After` beyond it ends the retries, and the answer
    /// is returned as it is.
    pub max_wait: Duration,
    /// No wait may end after this instant (the task's own deadline); the answer at hand is
    /// returned instead.
    pub deadline: Option<Instant>,
}

impl Default for Retry {
    /// Four attempts, 1 s then 2 s then 4 s unless the server says, waits of at most 60 s.
    fn default() -> Self {
        Self {
            attempts: 4,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
            deadline: None,
        }
    }
}

/// How long before the run's timeout a wait must end, so the send after it has time.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// The instant no wait may pass: the run's timeout as the host tells it, less
/// [`DEADLINE_MARGIN`]; call it when the task starts. None outside an execution or without a
/// timeout.
pub fn task_deadline() -> Option<Instant> {
    crate::context::execution()
        .and_then(|execution| execution.deadline(Instant::now()))
        .map(|deadline| deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline))
}

impl Retry {
    /// The same policy, with waits that end before [`task_deadline`] (when there is one).
    pub fn within_task_timeout(self) -> Self {
        match task_deadline() {
            Some(deadline) => self.until(deadline),
            None => self,
        }
    }

    /// The same policy, with waits that end before `deadline`.
    pub fn until(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Why `response`, a 429 or 5xx to the `attempts`-th send, was not sent again, for the task's
    /// error: the attempts are spent, the wait its `Retry-After` asks for is longer than
    /// `max_wait`, or the next wait would pass the deadline (the task's timeout).
    pub fn gave_up(&self, response: &Response, attempts: u32, now: SystemTime) -> String {
        let sends = if attempts == 1 { "1 attempt".to_string() } else { format!("{attempts} attempts") };
        if attempts >= self.attempts {
            return format!("gave up after {sends}");
        }
        let backoff = self.backoff.saturating_mul(1 << (attempts - 1).min(16));
        let asked = response.header("retry-after").and_then(|value| retry_after(value, now));
        let wait = asked.unwrap_or(backoff);
        let wait_text = format!("{} s", wait.as_secs_f64().ceil());
        if wait > self.max_wait {
            return format!(
                "gave up after {sends}: the wait its Retry-After asks for ({wait_text}) is longer than {} s",
                self.max_wait.as_secs()
            );
        }
        format!("gave up after {sends}: the next wait of {wait_text} would pass the task's timeout")
    }

    /// How long to wait before attempt `attempt + 1` after `response` to attempt `attempt`
    /// (1-based), or `None` to stop and return `response`. `now` is the wall clock, for a
    /// `Retry-After` given as a date.
    pub fn wait_after(&self, response: &Response, attempt: u32, now: SystemTime) -> Option<Duration> {
        if !is_retryable(response.status) || attempt >= self.attempts {
            return None;
        }
        let backoff = self.backoff.saturating_mul(1 << (attempt - 1).min(16));
        let wait = match response.header("retry-after") {
            Some(value) => retry_after(value, now).unwrap_or(backoff),
            None => backoff,
        };
        if wait > self.max_wait {
            return None;
        }
        match self.deadline {
            Some(deadline) if Instant::now() + wait >= deadline => None,
            _ => Some(wait),
        }
    }
}

/// 429 Too Many Requests and every 5xx but 501 Not Implemented (which will not change).
pub fn is_retryable(status: u16) -> bool {
    status == 429 || ((500..600).contains(&status) && status != 501)
}

impl Request {
    /// Send the request like [`send`](Request::send), and again after a 429 or 5xx answer as
    /// `retry` says (each wait logged at `warn`, with the status and the origin). Returns the
    /// last answer, whatever its status; errors without an answer (refused, DNS, connection)
    /// are returned at once. A body streamed with [`body_reader`](Request::body_reader) can be
    /// sent once, so such a request is not retried.
    pub fn send_retrying(self, retry: &Retry) -> Result<Response, Error> {
        self.send_counting_retries(retry).map(|(response, _)| response)
    }

    /// [`send_retrying`](Request::send_retrying), with how many times the request was sent
    /// (for [`Retry::gave_up`] when the last answer is still a 429 or 5xx).
    pub fn send_counting_retries(self, retry: &Retry) -> Result<(Response, u32), Error> {
        if self.has_streamed_body() {
            return self.send().map(|response| (response, 1));
        }
        let mut attempt = 1;
        loop {
            let response = self.clone().send()?;
            let Some(wait) = retry.wait_after(&response, attempt, SystemTime::now()) else {
                return Ok((response, attempt));
            };
            crate::warn!(
                "HTTP {} from {}; trying again in {} (attempt {} of {})",
                response.status,
                origin_of(&response.url),
                seconds(wait),
                attempt + 1,
                retry.attempts
            );
            std::thread::sleep(wait);
            attempt += 1;
        }
    }
}

/// `scheme://host[:port]` of a URL, for log lines that must not carry paths or queries (which
/// can hold tokens).
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find(['/', '?', '#']) {
        Some(end) => &url[..after_scheme + end],
        None => url,
    }
}

fn seconds(wait: Duration) -> String {
    if wait.subsec_millis() == 0 {
        format!("{}s", wait.as_secs())
    } else {
        format!("{:.1}s", wait.as_secs_f64())
    }
}

/// A `Retry-After` value: delay seconds (`120`) or an IMF-fixdate
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, RFC 9110 section 10.2.3), as a wait from `now`.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers send.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let (_weekday, rest) = value.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: u64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let mut hms = time.split(':').map(|part| part.parse::<u64>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some()
        || year < 1970
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn why_a_retryable_answer_was_not_sent_again() {
        let now = SystemTime::now();
        let retry = Retry::default();
        assert_eq!(retry.gave_up(&answer(503, None), 4, now), "gave up after 4 attempts");
        assert_eq!(
            retry.gave_up(&answer(429, Some("120")), 1, now),
            "gave up after 1 attempt: the wait its Retry-After asks for (120 s) is longer than 60 s"
        );
        let soon = retry.clone().until(Instant::now() + Duration::from_secs(5));
        assert_eq!(soon.wait_after(&answer(429, Some("30")), 1, now), None);
        assert_eq!(
            soon.gave_up(&answer(429, Some("30")), 1, now),
            "gave up after 1 attempt: the next wait of 30 s would pass the task's timeout"
        );
        // Without a Retry-After the wait is the backoff: 2 s before the third send.
        assert_eq!(
            soon.gave_up(&answer(502, None), 2, now),
            "gave up after 2 attempts: the next wait of 2 s would pass the task's timeout"
        );
    }

    fn answer(status: u16, retry_after: Option<&str>) -> Response {
        let headers =
            retry_after.map(|v| vec![("retry-after".to_string(), v.to_string())]).unwrap_or_default();
        Response { status, headers, body: Vec::new(), url: "https://x.example/a?token=t".into() }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        assert_eq!(retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // 2015-10-21 07:28:00 UTC is 1445412480.
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 CET", now), None);
    }

    #[test]
    fn waits_for_429_and_5xx_only_and_stops_after_the_attempts() {
        let retry = Retry::default();
        let now = SystemTime::now();
        assert_eq!(retry.wait_after(&answer(429, Some("3")), 1, now), Some(Duration::from_secs(3)));
        assert_eq!(retry.wait_after(&answer(503, None), 1, now), Some(Duration::from_secs(1)));
        assert_eq!(retry.wait_after(&answer(502, None), 3, now), Some(Duration::from_secs(4)));
        assert_eq!(retry.wait_after(&answer(500, None), 4, now), None);
        for status in [200, 201, 400, 401, 403, 404, 409, 501] {
            assert_eq!(retry.wait_after(&answer(status, Some("1")), 1, now), None, "{status}");
        }
    }

    #[test]
    fn a_wait_past_the_limit_or_the_deadline_returns_the_answer() {
        let retry = Retry { max_wait: Duration::from_secs(10), ..Retry::default() };
        let now = SystemTime::now();
        assert_eq!(retry.wait_after(&answer(429, Some("11")), 1, now), None);
        let soon = retry.until(Instant::now() + Duration::from_secs(2));
        assert_eq!(soon.wait_after(&answer(429, Some("5")), 1, now), None);
        assert_eq!(soon.wait_after(&answer(429, Some("0")), 1, now), Some(Duration::ZERO));
    }

    #[test]
    fn log_lines_name_the_origin_only() {
        assert_eq!(origin_of("https://x.example/a?token=t"), "https://x.example");
        assert_eq!(origin_of("http://127.0.0.1:8080?q"), "http://127.0.0.1:8080");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
    }
}
