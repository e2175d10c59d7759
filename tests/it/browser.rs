//! A real browser and a real HTML checker for the report tests: Debian's
//! headless Chromium (DOM after scripts ran, a screenshot, and its net log)
//! and the Nu HTML checker (`vnu.jar`). `scripts/test` installs both; when one
//! is missing the test fails and says so, it never skips.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `chromium` on PATH (Debian's package), else a failure naming the fix.
pub fn chromium() -> PathBuf {
    which("chromium").unwrap_or_else(|| panic!("chromium is missing: run scripts/test, which installs Debian's `chromium` package"))
}

/// `vnu.jar` from `$VNU_JAR` or npm's global `vnu-jar` package, and `java` to run it.
pub fn vnu() -> (PathBuf, PathBuf) {
    let java = which("java").unwrap_or_else(|| panic!("java is missing: run scripts/test, which installs `default-jre-headless`"));
    let jar = std::env::var_os("VNU_JAR").map(PathBuf::from).or_else(|| {
        let out = Command::new("npm").args(["root", "-g"]).output().ok()?;
        Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("vnu-jar/build/dist/vnu.jar"))
    });
    match jar {
        Some(jar) if jar.is_file() => (java, jar),
        _ => panic!("the Nu HTML checker is missing: run scripts/test, which runs `npm install -g vnu-jar` (or set VNU_JAR)"),
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// One headless Chromium opening `page`: it writes a screenshot and a net log
/// into `dir` and prints the DOM after the page's scripts ran.
pub struct Visit {
    child: Child,
    pub screenshot: PathBuf,
    pub net_log: PathBuf,
}

impl Visit {
    pub fn start(page: &Path, dir: &Path, name: &str) -> Visit {
        let (screenshot, net_log, profile) =
            (dir.join(format!("{name}.png")), dir.join(format!("{name}-net.json")), dir.join(format!("{name}-profile")));
        let url = format!("file://{}", page.display());
        let child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox", // tests run as root
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1300,1400",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--log-net-log={}", net_log.display()))
            .arg(format!("--screenshot={}", screenshot.display()))
            .arg("--dump-dom")
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        Visit { child, screenshot, net_log }
    }

    /// The DOM as Chromium serialized it, once Chromium has exited.
    pub fn dom(self) -> String {
        let out = finish(self.child, "chromium");
        assert!(out.status.success(), "chromium failed: {:?}", out.status);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Waits for `child` at most 30 s (then kills it and fails).
pub fn finish(mut child: Child, what: &str) -> std::process::Output {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().expect("collect output"),
            Ok(None) if start.elapsed() < Duration::from_secs(30) => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within 30 s");
            }
        }
    }
}

/// The URLs the page itself asked the network for, from Chromium's net log.
/// Chromium's own background requests (updates, accounts) are not the page's:
/// a page's requests are the ones whose network isolation key is its `file://`
/// origin.
pub fn page_requests(net_log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(net_log).unwrap_or_else(|e| panic!("no net log at {}: {e}", net_log.display()));
    let log: Value = serde_json::from_str(&text).expect("the net log is JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_u64().expect("the net log names its event types");
    log["events"]
        .as_array()
        .expect("net log events")
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start_job))
        .filter(|e| e["params"]["network_isolation_key"].as_str().is_some_and(|k| k.contains("file://")))
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_owned))
        .collect()
}

/// Starts the Nu HTML checker on `page` (errors only; its exit code says).
pub fn start_vnu(page: &Path) -> Child {
    let (java, jar) = vnu();
    Command::new(java)
        .arg("-jar")
        .arg(jar)
        .args(["--errors-only", "--format", "text"])
        .arg(page)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start java")
}

/// The width and height of a PNG file, from its header.
pub fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 24, "{} is not a PNG", path.display());
    let be = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}
