//! The OTLP trace receiver (`loadgen::trace_sink`) with real senders: the
//! target app's own OTLP exporter over HTTP/protobuf and over gRPC, and
//! encoded batches, malformed bodies and a forwarding chain posted to it.
//!
//! The target app's exporter is configured from `OTEL_*` variables once per
//! process, so it runs in a child: this test binary again, asked to run the
//! same test with [`APP_ROLE`] set, which makes that test serve the target
//! app instead (until its stdin closes). The child is killed by its PID
//! when the parent's handle drops.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use loadgen::bottleneck::Span;
use loadgen::trace_sink::{Keep, SinkConfig, SinkStats, TraceSink};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan};
use prost::Message;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// Set in the child: the OTLP protocol it exports with.
const APP_ROLE: &str = "LOADGEN_IT_TRACE_SINK_APP";
/// The prefix of the trace ids "loadgen sent" in these tests.
const PREFIX: u32 = 0x10ad_6e40;

fn ours(n: u128) -> u128 {
    (u128::from(PREFIX) << 96) | n
}

fn foreign(n: u128) -> u128 {
    (0x0bad_f00du128 << 96) | n
}

fn sink_config(keep: Keep) -> SinkConfig {
    SinkConfig {
        keep,
        ..SinkConfig::new("127.0.0.1:0".parse().unwrap())
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Polls `f` until it is `Some`, for at most `limit`.
async fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// In the child (`APP_ROLE` set): serves the target app with OTLP export
/// until stdin closes (or two minutes pass), flushes, and returns true. In
/// the parent: false at once.
pub(crate) async fn serve_as_app() -> bool {
    if std::env::var_os(APP_ROLE).is_none() {
        return false;
    }
    let telemetry =
        target_app::Telemetry::init(target_app::TelemetryMode::Otlp).expect("telemetry starts");
    // A fault plan for the child, as JSON (the admin API's format).
    let faults = std::env::var(APP_FAULTS)
        .ok()
        .map(|f| target_app::faults::FaultPlan::from_yaml(&f, APP_FAULTS).expect("the fault plan"))
        .unwrap_or_default();
    let app = target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        faults,
        work: target_app::WorkConfig {
            scale: 0.05,
            payment_failure_rate: 0.0,
        },
        tracing: true,
        ..target_app::Config::default()
    })
    .await
    .expect("target app starts");
    // On a line of its own: libtest has written the test's name before it.
    println!("\nAPP_ADDR {}", app.addr);
    let _ = std::io::stdout().flush();
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        let _ = closed.send(());
    });
    let _ = tokio::time::timeout(Duration::from_secs(120), stdin_closed).await;
    app.shutdown().await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();
    true
}

/// The target app in a child process exporting to `sink` over `protocol`.
pub(crate) struct App {
    child: tokio::process::Child,
    pub(crate) addr: SocketAddr,
}

/// The child's fault plan (JSON or YAML), when set.
pub(crate) const APP_FAULTS: &str = "LOADGEN_IT_TRACE_SINK_FAULTS";

impl App {
    async fn start(test: &str, sink: SocketAddr, protocol: &str) -> App {
        Self::start_with(test, sink, protocol, &[]).await
    }

    /// [`App::start`] with more environment for the child (a fault plan in
    /// [`APP_FAULTS`], a sampler).
    pub(crate) async fn start_with(
        test: &str,
        sink: SocketAddr,
        protocol: &str,
        env: &[(&str, &str)],
    ) -> App {
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads", "1"])
            .env(APP_ROLE, protocol)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{sink}"))
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .env("OTEL_BSP_SCHEDULE_DELAY", "200")
            .env("OTEL_BLRP_SCHEDULE_DELAY", "200")
            .env("OTEL_SERVICE_NAME", "checkout-under-test")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .env_remove("OTEL_TRACES_SAMPLER")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the test binary starts again");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(a) = line.trim().strip_prefix("APP_ADDR ") {
                    return a.parse::<SocketAddr>().unwrap();
                }
            }
            panic!("the child ended without an address");
        })
        .await
        .expect("the target app reported its address in time");
        // Keep reading stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        App { child, addr }
    }

    /// Closes stdin: the child flushes its spans and exits (bounded).
    pub(crate) async fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the target app stopped in time")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

fn traceparent(trace: u128, parent: u64) -> String {
    format!("00-{trace:032x}-{parent:016x}-01")
}

/// An order and a product lookup under traces of ours, and an order under
/// a foreign trace.
async fn drive(app: &App) {
    let c = http();
    let base = format!("http://{}", app.addr);
    let r = c
        .post(format!("{base}/api/orders"))
        .header("traceparent", traceparent(ours(1), 0xaa))
        .json(&serde_json::json!({"product_id": 2, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .get(format!("{base}/api/products/3"))
        .header("traceparent", traceparent(ours(2), 0xbb))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/api/orders"))
        .header("traceparent", traceparent(foreign(3), 0xcc))
        .json(&serde_json::json!({"product_id": 1, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
    s.attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The order's server span under the caller's parent, its three steps
/// under it; the lookup's SELECT under its server span.
fn assert_trees(sink: &TraceSink) {
    let order = sink.spans_of(ours(1));
    let server = order
        .iter()
        .find(|s| s.name == "POST /api/orders")
        .unwrap_or_else(|| panic!("no server span in {order:#?}"));
    assert_eq!(
        server.parent, 0xaa,
        "the server span continues the caller's"
    );
    assert!(server.end_ns > server.start_ns);
    assert_eq!(attr(server, "http.response.status_code"), Some("201"));
    assert_eq!(attr(server, "service.name"), Some("checkout-under-test"));
    for step in ["validate_order", "process_payment", "reserve_inventory"] {
        let child = order
            .iter()
            .find(|s| s.name == step)
            .unwrap_or_else(|| panic!("no {step} span in {order:#?}"));
        assert_eq!(child.parent, server.span_id, "{step}");
        assert!(child.start_ns >= server.start_ns && child.end_ns <= server.end_ns);
    }
    let lookup = sink.spans_of(ours(2));
    let server = lookup
        .iter()
        .find(|s| s.name == "GET /api/products/{id}")
        .expect("lookup server span");
    assert_eq!(server.parent, 0xbb);
    let db = lookup
        .iter()
        .find(|s| s.name == "SELECT products")
        .expect("db span");
    assert_eq!(db.parent, server.span_id);
    assert!(sink.spans_of(foreign(3)).is_empty(), "foreign trace kept");
}

/// Waits until the three traces' spans have all arrived.
async fn wait_for_exports(sink: &TraceSink) -> SinkStats {
    wait_for(Duration::from_secs(15), || {
        let s = sink.stats();
        // Order: server + 3 steps; lookup: server + SELECT; foreign order: 4.
        (s.received_spans >= 10 && sink.spans_of(ours(1)).len() >= 4).then_some(s)
    })
    .await
    .unwrap_or_else(|| panic!("spans did not arrive: {:?}", sink.stats()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_app_over_otlp_http_gives_the_span_tree_and_foreign_traces_are_dropped() {
    if serve_as_app().await {
        return;
    }
    let sink = TraceSink::bind(sink_config(Keep::Prefix(PREFIX)))
        .await
        .unwrap();
    let app = App::start(
        "trace_sink::target_app_over_otlp_http_gives_the_span_tree_and_foreign_traces_are_dropped",
        sink.local_addr(),
        "http/protobuf",
    )
    .await;
    drive(&app).await;
    let seen = wait_for_exports(&sink).await;
    app.stop().await;
    assert_trees(&sink);
    let s = sink.stats();
    assert!(seen.requests >= 1 && s.bad_requests == 0, "{s:?}");
    assert_eq!(s.kept_spans, 6, "{s:?}");
    assert_eq!(s.rejected_spans, 4, "the foreign order's spans: {s:?}");
    assert_eq!(s.received_spans, s.kept_spans + s.rejected_spans);
    assert_eq!((s.evicted_spans, s.held_spans), (0, 6));
    let all = sink.take_all();
    assert_eq!(all.len(), 2);
    assert_eq!(sink.stats().held_spans, 0);
    sink.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_app_over_otlp_grpc_gives_the_span_tree() {
    if serve_as_app().await {
        return;
    }
    let sink = TraceSink::bind(sink_config(Keep::Prefix(PREFIX)))
        .await
        .unwrap();
    let app = App::start(
        "trace_sink::target_app_over_otlp_grpc_gives_the_span_tree",
        sink.local_addr(),
        "grpc",
    )
    .await;
    drive(&app).await;
    wait_for_exports(&sink).await;
    app.stop().await;
    assert_trees(&sink);
    let s = sink.stats();
    assert_eq!((s.kept_spans, s.rejected_spans, s.bad_requests), (6, 4, 0));
    sink.shutdown().await;
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// One export of `per_trace` spans for each trace id (the first a root,
/// the others its children).
fn batch(traces: &[u128], per_trace: u64) -> ExportTraceServiceRequest {
    let spans = traces
        .iter()
        .flat_map(|&t| {
            (1..=per_trace).map(move |i| OtlpSpan {
                trace_id: t.to_be_bytes().to_vec(),
                span_id: i.to_be_bytes().to_vec(),
                parent_span_id: if i == 1 {
                    vec![]
                } else {
                    1u64.to_be_bytes().to_vec()
                },
                name: format!("step{i}"),
                start_time_unix_nano: 1_000 + i,
                end_time_unix_nano: 2_000 + i,
                attributes: vec![kv("k", "v")],
                ..Default::default()
            })
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "gen")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn post(
    sink: &TraceSink,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, String, Vec<u8>) {
    let r = http()
        .post(format!("http://{}/v1/traces", sink.local_addr()))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

async fn post_proto(
    sink: &TraceSink,
    req: &ExportTraceServiceRequest,
) -> ExportTraceServiceResponse {
    let (status, ct, body) = post(sink, "application/x-protobuf", req.encode_to_vec()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ct, "application/x-protobuf");
    ExportTraceServiceResponse::decode(body.as_slice()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_max_spans_the_oldest_traces_are_evicted_and_counted() {
    let sink = TraceSink::bind(SinkConfig {
        max_spans: 10,
        ..sink_config(Keep::Prefix(PREFIX))
    })
    .await
    .unwrap();
    // Traces 1..=3, then 4..=5: 5 traces of 3 spans, 15 > 10.
    post_proto(&sink, &batch(&[ours(1), ours(2), ours(3)], 3)).await;
    post_proto(&sink, &batch(&[ours(4), ours(5)], 3)).await;
    let s = sink.stats();
    assert_eq!((s.kept_spans, s.evicted_spans, s.held_spans), (15, 6, 9));
    assert!(sink.spans_of(ours(1)).is_empty() && sink.spans_of(ours(2)).is_empty());
    for t in 3..=5 {
        let spans = sink.spans_of(ours(t));
        assert_eq!(spans.len(), 3, "trace {t} whole");
        assert_eq!(spans[1].parent, 1);
        assert_eq!(attr(&spans[0], "service.name"), Some("gen"));
    }
    // A foreign trace is answered as a partial success and never evicts ours.
    let answer = post_proto(&sink, &batch(&[foreign(9)], 4)).await;
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 4);
    assert!(
        partial.error_message.contains("4 spans not kept"),
        "{}",
        partial.error_message
    );
    let s = sink.stats();
    assert_eq!((s.rejected_spans, s.held_spans, s.evicted_spans), (4, 9, 6));
    // All of ours, fully accepted: no partial success.
    let answer = post_proto(&sink, &batch(&[ours(6)], 1)).await;
    assert_eq!(answer.partial_success, None);
    let all: HashMap<u128, Vec<Span>> = sink.take_all();
    let mut ids: Vec<u128> = all.keys().copied().collect();
    ids.sort_unstable();
    assert_eq!(ids, [ours(3), ours(4), ours(5), ours(6)]);
    sink.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_json_bodies_are_accepted() {
    let sink = TraceSink::bind(sink_config(Keep::All)).await.unwrap();
    // The OTLP/JSON encoding: hex ids, times as strings, camelCase.
    let body = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": format!("{:032x}", ours(7)),
            "spanId": "00000000000000a1",
            "parentSpanId": "00000000000000a0",
            "name": "GET /x",
            "kind": 2,
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000250000000",
            "attributes": [
                {"key": "http.response.status_code", "value": {"intValue": "200"}},
                {"key": "cache.hit", "value": {"boolValue": false}}
            ]
        }]}]
    }]});
    let (status, ct, answer) = post(&sink, "application/json", body.to_string()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(ct, "application/json");
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert!(
        answer.get("partialSuccess").is_none_or(|p| p.is_null()),
        "{answer}"
    );
    let spans = sink.spans_of(ours(7));
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!((s.span_id, s.parent), (0xa1, 0xa0));
    assert_eq!(s.end_ns - s.start_ns, 250_000_000);
    assert_eq!(attr(s, "http.response.status_code"), Some("200"));
    assert_eq!(attr(s, "cache.hit"), Some("false"));
    assert_eq!(attr(s, "service.name"), Some("js"));
    sink.shutdown().await;
}

/// The `google.rpc.Status` message of an error body.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_bodies_are_refused_and_the_sink_keeps_serving() {
    let sink = TraceSink::bind(SinkConfig {
        max_body: 64 * 1024,
        ..sink_config(Keep::All)
    })
    .await
    .unwrap();
    let valid = batch(&[ours(1)], 3).encode_to_vec();
    // Random bytes (a fixed xorshift stream), a truncated export, and a
    // field claiming a length far beyond the body.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let truncated = valid[..valid.len() - 7].to_vec();
    let huge_length = vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02];
    for (what, body) in [
        ("random bytes", random),
        ("truncated", truncated),
        ("huge length prefix", huge_length),
    ] {
        let (status, ct, answer) = post(&sink, "application/x-protobuf", body).await;
        assert_eq!(status, 400, "{what}");
        assert_eq!(ct, "application/x-protobuf", "{what}");
        let st = RpcStatus::decode(answer.as_slice()).unwrap();
        assert_eq!(st.code, 3, "{what}");
        assert!(st.message.contains("not an OTLP"), "{what}: {}", st.message);
    }
    let (status, _, answer) = post(&sink, "application/json", "{\"resourceSpans\": [1,").await;
    assert_eq!(status, 400);
    let st: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert!(
        st["message"].as_str().unwrap().contains("not an OTLP"),
        "{st}"
    );
    // Unknown content type and encoding.
    let (status, _, answer) = post(&sink, "text/plain", valid.clone()).await;
    assert_eq!(status, 415);
    assert!(String::from_utf8_lossy(&answer).contains("application/x-protobuf"));
    let r = http()
        .post(format!("http://{}/v1/traces", sink.local_addr()))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "br")
        .body(valid.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // Over the cap: by Content-Length, streamed without one, and after gunzip.
    let (status, _, answer) = post(&sink, "application/x-protobuf", vec![0u8; 64 * 1024 + 1]).await;
    assert_eq!(status, 413);
    assert!(
        RpcStatus::decode(answer.as_slice())
            .unwrap()
            .message
            .contains("65536")
    );
    assert_eq!(
        chunked_post(sink.local_addr(), 20, 8192).await,
        413,
        "a chunked body over the cap"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 1024 * 1024]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 64 * 1024);
    let r = http()
        .post(format!("http://{}/v1/traces", sink.local_addr()))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "gzip expanding over the cap");
    // gRPC over the cap: an error status, not a crash.
    let mut client = grpc_client(sink.local_addr()).await;
    let big = batch(&(0..2000).map(ours).collect::<Vec<_>>(), 1);
    assert!(big.encoded_len() > 64 * 1024);
    let err = client.export(big).await.unwrap_err();
    assert_ne!(err.code(), tonic::Code::Ok);
    // Other paths and methods.
    let r = http()
        .get(format!("http://{}/v1/traces", sink.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = http()
        .post(format!("http://{}/v1/metrics", sink.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Still serving, over HTTP (gzip too) and gRPC.
    post_proto(&sink, &batch(&[ours(1)], 3)).await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&batch(&[ours(2)], 2).encode_to_vec()).unwrap();
    let r = http()
        .post(format!("http://{}/v1/traces", sink.local_addr()))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    client.export(batch(&[ours(3)], 1)).await.unwrap();
    assert_eq!(sink.spans_of(ours(1)).len(), 3);
    assert_eq!(sink.spans_of(ours(2)).len(), 2);
    assert_eq!(sink.spans_of(ours(3)).len(), 1);
    let s = sink.stats();
    assert_eq!(s.bad_requests, 9, "{s:?}");
    assert_eq!(s.kept_spans, 6, "{s:?}");
    sink.shutdown().await;
}

/// POSTs `chunks` chunks of `size` zero bytes with no Content-Length
/// (chunked) over a raw connection; the answer's status code.
async fn chunked_post(addr: SocketAddr, chunks: usize, size: usize) -> u16 {
    use tokio::io::AsyncWriteExt;
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-protobuf\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let chunk = [
        format!("{size:x}\r\n").into_bytes(),
        vec![0u8; size],
        b"\r\n".to_vec(),
    ]
    .concat();
    for _ in 0..chunks {
        // The server may answer and close before the last chunk.
        if conn.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .ok();
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

async fn grpc_client(addr: SocketAddr) -> TraceServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    TraceServiceClient::new(channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_reaches_a_second_sink() {
    let collector = TraceSink::bind(sink_config(Keep::All)).await.unwrap();
    let front = TraceSink::bind(SinkConfig {
        forward: Some(format!("http://{}", collector.local_addr())),
        ..sink_config(Keep::Prefix(PREFIX))
    })
    .await
    .unwrap();
    // Over HTTP, with a foreign trace the front does not keep but forwards.
    post_proto(&front, &batch(&[ours(1), foreign(2)], 2)).await;
    // Over gRPC.
    grpc_client(front.local_addr())
        .await
        .export(batch(&[ours(3)], 3))
        .await
        .unwrap();
    // The collector keeps the spans before it answers, and the front
    // counts a forward when the answer arrives: wait for both.
    let got = wait_for(Duration::from_secs(10), || {
        (collector.stats().kept_spans >= 7 && front.stats().forwarded >= 2)
            .then(|| collector.stats())
    })
    .await
    .unwrap_or_else(|| panic!("not forwarded: {:?} {:?}", front.stats(), collector.stats()));
    assert_eq!(got.kept_spans, 7);
    assert_eq!(collector.spans_of(foreign(2)).len(), 2);
    assert_eq!(collector.spans_of(ours(3)), front.spans_of(ours(3)));
    let f = front.stats();
    assert_eq!(
        (f.forwarded, f.forward_failed, f.forward_dropped),
        (2, 0, 0)
    );
    assert_eq!((f.kept_spans, f.rejected_spans), (5, 2));

    // A collector that is gone: failures are counted, the sink still answers.
    collector.shutdown().await;
    post_proto(&front, &batch(&[ours(4)], 1)).await;
    let f = wait_for(Duration::from_secs(15), || {
        let s = front.stats();
        (s.forward_failed >= 1).then_some(s)
    })
    .await
    .unwrap_or_else(|| panic!("no failure counted: {:?}", front.stats()));
    assert_eq!((f.forwarded, f.forward_failed), (2, 1));
    assert_eq!(front.spans_of(ours(4)).len(), 1);
    front.shutdown().await;

    // A forwarding URL that is not one is refused at bind.
    let err = TraceSink::bind(SinkConfig {
        forward: Some("ftp://collector".into()),
        ..sink_config(Keep::All)
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("http or https"), "{err}");
}
