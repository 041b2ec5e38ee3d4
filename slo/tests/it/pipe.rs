//! A closed standard output (`slo alerts spec.yaml | head -1`) ends the slo
//! binary quietly with exit 0, never a panic; a gate keeps its verdict.

use crate::util;

use std::io::Read;
use std::process::{Command, Stdio};

use crate::fake_prom::{FakeProm, vector};

/// Runs slo with its standard output closed before it writes; returns the
/// exit code and standard error.
fn closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slo"))
        .args(args)
        .current_dir(util::root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the slo binary runs");
    // The reader goes away at once, as `head` does after its line.
    drop(child.stdout.take());
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child.wait().expect("slo ends");
    (status.code(), stderr)
}

fn assert_quiet(args: &[&str]) {
    let (code, stderr) = closed_stdout(args);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert_eq!(code, Some(0), "{args:?}: {stderr}");
}

const SPEC: &str = "alerts/target-app.slo.yaml";

#[test]
fn alerts_into_a_closed_pipe_exits_quietly() {
    assert_quiet(&["alerts", SPEC]);
    assert_quiet(&["alerts", SPEC, "--format", "operator"]);
}

#[test]
fn dashboard_into_a_closed_pipe_exits_quietly() {
    assert_quiet(&["dashboard", SPEC]);
    assert_quiet(&["dashboard", SPEC, "--format", "configmap"]);
}

#[test]
fn schema_import_check_and_hpa_into_a_closed_pipe_exit_quietly() {
    assert_quiet(&["schema"]);
    assert_quiet(&["import", SPEC]);
    assert_quiet(&["check", SPEC]);
    assert_quiet(&["hpa", "--deployment", "target-app", "--target-rps", "100"]);
}

#[test]
fn gate_into_a_closed_pipe_keeps_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "version: slo/v1\nservice: app\nslos:\n  - name: availability\n    objective: 99\n    period: 30d\n    sli:\n      availability:\n        selector: '{job=\"app\"}'\n",
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    for (errors, code) in [("0", 0), ("NaN", 3), ("500", 99)] {
        let prom = FakeProm::start(vector(&["1000"]), vector(&[errors]));
        let args = [
            "gate",
            spec,
            "--prometheus",
            &prom.url,
            "--from",
            "1700000000",
            "--to",
            "1700000300",
            "--retries",
            "0",
        ];
        let (got, stderr) = closed_stdout(&args);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(got, Some(code), "errors {errors}: {stderr}");
        let (got, stderr) = closed_stdout(&["report", spec, "--prometheus", &prom.url]);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(got, Some(if errors == "NaN" { 3 } else { 0 }), "{stderr}");
    }
}
