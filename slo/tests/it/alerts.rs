//! `slo alerts`: every generated file passes the real tool that consumes it:
//! promtool (lint and unit tests), amtool, and the PrometheusRule CRD schema.
//! (That the checked-in alerts/ is current is a row of goldens.rs.)

use crate::util::{self, check_jsonschema, root, slo};

use std::path::{Path, PathBuf};
use std::process::Command;

const PAGER: &str = "https://pager.example.com/hooks/target-app";
const TICKET: &str = "https://tickets.example.com/hooks/target-app";

fn alerts_dir() -> PathBuf {
    root().join("alerts")
}

/// Runs a tool; returns (success, stdout + stderr).
fn tool(program: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/test.sh installs it): {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `amtool config routes test --verify.receivers RECEIVER LABELS...` on
/// `dir/alertmanager.yml`.
fn route(dir: &Path, receiver: &str, labels: &[&str]) -> (bool, String) {
    let mut args = vec![
        "config",
        "routes",
        "test",
        "--config.file=alertmanager.yml",
        "--verify.receivers",
        receiver,
    ];
    args.extend(labels);
    tool("amtool", &args, dir)
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    v.sort();
    v
}

/// The PrometheusRule's spec, as a plain rule file.
fn operator_groups(dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(alerts_dir().join("target-app.prometheusrule.yaml")).unwrap();
    let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(v["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(v["kind"], "PrometheusRule");
    let path = dir.join("operator.rules.json");
    std::fs::write(&path, serde_json::to_string_pretty(&v["spec"]).unwrap()).unwrap();
    path
}

#[test]
fn rule_files_pass_promtool_lint() {
    let tmp = tempfile::tempdir().unwrap();
    let operator = operator_groups(tmp.path());
    for file in [alerts_dir().join("target-app.rules.yml"), operator.clone()] {
        let (ok, out) = tool(
            "promtool",
            &[
                "check",
                "rules",
                "--lint=all",
                "--lint-fatal",
                file.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(ok, "{}: {out}", file.display());
        // 2 SLOs: 8 windows x 3 recordings, 3 metadata, budget remaining;
        // 4 + 2 burn alerts and 1 absent alert.
        assert!(out.contains("SUCCESS: 63 rules found"), "{out}");
    }
    // Both forms hold the same groups.
    let plain: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(alerts_dir().join("target-app.rules.yml")).unwrap(),
    )
    .unwrap();
    let op: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&operator).unwrap()).unwrap();
    assert_eq!(plain, op);
    // And a broken rule file is refused (the check can fail).
    let broken = tmp.path().join("broken.yml");
    let text = std::fs::read_to_string(alerts_dir().join("target-app.rules.yml"))
        .unwrap()
        .replacen("/ 0.001 > 14.4", "/ 0.001 >> 14.4", 1);
    std::fs::write(&broken, text).unwrap();
    let (ok, out) = tool("promtool", &["check", "rules", "broken.yml"], tmp.path());
    assert!(!ok, "{out}");
}

#[test]
fn generated_unit_tests_pass_promtool() {
    let (ok, out) = tool(
        "promtool",
        &[
            "test",
            "rules",
            "target-app-availability.test.yml",
            "target-app-orders-latency.test.yml",
        ],
        &alerts_dir(),
    );
    assert!(ok, "{out}");
    assert_eq!(out.matches("SUCCESS").count(), 2, "{out}");
}

/// Copies alerts/ to a temp dir with one edit to the rules; the generated
/// tests must then fail.
fn mutated(from: &str, to: &str, test_file: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    for name in files(&alerts_dir()) {
        std::fs::copy(alerts_dir().join(&name), tmp.path().join(&name)).unwrap();
    }
    let rules = tmp.path().join("target-app.rules.yml");
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(text.contains(from), "{from:?} is in the rules");
    std::fs::write(&rules, text.replace(from, to)).unwrap();
    let (ok, out) = tool("promtool", &["test", "rules", test_file], tmp.path());
    assert!(
        !ok,
        "the tests passed with {from:?} replaced by {to:?}:\n{out}"
    );
    out
}

#[test]
fn generated_tests_catch_broken_rules() {
    // A threshold too high: the page alert no longer fires 4% above 14.4.
    let out = mutated("> 14.4", "> 16", "target-app-orders-latency.test.yml");
    assert!(out.contains("TargetAppOrdersLatencyBudgetBurn"), "{out}");
    // A threshold too low: it fires 4% below.
    mutated("> 14.4", "> 13.5", "target-app-orders-latency.test.yml");
    // No short window: the alert keeps firing after the errors stopped.
    mutated(
        "\n      and\n      slo:sli_error:ratio_rate4m40s{slo=\"orders-latency\", slo_service=\"target-app\"} / 0.01 > 14.4",
        "",
        "target-app-orders-latency.test.yml",
    );
    // No traffic guard: a burst of 5 failed requests pages.
    let out = mutated(
        "\n      and\n      slo:sli_events:increase1h{slo=\"availability\", slo_service=\"target-app\"} >= 10",
        "",
        "target-app-availability.test.yml",
    );
    assert!(out.contains("fewer than min_events"), "{out}");
}

/// The CRD schema, with the one pattern Python's regex engine refuses
/// rewritten (see ../shared/schemas/SOURCES.md).
fn prometheus_rule_schema(dir: &Path) -> PathBuf {
    let src = root().join("../shared/schemas/crds/monitoring.coreos.com/prometheusrule_v1.json");
    let text = std::fs::read_to_string(&src).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (../shared/schemas sits beside the checkout)",
            src.display()
        )
    });
    let text = text.replace(
        "^(?i)(abort|warn)?$",
        "^([Aa][Bb][Oo][Rr][Tt]|[Ww][Aa][Rr][Nn])?$",
    );
    let path = dir.join("prometheusrule_v1.json");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn prometheus_rule_matches_the_crd_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = prometheus_rule_schema(tmp.path());
    let cj = check_jsonschema();
    let validate = |doc: &Path| {
        tool(
            &cj,
            &[
                "--schemafile",
                schema.to_str().unwrap(),
                doc.to_str().unwrap(),
            ],
            tmp.path(),
        )
    };
    let doc = alerts_dir().join("target-app.prometheusrule.yaml");
    let (ok, out) = validate(&doc);
    assert!(ok, "{out}");
    // The schema does reject a malformed rule (the check can fail).
    let bad = tmp.path().join("bad.yaml");
    let text = std::fs::read_to_string(&doc).unwrap().replacen(
        "  interval: 1m\n",
        "  interval: often\n",
        1,
    );
    std::fs::write(&bad, text).unwrap();
    let (ok, out) = validate(&bad);
    assert!(!ok, "{out}");
}

#[test]
fn alertmanager_routes_pages_and_tickets() {
    let dir = alerts_dir();
    let (ok, out) = tool("amtool", &["check-config", "alertmanager.yml"], &dir);
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    assert!(out.contains("1 inhibit rules"), "{out}");
    for (labels, receiver) in [
        (
            [
                "severity=page",
                "slo_service=target-app",
                "slo=availability",
            ],
            "pager",
        ),
        (
            [
                "severity=ticket",
                "slo_service=target-app",
                "slo=availability",
            ],
            "ticket",
        ),
        (
            ["severity=page", "slo_service=other", "slo=availability"],
            "default",
        ),
    ] {
        let (ok, out) = route(&dir, receiver, &labels);
        assert!(ok, "{labels:?} -> {receiver}: {out}");
        assert_eq!(
            out.lines().next().map(str::trim),
            Some(receiver),
            "{labels:?}: {out}"
        );
    }
    // A wrong expectation is reported (the check can fail).
    let (ok, out) = route(
        &dir,
        "pager",
        &["severity=ticket", "slo_service=target-app"],
    );
    assert!(!ok, "{out}");
    let text = std::fs::read_to_string(dir.join("alertmanager.yml")).unwrap();
    assert!(text.contains(PAGER) && text.contains(TICKET));
}

/// Other SLI kinds and periods: a ratio SLI over 7 days and a 12-hour
/// availability SLO with a traffic guard, tested by their own promtool tests.
#[test]
fn other_kinds_and_periods_generate_passing_tests() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(
        &spec,
        r#"version: slo/v1
service: shop
slos:
  - name: checkout
    objective: 99.5
    period: 7d
    sli:
      ratio:
        good: 'http_requests_total{job="shop", code!~"5.."}'
        total: 'http_requests_total{job="shop"}'
  - name: quick
    objective: 99.9
    period: 12h
    min_events: 20
    sli:
      availability:
        selector: '{job="shop", http_route=~"/api/(orders|products)"}'
    alerting:
      absent: true
      page: {labels: {team: payments, severity: critical}}
  - name: raw
    objective: 99
    sli:
      events:
        error_query: 'sum(rate(errors_total[{{.window}}]))'
        total_query: 'sum(rate(requests_total[{{.window}}]))'
"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let stderr = util::alerts_out(&spec, &out);
    assert!(!stderr.contains("alertmanager.yml not written"), "{stderr}");
    // The events SLI's selectors are solved inside its queries.
    assert!(!stderr.contains("no promtool tests"), "{stderr}");
    assert_eq!(
        files(&out),
        [
            "alertmanager.yml",
            "shop-checkout.test.yml",
            "shop-quick.test.yml",
            "shop-raw.test.yml",
            "shop.prometheusrule.yaml",
            "shop.rules.yml",
        ]
    );
    let (ok, lint) = tool(
        "promtool",
        &[
            "check",
            "rules",
            "--lint=all",
            "--lint-fatal",
            "shop.rules.yml",
        ],
        &out,
    );
    assert!(ok, "{lint}");
    let (ok, tests) = tool(
        "promtool",
        &[
            "test",
            "rules",
            "shop-checkout.test.yml",
            "shop-quick.test.yml",
            "shop-raw.test.yml",
        ],
        &out,
    );
    assert!(ok, "{tests}");
    assert_eq!(tests.matches("SUCCESS").count(), 3, "{tests}");
    let raw = std::fs::read_to_string(out.join("shop-raw.test.yml")).unwrap();
    assert!(
        raw.contains("series: errors_total{}") && raw.contains("series: requests_total{}"),
        "{raw}"
    );
    let quick = std::fs::read_to_string(out.join("shop-quick.test.yml")).unwrap();
    assert!(
        quick.contains("long_window: 1m"),
        "12h period: 1m page window"
    );
    assert!(quick.contains("team: payments"));
    assert!(quick.contains("severity: critical"));
    // A spec's own severity is routed on: critical pages, page still pages.
    let (ok, am) = tool("amtool", &["check-config", "alertmanager.yml"], &out);
    assert!(ok, "{am}");
    for (severity, receiver) in [
        ("critical", "pager"),
        ("page", "pager"),
        ("ticket", "ticket"),
    ] {
        let label = format!("severity={severity}");
        let (ok, routed) = route(&out, receiver, &[&label, "slo_service=shop"]);
        assert!(ok, "{severity} -> {receiver}: {routed}");
    }
}

#[test]
fn stdout_forms_and_bad_input() {
    let spec = alerts_dir().join("target-app.slo.yaml");
    let spec = spec.to_str().unwrap();
    let (code, rules, _) = slo(&["alerts", spec]);
    assert_eq!(code, Some(0));
    assert!(rules.contains("\ngroups:\n"));
    let (code, op, _) = slo(&["alerts", spec, "--format", "operator"]);
    assert_eq!(code, Some(0));
    assert!(op.contains("kind: PrometheusRule"));
    // Same input, same output.
    assert_eq!(slo(&["alerts", spec]).1, rules);

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let bad_spec = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad_spec,
        "version: slo/v1\nservice: s\nslos:\n  - name: a\n    objective: 99\n    labels: {long_window: high}\n    sli: {availability: {}}\n",
    )
    .unwrap();
    let dup_spec = tmp.path().join("dup.yaml");
    std::fs::write(
        &dup_spec,
        "version: slo/v1\nservice: s\nslos:\n  - {name: foo-bar, objective: 99, sli: {availability: {}}}\n  - {name: foo_bar, objective: 99, sli: {availability: {}}}\n",
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["alerts", spec, "--pager-url", "http://x/p"], "--out"),
        (vec!["alerts", spec, "--ticket-url", "http://x/t"], "--out"),
        (
            vec![
                "alerts",
                spec,
                "--out",
                out,
                "--pager-url",
                "pager",
                "--ticket-url",
                "http://x/t",
            ],
            "--pager-url \"pager\"",
        ),
        (
            vec![
                "alerts",
                spec,
                "--out",
                out,
                "--pager-url",
                "http://x/p",
                "--ticket-url",
                "ftp://x/t",
            ],
            "http:// or https://",
        ),
        (vec!["alerts", spec, "--format", "json"], "json"),
        (
            vec!["alerts", bad_spec.to_str().unwrap()],
            "label \"long_window\" is set by the generated rules",
        ),
        (vec!["alerts", "/nonexistent/spec.yaml"], "failed to read"),
        (
            vec!["alerts", dup_spec.to_str().unwrap()],
            "both make alerts named \"SFooBarBudgetBurn\"",
        ),
    ];
    for (args, needle) in cases {
        let (code, stdout, stderr) = slo(&args);
        assert_eq!(code, Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (_, _, stderr) = slo(&["alerts", bad_spec.to_str().unwrap()]);
    assert!(stderr.contains("bad.yaml:"), "file:line:column: {stderr}");
}

/// The file's lines without its comments (the header records the command line).
fn without_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--out` without webhook URLs writes the rules, the PrometheusRule and the
/// promtool tests, skips alertmanager.yml and says so; one URL alone is
/// invalid input and writes nothing.
#[test]
fn out_without_webhooks_skips_only_alertmanager_yml() {
    let spec = alerts_dir().join("target-app.slo.yaml");
    let spec = spec.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (code, stdout, stderr) = slo(&["alerts", spec, "--out", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let written = [
        "target-app-availability.test.yml",
        "target-app-orders-latency.test.yml",
        "target-app.prometheusrule.yaml",
        "target-app.rules.yml",
    ];
    assert_eq!(files(&out), written);
    for name in written {
        assert!(
            stdout.contains(&format!("wrote {}", out.join(name).display())),
            "{stdout}"
        );
    }
    assert!(!stdout.contains("alertmanager.yml"), "{stdout}");
    assert!(
        stderr.contains(
            "no --pager-url/--ticket-url: alertmanager.yml not written; add both to write it"
        ),
        "{stderr}"
    );
    // The same rules and tests as with the URLs, and promtool reads them.
    for name in written {
        let here = std::fs::read_to_string(out.join(name)).unwrap();
        let checked_in = std::fs::read_to_string(alerts_dir().join(name)).unwrap();
        assert_eq!(
            without_comments(&here),
            without_comments(&checked_in),
            "{name}"
        );
    }
    let (ok, lint) = tool(
        "promtool",
        &["check", "rules", "target-app.rules.yml"],
        &out,
    );
    assert!(ok, "{lint}");

    for (args, given, missing) in [
        (["--pager-url", PAGER], "--pager-url", "--ticket-url"),
        (["--ticket-url", TICKET], "--ticket-url", "--pager-url"),
    ] {
        let dir = tmp.path().join(given.trim_start_matches('-'));
        let mut cmd = vec!["alerts", spec, "--out", dir.to_str().unwrap()];
        cmd.extend(args);
        let (code, stdout, stderr) = slo(&cmd);
        assert_eq!(code, Some(2), "{cmd:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("{given} without {missing}")),
            "{cmd:?}: {stderr}"
        );
        assert!(stderr.contains(&format!("give {missing} too")), "{stderr}");
        assert!(!dir.exists(), "{cmd:?} wrote {}", dir.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// A latency SLI at an integer threshold: the generated promtool tests feed
/// the bucket as Go's client_golang writes it (`le="1"`), and pass; with the
/// old exact `le="1.0"` matcher the same tests fail.
#[test]
fn latency_tests_use_an_exposition_with_integer_le() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "version: slo/v1\nservice: shop\nslos:\n  - name: slow\n    objective: 99\n    period: 30d\n    sli:\n      latency:\n        metric: http_server_request_duration_seconds\n        selector: '{job=\"shop\"}'\n        threshold: 1\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    util::alerts_out(&spec, &out);
    let tests = std::fs::read_to_string(out.join("shop-slow.test.yml")).unwrap();
    assert!(
        tests.contains("http_server_request_duration_seconds_bucket{job=\"shop\", le=\"1\"}"),
        "{tests}"
    );
    let (ok, result) = tool("promtool", &["test", "rules", "shop-slow.test.yml"], &out);
    assert!(ok, "{result}");
    let rules = out.join("shop.rules.yml");
    let text = std::fs::read_to_string(&rules).unwrap();
    let matcher = r#"le=~"1(\\.0*)?|1(\\.0*)?[eE][+-]?0+""#;
    assert!(text.contains(matcher), "{text}");
    std::fs::write(&rules, text.replace(matcher, "le=\"1.0\"")).unwrap();
    let (ok, result) = tool("promtool", &["test", "rules", "shop-slow.test.yml"], &out);
    assert!(
        !ok,
        "the tests pass with an exact le=\"1.0\" matcher:\n{result}"
    );
}

/// The foreign-shape example (examples/slo/flask-app/): its generated
/// tests, for a ratio SLI, an events SLI on the same counter and a latency
/// SLI in milliseconds, pass promtool; broken events rules make them fail.
/// (Broken thresholds and windows are the target app's cases above.)
#[test]
fn foreign_shape_tests_pass_and_catch_broken_rules() {
    let dir = root().join("examples/slo/flask-app");
    let tests = [
        "flask-app-availability.test.yml",
        "flask-app-checkout.test.yml",
        "flask-app-latency.test.yml",
    ];
    let mut args = vec!["test", "rules"];
    args.extend(tests);
    let (ok, out) = tool("promtool", &args, &dir);
    assert!(ok, "{out}");
    assert_eq!(out.matches("SUCCESS").count(), 3, "{out}");
    // The events SLI's input series satisfy the selectors in its queries.
    let checkout = std::fs::read_to_string(dir.join("flask-app-checkout.test.yml")).unwrap();
    assert!(
        checkout.contains(
            "series: requests_total{endpoint=\"/checkout\", job=\"flask-app\", status=\"500\"}"
        ),
        "{checkout}"
    );

    let broken = |from: &str, to: &str, test_file: &str| {
        let tmp = tempfile::tempdir().unwrap();
        for name in files(&dir) {
            std::fs::copy(dir.join(&name), tmp.path().join(&name)).unwrap();
        }
        let rules = tmp.path().join("flask-app.rules.yml");
        let text = std::fs::read_to_string(&rules).unwrap();
        assert!(text.contains(from), "{from:?} is in the rules");
        std::fs::write(&rules, text.replacen(from, to, 1)).unwrap();
        let (ok, out) = tool("promtool", &["test", "rules", test_file], tmp.path());
        assert!(
            !ok,
            "the tests passed with {from:?} replaced by {to:?}:\n{out}"
        );
        out
    };
    // The events SLI counts other errors: its first window's error query
    // selects 4xx instead of 5xx.
    let out = broken(
        "endpoint=\"/checkout\", status=~\"5..\"}[5m]",
        "endpoint=\"/checkout\", status=~\"4..\"}[5m]",
        "flask-app-checkout.test.yml",
    );
    assert!(out.contains("FlaskAppCheckoutBudgetBurn"), "{out}");
    // The events SLI reads its total as its errors.
    broken(
        "(sum(rate(requests_total{job=\"flask-app\", endpoint=\"/checkout\", status=~\"5..\"}[1h])) or vector(0)) * 3600",
        "(sum(rate(requests_total{job=\"flask-app\", endpoint=\"/checkout\"}[1h])) or vector(0)) * 3600",
        "flask-app-checkout.test.yml",
    );
}

/// An events SLI of a form the generator cannot solve: the other SLOs get
/// their tests, and a warning names the SLO, the query and why.
#[test]
fn unsolvable_events_slis_are_named_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(
        &spec,
        r#"version: slo/v1
service: shop
slos:
  - name: grouped
    objective: 99
    sli:
      events:
        error_query: 'sum by (code) (rate(errors_total[{{.window}}]))'
        total_query: 'sum(rate(requests_total[{{.window}}]))'
  - name: plain
    objective: 99
    sli:
      events:
        error_query: 'sum(rate(errors_total[{{.window}}]))'
        total_query: 'sum(rate(requests_total[{{.window}}]))'
"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let stderr = util::alerts_out(&spec, &out);
    assert!(
        stderr.contains("no promtool tests: slo \"grouped\": no input series can be synthesized for its events SLI: error_query")
            && stderr.contains("a sum by or without labels gives one series per group"),
        "{stderr}"
    );
    assert!(!stderr.contains("\"plain\""), "{stderr}");
    let written = files(&out);
    assert!(
        written.contains(&"shop-plain.test.yml".to_owned()),
        "{written:?}"
    );
    assert!(
        !written.contains(&"shop-grouped.test.yml".to_owned()),
        "{written:?}"
    );
}
