//! Runs at the edges: a target that accepts and never answers, long think
//! times, interruption, and runs in which no request succeeds (refused, TLS
//! failures, 503s). Each must end on time and say why it failed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::util::{Dir, arg, interrupt_after, report, run, set_faults, spawn, target};

/// A listener on loopback that accepts connections and never answers; the
/// sockets are held until the guard is dropped.
struct Silent {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Silent {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            // Bounded: the test makes a few dozen connections at most.
            while held.len() < 10_000 {
                match listener.accept().await {
                    Ok((s, _)) => held.push(s),
                    Err(_) => break,
                }
            }
        });
        Self { addr, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An open-model scenario against `base`.
fn open(base: &str, timeout: &str, rate: f64, secs: u64, users: u32, extra: &str) -> String {
    format!(
        "base_url: {base}\ntimeout: {timeout}\nscenarios:\n  - name: s\n    requests:\n      - name: req\n        path: /api/products\nload:\n  model: open\n  rate: {rate}\n  duration: {secs}s\n  max_users: {users}\n{extra}"
    )
}

fn reasons(r: &Value, kind: &str) -> serde_json::Map<String, Value> {
    r["total"]["error_reasons"][kind]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// Seconds between the report's `started_at` and `ended_at`.
fn report_window(r: &Value) -> f64 {
    let t = |k: &str| {
        humantime::parse_rfc3339_weak(r[k].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{k}: {e}"))
    };
    t("ended_at")
        .duration_since(t("started_at"))
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_answers_ends_within_duration_plus_timeout() {
    let silent = Silent::start().await;
    let dir = Dir::new();
    // 3 s at 10/s with 5 users: every user hangs, the rest queues up.
    let file = dir.write("hang.yaml", &open(&silent.url(), "2s", 10.0, 3, 5, ""));
    let rep = dir.path("hang.json");
    let started = Instant::now();
    let out = run(
        &["run", arg(&file), "--report", arg(&rep)],
        Duration::from_secs(30),
    )
    .await;
    let wall = started.elapsed().as_secs_f64();
    // 3 s + one 2 s timeout, and a little for starting the process.
    assert!(wall < 6.5, "took {wall:.1}s");
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    let elapsed = r["elapsed_s"].as_f64().unwrap();
    assert!((3.0..=5.5).contains(&elapsed), "elapsed_s {elapsed}");
    assert!(
        wall - elapsed < 1.5,
        "elapsed_s {elapsed} but took {wall:.1}s"
    );
    assert!((report_window(&r) - elapsed).abs() < 0.01);
    // Every request that was sent timed out, with the reason; what was
    // still queued at the end was dropped, not sent late.
    let count = r["total"]["count"].as_u64().unwrap();
    assert!(count >= 5, "{count}");
    assert_eq!(r["total"]["errors"]["timeout"].as_u64(), Some(count));
    assert_eq!(reasons(&r, "timeout")["timeout after 2s"], count);
    assert!(r["dropped_iterations"].as_u64().unwrap() >= 10, "{r:#}");
    assert!(out.stderr.contains("timeout after 2s"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn think_time_is_cut_at_the_end_of_the_schedule() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let file = dir.write(
        "think.yaml",
        &format!(
            "base_url: http://{}\ntimeout: 2s\nscenarios:\n  - name: s\n    think_time: 20s\n    requests:\n      - name: a\n        path: /health\n      - name: b\n        path: /health\nload:\n  model: closed\n  users: 2\n  duration: 3s\n",
            app.addr
        ),
    );
    let rep = dir.path("think.json");
    let started = Instant::now();
    let out = run(
        &["run", arg(&file), "--report", arg(&rep)],
        Duration::from_secs(30),
    )
    .await;
    let wall = started.elapsed().as_secs_f64();
    assert!(wall < 5.5, "took {wall:.1}s");
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    let elapsed = r["elapsed_s"].as_f64().unwrap();
    assert!((3.0..=3.8).contains(&elapsed), "elapsed_s {elapsed}");
    // Each user sent its first request, then thought until the end.
    assert_eq!(r["total"]["count"], 2, "{r:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_a_hanging_run_within_a_second() {
    let silent = Silent::start().await;
    let dir = Dir::new();
    let file = dir.write("int.yaml", &open(&silent.url(), "20s", 10.0, 30, 5, ""));
    let rep = dir.path("int.json");
    let junit = dir.path("int.xml");
    let child = spawn(&[
        "run",
        arg(&file),
        "--report",
        arg(&rep),
        "--junit",
        arg(&junit),
    ]);
    let sent = Instant::now() + Duration::from_secs(2);
    let out = interrupt_after(child, Duration::from_secs(2)).await;
    let took = Instant::now().saturating_duration_since(sent).as_secs_f64();
    assert!(took < 1.0, "stopped {took:.2}s after SIGINT");
    assert_eq!(out.status.code(), Some(1));
    let r = report(&rep);
    assert_eq!(r["interrupted"], true);
    let elapsed = r["elapsed_s"].as_f64().unwrap();
    // The clock starts once the users are up, so a little after the spawn.
    assert!(elapsed > 0.0 && elapsed < 2.5, "elapsed_s {elapsed}");
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("the run was interrupted")
    );
}

/// A port on loopback with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_requests_refused_exit_1_with_the_reason() {
    let dir = Dir::new();
    let base = format!("http://127.0.0.1:{}", closed_port());
    let file = dir.write("refused.yaml", &open(&base, "2s", 20.0, 2, 5, ""));
    let rep = dir.path("refused.json");
    let junit = dir.path("refused.xml");
    let started = Instant::now();
    let out = run(
        &[
            "run",
            arg(&file),
            "--report",
            arg(&rep),
            "--junit",
            arg(&junit),
        ],
        Duration::from_secs(30),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("no request succeeded") && out.stderr.contains("connection refused"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("connect: connection refused ("),
        "{}",
        out.stdout
    );
    let r = report(&rep);
    let count = r["total"]["count"].as_u64().unwrap();
    assert!(count >= 30, "{count}");
    assert_eq!(reasons(&r, "connect")["connection refused"], count);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("connect: connection refused"), "{xml}");
}

/// A self-signed certificate and key for 127.0.0.1, as PEM files in `dir`.
fn self_signed(dir: &Dir) -> target_app::TlsConfig {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    target_app::TlsConfig {
        cert: dir.write("cert.pem", &made.cert.pem()),
        key: dir.write("key.pem", &made.signing_key.serialize_pem()),
        client_ca: None,
    }
}

/// Runs a one-second scenario against `base`; returns the exit code, stderr
/// and the report.
async fn one_second(dir: &Dir, base: &str) -> (Option<i32>, String, Value) {
    let file = dir.write("s.yaml", &open(base, "2s", 10.0, 1, 2, ""));
    let rep = dir.path("s.json");
    let _ = std::fs::remove_file(&rep);
    let out = run(
        &["run", arg(&file), "--report", arg(&rep)],
        Duration::from_secs(30),
    )
    .await;
    (out.code, out.stderr, report(&rep))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failures_say_certificate_or_plain_http() {
    let dir = Dir::new();
    let app = target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(self_signed(&dir)),
        tracing: false,
        ..target_app::Config::default()
    })
    .await
    .expect("the TLS target app starts");
    let (code, stderr, r) = one_second(&dir, &format!("https://{}", app.addr)).await;
    assert_eq!(code, Some(1), "{stderr}");
    let connect = reasons(&r, "connect");
    let (why, _) = connect.iter().next().expect("a connect reason");
    assert!(
        why.starts_with("certificate verify failed: unknown issuer"),
        "{connect:?}"
    );
    assert!(stderr.contains("certificate verify failed"), "{stderr}");

    // TLS to a server that speaks plain HTTP.
    let plain = target(0.0).await;
    let (code, stderr, r) = one_second(&dir, &format!("https://{}", plain.addr)).await;
    assert_eq!(code, Some(1), "{stderr}");
    let connect = reasons(&r, "connect");
    assert!(
        connect
            .keys()
            .all(|k| k.starts_with("tls handshake failed")),
        "{connect:?}"
    );
    assert!(stderr.contains("tls handshake failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_503_is_the_reason() {
    let app = target(0.0).await;
    set_faults(
        &app,
        json!({"rules": [{"error_rate": 1.0, "error_status": 503}]}),
    )
    .await;
    let dir = Dir::new();
    let (code, stderr, r) = one_second(&dir, &format!("http://{}", app.addr)).await;
    assert_eq!(code, Some(1), "{stderr}");
    let count = r["total"]["count"].as_u64().unwrap();
    assert!(count >= 5);
    assert_eq!(reasons(&r, "status")["HTTP 503"], count);
    assert!(stderr.contains("status: HTTP 503"), "{stderr}");
}

/// A plan against `host`: one request, open model, then adjusted by `edit`.
fn plan(host: &str, edit: impl FnOnce(&mut loadgen::scenario::Plan)) -> loadgen::scenario::Plan {
    let yaml = open(host, "2s", 5.0, 1, 2, "");
    let mut plan = loadgen::scenario::parse(&yaml, std::path::Path::new("edge.yaml")).unwrap();
    edit(&mut plan);
    plan
}

/// Runs `plan` in-process, bounded; returns the result and how long it took.
async fn engine_run(
    plan: loadgen::scenario::Plan,
) -> (
    Result<loadgen::engine::RunResult, loadgen::engine::EngineError>,
    Duration,
) {
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        loadgen::engine::run(
            plan,
            None,
            false,
            std::sync::Arc::new(loadgen::engine::Control::default()),
            None,
            None,
            Default::default(),
        ),
    )
    .await
    .expect("the run ended");
    (result, started.elapsed())
}

/// Numbers at the edge of their types reach the engine (however they got
/// past validation): it neither panics, nor overflows, nor outlives the run.
/// One test, run after another: goose's killswitch is process-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_survives_extreme_numbers() {
    use loadgen::scenario::{Load, Stage};
    let app = target(0.0).await;
    let host = format!("http://{}", app.addr);

    // An arrival rate no machine can hold: the overdue arrivals are dropped
    // in bulk and the run ends with its schedule.
    let p = plan(&host, |p| {
        p.load = Load::Open {
            start_rate: 1e308,
            stages: vec![Stage {
                duration: Duration::from_secs(1),
                target: 1e308,
            }],
            max_users: 2,
            max_queue: 10,
        };
    });
    let (r, took) = engine_run(p).await;
    let r = r.unwrap();
    assert!(took < Duration::from_secs(4), "rate 1e308 took {took:?}");
    assert!(r.dropped > 1_000_000, "{}", r.dropped);
    assert!(r.recorded.total.count > 0);

    // A think time and a timeout of u64::MAX seconds.
    let p = plan(&host, |p| {
        p.timeout = Duration::from_secs(u64::MAX);
        p.scenarios[0].requests[0].think_time = Duration::from_secs(u64::MAX);
    });
    let (r, took) = engine_run(p).await;
    let r = r.unwrap();
    assert!(
        took < Duration::from_secs(4),
        "huge think time took {took:?}"
    );
    assert!(r.elapsed < Duration::from_millis(1500), "{:?}", r.elapsed);
    assert!(r.recorded.total.count >= 1);

    // More users than memory can hold: an error, not a capacity-overflow panic.
    let p = plan(&host, |p| {
        p.load = Load::Closed {
            start_users: 1,
            stages: vec![Stage {
                duration: Duration::from_secs(1),
                target: 18446744073709551616.0,
            }],
        };
    });
    let (r, _) = engine_run(p).await;
    let e = r.expect_err("too many users");
    assert!(e.to_string().contains("cannot allocate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigint_exits_at_once_and_still_writes_the_report() {
    let silent = Silent::start().await;
    let dir = Dir::new();
    let file = dir.write("int2.yaml", &open(&silent.url(), "20s", 10.0, 30, 5, ""));
    let rep = dir.path("int2.json");
    let child = spawn(&["run", arg(&file), "--report", arg(&rep)]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = nix::unistd::Pid::from_raw(child.id().expect("loadgen is running") as i32);
    let sent = Instant::now();
    for _ in 0..2 {
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("stopped after two SIGINTs")
        .unwrap();
    let took = sent.elapsed().as_secs_f64();
    assert!(took < 1.0, "stopped {took:.2}s after the first SIGINT");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted twice"), "{stderr}");
    assert_eq!(report(&rep)["interrupted"], true);
}
