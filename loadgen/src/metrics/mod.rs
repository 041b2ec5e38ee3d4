//! The client's metrics during a run, as Prometheus sees them: what
//! `--remote-write` sends and `--metrics-listen` serves.
//!
//! The names follow OpenTelemetry's HTTP client semantic conventions as
//! Prometheus spells them (`http_client_request_duration_seconds`, labels
//! `http_request_method`, `server_address`, `server_port`, `http_response_status_code`,
//! `error_type`), plus loadgen's own (`loadgen_request_latency_seconds`,
//! the corrected latency, and the iteration counters and gauges). Every
//! series carries `loadgen_run` and the run's extra labels.
//!
//! This module is pure: [`Buckets`] is what a shard counts per series (see
//! [`crate::tally`]), [`ClientMetrics`] the run's cumulative counts, and
//! [`Exposition`] one reading of them, which [`openmetrics`] turns into
//! the text a scrape reads and [`remote_write`] into a remote-write
//! request. Where they go ([`listen`], the remote-write sender) is I/O.

pub mod listen;
pub mod openmetrics;
pub mod remote_write;

use std::time::Duration;

use crate::stats::Outcome;

/// Upper bounds (seconds) of the latency histograms' buckets, `+Inf`
/// implied. Chosen so that the thresholds latency SLOs commonly name are
/// bucket bounds (5, 10, 25, 50, 100, 200, 250, 300, 500 ms, 1, 2.5, 5 s)
/// and a latency SLI at any of them is exact.
pub const BOUNDS: [f64; 20] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0,
];

/// The bounds in microseconds (a request of exactly a bound's latency
/// counts in that bucket, as `le` says).
const BOUNDS_US: [u64; 20] = {
    let mut out = [0u64; 20];
    let mut i = 0;
    while i < BOUNDS.len() {
        // Exact: every bound is a whole number of microseconds.
        out[i] = (BOUNDS[i] * 1_000_000.0 + 0.5) as u64;
        i += 1;
    }
    out
};

/// Buckets counted per series: one per bound and the `+Inf` overflow.
pub const BUCKETS: usize = BOUNDS.len() + 1;

/// From the actual send to the end (OpenTelemetry's client duration).
pub const DURATION: &str = "http_client_request_duration_seconds";
/// From the intended start to the end: corrected for coordinated omission.
pub const LATENCY: &str = "loadgen_request_latency_seconds";
/// Iterations started.
pub const ITERATIONS: &str = "loadgen_iterations_total";
/// Iterations of the open model that could not start (no free user).
pub const DROPPED: &str = "loadgen_iterations_dropped_total";
/// Users in an iteration right now.
pub const ACTIVE_USERS: &str = "loadgen_active_users";
/// The open model's target rate (iterations per second) right now.
pub const TARGET_RATE: &str = "loadgen_target_rate";
/// The closed model's target number of users right now.
pub const TARGET_USERS: &str = "loadgen_target_users";

/// The label every series carries: the run's id (`--run-id`).
pub const RUN_LABEL: &str = "loadgen_run";

/// Histogram counts of one series: per bucket (not cumulative), with the
/// sum of what was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histo {
    pub buckets: [u64; BUCKETS],
    /// Sum of the recorded latencies, nanoseconds.
    pub sum_ns: u64,
}

impl Default for Histo {
    fn default() -> Self {
        Self {
            buckets: [0; BUCKETS],
            sum_ns: 0,
        }
    }
}

/// The bucket a latency of `us` microseconds counts in.
pub fn bucket_of(us: u64) -> usize {
    BOUNDS_US.partition_point(|&b| b < us)
}

/// Whole microseconds, rounded up: a latency a nanosecond over a bound is
/// over it (`le` is "at most").
fn micros_up(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1000)).unwrap_or(u64::MAX)
}

impl Histo {
    pub fn record(&mut self, d: Duration) {
        let us = micros_up(d);
        if let Some(b) = self.buckets.get_mut(bucket_of(us)) {
            *b = b.saturating_add(1);
        }
        self.sum_ns = self
            .sum_ns
            .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn add(&mut self, other: &Histo) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Cumulative counts per bound, `+Inf` (the count) last.
    pub fn cumulative(&self) -> [u64; BUCKETS] {
        let mut out = [0u64; BUCKETS];
        let mut run = 0u64;
        for (o, b) in out.iter_mut().zip(&self.buckets) {
            run = run.saturating_add(*b);
            *o = run;
        }
        out
    }
}

/// What a shard (and the run) counts per series: both latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buckets {
    /// From the actual send: [`DURATION`].
    pub actual: Histo,
    /// From the intended start: [`LATENCY`].
    pub corrected: Histo,
}

impl Buckets {
    pub fn record(&mut self, actual: Duration, corrected: Duration) {
        self.actual.record(actual);
        self.corrected.record(corrected);
    }

    pub fn add(&mut self, other: &Buckets) {
        self.actual.add(&other.actual);
        self.corrected.add(&other.corrected);
    }
}

/// A series of the request histograms: which request (a [`SeriesMeta`]
/// by index) and how it ended.
pub type SeriesKey = (u32, Outcome);

/// Records one request into a short list of series.
pub fn record_series(
    into: &mut Vec<(SeriesKey, Buckets)>,
    key: SeriesKey,
    actual: Duration,
    corrected: Duration,
) {
    match into.iter_mut().find(|(k, _)| *k == key) {
        Some((_, have)) => have.record(actual, corrected),
        None => {
            let mut b = Buckets::default();
            b.record(actual, corrected);
            into.push((key, b));
        }
    }
}

/// What a request series is labelled with, besides its outcome.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesMeta {
    pub scenario: String,
    pub request: String,
    pub method: String,
}

/// The labels an outcome gives: the status code when a response came, and
/// `error_type` when the request failed (the status code for a status the
/// scenario does not accept, as OpenTelemetry's `error.type` does, else
/// `timeout`, `connect` or `request`).
pub fn outcome_labels(o: Outcome) -> (Option<u16>, Option<String>) {
    match o {
        Outcome::Ok(s) => (Some(s), None),
        Outcome::Status(s) => (Some(s), Some(s.to_string())),
        Outcome::Timeout => (None, Some("timeout".to_owned())),
        Outcome::Connect => (None, Some("connect".to_owned())),
        Outcome::Request => (None, Some("request".to_owned())),
    }
}

/// The run's gauges and counters besides the request histograms, read on
/// the recorder's tick.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    pub iterations: u64,
    pub dropped: u64,
    pub active_users: u64,
    /// Open model: the target rate now.
    pub target_rate: Option<f64>,
    /// Closed model: the target users now.
    pub target_users: Option<f64>,
}

/// The run's cumulative client metrics: what every reading reports.
#[derive(Debug, Clone)]
pub struct ClientMetrics {
    /// Labels on every series: `loadgen_run` first, then the extra ones.
    common: Vec<(String, String)>,
    server_address: String,
    server_port: Option<u16>,
    metas: Vec<SeriesMeta>,
    /// Sorted by key: a reading lists series in a stable order.
    series: std::collections::BTreeMap<SeriesKey, Buckets>,
}

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One series' value in a reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter's or a gauge's value.
    Number(f64),
    /// Cumulative counts per [`BOUNDS`] with `+Inf` (the count) last, and
    /// the sum in seconds.
    Histogram {
        cumulative: [u64; BUCKETS],
        sum: f64,
    },
}

/// One series of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    pub value: Value,
}

/// A metric family. `name` is the name Prometheus stores: counters end in
/// `_total`, histograms get `_bucket`, `_sum` and `_count` added.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub series: Vec<Series>,
}

/// One reading of the run's metrics, at a time (milliseconds since the
/// Unix epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Exposition {
    pub timestamp_ms: i64,
    pub families: Vec<Family>,
}

/// One flat Prometheus sample of an [`Exposition`].
#[derive(Debug, Clone, PartialEq)]
pub struct FlatSample {
    /// `__name__` first, then the labels in the order the family gives.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A bound as an `le` label value (`0.005`, `1.0`, `+Inf`): the way the
/// OpenMetrics text of [`openmetrics`] writes it, so that a scrape and a
/// remote write give the same series.
pub fn le_text(bound: Option<f64>) -> String {
    match bound {
        Some(b) => openmetrics::float_text(b),
        None => "+Inf".to_owned(),
    }
}

impl Exposition {
    /// Every sample as Prometheus stores it: a histogram becomes its
    /// `_bucket` series (with `le`), `_sum` and `_count`.
    pub fn samples(&self) -> Vec<FlatSample> {
        let mut out = Vec::new();
        for f in &self.families {
            for s in &f.series {
                let named = |name: String, extra: Option<(String, String)>| {
                    let mut labels = Vec::with_capacity(s.labels.len() + 2);
                    labels.push(("__name__".to_owned(), name));
                    labels.extend(s.labels.iter().cloned());
                    labels.extend(extra);
                    labels
                };
                match &s.value {
                    Value::Number(v) => out.push(FlatSample {
                        labels: named(f.name.to_owned(), None),
                        value: *v,
                    }),
                    Value::Histogram { cumulative, sum } => {
                        for (i, c) in cumulative.iter().enumerate() {
                            out.push(FlatSample {
                                labels: named(
                                    format!("{}_bucket", f.name),
                                    Some(("le".to_owned(), le_text(BOUNDS.get(i).copied()))),
                                ),
                                value: *c as f64,
                            });
                        }
                        out.push(FlatSample {
                            labels: named(format!("{}_sum", f.name), None),
                            value: *sum,
                        });
                        out.push(FlatSample {
                            labels: named(format!("{}_count", f.name), None),
                            value: cumulative.last().copied().unwrap_or(0) as f64,
                        });
                    }
                }
            }
        }
        out
    }
}

impl ClientMetrics {
    /// The metrics of run `run_id` against `server_address`, its request
    /// series described by `metas` (indexed by [`SeriesKey`]'s first
    /// part), with `extra` labels on every series.
    pub fn new(
        run_id: &str,
        extra: &[(String, String)],
        server_address: &str,
        metas: Vec<SeriesMeta>,
    ) -> Self {
        let mut common = vec![(RUN_LABEL.to_owned(), run_id.to_owned())];
        common.extend(extra.iter().cloned());
        Self {
            common,
            server_address: server_address.to_owned(),
            server_port: None,
            metas,
            series: Default::default(),
        }
    }

    /// The `server_port` label of the request series.
    pub fn with_server_port(mut self, port: Option<u16>) -> Self {
        self.server_port = port;
        self
    }

    /// Adds a shard's counts.
    pub fn absorb(&mut self, series: &[(SeriesKey, Buckets)]) {
        for (k, b) in series {
            self.series.entry(*k).or_default().add(b);
        }
    }

    /// Requests counted so far.
    pub fn count(&self) -> u64 {
        self.series
            .values()
            .fold(0u64, |a, b| a.saturating_add(b.actual.count()))
    }

    fn request_labels(&self, key: &SeriesKey) -> Vec<(String, String)> {
        let mut labels = self.common.clone();
        let (status, error) = outcome_labels(key.1);
        if let Some(m) = self.metas.get(key.0 as usize) {
            labels.push(("loadgen_scenario".to_owned(), m.scenario.clone()));
            labels.push(("loadgen_request".to_owned(), m.request.clone()));
            labels.push(("http_request_method".to_owned(), m.method.clone()));
        }
        labels.push(("server_address".to_owned(), self.server_address.clone()));
        if let Some(p) = self.server_port {
            labels.push(("server_port".to_owned(), p.to_string()));
        }
        if let Some(s) = status {
            labels.push(("http_response_status_code".to_owned(), s.to_string()));
        }
        if let Some(e) = error {
            labels.push(("error_type".to_owned(), e));
        }
        labels
    }

    /// A reading of everything at `timestamp_ms`, with the gauges `g`.
    pub fn exposition(&self, timestamp_ms: i64, g: &Gauges) -> Exposition {
        let histogram = |pick: fn(&Buckets) -> &Histo| {
            self.series
                .iter()
                .map(|(k, b)| {
                    let h = pick(b);
                    Series {
                        labels: self.request_labels(k),
                        value: Value::Histogram {
                            cumulative: h.cumulative(),
                            sum: h.sum_ns as f64 / 1e9,
                        },
                    }
                })
                .collect::<Vec<_>>()
        };
        let one = |v: f64| {
            vec![Series {
                labels: self.common.clone(),
                value: Value::Number(v),
            }]
        };
        let mut families = vec![
            Family {
                name: DURATION,
                help: "Duration of HTTP client requests, from the actual send to the end.",
                kind: Kind::Histogram,
                series: histogram(|b| &b.actual),
            },
            Family {
                name: LATENCY,
                help: "Latency of HTTP client requests from their intended start (corrected for coordinated omission).",
                kind: Kind::Histogram,
                series: histogram(|b| &b.corrected),
            },
            Family {
                name: ITERATIONS,
                help: "Iterations started.",
                kind: Kind::Counter,
                series: one(g.iterations as f64),
            },
            Family {
                name: DROPPED,
                help: "Iterations of the open model that could not start in time.",
                kind: Kind::Counter,
                series: one(g.dropped as f64),
            },
            Family {
                name: ACTIVE_USERS,
                help: "Users in an iteration.",
                kind: Kind::Gauge,
                series: one(g.active_users as f64),
            },
        ];
        if let Some(r) = g.target_rate {
            families.push(Family {
                name: TARGET_RATE,
                help: "Target rate of the open model, iterations per second.",
                kind: Kind::Gauge,
                series: one(r),
            });
        }
        if let Some(u) = g.target_users {
            families.push(Family {
                name: TARGET_USERS,
                help: "Target users of the closed model.",
                kind: Kind::Gauge,
                series: one(u),
            });
        }
        Exposition {
            timestamp_ms,
            families,
        }
    }
}

/// Where a run publishes its readings: on every tick of the recorder and
/// once more, with the totals, at the end. The scrape endpoint and the
/// remote-write sender read the latest from `readings`; publishing never
/// waits on either.
#[derive(Debug, Clone)]
pub struct Sink {
    /// The `loadgen_run` label.
    pub run_id: String,
    /// Labels on every series besides it (`--metrics-label`).
    pub labels: Vec<(String, String)>,
    pub readings: tokio::sync::watch::Sender<Option<std::sync::Arc<Exposition>>>,
    /// Set once the final reading is published.
    pub finished: tokio::sync::watch::Sender<bool>,
}

impl Sink {
    pub fn new(run_id: String, labels: Vec<(String, String)>) -> Self {
        Self {
            run_id,
            labels,
            readings: tokio::sync::watch::Sender::new(None),
            finished: tokio::sync::watch::Sender::new(false),
        }
    }
}

/// The current time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A fresh run id: 12 hex digits, random.
pub fn fresh_run_id() -> String {
    let n: u64 = rand::random();
    format!("{:012x}", n & 0xffff_ffff_ffff)
}

/// Checks a `--metrics-label` name: Prometheus's label name syntax, not
/// reserved (`__` prefix) and not one loadgen sets itself.
pub fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok_first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !ok_first || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "{name:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
        ));
    }
    if name.starts_with("__") {
        return Err(format!("{name:?}: names starting with __ are reserved"));
    }
    const OWN: [&str; 9] = [
        RUN_LABEL,
        "loadgen_scenario",
        "loadgen_request",
        "http_request_method",
        "server_address",
        "server_port",
        "http_response_status_code",
        "error_type",
        "le",
    ];
    if OWN.contains(&name) {
        return Err(format!("{name:?} is a label loadgen sets itself"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_on_a_bound_counts_in_that_bucket() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1000), 0);
        assert_eq!(bucket_of(1001), 1);
        assert_eq!(bucket_of(300_000), 11);
        assert_eq!(BOUNDS[11], 0.3);
        assert_eq!(bucket_of(10_000_000), 19);
        assert_eq!(bucket_of(10_000_001), 20);
        // A nanosecond over a bound is over it.
        let mut h = Histo::default();
        h.record(Duration::from_nanos(5_000_001));
        h.record(Duration::from_micros(5_000));
        assert_eq!(h.buckets[2], 1, "5 ms is in le=0.005");
        assert_eq!(h.buckets[3], 1, "5.000001 ms is not");
        assert_eq!(h.sum_ns, 10_000_001);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert!(BOUNDS_US.windows(2).all(|w| w[0] < w[1]));
        for (b, us) in BOUNDS.iter().zip(BOUNDS_US) {
            assert_eq!((b * 1e6).round() as u64, us);
        }
    }

    #[test]
    fn a_reading_is_cumulative_and_labelled() {
        let metas = vec![SeriesMeta {
            scenario: "s".into(),
            request: "get".into(),
            method: "GET".into(),
        }];
        let mut m = ClientMetrics::new(
            "r1",
            &[("shard".into(), "2".into())],
            "127.0.0.1:8080",
            metas,
        );
        let mut shard = Vec::new();
        let ms = Duration::from_millis;
        record_series(&mut shard, (0, Outcome::Ok(200)), ms(3), ms(4));
        record_series(&mut shard, (0, Outcome::Ok(200)), ms(200), ms(400));
        record_series(&mut shard, (0, Outcome::Status(503)), ms(1), ms(1));
        record_series(&mut shard, (0, Outcome::Connect), ms(1), ms(20_000));
        m.absorb(&shard);
        m.absorb(&shard);
        assert_eq!(m.count(), 8);
        let e = m.exposition(5, &Gauges::default());
        let d = &e.families[0];
        assert_eq!(d.name, DURATION);
        assert_eq!(d.series.len(), 3);
        let ok = &d.series[0];
        assert_eq!(
            ok.labels,
            [
                ("loadgen_run", "r1"),
                ("shard", "2"),
                ("loadgen_scenario", "s"),
                ("loadgen_request", "get"),
                ("http_request_method", "GET"),
                ("server_address", "127.0.0.1:8080"),
                ("http_response_status_code", "200"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        let Value::Histogram { cumulative, sum } = &ok.value else {
            panic!("not a histogram: {ok:?}");
        };
        assert_eq!(cumulative[2], 2, "3 ms is under 5 ms");
        assert_eq!(cumulative[8], 2, "nothing else under 150 ms");
        assert_eq!(cumulative[9], 4, "200 ms is on the 200 ms bound");
        assert_eq!(cumulative[BUCKETS - 1], 4);
        assert!((sum - 0.406).abs() < 1e-9, "{sum}");
        let refused = &d.series[2].labels;
        assert!(refused.contains(&("error_type".into(), "connect".into())));
        assert!(
            !refused
                .iter()
                .any(|(k, _)| k == "http_response_status_code")
        );
        let corrected = &e.families[1].series[2].value;
        let Value::Histogram { cumulative, .. } = corrected else {
            panic!();
        };
        assert_eq!(cumulative[BUCKETS - 2], 0, "20 s is past 10 s");
        assert_eq!(cumulative[BUCKETS - 1], 2);
        let flat = e.samples();
        let count: f64 = flat
            .iter()
            .filter(|s| s.labels[0].1 == format!("{DURATION}_count"))
            .map(|s| s.value)
            .sum();
        assert_eq!(count, 8.0);
        assert!(
            flat.iter()
                .any(|s| s.labels.contains(&("le".into(), "+Inf".into())))
        );
    }

    #[test]
    fn label_names_are_checked() {
        assert!(check_label_name("loadgen_shard").is_ok());
        assert!(check_label_name("9x").is_err());
        assert!(check_label_name("a-b").is_err());
        assert!(check_label_name("__name__").is_err());
        assert!(check_label_name("loadgen_run").is_err());
        assert!(check_label_name("").is_err());
    }
}
