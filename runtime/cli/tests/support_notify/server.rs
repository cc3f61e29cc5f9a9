//! The recording HTTP/1.1 server behind each double: one thread per connection, one request
//! per connection (`Connection: close`), bodies by `Content-Length` (chunked ones decoded too),
//! every request kept in arrival order.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// A request as the double received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub method: String,
    /// The path with its query, as sent.
    pub target: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, or None when it is not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether the content type is JSON (`application/json`, parameters allowed).
    pub fn is_json(&self) -> bool {
        self.header("content-type").is_some_and(|v| {
            v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json")
        })
    }
}

/// What the double answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply::new(status).header("content-type", "text/plain; charset=utf-8").body(body)
    }

    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::new(status).header("content-type", "application/json; charset=utf-8").body(&body.to_string())
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.as_bytes().to_vec();
        self
    }
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

/// A running double: its address, what it received, the canned replies still to give.
#[derive(Clone)]
pub struct Server {
    pub origin: String,
    received: Arc<Mutex<Vec<Received>>>,
    canned: Arc<Mutex<VecDeque<Reply>>>,
}

impl Server {
    /// Serves on a free port of 127.0.0.1 until the process ends.
    pub fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_on(0, handler)
    }

    /// [`Server::start`] on 127.0.0.1:`port` (0: a free one).
    pub fn start_on(port: u16, handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let server = Server { origin, received: Arc::default(), canned: Arc::default() };
        let handler: Arc<Handler> = Arc::new(handler);
        let state = server.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (state, handler) = (state.clone(), handler.clone());
                std::thread::spawn(move || state.serve(stream, &*handler));
            }
        });
        server
    }

    /// The next requests get these replies, in order, before the double's own answers.
    pub fn answer_next(&self, replies: impl IntoIterator<Item = Reply>) {
        self.canned.lock().unwrap().extend(replies);
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    fn serve(&self, stream: TcpStream, handler: &Handler) {
        let Some(request) = read_request(&stream) else { return };
        self.received.lock().unwrap().push(request.clone());
        let canned = self.canned.lock().unwrap().pop_front();
        let reply = canned.unwrap_or_else(|| handler(&request));
        let _ = write_reply(&stream, &reply);
    }
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(length) = header("content-length") {
        body.resize(length.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(Received { method, target, headers, body })
}

fn write_reply(mut stream: &TcpStream, reply: &Reply) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", reply.body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(&reply.body)?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
