//! Client spans over OTLP/HTTP, decoded from the real protobuf.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

use crate::util::{Dir, arg, open_scenario, report, run, run_against, target};

async fn receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let sink = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| async move {
            let req = ExportTraceServiceRequest::decode(body).expect("valid OTLP");
            let mut all = sink.lock().unwrap();
            for rs in req.resource_spans {
                for ss in rs.scope_spans {
                    all.extend(ss.spans);
                }
            }
            ExportTraceServiceResponse::default().encode_to_vec()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), spans)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_spans_start_the_traces() {
    let app = target(0.0).await;
    let (endpoint, spans) = receiver().await;
    let dir = Dir::new();
    let file = dir.write(
        "t.yaml",
        &open_scenario("/api/products/{{ randint(1, 20) }}", 20.0, 2, 5, ""),
    );
    let rep = dir.path("t.json");
    let out = run_against(
        &app,
        &file,
        &[
            "--otlp-endpoint",
            &endpoint,
            "--trace-share",
            "1",
            "--report",
            arg(&rep),
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    let spans = spans.lock().unwrap().clone();
    assert_eq!(
        spans.len() as u64,
        r["total"]["count"].as_u64().unwrap(),
        "one span per request"
    );
    assert!(
        spans
            .iter()
            .all(|s| s.kind == SpanKind::Client as i32 && s.name == "GET req")
    );
    assert!(
        spans.iter().all(|s| s.parent_span_id.is_empty()),
        "client spans are roots"
    );
    // The slowest requests' trace ids are the exported spans' trace ids.
    let ids: Vec<String> = spans.iter().map(|s| hex(&s.trace_id)).collect();
    for slow in r["total"]["slowest"].as_array().unwrap() {
        assert!(ids.contains(&slow["trace_id"].as_str().unwrap().to_owned()));
    }
    let status = spans[0]
        .attributes
        .iter()
        .find(|kv| kv.key == "http.response.status_code")
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value);
    assert_eq!(
        status,
        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(200))
    );

    // An invalid share is refused.
    let out = run(
        &[
            "run",
            file.to_str().unwrap(),
            "--otlp-endpoint",
            &endpoint,
            "--trace-share",
            "2",
        ],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--trace-share must be between 0 and 1"));
}
