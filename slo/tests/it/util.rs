//! Test helpers shared by the slo integration tests: the slo binary, real
//! Prometheus and the target app on loopback (stopped by their guards), an
//! exposition for Prometheus to scrape, check-jsonschema, and the workspace
//! root.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs the slo binary; returns (exit code, stdout, stderr).
pub fn slo(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slo"))
        .args(args)
        .output()
        .expect("the slo binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A child process stopped by its PID when dropped, also when a test fails.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Prometheus on 127.0.0.1 (ephemeral port, data in `dir`) with
/// `config` and `extra` flags; it is up when `/-/ready` answers `ready_status`.
/// Returns its guard and base URL; retries on a port clash.
pub async fn start_prometheus(
    dir: &Path,
    config: &str,
    extra: &[String],
    ready_status: u16,
) -> (Guard, String) {
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("prometheus config written");
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed by scripts/test.sh");
        let mut guard = Guard(child);
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if matches!(guard.0.try_wait(), Ok(Some(_))) {
                break;
            }
            if reqwest::get(format!("{url}/-/ready"))
                .await
                .is_ok_and(|r| r.status().as_u16() == ready_status)
            {
                return (guard, url);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("prometheus did not start");
}

/// The target app in this process on 127.0.0.1 (no simulated work, no
/// tracing), with the admin API when a token is given.
pub async fn start_app(admin_token: Option<&str>) -> target_app::Running {
    target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: admin_token.map(|token| target_app::AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            token: token.into(),
        }),
        work: target_app::WorkConfig {
            scale: 0.0,
            payment_failure_rate: 0.0,
        },
        tracing: false,
        ..target_app::Config::default()
    })
    .await
    .expect("the target app starts")
}

/// `slo alerts SPEC --out OUT` with loopback webhooks; asserts success and
/// returns stderr.
pub fn alerts_out(spec: &Path, out: &Path) -> String {
    let (code, stdout, stderr) = slo(&[
        "alerts",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--pager-url",
        "http://127.0.0.1:9/page",
        "--ticket-url",
        "http://127.0.0.1:9/ticket",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    stderr
}

/// The workspace root.
pub fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// The check-jsonschema to run: $CHECK_JSONSCHEMA or the project's .venv.
pub fn check_jsonschema() -> String {
    std::env::var("CHECK_JSONSCHEMA").unwrap_or_else(|_| {
        let p = root().join(".venv/bin/check-jsonschema");
        assert!(
            p.exists(),
            "check-jsonschema is not installed: run scripts/test.sh (it makes .venv) or set CHECK_JSONSCHEMA"
        );
        p.to_string_lossy().into_owned()
    })
}

/// `check-jsonschema --schemafile SCHEMA FILE`: (passed, output).
pub fn jsonschema(schema: &Path, file: &Path) -> (bool, String) {
    jsonschema_all(schema, &[file.to_path_buf()])
}

/// `check-jsonschema --schemafile SCHEMA FILES...`: (all passed, output).
pub fn jsonschema_all(schema: &Path, files: &[std::path::PathBuf]) -> (bool, String) {
    let out = Command::new(check_jsonschema())
        .arg("--schemafile")
        .arg(schema)
        .args(files)
        .output()
        .expect("check-jsonschema runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// An instant query; the whole JSON answer.
pub async fn query(prom: &str, q: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Replaces the target app's fault plan through its admin API.
pub async fn set_faults(admin: &str, token: &str, plan: serde_json::Value) {
    let r = reqwest::Client::new()
        .put(format!("http://{admin}/admin/faults"))
        .bearer_auth(token)
        .json(&plan)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

/// Raises a stop flag when dropped, so background traffic ends also when a
/// test fails.
pub struct StopOnDrop(pub std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Held by the tests that run against a clock (a real Prometheus's scrape and
/// rule intervals, a time budget), so they never overlap one another: each
/// ran alone in a test binary of its own before the tests became one binary.
/// Waits until no other such test runs; the next may start when it drops.
pub struct Alone;

static BUSY: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
static FREE: std::sync::Condvar = std::sync::Condvar::new();

impl Alone {
    pub fn wait() -> Alone {
        let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
        while *busy {
            busy = FREE.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy = true;
        Alone
    }
}

impl Drop for Alone {
    fn drop(&mut self) {
        *BUSY.lock().unwrap_or_else(|e| e.into_inner()) = false;
        FREE.notify_one();
    }
}

/// Aborts a background task when dropped, also when a test fails.
pub struct Abort(pub tokio::task::JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves a Prometheus text exposition on 127.0.0.1 (ephemeral port): the
/// body of the n-th scrape (from 1) is `body(n)`, one request per
/// connection, at most 4 KiB of request read. Returns the address and the
/// guard that stops it.
pub async fn serve_exposition(
    body: impl Fn(u64) -> String + Send + Sync + 'static,
) -> (String, Abort) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let scrapes = Arc::new(AtomicU64::new(0));
    let body = Arc::new(body);
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (body, scrapes) = (body.clone(), scrapes.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = 0;
                while read < buf.len() {
                    match tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf[read..]))
                        .await
                    {
                        Ok(Ok(n)) if n > 0 => read += n,
                        _ => return,
                    }
                    if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let n = scrapes.fetch_add(1, Ordering::Relaxed) + 1;
                let text = body(n);
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    (addr, Abort(task))
}
