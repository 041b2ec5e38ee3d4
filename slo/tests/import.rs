//! Import fidelity: Sloth and OpenSLO documents become the native spec
//! checked in beside them (`UPDATE_GOLDENS=1` rewrites the expected files),
//! and what cannot map is refused with a message that names it.

use std::path::Path;
use std::process::Command;

fn slo(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slo"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn imports_match_their_goldens() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/import");
    for name in ["sloth", "sloth-k8s", "openslo"] {
        let input = dir.join(format!("{name}.yaml"));
        let golden = dir.join(format!("{name}.native.yaml"));
        let (code, stdout, stderr) = slo(&["import", input.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{name}: {stderr}");
        if std::env::var_os("UPDATE_GOLDENS").is_some() {
            std::fs::write(&golden, &stdout).unwrap();
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        assert!(
            stdout == expected,
            "{name}: import differs from {} (UPDATE_GOLDENS=1 cargo test -p slo --test import rewrites it):\n{stdout}",
            golden.display()
        );
        // The native output is itself a valid spec with the same meaning.
        let a = slo::spec::parse(&std::fs::read_to_string(&input).unwrap(), &input).unwrap();
        let b = slo::spec::parse(&stdout, &golden).unwrap();
        assert_eq!(a, b, "{name}");
        // Every command takes the foreign format directly.
        let (code, _, stderr) = slo(&["check", input.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{name}: {stderr}");
    }
}

#[test]
fn sloth_details_are_kept() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/import/sloth.yaml");
    let s = slo::spec::parse(&std::fs::read_to_string(&input).unwrap(), &input).unwrap();
    let o = &s.slos[0];
    assert_eq!(s.name, "myservice");
    assert!((o.objective - 0.999).abs() < 1e-12);
    assert_eq!(o.period.as_secs(), 30 * 86_400);
    assert!(!o.alerting.ticket.enabled);
    assert!(o.alerting.page.enabled);
    assert_eq!(o.alerting.page.labels["severity"], "pageteam");
    assert_eq!(o.alerting.name.as_deref(), Some("MyServiceHighErrorRate"));
}

const SLOTH_HEAD: &str =
    "version: prometheus/v1\nservice: s\nslos:\n  - name: a\n    objective: 99\n";
const OPENSLO_SLO: &str =
    "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: a\nspec:\n  service: s\n";

#[test]
fn unsupported_and_malformed_imports_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ratio = "  indicator:\n    metadata: {name: i}\n    spec:\n      ratioMetric:\n        counter: true\n        good: {metricSource: {type: Prometheus, spec: {query: 'g'}}}\n        total: {metricSource: {type: Prometheus, spec: {query: 't'}}}\n";
    let objectives = "  objectives:\n    - target: 0.99\n";
    let cases: Vec<(&str, String, &str)> = vec![
        ("sloth raw", format!("{SLOTH_HEAD}    sli:\n      raw:\n        error_ratio_query: x\n"), "sli.raw is not supported"),
        ("sloth plugin", format!("{SLOTH_HEAD}    sli:\n      plugin:\n        id: x\n"), "sli.plugin is not supported"),
        ("sloth empty sli", format!("{SLOTH_HEAD}    sli: {{}}\n"), "exactly one of events"),
        ("sloth unknown field", format!("{SLOTH_HEAD}    sli:\n      events:\n        error_query: e[{{{{.window}}}}]\n        total_query: t[{{{{.window}}}}]\n    foo: 1\n"), "unknown field"),
        ("sloth bad objective", "version: prometheus/v1\nservice: s\nslos:\n  - name: a\n    objective: 101\n    sli:\n      events:\n        error_query: e[{{.window}}]\n        total_query: t[{{.window}}]\n".into(), "between 0 and 100"),
        ("sloth no window", format!("{SLOTH_HEAD}    sli:\n      events:\n        error_query: sum(rate(e[5m]))\n        total_query: sum(rate(t[{{{{.window}}}}]))\n"), "no {{.window}}"),
        ("sloth k8s wrong kind", "apiVersion: sloth.slok.dev/v1\nkind: ServiceLevel\nspec:\n  service: s\n  slos: []\n".into(), "PrometheusServiceLevel"),
        ("sloth missing service", "version: prometheus/v1\nslos: []\n".into(), "missing field"),
        ("openslo threshold", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      thresholdMetric:\n        metricSource: {{type: Prometheus, spec: {{query: x}}}}\n{objectives}"), "thresholdMetric is not supported"),
        ("openslo timeslices", format!("{OPENSLO_SLO}  budgetingMethod: Timeslices\n{ratio}{objectives}"), "budgetingMethod Timeslices"),
        ("openslo calendar", format!("{OPENSLO_SLO}  timeWindow:\n    - duration: 1M\n      isRolling: false\n{ratio}{objectives}"), "calendar"),
        ("openslo datadog", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      ratioMetric:\n        good: {{metricSource: {{type: Datadog, spec: {{query: g}}}}}}\n        total: {{metricSource: {{type: Datadog, spec: {{query: t}}}}}}\n{objectives}"), "only Prometheus"),
        ("openslo not a selector", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      ratioMetric:\n        good: {{metricSource: {{type: Prometheus, spec: {{query: 'sum(rate(g[5m]))'}}}}}}\n        total: {{metricSource: {{type: Prometheus, spec: {{query: t}}}}}}\n{objectives}"), "counter selector"),
        ("openslo missing ref", format!("{OPENSLO_SLO}  indicatorRef: nowhere\n{objectives}"), "names no SLI"),
        ("openslo no objectives", format!("{OPENSLO_SLO}{ratio}"), "no objectives"),
        ("openslo no target", format!("{OPENSLO_SLO}{ratio}  objectives:\n    - displayName: x\n"), "no target"),
        ("openslo bad version", "apiVersion: openslo/v2\nkind: SLO\nmetadata: {name: a}\nspec: {}\n".replace("openslo/v2", "openslo/v1alpha"), "SLO"),
        ("openslo unknown kind", format!("{OPENSLO_SLO}{ratio}{objectives}---\napiVersion: openslo/v1\nkind: AlertPolicy\nmetadata: {{name: p}}\nspec: {{}}\n"), "AlertPolicy"),
        ("openslo gauge", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      ratioMetric:\n        counter: false\n        good: {{metricSource: {{type: Prometheus, spec: {{query: g}}}}}}\n        total: {{metricSource: {{type: Prometheus, spec: {{query: t}}}}}}\n{objectives}"), "gauges"),
    ];
    for (what, text, expected) in cases {
        let path = dir.path().join("in.yaml");
        std::fs::write(&path, &text).unwrap();
        let (code, _, stderr) = slo(&["import", path.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{what}: expected {expected:?} in:\n{stderr}"
        );
        assert!(
            stderr.contains("in.yaml:"),
            "{what}: names the file:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}
