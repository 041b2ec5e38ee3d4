//! `slo gate` and `slo report` against a small fake Prometheus on 127.0.0.1
//! that gives answers a real one cannot be made to give (NaN, Inf, negative
//! counts, the wrong result type, two series): every one is inconclusive
//! (exit 3) with a message naming the query and what came back, never a pass.
//! Also `gate --run`'s window and interrupted reports.

use crate::fake_prom::{FakeProm, vector};
use crate::util::slo;
use std::path::Path;

const SPEC: &str = "version: slo/v1\nservice: app\nslos:\n  - name: availability\n    objective: 99\n    period: 30d\n    min_events: 10\n    sli:\n      availability:\n        selector: '{job=\"app\"}'\n";

fn spec_file(dir: &tempfile::TempDir) -> String {
    let p = dir.path().join("spec.yaml");
    std::fs::write(&p, SPEC).unwrap();
    p.to_str().unwrap().to_owned()
}

const PROM_FLAGS: [&str; 4] = ["--retries", "0", "--timeout", "5s"];

/// Runs `slo gate` over a fixed window against answers `total` and `errors`.
fn gate(total: String, errors: String) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_file(&dir);
    let prom = FakeProm::start(total, errors);
    let mut args = vec![
        "gate",
        &spec,
        "--prometheus",
        &prom.url,
        "--from",
        "1700000000",
        "--to",
        "1700000300",
    ];
    args.extend(PROM_FLAGS);
    slo(&args)
}

/// Asserts the gate is inconclusive (exit 3), naming the errors query and `found`.
fn assert_inconclusive(errors: String, found: &str) {
    let (code, stdout, stderr) = gate(vector(&["1000"]), errors);
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(
        stdout.contains("INCONCLUSIVE availability: SLI unknown over 5m"),
        "{stdout}"
    );
    assert!(!stdout.contains("PASS"), "{stdout}");
    assert!(
        stdout.contains("sum(increase(http_server_request_duration_seconds_count{job=\"app\",http_response_status_code=~\"5..\"}[5m]))"),
        "names the query: {stdout}"
    );
    assert!(
        stdout.contains(found),
        "says what came back ({found}): {stdout}"
    );
}

#[test]
fn gate_healthy_answers_pass() {
    // The control: the same fake with sound numbers passes, so the cases
    // below fail for their answers, not for the set-up.
    let (code, stdout, stderr) = gate(vector(&["1000"]), vector(&["0"]));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("PASS availability"), "{stdout}");
    // An empty errors answer is zero errors for availability (no 5xx series yet).
    let (code, stdout, stderr) = gate(vector(&["1000"]), vector(&[]));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
}

#[test]
fn gate_nan_errors_is_inconclusive() {
    assert_inconclusive(vector(&["NaN"]), "NaN");
}

#[test]
fn gate_positive_infinity_errors_is_inconclusive() {
    assert_inconclusive(vector(&["+Inf"]), "+Inf");
}

#[test]
fn gate_negative_infinity_errors_is_inconclusive() {
    assert_inconclusive(vector(&["-Inf"]), "-Inf");
}

#[test]
fn gate_negative_errors_is_inconclusive() {
    assert_inconclusive(vector(&["-42"]), "-42");
}

#[test]
fn gate_matrix_errors_is_inconclusive() {
    assert_inconclusive(
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"0"],[1700000015,"0"]]}]}}"#.into(),
        "matrix",
    );
}

#[test]
fn gate_string_errors_is_inconclusive() {
    assert_inconclusive(
        r#"{"status":"success","data":{"resultType":"string","result":[1700000000,"0"]}}"#.into(),
        "string \"0\"",
    );
}

#[test]
fn gate_scalar_errors_is_inconclusive() {
    assert_inconclusive(
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0"]}}"#.into(),
        "scalar 0",
    );
}

#[test]
fn gate_two_errors_series_is_inconclusive() {
    // First 0, second 900: reading only the first would pass.
    assert_inconclusive(vector(&["0", "900"]), "2 series");
    assert_inconclusive(vector(&["0", "900"]), "900");
}

#[test]
fn gate_non_json_answer_is_inconclusive() {
    assert_inconclusive("<html>login</html>".into(), "not JSON");
}

#[test]
fn gate_prometheus_error_answer_is_inconclusive() {
    let (code, stdout, stderr) = gate(
        vector(&["1000"]),
        r#"{"status":"error","errorType":"execution","error":"query processing would load too many samples"}"#.into(),
    );
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(stderr.contains("rejected the query"), "{stderr}");
    assert!(stderr.contains("execution: query processing"), "{stderr}");
    assert!(!stdout.contains("PASS"), "{stdout}");
}

#[test]
fn gate_missing_total_is_inconclusive() {
    let (code, stdout, stderr) = gate(vector(&[]), vector(&["0"]));
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(
        stdout.contains("sum(increase(http_server_request_duration_seconds_count{job=\"app\"}[5m])) returned no series"),
        "{stdout}"
    );
}

#[test]
fn gate_nan_total_is_inconclusive() {
    let (code, stdout, stderr) = gate(vector(&["NaN"]), vector(&["0"]));
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "Prometheus answered {http_response_status_code=\"500\"} NaN to sum(increase("
        ),
        "{stdout}"
    );
}

#[test]
fn gate_errors_above_total_is_inconclusive() {
    let (code, stdout, stderr) = gate(vector(&["100"]), vector(&["900"]));
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(stdout.contains("do not count the same events"), "{stdout}");
}

#[test]
fn gate_writes_the_inconclusive_reason_to_json_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_file(&dir);
    let prom = FakeProm::start(vector(&["1000"]), vector(&["NaN"]));
    let json = dir.path().join("gate.json");
    let junit = dir.path().join("gate.xml");
    let mut args = vec![
        "gate",
        &spec,
        "--prometheus",
        &prom.url,
        "--from",
        "1700000000",
        "--to",
        "1700000300",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ];
    args.extend(PROM_FLAGS);
    let (code, stdout, stderr) = slo(&args);
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results[0]["verdict"], "inconclusive");
    assert!(
        results[0]["reason"].as_str().unwrap().contains("NaN"),
        "{results}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("NaN"), "{xml}");
}

#[test]
fn report_nan_errors_is_inconclusive() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_file(&dir);
    let prom = FakeProm::start(vector(&["1000"]), vector(&["NaN"]));
    let mut args = vec!["report", &spec, "--prometheus", &prom.url];
    args.extend(PROM_FLAGS);
    let (code, stdout, stderr) = slo(&args);
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(
        stdout.contains("INCONCLUSIVE: Prometheus answered {http_response_status_code=\"500\"} NaN to sum(increase("),
        "{stdout}"
    );
    assert!(
        stdout.contains("SLI over the period: inconclusive"),
        "{stdout}"
    );
    assert!(stdout.contains("error budget: inconclusive"), "{stdout}");
    assert!(
        stdout.contains("time to exhaustion: inconclusive"),
        "{stdout}"
    );
    assert!(stdout.contains("burn rate: 5m ?"), "{stdout}");
    assert!(stdout.contains(": INCONCLUSIVE"), "alerts: {stdout}");
    assert!(stderr.contains("could not be trusted"), "{stderr}");

    args.push("--json");
    let (code, stdout, stderr) = slo(&args);
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(report[0]["sli"].is_null(), "{report}");
    assert_eq!(report[0]["period_inconclusive"], true, "{report}");
    let doubts = report[0]["inconclusive"].as_array().unwrap();
    assert!(!doubts.is_empty(), "{report}");
    assert!(
        report[0]["windows"][0]["inconclusive"]
            .as_str()
            .unwrap()
            .contains("NaN")
    );

    // Sound answers: exit 0, nothing inconclusive.
    let prom = FakeProm::start(vector(&["1000"]), vector(&["1"]));
    let mut args = vec!["report", &spec, "--prometheus", &prom.url, "--json"];
    args.extend(PROM_FLAGS);
    let (code, stdout, stderr) = slo(&args);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report[0]["inconclusive"], serde_json::json!([]));
    assert!((report[0]["sli"].as_f64().unwrap() - 0.999).abs() < 1e-12);
}

/// A loadgen report with these fields: a real one (the reader needs a
/// whole report) without its window, then these.
fn run_report(dir: &tempfile::TempDir, fields: &str) -> String {
    let p = dir.path().join("run.json");
    let mut whole: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::root().join("common/testdata/report.json")).unwrap(),
    )
    .unwrap();
    let whole_fields = whole.as_object_mut().unwrap();
    for k in ["started_at", "ended_at", "elapsed_s"] {
        whole_fields.remove(k);
    }
    let these: serde_json::Value = serde_json::from_str(&format!(
        r#"{{"version": 1, "scenario": "s", "target": "http://127.0.0.1:1", "model": "closed", "iterations": 10, {fields}}}"#
    ))
    .unwrap();
    for (k, v) in these.as_object().unwrap() {
        whole_fields.insert(k.clone(), v.clone());
    }
    std::fs::write(&p, whole.to_string()).unwrap();
    p.to_str().unwrap().to_owned()
}

fn gate_run(
    prom: &FakeProm,
    spec: &str,
    report: &str,
    extra: &[&str],
) -> (Option<i32>, String, String) {
    let mut args = vec!["gate", spec, "--prometheus", &prom.url, "--run", report];
    args.extend(PROM_FLAGS);
    args.extend(extra);
    slo(&args)
}

#[test]
fn gate_run_judges_the_window_up_to_ended_at() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_file(&dir);
    let prom = FakeProm::start(vector(&["1000"]), vector(&["0"]));
    // elapsed_s says 10 s, but the run really ended 40 s after it started.
    let report = run_report(
        &dir,
        r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:14:00Z", "elapsed_s": 10.0, "interrupted": false"#,
    );
    let (code, stdout, stderr) = gate_run(&prom, &spec, &report, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("over 40s"), "{stdout}");
    let seen = prom.seen();
    assert!(!seen.is_empty());
    for (query, time) in &seen {
        assert_eq!(time.as_deref(), Some("1700000040"), "{query}");
        assert!(query.contains("[40s]"), "{query}");
    }

    // Fractions of a second round outwards.
    let prom = FakeProm::start(vector(&["1000"]), vector(&["0"]));
    let report = run_report(
        &dir,
        r#""started_at": "2023-11-14T22:13:20.700Z", "ended_at": "2023-11-14T22:13:30.200Z", "elapsed_s": 9.5, "interrupted": false"#,
    );
    let (code, stdout, stderr) = gate_run(&prom, &spec, &report, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("over 11s"), "{stdout}");

    // An older report without ended_at ends at started_at + elapsed_s.
    let prom = FakeProm::start(vector(&["1000"]), vector(&["0"]));
    let report = run_report(
        &dir,
        r#""started_at": "2023-11-14T22:13:20Z", "elapsed_s": 10.0, "interrupted": false"#,
    );
    let (code, stdout, stderr) = gate_run(&prom, &spec, &report, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("over 10s"), "{stdout}");
    assert_eq!(prom.seen()[0].1.as_deref(), Some("1700000010"));
}

#[test]
fn gate_run_refuses_an_interrupted_report() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_file(&dir);
    let prom = FakeProm::start(vector(&["1000"]), vector(&["0"]));
    let report = run_report(
        &dir,
        r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:13:25Z", "elapsed_s": 5.0, "interrupted": true"#,
    );
    let (code, stdout, stderr) = gate_run(&prom, &spec, &report, &[]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("--allow-interrupted"), "the hint: {stderr}");
    assert!(prom.seen().is_empty(), "asked Prometheus anyway");

    let (code, stdout, stderr) = gate_run(&prom, &spec, &report, &["--allow-interrupted"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("PASS availability"), "{stdout}");
    assert!(stdout.contains("over 5s"), "{stdout}");
}

#[test]
fn gate_run_refuses_a_report_without_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_file(&dir);
    let prom = FakeProm::start(vector(&["1000"]), vector(&["0"]));
    for (fields, says) in [
        (r#""elapsed_s": 5.0"#, "no started_at"),
        (
            r#""started_at": "yesterday", "elapsed_s": 5.0"#,
            "started_at",
        ),
        (r#""started_at": "2023-11-14T22:13:20Z""#, "no ended_at"),
        (
            r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:13:20Z", "elapsed_s": 0.0"#,
            "empty",
        ),
        (
            r#""started_at": "2023-11-14T22:13:20Z", "elapsed_s": 1e300"#,
            "elapsed_s",
        ),
    ] {
        let report = run_report(&dir, fields);
        let (code, stdout, stderr) = gate_run(&prom, &spec, &report, &[]);
        assert_eq!(code, Some(2), "{fields}: {stdout}{stderr}");
        assert!(stderr.contains(says), "{fields}: {stderr}");
    }
}

/// A calendar SLO's report reads the SLI and budget from the period's
/// start in its zone to the report's time, says how much of the period is
/// left, and projects the budget to the period's end.
#[test]
fn a_calendar_report_counts_from_the_period_start_in_its_zone() {
    let spec = "version: slo/v1\nservice: app\nslos:\n  - name: availability\n    objective: 99\n    period: {calendar: month, timezone: Europe/Berlin}\n    sli:\n      availability:\n        selector: '{job=\"app\"}'\n";
    let service = slo::spec::parse(spec, std::path::Path::new("spec.yaml")).unwrap();
    // 2026-03-29T12:00:00Z: the day clocks go forward in Berlin; March
    // started at 2026-02-28T23:00:00Z (00:00 CET) and ends at
    // 2026-03-31T22:00:00Z (00:00 CEST).
    let at = 1_774_785_600;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = |errors: &str| {
        let prom = FakeProm::start(vector(&["1000"]), vector(&[errors]));
        let mut config = slo::prom::PromConfig::new(&prom.url);
        config.retries = 0;
        let client = slo::prom::Prom::new(config).unwrap();
        let r = rt
            .block_on(slo::evaluate::report(&client, &service.slos[0], Some(at)))
            .unwrap();
        (r, prom.seen())
    };
    let (r, seen) = report("1");
    // The period's queries cover 28d13h, from the month's start to `at`.
    let period: Vec<&(String, Option<String>)> = seen
        .iter()
        .filter(|(q, _)| q.contains("[28d13h]"))
        .collect();
    assert_eq!(period.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|(_, t)| t.as_deref() == Some("1774785600")));
    assert!(!seen.iter().any(|(q, _)| q.contains("[30d]")), "{seen:?}");
    let c = r.calendar.as_ref().expect("a calendar report");
    assert_eq!(c.start, "2026-03-01T00:00:00+01:00");
    assert_eq!(c.end, "2026-04-01T00:00:00+02:00");
    assert_eq!(c.elapsed_seconds, (28 * 86_400 + 13 * 3_600) as f64);
    assert_eq!(c.left_seconds, (2 * 86_400 + 10 * 3_600) as f64);
    // 1 error in 1000 against a 1% budget: a tenth spent, burning at 0.1.
    assert_eq!(r.sli, Some(0.999));
    assert!((r.budget_consumed_ratio.unwrap() - 0.1).abs() < 1e-9);
    assert_eq!(c.budget_lasts, Some(true));
    assert!((c.projected_consumed_ratio.unwrap() - 0.1).abs() < 1e-9);
    assert_eq!(r.exhaustion_seconds, None);
    // 20 errors in 1000 against a 1% budget: gone already, and burning at 2
    // it does not come back by the period's end.
    let (r, _) = report("20");
    let c = r.calendar.as_ref().unwrap();
    assert_eq!(r.exhaustion_seconds, Some(0.0));
    assert_eq!(c.budget_lasts, Some(false));
    // The JSON of a rolling SLO has no calendar key.
    let rolling = slo::spec::parse(SPEC, std::path::Path::new("spec.yaml")).unwrap();
    let prom = FakeProm::start(vector(&["1000"]), vector(&["1"]));
    let client = slo::prom::Prom::new(slo::prom::PromConfig::new(&prom.url)).unwrap();
    let r = rt
        .block_on(slo::evaluate::report(&client, &rolling.slos[0], Some(at)))
        .unwrap();
    assert!(r.calendar.is_none());
    assert!(!serde_json::to_string(&r).unwrap().contains("calendar"));
}

/// `slo gate` on `spec` over the hour ending at 2026-03-29T12:00:00Z, 28d13h
/// into the Berlin March and 2d10h before it ends, writing `json`.
fn march_gate(spec: &Path, url: &str, json: &Path) -> (Option<i32>, String, String) {
    let mut args = vec![
        "gate",
        spec.to_str().unwrap(),
        "--prometheus",
        url,
        "--from",
        "1774782000",
        "--to",
        "1774785600",
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend(PROM_FLAGS);
    slo(&args)
}

/// The gate on a calendar SLO judges the window as before, and beside it
/// reads the period from its start in the zone to the window's end.
#[test]
fn a_calendar_gate_reads_the_period_up_to_the_windows_end() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, "version: slo/v1\nservice: app\nslos:\n  - name: availability\n    objective: 99\n    period: {calendar: month, timezone: Europe/Berlin}\n    sli:\n      availability:\n        selector: '{job=\"app\"}'\n").unwrap();
    let json = dir.path().join("gate.json");
    let prom = FakeProm::start(vector(&["1000"]), vector(&["5"]));
    let (code, stdout, stderr) = march_gate(&spec, &prom.url, &json);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("PASS availability: SLI 99.5000% over 1h (objective 99%)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  calendar month (Europe/Berlin): 2026-03-01T00:00:00+01:00 to 2026-04-01T00:00:00+02:00, 2d10h left after the window\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  period so far: SLI 99.5000%, 50% of the budget left; at this load's burn rate until the period ends, 50% of it would be spent (it lasts)\n"),
        "{stdout}"
    );
    let seen = prom.seen();
    assert!(seen.iter().all(|(_, t)| t.as_deref() == Some("1774785600")));
    assert_eq!(
        seen.iter().filter(|(q, _)| q.contains("[1h]")).count(),
        2,
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|(q, _)| q.contains("[28d13h]")).count(),
        2,
        "{seen:?}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let c = &v[0]["calendar"];
    assert_eq!(c["start"], "2026-03-01T00:00:00+01:00", "{v}");
    assert_eq!(c["end"], "2026-04-01T00:00:00+02:00");
    assert_eq!(c["left_seconds"], (2 * 86_400 + 10 * 3_600) as f64);
    assert_eq!(c["budget_lasts"], true);
    assert!((c["budget_remaining_ratio"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    assert_eq!(v[0]["verdict"], "pass");
}

/// A time-slice SLO over a calendar month: the gate reads the period's
/// slices from the month's start, stepped by the slice.
#[test]
fn a_calendar_time_slice_gate_counts_the_periods_slices() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, "version: slo/v1\nservice: app\nslos:\n  - name: minutes\n    objective: 99\n    period: {calendar: month, timezone: Europe/Berlin}\n    timeslices: {slice: 1m, target: 0.95}\n    sli:\n      availability:\n        selector: '{job=\"app\"}'\n").unwrap();
    let json = dir.path().join("gate.json");
    // Counted slices, and (count minus good) the bad ones.
    let prom = FakeProm::marked("- sum_over_time(", vector(&["6000"]), vector(&["30"]));
    let (code, stdout, stderr) = march_gate(&spec, &prom.url, &json);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("PASS minutes: SLI 99.5000% (30 of 6000 counted slices bad) over 1h"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  calendar month (Europe/Berlin): 2026-03-01T00:00:00+01:00 to 2026-04-01T00:00:00+02:00, 2d10h left after the window\n"),
        "{stdout}"
    );
    let seen = prom.seen();
    // The window's 60 slices, and the period's: 28d13h from March 1st,
    // 00:00 CET, each range a millisecond short.
    for range in ["[59m59s999ms:1m]", "[28d12h59m59s999ms:1m]"] {
        assert_eq!(
            seen.iter().filter(|(q, _)| q.contains(range)).count(),
            2,
            "{range}: {seen:?}"
        );
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let c = &v[0]["calendar"];
    assert!((c["sli"].as_f64().unwrap() - 0.995).abs() < 1e-9, "{v}");
    assert!(
        (c["budget_remaining_ratio"].as_f64().unwrap() - 0.5).abs() < 1e-9,
        "{v}"
    );
    assert_eq!(c["budget_lasts"], true, "{v}");
}
