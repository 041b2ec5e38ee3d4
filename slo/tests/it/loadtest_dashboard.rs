//! `slo dashboard --loadtest`: the checked-in load test dashboard passes the
//! same Grafana schemas (check-jsonschema over ../shared/schemas/grafana) and
//! lint checks as the SLO dashboard, broken copies fail them, and the
//! command's outputs and bad input.

use crate::dashboard::schema_problems;
use crate::util::{root, slo};

use serde_json::{Value, json};

fn loadtest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("dashboards/loadtest.json")).unwrap())
        .unwrap()
}

fn panel<'a>(d: &'a mut Value, title: &str) -> &'a mut Value {
    d["panels"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel {title:?}"))
}

#[test]
fn loadtest_dashboard_passes_grafana_schemas_and_lint() {
    let d = loadtest();
    let problems = schema_problems(&d, "");
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(slo::dashboard::lint(&d), Vec::<String>::new());

    // What it is for, read off the file itself.
    let titles: Vec<&str> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for want in [
        "Client request rate by request",
        "Client request rate by status",
        "Client errors by type",
        "Client latency p50 / p90 / p99 (corrected)",
        "Client latency p50 / p90 / p99 (as sent)",
        "Iteration rate: target, started, dropped",
        "Users: active and target",
        "Dropped iterations",
        // The server's RED panels, as the SLO dashboard has them.
        "Server (target-app)",
        "Request rate by route and status",
        "Error ratio by route",
        "Latency p50 / p95 / p99",
    ] {
        assert!(titles.contains(&want), "no panel {want:?} in {titles:?}");
    }
    let vars: Vec<&Value> = d["templating"]["list"].as_array().unwrap().iter().collect();
    let var = |name: &str| {
        *vars
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(
        var("loadgen_run")["query"],
        "label_values(loadgen_iterations_total, loadgen_run)"
    );
    assert_eq!(var("loadgen_shard")["allValue"], ".*");
    assert_eq!(var("datasource")["type"], "datasource");

    // The server row is the SLO dashboard's traffic row, query for query.
    let slo_board: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/target-app.json")).unwrap(),
    )
    .unwrap();
    let server = |d: &Value| -> Vec<String> {
        slo::dashboard::queries(d)
            .into_iter()
            .filter(|q| q.label_values.is_none())
            .map(|q| q.expr)
            .filter(|e| e.contains("http_server_request_duration_seconds"))
            .collect()
    };
    assert_eq!(server(&d), server(&slo_board));
}

#[test]
fn schemas_and_lint_reject_broken_loadtest_dashboards() {
    type Break = fn(&mut Value);
    // (what, edit, the schema check or lint that must complain, its words)
    let cases: &[(&str, Break, &str, &str)] = &[
        (
            "panel with an unknown field",
            |d| panel(d, "Client errors by type")["colour"] = json!("red"),
            "dashboard",
            "",
        ),
        (
            "run variable with a numeric refresh out of range",
            |d| d["templating"]["list"][1]["refresh"] = json!(7),
            "dashboard",
            "",
        ),
        (
            "stat without reduce options",
            |d| {
                panel(d, "Dropped iterations")["options"]
                    .as_object_mut()
                    .unwrap()
                    .remove("reduceOptions");
            },
            "stat options",
            "",
        ),
        (
            "draw style misspelt",
            |d| {
                panel(d, "Client request rate by request")["fieldConfig"]["defaults"]["custom"]["drawStyle"] =
                    json!("lines")
            },
            "timeseries field config",
            "",
        ),
        (
            "query without expr",
            |d| {
                panel(d, "Users: active and target")["targets"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("expr");
            },
            "prometheus query",
            "no expr",
        ),
        (
            "fixed rate range",
            |d| {
                let p = panel(d, "Client request rate by status");
                let e = p["targets"][0]["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "1m");
                p["targets"][0]["expr"] = json!(e);
            },
            "",
            "instead of [$__rate_interval]",
        ),
        (
            "no unit",
            |d| {
                panel(d, "Client latency p50 / p90 / p99 (as sent)")["fieldConfig"]["defaults"]
                    .as_object_mut()
                    .unwrap()
                    .remove("unit");
            },
            "",
            "no unit",
        ),
        (
            "a fixed datasource",
            |d| {
                panel(d, "Iteration rate: target, started, dropped")["targets"][1]["datasource"] =
                    json!({"type": "prometheus", "uid": "prom-1"})
            },
            "",
            "datasource is not",
        ),
        (
            "bad PromQL",
            |d| {
                panel(d, "Client error ratio")["targets"][0]["expr"] =
                    json!("sum(rate(loadgen_iterations_total[$__rate_interval])")
            },
            "",
            "does not parse",
        ),
        (
            "overlapping panels",
            |d| {
                panel(d, "Client request rate by status")["gridPos"]["x"] = json!(6);
            },
            "",
            "overlaps",
        ),
    ];
    let mut failures = Vec::new();
    for (what, breaks, schema, words) in cases {
        let mut d = loadtest();
        breaks(&mut d);
        if !schema.is_empty() {
            let problems = schema_problems(&d, schema);
            if !problems.iter().any(|p| p.starts_with(schema)) {
                failures.push(format!("{what}: no {schema} problem in {problems:#?}"));
            }
        }
        if !words.is_empty() {
            let found = slo::dashboard::lint(&d);
            if !found.iter().any(|m| m.contains(words)) {
                failures.push(format!("{what}: lint did not say {words:?}: {found:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn loadtest_command_outputs_and_bad_input() {
    let spec = root().join("alerts/target-app.slo.yaml");
    let spec = spec.to_str().unwrap();
    // Without --loadtest the SLO dashboard is unchanged.
    let (code, out, err) = slo(&["dashboard", spec]);
    assert_eq!(code, Some(0), "{err}");
    let plain: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plain["uid"], "slo-target-app");

    let (code, out, err) = slo(&["dashboard", spec, "--loadtest"]);
    assert_eq!(code, Some(0), "{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d, loadtest());
    assert_eq!(d["uid"], "loadtest-target-app");
    // The SLO dashboard is one click away.
    assert_eq!(d["links"][0]["url"], "/d/slo-target-app");

    // Another selector reaches the server row; the client queries keep theirs.
    let (code, out, err) = slo(&[
        "dashboard",
        spec,
        "--loadtest",
        "--selector",
        "{service=\"shop\"}",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    for q in slo::dashboard::queries(&d) {
        if q.expr.contains("http_server_request_duration_seconds") {
            assert!(q.expr.contains("service=\"shop\""), "{}", q.expr);
        } else if q.label_values.is_none() {
            assert!(
                q.expr.contains("loadgen_run=\"$loadgen_run\""),
                "{}",
                q.expr
            );
        }
    }

    // The ConfigMap k8s/ deploys.
    let tmp = tempfile::tempdir().unwrap();
    let out_file = tmp.path().join("cm.yaml");
    let (code, _, err) = slo(&[
        "dashboard",
        spec,
        "--loadtest",
        "--format",
        "configmap",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("wrote"), "{err}");
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        text.starts_with("# Grafana load test dashboard of target-app"),
        "{text:.200}"
    );
    let cm: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(cm["metadata"]["name"], "target-app-loadtest-dashboard");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let inner: Value =
        serde_json::from_str(cm["data"]["target-app-loadtest.json"].as_str().unwrap()).unwrap();
    assert_eq!(inner, loadtest());

    // Bad input: exit 2 with what is wrong.
    for (args, expect) in [
        (
            vec!["dashboard", spec, "--loadtest", "--selector", "{job=}"],
            "label matchers",
        ),
        (
            vec!["dashboard", spec, "--loadtest", "--metric", "9x"],
            "not a metric name",
        ),
        (
            vec!["dashboard", "/nonexistent/spec.yaml", "--loadtest"],
            "nonexistent",
        ),
        (
            vec!["dashboard", spec, "--loadtest=yes"],
            "unexpected value",
        ),
    ] {
        let (code, _, err) = slo(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

#[test]
fn the_loadtest_configmap_holds_the_checked_in_dashboard() {
    let cm =
        std::fs::read_to_string(root().join("k8s/base/loadgen/grafana-dashboard.yaml")).unwrap();
    let cm: Value = serde_saphyr::from_str(&cm).unwrap();
    let inner: Value =
        serde_json::from_str(cm["data"]["target-app-loadtest.json"].as_str().unwrap()).unwrap();
    assert_eq!(inner, loadtest());
}
