//! A real browser for tests: headless Chromium driven by chromedriver over the W3C WebDriver
//! HTTP protocol (plain JSON over reqwest, no WebDriver crate). `Chromedriver::start` runs
//! `chromedriver --port=…` as a child process (killed on drop); a `Session` opens a phone-sized
//! headless Chromium (412×915 CSS px through chromedriver's mobile emulation: a desktop window
//! cannot be narrower than 500 px) that records its console, finds elements by CSS, reads
//! text and attributes, runs a script, and takes a full-page screenshot.
//!
//! Without chromedriver on `PATH` (or at `CHROMEDRIVER`), `Chromedriver::start` fails the test
//! with what to install, unless `SKIP_BROWSER_TESTS=1`, when it returns `None` and the test
//! says it skipped: a browser test must not pass silently where no browser ran.

use base64::Engine;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a condition is waited for before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The phone the page is shown on, in CSS pixels.
pub const PHONE: (u32, u32) = (412, 915);

/// A running chromedriver; killed when dropped.
pub struct Chromedriver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Chromedriver {
    /// Asks chromedriver to quit (it closes the browsers of sessions still open, as after a
    /// failed assertion; killed outright, it would leave them running), then kills it if it
    /// has not exited within a few seconds.
    fn drop(&mut self) {
        use std::io::Write;
        let addr = self.base.trim_start_matches("http://");
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = write!(
                s,
                "GET /shutdown HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMEDRIVER").filter(|_| name == "chromedriver") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Chromium's binary, for `goog:chromeOptions.binary` (Debian's is `chromium`, which
/// chromedriver does not look for under that name on every distribution).
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROME_BIN") {
        return Some(PathBuf::from(p));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|n| find_on_path(n))
}

impl Chromedriver {
    /// chromedriver on a free loopback port, answering `/status` ready; `None` only when it is
    /// missing and `SKIP_BROWSER_TESTS=1` says so. Panics (fails the test) when it is missing
    /// otherwise.
    pub async fn start() -> Option<Chromedriver> {
        let skip = std::env::var("SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1");
        let (Some(driver), Some(_)) = (find_on_path("chromedriver"), chromium()) else {
            if skip {
                eprintln!("SKIPPED: chromium or chromedriver not found and SKIP_BROWSER_TESTS=1");
                return None;
            }
            panic!(
                "the browser test needs Chromium and chromedriver: `apt-get install -y chromium \
                 chromium-driver` (Debian), or set SKIP_BROWSER_TESTS=1 to skip it"
            );
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", driver.display()));
        let cd = Chromedriver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let ready = wait_until("chromedriver to be ready", || async {
            let r = cd
                .http
                .get(format!("{}/status", cd.base))
                .send()
                .await
                .ok()?;
            let v: Value = r.json().await.ok()?;
            (v["value"]["ready"] == true).then_some(())
        });
        ready.await;
        Some(cd)
    }

    /// A new headless Chromium session the size of a phone, its console recorded.
    pub async fn session(&self) -> Session {
        let mut options = json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     format!("--window-size={},{}", PHONE.0, PHONE.1)],
            "mobileEmulation": {"deviceMetrics": {
                "width": PHONE.0, "height": PHONE.1, "pixelRatio": 1.0, "touch": true}},
        });
        if let Some(bin) = chromium() {
            options["binary"] = json!(bin.display().to_string());
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": {"browser": "ALL"},
            "timeouts": {"implicit": 0, "pageLoad": 30_000, "script": 10_000},
        }}});
        let v = call(
            &self.http,
            reqwest::Method::POST,
            &format!("{}/session", self.base),
            Some(caps),
        )
        .await;
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Session {
            http: self.http.clone(),
            base: format!("{}/session/{id}", self.base),
        }
    }
}

/// One WebDriver command; its `value`, or a panic with the driver's error.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http.request(method.clone(), url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(
        status.is_success(),
        "{method} {url}: {status} {}",
        v["value"]
    );
    v["value"].clone()
}

/// Polls `probe` until it gives a value; fails the test after `PATIENCE`.
pub async fn wait_until<T, F, Fut>(what: &str, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A browser element, by its WebDriver reference.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Element {
    /// The element as a script's argument.
    pub fn as_arg(&self) -> Value {
        json!({ ELEMENT: self.0 })
    }
}

/// A browser session; `end` closes its browser (chromedriver's drop closes one left open).
pub struct Session {
    http: reqwest::Client,
    base: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Session {
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        call(&self.http, method, &format!("{}{path}", self.base), body).await
    }

    /// Opens `url` and waits for the page to load (WebDriver's normal page-load strategy).
    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The address in the address bar.
    pub async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn elements_of(v: &Value) -> Vec<Element> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every element matching `css` in the document (none is not an error).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        Self::elements_of(&v)
    }

    /// Every element matching `css` inside `within`.
    pub async fn find_in(&self, within: &Element, css: &str) -> Vec<Element> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                &format!("/element/{}/elements", within.0),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        Self::elements_of(&v)
    }

    /// The one element matching `css`, waited for; fails the test if there is none in time.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            if Instant::now() >= deadline {
                let shown = self
                    .script(
                        "return document.body ? document.body.innerText : ''",
                        json!([]),
                    )
                    .await;
                let shown: String = shown
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(600)
                    .collect();
                panic!(
                    "no element `{css}` within {PATIENCE:?} on {}, which shows: {shown}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The element's rendered text.
    pub async fn text(&self, e: &Element) -> String {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{}/text", e.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// The element's attribute `name`, if it has one.
    pub async fn attr(&self, e: &Element, name: &str) -> Option<String> {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{}/attribute/{name}", e.0),
            None,
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its result.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The console messages recorded since the last call (chromedriver's `se/log`), as
    /// `(level, message)`: `SEVERE` for errors, CSP violations among them.
    pub async fn console(&self) -> Vec<(String, String)> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({"type": "browser"})),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|m| {
                        (
                            m["level"].as_str().unwrap_or_default().to_string(),
                            m["message"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A PNG of the whole page, beyond the viewport's height (Chromium's DevTools
    /// `Page.captureScreenshot` through chromedriver; the W3C screenshot shows the viewport).
    pub async fn full_page_png(&self) -> Vec<u8> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                Some(json!({"cmd": "Page.captureScreenshot",
                            "params": {"format": "png", "captureBeyondViewport": true}})),
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(v["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG")
    }

    /// Closes the browser.
    pub async fn end(self) {
        self.cmd(reqwest::Method::DELETE, "", None).await;
    }
}
