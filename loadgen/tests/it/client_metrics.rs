//! The client metrics in a real Prometheus 2.42: scraped from
//! `--metrics-listen` and received by remote write, they give the report's
//! counts exactly, its statuses, and its corrected latency's share over a
//! bound within a point; a dead remote-write URL changes nothing but its
//! counted failures; bad flags are invalid input.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::util::{self, Dir, prometheus, query};

/// The one value of `q`, or None when it has no series.
pub async fn value(prom: &str, q: &str) -> Option<f64> {
    let v = query(prom, q).await;
    assert!(v.len() <= 1, "{q}: {v:?}");
    v.first().map(|(_, x)| *x)
}

/// A scenario with a spread of latencies (simulated work, an open rate the
/// users cannot all keep up with: queueing in the corrected latency) and
/// errors the target counts as 404.
pub fn spread_scenario() -> String {
    "timeout: 5s
scenarios:
  - name: shop
    requests:
      - name: products
        path: /api/products
      - name: missing
        path: /api/nothing-here
load:
  model: open
  rate: 120
  duration: 4s
  max_users: 3
  max_queue: 1000
"
    .to_owned()
}

/// Checks Prometheus's view of run `run` against its report: the exact
/// count, the count per status, and the corrected latency's share over the
/// bucket bound nearest the median within one point. `over` wraps each
/// selector (a scraped run's series go stale once loadgen exits, so they
/// are read with `max_over_time`).
pub async fn agrees_with_report(prom: &str, run: &str, report: &serde_json::Value) {
    let total = report["total"]["count"].as_u64().unwrap();
    assert!(total > 100, "{report}");
    let sel = |name: &str, extra: &str| {
        format!("max_over_time({name}{{loadgen_run=\"{run}\"{extra}}}[10m])")
    };
    let count = value(
        prom,
        &format!(
            "sum({})",
            sel("http_client_request_duration_seconds_count", "")
        ),
    )
    .await;
    assert_eq!(count, Some(total as f64), "the report counts {total}");
    let corrected = value(
        prom,
        &format!("sum({})", sel("loadgen_request_latency_seconds_count", "")),
    )
    .await;
    assert_eq!(corrected, Some(total as f64));
    let by_status = query(
        prom,
        &format!(
            "sum by (http_response_status_code) ({})",
            sel("http_client_request_duration_seconds_count", "")
        ),
    )
    .await;
    let mut got: Vec<(String, u64)> = by_status
        .iter()
        .map(|(m, v)| {
            (
                m["http_response_status_code"].as_str().unwrap().to_owned(),
                *v as u64,
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, u64)> = report["total"]["status_codes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(want.len() >= 2, "{want:?}");
    let errors = value(
        prom,
        &format!(
            "sum({})",
            sel(
                "http_client_request_duration_seconds_count",
                ",error_type!=\"\""
            )
        ),
    )
    .await;
    let report_errors: u64 = report["total"]["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(errors, Some(report_errors as f64));
    // The corrected latency's share over the bound nearest its median.
    let p50 = report["total"]["latency_ms"]["p50"].as_f64().unwrap() / 1000.0;
    const BOUNDS: [f64; 20] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75,
        1.0, 2.5, 5.0, 7.5, 10.0,
    ];
    let bound = BOUNDS
        .iter()
        .copied()
        .min_by(|a, b| (a - p50).abs().total_cmp(&(b - p50).abs()))
        .unwrap();
    let h =
        loadgen::stats::decode_histogram(report["total"]["histogram"].as_str().unwrap()).unwrap();
    let us = (bound * 1e6).round() as u64;
    let over_report = h
        .iter_recorded()
        .filter(|v| v.value_iterated_to() > us)
        .map(|v| v.count_at_value())
        .sum::<u64>() as f64
        / h.len() as f64;
    let le = [
        "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.15", "0.2", "0.25",
        "0.3", "0.4", "0.5", "0.75", "1.0", "2.5", "5.0", "7.5", "10.0",
    ][BOUNDS.iter().position(|b| *b == bound).unwrap()];
    let under = value(
        prom,
        &format!(
            "sum({})",
            sel(
                "loadgen_request_latency_seconds_bucket",
                &format!(",le=\"{le}\"")
            )
        ),
    )
    .await
    .unwrap();
    let over_prom = 1.0 - under / total as f64;
    assert!(
        (over_prom - over_report).abs() <= 0.01,
        "share over {bound}s: Prometheus {over_prom}, report {over_report}"
    );
    assert!(
        over_report > 0.05 && over_report < 0.95,
        "the bound splits the run: {over_report}"
    );
}

/// Reads loadgen's stderr until it says where it serves its metrics.
async fn metrics_address(child: &mut tokio::process::Child) -> (String, Vec<String>) {
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await
        else {
            break;
        };
        if let Some(rest) = line.split("serving the client metrics at http://").nth(1) {
            let addr = rest.split('/').next().unwrap().to_owned();
            // The rest of stderr is drained so loadgen never blocks on it.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (addr, seen);
        }
        seen.push(line);
    }
    panic!("loadgen never said where it serves its metrics: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_of_metrics_listen_gets_what_the_report_counts() {
    let app = util::target(1.0).await;
    let dir = Dir::new();
    let file = dir.write("s.yaml", &spread_scenario());
    let report = dir.path("r.json");
    let host = format!("http://{}", app.addr);
    let mut child = util::spawn(&[
        "run",
        util::arg(&file),
        "--host",
        &host,
        "--duration",
        "8s",
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-linger",
        "20s",
        "--run-id",
        "scrape-1",
        "--metrics-label",
        "team=shop",
        "--report",
        util::arg(&report),
    ]);
    let (addr, _) = metrics_address(&mut child).await;
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: loadgen\n    static_configs:\n      - targets: ['{addr}']\n"
    );
    let (_prom, prom) = prometheus(dir.dir.path(), &config, &[]).await;
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("loadgen ended")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let r = util::report(&report);
    assert_eq!(r["run_id"], "scrape-1");
    let listen = &r["metrics"]["listen"];
    assert_eq!(listen["final_scraped"], true, "{r}");
    // At least the final scrape: a Prometheus slow to start on a busy
    // machine may first scrape after the 8 s of load, in the linger.
    assert!(listen["scrapes"].as_u64().unwrap() >= 1, "{listen}");
    assert_eq!(r["metrics"]["labels"]["team"], "shop");
    // The final scrape is in once Prometheus has stored it.
    let sel = "http_client_request_duration_seconds_count{loadgen_run=\"scrape-1\"}";
    let want = r["total"]["count"].as_f64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while value(&prom, &format!("sum(max_over_time({sel}[10m]))")).await != Some(want)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agrees_with_report(&prom, "scrape-1", &r).await;
    // Every series carries the extra label; the iteration counter is the report's.
    let no_team = query(&prom, "count({loadgen_run=\"scrape-1\", team!=\"shop\"})").await;
    assert!(no_team.is_empty(), "{no_team:?}");
    let iterations = value(
        &prom,
        "max_over_time(loadgen_iterations_total{loadgen_run=\"scrape-1\"}[10m])",
    )
    .await;
    assert_eq!(iterations, r["iterations"].as_f64());
    let dropped = value(
        &prom,
        "max_over_time(loadgen_iterations_dropped_total{loadgen_run=\"scrape-1\"}[10m])",
    )
    .await;
    assert_eq!(dropped, r["dropped_iterations"].as_f64());
    let rate = value(
        &prom,
        "max_over_time(loadgen_target_rate{loadgen_run=\"scrape-1\"}[10m])",
    )
    .await;
    assert_eq!(rate, Some(120.0));
}

#[tokio::test]
async fn bad_metrics_flags_are_invalid_input() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let cases: [(&[&str], &str); 8] = [
        (&["--metrics-label", "team"], "NAME=VALUE"),
        (&["--run-id", "a\"b"], "letters, digits"),
        (
            &["--metrics-listen", "localhost:9464"],
            "e.g. 127.0.0.1:9464",
        ),
        (&["--metrics-label", "9x=1"], "not a Prometheus label name"),
        (&["--metrics-label", "loadgen_run=x"], "sets itself"),
        (&["--run-id", ""], "--run-id"),
        (&["--remote-write", "ftp://127.0.0.1:1/x"], "--remote-write"),
        (
            &[
                "--remote-write",
                "http://127.0.0.1:1/w",
                "--remote-write-interval",
                "1ms",
            ],
            "--remote-write-interval",
        ),
    ];
    for (flags, says) in cases {
        let mut args = vec!["http://127.0.0.1:1/", "-n", "1"];
        args.extend_from_slice(flags);
        let out = util::run(&args, Duration::from_secs(20)).await;
        assert_eq!(out.code, Some(2), "{flags:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{flags:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    // A port another process holds is the machine's state, not bad input: exit 1.
    let out = util::run(
        &["http://127.0.0.1:1/", "-n", "1", "--metrics-listen", &busy],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--metrics-listen"), "{}", out.stderr);
    // A token in the environment does not stop a basic-auth user on the command line.
    let out = util::run_env(
        &[
            "http://127.0.0.1:1/",
            "-n",
            "1",
            "--remote-write",
            "http://127.0.0.1:1/api/v1/write",
            "--remote-write-timeout",
            "200ms",
            "--remote-write-user",
            "u",
        ],
        &[("LOADGEN_REMOTE_WRITE_TOKEN", "t")],
        Duration::from_secs(20),
    )
    .await;
    assert_ne!(out.code, Some(2), "{}", out.stderr);
}

#[tokio::test]
async fn ctrl_c_while_lingering_for_the_last_scrape_still_writes_the_report() {
    let app = util::target(0.0).await;
    let dir = Dir::new();
    let report = dir.path("r.json");
    let url = format!("http://{}/api/products", app.addr);
    let child = util::spawn(&[
        &url,
        "-n",
        "20",
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-linger",
        "60s",
        "--report",
        util::arg(&report),
    ]);
    // The 20 requests are done long before; loadgen waits for a scrape.
    let t = Instant::now();
    let out = util::interrupt_after(child, Duration::from_secs(3)).await;
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "stopped {:?} after the start",
        t.elapsed()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r = util::report(&report);
    assert_eq!(r["total"]["count"], 20);
    assert_eq!(r["metrics"]["listen"]["final_scraped"], false);
}

/// `loadgen run` of the spread scenario against `app` with `extra`
/// flags; (exit code, report, seconds the process took).
async fn spread_run(
    app: &target_app::Running,
    dir: &Dir,
    name: &str,
    scenario: &str,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value, f64, String) {
    let file = dir.write(&format!("{name}.yaml"), scenario);
    let report = dir.path(&format!("{name}.json"));
    let host = format!("http://{}", app.addr);
    let mut args = vec![
        "run",
        util::arg(&file),
        "--host",
        &host,
        "--report",
        util::arg(&report),
    ];
    args.extend_from_slice(extra);
    let t = Instant::now();
    let out = util::run(&args, Duration::from_secs(60)).await;
    let took = t.elapsed().as_secs_f64();
    (out.code, util::report(&report), took, out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_into_a_real_prometheus_gets_what_the_report_counts() {
    let app = util::target(1.0).await;
    let dir = Dir::new();
    let (_prom, prom) = prometheus(
        dir.dir.path(),
        "global:\n  scrape_interval: 15s\n",
        &["--web.enable-remote-write-receiver"],
    )
    .await;
    let write = format!("{prom}/api/v1/write");
    let (code, r, _, stderr) = spread_run(
        &app,
        &dir,
        "rw",
        &spread_scenario(),
        &[
            "--remote-write",
            &write,
            "--remote-write-interval",
            "1s",
            "--run-id",
            "rw-1",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let w = &r["metrics"]["remote_write"];
    assert_eq!(w["final_sent"], true, "{w}");
    assert_eq!(w["failed"], 0, "{w}");
    assert!(
        w["sent"].as_u64().unwrap() >= 3,
        "readings during the run: {w}"
    );
    assert_eq!(w["url"], write);
    agrees_with_report(&prom, "rw-1", &r).await;
    // Readings arrived while the run ran, not only at its end.
    let samples = value(
        &prom,
        "max(count_over_time(http_client_request_duration_seconds_count{loadgen_run=\"rw-1\"}[10m]))",
    )
    .await
    .unwrap();
    assert!(samples >= 3.0, "{samples} readings of a series");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_or_silent_remote_write_url_changes_nothing_but_its_failures() {
    // Users enough for every arrival: the run's counts are its schedule's.
    let app = util::target(0.0).await;
    let dir = Dir::new();
    let scenario = spread_scenario().replace("max_users: 3", "max_users: 40");
    let (code, plain, plain_took, _) = spread_run(&app, &dir, "plain", &scenario, &[]).await;
    assert_eq!(plain["dropped_iterations"], 0);
    assert_eq!(code, Some(0));
    // Nothing listens on a port just freed: every write is refused.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/api/v1/write", l.local_addr().unwrap())
    };
    // A receiver that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/api/v1/write", silent.local_addr().unwrap());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        silent.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until
            && kept.len() < 64
            && !stopped.load(std::sync::atomic::Ordering::Relaxed)
        {
            match silent.accept() {
                Ok((s, _)) => kept.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        kept.len()
    });
    for (name, url) in [("dead", dead.as_str()), ("silent", silent_url.as_str())] {
        let (code, r, took, stderr) = spread_run(
            &app,
            &dir,
            name,
            &scenario,
            &[
                "--remote-write",
                url,
                "--remote-write-interval",
                "500ms",
                "--remote-write-timeout",
                "1s",
            ],
        )
        .await;
        assert_eq!(code, Some(0), "{name}: {stderr}");
        // The same schedule, every arrival sent, none dropped.
        assert_eq!(r["total"]["count"], plain["total"]["count"], "{name}");
        assert_eq!(r["dropped_iterations"], 0, "{name}");
        assert_eq!(r["total"]["errors"], plain["total"]["errors"], "{name}");
        // Not slower than the plain run by more than the final flush's timeout.
        assert!(
            took <= plain_took + 1.0 + 1.5,
            "{name}: {took:.1}s against {plain_took:.1}s without remote write"
        );
        let w = &r["metrics"]["remote_write"];
        assert_eq!(w["final_sent"], false, "{name}: {w}");
        assert_eq!(w["sent"], 0, "{name}: {w}");
        assert!(
            w["failed"].as_u64().unwrap() + w["retries"].as_u64().unwrap() > 0,
            "{name}: {w}"
        );
        assert!(w["last_error"].is_string(), "{name}: {w}");
        assert!(stderr.contains("NOT delivered"), "{name}: {stderr}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(held.join().unwrap() > 0, "the silent receiver was reached");
}
