//! A real browser for the console's tests: Debian's `chromedriver` on a free loopback port,
//! driving headless `chromium` through WebDriver (`fantoccini`), with helpers to wait for
//! what a person would see and to save screenshots under `target/console-screenshots/`.
//!
//! Without chromium and chromedriver the tests are skipped with a message, except under
//! `CI=true`, where a missing browser fails them (`deploy/install-deps.sh` installs both).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A headless Chromium session and the chromedriver serving it (ended on drop).
pub struct Browser {
    pub client: Client,
    driver: Child,
}

/// Whether the browser is installed; under CI a missing one is a failure, not a skip.
pub fn available() -> bool {
    let present =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{CHROMIUM} or {CHROMEDRIVER} is missing: run deploy/install-deps.sh"
        );
        eprintln!("skipped: {CHROMIUM} or {CHROMEDRIVER} is missing (deploy/install-deps.sh)");
    }
    present
}

/// Where the screenshots of a test run go.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots")
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a fresh headless session (a new
    /// profile: nothing cached, no cookies).
    pub async fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut browser = None;
        let deadline = Instant::now() + PATIENCE;
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         "--no-first-run", "--disable-extensions",
                         // a headless window counts as hidden: keep it painting and its timers on time
                         "--disable-renderer-backgrounding",
                         "--disable-background-timer-throttling",
                         "--disable-backgrounding-occluded-windows"]
            }
        });
        let caps = caps.as_object().cloned().expect("an object");
        while browser.is_none() {
            let http = hyper_util::client::legacy::connect::HttpConnector::new();
            let built = ClientBuilder::new(http)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match built {
                Ok(client) => browser = Some(client),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("chromedriver on port {port} gave no session: {e}"),
            }
        }
        Browser {
            client: browser.expect("a session"),
            driver,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current url")
            .to_string()
    }

    /// The first element matching `css`, waited for.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` within {PATIENCE:?}: {e}"))
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns something truthy (not null, false, 0 or "") and returns it.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let v = self.js(script, vec![]).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not seen within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The trimmed text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .expect("text")
            .trim()
            .to_owned()
    }

    /// A number the page shows in `data-value` of `css`, once it has one.
    pub async fn value(&self, css: &str) -> f64 {
        let script = format!(
            "const e = document.querySelector({css:?}); return e && e.dataset.value !== undefined ? e.dataset.value : null;"
        );
        let v = self.until(&format!("a value in {css}"), &script).await;
        v.as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{css}: `{v}` is not a number"))
    }

    /// Saves the page as `target/console-screenshots/<name>.png` and returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // Two animation frames, so that what the page drew last is on the picture.
        self.js(
            "return Promise.race([new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true)))), \
                                  new Promise(r => setTimeout(() => r(false), 1000))]);",
            vec![],
        )
        .await;
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Ends the session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
