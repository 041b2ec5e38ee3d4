//! Helpers shared by the integration tests: processes stopped by PID on drop,
//! the target app as a child process or in-process, and polling with deadlines.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process that is killed (by its PID) and reaped when dropped, so a
/// failing test never leaves it running.
pub struct ChildGuard {
    child: Option<Child>,
    name: &'static str,
}

impl ChildGuard {
    pub fn new(name: &'static str, child: Child) -> Self {
        Self {
            child: Some(child),
            name,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(-1)
    }

    /// The child's piped stderr, if any (read it after the child exited).
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.as_mut()?.stderr.take()
    }

    /// Sends a signal to the process by its PID.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal)
            .unwrap_or_else(|e| panic!("failed to signal {}: {e}", self.name));
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// A free port on 127.0.0.1 (for programs that cannot report the port they bound).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// Polls `check` until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The target-app binary running as a child, with its stdout lines captured.
pub struct AppProcess {
    pub guard: ChildGuard,
    pub addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl AppProcess {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stdout lines parsed as JSON (non-JSON lines are skipped).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Starts the binary on an ephemeral port and waits for its "listening" log line.
pub fn spawn_app(args: &[&str], envs: &[(&str, &str)]) -> AppProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_target-app"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("failed to start target-app");
    let stdout = child.stdout.take().expect("stdout is piped");
    let guard = ChildGuard::new("target-app", child);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "listening"
                {
                    let _ = tx.send(v);
                }
                lines.lock().unwrap().push(line);
            }
        });
    }
    let listening = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("target-app did not report its address");
    let addr = listening["fields"]["addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("addr in the listening line");
    let admin_addr = listening["fields"]["admin_addr"]
        .as_str()
        .and_then(|a| a.parse().ok());
    AppProcess {
        guard,
        addr,
        admin_addr,
        lines,
    }
}

/// A blocking HTTP client with a bounded timeout.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Starts the server in-process on an ephemeral port.
pub async fn start_in_process(config: target_app::Config) -> target_app::Running {
    target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..config
    })
    .await
    .expect("server starts")
}

/// The default in-process configuration for tests: no simulated waits.
pub fn test_config() -> target_app::Config {
    target_app::Config {
        work: target_app::WorkConfig {
            scale: 0.0,
            payment_failure_rate: 0.0,
        },
        tracing: false,
        ..target_app::Config::default()
    }
}

/// The value of one sample in an OpenMetrics exposition, by its full series text.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        let value = rest.strip_prefix(' ')?.split(' ').next()?;
        value.parse().ok()
    })
}

/// The exposition of an in-process server at `base` (http://host:port).
pub async fn scrape(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .expect("the server answers /metrics")
        .text()
        .await
        .expect("a text body")
}
