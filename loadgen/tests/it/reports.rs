//! Report files: the JSON round-trips, and reports merge.

use std::time::Duration;

use crate::util::{Dir, arg, fits_schema, open_scenario, report, run, run_against, target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_round_trips_and_merges() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let file = dir.write(
        "r.yaml",
        &open_scenario("/api/products", 30.0, 2, 10, "thresholds:\n  - p(99)<5s\n"),
    );
    let rep = dir.path("r.json");
    let hdr = dir.path("r.hlog");
    let out = run_against(
        &app,
        &file,
        &["--report", arg(&rep), "--hdr-log", arg(&hdr)],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    // Round trip through the typed report.
    let text = std::fs::read_to_string(&rep).unwrap();
    let typed: loadgen::report::Report = serde_json::from_str(&text).unwrap();
    let again = serde_json::to_value(&typed).unwrap();
    assert_eq!(again, report(&rep));
    assert_eq!(typed.version, loadgen::report::REPORT_VERSION);
    assert_eq!(typed.total.slowest.len(), loadgen::stats::SLOWEST);
    assert_eq!(typed.total.slowest[0].trace_id.len(), 32);
    // The report fits the run report's checked-in JSON Schema (common/).
    let (ok, why) = fits_schema("common/report.schema.json", &rep);
    assert!(ok, "{why}");
    // The HdrHistogram log has one histogram per second with requests
    // (untagged, after the reference header: see outputs.rs).
    let log = std::fs::read_to_string(&hdr).unwrap();
    assert!(
        log.lines()
            .filter(|l| l.split(',').count() == 4 && l.contains(",HISTF"))
            .count()
            >= 2,
        "{log}"
    );

    // Two reports merge into one with the counts added.
    let merged = dir.path("m.json");
    let out = run(
        &[
            "merge",
            rep.to_str().unwrap(),
            rep.to_str().unwrap(),
            "--report",
            merged.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let m = report(&merged);
    let (ok, why) = fits_schema("common/report.schema.json", &merged);
    assert!(ok, "the merged report: {why}");
    assert_eq!(m["total"]["count"].as_u64(), Some(2 * typed.total.count));
    assert_eq!(
        m["total"]["latency_ms"]["p99"],
        report(&rep)["total"]["latency_ms"]["p99"]
    );

    // A file that is not a report is refused with its location.
    let bad = dir.write("bad.json", "{\"version\": 1,\n \"scenario\": }");
    let out = run(&["merge", bad.to_str().unwrap()], Duration::from_secs(20)).await;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("bad.json:2:"), "{}", out.stderr);
    let old = dir.write("old.json", "{\"version\": 0}");
    let out = run(&["merge", old.to_str().unwrap()], Duration::from_secs(20)).await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("version 0 is not supported"),
        "{}",
        out.stderr
    );
}

/// Reports of different runs (another scenario, another target) are refused
/// (exit 2, naming both) unless `--force`; parts of one run merge.
#[tokio::test]
async fn merge_refuses_reports_of_different_runs_unless_forced() {
    let dir = Dir::new();
    let real =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../common/testdata/report.json");
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(real).unwrap()).unwrap();
    let a = dir.write("a.json", &base.to_string());
    let same = dir.write("same.json", &base.to_string());
    let mut v = base.clone();
    v["scenario"] = "spike".into();
    let scenario = dir.write("scenario.json", &v.to_string());
    let mut v = base.clone();
    v["target"] = "http://127.0.0.1:1".into();
    let target = dir.write("target.json", &v.to_string());
    let limit = Duration::from_secs(30);

    let out = run(&["merge", arg(&a), arg(&same)], limit).await;
    assert!(matches!(out.code, Some(0 | 99)), "{}", out.stderr);
    for other in [&scenario, &target] {
        let out = run(&["merge", arg(&a), arg(other)], limit).await;
        assert_eq!(out.code, Some(2), "{}", out.stderr);
        assert!(out.stderr.contains("different runs"), "{}", out.stderr);
        assert!(out.stderr.contains("--force"), "{}", out.stderr);
        assert!(out.stderr.contains(arg(other)), "{}", out.stderr);
        let forced = run(&["merge", arg(&a), arg(other), "--force"], limit).await;
        assert!(matches!(forced.code, Some(0 | 99)), "{}", forced.stderr);
    }
}

/// `--report -` puts the JSON report alone on stdout (the summary goes to
/// stderr), so it pipes into jq; two outputs on stdout are refused.
#[tokio::test]
async fn report_to_stdout_is_the_report_alone() {
    let real =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../common/testdata/report.json");
    let limit = Duration::from_secs(30);
    let out = run(&["merge", arg(&real), "--report", "-"], limit).await;
    assert!(matches!(out.code, Some(0 | 99)), "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the report alone ({e}): {}", out.stdout));
    assert_eq!(json["version"], 1);
    let table = run(&["merge", arg(&real)], limit).await;
    assert!(!table.stdout.is_empty());
    assert!(
        out.stderr.contains(table.stdout.trim()),
        "the summary is on stderr: {}",
        out.stderr
    );
    let two = run(
        &["merge", arg(&real), "--report", "-", "--junit", "-"],
        limit,
    )
    .await;
    assert_eq!(two.code, Some(2), "{}", two.stderr);
    assert!(two.stderr.contains("at most one"), "{}", two.stderr);
}

/// The JSON Schema describes the format: the load models and required
/// fields are in it. (That loadgen/scenario.schema.json is current is a row
/// of slo/tests/it/goldens.rs.)
#[test]
fn schema_describes_the_scenario() {
    let fresh = format!(
        "{}\n",
        serde_json::to_string_pretty(&loadgen::scenario::json_schema()).unwrap()
    );
    let v: serde_json::Value = serde_json::from_str(&fresh).unwrap();
    assert_eq!(v["required"], serde_json::json!(["scenarios", "load"]));
    assert!(fresh.contains("\"open\"") && fresh.contains("\"closed\""));
}

/// Every bundled scenario is valid.
#[test]
fn bundled_scenarios_are_valid() {
    use loadgen::bundled::*;
    for (name, text) in [
        ("smoke", SMOKE),
        ("steady", STEADY),
        ("spike", SPIKE),
        ("stress", STRESS),
        ("journey", JOURNEY),
    ] {
        let plan = loadgen::scenario::parse(text, std::path::Path::new(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!plan.thresholds.is_empty(), "{name} has thresholds");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_from_the_command_line_join_the_scenarios() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let file = dir.write(
        "t.yaml",
        &open_scenario("/api/products", 20.0, 1, 5, "thresholds:\n  - p(99)<5s\n"),
    );
    let rep = dir.path("t.json");
    // One that cannot pass: the run fails its thresholds (99) and both are in the report.
    let out = run_against(
        &app,
        &file,
        &["--threshold", "rps>1000000", "--report", arg(&rep)],
    )
    .await;
    assert_eq!(out.code, Some(99), "{}{}", out.stdout, out.stderr);
    let shown: Vec<String> = report(&rep)["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["threshold"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(shown, ["p(99)<5s", "rps>1000000"], "{shown:?}");
    // One that does not parse is invalid input, before anything runs.
    let out = run_against(&app, &file, &["--threshold", "p(95)<<3"]).await;
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("invalid --threshold"), "{}", out.stderr);
}
