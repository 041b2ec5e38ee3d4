//! Graceful shutdown of the real binary: on SIGTERM readiness turns 503,
//! in-flight requests finish, and the drain is bounded.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::StatusCode;

use crate::util::{client, spawn_app, wait_for};

#[test]
fn in_flight_request_completes_after_sigterm_while_not_ready() {
    let mut app = spawn_app(
        &[
            "--telemetry",
            "off",
            "--work-scale",
            "0",
            "--fault-latency",
            "1500ms",
            "--fault-route",
            "/api/products",
            "--shutdown-delay",
            "1s",
            "--drain-timeout",
            "10s",
        ],
        &[],
    );
    let url = app.url("/api/products");
    let slow = std::thread::spawn(move || client().get(url).send().map(|r| r.status()));
    // Let the slow request reach the server.
    std::thread::sleep(Duration::from_millis(300));
    app.guard.signal(Signal::SIGTERM);
    let ready = wait_for(Duration::from_secs(5), || {
        let r = client().get(app.url("/ready")).send().ok()?;
        (r.status() == StatusCode::SERVICE_UNAVAILABLE)
            .then(|| r.json::<serde_json::Value>().ok())
            .flatten()
    })
    .expect("readiness never turned 503 after SIGTERM");
    assert_eq!(ready["status"], "draining");
    // Liveness still answers during the shutdown delay.
    assert_eq!(
        client().get(app.url("/health")).send().unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(slow.join().unwrap().unwrap(), StatusCode::OK);
    let status = app
        .guard
        .wait_exit(Duration::from_secs(15))
        .expect("did not exit after draining");
    assert!(status.success(), "{status:?}");
    // The reader of the child's stdout may be a moment behind its exit.
    let drained = wait_for(Duration::from_secs(5), || {
        app.json_lines()
            .iter()
            .any(|l| l["message"] == "drained")
            .then_some(())
    });
    assert!(
        drained.is_some(),
        "no \"drained\" line: {:?}",
        app.json_lines()
    );
}

#[test]
fn drain_is_bounded_by_the_drain_timeout() {
    let mut app = spawn_app(
        &[
            "--telemetry",
            "off",
            "--work-scale",
            "0",
            "--fault-stall",
            "60s",
            "--request-timeout",
            "120s",
            "--drain-timeout",
            "1s",
        ],
        &[],
    );
    let url = app.url("/api/products");
    let stuck = std::thread::spawn(move || client().get(url).send().map(|r| r.status()));
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    app.guard.signal(Signal::SIGINT);
    let status = app
        .guard
        .wait_exit(Duration::from_secs(20))
        .expect("drain was not bounded");
    assert!(status.success(), "{status:?}");
    // Well before the 60 s stall: the drain timeout cut it.
    assert!(signalled.elapsed() < Duration::from_secs(20));
    assert!(
        stuck.join().unwrap().is_err(),
        "the stalled request was cut"
    );
    // The reader of the child's stdout may be a moment behind its exit.
    wait_for(Duration::from_secs(5), || {
        app.json_lines()
            .iter()
            .any(|l| l["message"] == "drained")
            .then_some(())
    });
    let lines = app.json_lines();
    let drained = lines
        .iter()
        .find(|l| l["message"] == "drained")
        .expect("drained line");
    assert_eq!(drained["fields"]["timed_out"], true);
}

#[test]
fn a_second_signal_exits_at_once_during_the_shutdown_delay() {
    let mut app = spawn_app(&["--telemetry", "off", "--shutdown-delay", "1h"], &[]);
    app.guard.signal(Signal::SIGTERM);
    // Draining: still serving, readiness 503.
    let draining = wait_for(Duration::from_secs(5), || {
        let r = client().get(app.url("/ready")).send().ok()?;
        (r.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(())
    });
    assert!(draining.is_some(), "readiness never turned 503");
    let started = Instant::now();
    app.guard.signal(Signal::SIGINT);
    let status = app
        .guard
        .wait_exit(Duration::from_secs(5))
        .expect("a second signal ends the shutdown delay");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn durations_and_counts_out_of_range_exit_2_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--request-timeout", "999999999999d"], "--request-timeout"),
        (&["--request-timeout", "0s"], "--request-timeout"),
        (&["--shutdown-delay", "2h"], "--shutdown-delay"),
        (&["--drain-timeout", "999999999999d"], "--drain-timeout"),
        (
            &["--startup-delay", "18446744073709551615s"],
            "--startup-delay",
        ),
        (&["--header-read-timeout", "0s"], "--header-read-timeout"),
        (&["--idle-timeout", "2d"], "--idle-timeout"),
        (&["--max-connections", "0"], "--max-connections"),
        (
            &["--fault-latency", "999999999999d"],
            "latency must be at most 24h",
        ),
        (&["--fault-stall", "25h"], "stall must be at most 24h"),
    ];
    for (args, expected) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_target-app"))
            .args(["--telemetry", "off", "--listen", "127.0.0.1:0"])
            .args(*args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn a_signal_right_after_listening_drains_instead_of_killing() {
    // The handlers are in place before "listening" is logged: a SIGTERM sent
    // the moment it appears is a graceful shutdown (exit 0), never the
    // default action of the signal.
    for _ in 0..5 {
        let mut app = spawn_app(&["--telemetry", "off", "--shutdown-delay", "0s"], &[]);
        app.guard.signal(Signal::SIGTERM);
        let status = app
            .guard
            .wait_exit(Duration::from_secs(10))
            .expect("exits after the signal");
        assert!(status.success(), "{status:?}");
    }
}
