//! The Grafana dashboard of a load test: what loadgen's client metrics say
//! about one run (`loadgen_run`), next to what the service's server metrics
//! say over the same time.
//!
//! A run row of totals (requests, failed requests, error ratio, iterations
//! and dropped iterations over the whole run, from the cumulative counters),
//! a client row (request rate by request and by status, errors by
//! `error_type` and the error ratio, latency p50/p90/p99 from the intended
//! start, corrected for coordinated omission, and as sent, p99 by request,
//! the iteration rate against the target rate, users), then the server's
//! RED row exactly as [`crate::dashboard`] builds it from the spec's
//! service selector. Client queries are filtered by the `loadgen_run`
//! variable and the `loadgen_shard` variable (All also matches a run that
//! is not split, whose series have no `loadgen_shard`).
//!
//! The names are those of loadgen's metrics contract (loadgen's
//! `metrics` module); the dashboard passes [`crate::dashboard::lint`].

use serde_json::{Value, json};

use crate::dashboard::{
    self, DashboardError, Grid, Options, datasource_variable, ds, sidecar_configmap, stat, steps,
    targets, timeseries,
};
use crate::model::Service;
use crate::promql::with_matcher;

/// The client's request histogram, from the actual send.
pub const CLIENT_DURATION: &str = "http_client_request_duration_seconds";
/// The client's request histogram from the intended start (corrected).
pub const CLIENT_LATENCY: &str = "loadgen_request_latency_seconds";
/// Iterations started.
pub const ITERATIONS: &str = "loadgen_iterations_total";
/// Iterations of the open model that could not start.
pub const DROPPED: &str = "loadgen_iterations_dropped_total";
/// Users in an iteration.
pub const ACTIVE_USERS: &str = "loadgen_active_users";
/// The open model's target rate (iterations per second).
pub const TARGET_RATE: &str = "loadgen_target_rate";
/// The closed model's target number of users.
pub const TARGET_USERS: &str = "loadgen_target_users";
/// The run id label every client series carries.
pub const RUN_LABEL: &str = "loadgen_run";
/// The shard label of a split run's series.
pub const SHARD_LABEL: &str = "loadgen_shard";

/// The client series of the selected run and shards.
const CLIENT: &str = "{loadgen_run=\"$loadgen_run\", loadgen_shard=~\"$loadgen_shard\"}";

/// The dashboard's uid: `loadtest-SERVICE`, within Grafana's 40 characters.
pub fn uid(service: &str) -> String {
    let mut u = format!("loadtest-{service}");
    u.truncate(40);
    u
}

/// A counter's total over the dashboard's range: the largest value of each
/// series in it (a counter's last), summed. Every series counts, also one
/// that ended early (a shard done first, or a scraped run gone stale once
/// loadgen exited), which a plain `sum(counter)` at the range's end misses.
fn total(series: &str) -> String {
    format!("sum(max_over_time({series}[$__range]))")
}

/// The run row: totals of the whole run from the cumulative counters, as
/// instant queries over the dashboard's range.
fn run_row(grid: &mut Grid) {
    let all = total(&format!("{CLIENT_DURATION}_count{CLIENT}"));
    let failed = total(&format!(
        "{CLIENT_DURATION}_count{}",
        with_matcher(CLIENT, "error_type!=\"\"")
    ));
    // No failed series yet is 0 failed, as long as there is traffic.
    let failed_or_zero = format!("({failed} or {all} * 0)");
    grid.row("Run $loadgen_run");
    let count = steps(&[(None, "blue")]);
    let cells = [
        (
            "Requests",
            format!(
                "Requests the selected shards of the run have finished so far, answered or not (sum of {CLIENT_DURATION}_count). After the run it equals the report's request count."
            ),
            "short",
            all.clone(),
            count.clone(),
        ),
        (
            "Failed requests",
            "Requests counted as errors: a status outside the request's `expect` (default 200..=399) or no response (timeout, connect or request error), i.e. the series with an error_type label.".to_owned(),
            "short",
            failed_or_zero.clone(),
            steps(&[(None, "green"), (Some(1.0), "red")]),
        ),
        (
            "Error ratio",
            "Failed requests over all requests of the run so far, as the run report counts them.".to_owned(),
            "percentunit",
            format!("{failed_or_zero}\n/\n{all}"),
            steps(&[(None, "green"), (Some(0.01), "red")]),
        ),
        (
            "Iterations",
            format!("Iterations started so far ({ITERATIONS})."),
            "short",
            total(&format!("{ITERATIONS}{CLIENT}")),
            count,
        ),
        (
            "Dropped iterations",
            format!(
                "Iterations of the open model that were due but could not start because every user was busy ({DROPPED}). Above 0 the run sent less than its target: raise max_users, or the target is slower than planned."
            ),
            "short",
            total(&format!("{DROPPED}{CLIENT}")),
            steps(&[(None, "green"), (Some(1.0), "orange")]),
        ),
    ];
    let mut x = 0;
    for (title, description, unit, expr, thresholds) in cells {
        let mut p = stat(title, &description, unit, expr, thresholds);
        p["fieldConfig"]["defaults"]["decimals"] = json!(if unit == "percentunit" { 2 } else { 0 });
        p["fieldConfig"]["defaults"]["noValue"] = json!("no run data");
        // One number over the whole range, not a series of sums.
        p["targets"][0]["instant"] = json!(true);
        p["targets"][0]["range"] = json!(false);
        // 24 columns: four cells of 5 and the last of 4.
        let w = if x < 20 { 5 } else { 4 };
        grid.put(p, x, 0, w, 4);
        x += w;
    }
    grid.advance(4);
}

/// The client row: rates, errors, latency, iterations and users.
fn client_row(grid: &mut Grid) {
    let d = CLIENT_DURATION;
    let rate = |metric: &str, sel: &str, by: &str| {
        let by = if by.is_empty() {
            String::new()
        } else {
            format!(" by ({by})")
        };
        format!("sum{by} (rate({metric}{sel}[$__rate_interval]))")
    };
    let count = format!("{d}_count");
    let failed = with_matcher(CLIENT, "error_type!=\"\"");
    let answered = with_matcher(CLIENT, "http_response_status_code!=\"\"");
    grid.row("Client (loadgen)");
    grid.put(
        timeseries(
            "Client request rate by request",
            &format!(
                "Requests per second the load generator finished, by the scenario's request name (loadgen_request), from {count}."
            ),
            "reqps",
            targets(&[(
                "{{loadgen_request}}",
                rate(&count, CLIENT, "loadgen_request"),
            )]),
        ),
        0,
        0,
        12,
        8,
    );
    grid.put(
        timeseries(
            "Client request rate by status",
            &format!(
                "Answered requests per second by response status code, from {count}. Requests that got no response have no status: they are in the errors panel (timeout, connect, request)."
            ),
            "reqps",
            targets(&[(
                "{{http_response_status_code}}",
                rate(&count, &answered, "http_response_status_code"),
            )]),
        ),
        12,
        0,
        12,
        8,
    );
    grid.advance(8);

    grid.put(
        timeseries(
            "Client errors by type",
            &format!(
                "Failed requests per second by error_type: the status code for a status the request does not expect (e.g. 503), else timeout, connect or request. From {count}."
            ),
            "reqps",
            targets(&[("{{error_type}}", rate(&count, &failed, "error_type"))]),
        ),
        0,
        0,
        12,
        8,
    );
    let mut ratio = timeseries(
        "Client error ratio",
        "Share of the load generator's requests that failed, as the run report counts errors. Compare with the server's error ratio below: a gap is failures the server never saw (timeouts, refused connections) or statuses it does not count as errors.",
        "percentunit",
        targets(&[(
            "error ratio",
            format!(
                "(\n  {}\n  or\n  {} * 0\n)\n/\n{}",
                rate(&count, &failed, ""),
                rate(&count, CLIENT, ""),
                rate(&count, CLIENT, "")
            ),
        )]),
    );
    ratio["fieldConfig"]["defaults"]["min"] = json!(0);
    grid.put(ratio, 12, 0, 12, 8);
    grid.advance(8);

    let quantiles = |metric: &str| {
        let mut t = targets(&[
            ("p50", quantile(metric, "0.5", "le")),
            ("p90", quantile(metric, "0.9", "le")),
            ("p99", quantile(metric, "0.99", "le")),
        ]);
        for target in &mut t {
            target["exemplar"] = json!(true);
        }
        t
    };
    grid.put(
        timeseries(
            "Client latency p50 / p90 / p99 (corrected)",
            &format!(
                "Latency percentiles counted from each request's intended start ({CLIENT_LATENCY}), so time a request waited behind a slow one counts (coordinated omission corrected). This is what users of an open system would see."
            ),
            "s",
            quantiles(CLIENT_LATENCY),
        ),
        0,
        0,
        12,
        8,
    );
    grid.put(
        timeseries(
            "Client latency p50 / p90 / p99 (as sent)",
            &format!(
                "Latency percentiles from the moment each request was actually sent to its end ({d}, the OpenTelemetry HTTP client duration). Well below the corrected panel means the generator fell behind its schedule."
            ),
            "s",
            quantiles(d),
        ),
        12,
        0,
        12,
        8,
    );
    grid.advance(8);

    let mut by_request = timeseries(
        "Client latency p99 by request (corrected)",
        &format!(
            "The 99th percentile from the intended start per request name ({CLIENT_LATENCY})."
        ),
        "s",
        targets(&[(
            "{{loadgen_request}}",
            quantile(CLIENT_LATENCY, "0.99", "le, loadgen_request"),
        )]),
    );
    by_request["targets"][0]["exemplar"] = json!(true);
    grid.put(by_request, 0, 0, 8, 8);
    grid.put(
        timeseries(
            "Iteration rate: target, started, dropped",
            &format!(
                "Iterations per second: the open model's target rate ({TARGET_RATE}; a closed run has none), the iterations started ({ITERATIONS}) and those dropped because no user was free ({DROPPED})."
            ),
            "ops",
            targets(&[
                ("target", format!("sum({TARGET_RATE}{CLIENT})")),
                ("started", rate(ITERATIONS, CLIENT, "")),
                ("dropped", rate(DROPPED, CLIENT, "")),
            ]),
        ),
        8,
        0,
        8,
        8,
    );
    grid.put(
        timeseries(
            "Users: active and target",
            &format!(
                "Users in an iteration right now ({ACTIVE_USERS}), and the closed model's target number of users ({TARGET_USERS}; an open run has none)."
            ),
            "short",
            targets(&[
                ("active", format!("sum({ACTIVE_USERS}{CLIENT})")),
                ("target", format!("sum({TARGET_USERS}{CLIENT})")),
            ]),
        ),
        16,
        0,
        8,
        8,
    );
    grid.advance(8);
}

/// `histogram_quantile(q, ...)` over the rate of a client histogram.
fn quantile(metric: &str, q: &str, by: &str) -> String {
    format!(
        "histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{CLIENT}[$__rate_interval])))"
    )
}

/// The load test dashboard of a service: loadgen's client metrics of one
/// run beside the server's traffic row read through `opts`.
pub fn dashboard(service: &Service, opts: &Options) -> Result<Value, DashboardError> {
    let traffic = dashboard::check_options(service, opts)?;
    let mut grid = Grid::new();
    run_row(&mut grid);
    client_row(&mut grid);
    traffic.row(&mut grid, &format!("Server ({})", service.name));
    let mut d = json!({
        "uid": uid(&service.name),
        "title": format!("{} load test", service.name),
        "description": format!(
            "One load test run against {}: loadgen's client metrics (remote write or scrape, filtered by run and shard) beside the server's traffic. Generated by `slo dashboard --loadtest` from the service's SLO spec: regenerate rather than editing here.",
            service.name
        ),
        "tags": ["loadtest", service.name],
        "timezone": "browser",
        "editable": true,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-30m", "to": "now"},
        "timepicker": {},
        "links": [{
            "title": format!("{} SLOs", service.name),
            "type": "link",
            "icon": "dashboard",
            "tooltip": "The service's SLO dashboard over the same time",
            "url": format!("/d/{}", dashboard::uid(&service.name)),
            "tags": [],
            "asDropdown": false,
            "targetBlank": false,
            "includeVars": false,
            "keepTime": true,
        }],
        "templating": {"list": [
            datasource_variable("The Prometheus that receives loadgen's metrics (remote write or scrape) and scrapes the service."),
            {
                "type": "query",
                "name": RUN_LABEL,
                "label": "Run",
                "description": "The load test run (loadgen --run-id; the report's run_id). Runs with data in the time range are listed.",
                "datasource": ds(),
                "query": format!("label_values({ITERATIONS}, {RUN_LABEL})"),
                "refresh": 2,
                "sort": 0,
                "multi": false,
                "includeAll": false,
                // No run chosen: Grafana picks the first one it lists.
                "current": {"text": "", "value": ""},
            },
            {
                "type": "query",
                "name": SHARD_LABEL,
                "label": "Shard",
                "description": "Shards of a split run (loadgen --shard-index). All sums them, and also matches a run that is not split.",
                "datasource": ds(),
                "query": format!("label_values({ITERATIONS}{{{RUN_LABEL}=\"$loadgen_run\"}}, {SHARD_LABEL})"),
                "refresh": 2,
                "sort": 3,
                "multi": true,
                "includeAll": true,
                "allValue": ".*",
                "current": {"text": ["All"], "value": ["$__all"]},
            },
        ]},
        "annotations": {"list": [{
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": true,
            "hide": true,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }]},
        "panels": grid.panels,
    });
    if let (Some(route), Some(list)) = (
        traffic.variable("the server row"),
        d["templating"]["list"].as_array_mut(),
    ) {
        list.push(route);
    }
    let problems = dashboard::lint(&d);
    if !problems.is_empty() {
        return Err(DashboardError::Lint(problems.join("; ")));
    }
    Ok(d)
}

/// The dashboard as a ConfigMap `SERVICE-loadtest-dashboard` for Grafana's
/// dashboard sidecar, in the folder `Load tests`.
pub fn configmap(service: &Service, dashboard: &Value) -> Value {
    sidecar_configmap(
        service,
        "loadtest-dashboard",
        &format!("{}-loadtest", service.name),
        "Load tests",
        dashboard,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::{all_panels, expand_vars, lint, queries};
    use std::path::Path;

    fn service() -> Service {
        crate::spec::parse(
            include_str!("../../alerts/target-app.slo.yaml"),
            Path::new("target-app.slo.yaml"),
        )
        .unwrap()
    }

    fn board() -> Value {
        let s = service();
        dashboard(&s, &Options::for_service(&s)).unwrap()
    }

    #[test]
    fn the_target_apps_loadtest_dashboard_is_lint_clean_and_deterministic() {
        let d = board();
        assert_eq!(lint(&d), Vec::<String>::new());
        assert_eq!(d, board());
        assert_eq!(d["uid"], "loadtest-target-app");
    }

    #[test]
    fn client_queries_filter_by_run_and_shard_and_server_queries_by_the_service() {
        let qs = queries(&board());
        let mut client = 0;
        let mut server = 0;
        for q in qs.iter().filter(|q| q.label_values.is_none()) {
            if q.expr.contains("loadgen_") || q.expr.contains("http_client_") {
                client += 1;
                assert!(
                    q.expr.contains("loadgen_run=\"$loadgen_run\"")
                        && q.expr.contains("loadgen_shard=~\"$loadgen_shard\""),
                    "{}: {}",
                    q.place,
                    q.expr
                );
            } else {
                server += 1;
                assert!(
                    q.expr.contains("http_server_request_duration_seconds")
                        && q.expr.contains("job=\"target-app\""),
                    "{}: {}",
                    q.place,
                    q.expr
                );
            }
        }
        assert!(client >= 15, "{client}");
        assert_eq!(server, 6);
        let run = qs
            .iter()
            .find(|q| q.place == "variable loadgen_run")
            .unwrap();
        assert_eq!(run.expr, "loadgen_iterations_total");
        assert_eq!(run.label_values.as_deref(), Some("loadgen_run"));
        let shard = qs
            .iter()
            .find(|q| q.place == "variable loadgen_shard")
            .unwrap();
        assert_eq!(shard.label_values.as_deref(), Some("loadgen_shard"));
        assert!(qs.iter().any(|q| q.place == "variable route"));
    }

    #[test]
    fn both_latencies_at_three_percentiles() {
        let d = board();
        for (title, metric) in [
            (
                "Client latency p50 / p90 / p99 (corrected)",
                "loadgen_request_latency_seconds_bucket",
            ),
            (
                "Client latency p50 / p90 / p99 (as sent)",
                "http_client_request_duration_seconds_bucket",
            ),
        ] {
            let p = all_panels(&d)
                .into_iter()
                .find(|p| p["title"] == title)
                .unwrap_or_else(|| panic!("no panel {title}"));
            let exprs: Vec<&str> = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["expr"].as_str().unwrap())
                .collect();
            assert_eq!(exprs.len(), 3);
            for (e, q) in exprs.iter().zip(["0.5", "0.9", "0.99"]) {
                assert!(
                    e.starts_with(&format!("histogram_quantile({q}, ")) && e.contains(metric),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn another_selector_reaches_the_server_row_only() {
        let s = service();
        let opts = Options {
            selector: Some("{service=\"shop\"}".into()),
            ..Options::for_service(&s)
        };
        let d = dashboard(&s, &opts).unwrap();
        for q in queries(&d) {
            if q.expr.contains("http_server_") {
                assert!(q.expr.contains("service=\"shop\""), "{}", q.expr);
            } else {
                assert!(!q.expr.contains("shop"), "{}", q.expr);
            }
        }
        let bad = Options {
            selector: Some("{job=}".into()),
            ..Options::for_service(&s)
        };
        assert!(
            dashboard(&s, &bad)
                .unwrap_err()
                .to_string()
                .contains("label matchers")
        );
    }

    #[test]
    fn variables_expand_to_what_prometheus_receives() {
        let e = "sum(rate(x{loadgen_run=\"$loadgen_run\", loadgen_shard=~\"${loadgen_shard}\", r=~\"$route\"}[$__rate_interval]))";
        assert_eq!(
            expand_vars(e, "15s", &[("loadgen_run", "abc"), ("loadgen_shard", "1")]),
            "sum(rate(x{loadgen_run=\"abc\", loadgen_shard=~\"1\", r=~\".*\"}[15s]))"
        );
        assert_eq!(
            crate::dashboard::expand("a{b=~\"x$\"} $ ${}", "1m"),
            "a{b=~\"x$\"} $ ${}"
        );
    }

    #[test]
    fn configmap_names_the_loadtest_file() {
        let s = service();
        let d = board();
        let cm = configmap(&s, &d);
        assert_eq!(cm["metadata"]["name"], "target-app-loadtest-dashboard");
        assert_eq!(
            cm["metadata"]["annotations"]["grafana_folder"],
            "Load tests"
        );
        let text = cm["data"]["target-app-loadtest.json"].as_str().unwrap();
        assert_eq!(serde_json::from_str::<Value>(text).unwrap(), d);
    }
}
