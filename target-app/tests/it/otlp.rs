//! OTLP export from the real binary into receivers that decode the real
//! protobuf: over HTTP/protobuf and over gRPC. Asserts the span tree, the
//! semantic-convention attributes, the parent taken from `traceparent`, the
//! resource, OTLP logs with trace ids, and that the sampler variables apply.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use nix::sys::signal::Signal;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;

use crate::util::{client, spawn_app, wait_for};

/// What a receiver got: spans with their resource's service.name, and logs.
#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
    logs: Arc<Mutex<Vec<LogRecord>>>,
}

fn service_name(attrs: &[KeyValue]) -> String {
    attr(attrs, "service.name")
        .and_then(|v| match v {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

impl Received {
    fn add_traces(&self, req: ExportTraceServiceRequest) {
        let mut spans = self.spans.lock().unwrap();
        for rs in req.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .map(|r| service_name(&r.attributes))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
    }

    fn add_logs(&self, req: ExportLogsServiceRequest) {
        let mut logs = self.logs.lock().unwrap();
        for rl in req.resource_logs {
            for sl in rl.scope_logs {
                logs.extend(sl.log_records);
            }
        }
    }

    fn spans_of(&self, trace_id: &[u8]) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.trace_id == trace_id)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn str_attr(span: &Span, key: &str) -> Option<String> {
    match attr(&span.attributes, key)? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int_attr(span: &Span, key: &str) -> Option<i64> {
    match attr(&span.attributes, key)? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// An OTLP/HTTP receiver (protobuf bodies on /v1/traces and /v1/logs).
async fn http_receiver() -> (SocketAddr, Received) {
    let received = Received::default();
    let traces = received.clone();
    let logs = received.clone();
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| async move {
                let req = ExportTraceServiceRequest::decode(body).expect("valid OTLP traces");
                traces.add_traces(req);
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }),
        )
        .route(
            "/v1/logs",
            axum::routing::post(move |body: Bytes| async move {
                let req = ExportLogsServiceRequest::decode(body).expect("valid OTLP logs");
                logs.add_logs(req);
                (
                    [("content-type", "application/x-protobuf")],
                    ExportLogsServiceResponse::default().encode_to_vec(),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

struct GrpcTraces(Received);

#[tonic::async_trait]
impl TraceService for GrpcTraces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.add_traces(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC trace receiver.
async fn grpc_receiver() -> (SocketAddr, Received) {
    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(GrpcTraces(received.clone()));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
    });
    (addr, received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_A: &str = "00f067aa0ba902b7";
const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_B: &str = "b7ad6b7169203331";

fn otlp_env(endpoint: &str, protocol: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "200".to_owned()),
        ("OTEL_SERVICE_NAME", "checkout-under-test".to_owned()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn spans_and_logs_over_otlp_http() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, received) = rt.block_on(http_receiver());
    let env = otlp_env(&format!("http://{addr}"), "http/protobuf");
    let mut app = spawn_app(
        &["--telemetry", "otlp", "--work-scale", "0.05"],
        &as_refs(&env),
    );
    let http = client();
    let r = http
        .get(app.url("/api/products/3"))
        .header("traceparent", format!("00-{TRACE_A}-{PARENT_A}-01"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(app.url("/api/orders"))
        .header("traceparent", format!("00-{TRACE_B}-{PARENT_B}-01"))
        .json(&json!({"product_id": 2, "quantity": 3}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    // A request without trace context starts a new trace.
    assert_eq!(
        http.get(app.url("/api/products")).send().unwrap().status(),
        200
    );
    // Shutdown flushes whatever the batch processors still hold.
    app.guard.signal(Signal::SIGTERM);
    assert!(
        app.guard
            .wait_exit(Duration::from_secs(20))
            .unwrap()
            .success()
    );

    // GET /api/products/{id}: a server span continuing the caller's trace.
    let spans = received.spans_of(&unhex(TRACE_A));
    let server = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .unwrap_or_else(|| panic!("no server span in {spans:#?}"));
    assert_eq!(server.name, "GET /api/products/{id}");
    assert_eq!(hex(&server.parent_span_id), PARENT_A);
    assert_eq!(
        str_attr(server, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        str_attr(server, "http.route").as_deref(),
        Some("/api/products/{id}")
    );
    assert_eq!(
        str_attr(server, "url.path").as_deref(),
        Some("/api/products/3")
    );
    assert_eq!(str_attr(server, "url.scheme").as_deref(), Some("http"));
    assert_eq!(
        str_attr(server, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        int_attr(server, "server.port"),
        Some(i64::from(app.addr.port()))
    );
    assert_eq!(int_attr(server, "http.response.status_code"), Some(200));
    assert_eq!(
        str_attr(server, "network.protocol.version").as_deref(),
        Some("1.1")
    );
    let db = spans
        .iter()
        .find(|s| s.name == "SELECT products")
        .expect("db span");
    assert_eq!(db.parent_span_id, server.span_id);
    assert_eq!(str_attr(db, "db.operation.name").as_deref(), Some("SELECT"));

    // POST /api/orders: validate, payment and inventory under the server span.
    let spans = received.spans_of(&unhex(TRACE_B));
    let server = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("order server span");
    assert_eq!(server.name, "POST /api/orders");
    assert_eq!(hex(&server.parent_span_id), PARENT_B);
    assert_eq!(int_attr(server, "http.response.status_code"), Some(201));
    for step in ["validate_order", "process_payment", "reserve_inventory"] {
        let child = spans
            .iter()
            .find(|s| s.name == step)
            .unwrap_or_else(|| panic!("no {step} span"));
        assert_eq!(child.parent_span_id, server.span_id, "{step}");
        assert_eq!(child.kind, SpanKind::Internal as i32);
    }

    // The untraced request got a fresh root span.
    let all = received.spans.lock().unwrap().clone();
    assert!(all.iter().any(|(_, s)| s.name == "GET /api/products"
        && s.parent_span_id.is_empty()
        && s.kind == SpanKind::Server as i32));
    // The resource honours OTEL_SERVICE_NAME; probes are not traced.
    assert!(all.iter().all(|(svc, _)| svc == "checkout-under-test"));
    assert!(all.iter().all(|(_, s)| !s.name.contains("/ready")));

    // OTLP logs carry the trace and span of the request they were written in.
    let logs = received.logs.lock().unwrap().clone();
    let created = logs
        .iter()
        .find(|l| {
            l.body.as_ref().and_then(|b| b.value.as_ref())
                == Some(&Value::StringValue("order created".into()))
        })
        .unwrap_or_else(|| panic!("no 'order created' log in {logs:#?}"));
    assert_eq!(hex(&created.trace_id), TRACE_B);
    assert_eq!(created.span_id, server.span_id);

    // So do the JSON logs on stdout.
    let lines = app.json_lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "order created")
        .expect("stdout log line");
    assert_eq!(line["trace_id"], TRACE_B);
    assert_eq!(line["span_id"], hex(&server.span_id));
    assert_eq!(line["span"], "POST /api/orders");
    assert_eq!(line["level"], "INFO");
}

#[test]
fn spans_over_otlp_grpc_and_the_sampler_from_env() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, received) = rt.block_on(grpc_receiver());
    let mut env = otlp_env(&format!("http://{addr}"), "grpc");
    // Sample nothing of our own, but follow a sampled parent.
    env.push(("OTEL_TRACES_SAMPLER", "parentbased_traceidratio".into()));
    env.push(("OTEL_TRACES_SAMPLER_ARG", "0".into()));
    let mut app = spawn_app(
        &["--telemetry", "otlp", "--work-scale", "0"],
        &as_refs(&env),
    );
    let http = client();
    let r = http
        .get(app.url("/api/products/5"))
        .header("traceparent", format!("00-{TRACE_A}-{PARENT_A}-01"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..20 {
        assert_eq!(
            http.get(app.url("/api/products")).send().unwrap().status(),
            200
        );
    }
    // Spans arrive while running (batch delay 200 ms), not only at shutdown.
    let got = wait_for(Duration::from_secs(10), || {
        let spans = received.spans_of(&unhex(TRACE_A));
        spans
            .iter()
            .find(|s| s.kind == SpanKind::Server as i32)
            .cloned()
    })
    .expect("server span over gRPC");
    assert_eq!(got.name, "GET /api/products/{id}");
    assert_eq!(hex(&got.parent_span_id), PARENT_A);
    app.guard.signal(Signal::SIGTERM);
    assert!(
        app.guard
            .wait_exit(Duration::from_secs(20))
            .unwrap()
            .success()
    );
    // Ratio 0 without a sampled parent: none of the 20 root requests was exported.
    let all = received.spans.lock().unwrap().clone();
    assert!(
        all.iter().all(|(_, s)| s.trace_id == unhex(TRACE_A)),
        "unsampled traces were exported"
    );
}
