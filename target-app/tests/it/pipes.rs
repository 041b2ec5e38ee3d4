//! Closed pipes: `target-app --help | head -1`, errors to a closed stderr,
//! and log lines after the reader of stdout went away never panic.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{ChildGuard, client, free_port, wait_for};

/// A pipe whose reading end is already closed (its reader, `true`, has
/// exited): every write fails with EPIPE.
fn closed_pipe() -> Stdio {
    let mut reader = Command::new("true")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("true runs");
    let writer = reader.stdin.take().expect("stdin is piped");
    reader.wait().expect("true exits");
    Stdio::from(writer)
}

fn app() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_target-app"));
    cmd.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

#[test]
fn help_into_a_closed_pipe_exits_0_without_a_panic() {
    for flag in ["--help", "--version"] {
        let out = app()
            .arg(flag)
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{flag}: {stderr}");
        assert!(!stderr.contains("panicked"), "{flag}: {stderr}");
    }
}

#[test]
fn errors_into_a_closed_stderr_still_exit_2() {
    for args in [
        &["--fault-error-rate", "2"][..],
        &["--no-such-flag"],
        &["--faults", "/nonexistent/faults.yaml"],
    ] {
        let out = app()
            .args(["--telemetry", "off"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(closed_pipe())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn log_lines_to_a_closed_stdout_do_not_stop_the_service() {
    serve_with_a_closed_stdout("off");
}

#[test]
fn console_spans_to_a_closed_stdout_do_not_panic() {
    serve_with_a_closed_stdout("console");
}

#[test]
fn console_spans_are_json_lines() {
    let app = crate::util::spawn_app(&["--telemetry", "console", "--work-scale", "0"], &[]);
    let http = client();
    assert_eq!(
        http.get(app.url("/api/products/3"))
            .send()
            .unwrap()
            .status(),
        200
    );
    let span = wait_for(Duration::from_secs(10), || {
        app.json_lines()
            .into_iter()
            .find(|l| l["span"] == "GET /api/products/{id}")
    })
    .expect("a JSON line for the server span");
    assert_eq!(span["kind"], "server");
    assert_eq!(span["attributes"]["http.response.status_code"], "200");
    assert_eq!(span["trace_id"].as_str().map(str::len), Some(32));
}

#[test]
fn server_errors_mark_the_span_and_fault_delays_get_a_child_span() {
    let app = crate::util::spawn_app(
        &[
            "--telemetry",
            "console",
            "--work-scale",
            "0",
            "--fault-route",
            "/api/products",
            "--fault-error-rate",
            "1",
            "--fault-error-status",
            "503",
            "--fault-latency",
            "5ms",
        ],
        &[],
    );
    let http = client();
    assert_eq!(
        http.get(app.url("/api/products")).send().unwrap().status(),
        503
    );
    let lines = || app.json_lines();
    let server = wait_for(Duration::from_secs(10), || {
        lines()
            .into_iter()
            .find(|l| l["span"] == "GET /api/products" && l["kind"] == "server")
    })
    .expect("a JSON line for the server span");
    assert_eq!(server["status"], "error", "{server}");
    assert_eq!(server["attributes"]["error.type"], "503", "{server}");
    assert_eq!(
        server["attributes"]["http.response.status_code"], "503",
        "{server}"
    );
    let delay = lines()
        .into_iter()
        .find(|l| l["span"] == "fault.delay")
        .expect("a fault.delay span");
    assert_eq!(delay["parent_span_id"], server["span_id"], "{delay}");
    assert_eq!(delay["trace_id"], server["trace_id"], "{delay}");
    assert_eq!(delay["attributes"]["app.fault.delay_ms"], "5", "{delay}");
}

/// Serves requests with stdout closed; stderr must show no panic and the
/// service must answer and shut down cleanly.
fn serve_with_a_closed_stdout(telemetry: &str) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = app()
        .args([
            "--telemetry",
            telemetry,
            "--work-scale",
            "0",
            "--listen",
            &listen,
        ])
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard::new("target-app", child);
    let http = client();
    let base = format!("http://{listen}");
    let up = wait_for(Duration::from_secs(20), || {
        http.get(format!("{base}/health")).send().ok()
    });
    assert!(up.is_some(), "target-app never answered /health");
    // Each order writes a log line, each API request a span, to the closed stdout.
    for _ in 0..5 {
        let r = http
            .post(format!("{base}/api/orders"))
            .json(&serde_json::json!({"product_id": 1, "quantity": 1}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
        let r = http.get(format!("{base}/api/products/2")).send().unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        http.get(format!("{base}/health")).send().unwrap().status(),
        200
    );
    guard.signal(nix::sys::signal::Signal::SIGTERM);
    let status = guard
        .wait_exit(Duration::from_secs(20))
        .expect("target-app exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    let mut stderr = String::new();
    if let Some(mut pipe) = guard.take_stderr() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}
