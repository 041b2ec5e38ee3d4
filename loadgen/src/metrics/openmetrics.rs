//! An [`Exposition`] as OpenMetrics text (what `--metrics-listen` serves),
//! written by prometheus-client's encoder.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{Exposition, Kind, Value};

/// The Content-Type of the text [`encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A float as prometheus-client writes it in a label value (`0.25`, `1.0`).
pub fn float_text(v: f64) -> String {
    dtoa::Buffer::new().format(v).to_owned()
}

#[derive(Debug)]
struct Reading(Arc<Exposition>);

/// A counter's current value, with no exemplar.
struct Total(f64);

impl prometheus_client::encoding::EncodeMetric for Total {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<prometheus_client::encoding::NoLabelSet, _, f64>(&self.0, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

impl Collector for Reading {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.0.families {
            let (name, kind) = match f.kind {
                // The encoder adds `_total` to a counter's family name.
                Kind::Counter => (
                    f.name.strip_suffix("_total").unwrap_or(f.name),
                    MetricType::Counter,
                ),
                Kind::Gauge => (f.name, MetricType::Gauge),
                Kind::Histogram => (f.name, MetricType::Histogram),
            };
            let mut family = encoder.encode_descriptor(name, f.help, None, kind)?;
            for s in &f.series {
                let mut m = family.encode_family(&s.labels)?;
                match (&s.value, f.kind) {
                    (Value::Number(v), Kind::Counter) => Total(*v).encode(m)?,
                    (Value::Number(v), _) => m.encode_gauge(v)?,
                    (Value::Histogram { cumulative, sum }, _) => {
                        // The encoder takes counts per bucket and sums them.
                        let mut buckets = Vec::with_capacity(cumulative.len());
                        let mut before = 0u64;
                        for (i, c) in cumulative.iter().enumerate() {
                            let bound = super::BOUNDS.get(i).copied().unwrap_or(f64::INFINITY);
                            buckets.push((bound, c.saturating_sub(before)));
                            before = *c;
                        }
                        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                            *sum, before, &buckets, None,
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The OpenMetrics text of a reading (ending in `# EOF`).
pub fn encode(e: &Arc<Exposition>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Reading(e.clone())));
    let mut out = String::new();
    // Writing into a String cannot fail; an encoder error leaves what it wrote.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    #[test]
    fn the_text_has_every_family_and_ends_in_eof() {
        let metas = vec![SeriesMeta {
            scenario: "s".into(),
            request: "get \"x\"".into(),
            method: "GET".into(),
        }];
        let mut m = ClientMetrics::new("r1", &[], "h:1", metas);
        let mut shard = Vec::new();
        record_series(
            &mut shard,
            (0, crate::stats::Outcome::Ok(200)),
            Duration::from_millis(30),
            Duration::from_millis(30),
        );
        m.absorb(&shard);
        let g = Gauges {
            iterations: 7,
            dropped: 1,
            active_users: 3,
            target_rate: Some(50.0),
            target_users: None,
        };
        let text = encode(&Arc::new(m.exposition(0, &g)));
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("# TYPE http_client_request_duration_seconds histogram"));
        assert!(text.contains(
            "http_client_request_duration_seconds_bucket{le=\"0.025\",loadgen_run=\"r1\",loadgen_scenario=\"s\",loadgen_request=\"get \\\"x\\\"\",http_request_method=\"GET\",server_address=\"h:1\",http_response_status_code=\"200\"} 0"
        ), "{text}");
        let bucket = |le: &str| {
            let head = format!("http_client_request_duration_seconds_bucket{{le=\"{le}\",");
            let line = text.lines().find(|l| l.starts_with(&head));
            line.and_then(|l| l.rsplit(' ').next()).map(str::to_owned)
        };
        assert_eq!(bucket("0.05").as_deref(), Some("1"), "{text}");
        assert_eq!(bucket("+Inf").as_deref(), Some("1"), "{text}");
        assert!(
            text.contains("loadgen_iterations_total{loadgen_run=\"r1\"} 7.0"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE loadgen_iterations_dropped counter"),
            "{text}"
        );
        assert!(
            text.contains("loadgen_target_rate{loadgen_run=\"r1\"} 50"),
            "{text}"
        );
        assert!(!text.contains("loadgen_target_users"), "{text}");
        assert_eq!(le_text(Some(1.0)), "1.0");
        assert_eq!(le_text(Some(0.0025)), "0.0025");
    }
}
