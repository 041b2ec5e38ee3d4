//! The unit of a metric, read off its name as Prometheus' naming conventions
//! write it (`request_duration_seconds`, `response_size_bytes`), plus the
//! short suffixes many exporters use (`request_latency_ms`). Dashboards take
//! the Grafana unit of their panels from it, and messages print a latency
//! threshold in it: a histogram's `le` bounds are in the metric's own unit,
//! so a threshold of 250 on `request_latency_ms` is 250 ms.

/// A metric's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// Grafana's unit id (`s`, `ms`, `bytes`).
    pub grafana: &'static str,
    /// How a value is written in a message (`250ms`, `0.3s`, `512 bytes`).
    symbol: &'static str,
    /// Whether the symbol follows the number without a space.
    attached: bool,
    /// Whether it measures time (a latency).
    pub time: bool,
    /// Seconds per this unit, as (numerator, denominator): exact for the
    /// bounds people write (250 ms is 250 / 1000 s).
    seconds: Option<(f64, f64)>,
}

const fn time(grafana: &'static str, num: f64, den: f64) -> Unit {
    Unit {
        grafana,
        symbol: grafana,
        attached: true,
        time: true,
        seconds: Some((num, den)),
    }
}

/// Name suffixes and their units, longest first where one ends another.
const SUFFIXES: &[(&str, Unit)] = &[
    ("_nanoseconds", time("ns", 1.0, 1e9)),
    ("_microseconds", time("µs", 1.0, 1e6)),
    ("_milliseconds", time("ms", 1.0, 1e3)),
    ("_seconds", time("s", 1.0, 1.0)),
    ("_minutes", time("m", 60.0, 1.0)),
    ("_hours", time("h", 3600.0, 1.0)),
    ("_days", time("d", 86400.0, 1.0)),
    ("_ns", time("ns", 1.0, 1e9)),
    ("_us", time("µs", 1.0, 1e6)),
    ("_ms", time("ms", 1.0, 1e3)),
    (
        "_bytes",
        Unit {
            grafana: "bytes",
            symbol: "bytes",
            attached: false,
            time: false,
            seconds: None,
        },
    ),
];

/// Seconds: a latency's unit when its name has none, as the spec
/// documents a latency threshold.
const SECONDS: Unit = time("s", 1.0, 1.0);

/// The unit of `metric` (a histogram's base name, or a series name with
/// `_bucket`, `_count`, `_sum` or `_total`), if its name has one.
pub fn of(metric: &str) -> Option<Unit> {
    let base = ["_bucket", "_count", "_sum", "_total"]
        .iter()
        .find_map(|s| metric.strip_suffix(s))
        .unwrap_or(metric);
    SUFFIXES
        .iter()
        .find(|(suffix, _)| base.ends_with(suffix))
        .map(|(_, u)| *u)
}

/// The unit of a latency histogram: its name's, else seconds.
pub fn latency(metric: &str) -> Unit {
    of(metric).unwrap_or(SECONDS)
}

impl Unit {
    /// `value` of this unit in seconds, if it is a unit of time.
    pub fn to_seconds(&self, value: f64) -> Option<f64> {
        self.seconds.map(|(num, den)| value * num / den)
    }

    /// `value` in this unit: `250ms`, `0.3s`, `512 bytes`.
    pub fn show(&self, value: f64) -> String {
        if self.attached {
            format!("{value}{}", self.symbol)
        } else {
            format!("{value} {}", self.symbol)
        }
    }
}

/// A latency threshold of `metric` in its unit: `250ms`, `0.3s`.
pub fn threshold(value: f64, metric: &str) -> String {
    latency(metric).show(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_name() {
        for (metric, grafana) in [
            ("http_server_request_duration_seconds", Some("s")),
            ("http_server_request_duration_seconds_bucket", Some("s")),
            ("request_latency_ms", Some("ms")),
            ("request_latency_ms_count", Some("ms")),
            ("rpc_duration_milliseconds", Some("ms")),
            ("db_query_microseconds", Some("µs")),
            ("gc_pause_ns", Some("ns")),
            ("response_size_bytes", Some("bytes")),
            ("job_runtime_minutes", Some("m")),
            ("items", None),
            ("queue_depth_total", None),
            // A suffix inside the name is not the unit.
            ("ms_requests", None),
            ("seconds_total_things", None),
        ] {
            assert_eq!(of(metric).map(|u| u.grafana), grafana, "{metric}");
        }
        assert!(latency("x_seconds").time && latency("x_ms").time);
        assert!(!latency("x_bytes").time);
        // A latency without a unit in its name is in seconds.
        assert_eq!(latency("h"), latency("h_seconds"));
    }

    #[test]
    fn thresholds_are_written_in_the_unit() {
        assert_eq!(threshold(250.0, "request_latency_ms"), "250ms");
        assert_eq!(
            threshold(0.3, "http_server_request_duration_seconds"),
            "0.3s"
        );
        assert_eq!(threshold(512.0, "response_size_bytes"), "512 bytes");
        assert_eq!(threshold(0.3, "h"), "0.3s");
    }

    #[test]
    fn times_convert_to_seconds_exactly() {
        assert_eq!(latency("x_ms").to_seconds(250.0), Some(0.25));
        assert_eq!(latency("x_ms").to_seconds(300.0), Some(0.3));
        assert_eq!(latency("x_seconds").to_seconds(0.3), Some(0.3));
        assert_eq!(latency("x_us").to_seconds(1500.0), Some(0.0015));
        assert_eq!(latency("x_minutes").to_seconds(2.0), Some(120.0));
        assert_eq!(latency("x_bytes").to_seconds(1.0), None);
    }
}
