//! The OTLP/HTTP span exporter against a real HTTP receiver on loopback:
//! what it posts decodes as OTLP, carries the configured headers and gzip,
//! and failures are retried or not as the OTLP specification says, within
//! the timeout.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use prost::Message;
use target_app::otlp::{HttpConfig, HttpSpanExporter};

/// What the receiver got: each request's headers and (gunzipped) body.
pub(crate) type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Seen,
    _rt: tokio::runtime::Runtime,
}

/// Answers the first `failures` requests with `status` (and `body`), the
/// rest with 200. `/slow/v1/traces` answers a second later with a redirect
/// to `/v1/traces`.
pub(crate) fn receiver(failures: usize, status: u16, body: &'static str) -> Receiver {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seen = Seen::default();
    let count = Arc::new(AtomicUsize::new(0));
    let log = seen.clone();
    let redirect = |status: u16, to: &'static str| {
        axum::routing::post(move || async move {
            (
                StatusCode::from_u16(status).unwrap(),
                [("location", to)],
                "",
            )
        })
    };
    let app = axum::Router::new()
        .route("/moved-permanently", redirect(308, "/v1/traces"))
        .route("/moved-temporarily", redirect(307, "/moved-permanently"))
        .route("/found", redirect(302, "/v1/traces"))
        .route("/see-other", redirect(303, "/v1/traces"))
        .route("/loop", redirect(307, "/loop"))
        .route(
            "/slow/v1/traces",
            axum::routing::post(|| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                (StatusCode::TEMPORARY_REDIRECT, [("location", "/v1/traces")])
            }),
        )
        .route(
            "/v1/traces",
            axum::routing::post(move |headers: HeaderMap, raw: Bytes| async move {
                let body_bytes = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(raw.as_ref())
                        .read_to_end(&mut out)
                        .unwrap();
                    out
                } else {
                    raw.to_vec()
                };
                log.lock().unwrap().push((headers, body_bytes));
                if count.fetch_add(1, Ordering::SeqCst) < failures {
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("retry-after", "0")],
                        body,
                    )
                } else {
                    (StatusCode::OK, [("retry-after", "0")], "")
                }
            }),
        );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    Receiver {
        addr,
        seen,
        _rt: rt,
    }
}

pub(crate) fn exporter(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    gzip: bool,
    timeout: Duration,
) -> HttpSpanExporter {
    exporter_at(
        HttpConfig::signal_url("test", &format!("http://{addr}")).unwrap(),
        headers,
        gzip,
        timeout,
    )
}

pub(crate) fn exporter_at(
    endpoint: reqwest::Url,
    headers: &[(&str, &str)],
    gzip: bool,
    timeout: Duration,
) -> HttpSpanExporter {
    let mut e = HttpSpanExporter::new(HttpConfig {
        endpoint,
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    reqwest::header::HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect(),
        timeout,
        gzip,
    })
    .unwrap();
    e.set_resource(
        &Resource::builder_empty()
            .with_service_name("exporter-under-test")
            .build(),
    );
    e
}

pub(crate) fn span(name: &'static str) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(7),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::from(3),
        parent_span_is_remote: true,
        span_kind: SpanKind::Server,
        name: name.into(),
        start_time: SystemTime::now(),
        end_time: SystemTime::now(),
        attributes: vec![KeyValue::new("http.request.method", "GET")],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("target-app").build(),
    }
}

fn export(e: &HttpSpanExporter, spans: &[SpanData]) -> Result<(), OTelSdkError> {
    e.send(e.body(spans)?)
}

#[test]
fn posts_decodable_spans_with_the_configured_headers_and_gzip() {
    let r = receiver(0, 200, "");
    for gzip in [false, true] {
        let e = exporter(
            r.addr,
            &[("api-key", "s ecret"), ("x-tenant", "a=b")],
            gzip,
            // The longest timeout the environment can give must not
            // overflow the deadline.
            if gzip {
                Duration::from_secs(5)
            } else {
                Duration::from_millis(u64::MAX)
            },
        );
        export(&e, &[span("GET /api/products"), span("db.query")]).unwrap();
    }
    let seen = r.seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for ((headers, body), gzip) in seen.iter().zip([false, true]) {
        assert_eq!(headers["content-type"], "application/x-protobuf");
        assert_eq!(headers["api-key"], "s ecret");
        assert_eq!(headers["x-tenant"], "a=b");
        assert_eq!(headers.get("content-encoding").is_some(), gzip);
        let req = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        let rs = &req.resource_spans[0];
        let service = &rs.resource.as_ref().unwrap().attributes[0];
        assert_eq!(service.key, "service.name");
        let names: Vec<&str> = rs.scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["GET /api/products", "db.query"]);
        assert_eq!(
            rs.scope_spans[0].spans[0].parent_span_id,
            3u64.to_be_bytes()
        );
    }
}

#[test]
fn throttling_and_unavailability_are_retried() {
    for status in [429, 502, 503, 504] {
        let r = receiver(2, status, "busy");
        let e = exporter(r.addr, &[], false, Duration::from_secs(10));
        export(&e, &[span("a")]).unwrap_or_else(|err| panic!("{status}: {err}"));
        assert_eq!(r.seen.lock().unwrap().len(), 3, "{status}");
    }
}

#[test]
fn other_errors_fail_at_once_with_what_the_collector_said() {
    let r = receiver(usize::MAX, 400, "span name too long");
    let e = exporter(r.addr, &[], false, Duration::from_secs(10));
    let err = export(&e, &[span("a")]).unwrap_err().to_string();
    assert!(
        err.contains("400") && err.contains("span name too long"),
        "{err}"
    );
    assert_eq!(r.seen.lock().unwrap().len(), 1);
}

#[test]
fn retries_stop_at_three_and_within_the_timeout() {
    let r = receiver(usize::MAX, 503, "down");
    let e = exporter(r.addr, &[], false, Duration::from_secs(10));
    let err = export(&e, &[span("a")]).unwrap_err().to_string();
    assert!(err.contains("503"), "{err}");
    assert_eq!(r.seen.lock().unwrap().len(), 4, "one try and three retries");

    // Nothing listening: connection errors are retried too, but the whole
    // export ends within its timeout.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let e = exporter(addr, &[], false, Duration::from_millis(250));
    let start = Instant::now();
    let err = export(&e, &[span("a")]).unwrap_err().to_string();
    assert!(err.contains(&addr.to_string()), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn redirects_that_keep_the_post_are_followed_and_others_fail() {
    let r = receiver(0, 200, "");
    let at = |path: &str| {
        exporter_at(
            format!("http://{}{path}", r.addr).parse().unwrap(),
            &[("api-key", "k")],
            true,
            Duration::from_secs(5),
        )
    };
    // 307 then 308: the spans, headers and encoding arrive at the end.
    export(&at("/moved-temporarily"), &[span("a")]).unwrap();
    {
        let seen = r.seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0["api-key"], "k");
        let req = ExportTraceServiceRequest::decode(seen[0].1.as_slice()).unwrap();
        assert_eq!(req.resource_spans[0].scope_spans[0].spans[0].name, "a");
    }
    // 302 and 303 would turn the post into a GET without the spans: the
    // export fails with the status instead of passing.
    for (path, status) in [("/found", "302"), ("/see-other", "303")] {
        let err = export(&at(path), &[span("a")]).unwrap_err().to_string();
        assert!(err.contains(status), "{path}: {err}");
    }
    // A redirect loop ends.
    let err = export(&at("/loop"), &[span("a")]).unwrap_err().to_string();
    assert!(err.contains("redirect"), "{err}");
    assert_eq!(r.seen.lock().unwrap().len(), 1);
}

#[test]
fn a_user_content_type_does_not_replace_the_exporters() {
    let r = receiver(0, 200, "");
    let e = exporter(
        r.addr,
        &[("content-type", "text/plain"), ("content-encoding", "br")],
        false,
        Duration::from_secs(5),
    );
    export(&e, &[span("a")]).unwrap();
    let seen = r.seen.lock().unwrap();
    let values: Vec<_> = seen[0].0.get_all("content-type").iter().collect();
    assert_eq!(values, ["application/x-protobuf"]);
    assert!(seen[0].0.get("content-encoding").is_none());
}

#[test]
fn a_shut_down_exporter_sends_nothing() {
    let r = receiver(0, 200, "");
    let e = exporter(r.addr, &[], false, Duration::from_secs(5));
    e.shutdown().unwrap();
    assert!(matches!(
        export(&e, &[span("a")]),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert!(matches!(e.shutdown(), Err(OTelSdkError::AlreadyShutdown)));
    assert!(r.seen.lock().unwrap().is_empty());
}

#[test]
fn the_app_reads_the_exporters_configuration_from_the_environment() {
    use crate::util::{client, spawn_app};
    let r = receiver(0, 200, "");
    // The general endpoint goes nowhere: spans must take the signal's own.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere_addr = nowhere.local_addr().unwrap();
    drop(nowhere);
    let traces = format!("http://{}/v1/traces", r.addr);
    let general = format!("http://{nowhere_addr}");
    let mut app = spawn_app(
        &["--telemetry", "otlp", "--work-scale", "0"],
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &general),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "authorization=Bearer%20t0k",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let status = client()
        .get(app.url("/api/products"))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200);
    app.guard.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(
        app.guard
            .wait_exit(Duration::from_secs(20))
            .unwrap()
            .success()
    );

    let seen = r.seen.lock().unwrap();
    assert!(!seen.is_empty(), "no export reached the traces endpoint");
    for (headers, _) in seen.iter() {
        assert_eq!(headers["authorization"], "Bearer t0k");
        assert_eq!(headers["content-encoding"], "gzip");
    }
    let spans: Vec<_> = seen
        .iter()
        .flat_map(|(_, body)| {
            ExportTraceServiceRequest::decode(body.as_slice())
                .unwrap()
                .resource_spans
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .filter(|s| s.trace_id == 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c_u128.to_be_bytes())
        .collect();
    assert!(
        spans.iter().any(|s| s.name == "GET /api/products"),
        "{spans:#?}"
    );
}
