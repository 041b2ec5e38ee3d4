//! Issue 14's CLI hygiene: unknown fields refused with a "did you mean"
//! suggestion at the field's own line and column, and k6's threshold syntax
//! (the map form in a scenario, `METRIC: EXPR` in `--threshold`) evaluated by
//! real runs against the target app.

use std::time::Duration;

use crate::util::{Dir, arg, fits_schema, report, run, run_against, target};

const HEAD: &str = "base_url: http://127.0.0.1:1\ntimeout: 5s\n";
const SCENARIOS: &str =
    "scenarios:\n  - name: s\n    requests:\n      - name: list\n        path: /api/products\n";
const LOAD: &str = "load:\n  model: open\n  rate: 20\n  duration: 1s\n  max_users: 5\n";

/// `loadgen validate` of `text` as bad.yaml: exit code, stderr and stdout.
async fn validate(text: &str) -> (Option<i32>, String, String) {
    let dir = Dir::new();
    let f = dir.write("bad.yaml", text);
    let out = run(&["validate", arg(&f)], Duration::from_secs(20)).await;
    (out.code, out.stderr, out.stdout)
}

/// The 1-based line and column of the first `needle` in `text`.
fn place_of(text: &str, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .expect("needle in text")
}

#[tokio::test]
async fn unknown_fields_exit_2_at_their_line_with_a_suggestion_and_the_valid_fields() {
    let cases: Vec<(&str, String, &str, &str, &str)> = vec![
        (
            "a threshold option",
            format!(
                "{HEAD}{SCENARIOS}{LOAD}thresholds:\n  - p(99)<5s\n  - threshold: error_rate<1%\n    abort_on_fial: true\n"
            ),
            "abort_on_fial",
            "did you mean \"abort_on_fail\"?",
            "valid fields here: threshold, request, check, abort_on_fail",
        ),
        (
            "the load block (a tagged enum)",
            format!(
                "{HEAD}{SCENARIOS}load:\n  model: open\n  rat: 20\n  duration: 1s\n  max_users: 5\n"
            ),
            "rat:",
            "did you mean \"rate\"?",
            "valid fields here: rate, stages, start_rate, duration, requests, max_users, max_queue",
        ),
        (
            "a request",
            format!(
                "{HEAD}scenarios:\n  - name: s\n    requests:\n      - name: list\n        pth: /api/products\n{LOAD}"
            ),
            "pth",
            "did you mean \"path\"?",
            "valid fields here: name, method, path, headers, body, expect, checks, capture, once, think_time",
        ),
        (
            "a request in flow style",
            format!(
                "{HEAD}scenarios:\n  - name: s\n    requests: [{{name: list, path: /x, expct: [200]}}]\n{LOAD}"
            ),
            "expct",
            "did you mean \"expect\"?",
            "valid fields here:",
        ),
        (
            "a stage in flow style, inside the load block",
            format!("{HEAD}{SCENARIOS}load:\n  model: closed\n  stages:\n    - {{duration: 1s, targt: 5}}\n"),
            "targt",
            "did you mean \"target\"?",
            "valid fields here: duration, target",
        ),
        (
            "a JSON scenario",
            "{\"base_url\": \"http://127.0.0.1:1\",\n \"scenarios\": [{\"name\": \"s\", \"requests\": [{\"name\": \"r\", \"path\": \"/x\"}]}],\n \"load\": {\"model\": \"closed\", \"users\": 1, \"duration\": \"1s\"},\n \"thresholds\": [{\"threshold\": \"p(95)<1s\", \"abort_on_fial\": true}]}\n".into(),
            "\"abort_on_fial\"",
            "did you mean \"abort_on_fail\"?",
            "valid fields here: threshold, request, check, abort_on_fail",
        ),
        (
            "the top level",
            format!("{HEAD}{SCENARIOS}{LOAD}thresolds: []\n"),
            "thresolds",
            "did you mean \"thresholds\"?",
            "valid fields here: name, base_url,",
        ),
        (
            "the tls block",
            format!("{HEAD}{SCENARIOS}{LOAD}tls:\n  insecur: true\n"),
            "insecur",
            "did you mean \"insecure\"?",
            "valid fields here: ca, insecure, cert, key",
        ),
        (
            "a k6 threshold object",
            format!(
                "{HEAD}{SCENARIOS}{LOAD}thresholds:\n  http_req_failed:\n    - threshold: rate<0.01\n      abortOnFial: true\n"
            ),
            "abortOnFial",
            "did you mean \"abortOnFail\"?",
            "valid fields here: threshold, abortOnFail",
        ),
        (
            "the model (a value, not a field)",
            format!(
                "{HEAD}{SCENARIOS}load:\n  model: opn\n  rate: 20\n  duration: 1s\n  max_users: 5\n"
            ),
            "opn",
            "did you mean \"open\"?",
            "valid values here: closed, open",
        ),
        (
            "a k6 map entry as an item of the native list",
            format!("{HEAD}{SCENARIOS}{LOAD}thresholds:\n  - http_req_duration: ['p(95)<500']\n"),
            "http_req_duration",
            "unknown field \"http_req_duration\"\n",
            "k6's map form goes under thresholds: without `- `",
        ),
        (
            "a field nothing is close to",
            format!("{HEAD}{SCENARIOS}{LOAD}colour: blue\n"),
            "colour",
            "unknown field \"colour\"\n",
            "valid fields here: name, base_url,",
        ),
    ];
    for (what, text, needle, suggestion, valid) in cases {
        let (code, stderr, _) = validate(&text).await;
        assert_eq!(code, Some(2), "{what}: {stderr}");
        let (line, column) = place_of(&text, needle);
        assert!(
            stderr.contains(&format!("bad.yaml:{line}:{column}: ")),
            "{what}: want {line}:{column}: {stderr}"
        );
        assert!(stderr.contains(suggestion), "{what}: {stderr}");
        assert!(stderr.contains(valid), "{what}: {stderr}");
        assert!(
            !stderr.contains("did not match any variant"),
            "{what}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

const K6_PASSING: &str = "thresholds:\n  http_req_duration: ['p(95)<5000', 'avg<5000']\n  'http_req_duration{name:list}':\n    - threshold: max<10000\n      abortOnFail: true\n  http_req_failed: ['rate<0.01']\n  http_reqs: ['rate>1']\n  dropped_iterations: ['count<=0']\n";

#[tokio::test]
async fn a_k6_threshold_map_validates_and_a_run_evaluates_it() {
    let (code, stderr, stdout) = validate(&format!("{HEAD}{SCENARIOS}{LOAD}{K6_PASSING}")).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("6 thresholds"), "{stdout}");

    let app = target(0.0).await;
    let dir = Dir::new();
    let file = dir.write("k6.yaml", &format!("{HEAD}{SCENARIOS}{LOAD}{K6_PASSING}"));
    let out_path = dir.path("report.json");
    let out = run_against(&app, &file, &["--report", arg(&out_path)]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&out_path);
    let shown: Vec<(String, Option<String>, bool, bool)> = r["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["threshold"].as_str().unwrap().to_owned(),
                t["request"].as_str().map(str::to_owned),
                t["abort_on_fail"].as_bool().unwrap(),
                t["passed"].as_bool().unwrap(),
            )
        })
        .collect();
    // In the order written, in the native form, each judged.
    assert_eq!(
        shown,
        vec![
            ("p(95)<5000ms".to_owned(), None, false, true),
            ("avg<5000ms".to_owned(), None, false, true),
            (
                "max<10000ms".to_owned(),
                Some("list".to_owned()),
                true,
                true
            ),
            ("error_rate<1%".to_owned(), None, false, true),
            ("rps>1".to_owned(), None, false, true),
            ("dropped<=0".to_owned(), None, false, true),
        ]
    );
    assert_eq!(r["thresholds"][3]["limit"].as_f64(), Some(0.01));

    // A k6 threshold the run cannot meet fails it: exit 99.
    let failing = dir.write(
        "k6-fail.yaml",
        &format!("{HEAD}{SCENARIOS}{LOAD}thresholds:\n  http_req_duration: ['p(95)<5000']\n  http_reqs: ['rate>100000']\n"),
    );
    let out = run_against(&app, &failing, &[]).await;
    assert_eq!(out.code, Some(99), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("rps>100000"), "{}", out.stdout);
}

#[tokio::test]
async fn k6_thresholds_on_the_command_line_are_judged_like_native_ones() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let file = dir.write("s.yaml", &format!("{HEAD}{SCENARIOS}{LOAD}"));
    let out_path = dir.path("report.json");
    let out = run_against(
        &app,
        &file,
        &[
            "--threshold",
            "http_req_duration: p(95)<5000",
            "--threshold",
            "http_req_failed: rate<0.01",
            "--threshold",
            "http_req_duration{name:list}: max<10000",
            "--threshold",
            "p(99)<5s",
            "--report",
            arg(&out_path),
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&out_path);
    let names: Vec<&str> = r["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["threshold"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["p(95)<5000ms", "error_rate<1%", "max<10000ms", "p(99)<5s"]
    );
    assert_eq!(r["thresholds"][2]["request"].as_str(), Some("list"));

    let out = run_against(&app, &file, &["--threshold", "http_reqs: rate>100000"]).await;
    assert_eq!(out.code, Some(99), "{}{}", out.stdout, out.stderr);

    // Refused forms: exit 2 before any request, naming the native forms.
    for (expr, want) in [
        (
            "checks: rate>0.99",
            "judges checks, but the scenario has none",
        ),
        ("checks: count>5", "checks takes rate"),
        ("http_reqs: count>100", "not the count"),
        ("http_req_duration: min<10", "no minimum-latency threshold"),
        (
            "http_req_duration{name:nope}: p(95)<500",
            "names request \"nope\"",
        ),
        ("http_req_duration{status:200}: p(95)<500", "tag filter"),
        ("rate<0.01", "k6's form is METRIC: EXPR"),
    ] {
        let out = run_against(&app, &file, &["--threshold", expr]).await;
        assert_eq!(out.code, Some(2), "{expr}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(want), "{expr}: {}", out.stderr);
        assert!(out.stderr.contains("--threshold"), "{expr}: {}", out.stderr);
    }
    let out = run_against(&app, &file, &["--threshold", "vus: value>10"]).await;
    assert!(out.stderr.contains("p(95)<300ms"), "{}", out.stderr);
}

#[tokio::test]
async fn refused_k6_thresholds_in_a_scenario_point_at_their_entry() {
    for (k6, needle, want) in [
        (
            "thresholds:\n  http_req_duration: ['p(95)<500']\n  checks: ['rate>99%']\n",
            "'rate>99%'",
            "expected a fraction such as 0.99",
        ),
        (
            "thresholds:\n  http_req_duration: ['p(95)<500']\n  vus: ['value>10']\n",
            "'value>10'",
            "k6 metric \"vus\" has no loadgen threshold",
        ),
        (
            "thresholds:\n  http_reqs:\n    - rate>10\n    - count>1000\n",
            "count>1000",
            "not the count",
        ),
        (
            "thresholds:\n  http_req_failed:\n    - threshold: rate<5\n",
            "rate<5",
            "between 0 and 1",
        ),
        (
            "thresholds:\n  'http_req_duration{name:gone}': ['p(95)<500']\n",
            "'p(95)<500'",
            "names request \"gone\"",
        ),
        (
            "thresholds:\n  - 'iteration_duration: p(95)<500'\n",
            "'iteration_duration",
            "k6 metric \"iteration_duration\"",
        ),
    ] {
        let text = format!("{HEAD}{SCENARIOS}{LOAD}{k6}");
        let (code, stderr, _) = validate(&text).await;
        assert_eq!(code, Some(2), "{k6}: {stderr}");
        let (line, column) = place_of(&text, needle);
        assert!(
            stderr.contains(&format!("bad.yaml:{line}:{column}: ")),
            "{k6}: want {line}:{column}: {stderr}"
        );
        assert!(stderr.contains(want), "{k6}: {stderr}");
        assert!(stderr.contains("k6 thresholds"), "{k6}: {stderr}");
    }
}

/// The JSON Schema editors use says what the parser says: k6's map form is
/// valid, and a typo inside a threshold is not.
#[test]
fn the_scenario_schema_takes_the_k6_map_and_refuses_the_same_typos() {
    let dir = Dir::new();
    let good = dir.write("k6.yaml", &format!("{HEAD}{SCENARIOS}{LOAD}{K6_PASSING}"));
    let (ok, out) = fits_schema("loadgen/scenario.schema.json", &good);
    assert!(ok, "{out}");
    for (name, thresholds) in [
        (
            "native.yaml",
            "thresholds:\n  - threshold: p(95)<1s\n    abort_on_fial: true\n",
        ),
        (
            "k6.yaml",
            "thresholds:\n  http_req_failed:\n    - threshold: rate<0.01\n      abortOnFial: true\n",
        ),
    ] {
        let bad = dir.write(name, &format!("{HEAD}{SCENARIOS}{LOAD}{thresholds}"));
        let (ok, out) = fits_schema("loadgen/scenario.schema.json", &bad);
        assert!(!ok, "{name}: the schema accepts a typo: {out}");
    }
}

/// A 20 MB unknown key (an explicit `? key`, which YAML allows at any
/// length) gets the short message, quickly: the name is cut, and the
/// parser's own message, which quotes it whole, is never rendered.
#[tokio::test]
async fn a_20_mb_unknown_key_gets_a_short_message_in_time() {
    let dir = Dir::new();
    let key = "x".repeat(20 * 1024 * 1024);
    let f = dir.write(
        "big.yaml",
        &format!("{HEAD}{SCENARIOS}{LOAD}tls:\n  ? {key}\n  : 1\n"),
    );
    let started = std::time::Instant::now();
    // Before the typed route this took over 20 s and 700 MB.
    let out = run(&["validate", arg(&f)], Duration::from_secs(20)).await;
    assert_eq!(
        out.code,
        Some(2),
        "{}",
        &out.stderr[..out.stderr.len().min(500)]
    );
    assert!(out.stderr.len() < 1_500, "{} bytes", out.stderr.len());
    assert!(
        out.stderr.contains("big.yaml:14:5: unknown field \"xxx"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("valid fields here: ca, insecure, cert, key"),
        "{}",
        out.stderr
    );
    eprintln!("a 20 MB unknown key: exit 2 in {:?}", started.elapsed());
}
