//! Client spans over OTLP for a share of requests, so a sampled trace starts
//! at the load generator: the span's ids go into the request's
//! `traceparent`, and the server's span becomes its child.
//!
//! Configured by `--otlp-endpoint` or the standard `OTEL_EXPORTER_OTLP_*`
//! variables (protocol `http/protobuf`, the default, or `grpc`).

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer, TracerProvider as _};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SdkTracer, SdkTracerProvider,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use target_app::telemetry::{OtlpProtocol, otlp_protocol};

use crate::stats::Outcome;

/// Errors while setting up the exporter.
#[derive(Debug, thiserror::Error)]
pub enum TracingError {
    #[error("--trace-share must be between 0 and 1, got {0}")]
    Share(f64),
    #[error(transparent)]
    Protocol(#[from] target_app::telemetry::TelemetryError),
    #[error("failed to build the OTLP exporter")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The SDK's random ids, but trace ids carry the run's prefix once one is
/// set (a trace sink keeps only those: [`ClientSpans::set_trace_prefix`]).
#[derive(Debug, Default)]
struct PrefixedIds {
    random: RandomIdGenerator,
    /// 0 for none (a prefix is never 0).
    prefix: Arc<AtomicU32>,
}

impl IdGenerator for PrefixedIds {
    fn new_trace_id(&self) -> TraceId {
        let id = u128::from_be_bytes(self.random.new_trace_id().to_bytes());
        match self.prefix.load(Ordering::Relaxed) {
            0 => TraceId::from_bytes(id.to_be_bytes()),
            p => TraceId::from_bytes(crate::traced::with_prefix(id, p).to_be_bytes()),
        }
    }

    fn new_span_id(&self) -> SpanId {
        self.random.new_span_id()
    }
}

/// The tracer for client spans.
#[derive(Debug)]
pub struct ClientSpans {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    prefix: Arc<AtomicU32>,
    /// Share of requests (0..=1) that get a client span.
    pub share: f64,
}

/// An open client span and the ids that go into `traceparent`.
pub struct ClientSpan {
    span: opentelemetry_sdk::trace::Span,
    pub trace_id: u128,
    pub span_id: u64,
}

impl ClientSpans {
    /// Sets up export, or returns `None` when no endpoint is configured.
    /// Must run inside a Tokio runtime (the gRPC exporter needs one).
    pub fn init(endpoint: Option<&str>, share: f64) -> Result<Option<Self>, TracingError> {
        if !(0.0..=1.0).contains(&share) || share.is_nan() {
            return Err(TracingError::Share(share));
        }
        let env_endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok()
            || std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_ok();
        if endpoint.is_none() && !env_endpoint {
            return Ok(None);
        }
        let protocol = otlp_protocol("TRACES", |k| std::env::var(k).ok())?;
        let exporter = match (protocol, endpoint) {
            (OtlpProtocol::Grpc, Some(e)) => SpanExporter::builder()
                .with_tonic()
                .with_endpoint(e)
                .build()?,
            (OtlpProtocol::Grpc, None) => SpanExporter::builder().with_tonic().build()?,
            (OtlpProtocol::HttpProtobuf, Some(e)) => SpanExporter::builder()
                .with_http()
                .with_endpoint(format!("{}/v1/traces", e.trim_end_matches('/')))
                .build()?,
            (OtlpProtocol::HttpProtobuf, None) => SpanExporter::builder().with_http().build()?,
        };
        let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "loadgen".into());
        let ids = PrefixedIds::default();
        let prefix = ids.prefix.clone();
        let provider = SdkTracerProvider::builder()
            .with_id_generator(ids)
            // The share is the sampling decision; every span we start is kept.
            .with_sampler(Sampler::AlwaysOn)
            .with_resource(Resource::builder().with_service_name(service).build())
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("loadgen");
        Ok(Some(Self {
            provider,
            tracer,
            prefix,
            share,
        }))
    }

    /// From now on, trace ids start with `prefix` (the run's, for its
    /// trace sink), as those of requests without a client span do.
    pub fn set_trace_prefix(&self, prefix: u32) {
        self.prefix.store(prefix, Ordering::Relaxed);
    }

    /// Starts a client span for one request.
    pub fn start(&self, name: &str, method: &str, url: &str) -> ClientSpan {
        let mut attributes = vec![
            KeyValue::new("http.request.method", method.to_owned()),
            KeyValue::new("url.full", url.to_owned()),
        ];
        if let Ok(u) = reqwest::Url::parse(url) {
            if let Some(host) = u.host_str() {
                attributes.push(KeyValue::new("server.address", host.to_owned()));
            }
            if let Some(port) = u.port_or_known_default() {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
        }
        let span = self
            .tracer
            .span_builder(format!("{method} {name}"))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start(&self.tracer);
        let sc = span.span_context().clone();
        ClientSpan {
            span,
            trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
            span_id: u64::from_be_bytes(sc.span_id().to_bytes()),
        }
    }

    /// Flushes and stops the exporter.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("loadgen: warning: failed to flush client spans: {e}");
        }
    }
}

impl ClientSpan {
    /// Ends the span with the request's outcome.
    pub fn end(mut self, outcome: Outcome) {
        if let Some(status) = outcome.status() {
            self.span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        if let Some(kind) = outcome.error_kind() {
            let error_type = match outcome.status() {
                Some(s) => s.to_string(),
                None => kind.to_owned(),
            };
            self.span
                .set_attribute(KeyValue::new("error.type", error_type));
            self.span.set_status(Status::error(kind));
        }
        self.span.end();
    }
}
