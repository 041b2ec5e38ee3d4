//! The trace sink on its own, for `bench/trace-sink.sh`: serve it, or
//! generate OTLP/HTTP load at it.
//!
//! - `trace-sink serve ADDR [MAX_SPANS]`: prints `listening ADDR`, then on
//!   SIGTERM or SIGINT its stats as one JSON line.
//! - `trace-sink generate URL SPANS_PER_SEC SECS`: posts real encoded
//!   exports of 500 spans (50 traces of 10, with the target app's
//!   attributes), fresh trace ids each, at that rate; prints what it sent.

use std::time::{Duration, Instant};

use loadgen::trace_sink::{Keep, SinkConfig, TraceSink};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const PER_BATCH: u64 = 500;
const PER_TRACE: u64 = 10;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn batch(seq: u64) -> Vec<u8> {
    let spans = (0..PER_BATCH)
        .map(|i| {
            let trace = (u128::from(seq) << 64) | u128::from(i / PER_TRACE) | (1 << 127);
            let n = i % PER_TRACE + 1;
            let start = 1_700_000_000_000_000_000 + seq * 1_000_000_000 + n * 1_000;
            Span {
                trace_id: trace.to_be_bytes().to_vec(),
                span_id: n.to_be_bytes().to_vec(),
                parent_span_id: if n == 1 {
                    vec![]
                } else {
                    1u64.to_be_bytes().to_vec()
                },
                name: if n == 1 {
                    "POST /api/orders".into()
                } else {
                    format!("step_{n}")
                },
                kind: if n == 1 { 2 } else { 1 },
                start_time_unix_nano: start,
                end_time_unix_nano: start + 2_500_000,
                attributes: vec![
                    kv("http.request.method", Value::StringValue("POST".into())),
                    kv("http.route", Value::StringValue("/api/orders".into())),
                    kv("url.path", Value::StringValue("/api/orders".into())),
                    kv("http.response.status_code", Value::IntValue(201)),
                    kv("client.address", Value::StringValue("127.0.0.1".into())),
                    kv("payment.slow_path", Value::BoolValue(n % 7 == 0)),
                ],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", Value::StringValue("target-app".into()))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

async fn serve(addr: &str, max_spans: Option<usize>) -> anyhow::Result<()> {
    let mut cfg = SinkConfig::new(addr.parse()?);
    cfg.keep = Keep::All;
    if let Some(m) = max_spans {
        cfg.max_spans = m;
    }
    let sink = TraceSink::bind(cfg).await?;
    println!("listening {}", sink.local_addr());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    sink.shutdown().await;
    let s = sink.stats();
    println!(
        "{{\"requests\":{},\"bad_requests\":{},\"received_spans\":{},\"kept_spans\":{},\"evicted_spans\":{},\"held_spans\":{}}}",
        s.requests, s.bad_requests, s.received_spans, s.kept_spans, s.evicted_spans, s.held_spans
    );
    Ok(())
}

async fn generate(url: &str, rate: f64, secs: u64) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("{}/v1/traces", url.trim_end_matches('/'));
    let every = Duration::from_secs_f64(PER_BATCH as f64 / rate);
    let start = Instant::now();
    let (mut sent, mut failed, mut seq) = (0u64, 0u64, 0u64);
    let mut tick = tokio::time::interval(every);
    while start.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        seq += 1;
        let r = client
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .body(batch(seq))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => sent += PER_BATCH,
            _ => failed += 1,
        }
    }
    println!("{{\"sent_spans\":{sent},\"failed_posts\":{failed}}}");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    match (arg(0), arg(1)) {
        (Some("serve"), Some(addr)) => {
            let max = arg(2).map(str::parse).transpose()?;
            serve(addr, max).await
        }
        (Some("generate"), Some(url)) => {
            let rate: f64 = arg(2).unwrap_or("5000").parse()?;
            let secs: u64 = arg(3).unwrap_or("60").parse()?;
            generate(url, rate, secs).await
        }
        _ => anyhow::bail!(
            "usage: trace-sink serve ADDR [MAX_SPANS] | trace-sink generate URL [SPANS_PER_SEC] [SECS]"
        ),
    }
}
