//! The wire format of remote write 1.0: `prompb`'s protobuf messages
//! (written with `prost`'s derive) and the body of a request for a
//! reading, snappy block format.

use crate::metrics::{Exposition, Kind};

/// The `Content-Type` of a remote-write request.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// The `Content-Encoding` of a remote-write request (snappy block format).
pub const CONTENT_ENCODING: &str = "snappy";
/// The `X-Prometheus-Remote-Write-Version` header's value.
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
/// Remote write 1.0 as its receivers recognise it.
pub const VERSION: &str = "0.1.0";

/// `prometheus.WriteRequest` (remote write 1.0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`: labels sorted by name, then the samples in
/// timestamp order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: a value at a time (milliseconds since the epoch).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`: a family's type and help.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.MetricMetadata.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    GaugeHistogram = 4,
    Summary = 5,
    Info = 6,
    Stateset = 7,
}

/// The write request of a reading with its samples at `timestamp_ms`.
///
/// Labels are sorted by name (byte order, as Prometheus compares them);
/// a label with an empty value is left out (Prometheus treats it as
/// absent) and of two labels of one name the first is kept.
pub fn write_request(e: &Exposition, timestamp_ms: i64) -> WriteRequest {
    let timeseries = e
        .samples()
        .into_iter()
        .map(|s| {
            let mut labels: Vec<Label> = s
                .labels
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(name, value)| Label { name, value })
                .collect();
            // Stable: the first of two equal names stays first.
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            labels.dedup_by(|later, earlier| later.name == earlier.name);
            TimeSeries {
                labels,
                samples: vec![Sample {
                    value: s.value,
                    timestamp: timestamp_ms,
                }],
            }
        })
        .collect();
    let metadata = e
        .families
        .iter()
        .map(|f| MetricMetadata {
            r#type: match f.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            } as i32,
            metric_family_name: f.name.to_owned(),
            help: f.help.to_owned(),
            unit: String::new(),
        })
        .collect();
    WriteRequest {
        timeseries,
        metadata,
    }
}

/// Snappy block format of a protobuf message.
fn compress(req: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(req);
    // Only an input over snappy's maximum (about 4 GiB) fails; a reading
    // is far smaller, and an empty body would be refused, not sent wrong.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// The body of a remote-write request for a reading: the snappy-compressed
/// protobuf `WriteRequest`, one sample per series at `e.timestamp_ms`.
pub fn encode(e: &Exposition) -> Vec<u8> {
    compress(&write_request(e, e.timestamp_ms))
}

/// [`encode`] at another timestamp, with the number of samples.
pub(crate) fn encode_at(e: &Exposition, timestamp_ms: i64) -> (Vec<u8>, u64) {
    let req = write_request(e, timestamp_ms);
    let samples = req.timeseries.len() as u64;
    (compress(&req), samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::*;
    use crate::stats::Outcome;
    use std::time::Duration;

    fn reading() -> Exposition {
        let metas = vec![SeriesMeta {
            scenario: "shop".into(),
            request: "get".into(),
            method: "GET".into(),
        }];
        let mut m = ClientMetrics::new(
            "r1",
            &[("Zone".into(), "b".into()), ("empty".into(), String::new())],
            "127.0.0.1:8080",
            metas,
        );
        let mut shard = Vec::new();
        let ms = Duration::from_millis;
        record_series(&mut shard, (0, Outcome::Ok(200)), ms(3), ms(4));
        record_series(&mut shard, (0, Outcome::Ok(200)), ms(200), ms(400));
        record_series(&mut shard, (0, Outcome::Status(503)), ms(1), ms(1));
        m.absorb(&shard);
        let g = Gauges {
            iterations: 3,
            dropped: 0,
            active_users: 1,
            target_rate: Some(10.0),
            target_users: None,
        };
        m.exposition(1_700_000_000_123, &g)
    }

    fn decode(body: &[u8]) -> WriteRequest {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(body)
            .expect("snappy block format");
        <WriteRequest as prost::Message>::decode(raw.as_slice()).expect("a WriteRequest")
    }

    fn label<'a>(ts: &'a TimeSeries, name: &str) -> Option<&'a str> {
        ts.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    #[test]
    fn a_reading_round_trips_through_snappy_and_protobuf() {
        let e = reading();
        let req = decode(&encode(&e));
        assert_eq!(req, write_request(&e, e.timestamp_ms));
        assert_eq!(req.timeseries.len(), e.samples().len());
        for ts in &req.timeseries {
            assert_eq!(ts.samples.len(), 1, "{ts:?}");
            assert_eq!(ts.samples[0].timestamp, 1_700_000_000_123);
            let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(names, sorted, "labels sorted by name, no repeats");
            assert_eq!(names[0], "Zone", "byte order: upper case before _");
            assert_eq!(names[1], "__name__");
            assert!(!names.contains(&"empty"), "an empty value is no label");
            assert_eq!(label(ts, "loadgen_run"), Some("r1"));
        }
        let by = |name: &str, status: &str, le: Option<&str>| {
            req.timeseries
                .iter()
                .filter(|t| {
                    label(t, "__name__") == Some(name)
                        && label(t, "http_response_status_code") == Some(status)
                        && label(t, "le") == le
                })
                .map(|t| t.samples[0].value)
                .collect::<Vec<_>>()
        };
        let d = "http_client_request_duration_seconds";
        assert_eq!(by(&format!("{d}_count"), "200", None), [2.0]);
        assert_eq!(by(&format!("{d}_count"), "503", None), [1.0]);
        assert_eq!(by(&format!("{d}_bucket"), "200", Some("0.005")), [1.0]);
        assert_eq!(by(&format!("{d}_bucket"), "200", Some("0.2")), [2.0]);
        assert_eq!(by(&format!("{d}_bucket"), "200", Some("1.0")), [2.0]);
        assert_eq!(by(&format!("{d}_bucket"), "200", Some("+Inf")), [2.0]);
        let sum = by(&format!("{d}_sum"), "200", None);
        assert!((sum[0] - 0.203).abs() < 1e-9, "{sum:?}");
        let les: Vec<&str> = req
            .timeseries
            .iter()
            .filter(|t| {
                label(t, "__name__") == Some(&format!("{d}_bucket"))
                    && label(t, "http_response_status_code") == Some("200")
            })
            .filter_map(|t| label(t, "le"))
            .collect();
        let want: Vec<String> = BOUNDS
            .iter()
            .map(|b| le_text(Some(*b)))
            .chain(["+Inf".to_owned()])
            .collect();
        assert_eq!(les, want);
        assert!(les.contains(&"0.0025") && les.contains(&"10.0"));
        let corrected = by(
            "loadgen_request_latency_seconds_bucket",
            "200",
            Some("0.25"),
        );
        assert_eq!(corrected, [1.0], "400 ms is past 250 ms");
        let iterations: Vec<f64> = req
            .timeseries
            .iter()
            .filter(|t| label(t, "__name__") == Some("loadgen_iterations_total"))
            .map(|t| t.samples[0].value)
            .collect();
        assert_eq!(iterations, [3.0]);
        let meta: Vec<(&str, i32)> = req
            .metadata
            .iter()
            .map(|m| (m.metric_family_name.as_str(), m.r#type))
            .collect();
        assert!(
            meta.contains(&(d, MetricType::Histogram as i32)),
            "{meta:?}"
        );
        assert!(meta.contains(&("loadgen_iterations_total", MetricType::Counter as i32)));
        assert!(meta.contains(&("loadgen_target_rate", MetricType::Gauge as i32)));
        assert!(req.metadata.iter().all(|m| !m.help.is_empty()));
    }

    #[test]
    fn a_repeated_label_keeps_its_first_value() {
        let e = Exposition {
            timestamp_ms: 5,
            families: vec![Family {
                name: "g",
                help: "h",
                kind: Kind::Gauge,
                series: vec![Series {
                    labels: vec![
                        ("b".into(), "1".into()),
                        ("a".into(), "x".into()),
                        ("b".into(), "2".into()),
                    ],
                    value: Value::Number(1.5),
                }],
            }],
        };
        let (body, samples) = encode_at(&e, 9);
        assert_eq!(samples, 1);
        let req = decode(&body);
        let ts = &req.timeseries[0];
        let pairs: Vec<(&str, &str)> = ts
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(pairs, [("__name__", "g"), ("a", "x"), ("b", "1")]);
        assert_eq!(
            ts.samples,
            [Sample {
                value: 1.5,
                timestamp: 9
            }]
        );
    }
}
