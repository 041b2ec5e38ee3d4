//! A time-slice SLO live: a real Prometheus (1 s scrape and evaluation)
//! loads the generated rules and scrapes the real target app, which serves
//! 40 requests a second through 8 slices of 5 s, with errors switched on
//! through its admin API for 2 of them, then none for a ninth. `slo gate`
//! over those slices, `slo report` and the recordings each count the bad
//! slices within one slice of the truth, and the slice without traffic does
//! not count.

use crate::util;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TOKEN: &str = "timeslices-live-token";
/// The slice, in seconds.
const SLICE: u64 = 5;
/// Slices with traffic, and those of them with errors (1-based).
const BUSY: u64 = 8;
const FAULTY: [u64; 2] = [3, 6];

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Sleeps until the Unix time `at_ms`.
async fn until(at_ms: u64) {
    let now = now_ms();
    if at_ms > now {
        tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
    }
}

/// Requests to /api/products at 40 a second until `stop` (at most 2 minutes).
fn traffic(base: String, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
            tick.tick().await;
            let c = client.clone();
            let url = format!("{base}/api/products");
            tokio::spawn(async move {
                let _ = c.get(url).send().await;
            });
        }
    });
}

/// The first sample of an instant query, if any.
async fn value(prom: &str, q: &str) -> Option<f64> {
    util::query(prom, q).await["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
}

fn within_one(what: &str, got: f64, truth: u64) {
    assert!(
        (got - truth as f64).abs() <= 1.0,
        "{what}: {got}, the truth is {truth}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_slices_are_counted_within_one_slice_of_the_truth() {
    let _alone = util::Alone::wait();
    let started = Instant::now();
    let app = util::start_app(Some(TOKEN)).await;
    let base = format!("http://{}", app.addr);
    let admin = app.admin_addr.unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    // A slice is good at 90% good requests; faulty slices fail 20%.
    std::fs::write(
        &spec,
        format!(
            "version: slo/v1\nservice: app\nslos:\n  - name: minutes\n    objective: 90\n    period: 12h\n    timeslices: {{slice: {SLICE}s, target: 0.9}}\n    sli:\n      availability:\n        selector: '{{job=\"app\", http_route=\"/api/products\"}}'\n"
        ),
    )
    .unwrap();
    let spec = spec.to_str().unwrap().to_owned();
    let out = dir.path().join("alerts");
    util::alerts_out(Path::new(&spec), &out);
    let rules = out.join("app.rules.yml");
    assert!(
        std::fs::read_to_string(&rules)
            .unwrap()
            .contains("interval: 5s")
    );
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
        rules.display(),
        app.addr
    );
    let (_prom_guard, prom) = util::start_prometheus(dir.path(), &config, &[], 200).await;
    let mut up = false;
    for _ in 0..300 {
        if value(&prom, "up{job=\"app\"}").await == Some(1.0) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "Prometheus never scraped the target app");

    // Both series (200 and 500) exist before the slices: 20 good
    // requests and one failed, a good slice (95%).
    let client = reqwest::Client::new();
    for _ in 0..20 {
        client
            .get(format!("{base}/api/products"))
            .send()
            .await
            .unwrap();
    }
    let fail_all = serde_json::json!({"rules": [{"route": "/api/products", "error_rate": 1.0}]});
    let faulty = serde_json::json!({"rules": [{"route": "/api/products", "error_rate": 0.2}]});
    let clean = serde_json::json!({"rules": []});
    util::set_faults(&admin, TOKEN, fail_all).await;
    client
        .get(format!("{base}/api/products"))
        .send()
        .await
        .unwrap();
    util::set_faults(&admin, TOKEN, clean.clone()).await;

    // The first slice starts at a multiple of the slice (the gate's and the
    // report's slices are aligned to the Unix epoch), a slice and more
    // after that traffic.
    let s_ms = SLICE * 1000;
    let from_ms = (now_ms() + s_ms + 500).div_ceil(s_ms) * s_ms;
    let start = |k: u64| from_ms + (k - 1) * s_ms;
    until(start(1)).await;
    let stop = Arc::new(AtomicBool::new(false));
    traffic(base.clone(), stop.clone());
    let guard = util::StopOnDrop(stop.clone());
    for k in 1..=BUSY {
        until(start(k)).await;
        let plan = if FAULTY.contains(&k) { &faulty } else { &clean };
        util::set_faults(&admin, TOKEN, plan.clone()).await;
    }
    until(start(BUSY + 1)).await;
    stop.store(true, Ordering::Relaxed);
    drop(guard);
    util::set_faults(&admin, TOKEN, clean).await;
    // A ninth slice without traffic, then a scrape and an evaluation.
    let to_ms = start(BUSY + 2);
    until(to_ms + 3_000).await;

    // The gate over the nine slices: 2 of the 8 counted slices are bad,
    // 75% is below 90%; the quiet ninth does not count.
    let (from, to) = ((from_ms / 1000).to_string(), (to_ms / 1000).to_string());
    let json = dir.path().join("gate.json");
    let (code, stdout, stderr) = util::slo(&[
        "gate",
        &spec,
        "--prometheus",
        &prom,
        "--from",
        &from,
        "--to",
        &to,
        "--json",
        json.to_str().unwrap(),
    ]);
    let gate: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let g = &gate[0];
    eprintln!("{stdout}");
    assert_eq!(g["unit"], "slices", "{g}");
    let (gate_counted, bad) = (g["total"].as_f64().unwrap(), g["errors"].as_f64().unwrap());
    within_one("counted slices (gate)", gate_counted, BUSY);
    within_one("bad slices (gate)", bad, FAULTY.len() as u64);
    assert!(gate_counted <= BUSY as f64, "the quiet slice counted: {g}");
    assert_eq!(code, Some(99), "{stdout}{stderr}");
    assert!(stdout.contains("counted slices bad"), "{stdout}");

    // The report over the period: the same bad slices (the slice of the
    // first requests is good).
    let (code, stdout, stderr) = util::slo(&["report", &spec, "--prometheus", &prom, "--json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let t = &report[0]["timeslices"];
    assert_eq!(report[0]["unit"], "slices");
    within_one(
        "bad slices (report)",
        t["bad_slices"].as_f64().unwrap(),
        FAULTY.len() as u64,
    );
    let counted = t["counted_slices"].as_f64().unwrap();
    assert!(
        (BUSY as f64 - 1.0..=BUSY as f64 + 2.0).contains(&counted),
        "counted slices (report): {counted}"
    );
    assert_eq!(t["period_slices"], 8640);
    let (_, text, _) = util::slo(&["report", &spec, "--prometheus", &prom]);
    eprintln!("{text}");
    assert!(text.contains("in 5s time slices"), "{text}");
    assert!(
        text.contains("budget in slices: 864 of the period's 8640"),
        "{text}"
    );

    // The recordings, whose slices follow the rule group's own clock (one
    // more slice for the last one with traffic to have been recorded): a
    // faulty slice of 5 s makes one recorded slice bad (the one holding
    // more than half of it), give or take one.
    until(to_ms + s_ms + 2_000).await;
    let sel = "{slo=\"minutes\"}";
    let rec_bad = value(&prom, &format!("slo:sli_bad_slices:count12h{sel}"))
        .await
        .expect("the period's bad slices are recorded");
    within_one("bad slices (recorded)", rec_bad, FAULTY.len() as u64);
    let rec_counted = value(&prom, &format!("slo:sli_slices:count12h{sel}"))
        .await
        .unwrap();
    assert!(
        (BUSY as f64 - 1.0..=BUSY as f64 + 3.0).contains(&rec_counted),
        "counted slices (recorded): {rec_counted}"
    );
    // No slice is recorded while there is no traffic.
    assert_eq!(
        value(&prom, &format!("slo:slice_good:ratio{sel}")).await,
        None,
        "a slice without traffic was recorded"
    );
    eprintln!(
        "gate: {bad} of {gate_counted} slices bad; report: {counted} counted; recorded: {rec_bad} of {rec_counted}; in {:.0?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
}
