//! The real Prometheus (Debian's `prometheus`) for the analysis tests, scraping a small exporter
//! that the test controls: it serves the gauges and counters the test sets, so a test raises a
//! release's error rate on demand and the kubernetes plugin reads it back through PromQL.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Metrics served at `/metrics`, in the text exposition format.
#[derive(Clone, Default)]
pub struct Exporter {
    metrics: Arc<Mutex<BTreeMap<String, f64>>>,
    port: u16,
}

impl Exporter {
    /// Serves on a free port of 127.0.0.1 until the test process ends.
    pub fn start() -> Exporter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let exporter = Exporter { metrics: Arc::default(), port };
        let served = exporter.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let served = served.clone();
                std::thread::spawn(move || served.answer(stream));
            }
        });
        exporter
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sets a sample: `series` is the metric with its labels, `error_rate{app="web"}`.
    pub fn set(&self, series: &str, value: f64) {
        self.metrics.lock().unwrap().insert(series.to_string(), value);
    }

    fn answer(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        // The request line and headers; the answer is the same for every path.
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let body: String = self
            .metrics
            .lock()
            .unwrap()
            .iter()
            .map(|(series, value)| format!("{series} {value}\n"))
            .collect();
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

/// A Prometheus server scraping one exporter every second, stopped on drop.
pub struct Prometheus {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus and waits until it has scraped the exporter once.
    pub fn start(exporter: &Exporter) -> Prometheus {
        let scrape = format!(
            "  - job_name: release\n    static_configs:\n      - targets: ['{}']\n",
            exporter.address()
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let prometheus = Prometheus::with_scrape_configs(port, |_| scrape, &[]);
        prometheus.wait_until("up", |v| v == 1.0);
        prometheus
    }

    /// Prometheus on 127.0.0.1:`port`, scraping every second with the scrape configs
    /// `scrape_configs` makes (the YAML list's items, indented by two) from the directory where
    /// `files` (a CA, a token) were written.
    pub fn with_scrape_configs(
        port: u16,
        scrape_configs: impl FnOnce(&std::path::Path) -> String,
        files: &[(&str, &str)],
    ) -> Prometheus {
        let binary = PathBuf::from("/usr/bin/prometheus");
        assert!(binary.exists(), "Prometheus is not installed: run `apt-get install -y prometheus`");
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let config = dir.path().join("prometheus.yml");
        let global = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n";
        std::fs::write(&config, format!("{global}{}", scrape_configs(dir.path()))).unwrap();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        let mut prometheus = Prometheus { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get(&format!("{}/api/v1/query", prometheus.url), "1").is_none() {
            let exited = prometheus.child.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(prometheus.dir().join("prometheus.log")).unwrap_or_default();
                panic!("Prometheus did not answer on {} (exit: {exited:?}); its log:\n{log}", prometheus.url);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        prometheus
    }

    /// The directory of its configuration and the `files` given to it.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Waits up to 60 s until `promql`'s first value satisfies `accept`.
    pub fn wait_until(&self, promql: &str, accept: impl Fn(f64) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.query(promql).is_some_and(&accept) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(self.dir().join("prometheus.log")).unwrap_or_default();
        panic!(
            "{promql} on {} did not get the value awaited within 60 s (now {:?}); its log:\n{log}",
            self.url,
            self.query(promql)
        );
    }

    /// The first value of an instant query, if there is one.
    pub fn query(&self, promql: &str) -> Option<f64> {
        let url = format!("{}/api/v1/query", self.url);
        let response = http_get(&url, promql)?;
        let value: serde_json::Value = serde_json::from_str(&response).ok()?;
        value["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// Waits until `promql` gives `expected` (a scrape or two after the exporter changed).
    pub fn wait_for(&self, promql: &str, expected: f64) {
        self.wait_until(promql, |v| v == expected);
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET with the query in the URL, as HTTP/1.0 so the answer is never chunked.
fn http_get(url: &str, promql: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/')?;
    let mut stream = TcpStream::connect(authority).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let encoded: String = promql
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    write!(stream, "GET /{path}?query={encoded} HTTP/1.0\r\nhost: {authority}\r\n\r\n").ok()?;
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    Some(body.to_string())
}
