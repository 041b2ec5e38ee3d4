//! Malformed scenario files: each gets a clear message naming the file (and
//! line:column where there is one), a hint, and exit code 2. Never a panic.

use std::time::Duration;

use crate::util::{Dir, arg, open_scenario, run};

const GOOD_LOAD: &str = "load:\n  model: open\n  rate: 10\n  duration: 1s\n  max_users: 5\n";
const GOOD_SCENARIOS: &str =
    "scenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x\n";

fn with(scenarios: &str, load: &str, extra: &str) -> String {
    format!("base_url: http://127.0.0.1:8080\n{scenarios}{load}{extra}")
}

#[tokio::test]
async fn malformed_scenarios_exit_2_with_location_and_hint() {
    let dir = Dir::new();
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "bad.yaml"),
        ("not yaml", "base_url: [\n".into(), "bad.yaml:"),
        ("a list", "- 1\n- 2\n".into(), "bad.yaml:1:"),
        (
            "no base_url",
            format!("{GOOD_SCENARIOS}{GOOD_LOAD}"),
            "bad.yaml:1:1: no base_url",
        ),
        (
            "bad base_url",
            format!("base_url: not a url\n{GOOD_SCENARIOS}{GOOD_LOAD}"),
            "bad.yaml:1:",
        ),
        (
            "ftp base_url",
            format!("base_url: ftp://h/\n{GOOD_SCENARIOS}{GOOD_LOAD}"),
            "http or https",
        ),
        (
            "unknown top field",
            with(GOOD_SCENARIOS, GOOD_LOAD, "thresolds: []\n"),
            "unknown field",
        ),
        (
            "no scenarios",
            with("scenarios: []\n", GOOD_LOAD, ""),
            "no scenarios",
        ),
        (
            "no requests",
            with("scenarios:\n  - name: s\n    requests: []\n", GOOD_LOAD, ""),
            "has no requests",
        ),
        (
            "zero weight",
            with(
                "scenarios:\n  - name: s\n    weight: 0\n    requests:\n      - name: r\n        path: /x\n",
                GOOD_LOAD,
                "",
            ),
            "bad.yaml:4:",
        ),
        (
            "duplicate scenario",
            with(
                "scenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x\n  - name: s\n    requests:\n      - name: r\n        path: /y\n",
                GOOD_LOAD,
                "",
            ),
            "defined twice",
        ),
        (
            "path without slash",
            with(
                "scenarios:\n  - name: s\n    requests:\n      - name: r\n        path: api\n",
                GOOD_LOAD,
                "",
            ),
            "must start with /",
        ),
        (
            "bad method",
            with(
                "scenarios:\n  - name: s\n    requests:\n      - name: r\n        method: \"GE T\"\n        path: /x\n",
                GOOD_LOAD,
                "",
            ),
            "invalid method",
        ),
        (
            "unknown template",
            with(
                "scenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x/{{ nope }}\n",
                GOOD_LOAD,
                "",
            ),
            "bad.yaml:6:",
        ),
        (
            "unclosed template",
            with(
                "scenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x/{{ uuid\n",
                GOOD_LOAD,
                "",
            ),
            "unclosed",
        ),
        (
            "randint reversed",
            with(
                "scenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x/{{ randint(9, 1) }}\n",
                GOOD_LOAD,
                "",
            ),
            "randint",
        ),
        (
            "missing data file",
            with(
                "scenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x/{{ data.users.id }}\n",
                GOOD_LOAD,
                "",
            ),
            "no data file",
        ),
        (
            "data file absent",
            format!("base_url: http://h\ndata:\n  users: nowhere.csv\n{GOOD_SCENARIOS}{GOOD_LOAD}"),
            "cannot read",
        ),
        (
            "bad expect",
            with(
                "scenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x\n        expect: [2000]\n",
                GOOD_LOAD,
                "",
            ),
            "not an HTTP status",
        ),
        (
            "bad header",
            with(
                "scenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x\n        headers:\n          \"bad header\": x\n",
                GOOD_LOAD,
                "",
            ),
            "invalid header name",
        ),
        (
            "unknown model",
            with(GOOD_SCENARIOS, "load:\n  model: sideways\n  rate: 1\n", ""),
            "bad.yaml:",
        ),
        (
            "rate and stages",
            with(
                GOOD_SCENARIOS,
                "load:\n  model: open\n  rate: 10\n  duration: 1s\n  stages: [{duration: 1s, target: 5}]\n  max_users: 5\n",
                "",
            ),
            "not both",
        ),
        (
            "no duration",
            with(
                GOOD_SCENARIOS,
                "load:\n  model: open\n  rate: 10\n  max_users: 5\n",
                "",
            ),
            "not both and not neither",
        ),
        (
            "a zero request budget",
            with(
                GOOD_SCENARIOS,
                "load:\n  model: closed\n  users: 2\n  requests: 0\n",
                "",
            ),
            "bad.yaml:10:13: requests must be 1 to 1000000000",
        ),
        (
            "a request budget beyond the range",
            with(
                GOOD_SCENARIOS,
                "load:\n  model: open\n  rate: 5\n  max_users: 2\n  requests: 1000000001\n",
                "",
            ),
            "requests must be 1 to 1000000000",
        ),
        (
            "neither duration nor requests",
            with(GOOD_SCENARIOS, "load:\n  model: closed\n  users: 2\n", ""),
            "with duration (or requests)",
        ),
        (
            "zero users",
            with(
                GOOD_SCENARIOS,
                "load:\n  model: open\n  rate: 10\n  duration: 1s\n  max_users: 0\n",
                "",
            ),
            "max_users must be 1 to 10000",
        ),
        (
            "negative target",
            with(
                GOOD_SCENARIOS,
                "load:\n  model: open\n  stages: [{duration: 1s, target: -5}]\n  max_users: 5\n",
                "",
            ),
            "must be 0 to 100000, got -5",
        ),
        (
            "bad duration",
            with(
                GOOD_SCENARIOS,
                "load:\n  model: open\n  rate: 10\n  duration: soon\n  max_users: 5\n",
                "",
            ),
            "bad.yaml:10:",
        ),
        (
            "fractional users",
            with(
                GOOD_SCENARIOS,
                "load:\n  model: closed\n  stages: [{duration: 2s, target: 1.5}]\n",
                "",
            ),
            "whole user counts",
        ),
        (
            "closed without users",
            with(
                GOOD_SCENARIOS,
                "load:\n  model: closed\n  stages: [{duration: 2s, target: 0}]\n",
                "",
            ),
            "at least one user",
        ),
        (
            "bad threshold",
            with(GOOD_SCENARIOS, GOOD_LOAD, "thresholds:\n  - p95<300ms\n"),
            "bad.yaml:13:",
        ),
        (
            "threshold without unit",
            with(GOOD_SCENARIOS, GOOD_LOAD, "thresholds:\n  - p(95)<300\n"),
            "duration such as",
        ),
        (
            "threshold on unknown request",
            with(
                GOOD_SCENARIOS,
                GOOD_LOAD,
                "thresholds:\n  - threshold: p(95)<1s\n    request: nobody\n",
            ),
            "which no scenario has",
        ),
        (
            "wrong type",
            with(
                GOOD_SCENARIOS,
                "load:\n  model: open\n  rate: fast\n  duration: 1s\n  max_users: 5\n",
                "",
            ),
            "bad.yaml:9:",
        ),
    ];
    assert!(cases.len() >= 20);
    for (what, text, expected) in cases {
        let file = dir.write("bad.yaml", &text);
        let out = run(
            &["validate", file.to_str().unwrap()],
            Duration::from_secs(20),
        )
        .await;
        assert_eq!(out.code, Some(2), "{what}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(expected),
            "{what}: expected {expected:?} in:\n{}",
            out.stderr
        );
        assert!(
            crate::util::has_location(&out.stderr, "bad.yaml"),
            "{what}: the file is named with line:column:\n{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("hint"),
            "{what}: a hint is given:\n{}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
        // `run` refuses the same file the same way, before any request.
        let out = run(&["run", file.to_str().unwrap()], Duration::from_secs(20)).await;
        assert_eq!(out.code, Some(2), "{what} (run): {}", out.stderr);
    }
}

#[tokio::test]
async fn usage_errors_exit_2() {
    for args in [
        vec!["run"],
        vec!["run", "x.yaml", "--duration", "soon"],
        vec!["frobnicate"],
        vec!["run", "/nonexistent/scenario.yaml"],
        vec!["run", "x.yaml", "--host", "not a url"],
        vec!["run", "x.yaml", "--host", "ftp://127.0.0.1/"],
        vec!["run", "x.yaml", "--duration", "0s"],
        vec!["merge"],
    ] {
        let out = run(&args, Duration::from_secs(20)).await;
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }
    let out = run(
        &["run", "x.yaml", "--host", "nope"],
        Duration::from_secs(20),
    )
    .await;
    assert!(out.stderr.contains("invalid --host"), "{}", out.stderr);
    // A split run's part must exist: 0..count.
    let steady = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/steady.yaml");
    for (args, expect) in [
        (
            vec!["run", steady, "--shard-count", "4", "--shard-index", "4"],
            "--shard-index 4 is not below --shard-count 4",
        ),
        (vec!["run", steady, "--shard-count", "0"], "--shard-count"),
        (vec!["run", steady, "--shard-index=-1"], "--shard-index"),
    ] {
        let out = run(&args, Duration::from_secs(20)).await;
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expect), "{args:?}: {}", out.stderr);
    }
}

/// The live view's SLO spec is checked before the run: exit 2, the file and
/// the line, and nothing started.
#[tokio::test]
async fn bad_slo_specs_for_the_live_view_exit_2() {
    let dir = Dir::new();
    let scenario = dir.write("ok.yaml", &open_scenario("/api/products", 10.0, 1, 2, ""));
    let bad = dir.write(
        "slo.yaml",
        "version: slo/v1\nservice: s\nslos:\n  - name: a\n    objective: 120\n    sli: {availability: {}}\n",
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", arg(&scenario), "--slo", arg(&bad)], "--tui"),
        (
            vec![
                "run",
                arg(&scenario),
                "--tui",
                "--prometheus",
                "http://127.0.0.1:9",
            ],
            "--slo",
        ),
        (
            vec![
                "run",
                arg(&scenario),
                "--tui",
                "--slo",
                "/nonexistent/slo.yaml",
            ],
            "failed to read SLO spec",
        ),
        (
            vec!["run", arg(&scenario), "--tui", "--slo", arg(&bad)],
            "slo.yaml:5:16: objective must be between 0 and 100",
        ),
    ];
    for (args, needle) in cases {
        let out = run(&args, Duration::from_secs(20)).await;
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }
}
