//! Remote write: readings published through a `Sink` as the recorder does,
//! sent by the `Writer` to a real Prometheus 2.42 (remote-write receiver)
//! and read back with PromQL; and to small receivers in the test that
//! answer 500, 400 or slowly, or check the Authorization header.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use loadgen::metrics::remote_write::{Auth, Config, RemoteWriteError, WriteRequest, Writer};
use loadgen::metrics::{
    ClientMetrics, Exposition, Gauges, SeriesMeta, Sink, now_ms, record_series,
};
use loadgen::stats::Outcome;
use prost::Message;

use crate::util::{prometheus, query};

async fn one(prom: &str, q: &str) -> f64 {
    let r = query(prom, q).await;
    assert_eq!(r.len(), 1, "{q}: {r:?}");
    r[0].1
}

fn metas() -> Vec<SeriesMeta> {
    vec![
        SeriesMeta {
            scenario: "shop".into(),
            request: "list".into(),
            method: "GET".into(),
        },
        SeriesMeta {
            scenario: "shop".into(),
            request: "buy".into(),
            method: "POST".into(),
        },
    ]
}

/// A shard's counts: `ok` fast successes of "list", `slow` 120 ms ones,
/// `refused` 503s of "buy" and one connect error.
fn shard(ok: u32, slow: u32, refused: u32) -> Vec<((u32, Outcome), loadgen::metrics::Buckets)> {
    let ms = Duration::from_millis;
    let mut s = Vec::new();
    for _ in 0..ok {
        record_series(&mut s, (0, Outcome::Ok(200)), ms(20), ms(30));
    }
    for _ in 0..slow {
        record_series(&mut s, (0, Outcome::Ok(200)), ms(120), ms(120));
    }
    for _ in 0..refused {
        record_series(&mut s, (1, Outcome::Status(503)), ms(2), ms(2));
    }
    record_series(&mut s, (1, Outcome::Connect), ms(1), ms(1));
    s
}

fn gauges(iterations: u64) -> Gauges {
    Gauges {
        iterations,
        dropped: 0,
        active_users: 2,
        target_rate: Some(20.0),
        target_users: None,
    }
}

fn config(url: &str, auth: Auth) -> Config {
    Config {
        url: url.to_owned(),
        auth,
        interval: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        max_queue: 32,
    }
}

fn start(sink: &Sink, cfg: Config) -> Writer {
    Writer::start(cfg, sink.readings.subscribe(), sink.finished.subscribe())
        .expect("the writer starts")
}

fn publish(sink: &Sink, e: Exposition) {
    sink.readings.send_replace(Some(Arc::new(e)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_reach_a_real_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (_prom, prom) = prometheus(
        dir.path(),
        "global:\n  scrape_interval: 1m\n",
        &["--web.enable-remote-write-receiver"],
    )
    .await;
    let run_id = "rw0123456789";
    let sink = Sink::new(run_id.into(), vec![("team".into(), "web".into())]);
    let mut m = ClientMetrics::new(run_id, &sink.labels, "127.0.0.1:8080", metas());
    let w = start(&sink, config(&format!("{prom}/api/v1/write"), Auth::None));
    // Three readings, as the recorder publishes them on its ticks; the
    // last is the final one.
    for (i, (ok, slow, refused)) in [(5, 1, 2), (7, 0, 1), (3, 2, 0)].into_iter().enumerate() {
        m.absorb(&shard(ok, slow, refused));
        publish(&sink, m.exposition(now_ms(), &gauges(10 * (i as u64 + 1))));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    sink.finished.send_replace(true);
    let report = w.finish(Duration::from_secs(5)).await;
    assert!(report.final_sent, "{report:?}");
    assert!(report.sent >= 2, "{report:?}");
    assert!(report.samples > 0, "{report:?}");
    assert_eq!((report.failed, report.dropped), (0, 0), "{report:?}");
    assert_eq!(report.last_error, None);
    assert_eq!(report.url, format!("{prom}/api/v1/write"));

    let sel = format!("loadgen_run=\"{run_id}\"");
    let d = "http_client_request_duration_seconds";
    // 15 + 3 + 3 + 3 connect errors.
    assert_eq!(one(&prom, &format!("sum({d}_count{{{sel}}})")).await, 24.0);
    assert_eq!(m.count(), 24);
    let by_status = query(
        &prom,
        &format!("sum by (http_response_status_code) ({d}_count{{{sel}}})"),
    )
    .await;
    let mut got: Vec<(String, f64)> = by_status
        .iter()
        .map(|(l, v)| {
            let s = l["http_response_status_code"].as_str().unwrap_or("none");
            (s.to_owned(), *v)
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("200".into(), 18.0),
            ("503".into(), 3.0),
            ("none".into(), 3.0)
        ]
    );
    let errors = format!("sum({d}_count{{{sel},error_type!=\"\"}})");
    assert_eq!(one(&prom, &errors).await, 6.0);
    let bucket = |le: &str| {
        format!(
            "{d}_bucket{{{sel},loadgen_request=\"list\",http_response_status_code=\"200\",le=\"{le}\"}}"
        )
    };
    assert_eq!(one(&prom, &bucket("0.025")).await, 15.0);
    assert_eq!(one(&prom, &bucket("0.1")).await, 15.0);
    assert_eq!(one(&prom, &bucket("0.15")).await, 18.0);
    assert_eq!(one(&prom, &bucket("+Inf")).await, 18.0);
    let sum = one(&prom, &format!("{d}_sum{{{sel},loadgen_request=\"list\"}}")).await;
    assert!((sum - (15.0 * 0.02 + 3.0 * 0.12)).abs() < 1e-9, "{sum}");
    let corrected = format!(
        "loadgen_request_latency_seconds_bucket{{{sel},loadgen_request=\"list\",le=\"0.025\"}}"
    );
    assert_eq!(one(&prom, &corrected).await, 0.0, "30 ms is past 25 ms");
    let labelled = format!("loadgen_iterations_total{{{sel},team=\"web\"}}");
    assert_eq!(one(&prom, &labelled).await, 30.0);
    assert_eq!(
        one(&prom, &format!("loadgen_target_rate{{{sel}}}")).await,
        20.0
    );
    // Every reading sent is stored: the counts grew over time.
    let over = query(
        &prom,
        &format!("count_over_time({d}_count{{{sel},http_response_status_code=\"200\"}}[5m])"),
    )
    .await;
    assert_eq!(over.len(), 1);
    assert_eq!(over[0].1, report.sent as f64, "{over:?}");
}

/// What a test receiver saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    req: WriteRequest,
}

/// A remote-write receiver on 127.0.0.1 that answers with the statuses in
/// `script` (then 204), each after `delay`, and keeps what it saw.
async fn receiver(
    script: Vec<(u16, &'static str)>,
    delay: Duration,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            let script = script.clone();
            async move {
                let raw = snap::raw::Decoder::new()
                    .decompress_vec(&body)
                    .expect("snappy block format");
                let req = WriteRequest::decode(raw.as_slice()).expect("a WriteRequest");
                log.lock().unwrap().push(Seen { headers, req });
                tokio::time::sleep(delay).await;
                let (status, text) = script.lock().unwrap().pop_front().unwrap_or((204, ""));
                (StatusCode::from_u16(status).unwrap(), text)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/api/v1/write"), seen)
}

fn small(run: &str) -> ClientMetrics {
    let mut m = ClientMetrics::new(run, &[], "127.0.0.1:1", metas());
    m.absorb(&shard(2, 0, 1));
    m
}

fn timestamps(seen: &[Seen]) -> Vec<i64> {
    seen.iter()
        .map(|s| {
            let ts: Vec<i64> = s
                .req
                .timeseries
                .iter()
                .map(|t| t.samples[0].timestamp)
                .collect();
            assert!(
                ts.windows(2).all(|w| w[0] == w[1]),
                "one timestamp a request"
            );
            ts[0]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_retried_then_accepted() {
    let (url, seen) = receiver(vec![(500, "try later")], Duration::ZERO).await;
    let sink = Sink::new("r500".into(), vec![]);
    let w = start(&sink, config(&url, Auth::None));
    publish(&sink, small("r500").exposition(now_ms(), &gauges(1)));
    sink.finished.send_replace(true);
    let report = w.finish(Duration::from_secs(5)).await;
    assert!(report.final_sent, "{report:?}");
    assert_eq!(
        (report.sent, report.retries, report.failed),
        (1, 1, 0),
        "{report:?}"
    );
    let err = report.last_error.unwrap_or_default();
    assert!(err.contains("500") && err.contains("try later"), "{err}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "the 500 and the retry");
    assert_eq!(seen[0].req, seen[1].req, "the same request again");
    assert_eq!(report.samples, seen[1].req.timeseries.len() as u64);
    let h = &seen[0].headers;
    assert_eq!(h["content-encoding"], "snappy");
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
    assert!(!h.contains_key("authorization"));
    for ts in &seen[0].req.timeseries {
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        assert!(names.is_sorted(), "{names:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_not_retried() {
    let body = "out of order sample";
    let (url, seen) = receiver(vec![(400, body); 5], Duration::ZERO).await;
    let sink = Sink::new("r400".into(), vec![]);
    let w = start(&sink, config(&url, Auth::None));
    publish(&sink, small("r400").exposition(now_ms(), &gauges(1)));
    // Ticks see the reading (and its refusal) before the run ends.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sink.finished.send_replace(true);
    let started = Instant::now();
    let report = w.finish(Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!report.final_sent, "{report:?}");
    assert_eq!(
        (report.sent, report.retries, report.failed),
        (0, 0, 1),
        "{report:?}"
    );
    let err = report.last_error.unwrap_or_default();
    assert!(err.starts_with("HTTP 400") && err.contains(body), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_is_given_up_on_at_the_deadline() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let sink = Sink::new("dead".into(), vec![]);
    let m = small("dead");
    let w = start(&sink, config(&url, Auth::None));
    publish(&sink, m.exposition(now_ms(), &gauges(1)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let live = w.report();
    assert!(live.retries > 0 && live.sent == 0, "{live:?}");
    publish(&sink, m.exposition(now_ms(), &gauges(2)));
    sink.finished.send_replace(true);
    let deadline = Duration::from_secs(1);
    let started = Instant::now();
    let report = w.finish(deadline).await;
    let took = started.elapsed();
    assert!(took >= deadline - Duration::from_millis(50), "{took:?}");
    assert!(took < deadline + Duration::from_millis(700), "{took:?}");
    assert!(!report.final_sent, "{report:?}");
    assert_eq!(report.sent, 0);
    assert!(report.retries > live.retries, "{report:?}");
    assert!(report.failed >= 1, "{report:?}");
    let err = report.last_error.unwrap_or_default();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_loses_old_readings_not_the_final_one() {
    let (url, seen) = receiver(vec![], Duration::from_millis(250)).await;
    let sink = Sink::new("slow".into(), vec![]);
    let mut cfg = config(&url, Auth::None);
    cfg.interval = Duration::from_millis(20);
    cfg.max_queue = 2;
    let w = start(&sink, cfg);
    let mut m = small("slow");
    let mut last = 0;
    for i in 0..40 {
        m.absorb(&shard(1, 0, 0));
        last = now_ms();
        publish(&sink, m.exposition(last, &gauges(i)));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    sink.finished.send_replace(true);
    let report = w.finish(Duration::from_secs(3)).await;
    assert!(report.final_sent, "{report:?}");
    assert!(report.dropped > 0, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len() as u64, report.sent);
    let ts = timestamps(&seen);
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    assert!(
        *ts.last().unwrap() >= last,
        "the final reading last: {ts:?}"
    );
    let count: f64 = seen
        .last()
        .unwrap()
        .req
        .timeseries
        .iter()
        .filter(|t| {
            t.labels.iter().any(|l| {
                l.name == "__name__" && l.value == "http_client_request_duration_seconds_count"
            })
        })
        .map(|t| t.samples[0].value)
        .sum();
    assert_eq!(count, m.count() as f64, "the final totals");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_and_bearer_auth_reach_the_receiver() {
    use base64::Engine as _;
    let (url, seen) = receiver(vec![], Duration::ZERO).await;
    let with_user = url.replacen("http://", "http://loader:s%20cret@", 1);
    let cases = [
        (with_user.as_str(), Auth::None, "loader:s cret"),
        (
            url.as_str(),
            Auth::Basic {
                user: "u".into(),
                password: "p".into(),
            },
            "u:p",
        ),
        (with_user.as_str(), Auth::Bearer("tok-123".into()), ""),
    ];
    for (i, (u, auth, _)) in cases.iter().enumerate() {
        let run = format!("auth{i}");
        let sink = Sink::new(run.clone(), vec![]);
        let w = start(&sink, config(u, auth.clone()));
        publish(&sink, small(&run).exposition(now_ms(), &gauges(1)));
        sink.finished.send_replace(true);
        let report = w.finish(Duration::from_secs(5)).await;
        assert!(report.final_sent, "{report:?}");
        assert_eq!(report.url, url, "no credentials in the report");
    }
    let seen = seen.lock().unwrap().clone();
    let got: Vec<&str> = seen
        .iter()
        .map(|s| s.headers["authorization"].to_str().unwrap())
        .collect();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        got,
        [
            format!("Basic {}", b64(cases[0].2)),
            format!("Basic {}", b64(cases[1].2)),
            "Bearer tok-123".to_owned(),
        ]
    );
}

#[tokio::test]
async fn bad_settings_are_refused_at_start() {
    let sink = Sink::new("bad".into(), vec![]);
    let try_start = |cfg: Config| {
        Writer::start(cfg, sink.readings.subscribe(), sink.finished.subscribe()).map(|_| ())
    };
    let e = try_start(config("ftp://u:secret@127.0.0.1/w", Auth::None)).unwrap_err();
    assert!(matches!(e, RemoteWriteError::Scheme { .. }), "{e}");
    assert!(e.to_string().contains("ftp") && !e.to_string().contains("secret"));
    let e = try_start(config("not a url", Auth::None)).unwrap_err();
    assert!(matches!(e, RemoteWriteError::Url { .. }), "{e}");
    let mut zero = config("http://127.0.0.1:1/w", Auth::None);
    zero.interval = Duration::ZERO;
    assert!(matches!(
        try_start(zero),
        Err(RemoteWriteError::Zero { what: "interval" })
    ));
    assert!(try_start(config("http://127.0.0.1:1/w", Auth::None)).is_ok());
}
