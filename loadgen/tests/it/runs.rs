//! Runs against the real target app: rate accuracy, latency accuracy,
//! coordinated omission, the closed model, thresholds and interruption.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::{
    Dir, arg, interrupt_after, open_scenario, report, run_against, served, set_faults, spawn,
    target,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_holds_the_rate() {
    let app = target(0.0).await;
    let dir = Dir::new();
    for rate in [25.0, 100.0, 400.0] {
        let before = served(&app, "/api/products/{id}");
        let file = dir.write(
            "rate.yaml",
            &open_scenario("/api/products/{{ randint(1, 20) }}", rate, 4, 50, ""),
        );
        let rep = dir.path("rate.json");
        let out = run_against(&app, &file, &["--report", arg(&rep)]).await;
        assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
        let r = report(&rep);
        let iterations = r["iterations"].as_f64().unwrap();
        let elapsed = r["elapsed_s"].as_f64().unwrap();
        let achieved = iterations / elapsed;
        assert!(
            (achieved - rate).abs() / rate <= 0.02,
            "rate {rate}: achieved {achieved} ({iterations} in {elapsed}s)"
        );
        assert_eq!(r["dropped_iterations"], 0);
        // The server saw them too.
        let got = served(&app, "/api/products/{id}") - before;
        assert!(
            (got - rate * 4.0).abs() / (rate * 4.0) <= 0.02,
            "rate {rate}: server got {got}"
        );
        // Full seconds in the interval series carry the rate as well.
        let full: Vec<f64> = r["intervals"].as_array().unwrap()[1..3]
            .iter()
            .map(|i| i["count"].as_f64().unwrap())
            .collect();
        for c in full {
            assert!(
                (c - rate).abs() <= (rate * 0.05).max(2.0),
                "rate {rate}: second with {c}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_measured_accurately() {
    let app = target(0.0).await;
    set_faults(
        &app,
        json!({"rules": [{"route": "/api/products", "latency": "100ms"}]}),
    )
    .await;
    let dir = Dir::new();
    let file = dir.write("lat.yaml", &open_scenario("/api/products", 20.0, 3, 20, ""));
    let rep = dir.path("lat.json");
    let out = run_against(&app, &file, &["--report", arg(&rep)]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    for key in ["latency_ms", "latency_uncorrected_ms"] {
        let l = &r["total"][key];
        // The bulk sits within 25 ms of the injected 100 ms; the tail may
        // carry one scheduling hiccup of a busy 2-core machine, not more.
        for (p, high) in [
            ("p50", 125.0),
            ("p90", 125.0),
            ("p99", 175.0),
            ("max", 175.0),
        ] {
            let v = l[p].as_f64().unwrap();
            assert!((100.0..=high).contains(&v), "{key}.{p} = {v}");
        }
    }
    assert_eq!(r["total"]["count"], 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_corrected_latency_only() {
    let app = target(0.0).await;
    let dir = Dir::new();
    // Two users at 50/s: a stall holds both, and the iterations due meanwhile wait.
    let file = dir.write(
        "co.yaml",
        &open_scenario("/api/products", 50.0, 6, 2, "  max_queue: 1000\n"),
    );
    let rep = dir.path("co.json");
    let host = format!("http://{}", app.addr);
    let child = spawn(&[
        "run",
        file.to_str().unwrap(),
        "--host",
        &host,
        "--report",
        rep.to_str().unwrap(),
    ]);
    // Hold every request that arrives during 0.3 s for 1 s, about 2 s into the run.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    set_faults(&app, json!({"rules": [], "stall": "1s"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    set_faults(&app, json!({"rules": []})).await;
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&rep);
    let corrected = r["total"]["latency_ms"]["p90"].as_f64().unwrap();
    let uncorrected = r["total"]["latency_uncorrected_ms"]["p95"]
        .as_f64()
        .unwrap();
    assert!(corrected > 300.0, "corrected p90 {corrected}");
    assert!(uncorrected < 100.0, "uncorrected p95 {uncorrected}");
    assert!(r["total"]["latency_ms"]["max"].as_f64().unwrap() >= 900.0);
    assert_eq!(r["dropped_iterations"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_and_thresholds() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let scenario = |thresholds: &str| {
        format!(
            "base_url: http://127.0.0.1:1\nscenarios:\n  - name: walk\n    think_time: 20ms\n    requests:\n      - name: list\n        path: /api/products\n      - name: order\n        method: POST\n        path: /api/orders\n        headers: {{content-type: application/json}}\n        body: '{{\"product_id\": {{{{ randint(1, 20) }}}}, \"quantity\": 1}}'\n        expect: [201]\nload:\n  model: closed\n  users: 2\n  duration: 2s\nthresholds:\n{thresholds}"
        )
    };
    let pass = dir.write(
        "pass.yaml",
        &scenario("  - p(99)<5s\n  - error_rate<1%\n  - threshold: p(95)<5s\n    request: order\n"),
    );
    let junit = dir.path("pass.xml");
    let rep = dir.path("pass.json");
    let out = run_against(
        &app,
        &pass,
        &["--junit", arg(&junit), "--report", arg(&rep)],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PASS p(99)<5s"), "{}", out.stdout);
    let r = report(&rep);
    assert_eq!(r["model"], "closed");
    assert!(r["total"]["count"].as_u64().unwrap() >= 20);
    assert_eq!(
        r["requests"][1]["status_codes"]["201"],
        r["requests"][1]["count"]
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 3);
    assert!(!xml.contains("<failure"));

    let fail = dir.write("fail.yaml", &scenario("  - p(50)<1us\n  - error_rate<1%\n"));
    let junit = dir.path("fail.xml");
    let out = run_against(&app, &fail, &["--junit", arg(&junit)]).await;
    assert_eq!(out.code, Some(99), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("FAIL p(50)<1us"), "{}", out.stdout);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_fail_stops_early() {
    let app = target(0.0).await;
    set_faults(
        &app,
        json!({"rules": [{"error_rate": 1.0, "error_status": 503}]}),
    )
    .await;
    let dir = Dir::new();
    let file = dir.write(
        "abort.yaml",
        &open_scenario(
            "/api/products",
            20.0,
            30,
            10,
            "thresholds:\n  - threshold: error_rate<1%\n    abort_on_fail: true\n",
        ),
    );
    let rep = dir.path("abort.json");
    let started = Instant::now();
    let out = run_against(&app, &file, &["--report", arg(&rep)]).await;
    assert_eq!(out.code, Some(99), "{}{}", out.stdout, out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let r = report(&rep);
    assert_eq!(r["aborted_by"], "error_rate<1%");
    assert_eq!(r["total"]["errors"]["status"], r["total"]["count"]);
    assert!(
        out.stdout
            .contains("aborted: threshold error_rate<1% failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_still_writes_its_report() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let file = dir.write(
        "int.yaml",
        &open_scenario("/api/products", 20.0, 60, 10, "thresholds:\n  - p(99)<5s\n"),
    );
    let rep = dir.path("int.json");
    let md = dir.path("int.md");
    let child = spawn(&[
        "run",
        file.to_str().unwrap(),
        "--host",
        &format!("http://{}", app.addr),
        "--report",
        rep.to_str().unwrap(),
        "--summary-md",
        md.to_str().unwrap(),
    ]);
    let out = interrupt_after(child, Duration::from_secs(3)).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&rep);
    assert_eq!(r["interrupted"], true);
    let count = r["total"]["count"].as_u64().unwrap();
    assert!((20..=100).contains(&count), "{count}");
    assert!(
        std::fs::read_to_string(&md)
            .unwrap()
            .contains("**interrupted**")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterations_still_queued_at_the_stop_count_as_dropped() {
    let app = target(0.0).await;
    set_faults(
        &app,
        json!({"rules": [{"route": "/api/products", "latency": "300ms"}]}),
    )
    .await;
    let dir = Dir::new();
    // One user serves about 3 iterations/s of the 50/s due: the rest queue up.
    let file = dir.write(
        "q.yaml",
        &open_scenario("/api/products", 50.0, 60, 1, "  max_queue: 1000\n"),
    );
    let rep = dir.path("q.json");
    let host = format!("http://{}", app.addr);
    let child = spawn(&["run", arg(&file), "--host", &host, "--report", arg(&rep)]);
    let out = interrupt_after(child, Duration::from_secs(3)).await;
    assert_eq!(out.status.code(), Some(1));
    let r = report(&rep);
    let iterations = r["iterations"].as_u64().unwrap();
    let dropped = r["dropped_iterations"].as_u64().unwrap();
    assert!(iterations <= 15, "{iterations} iterations");
    assert!(
        dropped >= 60,
        "only {dropped} dropped: queued iterations were lost"
    );
}
