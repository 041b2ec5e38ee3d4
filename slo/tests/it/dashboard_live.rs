//! Every query of the checked-in dashboard, prometheus-adapter rule and
//! KEDA trigger runs against a real Prometheus scraping the real target app
//! (with the checked-in SLO rules, evaluated every second) and returns data.
//! Errors and slow orders are injected so the firing-alert queries have
//! something to show.

use crate::util::{self, query, root};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TOKEN: &str = "dashboard-live-token";
/// The namespace and pod the scrape labels the app with, as Kubernetes
/// service discovery would; the KEDA query names this namespace.
const NAMESPACE: &str = "target-app-prod";
const POD: &str = "target-app-0";

/// Products at 30/s and orders at 10/s until `stop` (at most 3 minutes).
fn traffic(base: String, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(180) {
            tick.tick().await;
            n += 1;
            let c = client.clone();
            let base = base.clone();
            tokio::spawn(async move {
                if n % 4 == 0 {
                    let _ = c
                        .post(format!("{base}/api/orders"))
                        .json(&json!({"product_id": 1, "quantity": 1}))
                        .send()
                        .await;
                } else {
                    let _ = c.get(format!("{base}/api/products")).send().await;
                }
            });
        }
    });
}

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

/// Every query to run: (where, PromQL as Prometheus receives it).
fn all_queries() -> Vec<(String, String)> {
    let d: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/target-app.json")).unwrap(),
    )
    .unwrap();
    let mut out: Vec<(String, String)> = slo::dashboard::queries(&d)
        .into_iter()
        .map(|q| (q.place, slo::dashboard::expand(&q.expr, "15s")))
        .collect();
    let adapter = yaml("k8s/components/hpa/prometheus-adapter-values.yaml");
    let rule = &adapter["rules"]["custom"][0];
    let series = rule["seriesQuery"].as_str().unwrap().to_owned();
    let metric = series.split('{').next().unwrap().to_owned();
    out.push(("adapter seriesQuery".into(), series));
    // The query the adapter sends for the pods of one namespace.
    out.push((
        "adapter metricsQuery".into(),
        rule["metricsQuery"]
            .as_str()
            .unwrap()
            .replace("<<.Series>>", &metric)
            .replace(
                "<<.LabelMatchers>>",
                &format!("namespace=\"{NAMESPACE}\", pod=~\"{POD}|other-pod\""),
            )
            .replace("<<.GroupBy>>", "pod"),
    ));
    let keda = yaml("k8s/components/keda/scaledobject.yaml");
    out.push((
        "KEDA trigger".into(),
        keda["spec"]["triggers"][0]["metadata"]["query"]
            .as_str()
            .unwrap()
            .to_owned(),
    ));
    out
}

#[test]
fn every_query_parses() {
    let qs = all_queries();
    assert!(qs.len() > 30, "{}", qs.len());
    for (place, q) in &qs {
        assert!(
            !q.contains('$') && !q.contains("<<"),
            "{place}: unexpanded {q}"
        );
        slo::promql::check(q).unwrap_or_else(|e| panic!("{place}: {q}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_returns_data_from_a_real_prometheus() {
    let _alone = util::Alone::wait();
    let app = util::start_app(Some(TOKEN)).await;
    let base = format!("http://{}", app.addr);
    let admin = app.admin_addr.unwrap().to_string();

    // The checked-in rules, every group evaluated each second.
    let dir = tempfile::tempdir().unwrap();
    let rules: String = std::fs::read_to_string(root().join("alerts/target-app.rules.yml"))
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
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: target-app\n    static_configs:\n      - targets: ['{}']\n        labels:\n          namespace: {NAMESPACE}\n          pod: {POD}\n",
        rules_path.display(),
        app.addr
    );
    let (_prom_guard, prom) = util::start_prometheus(dir.path(), &config, &[], 200).await;

    let stop = Arc::new(AtomicBool::new(false));
    let _stop = util::StopOnDrop(stop.clone());
    traffic(base, stop);
    // Half the product requests fail and every order is slow: both SLOs burn.
    util::set_faults(
        &admin,
        TOKEN,
        json!({"rules": [
            {"route": "/api/products", "error_rate": 0.5},
            {"route": "/api/orders", "latency": "400ms"},
        ]}),
    )
    .await;

    let queries = all_queries();
    let started = Instant::now();
    let mut missing: Vec<(String, String)> = queries.clone();
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

    // The values make sense, not only exist.
    let keda = &queries.iter().find(|(p, _)| p == "KEDA trigger").unwrap().1;
    // Over its own 2m range the rate still averages in the time before the
    // first scrape; over the last 5 s it is the traffic sent.
    assert!(keda.contains("[2m]"), "{keda}");
    let recent = keda.replace("[2m]", "[5s]");
    let rps: f64 = query(&prom, &recent).await["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (10.0..=80.0).contains(&rps),
        "KEDA sees {rps} req/s, sent 40/s"
    );
    let adapter = &queries
        .iter()
        .find(|(p, _)| p == "adapter metricsQuery")
        .unwrap()
        .1;
    let v = query(&prom, adapter).await;
    assert_eq!(v["data"]["result"][0]["metric"]["pod"], POD, "{v}");
    let firing = query(
        &prom,
        "ALERTS{slo_service=\"target-app\", alertstate=\"firing\", severity=\"page\"}",
    )
    .await;
    let slos: Vec<&str> = firing["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["metric"]["slo"].as_str())
        .collect();
    assert!(
        slos.contains(&"availability") && slos.contains(&"orders-latency"),
        "page alerts firing for {slos:?}"
    );
}
