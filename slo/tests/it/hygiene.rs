//! Issue 14's unknown fields: every spec format slo reads (native, Sloth,
//! Sloth's PrometheusServiceLevel, OpenSLO) refuses a field it does not
//! have with exit 2, at that field's file:line:column, with a "did you mean"
//! suggestion when one is close and the valid fields in the hint.

use crate::util::slo;

const NATIVE: &str = "version: slo/v1\nservice: shop\nslos:\n  - name: a\n";
const SLOTH: &str = "version: prometheus/v1\nservice: s\nslos:\n  - name: a\n";
const SLOTH_SLI: &str = "    sli:\n      events:\n        error_query: e[{{.window}}]\n        total_query: t[{{.window}}]\n";
const OPENSLO: &str = "apiVersion: openslo/v1\nkind: SLO\n";
const OPENSLO_RATIO: &str = "  indicator:\n    spec:\n      ratioMetric:\n        counter: true\n        good: {metricSource: {type: Prometheus, spec: {query: g}}}\n        total: {metricSource: {type: Prometheus, spec: {query: t}}}\n";
const OPENSLO_OBJECTIVES: &str = "  objectives:\n    - target: 0.99\n";

/// The 1-based line and column of the first `needle` in `text`.
fn place_of(text: &str, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .expect("needle in text")
}

#[test]
fn typos_in_every_spec_format_exit_2_at_the_field_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String, &str, &str, &str)> = vec![
        (
            "native slo field",
            format!("{NATIVE}    objectve: 99\n    sli:\n      availability: {{}}\n"),
            "objectve",
            "did you mean \"objective\"?",
            "valid fields here: name, description, objective, period, sli, client, client_selector, min_events, alerting, labels",
        ),
        (
            "native alerting field",
            format!(
                "{NATIVE}    objective: 99\n    sli:\n      availability: {{}}\n    alerting:\n      runbok_url: http://x\n"
            ),
            "runbok_url",
            "did you mean \"runbook_url\"?",
            "valid fields here: name, labels, annotations, runbook_url,",
        ),
        (
            "native sli kind",
            format!("{NATIVE}    objective: 99\n    sli:\n      availabilty: {{}}\n"),
            "availabilty",
            "did you mean \"availability\"?",
            "events, ratio, latency, availability",
        ),
        (
            "native top level",
            "version: slo/v1\nservise: shop\nslos: []\n".into(),
            "servise",
            "did you mean \"service\"?",
            "valid fields here: version, service, labels, slos",
        ),
        (
            "sloth slo field",
            format!("{SLOTH}    objetive: 99\n{SLOTH_SLI}"),
            "objetive",
            "did you mean \"objective\"?",
            "valid fields here: name, objective, description, labels, sli, alerting",
        ),
        (
            "sloth alert field",
            format!(
                "{SLOTH}    objective: 99\n{SLOTH_SLI}    alerting:\n      pageAlert:\n        disabel: true\n"
            ),
            "disabel",
            "did you mean \"disable\"?",
            "valid fields here: disable, labels, annotations",
        ),
        (
            "sloth k8s spec field",
            "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nspec:\n  servce: s\n  slos: []\n".into(),
            "servce",
            "did you mean \"service\"?",
            "valid fields here: service, labels, slos",
        ),
        (
            "openslo document field",
            format!("{OPENSLO}metadata:\n  name: a\nspecs: {{}}\n"),
            "specs",
            "did you mean \"spec\"?",
            "valid fields here: apiVersion, kind, metadata, spec",
        ),
        (
            "openslo metadata field",
            format!("{OPENSLO}metadata:\n  name: a\n  dispalyName: A\nspec: {{}}\n"),
            "dispalyName",
            "did you mean \"displayName\"?",
            "valid fields here: name, displayName, labels, annotations",
        ),
        (
            "openslo slo spec field (free-form data, checked by name)",
            format!("{OPENSLO}metadata:\n  name: a\nspec:\n  service: s\n  timeWindw:\n    - duration: 7d\n{OPENSLO_RATIO}{OPENSLO_OBJECTIVES}"),
            "timeWindw",
            "did you mean \"timeWindow\"?",
            "valid fields here: description, service, indicator, indicatorRef, timeWindow,",
        ),
        (
            "openslo objective field",
            format!("{OPENSLO}metadata:\n  name: a\nspec:\n  service: s\n{OPENSLO_RATIO}  objectives:\n    - targt: 0.99\n"),
            "targt",
            "did you mean \"target\"?",
            "valid fields here: displayName, op, value, target, targetPercent,",
        ),
        (
            "openslo ratioMetric field",
            format!("{OPENSLO}metadata:\n  name: a\nspec:\n  service: s\n{}{OPENSLO_OBJECTIVES}", OPENSLO_RATIO.replace("counter:", "countr:")),
            "countr",
            "did you mean \"counter\"?",
            "valid fields here: counter, good, bad, total, rawType, raw",
        ),
        (
            "a field nothing is close to",
            format!("{NATIVE}    objective: 99\n    colour: blue\n    sli:\n      availability: {{}}\n"),
            "colour",
            "unknown field \"colour\"\n",
            "valid fields here: name,",
        ),
    ];
    for (what, text, needle, suggestion, valid) in cases {
        let path = dir.path().join("spec.yaml");
        std::fs::write(&path, &text).unwrap();
        let (code, _, stderr) = slo(&["check", path.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{what}: {stderr}");
        let (line, column) = place_of(&text, needle);
        assert!(
            stderr.contains(&format!("spec.yaml:{line}:{column}: ")),
            "{what}: want {line}:{column}: {stderr}"
        );
        assert!(stderr.contains(suggestion), "{what}: {stderr}");
        assert!(stderr.contains(valid), "{what}: {stderr}");
        assert!(stderr.contains("slo/README.md"), "{what}: {stderr}");
        // The same through `slo import`, which reads the same way.
        let (code, _, import_err) = slo(&["import", path.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{what}: {import_err}");
        assert!(import_err.contains(suggestion), "{what}: {import_err}");
    }
}
