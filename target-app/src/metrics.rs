//! Prometheus metrics, exposed in the OpenMetrics text format.
//!
//! Names follow the OpenTelemetry HTTP semantic conventions as Prometheus
//! exposes them (`http_server_request_duration_seconds`,
//! `http_server_active_requests`), with base units as suffixes and `_total`
//! on counters. The duration histogram carries a `trace_id` exemplar for
//! sampled requests, so a dashboard can jump from a slow bucket to its trace.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::process::ProcessCollector;

/// Histogram bucket bounds in seconds: 5 ms to 10 s, including the usual
/// SLO thresholds (100 ms, 250 ms, 300 ms, 500 ms, 1 s).
pub const DURATION_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The media type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of one request series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub http_request_method: String,
    /// The route template; empty (so absent in Prometheus) for unmatched paths.
    pub http_route: String,
    pub http_response_status_code: u16,
}

/// Labels of the active-requests gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActiveLabels {
    pub http_request_method: String,
    pub http_route: String,
}

/// Labels of the shed counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShedLabels {
    pub http_route: String,
}

/// The exemplar attached to a histogram observation: the trace id of a
/// sampled request, kept as 16 bytes and written as 32 hex digits only when
/// the metrics are scraped.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct TraceExemplar(pub opentelemetry::trace::TraceId);

impl EncodeLabelSet for TraceExemplar {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [("trace_id", self.0.to_string())].encode(encoder)
    }
}

fn duration_histogram() -> HistogramWithExemplars<TraceExemplar> {
    HistogramWithExemplars::new(DURATION_BUCKETS.into_iter())
}

type DurationFamily = Family<
    RequestLabels,
    HistogramWithExemplars<TraceExemplar>,
    fn() -> HistogramWithExemplars<TraceExemplar>,
>;

/// Every metric the service exposes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub request_duration: DurationFamily,
    pub active_requests: Family<ActiveLabels, Gauge>,
    pub orders_created: Counter,
    pub orders_evicted: Counter,
    pub orders_stored: Gauge,
    pub payment_failures: Counter,
    pub requests_shed: Family<ShedLabels, Counter>,
    pub faults_injected: Counter<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let request_duration: DurationFamily = Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests",
            Unit::Seconds,
            request_duration.clone(),
        );
        let active_requests = Family::<ActiveLabels, Gauge>::default();
        registry.register(
            "http_server_active_requests",
            "Number of HTTP server requests in flight",
            active_requests.clone(),
        );
        let orders_created = Counter::default();
        registry.register(
            "orders_created",
            "Orders accepted with status 201",
            orders_created.clone(),
        );
        let orders_evicted = Counter::default();
        registry.register(
            "orders_evicted",
            "Orders dropped from the bounded order store (oldest first) to make room",
            orders_evicted.clone(),
        );
        let orders_stored = Gauge::default();
        registry.register(
            "orders_stored",
            "Orders held in the order store, readable with GET /api/orders/{id}",
            orders_stored.clone(),
        );
        let payment_failures = Counter::default();
        registry.register(
            "payment_failures",
            "Orders refused because the payment step failed",
            payment_failures.clone(),
        );
        let requests_shed = Family::<ShedLabels, Counter>::default();
        registry.register(
            "http_server_requests_shed",
            "Requests refused with 503 because the in-flight limit was reached",
            requests_shed.clone(),
        );
        let faults_injected = Counter::default();
        registry.register(
            "faults_injected_errors",
            "Requests answered with an injected error",
            faults_injected.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        Self {
            registry,
            request_duration,
            active_requests,
            orders_created,
            orders_evicted,
            orders_stored,
            payment_failures,
            requests_shed,
            faults_injected,
        }
    }

    /// Encodes every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail; an error here would be a bug in
        // a collector, and an empty exposition is the honest answer to it.
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_the_slo_thresholds() {
        assert_eq!(DURATION_BUCKETS.first(), Some(&0.005));
        assert_eq!(DURATION_BUCKETS.last(), Some(&10.0));
        for t in [0.1, 0.25, 0.3, 0.5, 1.0] {
            assert!(DURATION_BUCKETS.contains(&t), "{t}");
        }
        assert!(DURATION_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn exposition_names_and_exemplars() {
        let m = Metrics::new();
        m.request_duration
            .get_or_create(&RequestLabels {
                http_request_method: "GET".into(),
                http_route: "/api/products/{id}".into(),
                http_response_status_code: 200,
            })
            .observe(
                0.042,
                Some(TraceExemplar(
                    opentelemetry::trace::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")
                        .unwrap(),
                )),
                None,
            );
        m.orders_created.inc();
        let text = m.encode();
        assert!(text.contains("# TYPE http_server_request_duration_seconds histogram"));
        assert!(text.contains("# UNIT http_server_request_duration_seconds seconds"));
        assert!(text.contains(
            "http_server_request_duration_seconds_bucket{le=\"0.05\",http_request_method=\"GET\",http_route=\"/api/products/{id}\",http_response_status_code=\"200\"} 1 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.042"
        ), "{text}");
        assert!(text.contains("orders_created_total 1"));
        assert!(text.contains("process_resident_memory_bytes"));
        assert!(text.ends_with("# EOF\n"));
    }
}
