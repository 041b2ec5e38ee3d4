//! Telemetry set-up: JSON logs on stdout (with trace and span ids inside
//! requests), and traces and logs exported over OTLP, to the console, or not
//! at all.
//!
//! The standard `OTEL_*` variables are honoured: the endpoint, headers,
//! timeout and compression by the OTLP exporters (the span exporter over
//! HTTP is [`crate::otlp`]'s), `OTEL_EXPORTER_OTLP_PROTOCOL` (and its
//! `_TRACES_`/`_LOGS_` forms) here to pick gRPC or HTTP, the sampler and its
//! ratio (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`), batch settings
//! (`OTEL_BSP_*`), and the resource (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`).
//!
//! Request spans are made with the OpenTelemetry API ([`crate::spans`]), from
//! the tracer installed here ([`tracer`]); `tracing` carries log events only,
//! and each of its layers has its own filter.

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{LogExporter, SpanExporter};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::logfmt::JsonLog;
use crate::otlp::{BatchConfig, EncodingProcessor, HttpConfig, HttpSpanExporter};

/// Where traces (and OTLP logs) go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetryMode {
    /// OTLP over gRPC or HTTP/protobuf, configured by `OTEL_*` variables.
    Otlp,
    /// Spans printed to stdout.
    Console,
    /// No spans; JSON logs only.
    Off,
}

impl TelemetryMode {
    pub fn traces(self) -> bool {
        self != TelemetryMode::Off
    }
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

/// Errors while setting telemetry up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("unsupported OTLP protocol {value:?} in {variable}: use \"grpc\" or \"http/protobuf\"")]
    Protocol { variable: String, value: String },
    #[error("failed to build the OTLP exporter")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error(transparent)]
    Otlp(#[from] crate::otlp::ConfigError),
    #[error(
        "invalid RUST_LOG filter: {0} (expected a level like \"info\" or \"target=level,...\")"
    )]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("failed to start the thread that exports spans")]
    Thread(#[from] std::io::Error),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Reads the protocol for `signal` ("TRACES" or "LOGS") from the standard
/// variables; the specification's default is HTTP/protobuf.
pub fn otlp_protocol(
    signal: &str,
    get: impl Fn(&str) -> Option<String>,
) -> Result<OtlpProtocol, TelemetryError> {
    let specific = format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL");
    let (variable, value) = match get(&specific) {
        Some(v) => (specific, v),
        None => match get("OTEL_EXPORTER_OTLP_PROTOCOL") {
            Some(v) => ("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), v),
            None => return Ok(OtlpProtocol::HttpProtobuf),
        },
    };
    match value.trim() {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" | "" => Ok(OtlpProtocol::HttpProtobuf),
        _ => Err(TelemetryError::Protocol { variable, value }),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn resource() -> Resource {
    let named_by_env = env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
    let builder = Resource::builder();
    let builder = if named_by_env {
        builder
    } else {
        builder.with_service_name("target-app")
    };
    builder
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build()
}

/// A tracer provider exporting to OTLP over the configured transport:
/// HTTP/protobuf with the encoding span processor of [`crate::otlp`], gRPC with the OTLP
/// crate's exporter.
fn otlp_tracer_provider(resource: Resource) -> Result<SdkTracerProvider, TelemetryError> {
    let builder = SdkTracerProvider::builder().with_resource(resource);
    Ok(match otlp_protocol("TRACES", env)? {
        OtlpProtocol::Grpc => {
            builder.with_batch_exporter(SpanExporter::builder().with_tonic().build()?)
        }
        OtlpProtocol::HttpProtobuf => builder.with_span_processor(EncodingProcessor::new(
            HttpSpanExporter::new(HttpConfig::from_env(env)?)?,
            BatchConfig::from_env(env)?,
        )?),
    }
    .build())
}

fn log_exporter() -> Result<LogExporter, TelemetryError> {
    Ok(match otlp_protocol("LOGS", env)? {
        OtlpProtocol::Grpc => LogExporter::builder().with_tonic().build()?,
        OtlpProtocol::HttpProtobuf => LogExporter::builder().with_http().build()?,
    })
}

/// Targets whose events must never be exported over OTLP: the exporter's own
/// stack would otherwise log about exporting its logs.
fn export_filter() -> Targets {
    Targets::new().with_default(LevelFilter::INFO).with_targets(
        [
            "opentelemetry",
            "opentelemetry_sdk",
            "opentelemetry_otlp",
            "opentelemetry_http",
            "target_app::otlp",
            "hyper",
            "hyper_util",
            "h2",
            "tonic",
            "tower",
            "reqwest",
        ]
        .map(|t| (t, LevelFilter::OFF)),
    )
}

fn events_only<S>() -> impl tracing_subscriber::layer::Filter<S> + Clone {
    filter_fn(|meta| meta.is_event())
}

/// The tracer of the installed provider, set once by [`Telemetry::init`].
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The tracer request spans are made with; `None` before [`Telemetry::init`]
/// and with [`TelemetryMode::Off`].
pub fn tracer() -> Option<SdkTracer> {
    TRACER.get().cloned()
}

/// For the app embedded in another process (`loadgen demo`): request spans
/// go over OTLP/HTTP protobuf to `endpoint` (a base URL, `/v1/traces` is
/// added) in batches every `every`, and nothing else of the process's
/// telemetry changes (no subscriber, no global provider). `None` when a
/// tracer is set already ([`Telemetry::init`] or an earlier call). Shut the
/// provider down to flush its last spans.
pub fn embedded_tracer(
    endpoint: &str,
    every: std::time::Duration,
) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    if TRACER.get().is_some() {
        return Ok(None);
    }
    let exporter = HttpSpanExporter::new(HttpConfig {
        endpoint: HttpConfig::signal_url("the embedded endpoint", endpoint)?,
        headers: Default::default(),
        timeout: crate::otlp::DEFAULT_TIMEOUT,
        gzip: false,
    })?;
    let batch = EncodingProcessor::new(
        exporter,
        BatchConfig {
            scheduled_delay: every,
            ..BatchConfig::default()
        },
    )?;
    let provider = SdkTracerProvider::builder()
        .with_resource(resource())
        .with_span_processor(batch)
        .build();
    if TRACER.set(provider.tracer("target-app")).is_err() {
        // Set by another thread meanwhile: that one stays.
        let _ = provider.shutdown();
        return Ok(None);
    }
    Ok(Some(provider))
}

/// Installed telemetry; call [`Telemetry::shutdown`] to flush before exit.
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    logger_provider: Option<SdkLoggerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber. Must run inside a Tokio runtime (the
    /// gRPC exporter needs one). `RUST_LOG` filters stdout logs only.
    pub fn init(mode: TelemetryMode) -> Result<Self, TelemetryError> {
        // `Targets` (`level` or `target=level,...`) is decided per callsite
        // once; an EnvFilter would be consulted again for every event.
        let stdout_filter = match env("RUST_LOG") {
            Some(spec) if !spec.trim().is_empty() => spec.parse::<Targets>()?,
            _ => Targets::new().with_default(LevelFilter::INFO),
        };
        // Log layers see events only: letting spans through would make them
        // record every span's fields on the request path for nothing.
        let stdout = tracing_subscriber::fmt::layer()
            .event_format(JsonLog)
            .with_writer(std::io::stdout)
            // A closed stdout loses log lines; reporting that on stderr could
            // fail (and panic) too.
            .log_internal_errors(false)
            .with_filter(stdout_filter.and(events_only()));

        let mut telemetry = Telemetry::default();
        let log_layer = match mode {
            TelemetryMode::Off => None,
            TelemetryMode::Console => {
                let provider = SdkTracerProvider::builder()
                    .with_resource(resource())
                    .with_simple_exporter(crate::console::ConsoleExporter)
                    .build();
                telemetry.tracer_provider = Some(provider);
                None
            }
            TelemetryMode::Otlp => {
                let resource = resource();
                let provider = otlp_tracer_provider(resource.clone())?;
                let logs = SdkLoggerProvider::builder()
                    .with_resource(resource)
                    .with_batch_exporter(log_exporter()?)
                    .build();
                let bridge =
                    opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&logs)
                        .with_filter(export_filter().and(events_only()));
                telemetry.tracer_provider = Some(provider);
                telemetry.logger_provider = Some(logs);
                Some(bridge)
            }
        };
        if let Some(provider) = &telemetry.tracer_provider {
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
            opentelemetry::global::set_tracer_provider(provider.clone());
        }
        tracing_subscriber::registry()
            .with(log_layer)
            .with(stdout)
            .try_init()
            .map_err(|_| TelemetryError::AlreadyInstalled)?;
        if let Some(provider) = &telemetry.tracer_provider {
            // Set at most once: a second init failed just above.
            let _ = TRACER.set(provider.tracer("target-app"));
        }
        Ok(telemetry)
    }

    /// Flushes and stops the exporters; spans still queued are sent first.
    pub fn shutdown(self) {
        if let Some(provider) = self.tracer_provider
            && let Err(e) = provider.shutdown()
        {
            common::fs::stderr_line(&format!("target-app: failed to flush traces: {e}"));
        }
        if let Some(provider) = self.logger_provider
            && let Err(e) = provider.shutdown()
        {
            common::fs::stderr_line(&format!("target-app: failed to flush logs: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn protocol_from_variables() {
        assert_eq!(
            otlp_protocol("TRACES", lookup(&[])).unwrap(),
            OtlpProtocol::HttpProtobuf
        );
        assert_eq!(
            otlp_protocol("TRACES", lookup(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])).unwrap(),
            OtlpProtocol::Grpc
        );
        assert_eq!(
            otlp_protocol(
                "TRACES",
                lookup(&[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
                ])
            )
            .unwrap(),
            OtlpProtocol::HttpProtobuf
        );
        let err = otlp_protocol(
            "LOGS",
            lookup(&[("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"), "{err}");
    }
}
