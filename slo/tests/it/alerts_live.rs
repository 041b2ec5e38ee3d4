//! The generated rules in a real Prometheus (1 s scrape and evaluation)
//! scraping the real target app: with a 12-hour SLO the fast page windows are
//! 1 minute and 5 seconds. Without errors the page alert stays silent; with
//! errors injected through the admin API, it fires.

use crate::util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "alerts-live-token";
const ALERT: &str = "AppAvailabilityBudgetBurn";

/// Requests to /api/products at about `per_second` until `stop` (at most
/// 10,000, at most 3 minutes).
fn traffic(base: String, per_second: u64, stop: Arc<AtomicBool>, sent: Arc<AtomicUsize>) {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
        while !stop.load(Ordering::Relaxed)
            && sent.load(Ordering::Relaxed) < 10_000
            && started.elapsed() < Duration::from_secs(180)
        {
            tick.tick().await;
            let c = client.clone();
            let url = format!("{base}/api/products");
            sent.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let _ = c.get(url).send().await;
            });
        }
    });
}

/// Our burn-rate alerts in any state (pending or firing).
async fn burn_alerts(prom: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = reqwest::get(format!("{prom}/api/v1/alerts"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == ALERT)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_alert_fires_on_injected_errors_and_not_without() {
    let _alone = util::Alone::wait();
    let app = util::start_app(Some(TOKEN)).await;
    let base = format!("http://{}", app.addr);
    let admin = app.admin_addr.unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "version: slo/v1\nservice: app\nslos:\n  - name: availability\n    objective: 99\n    period: 12h\n    min_events: 5\n    sli:\n      availability:\n        selector: '{job=\"app\", http_route=\"/api/products\"}'\n",
    )
    .unwrap();
    let out = dir.path().join("alerts");
    util::alerts_out(&spec, &out);
    let rules = out.join("app.rules.yml");
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(
        text.contains("interval: 1s"),
        "12h period: evaluated every second"
    );
    assert!(text.contains("long_window: 1m") && text.contains("short_window: 5s"));

    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
        rules.display(),
        app.addr
    );
    let (_prom_guard, prom) = util::start_prometheus(dir.path(), &config, &[], 200).await;
    let mut up = false;
    for _ in 0..300 {
        let v = util::query(&prom, "up{job=\"app\"}").await;
        if v["data"]["result"][0]["value"][1] == "1" {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "Prometheus never scraped the target app");

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    traffic(base, 40, stop.clone(), sent.clone());
    let _stop = util::StopOnDrop(stop);

    // 20 s of clean traffic: the rules see it, and the page alert stays silent.
    let clean_until = Instant::now() + Duration::from_secs(20);
    let mut events_seen = 0.0f64;
    while Instant::now() < clean_until {
        let alerts = burn_alerts(&prom).await;
        assert!(alerts.is_empty(), "alert without errors: {alerts:?}");
        let v = util::query(&prom, "slo:sli_events:increase1m{slo=\"availability\"}").await;
        if let Some(x) = v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
        {
            events_seen = events_seen.max(x);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        events_seen >= 100.0,
        "the recording rules saw {events_seen} events in 1m (sent {})",
        sent.load(Ordering::Relaxed)
    );
    let v = util::query(&prom, "slo:sli_error:ratio_rate1m{slo=\"availability\"}").await;
    assert_eq!(v["data"]["result"][0]["value"][1], "0", "{v}");

    // Half the requests fail: a burn rate of 50 over both page windows.
    util::set_faults(
        &admin,
        TOKEN,
        serde_json::json!({"rules": [{"route": "/api/products", "error_rate": 0.5}]}),
    )
    .await;
    let injected = Instant::now();
    let mut fired = None;
    while injected.elapsed() < Duration::from_secs(45) {
        fired = burn_alerts(&prom).await.into_iter().find(|a| {
            a["state"] == "firing"
                && a["labels"]["severity"] == "page"
                && a["labels"]["long_window"] == "1m"
                && a["labels"]["short_window"] == "5s"
        });
        if fired.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    util::set_faults(&admin, TOKEN, serde_json::json!({"rules": []})).await;
    let alert = fired.unwrap_or_else(|| {
        panic!(
            "the page alert did not fire within 45 s of injecting errors (sent {})",
            sent.load(Ordering::Relaxed)
        )
    });
    eprintln!(
        "page alert firing {:.1} s after the errors began",
        injected.elapsed().as_secs_f64()
    );
    assert_eq!(alert["labels"]["slo"], "availability");
    assert_eq!(alert["labels"]["slo_service"], "app");
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains("x as fast as the objective allows"),
        "{description}"
    );
    let burn: f64 = alert["value"].as_str().unwrap().parse().unwrap();
    assert!(burn > 14.4, "burn rate {burn}");
}
