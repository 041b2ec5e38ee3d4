//! A Prometheus for the demo's SLO panel: started in a temporary directory
//! on an ephemeral loopback port, scraping the target app every second as
//! job "target-app", and stopped by its PID when dropped.

use std::net::SocketAddr;
use std::time::Duration;

/// Why the demo's Prometheus did not start.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("temp dir for Prometheus")]
    TempDir(#[source] std::io::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("failed to start prometheus")]
    Spawn(#[source] std::io::Error),
    #[error("prometheus did not become ready")]
    NotReady,
}

/// A running Prometheus; stopped by its PID when dropped.
pub struct DemoPrometheus {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    url: String,
}

impl Drop for DemoPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DemoPrometheus {
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts Prometheus scraping `target`, and waits (at most 10 s) until
    /// it is ready.
    pub async fn start(target: SocketAddr) -> Result<Self, PrometheusError> {
        let dir = tempfile::tempdir().map_err(PrometheusError::TempDir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: target-app\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )?;
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(PrometheusError::Spawn)?;
        let p = DemoPrometheus {
            child,
            _dir: dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("{}/-/ready", p.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(p);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(PrometheusError::NotReady)
    }
}

/// Whether `program` is an executable file on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}
