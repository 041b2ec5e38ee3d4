//! `slo gate --run REPORT --compare-client`: the server-side SLI (a real
//! Prometheus scraping the real target app) beside the client-side SLI (the
//! metrics a real loadgen run, in this process, remote-wrote into that
//! Prometheus), on runs with and without a fault the server does not count.

use std::path::Path;
use std::time::Duration;

use clap::Parser;

use crate::util::{self, slo};

/// Two SLOs the target app's metrics answer: availability (5xx are errors)
/// and latency under 1 s.
const SPEC: &str = "version: slo/v1\nservice: app\nslos:\n  - name: availability\n    objective: 99\n    period: 30d\n    min_events: 10\n    sli:\n      availability:\n        selector: '{job=\"app\"}'\n  - name: fast\n    objective: 90\n    period: 30d\n    min_events: 10\n    sli:\n      latency:\n        metric: http_server_request_duration_seconds\n        selector: '{job=\"app\"}'\n        threshold: 1.0\n";

/// An open-model scenario: per iteration, a product list, and with
/// `unrouted` a path the app has no route for (404, outside the request's
/// default expect of 200..=399, so loadgen counts it as failed; the app
/// counts a 404, which its availability SLI does not call an error).
fn scenario(unrouted: bool) -> String {
    let missing = if unrouted {
        "      - name: missing\n        path: /api/no-such-route\n"
    } else {
        ""
    };
    format!(
        "name: compare\nbase_url: http://127.0.0.1:9\ntimeout: 5s\nscenarios:\n  - name: browse\n    requests:\n      - name: products\n        path: /api/products\n{missing}load:\n  model: open\n  rate: 20\n  duration: 4s\n  max_users: 20\n"
    )
}

/// Runs loadgen in this process (its `run` command, as its binary would)
/// against `base`, remote-writing to `prom` as run `run_id`; returns the
/// report it wrote.
async fn loadgen_run(
    dir: &Path,
    name: &str,
    base: &str,
    prom: &str,
    run_id: &str,
) -> serde_json::Value {
    let scenario_path = dir.join(format!("{name}.yaml"));
    std::fs::write(&scenario_path, scenario(name == "faulty")).unwrap();
    let report = dir.join(format!("{name}.json"));
    let cli = loadgen::cli::Cli::parse_from([
        "loadgen",
        "run",
        scenario_path.to_str().unwrap(),
        "--host",
        base,
        "--report",
        report.to_str().unwrap(),
        "--remote-write",
        &format!("{prom}/api/v1/write"),
        "--remote-write-interval",
        "1s",
        "--run-id",
        run_id,
    ]);
    let run = tokio::time::timeout(Duration::from_secs(60), loadgen::cli::run(cli))
        .await
        .expect("the run ends within 60 s");
    assert!(
        run.is_ok(),
        "loadgen run failed: {:?}",
        run.err().map(|e| e.error)
    );
    serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap()
}

fn gate(spec: &Path, prom: &str, report: &Path, json: &Path) -> (Option<i32>, String, String) {
    slo(&[
        "gate",
        spec.to_str().unwrap(),
        "--prometheus",
        prom,
        "--run",
        report.to_str().unwrap(),
        "--compare-client",
        "--json",
        json.to_str().unwrap(),
    ])
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn slo_named<'a>(results: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {results}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_side_names_what_the_server_never_counted() {
    let _alone = util::Alone::wait();
    let app = util::start_app(None).await;
    let base = format!("http://{}", app.addr);
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
        app.addr
    );
    let (_prom_guard, prom) = util::start_prometheus(
        dir.path(),
        &config,
        &["--web.enable-remote-write-receiver".to_owned()],
        200,
    )
    .await;
    // The app's series exist, and were scraped, before the first run.
    let client = reqwest::Client::new();
    for _ in 0..5 {
        client
            .get(format!("{base}/api/products"))
            .send()
            .await
            .unwrap();
    }
    let mut scraped = false;
    for _ in 0..300 {
        let v = util::query(
            &prom,
            "sum(http_server_request_duration_seconds_count{job=\"app\"})",
        )
        .await;
        if v["data"]["result"][0]["value"][1]
            .as_str()
            .is_some_and(|n| n != "0")
        {
            scraped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(scraped, "Prometheus never scraped the target app");
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A run with a fault the server does not count: half the requests go
    // to a path with no route (404).
    let faulty = loadgen_run(dir.path(), "faulty", &base, &prom, "faulty-run").await;
    assert_eq!(faulty["run_id"], "faulty-run");
    let sent = faulty["total"]["count"].as_u64().unwrap();
    let failed: u64 = faulty["total"]["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(sent >= 40, "the run sent {sent} requests");
    assert!(failed * 3 >= sent, "half should fail: {failed} of {sent}");
    // The server's last scrape of the run lands before the gate reads it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let json = dir.path().join("faulty-gate.json");
    let (code, stdout, stderr) = gate(&spec, &prom, &dir.path().join("faulty.json"), &json);
    assert_eq!(code, Some(99), "{stdout}{stderr}");
    let results = read_json(&json);
    let avail = slo_named(&results, "availability");
    assert_eq!(avail["verdict"], "fail", "{avail}");
    assert_eq!(avail["missed"], serde_json::json!(["client"]), "{avail}");
    assert_eq!(avail["server"]["verdict"], "pass", "{avail}");
    assert_eq!(avail["client"]["verdict"], "fail", "{avail}");
    // The client side counts exactly what the run report counts.
    assert_eq!(
        avail["client"]["total"].as_f64(),
        Some(sent as f64),
        "{avail}"
    );
    assert_eq!(
        avail["client"]["errors"].as_f64(),
        Some(failed as f64),
        "{avail}"
    );
    let (server_sli, client_sli) = (
        avail["server"]["sli"].as_f64().unwrap(),
        avail["client"]["sli"].as_f64().unwrap(),
    );
    assert!(
        server_sli >= 0.99,
        "the server counts no 404 as an error: {server_sli}"
    );
    assert!(
        client_sli < 0.7,
        "half of the client's requests failed: {client_sli}"
    );
    // The server saw the 404s too: they are not errors to it.
    assert!(
        avail["server"]["total"].as_f64().unwrap() >= sent as f64 * 0.9,
        "{avail}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL availability: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("client-side SLI") && line.contains("misses the objective 99%"),
        "{line}"
    );
    assert!(line.contains("while the server saw 100.00%"), "{line}");
    assert!(line.contains("a 404 of an unrouted path"), "{line}");
    assert!(stdout.contains("loadgen_run=\"faulty-run\""), "{stdout}");
    // Latency: a failed request is never fast on the client side.
    let fast = slo_named(&results, "fast");
    assert_eq!(fast["missed"], serde_json::json!(["client"]), "{fast}");

    // The same, without the fault: both sides pass.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let clean = loadgen_run(dir.path(), "clean", &base, &prom, "clean-run").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let clean_report = dir.path().join("clean.json");
    let json = dir.path().join("clean-gate.json");
    let (code, stdout, stderr) = gate(&spec, &prom, &clean_report, &json);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let results = read_json(&json);
    let avail = slo_named(&results, "availability");
    // Only this run's series: the faulty run's, in the same Prometheus, do not mix in.
    assert_eq!(
        avail["client"]["total"].as_f64(),
        clean["total"]["count"].as_f64(),
        "{avail}"
    );
    assert_eq!(avail["client"]["errors"].as_f64(), Some(0.0), "{avail}");
    assert!(
        stdout.contains("PASS availability: both sides met the objective"),
        "{stdout}"
    );

    // A run whose metrics this Prometheus never got: inconclusive, never a pass.
    let mut other = clean.clone();
    other["run_id"] = "never-sent".into();
    let other_report = dir.path().join("other.json");
    std::fs::write(&other_report, other.to_string()).unwrap();
    let (code, stdout, stderr) = gate(&spec, &prom, &other_report, &json);
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(
        stdout.contains("client-side inconclusive: no client metrics of run \"never-sent\""),
        "{stdout}"
    );

    // A report without run_id: the run exported nothing; exit 2 with a hint.
    let mut bare = clean.clone();
    bare.as_object_mut().unwrap().remove("run_id");
    let bare_report = dir.path().join("bare.json");
    std::fs::write(&bare_report, bare.to_string()).unwrap();
    let (code, stdout, stderr) = gate(&spec, &prom, &bare_report, &json);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("has no run_id"), "{stderr}");
    assert!(
        stderr.contains("loadgen run --remote-write URL"),
        "{stderr}"
    );

    // The README's client-side SLIs fit loadgen's series in Prometheus: the
    // selectors match, and the thresholds are buckets of both histograms.
    let client_spec = dir.path().join("client.yaml");
    let client_slos = |threshold: &str| {
        format!(
            "version: slo/v1\nservice: app\nslos:\n  - name: client-availability\n    objective: 99\n    sli:\n      events:\n        error_query: sum(rate(http_client_request_duration_seconds_count{{error_type!=\"\"}}[{{{{.window}}}}])) or vector(0)\n        total_query: sum(rate(http_client_request_duration_seconds_count[{{{{.window}}}}]))\n  - name: client-latency\n    objective: 95\n    sli:\n      latency:\n        metric: http_client_request_duration_seconds\n        threshold: {threshold}\n  - name: client-latency-corrected\n    objective: 95\n    sli:\n      latency:\n        metric: loadgen_request_latency_seconds\n        selector: '{{loadgen_request=\"products\"}}'\n        threshold: {threshold}\n"
        )
    };
    std::fs::write(&client_spec, client_slos("0.3")).unwrap();
    let check = |spec: &Path| {
        slo(&[
            "check",
            spec.to_str().unwrap(),
            "--prometheus",
            &prom,
            "--lookback",
            "10m",
        ])
    };
    let (code, stdout, stderr) = check(&client_spec);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        !stderr.contains("warning") && !stderr.contains("error"),
        "{stderr}"
    );
    // A threshold between two bounds is caught, naming the buckets found.
    std::fs::write(&client_spec, client_slos("0.35")).unwrap();
    let (code, stdout, stderr) = check(&client_spec);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "latency threshold 0.35s is not a bucket of http_client_request_duration_seconds_bucket"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("0.3, 0.4"), "{stderr}");
}

#[test]
fn the_client_side_example_spec_checks_clean() {
    let path = util::root().join("examples/slo/client-side.slo.yaml");
    let (code, stdout, stderr) = slo(&["check", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(
        stdout.contains("client-latency-corrected: 95% over 30d, latency < 0.3s"),
        "{stdout}"
    );
    assert!(
        stdout.contains("client side (client:): the spec's client latency: loadgen_request_latency_seconds within 0.3s"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "of the run's requests {loadgen_request=~\"list products|get product|create order\"}"
        ),
        "{stdout}"
    );
    // The same file through the generators: rules and a dashboard build.
    let (code, _, stderr) = slo(&["alerts", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn client_side_mistakes_exit_2_at_their_place() {
    const HEAD: &str = "version: slo/v1\nservice: shop\nslos:\n  - name: a\n    objective: 99\n    sli:\n      availability: {}\n";
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "client availability",
            "    client:\n      availability: {}\n",
            "spec.yaml:9:",
            "cannot be availability",
        ),
        (
            "both",
            "    client_selector: '{loadgen_request=\"a\"}'\n    client:\n      ratio: {good: a, total: b}\n",
            "spec.yaml:8:",
            "both client: and client_selector:",
        ),
        (
            "run label in client_selector",
            "    client_selector: '{loadgen_run=\"x\"}'\n",
            "spec.yaml:8:",
            "selects loadgen_run itself",
        ),
        (
            "run label in client:",
            "    client:\n      ratio:\n        good: 'm{loadgen_run=\"x\"}'\n        total: m\n",
            "spec.yaml:8:",
            "selects loadgen_run itself",
        ),
        (
            "bad client_selector",
            "    client_selector: 'loadgen_request=='\n",
            "spec.yaml:8:",
            "client_selector of slo \"a\"",
        ),
        (
            "bad client ratio",
            "    client:\n      ratio:\n        good: sum(m)\n        total: m\n",
            "spec.yaml:10:",
            "must be a metric selector",
        ),
        (
            "bad client threshold",
            "    client:\n      latency: {metric: http_client_request_duration_seconds, threshold: -1}\n",
            "spec.yaml:9:",
            "latency threshold must be between",
        ),
        (
            "unknown field",
            "    client:\n      latency: {metric: m, threshold: 1, le: 2}\n",
            "spec.yaml:9:",
            "unknown field",
        ),
    ];
    for (what, extra, at, message) in cases {
        let path = dir.path().join("spec.yaml");
        std::fs::write(&path, format!("{HEAD}{extra}")).unwrap();
        let (code, stdout, stderr) = slo(&["check", path.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{what}: {stdout}{stderr}");
        assert!(stderr.contains(at), "{what}: not at {at}: {stderr}");
        assert!(stderr.contains(message), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

#[test]
fn compare_client_needs_a_run_that_exported_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    // A real report of a run without --remote-write or --metrics-listen.
    let report = util::root().join("common/testdata/report.json");
    let (code, stdout, stderr) = slo(&[
        "gate",
        spec.to_str().unwrap(),
        "--prometheus",
        "http://127.0.0.1:9",
        "--run",
        report.to_str().unwrap(),
        "--compare-client",
    ]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("has no run_id"), "{stderr}");
    assert!(
        stderr.contains("loadgen run --remote-write URL"),
        "{stderr}"
    );
    assert!(stderr.contains("--metrics-listen ADDR"), "{stderr}");
    // --compare-client compares a run: without --run it is a usage error.
    let (code, _, stderr) = slo(&[
        "gate",
        spec.to_str().unwrap(),
        "--prometheus",
        "http://127.0.0.1:9",
        "--from",
        "1",
        "--to",
        "2",
        "--compare-client",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--run"), "{stderr}");
}
