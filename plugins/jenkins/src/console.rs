//! Streaming a build's console into the task's log as it grows, with Jenkins' progressive
//! text: `GET <build>/logText/progressiveText?start=<offset>` answers the text from `offset`,
//! the next offset in `X-Text-Size`, and `X-More-Data: true` while the build may write more.
//! Lines are logged whole: a chunk that ends mid-line keeps its tail for the next one.

use std::time::{Duration, SystemTime};

use sluice_plugin::TaskError;
use sluice_plugin::http::retry_after;

use crate::client::{Jenkins, error_text};

/// Why [`stream`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The console is complete.
    Complete,
    /// The deadline passed while the build was still writing.
    Deadline,
}

/// Logs the console of the build at `build_path` (`/job/x/12`) until it is complete or the
/// deadline passes, polling every `interval`.
pub fn stream(jenkins: &Jenkins, build_path: &str, interval: Duration) -> Result<Ended, TaskError> {
    let mut offset: u64 = 0;
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let path = format!("{build_path}/logText/progressiveText?start={offset}");
        let mut received: u64 = 0;
        let response = jenkins
            .request("GET", &path)
            .send_streaming(|chunk| {
                received += chunk.len() as u64;
                partial.extend_from_slice(chunk);
                log_lines(&mut partial);
                Ok(())
            })
            .map_err(TaskError::from)?;
        match response.status {
            200..=299 => {}
            // The build's log may not exist for a moment after it started; a 429 or 5xx is
            // tried again as long as the deadline allows, after the server's `Retry-After`.
            404 | 429 | 500..=599 => {
                if response.status != 404 {
                    sluice_plugin::warn!("reading the console: {}; trying again", error_text(&response));
                }
                if jenkins.remaining().is_zero() {
                    return Ok(Ended::Deadline);
                }
                let asked =
                    response.header("retry-after").and_then(|value| retry_after(value, SystemTime::now()));
                jenkins.pause(asked.unwrap_or(interval));
                continue;
            }
            _ => return Err(TaskError::failed(format!("reading the console: {}", error_text(&response)))),
        }
        let more = response.header("x-more-data").is_some_and(|value| value.trim() == "true");
        offset = match response.header("x-text-size").and_then(|size| size.trim().parse().ok()) {
            Some(size) => size,
            None => offset + received,
        };
        if !more {
            if !partial.is_empty() {
                sluice_plugin::info!("{}", String::from_utf8_lossy(&partial));
            }
            return Ok(Ended::Complete);
        }
        if jenkins.remaining().is_zero() {
            return Ok(Ended::Deadline);
        }
        jenkins.pause(interval);
    }
}

/// Logs each complete line of `buffer` and keeps the incomplete rest.
fn log_lines(buffer: &mut Vec<u8>) {
    let Some(last_newline) = buffer.iter().rposition(|b| *b == b'\n') else { return };
    for line in complete_lines(&buffer[..last_newline]) {
        sluice_plugin::info!("{line}");
    }
    buffer.drain(..=last_newline);
}

fn complete_lines(text: &[u8]) -> Vec<String> {
    text.split(|b| *b == b'\n')
        .map(|line| String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_newlines_without_carriage_returns() {
        assert_eq!(complete_lines(b"a\r\nb\n\nc"), ["a", "b", "", "c"]);
    }
}
