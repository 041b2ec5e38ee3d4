//! A service in another metric shape against a real Prometheus: an
//! exposition written here, as a Flask app with prometheus_client would
//! export it (`requests_total{endpoint, status}`, `request_latency_ms` in
//! milliseconds), growing between scrapes, with the checked-in rules of
//! examples/slo/flask-app.slo.yaml evaluated every second. Every query of
//! the checked-in dashboard for it returns data, the values are in the right
//! units, `slo check --prometheus` reports the labels and the flags, and the
//! OpenTelemetry-shaped row it replaces would have shown nothing.

use crate::util::{self, query, root, slo};

use std::time::{Duration, Instant};

use serde_json::Value;

const SPEC: &str = "examples/slo/flask-app.slo.yaml";

/// Per scrape: `/` 22 requests (2 of them 404), `/checkout` 12 (8 of them
/// 500); latency buckets in milliseconds, 13 of the 34 requests above 250.
fn exposition(n: u64) -> String {
    let mut out = String::from("# HELP requests_total Requests.\n# TYPE requests_total counter\n");
    for (endpoint, status, per) in [
        ("/", "200", 20),
        ("/", "404", 2),
        ("/checkout", "200", 4),
        ("/checkout", "500", 8),
    ] {
        out.push_str(&format!(
            "requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {}\n",
            per * n
        ));
    }
    out.push_str(
        "# HELP request_latency_ms Request latency.\n# TYPE request_latency_ms histogram\n",
    );
    for (endpoint, cumulative) in [
        ("/", [10, 14, 16, 20, 22, 22]),
        ("/checkout", [2, 4, 5, 9, 12, 12]),
    ] {
        for (le, c) in ["50.0", "100.0", "250.0", "500.0", "1000.0", "+Inf"]
            .iter()
            .zip(cumulative)
        {
            out.push_str(&format!(
                "request_latency_ms_bucket{{endpoint=\"{endpoint}\",le=\"{le}\"}} {}\n",
                c * n
            ));
        }
        out.push_str(&format!(
            "request_latency_ms_sum{{endpoint=\"{endpoint}\"}} {}\nrequest_latency_ms_count{{endpoint=\"{endpoint}\"}} {}\n",
            150 * cumulative[5] * n,
            cumulative[5] * n
        ));
    }
    out
}

fn dashboard(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

/// Every query of a dashboard as Prometheus receives it: (where, PromQL).
fn all_queries(d: &Value) -> Vec<(String, String)> {
    slo::dashboard::queries(d)
        .into_iter()
        .map(|q| (q.place, slo::dashboard::expand(&q.expr, "15s")))
        .collect()
}

/// The first value an instant query answers for the series whose `label`
/// is `value` (any series when `label` is empty).
async fn value_of(prom: &str, q: &str, label: &str, value: &str) -> Option<f64> {
    let v = query(prom, q).await;
    v["data"]["result"]
        .as_array()?
        .iter()
        .find(|r| label.is_empty() || r["metric"][label] == value)?["value"][1]
        .as_str()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_shape_dashboard_has_data_for_every_query() {
    let _alone = util::Alone::wait();
    let (addr, _exporter) = util::serve_exposition(exposition).await;

    // The checked-in rules, every group evaluated each second.
    let dir = tempfile::tempdir().unwrap();
    let rules: String =
        std::fs::read_to_string(root().join("examples/slo/flask-app/flask-app.rules.yml"))
            .unwrap()
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("interval:") {
                    let indent = &l[..l.len() - l.trim_start().len()];
                    format!("{indent}interval: 1s\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
    let rules_path = dir.path().join("rules.yml");
    std::fs::write(&rules_path, rules).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: flask-app\n    static_configs:\n      - targets: ['{addr}']\n",
        rules_path.display()
    );
    let (_prom_guard, prom) = util::start_prometheus(dir.path(), &config, &[], 200).await;

    let d = dashboard("examples/slo/flask-app.dashboard.json");
    assert_eq!(slo::dashboard::lint(&d), Vec::<String>::new());
    let queries = all_queries(&d);
    assert!(queries.len() > 30, "{}", queries.len());
    let started = Instant::now();
    let mut missing = queries.clone();
    while !missing.is_empty() && started.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut still = Vec::new();
        for (place, q) in missing {
            let v = query(&prom, &q).await;
            assert_eq!(v["status"], "success", "{place}: {q}: {v}");
            if v["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
                still.push((place, q));
            }
        }
        missing = still;
    }
    assert!(
        missing.is_empty(),
        "no data after {:?} for: {missing:#?}",
        started.elapsed()
    );
    eprintln!(
        "{} queries returned data within {:.0} s",
        queries.len(),
        started.elapsed().as_secs_f64()
    );

    // The values make sense, in their units.
    let traffic = |title: &str| -> Vec<String> {
        let p = d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["title"] == title)
            .unwrap_or_else(|| panic!("no panel {title:?}"));
        p["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| slo::dashboard::expand(t["expr"].as_str().unwrap(), "5s"))
            .collect()
    };
    let errors = &traffic("Error ratio by route")[0];
    let checkout = value_of(&prom, errors, "endpoint", "/checkout").await;
    assert!(
        checkout.is_some_and(|r| (0.6..=0.72).contains(&r)),
        "checkout error ratio {checkout:?} (8 of 12 fail)"
    );
    let home = value_of(&prom, errors, "endpoint", "/").await;
    assert_eq!(
        home,
        Some(0.0),
        "404s are not errors of the availability SLI"
    );
    let rate = &traffic("Request rate by route and status")[0];
    let ok = value_of(&prom, rate, "status", "404").await;
    assert!(
        ok.is_some_and(|r| (1.0..=3.0).contains(&r)),
        "404 rate {ok:?} (2/s)"
    );
    // p50 of all requests: 12 of 34 within 50 ms, 18 within 100 ms.
    let p50 = value_of(&prom, &traffic("Latency p50 / p95 / p99")[0], "", "").await;
    assert!(
        p50.is_some_and(|v| (50.0..=100.0).contains(&v)),
        "p50 {p50:?} ms"
    );
    // Every SLO of the spec burns: its firing alerts show.
    let firing = query(
        &prom,
        "ALERTS{slo_service=\"flask-app\", alertstate=\"firing\"}",
    )
    .await;
    let mut slos: Vec<&str> = firing["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["metric"]["slo"].as_str())
        .collect();
    slos.sort();
    slos.dedup();
    assert_eq!(slos, ["availability", "checkout", "latency"]);

    // slo check lists the labels it found and the flags to pass.
    let spec = root().join(SPEC);
    let spec = spec.to_str().unwrap();
    let (code, stdout, stderr) = slo(&["check", spec, "--prometheus", &prom]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    for want in [
        "labels of requests_total{job=\"flask-app\"}: endpoint, instance, job, status",
        "labels of requests_total{endpoint=\"/checkout\",job=\"flask-app\",status=~\"5..\"}: endpoint, instance, job, status",
        "labels of request_latency_ms_bucket{job=\"flask-app\"}: endpoint, instance, job, le",
        "dashboard traffic row: the SLIs' own series, requests_total{job=\"flask-app\"}",
        "route label: none known; the series have endpoint",
        "status label: status (named by the SLIs' selectors), on the series",
        "to break the traffic row down: slo dashboard",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }
    assert!(
        stdout.contains(&format!("slo dashboard {spec} --route-label endpoint\n")),
        "{stdout}"
    );
    // A label that is not on the series is said to be missing.
    let (code, stdout, _) = slo(&[
        "check",
        &root().join("alerts/target-app.slo.yaml").to_string_lossy(),
        "--prometheus",
        &prom,
    ]);
    assert_eq!(code, Some(2), "the target app's series are not here");
    assert!(
        stdout.contains("route label: http_route (OpenTelemetry), not on the series"),
        "{stdout}"
    );

    // The OpenTelemetry-shaped row the issue found empty: none of its
    // queries has data here.
    let (code, out, err) = slo(&[
        "dashboard",
        spec,
        "--metric",
        "http_server_request_duration_seconds",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let otel: Value = serde_json::from_str(&out).unwrap();
    let otel_traffic: Vec<(String, String)> = all_queries(&otel)
        .into_iter()
        .filter(|(_, q)| q.contains("http_server_request_duration_seconds"))
        .collect();
    assert!(otel_traffic.len() >= 6, "{otel_traffic:?}");
    for (place, q) in &otel_traffic {
        let v = query(&prom, q).await;
        assert_eq!(
            v["data"]["result"].as_array().map(Vec::len),
            Some(0),
            "{place}: {q}: {v}"
        );
    }
}
