//! Where the time goes, end to end: the real target app (in a child
//! process, exporting its spans over OTLP to loadgen's `--trace-sink`) with
//! a latency fault on one step of its order pipeline (1 s, so that a
//! starved machine's queueing, which the analysis rightly calls client-side
//! time, stays below it); loadgen's report
//! names that step's span as the bottleneck of `create order`, with the
//! fault's attribute in the slow requests and in about the injected share
//! of all; moved to another step, the answer moves.

use std::time::Duration;

use crate::trace_sink::{APP_FAULTS, App, serve_as_app};
use crate::util::{self, Dir};

/// A free loopback port (the sink binds it right after).
fn free_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

const ORDERS: &str = "timeout: 10s
scenarios:
  - name: shop
    requests:
      - name: create order
        method: POST
        path: /api/orders
        headers:
          content-type: application/json
        body: '{\"product_id\": 3, \"quantity\": 1}'
        expect: [201]
load:
  model: open
  rate: 60
  duration: 10s
  max_users: 40
";

/// A run of [`ORDERS`] against the target app with `faults`; its report's
/// `bottlenecks` entry for `create order`.
async fn run_with(test: &str, faults: &str, extra_env: &[(&str, &str)]) -> serde_json::Value {
    run_with_args(test, faults, extra_env, |_| Vec::new()).await
}

/// [`run_with`], with more flags for loadgen made from the sink's address.
async fn run_with_args(
    test: &str,
    faults: &str,
    extra_env: &[(&str, &str)],
    extra_args: impl Fn(std::net::SocketAddr) -> Vec<String>,
) -> serde_json::Value {
    let sink = free_port();
    let mut env = vec![(APP_FAULTS, faults)];
    env.extend_from_slice(extra_env);
    let app = App::start_with(test, sink, "http/protobuf", &env).await;
    let dir = Dir::new();
    let file = dir.write("orders.yaml", ORDERS);
    let report = dir.path("r.json");
    let host = format!("http://{}", app.addr);
    let addr = sink.to_string();
    let more = extra_args(sink);
    let mut args = vec![
        "run",
        util::arg(&file),
        "--host",
        &host,
        "--trace-sink",
        &addr,
        "--report",
        util::arg(&report),
    ];
    args.extend(more.iter().map(String::as_str));
    let out = util::run(&args, Duration::from_secs(60)).await;
    app.stop().await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("where the time goes"), "{}", out.stdout);
    // Shown with --nocapture, and on a failure.
    eprintln!("{}", out.stdout);
    let r = util::report(&report);
    let b = &r["bottlenecks"];
    assert_eq!(b["source"], "trace-sink", "{b}");
    b["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["request"] == "create order")
        .cloned()
        .unwrap_or_else(|| panic!("no create order in {b}"))
}

/// The separating attribute of `q` on `span`, as (slow, all) shares.
fn separator(q: &serde_json::Value, span: &str) -> Option<(f64, f64)> {
    q["separators"].as_array()?.iter().find_map(|s| {
        (s["span"] == span && s["key"] == "app.fault.latency_ms" && s["value"] == "1000")
            .then(|| (s["slow"].as_f64().unwrap(), s["all"].as_f64().unwrap()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slow_step_is_named_and_moves_with_the_fault() {
    if serve_as_app().await {
        return;
    }
    let me = "bottlenecks::the_slow_step_is_named_and_moves_with_the_fault";
    for (step, span) in [
        ("payment", "process_payment"),
        ("inventory", "reserve_inventory"),
    ] {
        let faults = format!(
            "{{\"steps\": [{{\"step\": \"{step}\", \"share\": 0.2, \"latency\": \"1s\"}}]}}"
        );
        let q = run_with(me, &faults, &[]).await;
        assert_eq!(q["bottleneck"], span, "{step}: {q}");
        assert!(q["slow"].as_u64().unwrap() >= 2, "{q}");
        assert_eq!(q["slow_without_trace"], 0, "{q}");
        let (slow, all) = separator(&q, span).unwrap_or_else(|| panic!("{step}: {q}"));
        assert!(slow >= 0.99, "{step}: every slow order had the fault: {q}");
        assert!(
            (all - 0.2).abs() <= 0.1,
            "{step}: the fault's share of all orders {all} is near the injected 20%"
        );
        let top = &q["spans"][0];
        assert_eq!(top["span"], span, "{q}");
        assert!(top["slow_ms"].as_f64().unwrap() >= 1000.0, "{q}");
        assert!(top["typical_ms"].as_f64().unwrap() < 50.0, "{q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sampling_at_ten_percent_the_slow_requests_without_a_trace_are_counted() {
    if serve_as_app().await {
        return;
    }
    let me =
        "bottlenecks::with_sampling_at_ten_percent_the_slow_requests_without_a_trace_are_counted";
    let faults = "{\"steps\": [{\"step\": \"payment\", \"share\": 0.2, \"latency\": \"1s\"}]}";
    let q = run_with(
        me,
        faults,
        &[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ],
    )
    .await;
    let slow = q["slow"].as_u64().unwrap();
    let missing = q["slow_without_trace"].as_u64().unwrap();
    let typical = q["typical"].as_u64().unwrap();
    let typical_missing = q["typical_without_trace"].as_u64().unwrap();
    assert!(slow > 0 && typical > 10, "{q}");
    // About nine in ten have no trace; never all of the typical ones.
    let share = typical_missing as f64 / typical as f64;
    assert!(
        (0.7..1.0).contains(&share),
        "{typical_missing} of {typical} typical: {q}"
    );
    assert!(missing <= slow, "{q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_a_client_span_keep_the_runs_trace_ids() {
    if serve_as_app().await {
        return;
    }
    let me = "bottlenecks::requests_with_a_client_span_keep_the_runs_trace_ids";
    let faults = "{\"steps\": [{\"step\": \"payment\", \"share\": 0.2, \"latency\": \"1s\"}]}";
    // Every request gets a client span, exported to the same sink: the
    // traces start at loadgen, and still carry the run's prefix.
    let q = run_with_args(me, faults, &[], |sink| {
        vec![
            "--otlp-endpoint".into(),
            format!("http://{sink}"),
            "--trace-share".into(),
            "1".into(),
        ]
    })
    .await;
    assert_eq!(q["slow_without_trace"], 0, "{q}");
    assert_eq!(q["typical_without_trace"], 0, "{q}");
    assert_eq!(q["bottleneck"], "process_payment", "{q}");
    // loadgen's own client span is no server span: the time outside the
    // server's spans is still its own line, and no span is the client's.
    let spans: Vec<&str> = q["spans"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["span"].as_str())
        .collect();
    assert!(
        spans.contains(&"(not in any server span: network, queueing)"),
        "{spans:?}"
    );
    assert!(
        !spans.iter().any(|s| s.starts_with("POST create order")),
        "{spans:?}"
    );
}
