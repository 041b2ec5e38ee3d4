//! `slo check` on the example spec and on malformed specs: each malformed one
//! exits 2 with file:line:column, the offending line and a hint, never a panic.

use crate::util::slo;

#[test]
fn example_spec_checks() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../alerts/target-app.slo.yaml");
    let (code, stdout, stderr) = slo(&["check", path]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("availability: 99.9% over 30d"), "{stdout}");
    assert!(
        stdout.contains("page   burn > 14.4 over 1h and 5m (2% of the budget)"),
        "{stdout}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// `slo check` lists the alerts `slo alerts` writes: only the enabled ones.
#[test]
fn check_lists_only_enabled_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "version: slo/v1\nservice: shop\nslos:\n  - name: both\n    objective: 99.9\n    period: 28d\n    sli: {availability: {}}\n    alerting: {absent: true}\n  - name: no-page\n    objective: 99\n    sli: {availability: {}}\n    alerting: {page: {enabled: false}}\n  - name: no-ticket\n    objective: 99\n    sli: {availability: {}}\n    alerting: {ticket: {enabled: false}}\n  - name: none\n    objective: 99\n    sli: {availability: {}}\n    alerting: {page: {enabled: false}, ticket: {enabled: false}}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = slo(&["check", spec.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    // Each SLO's lines, from its name to the next SLO's.
    let block = |name: &str| -> Vec<String> {
        let mut lines = stdout
            .lines()
            .skip_while(|l| !l.starts_with(&format!("  {name}: ")));
        let head = lines
            .next()
            .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"));
        std::iter::once(head)
            .chain(lines.take_while(|l| l.starts_with("    ")))
            .map(str::to_owned)
            .collect()
    };
    let alerts = |name: &str| -> Vec<String> {
        block(name)
            .into_iter()
            .filter(|l| l.starts_with("    page") || l.starts_with("    ticket"))
            .map(|l| l.trim().to_owned())
            .collect()
    };
    assert_eq!(
        alerts("both"),
        [
            "page   burn > 14.4 over 56m and 4m40s (2% of the budget)",
            "page   burn >    6 over 5h36m and 28m (5% of the budget)",
            "ticket burn >    3 over 22h24m and 1h52m (10% of the budget)",
            "ticket burn >    1 over 2d19h12m and 5h36m (10% of the budget)",
        ],
        "{stdout}"
    );
    assert!(
        block("both").contains(&"    absent no SLI data for 9m20s".to_owned()),
        "{stdout}"
    );
    assert_eq!(
        alerts("no-page"),
        [
            "ticket burn >    3 over 1d and 2h (10% of the budget)",
            "ticket burn >    1 over 3d and 6h (10% of the budget)",
        ],
        "{stdout}"
    );
    assert_eq!(
        alerts("no-ticket"),
        [
            "page   burn > 14.4 over 1h and 5m (2% of the budget)",
            "page   burn >    6 over 6h and 30m (5% of the budget)",
        ],
        "{stdout}"
    );
    assert!(alerts("none").is_empty(), "{stdout}");
    assert!(
        block("none")
            .contains(&"    no burn-rate alerts (page and ticket are disabled)".to_owned()),
        "{stdout}"
    );
    assert!(
        !block("no-page").iter().any(|l| l.contains("absent")),
        "{stdout}"
    );
}

const HEAD: &str = "version: slo/v1\nservice: shop\nslos:\n";
const GOOD_SLI: &str = "    sli:\n      availability: {}\n";

fn one(fields: &str, sli: &str) -> String {
    format!("{HEAD}  - name: a\n{fields}{sli}")
}

#[test]
fn malformed_specs_exit_2_with_location_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "spec.yaml:"),
        ("not yaml", "version: [\n".into(), "spec.yaml:"),
        ("a list", "- 1\n".into(), "spec.yaml:1:"),
        (
            "no version",
            "service: shop\nslos: []\n".into(),
            "missing field",
        ),
        (
            "wrong version",
            format!(
                "version: sloth/v1\nservice: shop\nslos:\n  - name: a\n    objective: 99\n{GOOD_SLI}"
            ),
            "spec.yaml:1:",
        ),
        (
            "bad service",
            format!(
                "version: slo/v1\nservice: my shop\nslos:\n  - name: a\n    objective: 99\n{GOOD_SLI}"
            ),
            "spec.yaml:2:",
        ),
        ("no slos", HEAD.to_string(), "spec.yaml:"),
        (
            "bad service label",
            format!(
                "version: slo/v1\nservice: shop\nlabels: {{2team: x}}\nslos:\n  - name: a\n    objective: 99\n{GOOD_SLI}"
            ),
            "not a valid Prometheus label name",
        ),
        (
            "unknown time zone",
            format!(
                "{HEAD}  - name: a\n    objective: 99\n    period:\n      calendar: month\n      timezone: Europe/Berlinn\n{GOOD_SLI}"
            ),
            "spec.yaml:8:17: unknown time zone \"Europe/Berlinn\"",
        ),
        (
            "unknown calendar unit",
            format!(
                "{HEAD}  - name: a\n    objective: 99\n    period: {{calendar: fortnight, timezone: UTC}}\n{GOOD_SLI}"
            ),
            "spec.yaml:6:",
        ),
        (
            "calendar without a unit",
            format!(
                "{HEAD}  - name: a\n    objective: 99\n    period: {{timezone: UTC}}\n{GOOD_SLI}"
            ),
            "calendar",
        ),
        (
            "bad period duration",
            format!("{HEAD}  - name: a\n    objective: 99\n    period: 30 days or so\n{GOOD_SLI}"),
            "spec.yaml:6:",
        ),
        (
            "reserved slo label",
            format!("{HEAD}  - name: a\n    objective: 99\n    labels: {{slo: x}}\n{GOOD_SLI}"),
            "set by the generated rules",
        ),
        (
            "reserved alert label",
            format!(
                "{HEAD}  - name: a\n    objective: 99\n{GOOD_SLI}    alerting: {{page: {{labels: {{short_window: x}}}}}}\n"
            ),
            "label \"short_window\" is set by the generated rules",
        ),
        (
            "templated label value",
            format!(
                "{HEAD}  - name: a\n    objective: 99\n    labels: {{team: 'a {{{{ .Foo }}}}'}}\n{GOOD_SLI}"
            ),
            "holds a template",
        ),
        (
            "bad alert name",
            format!(
                "{HEAD}  - name: a\n    objective: 99\n{GOOD_SLI}    alerting: {{name: 'High errors'}}\n"
            ),
            "alert name \"High errors\"",
        ),
        (
            "empty slos",
            "version: slo/v1\nservice: shop\nslos: []\n".into(),
            "no SLOs",
        ),
        (
            "unknown field",
            one("    objective: 99\n    objectve: 99\n", GOOD_SLI),
            "unknown field",
        ),
        ("no objective", one("", GOOD_SLI), "missing field"),
        (
            "objective 100",
            one("    objective: 100\n", GOOD_SLI),
            "spec.yaml:5:",
        ),
        (
            "objective 0",
            one("    objective: 0\n", GOOD_SLI),
            "between 0 and 100",
        ),
        (
            "objective negative",
            one("    objective: -1\n", GOOD_SLI),
            "between 0 and 100",
        ),
        (
            "objective text",
            one("    objective: high\n", GOOD_SLI),
            "spec.yaml:5:",
        ),
        (
            "bad period",
            one("    objective: 99\n    period: a month\n", GOOD_SLI),
            "spec.yaml:",
        ),
        (
            "short period",
            one("    objective: 99\n    period: 5m\n", GOOD_SLI),
            "between 1h and 366d",
        ),
        (
            "bad name",
            format!("{HEAD}  - name: a b\n    objective: 99\n{GOOD_SLI}"),
            "spec.yaml:4:",
        ),
        (
            "duplicate",
            format!(
                "{HEAD}  - name: a\n    objective: 99\n{GOOD_SLI}  - name: a\n    objective: 99\n{GOOD_SLI}"
            ),
            "defined twice",
        ),
        ("no sli", one("    objective: 99\n", ""), "missing field"),
        (
            "unknown sli",
            one("    objective: 99\n", "    sli:\n      magic: {}\n"),
            "spec.yaml:",
        ),
        (
            "two slis",
            one(
                "    objective: 99\n",
                "    sli:\n      availability: {}\n      ratio: {good: a, total: b}\n",
            ),
            "spec.yaml:",
        ),
        (
            "events without window",
            one(
                "    objective: 99\n",
                "    sli:\n      events:\n        error_query: sum(rate(e[5m]))\n        total_query: sum(rate(t[{{.window}}]))\n",
            ),
            "no {{.window}}",
        ),
        (
            "events bad promql",
            one(
                "    objective: 99\n",
                "    sli:\n      events:\n        error_query: sum(rate(e[{{.window}}])\n        total_query: sum(rate(t[{{.window}}]))\n",
            ),
            "not valid PromQL",
        ),
        (
            "ratio not a selector",
            one(
                "    objective: 99\n",
                "    sli:\n      ratio:\n        good: sum(good)\n        total: total\n",
            ),
            "must be a metric selector",
        ),
        (
            "latency zero",
            one(
                "    objective: 99\n",
                "    sli:\n      latency:\n        metric: h\n        threshold: 0\n",
            ),
            "between 1e-9 and 86400 seconds",
        ),
        (
            "latency bad selector",
            one(
                "    objective: 99\n",
                "    sli:\n      latency:\n        metric: h\n        selector: '{job=}'\n        threshold: 0.3\n",
            ),
            "latency SLI",
        ),
        (
            "availability bad selector",
            one(
                "    objective: 99\n",
                "    sli:\n      availability:\n        selector: 'job=='\n",
            ),
            "availability SLI",
        ),
        (
            "negative min_events",
            one("    objective: 99\n    min_events: -5\n", GOOD_SLI),
            "min_events",
        ),
        (
            "unknown alerting field",
            one(
                "    objective: 99\n    alerting:\n      pager: true\n",
                GOOD_SLI,
            ),
            "unknown field",
        ),
    ];
    assert!(cases.len() >= 25);
    for (what, text, expected) in cases {
        let path = dir.path().join("spec.yaml");
        std::fs::write(&path, &text).unwrap();
        let (code, _, stderr) = slo(&["check", path.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{what}: expected {expected:?} in:\n{stderr}"
        );
        assert!(
            stderr.contains("spec.yaml"),
            "{what}: names the file:\n{stderr}"
        );
        assert!(stderr.contains("hint"), "{what}: gives a hint:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
    let (code, _, stderr) = slo(&["check", "/nonexistent/spec.yaml"]);
    assert_eq!(code, Some(2), "{stderr}");
}

/// The JSON Schema describes the format: the required fields and every SLI
/// kind are in it. (That slo/spec.schema.json is current is a row of
/// goldens.rs.)
#[test]
fn schema_describes_the_spec() {
    let fresh = format!(
        "{}\n",
        serde_json::to_string_pretty(&slo::spec::json_schema()).unwrap()
    );
    let v: serde_json::Value = serde_json::from_str(&fresh).unwrap();
    assert_eq!(
        v["required"],
        serde_json::json!(["version", "service", "slos"])
    );
    for kind in [
        "events",
        "ratio",
        "latency",
        "availability",
        "calendar",
        "month",
        "quarter",
    ] {
        assert!(fresh.contains(&format!("\"{kind}\"")), "{kind}");
    }
}

/// No token of a generated file is a NaN or an infinity.
fn finite_only(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .all(|t| !["nan", "inf", "infinity"].contains(&t.to_ascii_lowercase().as_str()))
}

/// Every number in a spec has a range, checked at parse time: out of range
/// is exit 2 at the value's file:line:column, and `slo alerts` and
/// `slo dashboard` refuse exactly what `slo check` refuses.
#[test]
fn spec_numbers_out_of_range_are_refused_at_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let latency = |t: &str| format!("    sli:\n      latency: {{metric: h, threshold: {t}}}\n");
    // (what, spec, location, message)
    let refused: Vec<(&str, String, &str, &str)> = vec![
        (
            "huge period",
            one("    objective: 99\n    period: 999999999999d\n", GOOD_SLI),
            "spec.yaml:6:13:",
            "period must be between 1h and 366d",
        ),
        (
            "period over a year",
            one("    objective: 99\n    period: 367d\n", GOOD_SLI),
            "spec.yaml:6:13:",
            "between 1h and 366d, got 367d (slo \"a\")",
        ),
        (
            "infinite objective",
            one("    objective: 1e309\n", GOOD_SLI),
            "spec.yaml:5:",
            "",
        ),
        (
            "objective .inf",
            one("    objective: .inf\n", GOOD_SLI),
            "spec.yaml:5:16:",
            "between 0 and 100",
        ),
        (
            "objective .nan",
            one("    objective: .nan\n", GOOD_SLI),
            "spec.yaml:5:16:",
            "between 0 and 100",
        ),
        (
            "infinite threshold",
            one("    objective: 99\n", &latency("1e309")),
            "spec.yaml:7:",
            "",
        ),
        (
            "threshold .inf",
            one("    objective: 99\n", &latency(".inf")),
            "spec.yaml:7:39:",
            "between 1e-9 and 86400 seconds, got inf",
        ),
        (
            "tiny threshold",
            one("    objective: 99\n", &latency("1e-300")),
            "spec.yaml:7:39:",
            "got 1e-300",
        ),
        (
            "threshold over a day",
            one("    objective: 99\n", &latency("86401")),
            "spec.yaml:7:39:",
            "between 1e-9 and 86400",
        ),
        (
            "min_events .inf",
            one("    objective: 99\n    min_events: .inf\n", GOOD_SLI),
            "spec.yaml:6:17:",
            "min_events must be between 0 and 1e12",
        ),
        (
            "min_events too many",
            one("    objective: 99\n    min_events: 1e13\n", GOOD_SLI),
            "spec.yaml:6:17:",
            "got 10000000000000",
        ),
        (
            "sloth objective",
            "version: prometheus/v1\nservice: s\nslos:\n  - name: a\n    objective: 100.5\n    sli:\n      events:\n        error_query: sum(rate(e[{{.window}}]))\n        total_query: sum(rate(t[{{.window}}]))\n".into(),
            "spec.yaml:5:16:",
            "between 0 and 100",
        ),
        (
            "openslo period",
            "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: a\nspec:\n  service: s\n  indicator:\n    spec:\n      ratioMetric:\n        counter: true\n        good: {metricSource: {type: Prometheus, spec: {query: g}}}\n        total: {metricSource: {type: Prometheus, spec: {query: t}}}\n  timeWindow:\n    - duration: 999999999999d\n      isRolling: true\n  objectives:\n    - target: 0.99\n".into(),
            "spec.yaml:14:17:",
            "period must be between 1h and 366d",
        ),
    ];
    for (what, text, location, message) in refused {
        let path = dir.path().join("spec.yaml");
        std::fs::write(&path, &text).unwrap();
        let p = path.to_str().unwrap();
        let (code, _, stderr) = slo(&["check", p]);
        assert_eq!(code, Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(location),
            "{what}: {location} in:\n{stderr}"
        );
        assert!(
            stderr.contains(message),
            "{what}: {message:?} in:\n{stderr}"
        );
        assert!(stderr.contains("hint"), "{what}: {stderr}");
        for command in ["alerts", "dashboard"] {
            let (code, _, stderr) = slo(&[command, p]);
            assert_eq!(code, Some(2), "{what}: slo {command}: {stderr}");
            assert!(stderr.contains(location), "{what}: slo {command}: {stderr}");
        }
    }
    // The ends of the ranges are accepted, and generate.
    let accepted = [
        one("    objective: 99.999\n    period: 366d\n", GOOD_SLI),
        one("    objective: 0.001\n    period: 1h\n", &latency("86400")),
        one(
            "    objective: 50\n    min_events: 1e12\n",
            &latency("1e-9"),
        ),
    ];
    for text in accepted {
        let path = dir.path().join("spec.yaml");
        std::fs::write(&path, &text).unwrap();
        let p = path.to_str().unwrap();
        for command in ["check", "alerts", "dashboard"] {
            let (code, stdout, stderr) = slo(&[command, p]);
            assert_eq!(code, Some(0), "slo {command} {text}: {stderr}");
            assert!(finite_only(&stdout), "slo {command}: {stdout}");
        }
    }
}

/// A spec that is not UTF-8 is refused at the line and column of its first
/// bad byte, in every command that reads specs.
#[test]
fn invalid_utf8_spec_names_the_line_of_the_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.yaml");
    let mut bytes = one("    objective: 99\n", GOOD_SLI).into_bytes();
    let at = bytes.len() - 4;
    bytes.splice(at..at, *b"\xff\xfe");
    std::fs::write(&path, &bytes).unwrap();
    let p = path.to_str().unwrap();
    for command in ["check", "alerts", "dashboard", "import"] {
        let (code, _, stderr) = slo(&[command, p]);
        assert_eq!(code, Some(2), "slo {command}: {stderr}");
        assert!(
            stderr.contains("spec.yaml:7:20: invalid UTF-8 at byte"),
            "slo {command}: {stderr}"
        );
    }
}

/// A 20 MB line is not echoed (twice) in an error: message and snippet are
/// cut to about 200 characters.
#[test]
fn long_lines_are_cut_in_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.yaml");
    let long = "x".repeat(20_000_000);
    let cases = [
        one(
            "    objective: 99\n",
            &format!("    sli:\n      availability: {{selector: '{long}'}}\n"),
        ),
        format!("version: {long}\nservice: s\nslos: []\n"),
        format!("{HEAD}  - name: a\n    objective: 99\n    {long}: 1\n{GOOD_SLI}"),
    ];
    for text in cases {
        std::fs::write(&path, &text).unwrap();
        let started = std::time::Instant::now();
        let (code, _, stderr) = slo(&["check", path.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{}", &stderr[..stderr.len().min(2000)]);
        assert!(stderr.len() < 2_000, "{} bytes of stderr", stderr.len());
        assert!(stderr.contains("spec.yaml:"), "{stderr}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}

/// `--lookback` has a range too: outside it is invalid input (exit 2),
/// before Prometheus is asked anything.
#[test]
fn check_lookback_out_of_range_is_invalid_input() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../alerts/target-app.slo.yaml");
    for lookback in ["0s", "367d", "999999999999d"] {
        let (code, _, stderr) = slo(&[
            "check",
            path,
            "--prometheus",
            "http://127.0.0.1:9",
            "--lookback",
            lookback,
        ]);
        assert_eq!(code, Some(2), "{lookback}: {stderr}");
        assert!(
            stderr.contains(&format!("--lookback {lookback}: between 1s and 366d")),
            "{lookback}: {stderr}"
        );
    }
    let (code, _, stderr) = slo(&["check", path, "--lookback", "1d"]);
    assert_eq!(code, Some(2), "--lookback needs --prometheus: {stderr}");
}
