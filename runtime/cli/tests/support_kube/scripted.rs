//! An HTTP endpoint whose answers the test scripts, for the analysis' HTTP checks: each request
//! gets the next status of the script, after the script's delay (a slow service), and once the
//! script is used up the last answer again.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer: a status, sent after a delay.
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    pub status: u16,
    pub delay: Duration,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer { status, delay: Duration::ZERO }
    }

    pub fn slow(status: u16, delay: Duration) -> Answer {
        Answer { status, delay }
    }
}

/// Serves on a free port of 127.0.0.1 until the test process ends.
pub struct Scripted {
    pub url: String,
    served: Arc<Mutex<usize>>,
}

impl Scripted {
    pub fn start(script: &[Answer]) -> Scripted {
        assert!(!script.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/check", listener.local_addr().unwrap());
        let served = Arc::new(Mutex::new(0));
        let script = script.to_vec();
        let counter = served.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let answer = {
                    let mut n = counter.lock().unwrap();
                    let answer = script[(*n).min(script.len() - 1)];
                    *n += 1;
                    answer
                };
                std::thread::spawn(move || answer_with(stream, answer));
            }
        });
        Scripted { url, served }
    }

    /// How many requests were answered (or are being answered).
    pub fn served(&self) -> usize {
        *self.served.lock().unwrap()
    }
}

fn answer_with(stream: TcpStream, answer: Answer) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    // The request line and headers; a GET has no body.
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    std::thread::sleep(answer.delay);
    let body = format!("scripted {}\n", answer.status);
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {} Scripted\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        answer.status,
        body.len()
    );
}
