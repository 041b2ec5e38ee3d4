//! A minimal OTLP/HTTP receiver for benchmarks: accepts protobuf on
//! `/v1/traces` and `/v1/logs`, decodes it, counts spans and log records,
//! and prints the totals as JSON when it receives SIGTERM or SIGINT.
//!
//! Usage: `otlp-sink 127.0.0.1:4318`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

#[derive(Default)]
struct Counts {
    spans: AtomicU64,
    logs: AtomicU64,
    requests: AtomicU64,
    bad: AtomicU64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4318".into());
    let counts = Arc::new(Counts::default());
    let (traces, logs) = (counts.clone(), counts.clone());
    let app = Router::new()
        .route(
            "/v1/traces",
            post(move |body: Bytes| async move {
                traces.requests.fetch_add(1, Ordering::Relaxed);
                match ExportTraceServiceRequest::decode(body) {
                    Ok(req) => {
                        let n: usize = req
                            .resource_spans
                            .iter()
                            .flat_map(|r| &r.scope_spans)
                            .map(|s| s.spans.len())
                            .sum();
                        traces.spans.fetch_add(n as u64, Ordering::Relaxed);
                        StatusCode::OK
                    }
                    Err(_) => {
                        traces.bad.fetch_add(1, Ordering::Relaxed);
                        StatusCode::BAD_REQUEST
                    }
                }
            }),
        )
        .route(
            "/v1/logs",
            post(move |body: Bytes| async move {
                logs.requests.fetch_add(1, Ordering::Relaxed);
                match ExportLogsServiceRequest::decode(body) {
                    Ok(req) => {
                        let n: usize = req
                            .resource_logs
                            .iter()
                            .flat_map(|r| &r.scope_logs)
                            .map(|s| s.log_records.len())
                            .sum();
                        logs.logs.fetch_add(n as u64, Ordering::Relaxed);
                        StatusCode::OK
                    }
                    Err(_) => {
                        logs.bad.fetch_add(1, Ordering::Relaxed);
                        StatusCode::BAD_REQUEST
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let stop = async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("signal handler");
        let mut int = signal(SignalKind::interrupt()).expect("signal handler");
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await?;
    println!(
        "{{\"spans\":{},\"logs\":{},\"requests\":{},\"bad\":{}}}",
        counts.spans.load(Ordering::Relaxed),
        counts.logs.load(Ordering::Relaxed),
        counts.requests.load(Ordering::Relaxed),
        counts.bad.load(Ordering::Relaxed)
    );
    Ok(())
}
