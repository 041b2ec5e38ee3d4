//! Import fidelity: Sloth and OpenSLO documents become the native spec
//! checked in beside them (rows of goldens.rs; `UPDATE_GOLDENS=1` rewrites
//! them), and what cannot map is refused with a message that names it.

use crate::util::slo;

use std::path::Path;

/// Each import's native form (checked in beside its input and kept current
/// by a row of goldens.rs) is a valid spec with the same meaning, and every
/// command takes the foreign format directly.
#[test]
fn imports_keep_their_meaning() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/import");
    for name in [
        "sloth",
        "sloth-k8s",
        "openslo",
        "openslo-timeslices",
        "openslo-calendar",
    ] {
        let input = dir.join(format!("{name}.yaml"));
        let golden = dir.join(format!("{name}.native.yaml"));
        let (code, stdout, stderr) = slo(&["import", input.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{name}: {stderr}");
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
fn openslo_calendar_windows_become_calendar_periods() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/import/openslo-calendar.yaml");
    let s = slo::spec::parse(&std::fs::read_to_string(&input).unwrap(), &input).unwrap();
    let shown: Vec<(String, &str, String, u64)> = s
        .slos
        .iter()
        .map(|o| {
            let c = o.calendar.as_ref().expect("a calendar period");
            (
                o.name.clone(),
                c.unit.as_str(),
                c.zone.clone(),
                o.period.as_secs() / 86_400,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("api-monthly".into(), "month", "Europe/Berlin".into(), 30),
            ("api-weekly".into(), "week", "America/New_York".into(), 7),
            ("api-quarterly".into(), "quarter", "UTC".into(), 91),
            (
                "api-good-minutes".into(),
                "month",
                "Europe/Berlin".into(),
                30
            ),
        ]
    );
    // Timeslices over a calendar month keep their slices.
    let t = s.slos[3].timeslices.expect("time slices");
    assert_eq!((t.slice.as_secs(), t.target), (60, Some(0.95)));
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
        ("openslo timeslices without a window", format!("{OPENSLO_SLO}  budgetingMethod: Timeslices\n{ratio}{objectives}"), "budgetingMethod Timeslices needs a timeSliceWindow"),
        ("openslo timeslices without a target", format!("{OPENSLO_SLO}  budgetingMethod: Timeslices\n{ratio}  objectives:\n    - target: 0.99\n      timeSliceWindow: 1m\n"), "needs a timeSliceTarget"),
        ("openslo ratio timeslices with a target", format!("{OPENSLO_SLO}  budgetingMethod: RatioTimeslices\n{ratio}  objectives:\n    - target: 0.99\n      timeSliceWindow: 1m\n      timeSliceTarget: 0.9\n"), "timeSliceTarget is for budgetingMethod Timeslices"),
        ("openslo occurrences with slices", format!("{OPENSLO_SLO}{ratio}  objectives:\n    - target: 0.99\n      timeSliceWindow: 1m\n"), "need budgetingMethod: Timeslices"),
        ("openslo other budgeting", format!("{OPENSLO_SLO}  budgetingMethod: Calendar\n{ratio}{objectives}"), "budgetingMethod Calendar is not supported"),
        ("openslo bad slice window", format!("{OPENSLO_SLO}  budgetingMethod: RatioTimeslices\n{ratio}  objectives:\n    - target: 0.99\n      timeSliceWindow: soon\n"), "timeSliceWindow \"soon\""),
        ("openslo slice too long", format!("{OPENSLO_SLO}  budgetingMethod: Timeslices\n{ratio}  objectives:\n    - target: 0.99\n      timeSliceTarget: 0.9\n      timeSliceWindow: 10m\n"), "longer than the shortest alert window of its 30d period (5m)"),
        ("openslo slice too short", format!("{OPENSLO_SLO}  budgetingMethod: Timeslices\n{ratio}  objectives:\n    - target: 0.99\n      timeSliceTarget: 0.9\n      timeSliceWindow: 2\n"), "at least 5s"),
        ("openslo slice target above 1", format!("{OPENSLO_SLO}  budgetingMethod: Timeslices\n{ratio}  objectives:\n    - target: 0.99\n      timeSliceTarget: 95\n      timeSliceWindow: 1m\n"), "at most 1, got 95"),
        ("openslo calendar 2M", format!("{OPENSLO_SLO}  timeWindow:\n    - duration: 2M\n      isRolling: false\n{ratio}{objectives}"), "only 1w, 1M and 1Q"),
        ("openslo calendar mid-month", format!("{OPENSLO_SLO}  timeWindow:\n    - duration: 1M\n      isRolling: false\n      calendar: {{startTime: '2024-01-15 00:00:00', timeZone: UTC}}\n{ratio}{objectives}"), "not the start of a month"),
        ("openslo calendar noon", format!("{OPENSLO_SLO}  timeWindow:\n    - duration: 1w\n      isRolling: false\n      calendar: {{startTime: '2024-01-01 12:00:00', timeZone: UTC}}\n{ratio}{objectives}"), "startTime: \"2024-01-01 00:00:00\""),
        ("openslo calendar bad start", format!("{OPENSLO_SLO}  timeWindow:\n    - duration: 1Q\n      isRolling: false\n      calendar: {{startTime: yesterday}}\n{ratio}{objectives}"), "not a date and time"),
        ("openslo calendar bad zone", format!("{OPENSLO_SLO}  timeWindow:\n    - duration: 1M\n      isRolling: false\n      calendar: {{timeZone: Mars/Olympus}}\n{ratio}{objectives}"), "in.yaml:10:28: unknown time zone"),
        ("openslo calendar field", format!("{OPENSLO_SLO}  timeWindow:\n    - duration: 1M\n      isRolling: false\n      calendar: {{timezone: UTC}}\n{ratio}{objectives}"), "timezone"),
        ("openslo rolling calendar", format!("{OPENSLO_SLO}  timeWindow:\n    - duration: 1M\n      isRolling: true\n      calendar: {{timeZone: UTC}}\n{ratio}{objectives}"), "isRolling: true and a calendar"),
        ("openslo datadog", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      ratioMetric:\n        good: {{metricSource: {{type: Datadog, spec: {{query: g}}}}}}\n        total: {{metricSource: {{type: Datadog, spec: {{query: t}}}}}}\n{objectives}"), "only Prometheus"),
        ("openslo not a selector", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      ratioMetric:\n        good: {{metricSource: {{type: Prometheus, spec: {{query: 'sum(rate(g[5m]))'}}}}}}\n        total: {{metricSource: {{type: Prometheus, spec: {{query: t}}}}}}\n{objectives}"), "counter selector"),
        ("openslo missing ref", format!("{OPENSLO_SLO}  indicatorRef: nowhere\n{objectives}"), "names no SLI"),
        ("openslo no objectives", format!("{OPENSLO_SLO}{ratio}"), "no objectives"),
        ("openslo no target", format!("{OPENSLO_SLO}{ratio}  objectives:\n    - displayName: x\n"), "no target"),
        ("openslo bad version", "apiVersion: openslo/v2\nkind: SLO\nmetadata: {name: a}\nspec: {}\n".replace("openslo/v2", "openslo/v1alpha"), "SLO"),
        ("openslo unknown kind", format!("{OPENSLO_SLO}{ratio}{objectives}---\napiVersion: openslo/v1\nkind: AlertPolicy\nmetadata: {{name: p}}\nspec: {{}}\n"), "AlertPolicy"),
        ("openslo gauge", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      ratioMetric:\n        counter: false\n        good: {{metricSource: {{type: Prometheus, spec: {{query: g}}}}}}\n        total: {{metricSource: {{type: Prometheus, spec: {{query: t}}}}}}\n{objectives}"), "gauges"),
    ];
    let sloth_ev = "    sli:\n      events:\n        error_query: sum(rate(e[{{.window}}]))\n        total_query: sum(rate(t[{{.window}}]))\n";
    let sloth =
        |head: &str, rest: &str| format!("version: prometheus/v1\nservice: s\nslos:\n{head}{rest}");
    let more_sloth: Vec<(&str, String, &str)> = vec![
        ("sloth yaml syntax", "version: prometheus/v1\nservice: [\n".into(), "in.yaml:"),
        ("sloth slos not a list", "version: prometheus/v1\nservice: s\nslos: 3\n".into(), "in.yaml:3:"),
        ("sloth no name", sloth("  - objective: 99\n", sloth_ev), "missing field"),
        ("sloth no objective", sloth("  - name: a\n", sloth_ev), "missing field"),
        ("sloth objective 0", sloth("  - name: a\n    objective: 0\n", sloth_ev), "between 0 and 100"),
        ("sloth objective text", sloth("  - name: a\n    objective: high\n", sloth_ev), "in.yaml:5:"),
        ("sloth bad name", sloth("  - name: a b\n    objective: 99\n", sloth_ev), "letters, digits"),
        ("sloth duplicate", sloth("  - name: a\n    objective: 99\n", &format!("{sloth_ev}  - name: a\n    objective: 99\n{sloth_ev}")), "defined twice"),
        ("sloth bad service", "version: prometheus/v1\nservice: 'my service'\nslos:\n  - name: a\n    objective: 99\n    sli:\n      events:\n        error_query: e[{{.window}}]\n        total_query: t[{{.window}}]\n".into(), "service name"),
        ("sloth no total", sloth("  - name: a\n    objective: 99\n", "    sli:\n      events:\n        error_query: e[{{.window}}]\n"), "missing field"),
        ("sloth bad promql", sloth("  - name: a\n    objective: 99\n", "    sli:\n      events:\n        error_query: sum(rate(e[{{.window}}])\n        total_query: t[{{.window}}]\n"), "not valid PromQL"),
        ("sloth unknown sli key", sloth("  - name: a\n    objective: 99\n", "    sli:\n      magic: {}\n"), "unknown field"),
        ("sloth unknown alerting field", sloth("  - name: a\n    objective: 99\n", &format!("{sloth_ev}    alerting:\n      pager: x\n")), "unknown field"),
        ("sloth unknown page field", sloth("  - name: a\n    objective: 99\n", &format!("{sloth_ev}    alerting:\n      page_alert:\n        disabled: true\n")), "unknown field"),
        ("sloth labels not a map", "version: prometheus/v1\nservice: s\nlabels: [a]\nslos: []\n".into(), "in.yaml:3:"),
        ("sloth empty slos", "version: prometheus/v1\nservice: s\nslos: []\n".into(), "no SLOs"),
        ("sloth k8s no spec", "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nmetadata: {name: x}\n".into(), "missing field"),
        ("sloth k8s unknown spec field", "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nspec:\n  service: s\n  slo: []\n".into(), "unknown field"),
    ];
    let os_ratio = |good: &str, total: &str| {
        format!(
            "  indicator:\n    spec:\n      ratioMetric:\n        good: {{metricSource: {{type: Prometheus, spec: {{query: '{good}'}}}}}}\n        total: {{metricSource: {{type: Prometheus, spec: {{query: '{total}'}}}}}}\n"
        )
    };
    let more_openslo: Vec<(&str, String, &str)> = vec![
        ("openslo yaml syntax", "apiVersion: openslo/v1\nkind: [\n".into(), "in.yaml:"),
        ("openslo no metadata", "apiVersion: openslo/v1\nkind: SLO\nspec: {}\n".into(), "missing field"),
        ("openslo no name", "apiVersion: openslo/v1\nkind: SLO\nmetadata: {displayName: x}\nspec: {}\n".into(), "missing field"),
        ("openslo no indicator", format!("{OPENSLO_SLO}{objectives}"), "no ratioMetric"),
        ("openslo no good or bad", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      ratioMetric:\n        total: {{metricSource: {{type: Prometheus, spec: {{query: t}}}}}}\n{objectives}"), "needs good or bad"),
        ("openslo no total", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      ratioMetric:\n        good: {{metricSource: {{type: Prometheus, spec: {{query: g}}}}}}\n{objectives}"), "ratioMetric.total"),
        ("openslo no query", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      ratioMetric:\n        good: {{metricSource: {{type: Prometheus, spec: {{}}}}}}\n        total: {{metricSource: {{type: Prometheus, spec: {{query: t}}}}}}\n{objectives}"), "query is missing"),
        ("openslo target above 1", format!("{OPENSLO_SLO}{}  objectives:\n    - target: 1.5\n", os_ratio("g", "t")), "between 0 and 100"),
        ("openslo targetPercent 0", format!("{OPENSLO_SLO}{}  objectives:\n    - targetPercent: 0\n", os_ratio("g", "t")), "between 0 and 100"),
        ("openslo bad duration", format!("{OPENSLO_SLO}  timeWindow:\n    - duration: fortnight\n      isRolling: true\n{}{objectives}", os_ratio("g", "t")), "timeWindow duration"),
        ("openslo short window", format!("{OPENSLO_SLO}  timeWindow:\n    - duration: 5m\n      isRolling: true\n{}{objectives}", os_ratio("g", "t")), "between 1h and 366d"),
        ("openslo bad selector", format!("{OPENSLO_SLO}{}{objectives}", os_ratio("g{{", "t")), "counter selector"),
        ("openslo no source type", format!("{OPENSLO_SLO}  indicator:\n    spec:\n      ratioMetric:\n        good: {{metricSource: {{spec: {{query: g}}}}}}\n        total: {{metricSource: {{type: Prometheus, spec: {{query: t}}}}}}\n{objectives}"), "only Prometheus"),
        ("openslo bad name", "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: 'a b'\nspec:\n  service: s\n  indicator:\n    spec:\n      ratioMetric:\n        good: {metricSource: {type: Prometheus, spec: {query: g}}}\n        total: {metricSource: {type: Prometheus, spec: {query: t}}}\n  objectives:\n    - target: 0.99\n".into(), "letters, digits"),
    ];
    let sloth_count = cases.iter().filter(|c| c.0.starts_with("sloth")).count() + more_sloth.len();
    let openslo_count =
        cases.iter().filter(|c| c.0.starts_with("openslo")).count() + more_openslo.len();
    assert!(
        sloth_count >= 25 && openslo_count >= 25,
        "{sloth_count} Sloth, {openslo_count} OpenSLO cases"
    );
    let cases: Vec<(&str, String, &str)> = cases
        .into_iter()
        .chain(more_sloth)
        .chain(more_openslo)
        .collect();
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
