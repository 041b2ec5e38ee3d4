//! Every query of the checked-in load test dashboard runs against a real
//! Prometheus and returns data, while two real loadgen runs (in this
//! process) drive the real target app: an open-model run that drops
//! iterations and meets errors (a 404 route, 500s injected) and writes its
//! metrics with `--remote-write` into Prometheus's receiver, and a
//! closed-model run that is shard 1 of 2 and serves them on
//! `--metrics-listen` for Prometheus to scrape (both ways a run reaches the
//! dashboard). Prometheus also scrapes the app. The dashboard's variables
//! are set to one run (and shard) at a time, as Grafana would send them.

use crate::util::{self, query, root};

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

const TOKEN: &str = "loadtest-live-token";
const OPEN_RUN: &str = "live-open-run";
const CLOSED_RUN: &str = "live-closed-shard";
/// How long each loadgen run runs: the queries are asked while they run
/// (a scraped series goes stale once its endpoint is gone).
const RUN_SECS: u64 = 40;

/// An open model at 60 iterations/s that 2 users cannot keep (each
/// products request is held 50 ms), with a queue of 1: iterations drop.
fn open_scenario(base: &str) -> String {
    format!(
        "name: live-open
base_url: {base}
timeout: 5s
scenarios:
  - name: browse
    requests:
      - name: list products
        path: /api/products
      - name: missing
        path: /api/nothing-here
load:
  model: open
  rate: 60
  duration: {RUN_SECS}s
  max_users: 2
  max_queue: 1
"
    )
}

/// A closed model of 2 users (the shard runs one of them).
fn closed_scenario(base: &str) -> String {
    format!(
        "name: live-closed
base_url: {base}
timeout: 5s
scenarios:
  - name: walk
    think_time: 50ms
    requests:
      - name: get product
        path: /api/products/1
load:
  model: closed
  users: 2
  duration: {RUN_SECS}s
"
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// Starts `loadgen run FILE ARGS...` in this process; its exit code when done.
fn loadgen(args: Vec<String>) -> tokio::task::JoinHandle<Result<i32, String>> {
    tokio::spawn(async move {
        let cli = loadgen::cli::Cli::parse_from(std::iter::once("loadgen".to_owned()).chain(args));
        loadgen::cli::run(cli)
            .await
            .map(|e| i32::from(e.code()))
            .map_err(|e| format!("exit {}: {:#}", e.exit.code(), e.error))
    })
}

/// The dashboard's queries: (where, as written, whether a label_values
/// variable query and its label).
fn dashboard_queries() -> Vec<slo::dashboard::Query> {
    let d: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/loadtest.json")).unwrap(),
    )
    .unwrap();
    slo::dashboard::queries(&d)
}

/// The series of an instant query (asserting it succeeded).
async fn series(prom: &str, q: &str) -> Vec<Value> {
    let v = query(prom, q).await;
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Whether a query has the data it should under the variables `vars`: any
/// series for a panel's query; for a variable's query, series carrying its
/// label (with the value `want` when given).
async fn has_data(
    prom: &str,
    q: &slo::dashboard::Query,
    vars: &[(&str, &str)],
    want: Option<&str>,
) -> bool {
    let expr = slo::dashboard::expand_vars(&q.expr, "15s", vars);
    let found = series(prom, &expr).await;
    match &q.label_values {
        None => !found.is_empty(),
        Some(label) => found.iter().any(|s| {
            s["metric"][label]
                .as_str()
                .is_some_and(|v| !v.is_empty() && want.is_none_or(|w| w == v))
        }),
    }
}

fn value(s: &[Value]) -> f64 {
    assert_eq!(s.len(), 1, "{s:?}");
    s[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_loadtest_query_returns_data_from_a_real_prometheus() {
    let _alone = util::Alone::wait();
    let app = util::start_app(Some(TOKEN)).await;
    let base = format!("http://{}", app.addr);
    let admin = app.admin_addr.unwrap().to_string();
    // A fifth of the products requests fail with a 5xx, and each is held
    // 50 ms so that the open run's two users fall behind.
    util::set_faults(
        &admin,
        TOKEN,
        json!({"rules": [
            {"route": "/api/products", "error_rate": 0.2, "latency": "50ms"},
        ]}),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let closed_listen = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: target-app\n    static_configs:\n      - targets: ['{}']\n  - job_name: loadgen\n    static_configs:\n      - targets: ['{closed_listen}']\n",
        app.addr
    );
    let (_prom_guard, prom) = util::start_prometheus(
        dir.path(),
        &config,
        &["--web.enable-remote-write-receiver".to_owned()],
        200,
    )
    .await;
    let remote_write = format!("{prom}/api/v1/write");

    let open_file = dir.path().join("open.yaml");
    std::fs::write(&open_file, open_scenario(&base)).unwrap();
    let closed_file = dir.path().join("closed.yaml");
    std::fs::write(&closed_file, closed_scenario(&base)).unwrap();
    let run_args = |file: &std::path::Path, run: &str, extra: &[&str]| {
        let mut a: Vec<String> = [
            "run",
            file.to_str().unwrap(),
            "--quiet",
            "--run-id",
            run,
            "--report",
            dir.path().join(format!("{run}.json")).to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let open = loadgen(run_args(
        &open_file,
        OPEN_RUN,
        &[
            "--remote-write",
            &remote_write,
            "--remote-write-interval",
            "1s",
        ],
    ));
    let closed = loadgen(run_args(
        &closed_file,
        CLOSED_RUN,
        &[
            "--metrics-listen",
            &closed_listen,
            "--shard-count",
            "2",
            "--shard-index",
            "1",
        ],
    ));

    let open_vars = [("loadgen_run", OPEN_RUN), ("loadgen_shard", ".*")];
    let shard_vars = [("loadgen_run", CLOSED_RUN), ("loadgen_shard", "1")];
    let queries = dashboard_queries();
    assert!(queries.len() > 25, "{}", queries.len());
    // What each query needs: the open run has everything but the closed
    // model's target users; the shard has those, and its shard label.
    let needs = |q: &slo::dashboard::Query| -> (&[(&str, &str)], Option<&str>) {
        match (q.place.as_str(), q.expr.contains("loadgen_target_users")) {
            ("variable loadgen_run", _) => (&open_vars, Some(OPEN_RUN)),
            ("variable loadgen_shard", _) => (&shard_vars, Some("1")),
            (_, true) => (&shard_vars, None),
            _ => (&open_vars, None),
        }
    };
    let started = Instant::now();
    let mut missing: Vec<&slo::dashboard::Query> = queries.iter().collect();
    while !missing.is_empty() && started.elapsed() < Duration::from_secs(RUN_SECS - 5) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut still = Vec::new();
        for q in missing {
            let (vars, want) = needs(q);
            if !has_data(&prom, q, vars, want).await {
                still.push(q);
            }
        }
        missing = still;
    }
    let missing: Vec<(String, String)> = missing
        .iter()
        .map(|q| (q.place.clone(), q.expr.clone()))
        .collect();
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

    // The values make sense, not only exist: read through the dashboard's
    // own queries, by panel.
    let panel_query = |title: &str, target: &str| -> String {
        let q = queries
            .iter()
            .find(|q| {
                q.place.starts_with(&format!("panel {title:?}"))
                    && q.place.ends_with(&format!("target {target}"))
            })
            .unwrap_or_else(|| panic!("no query {title} {target}"));
        q.expr.clone()
    };
    let ask = |expr: String, vars: &'static [(&'static str, &'static str)]| {
        let prom = prom.clone();
        async move { series(&prom, &slo::dashboard::expand_vars(&expr, "15s", vars)).await }
    };
    const OPEN: &[(&str, &str)] = &[("loadgen_run", OPEN_RUN), ("loadgen_shard", ".*")];
    const SHARD: &[(&str, &str)] = &[("loadgen_run", CLOSED_RUN), ("loadgen_shard", "1")];
    const OTHER_SHARD: &[(&str, &str)] = &[("loadgen_run", CLOSED_RUN), ("loadgen_shard", "0")];
    let target_rate = value(
        &ask(
            panel_query("Iteration rate: target, started, dropped", "A"),
            OPEN,
        )
        .await,
    );
    assert_eq!(target_rate, 60.0);
    let dropped = value(&ask(panel_query("Dropped iterations", "A"), OPEN).await);
    assert!(dropped > 0.0, "dropped {dropped}");
    let requests = value(&ask(panel_query("Requests", "A"), OPEN).await);
    let failed = value(&ask(panel_query("Failed requests", "A"), OPEN).await);
    // The 404 route is half the requests sent, and a fifth of the rest fail.
    assert!(
        failed > 0.45 * requests && failed < 0.8 * requests,
        "{failed} of {requests} failed"
    );
    let by_type = ask(panel_query("Client errors by type", "A"), OPEN).await;
    let mut types: Vec<&str> = by_type
        .iter()
        .map(|s| s["metric"]["error_type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types.first(), Some(&"404"), "{types:?}");
    assert!(types.iter().any(|t| t.starts_with('5')), "{types:?}");
    // Corrected latency is never below the latency as sent.
    let p99 = |title: &str| panel_query(title, "C");
    let corrected = value(&ask(p99("Client latency p50 / p90 / p99 (corrected)"), OPEN).await);
    let sent = value(&ask(p99("Client latency p50 / p90 / p99 (as sent)"), OPEN).await);
    assert!(corrected >= sent, "corrected {corrected} < sent {sent}");
    // The shard's target users: one of the two; no shard 0 in this process.
    let users = value(&ask(panel_query("Users: active and target", "B"), SHARD).await);
    assert_eq!(users, 1.0);
    assert!(
        ask(panel_query("Requests", "A"), OTHER_SHARD)
            .await
            .is_empty()
    );
    // The runs do not mix: the open run has no target users.
    assert!(
        ask(panel_query("Users: active and target", "B"), OPEN)
            .await
            .is_empty()
    );

    for (name, run) in [("open", open), ("closed", closed)] {
        let code = tokio::time::timeout(Duration::from_secs(RUN_SECS + 30), run)
            .await
            .unwrap_or_else(|_| panic!("the {name} run did not end"))
            .unwrap();
        assert_eq!(code, Ok(0), "the {name} run");
    }
    // After the final remote write, the run row's totals are the report's.
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(format!("{OPEN_RUN}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(report["run_id"], OPEN_RUN);
    assert_eq!(
        report["metrics"]["remote_write"]["final_sent"], true,
        "{}",
        report["metrics"]
    );
    let total = report["total"]["count"].as_f64().unwrap();
    let errors: f64 = report["total"]["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert_eq!(value(&ask(panel_query("Requests", "A"), OPEN).await), total);
    assert_eq!(
        value(&ask(panel_query("Failed requests", "A"), OPEN).await),
        errors
    );
    for (title, field) in [
        ("Iterations", "iterations"),
        ("Dropped iterations", "dropped_iterations"),
    ] {
        assert_eq!(
            value(&ask(panel_query(title, "A"), OPEN).await),
            report[field].as_f64().unwrap(),
            "{title}"
        );
    }
}
