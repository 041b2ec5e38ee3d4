//! Latency SLIs against a real Prometheus scraping an exposition that writes
//! its bucket bounds as Go's client_golang does (`le="1"`, not `le="1.0"`):
//! the SLI comes out right, and `slo check --prometheus` finds the bucket,
//! lists the buckets when the threshold has none, and looks back over a
//! range so a histogram that went idle (its series dropped) still counts.

use crate::util::{self, slo};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A histogram that grows by 10 requests per scrape, 8 of them within 1 s.
fn exposition(scrape: u64) -> String {
    let n = scrape;
    format!(
        "# HELP h Request duration.\n# TYPE h histogram\n\
         h_bucket{{le=\"0.25\"}} {}\nh_bucket{{le=\"0.5\"}} {}\nh_bucket{{le=\"1\"}} {}\nh_bucket{{le=\"+Inf\"}} {}\n\
         h_sum {}\nh_count {}\n# TYPE up_marker gauge\nup_marker 1\n",
        2 * n,
        5 * n,
        8 * n,
        10 * n,
        5 * n,
        10 * n
    )
}

fn spec(dir: &std::path::Path, name: &str, threshold: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "version: slo/v1\nservice: exp\nslos:\n  - name: fast\n    objective: 99\n    period: 1h\n    sli:\n      latency:\n        metric: h\n        selector: '{{job=\"exp\"}}'\n        threshold: {threshold}\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// The number an instant query answers, if it answers one.
async fn number(prom: &str, q: &str) -> Option<f64> {
    let v = util::query(prom, q).await;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_le_buckets_are_found_and_missing_buckets_are_listed() {
    let _alone = util::Alone::wait();
    let idle = Arc::new(AtomicBool::new(false));
    // With `idle` set the exporter drops the histogram, as some exporters
    // do for an idle route.
    let dropped = idle.clone();
    let (addr, _exporter) = util::serve_exposition(move |n| {
        if dropped.load(Ordering::Relaxed) {
            "# TYPE up_marker gauge\nup_marker 1\n".to_owned()
        } else {
            exposition(n)
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: exp\n    static_configs:\n      - targets: ['{addr}']\n"
    );
    let (_prom_guard, prom) = util::start_prometheus(dir.path(), &config, &[], 200).await;
    // Wait for five scrapes of the histogram (at most 30 s).
    let mut samples = 0.0;
    for _ in 0..300 {
        samples = number(&prom, "count_over_time(h_count{job=\"exp\"}[5m])")
            .await
            .unwrap_or(0.0);
        if samples >= 5.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(samples >= 5.0, "Prometheus scraped the exporter: {samples}");
    // The premise: the exporter wrote le="1", so an exact le="1.0" matcher finds nothing.
    assert_eq!(number(&prom, "count(h_bucket{le=\"1.0\"})").await, None);
    assert_eq!(number(&prom, "count(h_bucket{le=\"1\"})").await, Some(1.0));

    let one = spec(dir.path(), "one.yaml", "1");
    // The SLI is 80% (8 of every 10 requests within 1 s), not 0%. errors and
    // total are separate queries, and a scrape that falls between them (one
    // a second here) shifts their extrapolation apart by about a sample's
    // share of a short history: so up to three reports, each held to 0.1%;
    // an SLI that is wrong (0%, or a wrong bucket) is wrong in all three.
    let (mut sli, mut five, mut shown) = (f64::NAN, f64::NAN, String::new());
    for _ in 0..3 {
        let (code, stdout, stderr) = slo(&["report", &one, "--prometheus", &prom, "--json"]);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        sli = report[0]["sli"].as_f64().unwrap_or(f64::NAN);
        five = report[0]["windows"][0]["sli"].as_f64().unwrap_or(f64::NAN);
        shown = stdout;
        if (sli - 0.8).abs() < 1e-3 && (five - 0.8).abs() < 1e-3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!((sli - 0.8).abs() < 1e-3, "SLI {sli}: {shown}");
    assert!((five - 0.8).abs() < 1e-3, "5m SLI {five}: {shown}");
    // check finds the bucket.
    let (code, stdout, stderr) = slo(&["check", &one, "--prometheus", &prom]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");

    // A threshold with no bucket: the spec does not fit the metrics (exit 2),
    // and the message lists the buckets as the exporter wrote them.
    let between = spec(dir.path(), "between.yaml", "0.3");
    let (code, stdout, stderr) = slo(&["check", &between, "--prometheus", &prom]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("latency threshold 0.3s is not a bucket")
            && stderr.contains("le = 0.25, 0.5, 1, +Inf"),
        "{stderr}"
    );

    // The exporter drops the idle histogram: its series go stale, so the
    // latest sample has no buckets, but the lookback still sees them.
    idle.store(true, Ordering::Relaxed);
    let mut gone = false;
    for _ in 0..100 {
        if number(&prom, "count(h_bucket)").await.is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the histogram's series went stale");
    let (code, stdout, stderr) = slo(&["check", &one, "--prometheus", &prom]);
    assert_eq!(code, Some(0), "looks back over 1d: {stdout}{stderr}");
    let (code, _, stderr) = slo(&["check", &between, "--prometheus", &prom]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("le = 0.25, 0.5, 1, +Inf"), "{stderr}");
    // A lookback shorter than the idle time sees no histogram at all.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, _, stderr) = slo(&["check", &one, "--prometheus", &prom, "--lookback", "1s"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no series match h_bucket"), "{stderr}");
}
