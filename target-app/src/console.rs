//! `--telemetry console`: finished spans as one JSON object per line on
//! stdout. Writes that fail (a closed pipe) drop the span instead of
//! panicking, which printing with `println!` would do.

use std::time::SystemTime;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::{Map, Value, json};

/// The console span exporter.
#[derive(Debug, Default)]
pub struct ConsoleExporter;

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One span as a JSON object.
pub fn span_json(span: &SpanData) -> Value {
    let attributes: Map<String, Value> = span
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), Value::String(kv.value.to_string())))
        .collect();
    let kind = match span.span_kind {
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    };
    let (status, description) = match &span.status {
        Status::Unset => ("unset", None),
        Status::Ok => ("ok", None),
        Status::Error { description } => ("error", Some(description.to_string())),
    };
    let start = unix_nanos(span.start_time);
    let end = unix_nanos(span.end_time);
    json!({
        "span": span.name,
        "kind": kind,
        "trace_id": span.span_context.trace_id().to_string(),
        "span_id": span.span_context.span_id().to_string(),
        "parent_span_id": span.parent_span_id.to_string(),
        "start_unix_nano": start,
        "duration_ms": end.saturating_sub(start) as f64 / 1e6,
        "status": status,
        "status_description": description,
        "attributes": attributes,
    })
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut text = String::new();
        for span in &batch {
            text.push_str(&span_json(span).to_string());
            text.push('\n');
        }
        // A closed pipe drops the spans; so does any other failure to write
        // them, which an exporter has no one to report to.
        let _ = common::fs::write_stdout(text.as_bytes());
        Ok(())
    }
}
