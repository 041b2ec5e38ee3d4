//! Test helpers: the target app in-process, loadgen as a child process that
//! is killed by PID when dropped, scenario files in a temp dir.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub const TOKEN: &str = "loadgen-test-token";

/// The target app on 127.0.0.1 with an admin listener; no simulated waits.
pub async fn target(scale: f64) -> target_app::Running {
    target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: Some(target_app::AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            token: TOKEN.into(),
        }),
        work: target_app::WorkConfig {
            scale,
            payment_failure_rate: 0.0,
        },
        tracing: false,
        ..target_app::Config::default()
    })
    .await
    .expect("target app starts")
}

pub struct Dir {
    pub dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The result of a loadgen run.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Starts loadgen; the child is killed by PID if the handle is dropped.
pub fn spawn(args: &[&str]) -> tokio::process::Child {
    spawn_env(args, &[])
}

/// [`spawn`] with `env` added to loadgen's environment.
pub fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("loadgen starts")
}

/// Runs loadgen to the end (bounded by `limit`).
pub async fn run(args: &[&str], limit: Duration) -> Out {
    run_env(args, &[], limit).await
}

/// Runs loadgen to the end (bounded by `limit`) with `env` added to its
/// environment.
pub async fn run_env(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Out {
    let child = spawn_env(args, env);
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .expect("loadgen finished in time")
        .unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A one-request open-model scenario.
pub fn open_scenario(path: &str, rate: f64, secs: u64, users: u32, extra: &str) -> String {
    format!(
        "base_url: http://127.0.0.1:1\ntimeout: 5s\nscenarios:\n  - name: s\n    requests:\n      - name: req\n        path: {path}\nload:\n  model: open\n  rate: {rate}\n  duration: {secs}s\n  max_users: {users}\n{extra}"
    )
}

/// Sets the target app's fault plan through its admin API.
pub async fn set_faults(app: &target_app::Running, plan: serde_json::Value) {
    let r = reqwest::Client::new()
        .put(format!("http://{}/admin/faults", app.admin_addr.unwrap()))
        .bearer_auth(TOKEN)
        .json(&plan)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

/// Total requests the target app has counted for `route`.
pub fn served(app: &target_app::Running, route: &str) -> f64 {
    let text = app.state.metrics.encode();
    text.lines()
        .filter(|l| {
            l.starts_with("http_server_request_duration_seconds_count{")
                && l.contains(&format!("http_route=\"{route}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `loadgen run FILE --host http://APP EXTRA...`, bounded by a minute.
pub async fn run_against(app: &target_app::Running, file: &Path, extra: &[&str]) -> Out {
    let host = format!("http://{}", app.addr);
    let file = file.to_str().expect("temp paths are UTF-8");
    let mut args = vec!["run", file, "--host", &host];
    args.extend_from_slice(extra);
    run(&args, Duration::from_secs(60)).await
}

/// A path as an argument.
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Sends SIGINT to a running loadgen after `after`, and waits (bounded) for it to stop.
pub async fn interrupt_after(
    child: tokio::process::Child,
    after: Duration,
) -> std::process::Output {
    tokio::time::sleep(after).await;
    let pid = nix::unistd::Pid::from_raw(child.id().expect("loadgen is running") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT delivered");
    tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("stopped after SIGINT")
        .expect("loadgen output")
}

/// True when `text` names `file:LINE:COLUMN` (both numbers at least 1).
pub fn has_location(text: &str, file: &str) -> bool {
    text.match_indices(&format!("{file}:")).any(|(i, m)| {
        let mut parts = text[i + m.len()..].splitn(3, ':');
        let num = |p: Option<&str>| {
            p.and_then(|p| p.parse::<u64>().ok())
                .is_some_and(|n| n >= 1)
        };
        num(parts.next()) && num(parts.next())
    })
}

/// check-jsonschema (`$CHECK_JSONSCHEMA`, or the `.venv` scripts/test.sh
/// makes) on `file` against `schema` (a path from the repository's root):
/// (passed, output).
pub fn fits_schema(schema: &str, file: &Path) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tool = std::env::var_os("CHECK_JSONSCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/check-jsonschema"));
    assert!(
        tool.exists(),
        "check-jsonschema is not installed: run scripts/test.sh (it makes .venv) or set CHECK_JSONSCHEMA"
    );
    let out = std::process::Command::new(tool)
        .arg("--schemafile")
        .arg(root.join(schema))
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A child process stopped by its PID when dropped.
pub struct Guard(pub std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real Prometheus on an ephemeral loopback port with `config`, and
/// `extra` flags; stopped when the guard drops.
pub async fn prometheus(dir: &Path, config: &str, extra: &[&str]) -> (Guard, String) {
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = std::process::Command::new("prometheus")
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
                .is_ok_and(|r| r.status().is_success())
            {
                return (guard, url);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("prometheus did not start");
}

/// An instant query's vector: (labels, value) per series.
pub async fn query(prom: &str, q: &str) -> Vec<(serde_json::Value, f64)> {
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "success", "{q}: {body}");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let v: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
            (r["metric"].clone(), v)
        })
        .collect()
}
