//! `slo dashboard`: the checked-in dashboard passes Grafana's dashboard
//! schema (../shared/schemas/grafana), each panel's options pass its panel
//! plugin's schema and each query the Prometheus query schema, and the
//! dashboard passes the lint checks. Broken copies show each check can fail.

use crate::util::{jsonschema, jsonschema_all, root, slo};

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn schemas() -> PathBuf {
    root().join("../shared/schemas/grafana")
}

fn dashboard() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/target-app.json")).unwrap(),
    )
    .unwrap()
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

/// A schema that is one definition of a shared schema file.
fn definition(dir: &Path, file: &str, def: &str) -> PathBuf {
    let path = schemas().join(file);
    assert!(
        path.exists(),
        "{} (../shared/schemas sits beside the checkout)",
        path.display()
    );
    write(
        dir,
        &format!("{file}-{def}.json"),
        &json!({"$ref": format!("file://{}#/definitions/{def}", path.display())}),
    )
}

/// Every problem the schemas find in a dashboard (empty when it is valid);
/// `only` limits the checks to those whose name starts with it. Also used
/// by the load test dashboard's tests.
pub fn schema_problems(d: &Value, only: &str) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    if "dashboard".starts_with(only) {
        let file = write(tmp.path(), "dashboard.json", d);
        let (ok, out) = jsonschema(&schemas().join("dashboard.jsonschema.json"), &file);
        if !ok {
            problems.push(format!("dashboard: {out}"));
        }
    }
    // Panel options and field config by plugin; queries by the Prometheus schema.
    let mut options: Vec<(String, Value)> = Vec::new();
    let mut custom = Vec::new();
    let mut queries = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        let kind = p["type"].as_str().unwrap_or("");
        if kind == "row" {
            continue;
        }
        options.push((kind.to_owned(), p["options"].clone()));
        if kind == "timeseries" {
            custom.push(p["fieldConfig"]["defaults"]["custom"].clone());
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            let mut t = t.clone();
            // The schema types the datasource reference itself; the rest is the query.
            t.as_object_mut().unwrap().remove("datasource");
            queries.push(t);
        }
    }
    // Every panel kind the dashboards use has its plugin's schema checked.
    const KINDS: [&str; 3] = ["timeseries", "stat", "table"];
    for (kind, _) in &options {
        if !KINDS.contains(&kind.as_str()) {
            problems.push(format!("panel kind {kind:?} has no schema check here"));
        }
    }
    // One check-jsonschema run per schema, over all its instances.
    let mut check = |name: &str, schema: PathBuf, items: Vec<Value>| {
        if !name.starts_with(only) {
            return;
        }
        let files: Vec<PathBuf> = items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                write(
                    tmp.path(),
                    &format!("{}-{i}.json", name.replace(' ', "-")),
                    v,
                )
            })
            .collect();
        let (ok, out) = jsonschema_all(&schema, &files);
        if !ok {
            problems.push(format!("{name}: {out}"));
        }
    };
    for kind in KINDS {
        let items: Vec<Value> = options
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, v)| v.clone())
            .collect();
        if items.is_empty() {
            continue;
        }
        let schema = definition(tmp.path(), &format!("{kind}.jsonschema.json"), "Options");
        check(&format!("{kind} options"), schema, items);
    }
    let schema = definition(tmp.path(), "timeseries.jsonschema.json", "GraphFieldConfig");
    check("timeseries field config", schema, custom);
    let schema = definition(tmp.path(), "prometheus.jsonschema.json", "Dataquery");
    check("prometheus query", schema, queries);
    problems
}

#[test]
fn dashboard_passes_grafana_schemas() {
    let d = dashboard();
    for kind in ["timeseries", "stat", "table"] {
        assert!(
            d["panels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["type"] == kind),
            "the dashboard has {kind} panels"
        );
    }
    let problems = schema_problems(&d, "");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn schemas_reject_broken_dashboards() {
    type Break = fn(&mut Value);
    let cases: &[(&str, Break, &str)] = &[
        (
            "panel with an unknown field",
            |d| d["panels"][1]["colour"] = json!("red"),
            "dashboard",
        ),
        (
            "grid wider than 24",
            |d| d["panels"][1]["gridPos"]["w"] = json!(30),
            "dashboard",
        ),
        (
            "variable query as an object",
            |d| d["templating"]["list"][1]["query"] = json!({"query": 1}),
            "dashboard",
        ),
        (
            "legend without its fields",
            |d| d["panels"][1]["options"]["legend"] = json!({"showLegend": true}),
            "timeseries options",
        ),
        (
            "stat without reduce options",
            |d| {
                let stat = d["panels"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|p| p["type"] == "stat")
                    .unwrap();
                stat["options"]
                    .as_object_mut()
                    .unwrap()
                    .remove("reduceOptions");
            },
            "stat options",
        ),
        (
            "draw style misspelt",
            |d| d["panels"][1]["fieldConfig"]["defaults"]["custom"]["drawStyle"] = json!("lines"),
            "timeseries field config",
        ),
        (
            "query without expr",
            |d| {
                d["panels"][1]["targets"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("expr");
            },
            "prometheus query",
        ),
    ];
    for (what, breaks, expect) in cases {
        let mut d = dashboard();
        breaks(&mut d);
        let problems = schema_problems(&d, expect);
        assert!(
            problems.iter().any(|p| p.starts_with(expect)),
            "{what}: expected a {expect} problem, got {problems:#?}"
        );
    }
}

#[test]
fn dashboard_passes_lint() {
    let d = dashboard();
    assert_eq!(slo::dashboard::lint(&d), Vec::<String>::new());
    // What the issue asks of it, read off the file itself.
    let text = serde_json::to_string(&d).unwrap();
    assert!(text.contains("$__rate_interval"));
    assert!(text.contains("\"exemplar\":true"));
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter()
            .any(|v| v["type"] == "datasource" && v["name"] == "datasource")
    );
    let titles: Vec<&str> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for want in [
        "Request rate by route and status",
        "Error ratio by route",
        "Latency p50 / p95 / p99",
        "SLI against objective",
        "Error budget remaining over the period",
        "Burn rate per alert window",
        "Firing alerts",
    ] {
        assert!(titles.contains(&want), "no panel {want:?} in {titles:?}");
    }
}

#[test]
fn dashboard_command_outputs_and_bad_input() {
    let spec = root().join("alerts/target-app.slo.yaml");
    let spec = spec.to_str().unwrap();
    // Another selector reaches every traffic query.
    let (code, out, err) = slo(&["dashboard", spec, "--selector", "{service=\"shop\"}"]);
    assert_eq!(code, Some(0), "{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    let exprs: Vec<String> = slo::dashboard::queries(&d)
        .into_iter()
        .map(|q| q.expr)
        .filter(|e| e.contains("http_server_request_duration_seconds"))
        .collect();
    assert!(exprs.len() >= 5);
    for e in &exprs {
        assert!(e.contains("service=\"shop\"") && !e.contains("job="), "{e}");
    }
    // --out writes atomically and says so.
    let tmp = tempfile::tempdir().unwrap();
    let out_file = tmp.path().join("d/cm.yaml");
    let (code, _, err) = slo(&[
        "dashboard",
        spec,
        "--format",
        "configmap",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("wrote"), "{err}");
    let cm: Value = serde_saphyr::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(cm["kind"], "ConfigMap");

    // Bad input: exit 2 with the place and a hint.
    let bad_spec = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad_spec,
        "version: slo/v1\nservice: x\nslos:\n  - name: a\n    objective: 200\n",
    )
    .unwrap();
    for (args, expect) in [
        (
            vec!["dashboard", spec, "--selector", "{job=}"],
            "label matchers",
        ),
        (
            vec!["dashboard", spec, "--metric", "9x"],
            "not a metric name",
        ),
        (vec!["dashboard", spec, "--format", "pdf"], "invalid value"),
        (vec!["dashboard", "/nonexistent/spec.yaml"], "nonexistent"),
        (vec!["dashboard", bad_spec.to_str().unwrap()], "bad.yaml:"),
    ] {
        let (code, _, err) = slo(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

#[test]
fn the_dashboard_configmap_holds_the_checked_in_dashboard() {
    let cm =
        std::fs::read_to_string(root().join("k8s/base/target-app/grafana-dashboard.yaml")).unwrap();
    let cm: serde_json::Value = serde_saphyr::from_str(&cm).unwrap();
    let inner: serde_json::Value =
        serde_json::from_str(cm["data"]["target-app.json"].as_str().unwrap()).unwrap();
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/target-app.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(inner, file);
}

/// The example in another metric shape (examples/slo/flask-app.slo.yaml):
/// its checked-in dashboard passes the lint and Grafana's schemas, its
/// traffic row reads only the spec's own series, and the flags and their
/// defaults do what they say.
#[test]
fn a_foreign_shape_dashboard_reads_the_slis_own_series() {
    let file = root().join("examples/slo/flask-app.dashboard.json");
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(slo::dashboard::lint(&d), Vec::<String>::new());
    let problems = schema_problems(&d, "");
    assert!(problems.is_empty(), "{problems:#?}");
    let traffic: Vec<&Value> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .take_while(|p| p["type"] != "row")
        .collect();
    let titles: Vec<&str> = traffic.iter().filter_map(|p| p["title"].as_str()).collect();
    assert_eq!(
        titles,
        [
            "Request rate by route and status",
            "Error ratio by route",
            "Latency p50 / p95 / p99",
            "Latency p99 by route"
        ]
    );
    for p in &traffic {
        for t in p["targets"].as_array().unwrap() {
            let e = t["expr"].as_str().unwrap();
            assert!(!e.contains("http_server_"), "{e}");
            assert!(
                e.contains("requests_total{") || e.contains("request_latency_ms_bucket{"),
                "{e}"
            );
            assert!(e.contains("endpoint=~\"$route\""), "{e}");
        }
    }
    // Latency in milliseconds, with the SLO's 250 ms drawn.
    let lat = traffic[2];
    assert_eq!(lat["fieldConfig"]["defaults"]["unit"], "ms");
    assert_eq!(
        lat["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"],
        "dashed"
    );
    assert_eq!(
        lat["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
        250.0
    );
    let route = &d["templating"]["list"][1];
    assert_eq!(
        route["query"],
        "label_values(requests_total{job=\"flask-app\"}, endpoint)"
    );

    let spec = root().join("examples/slo/flask-app.slo.yaml");
    let spec = spec.to_str().unwrap();
    // Without --route-label: no route panels nor variable, and a note says
    // what to pass; status is named by the spec's good selector.
    let (code, out, err) = slo(&["dashboard", spec]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("no route breakdown: pass --route-label")
            && err.contains("--prometheus URL` lists their labels"),
        "{err}"
    );
    let plain: Value = serde_json::from_str(&out).unwrap();
    let titles: Vec<String> = plain["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str().map(str::to_owned))
        .collect();
    assert!(
        titles.contains(&"Request rate by status".to_owned()),
        "{titles:?}"
    );
    assert!(!titles.iter().any(|t| t.contains("by route")), "{titles:?}");
    assert_eq!(plain["templating"]["list"].as_array().unwrap().len(), 1);
    // --selector narrows every traffic query of the foreign row too.
    let (code, out, err) = slo(&[
        "dashboard",
        spec,
        "--route-label",
        "endpoint",
        "--selector",
        "{env=\"prod\"}",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("note"), "{err}");
    let narrowed: Value = serde_json::from_str(&out).unwrap();
    let exprs: Vec<String> = slo::dashboard::queries(&narrowed)
        .into_iter()
        .map(|q| q.expr)
        .filter(|e| e.contains("requests_total") || e.contains("request_latency"))
        .collect();
    assert!(exprs.len() >= 7, "{exprs:?}");
    for e in &exprs {
        assert!(e.contains("env=\"prod\""), "{e}");
    }
    // --metric brings back the OpenTelemetry row on that histogram.
    let (code, out, err) = slo(&[
        "dashboard",
        spec,
        "--metric",
        "http_server_request_duration_seconds",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("http_server_request_duration_seconds_count{job=\\\"flask-app\\\""));
    // Bad labels: exit 2 naming the flag.
    for (args, expect) in [
        (
            vec!["--route-label", "9x"],
            "--route-label: route label \"9x\" is not a label name",
        ),
        (
            vec!["--status-label", "a-b"],
            "--status-label: status label \"a-b\"",
        ),
        (vec!["--selector", "{env=}"], "--selector: selector"),
    ] {
        let mut all = vec!["dashboard", spec];
        all.extend(args);
        let (code, _, err) = slo(&all);
        assert_eq!(code, Some(2), "{all:?}: {err}");
        assert!(err.contains(expect), "{all:?}: {err}");
    }
}
