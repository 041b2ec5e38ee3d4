//! The live view's switches drive the engine: scaling the open model's rate
//! changes how many iterations start, and a pause stops the schedule and
//! extends it. Runs the engine in-process against the real target app.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::engine::{self, Control};
use loadgen::live::Live;

fn plan(rate: f64, secs: u64) -> loadgen::scenario::Plan {
    let yaml = format!(
        "base_url: http://127.0.0.1:1\ntimeout: 5s\nscenarios:\n  - name: s\n    requests:\n      - name: req\n        path: /api/products\nload:\n  model: open\n  rate: {rate}\n  duration: {secs}s\n  max_users: 20\n"
    );
    loadgen::scenario::parse(&yaml, Path::new("live.yaml")).unwrap()
}

/// Runs `plan` against `host` with `live` attached.
async fn run_live(
    plan: loadgen::scenario::Plan,
    host: &str,
    live: &Arc<Live>,
) -> engine::RunResult {
    engine::run(
        plan,
        Some(host.to_owned()),
        false,
        Arc::new(Control::default()),
        None,
        Some(live.clone()),
        Default::default(),
    )
    .await
    .unwrap()
}

/// Waits until the run's own clock (from its snapshots) reaches `t`, so a
/// slow start on a busy machine does not shift the switch (bounded: 20 s).
async fn at_schedule_time(live: &Live, t: Duration) {
    let limit = Instant::now() + Duration::from_secs(20);
    while live.snapshot().clock.elapsed < t && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_scale_and_pause_drive_the_schedule() {
    let app = target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        work: target_app::WorkConfig {
            scale: 0.0,
            payment_failure_rate: 0.0,
        },
        tracing: false,
        ..target_app::Config::default()
    })
    .await
    .unwrap();
    let host = format!("http://{}", app.addr);

    // 50/s for 6 s, doubled after 3 s: about 150 + 300 iterations.
    let live = Arc::new(Live::default());
    let knob = live.clone();
    let scaler = tokio::spawn(async move {
        at_schedule_time(&knob, Duration::from_secs(3)).await;
        knob.rescale(2.0);
    });
    let run = run_live(plan(50.0, 6), &host, &live).await;
    scaler.await.unwrap();
    let n = run.recorded.total.count as f64;
    assert!((400.0..=500.0).contains(&n), "{n} requests (300 unscaled)");
    assert_eq!(run.dropped, 0);
    let snap = live.snapshot();
    assert!(
        snap.requests > 0 && !snap.names.is_empty(),
        "snapshots published"
    );

    // 50/s for 4 s with a 2 s pause after 1 s: still about 200 iterations,
    // and the run lasts about 6 s.
    let live = Arc::new(Live::default());
    let knob = live.clone();
    let pauser = tokio::spawn(async move {
        at_schedule_time(&knob, Duration::from_secs(1)).await;
        knob.toggle_pause();
        tokio::time::sleep(Duration::from_secs(2)).await;
        knob.toggle_pause();
    });
    let started = Instant::now();
    let run = run_live(plan(50.0, 4), &host, &live).await;
    pauser.await.unwrap();
    let took = started.elapsed().as_secs_f64();
    let n = run.recorded.total.count as f64;
    assert!((180.0..=220.0).contains(&n), "{n} requests");
    assert!(took >= 5.5, "the pause extended the run: {took:.1} s");
    assert!(live.paused_total() >= Duration::from_millis(1800));
    // Nothing ran during the pause: a whole second in the middle stood still
    // (the pause began about 1 s after the call, the run's clock a little later).
    let counts: Vec<u64> = run.recorded.intervals.iter().map(|i| i.count).collect();
    let quiet = counts[1..counts.len().saturating_sub(1)]
        .iter()
        .filter(|&&c| c <= 2)
        .count();
    assert!(quiet >= 1, "no quiet second while paused: {counts:?}");
    app.shutdown().await;
}
