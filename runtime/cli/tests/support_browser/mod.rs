//! The web UI's tests in a real browser: Debian's `chromium`, headless, driven over WebDriver
//! by Debian's `chromedriver` (fantoccini is the client), against a real `sluice server`. What a
//! test asserts is what a person sees: the text and the elements on the page, after the page's
//! own scripts ran. Every test saves screenshots under `target/ui-screenshots/` (CI keeps them).

#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const INSTALL: &str = "apt-get install -y chromium chromium-driver";
/// How long a wait for something on the page lasts before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A headless chromium on its own chromedriver, closed on [`Browser::close`] (or with the test
/// process: chromedriver ends its browsers when it is killed).
pub struct Browser {
    pub client: Client,
    base: String,
    chromedriver: Child,
}

impl Browser {
    /// A browser for the server at `base` (`http://127.0.0.1:<port>`), 1280×900.
    pub async fn start(base: &str) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let chromedriver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver ({e}); install it: {INSTALL}"));
        let url = format!("http://127.0.0.1:{port}");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--force-prefers-reduced-motion"],
            },
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt =
                ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await;
            match attempt {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver on {url} gave no browser within 30 s: {e}"),
            }
        };
        Browser { client, base: base.trim_end_matches('/').to_string(), chromedriver }
    }

    /// Opens a page of the UI (`/flows/examples/hello`).
    pub async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// The path (and query) the page is at now.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default())
    }

    /// The first element matching `css`, once there is one.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page within {PATIENCE:?}: {e}"))
    }

    /// Waits until an element matching `css` shows `text` (a part of its visible text).
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            for element in self.client.find_all(Locator::Css(css)).await.unwrap_or_default() {
                if element.text().await.is_ok_and(|t| t.contains(text)) {
                    return element;
                }
            }
            if Instant::now() > deadline {
                let seen = self.texts(css).await;
                panic!("no `{css}` showing {text:?} within {PATIENCE:?}; they show {seen:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `check` of the page's state (a JavaScript expression) is true.
    pub async fn wait_until(&self, what: &str, expression: &str) {
        let deadline = Instant::now() + PATIENCE;
        while self.eval(expression).await != Value::Bool(true) {
            assert!(Instant::now() < deadline, "{what}: `{expression}` not true within {PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible text of every element matching `css`, in document order.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.unwrap_or_default() {
            texts.push(element.text().await.unwrap_or_default());
        }
        texts
    }

    /// The visible text of the first element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap()
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap();
    }

    /// Types `text` into the element (keys as a person presses them).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css).await.send_keys(text).await.unwrap();
    }

    /// Runs `script` (a function body; `return` its value) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        let body = if script.trim_start().starts_with("return") {
            script.to_string()
        } else {
            format!("return ({script});")
        };
        self.client.execute(&body, vec![]).await.unwrap()
    }

    /// Saves a screenshot of the page as `target/ui-screenshots/<name>.png`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await.unwrap()).unwrap();
        path
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

/// `target/ui-screenshots` of this workspace.
pub fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("ui-screenshots")
}
