//! The unit of a metric, read off its name as Prometheus' naming conventions
//! write it (`request_duration_seconds`, `response_size_bytes`), plus the
//! short suffixes many exporters use (`request_latency_ms`). Dashboards take
//! the Grafana unit of their panels from it, and messages print a latency
//! threshold in it: a histogram's `le` bounds are in the metric's own unit,
//! so a threshold of 250 on `request_latency_ms` is 250 ms.

/// A metric's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    /// Grafana's unit id (`s`, `ms`, `bytes`; `short` for a plain number).
    pub grafana: &'static str,
    /// How a value is written in a message (`250ms`, `0.3s`, `512 bytes`).
    symbol: &'static str,
    /// Whether the symbol follows the number without a space.
    attached: bool,
    /// Whether it measures time (a latency).
    pub time: bool,
}

const fn time(grafana: &'static str) -> Unit {
    Unit {
        grafana,
        symbol: grafana,
        attached: true,
        time: true,
    }
}

/// Name suffixes and their units, longest first where one ends another.
const SUFFIXES: &[(&str, Unit)] = &[
    ("_nanoseconds", time("ns")),
    ("_microseconds", time("µs")),
    ("_milliseconds", time("ms")),
    ("_seconds", time("s")),
    ("_minutes", time("m")),
    ("_hours", time("h")),
    ("_days", time("d")),
    ("_ns", time("ns")),
    ("_us", time("µs")),
    ("_ms", time("ms")),
    (
        "_bytes",
        Unit {
            grafana: "bytes",
            symbol: "bytes",
            attached: false,
            time: false,
        },
    ),
];

/// A number without a unit.
const PLAIN: Unit = Unit {
    grafana: "short",
    symbol: "",
    attached: true,
    time: false,
};

/// The unit of `metric` (a histogram's base name, or a series name with
/// `_bucket`, `_count`, `_sum` or `_total`).
pub fn of(metric: &str) -> Unit {
    let base = ["_bucket", "_count", "_sum", "_total"]
        .iter()
        .find_map(|s| metric.strip_suffix(s))
        .unwrap_or(metric);
    SUFFIXES
        .iter()
        .find(|(suffix, _)| base.ends_with(suffix))
        .map_or(PLAIN, |(_, u)| *u)
}

impl Unit {
    /// `value` in this unit: `250ms`, `0.3s`, `512 bytes`, `7`.
    pub fn show(&self, value: f64) -> String {
        match (self.symbol, self.attached) {
            ("", _) => format!("{value}"),
            (s, true) => format!("{value}{s}"),
            (s, false) => format!("{value} {s}"),
        }
    }
}

/// `value` in the unit of `metric`.
pub fn show(value: f64, metric: &str) -> String {
    of(metric).show(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_name() {
        for (metric, grafana) in [
            ("http_server_request_duration_seconds", "s"),
            ("http_server_request_duration_seconds_bucket", "s"),
            ("request_latency_ms", "ms"),
            ("request_latency_ms_count", "ms"),
            ("rpc_duration_milliseconds", "ms"),
            ("db_query_microseconds", "µs"),
            ("gc_pause_ns", "ns"),
            ("response_size_bytes", "bytes"),
            ("job_runtime_minutes", "m"),
            ("items", "short"),
            ("queue_depth_total", "short"),
            // A suffix inside the name is not the unit.
            ("ms_requests", "short"),
            ("seconds_total_things", "short"),
        ] {
            assert_eq!(of(metric).grafana, grafana, "{metric}");
        }
        assert!(of("x_seconds").time && of("x_ms").time);
        assert!(!of("x_bytes").time && !of("x").time);
    }

    #[test]
    fn values_are_written_in_the_unit() {
        assert_eq!(show(250.0, "request_latency_ms"), "250ms");
        assert_eq!(show(0.3, "http_server_request_duration_seconds"), "0.3s");
        assert_eq!(show(512.0, "response_size_bytes"), "512 bytes");
        assert_eq!(show(7.0, "items"), "7");
    }
}
