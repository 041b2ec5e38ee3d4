//! `slo gate` and `slo report` against a real Prometheus (1 s scrape) that
//! scrapes the real target app while traffic runs with injected errors.

use crate::util::{self, slo};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use target_app::faults::{FaultPlan, FaultRule};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn start_prometheus(target: &str, dir: &std::path::Path) -> (util::Guard, String) {
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
    );
    util::start_prometheus(dir, &config, &[], 200).await
}

/// Sends `n` requests to /api/products, 4 at a time; returns (total, 5xx).
async fn traffic(base: &str, n: usize) -> (usize, usize) {
    let (total, errors, _) = traffic_with(base, n, 4, Duration::MAX).await;
    (total, errors)
}

/// Sends `n` requests, `width` at a time; returns (total, 5xx, slower than `slow`).
async fn traffic_with(base: &str, n: usize, width: usize, slow: Duration) -> (usize, usize, usize) {
    let client = reqwest::Client::new();
    let (mut errors, mut slow_count) = (0, 0);
    for chunk in 0..n.div_ceil(width) {
        let mut handles = Vec::new();
        for _ in 0..width.min(n - chunk * width) {
            let c = client.clone();
            let url = format!("{base}/api/products");
            handles.push(tokio::spawn(async move {
                let start = std::time::Instant::now();
                let status = c.get(url).send().await.unwrap().status();
                (status, start.elapsed())
            }));
        }
        for h in handles {
            let (status, took) = h.await.unwrap();
            errors += usize::from(status.is_server_error());
            slow_count += usize::from(took > slow);
        }
    }
    (n, errors, slow_count)
}

/// `slo gate SPEC --prometheus PROM --from FROM --to TO EXTRA...`
fn gate(
    spec: &str,
    prom: &str,
    from: i64,
    to: i64,
    extra: &[&str],
) -> (Option<i32>, String, String) {
    let (from, to) = (from.to_string(), to.to_string());
    let mut args = vec![
        "gate",
        spec,
        "--prometheus",
        prom,
        "--from",
        &from,
        "--to",
        &to,
    ];
    args.extend_from_slice(extra);
    slo(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_and_report_against_real_prometheus() {
    let _alone = util::Alone::wait();
    let app = util::start_app(None).await;
    let base = format!("http://{}", app.addr);
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "version: slo/v1\nservice: app\nslos:\n  - name: availability\n    objective: 99\n    period: 30d\n    min_events: 10\n    sli:\n      availability:\n        selector: '{job=\"app\", http_route=\"/api/products\"}'\n  - name: fast\n    objective: 90\n    period: 30d\n    min_events: 10\n    sli:\n      latency:\n        metric: http_server_request_duration_seconds\n        selector: '{job=\"app\", http_route=\"/api/products\"}'\n        threshold: 0.1\n",
    )
    .unwrap();
    let spec = spec.to_str().unwrap().to_owned();
    let (prom_guard, prom) = start_prometheus(&app.addr.to_string(), dir.path()).await;
    // Prometheus applies discovered targets a few seconds after start: wait for a scrape.
    let mut scraped = false;
    for _ in 0..300 {
        let body = reqwest::get(format!("{prom}/api/v1/query?query=up%7Bjob%3D%22app%22%7D"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if body.contains("\"1\"]") {
            scraped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(scraped, "Prometheus never scraped the target app");

    // Create both series (200 and 500) before the measured window.
    traffic(&base, 10).await;
    app.state.faults.set(FaultPlan {
        rules: vec![FaultRule {
            error_rate: 1.0,
            ..FaultRule::default()
        }],
        stall: None,
        steps: Vec::new(),
    });
    traffic(&base, 1).await;
    app.state.faults.set(FaultPlan::default());
    tokio::time::sleep(Duration::from_secs(3)).await;

    // A faulty window: 5% of requests fail.
    let from = now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.state.faults.set(FaultPlan {
        rules: vec![FaultRule {
            error_rate: 0.05,
            error_status: Some(500),
            ..FaultRule::default()
        }],
        stall: None,
        steps: Vec::new(),
    });
    let (total, errors) = traffic(&base, 3000).await;
    app.state.faults.set(FaultPlan::default());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let to = now() + 1;
    let client_ratio = errors as f64 / total as f64;
    assert!(
        (0.03..0.07).contains(&client_ratio),
        "injected 5%, client saw {client_ratio}"
    );

    let json = dir.path().join("gate.json");
    let (code, stdout, stderr) = gate(
        &spec,
        &prom,
        from,
        to,
        &[
            "--json",
            json.to_str().unwrap(),
            "--junit",
            dir.path().join("gate.xml").to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(99), "{stdout}{stderr}");
    let xml = std::fs::read_to_string(dir.path().join("gate.xml")).unwrap();
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(stdout.contains("FAIL availability"), "{stdout}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let sli = results[0]["sli"].as_f64().unwrap();
    assert!(
        ((1.0 - sli) - client_ratio).abs() < 0.005,
        "Prometheus error ratio {} vs client {client_ratio}",
        1.0 - sli
    );
    assert!(
        ((1.0 - sli) - 0.05).abs() < 0.02,
        "error ratio {} vs injected 5%",
        1.0 - sli
    );
    let burn = results[0]["burn_rate"].as_f64().unwrap();
    assert!((burn - (1.0 - sli) / 0.01).abs() < 1e-6);

    // A clean window passes. (A window must hold a scrape before the traffic:
    // increase() sees only what happens between samples.)
    let from = now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    traffic(&base, 500).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let to = now() + 1;
    let (code, stdout, stderr) = gate(&spec, &prom, from, to, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("PASS availability"), "{stdout}");

    // A window without traffic is inconclusive, never a pass.
    let quiet_from = now() - 1_000_000;
    let (code, stdout, _) = gate(&spec, &prom, quiet_from, quiet_from + 60, &[]);
    assert_eq!(code, Some(3), "{stdout}");
    assert!(stdout.contains("INCONCLUSIVE"), "{stdout}");

    // The report sees the errors in its short windows.
    let (code, stdout, stderr) = slo(&["report", &spec, "--prometheus", &prom, "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let five = &report[0]["windows"][0];
    assert_eq!(five["window"], "5m");
    assert!(five["burn_rate"].as_f64().unwrap() > 0.5, "{five}");
    assert!(report[0]["budget_remaining_errors"].as_f64().is_some());
    assert_eq!(report[0]["alerts"].as_array().unwrap().len(), 4);

    // `slo check --prometheus`: metrics exist, latency thresholds are buckets.
    let (code, stdout, stderr) = slo(&["check", &spec, "--prometheus", &prom]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("availability: 2 series in Prometheus"),
        "{stdout}"
    );
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "version: slo/v1\nservice: app\nslos:\n  - name: fast\n    objective: 99\n    sli:\n      latency:\n        metric: http_server_request_duration_seconds\n        selector: '{job=\"app\"}'\n        threshold: 0.2\n  - name: elsewhere\n    objective: 99\n    sli:\n      availability:\n        selector: '{job=\"nope\"}'\n",
    )
    .unwrap();
    let (code, _, stderr) = slo(&["check", bad.to_str().unwrap(), "--prometheus", &prom]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("latency threshold 0.2s is not a bucket"),
        "{stderr}"
    );
    assert!(stderr.contains("0.25, 0.3"), "lists the buckets: {stderr}");
    assert!(
        stderr.contains("no series match http_server_request_duration_seconds_count{job=\"nope\"}"),
        "{stderr}"
    );

    // A slow window: latency uniform in 0..200 ms, so about half the requests
    // are over the 100 ms threshold.
    let from = now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.state.faults.set(FaultPlan {
        rules: vec![FaultRule {
            jitter: Some(Duration::from_millis(200)),
            ..FaultRule::default()
        }],
        stall: None,
        steps: Vec::new(),
    });
    let (total, _, slow) = traffic_with(&base, 600, 32, Duration::from_millis(100)).await;
    app.state.faults.set(FaultPlan::default());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let to = now() + 1;
    let json = dir.path().join("slow.json");
    let (code, stdout, stderr) = gate(&spec, &prom, from, to, &["--json", json.to_str().unwrap()]);
    assert_eq!(code, Some(99), "{stdout}{stderr}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let fast = results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "fast")
        .unwrap();
    let slow_share = 1.0 - fast["sli"].as_f64().unwrap();
    let client_share = slow as f64 / total as f64;
    assert!(
        (slow_share - 0.5).abs() < 0.1,
        "{slow_share} of requests over 100 ms, injected about 0.5"
    );
    // The client also counts its own network and scheduling time, so it sees a
    // little more over the threshold than the server's histogram, never less.
    let gap = client_share - slow_share;
    assert!(
        (-0.01..0.05).contains(&gap),
        "Prometheus {slow_share} vs client {client_share}"
    );
    assert!(stdout.contains("FAIL fast"), "{stdout}");

    // Prometheus gone: inconclusive (3) with a clear message.
    drop(prom_guard);
    let (code, _, stderr) = gate(
        &spec,
        &prom,
        from,
        to,
        &["--retries", "1", "--timeout", "1s"],
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("did not answer after 2 attempts"),
        "{stderr}"
    );
}
