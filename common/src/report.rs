//! The run report: the versioned JSON document `loadgen run --report` writes,
//! `loadgen merge` reads and writes, and `slo gate --run` and
//! `slo hpa --capacity` read. One set of types for the writer and the
//! readers; the JSON Schema ([`json_schema`], checked in as
//! `common/report.schema.json`) is generated from them.
//!
//! Version policy: [`REPORT_VERSION`] is 1. Adding a field keeps version 1
//! (new fields are optional, so older reports still read); removing a field
//! or changing what one means bumps it. Readers refuse a version they do not
//! know ([`ParseError::Version`]).
//!
//! Pure: no file I/O. How a run's statistics become these types stays with
//! loadgen.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::input::cut;

/// The report format version; bumped on incompatible changes.
pub const REPORT_VERSION: u32 = 1;

/// Report files larger than this are refused before parsing (a 24 h run
/// with per-second intervals is well below it).
pub const MAX_REPORT_BYTES: u64 = 512 * 1024 * 1024;

/// Error reasons by kind, then by message, with counts:
/// `{"connect": {"connection refused": 150}}`.
pub type Reasons = BTreeMap<String, BTreeMap<String, u64>>;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// The format version: 1 (see the version policy above).
    pub version: u32,
    pub scenario: String,
    pub target: String,
    /// `open` or `closed`.
    pub model: String,
    /// RFC 3339: when the schedule's clock started.
    #[serde(deserialize_with = "started_at")]
    pub started_at: String,
    /// RFC 3339: when the last request ended (or was abandoned). Absent in
    /// reports written before it existed.
    #[serde(
        default,
        deserialize_with = "ended_at",
        skip_serializing_if = "Option::is_none"
    )]
    pub ended_at: Option<String>,
    /// Seconds from `started_at` to `ended_at`, measured: the schedule plus
    /// the tail of the requests still in flight at its end (at most one
    /// timeout), or less when interrupted or aborted.
    pub elapsed_s: f64,
    pub iterations: u64,
    pub dropped_iterations: u64,
    pub interrupted: bool,
    pub aborted_by: Option<String>,
    /// The HTTP version of the responses: `HTTP/1.1` or `HTTP/2` (both,
    /// comma-separated, if the server chose differently per connection).
    /// Absent when no response came, and in reports written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_version: Option<String>,
    pub total: NameReport,
    pub requests: Vec<NameReport>,
    pub intervals: Vec<IntervalSummary>,
    pub thresholds: Vec<ThresholdResult>,
    /// The checks on responses (`checks:` in the scenario, and one
    /// `capture VAR` per capture), in the order the scenario writes them:
    /// how many times each passed and failed. A failed check is not a
    /// request error. Absent when the scenario has none, and in reports
    /// written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    /// The run's id: the `loadgen_run` label on the client metrics it
    /// exported (`--run-id`, or a fresh one). `slo gate --compare-client`
    /// selects the run's series by it. Absent in reports written before it
    /// existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Where the client metrics went while the run ran (`--remote-write`,
    /// `--metrics-listen`) and how that went. Absent when neither was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsExport>,
    /// Where the time goes: per request name, the server spans of its
    /// slow requests against typical ones (`--trace-sink`). Absent when no
    /// traces were asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bottlenecks: Option<Bottlenecks>,
}

/// The "where the time goes" analysis of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Bottlenecks {
    /// Where the spans came from: `trace-sink`, `tempo` or `jaeger`.
    pub source: String,
    /// Spans received for the run's traces.
    pub spans: u64,
    /// Per request name, in the scenario's order.
    pub requests: Vec<RequestBottleneck>,
}

/// What made one request name's slow requests slow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestBottleneck {
    pub request: String,
    /// Slow requests analysed (at or above the name's p99 as sent, the
    /// slowest kept), and how many of them had no trace.
    pub slow: u64,
    pub slow_without_trace: u64,
    /// Typical requests analysed (between the name's p40 and p60), and how
    /// many of them had no trace.
    pub typical: u64,
    pub typical_without_trace: u64,
    /// The span whose self time grows most from typical to slow; the
    /// client-side line when the time is outside every server span.
    pub bottleneck: Option<String>,
    /// Per span name, the largest share of the slow requests' time first.
    pub spans: Vec<SpanTime>,
    /// Span attributes common in slow requests and rarer in all.
    pub separators: Vec<SpanAttribute>,
}

/// One span name's part of the time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpanTime {
    pub span: String,
    /// Median self time (its duration minus its children's) in typical
    /// requests, ms.
    pub typical_ms: f64,
    /// Median self time in slow requests, ms.
    pub slow_ms: f64,
    /// 99th percentile of its self time in slow requests, ms.
    pub slow_p99_ms: f64,
    /// Its share (0..=1) of the slow requests' whole time.
    pub share: f64,
}

/// A span attribute that tells slow requests apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpanAttribute {
    pub span: String,
    pub key: String,
    pub value: String,
    /// Share of the slow requests with a trace that have it.
    pub slow: f64,
    /// Share of a uniform sample of all requests with a trace that have it.
    pub all: f64,
}

/// Where a run's client metrics went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MetricsExport {
    /// The labels on every series besides `loadgen_run` (`--metrics-label`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `--remote-write`: what was sent and what failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write: Option<RemoteWriteReport>,
    /// `--metrics-listen`: the address served, and how often it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<ListenReport>,
}

/// How remote write went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoteWriteReport {
    /// The receiver's URL, without credentials.
    pub url: String,
    /// Write requests the receiver accepted (2xx).
    pub sent: u64,
    /// Samples in those requests.
    pub samples: u64,
    /// Write requests given up on (a 4xx answer, or retries spent).
    pub failed: u64,
    /// Attempts retried after a 5xx, a 429 or a transport error.
    pub retries: u64,
    /// Readings dropped unsent because the queue was full (the receiver
    /// was too slow); a later reading carries their counts, since every
    /// series is cumulative.
    pub dropped: u64,
    /// Whether the final reading (the run's totals) was accepted.
    pub final_sent: bool,
    /// The last failure, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// How the scrape endpoint went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListenReport {
    /// The address it listened on (`127.0.0.1:9464`).
    pub address: String,
    /// Scrapes served.
    pub scrapes: u64,
    /// Whether a scrape read the run's final totals before loadgen exited.
    pub final_scraped: bool,
}

/// One check on the responses of one request name, and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    /// As written (`name:`), or made from the check (`status in [201]`,
    /// `capture token` for a capture).
    pub name: String,
    /// The name of the request it checks.
    pub request: String,
    /// Evaluations that passed.
    pub passes: u64,
    /// Evaluations that failed (a request that got no response fails all
    /// of its checks).
    pub fails: u64,
}

impl CheckResult {
    /// Evaluations in all.
    pub fn total(&self) -> u64 {
        self.passes.saturating_add(self.fails)
    }

    /// The share of evaluations that passed, or `None` when it never ran.
    pub fn pass_rate(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.passes as f64 / total as f64)
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

/// Statistics of one request name (or of all requests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NameReport {
    pub name: String,
    pub count: u64,
    pub rps: f64,
    pub errors: BTreeMap<String, u64>,
    /// Why requests failed: by error kind, the first few distinct messages
    /// with their counts (`{"connect": {"connection refused": 150}}`); the
    /// rest of a kind under `other`. Absent when nothing failed, and in
    /// reports written before it existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_reasons: Reasons,
    /// Responses by HTTP status, successes and failures alike.
    pub status_codes: BTreeMap<u16, u64>,
    /// Bytes of response bodies received (after transfer decoding; headers
    /// not counted). Absent in reports written before it existed, and in a
    /// merge of which one part lacked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_received: Option<u64>,
    /// From the intended start (coordinated-omission corrected).
    pub latency_ms: Latency,
    /// From the actual send.
    pub latency_uncorrected_ms: Latency,
    /// HdrHistogram V2 (deflate, base64) of corrected latency in microseconds.
    pub histogram: String,
    pub histogram_uncorrected: String,
    pub slowest: Vec<Slow>,
    /// Requests of this name that were not sent: a value they use was
    /// never captured, or a failed `fail_iteration` check ended their
    /// iteration first. Absent when none was skipped, and in reports
    /// written before it existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One of the slowest requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Slow {
    /// The W3C trace id (32 hex digits).
    pub trace_id: String,
    pub latency_ms: f64,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// Seconds from the run's start at which it ended.
    pub at_s: f64,
}

/// One second of the run in the report's interval series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntervalSummary {
    /// Seconds from the start at which this interval begins.
    pub t: u64,
    pub count: u64,
    pub errors: BTreeMap<String, u64>,
    pub status_codes: BTreeMap<u16, u64>,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A threshold and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ThresholdResult {
    /// As written in the scenario (`p(95)<300ms`).
    pub threshold: String,
    /// The request name it applies to; all requests when absent.
    pub request: Option<String>,
    /// The check it applies to (a `checks` threshold with `check:`): the
    /// checks of that name; all checks when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    pub abort_on_fail: bool,
    /// The observed value, in the threshold's unit; absent when there was no data.
    pub observed: Option<f64>,
    pub observed_text: String,
    pub passed: bool,
    /// The threshold as parsed: what it measures, the comparison and the
    /// limit (milliseconds for latency, a fraction for error_rate and
    /// checks), so
    /// other tools (`slo hpa --capacity`) need not parse the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Op>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// A latency percentile (0 < q < 100), in milliseconds.
    Percentile(f64),
    AvgLatency,
    MaxLatency,
    /// Failed requests over all requests, as a fraction.
    ErrorRate,
    /// Requests per second over the run.
    Rps,
    /// Iterations dropped because every user was busy (open model).
    Dropped,
    /// Check evaluations that passed over all evaluations, as a fraction.
    Checks,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// Whether `observed` compares to `limit` as this operator says.
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a threshold looks at besides the whole run, as summaries write it
/// in brackets: `checkout`, `check: status in [201]`, or
/// `checkout, check: status in [201]`; `None` for the whole run.
pub fn scope(request: Option<&str>, check: Option<&str>) -> Option<String> {
    match (request, check) {
        (None, None) => None,
        (Some(r), None) => Some(r.to_owned()),
        (None, Some(c)) => Some(format!("check: {c}")),
        (Some(r), Some(c)) => Some(format!("{r}, check: {c}")),
    }
}

impl ThresholdResult {
    /// Its request and check as summaries write them ([`scope`]).
    pub fn scope(&self) -> Option<String> {
        scope(self.request.as_deref(), self.check.as_deref())
    }
}

/// The longest piece of a bad value or parser message quoted back.
const QUOTE_CHARS: usize = crate::diagnostic::EXCERPT_CHARS;

/// `started_at` must be a string; a message that names it otherwise.
fn started_at<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match time_text(d, "started_at")? {
        Some(t) => Ok(t),
        None => Err(serde::de::Error::custom(
            "started_at is null, not an RFC 3339 time",
        )),
    }
}

/// `ended_at` is a string or null (or absent: `#[serde(default)]`).
fn ended_at<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    time_text(d, "ended_at")
}

fn time_text<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(t) => Ok(Some(t)),
        serde_json::Value::Null => Ok(None),
        other => {
            let shown = cut(&other.to_string(), QUOTE_CHARS);
            Err(serde::de::Error::custom(format!(
                "{field} is {shown}, not an RFC 3339 time"
            )))
        }
    }
}

/// The fields of a report document, in the order loadgen writes them.
pub const FIELDS: &[&str] = &[
    "version",
    "scenario",
    "target",
    "model",
    "started_at",
    "ended_at",
    "elapsed_s",
    "iterations",
    "dropped_iterations",
    "interrupted",
    "aborted_by",
    "http_version",
    "total",
    "requests",
    "intervals",
    "thresholds",
    "checks",
    "run_id",
    "metrics",
    "bottlenecks",
];

/// Why a text is not a report this release can read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or JSON that is not an object.
    #[error("{path}:{line}:{column}: not a loadgen report: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A version this release does not read (0 when there is none).
    #[error(
        "{path}: report version {found} is not supported (this release reads version {REPORT_VERSION})"
    )]
    Version { path: String, found: u64 },
    /// An object of the right version whose fields do not fit the types:
    /// a field of the wrong type, or a required one missing.
    #[error("{path}:{line}:{column}: not a loadgen report: {message}")]
    Shape {
        path: String,
        line: usize,
        column: usize,
        message: String,
        /// The top-level fields ([`FIELDS`]) the document does not have, so
        /// readers can say which one a report of theirs lacks.
        absent: Vec<&'static str>,
    },
    /// Values no run writes: a negative or non-finite duration or rate.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Report {
    /// Parses a report's JSON: an object, of a version this release reads
    /// (checked first, so a future report is refused as such), whose fields
    /// fit the types (errors keep their line and column), and whose numbers
    /// are ones a run can produce. `shown` names the text in errors.
    pub fn parse(text: &str, shown: &str) -> Result<Self, ParseError> {
        let at = |e: &serde_json::Error| (e.line().max(1), e.column().max(1));
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::Syntax {
                path: shown.to_owned(),
                line: at(&e).0,
                column: at(&e).1,
                message: cut(&e.to_string(), QUOTE_CHARS),
            })?;
        let Some(object) = value.as_object() else {
            return Err(ParseError::Syntax {
                path: shown.to_owned(),
                line: 1,
                column: 1,
                message: format!("expected a JSON object, got {}", kind(&value)),
            });
        };
        let version = object.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version != u64::from(REPORT_VERSION) {
            return Err(ParseError::Version {
                path: shown.to_owned(),
                found: version,
            });
        }
        let absent: Vec<&'static str> = FIELDS
            .iter()
            .copied()
            .filter(|f| !object.contains_key(*f))
            .collect();
        drop(value);
        // Parsed again from the text, so type errors keep their line and column.
        let report: Report = serde_json::from_str(text).map_err(|e| ParseError::Shape {
            path: shown.to_owned(),
            line: at(&e).0,
            column: at(&e).1,
            message: cut(&e.to_string(), QUOTE_CHARS),
            absent,
        })?;
        report.check().map_err(|message| ParseError::Invalid {
            path: shown.to_owned(),
            message,
        })?;
        Ok(report)
    }

    /// Values no run writes: a negative or non-finite duration or rate.
    pub fn check(&self) -> Result<(), String> {
        let finite = |what: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "{what} must be a finite number, 0 or more, got {v}"
                ))
            }
        };
        finite("elapsed_s", self.elapsed_s)?;
        for n in std::iter::once(&self.total).chain(&self.requests) {
            finite(&format!("rps of {:?}", n.name), n.rps)?;
        }
        Ok(())
    }

    /// True when every threshold passed.
    pub fn passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// The error reasons of the whole run as (kind, message, count), most
    /// frequent first (then by kind and message, so the order is stable).
    pub fn reasons_by_count(&self) -> Vec<(&str, &str, u64)> {
        let mut all: Vec<(&str, &str, u64)> = self
            .total
            .error_reasons
            .iter()
            .flat_map(|(kind, m)| {
                m.iter()
                    .map(move |(msg, n)| (kind.as_str(), msg.as_str(), *n))
            })
            .collect();
        all.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)).then(a.1.cmp(b.1)));
        all
    }

    /// The error reasons of the whole run, most frequent first:
    /// `connect: connection refused (150)`.
    pub fn reason_lines(&self) -> Vec<String> {
        self.reasons_by_count()
            .into_iter()
            .map(|(kind, msg, n)| format!("{kind}: {msg} ({n})"))
            .collect()
    }

    /// The whole run's responses by status, in status order:
    /// `200: 1234, 503: 17` (empty when no response came).
    pub fn status_line(&self) -> String {
        self.total
            .status_codes
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// When no request of the run succeeded: why, for stderr.
    pub fn no_success(&self) -> Option<String> {
        let total = &self.total;
        let errors: u64 = total.errors.values().sum();
        if total.count == 0 {
            return Some(format!(
                "no request completed ({} iterations dropped)",
                self.dropped_iterations
            ));
        }
        if errors < total.count {
            return None;
        }
        let reasons = self.reason_lines();
        let why = if reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", reasons.join("; "))
        };
        Some(format!(
            "no request succeeded ({} of {} failed){why}",
            errors, total.count
        ))
    }
}

/// What kind of JSON value this is, for a message.
fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The JSON Schema of the report, generated from these types (checked in
/// as `common/report.schema.json`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Report)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real report, written by `loadgen demo --duration 3s --report`.
    const EXAMPLE: &str = include_str!("../testdata/report.json");
    /// A real report of a run whose every request failed (error reasons,
    /// slowest requests with errors): `loadgen run scenarios/smoke.yaml
    /// --host http://127.0.0.1:1 --duration 2s --report`.
    const REFUSED: &str = include_str!("../testdata/report-refused.json");

    fn manifest() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn a_real_report_reads_and_writes_back_byte_for_byte() {
        let r = Report::parse(EXAMPLE, "report.json").unwrap();
        assert_eq!(r.version, REPORT_VERSION);
        assert!(r.total.count > 0 && !r.intervals.is_empty() && !r.thresholds.is_empty());
        // loadgen writes `serde_json::to_vec_pretty`, nothing after it.
        assert_eq!(serde_json::to_string_pretty(&r).unwrap(), EXAMPLE);
        let f = Report::parse(REFUSED, "refused.json").unwrap();
        assert!(!f.total.error_reasons.is_empty() && f.no_success().is_some());
        assert!(f.total.slowest.iter().all(|s| s.error.is_some()));
        assert_eq!(serde_json::to_string_pretty(&f).unwrap(), REFUSED);
        // An older report (no ended_at, no metric/op/limit) reads too, and
        // writes back as it was.
        let old =
            std::fs::read_to_string(manifest().join("../k8s/capacity/target-app-stress.json"))
                .unwrap();
        let o = Report::parse(&old, "stress.json").unwrap();
        assert_eq!(o.ended_at, None);
        assert_eq!(serde_json::to_string_pretty(&o).unwrap(), old.trim_end());
    }

    #[test]
    fn future_and_unversioned_reports_are_refused_as_such() {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["version"] = serde_json::json!(2);
        // A version 2 may have any shape: the version is checked first.
        v["total"] = serde_json::json!("changed");
        let e = Report::parse(&v.to_string(), "r.json").unwrap_err();
        assert_eq!(
            e,
            ParseError::Version {
                path: "r.json".into(),
                found: 2
            }
        );
        assert_eq!(
            e.to_string(),
            "r.json: report version 2 is not supported (this release reads version 1)"
        );
        let e = Report::parse("{\"scenario\": \"s\"}", "r.json").unwrap_err();
        assert!(matches!(e, ParseError::Version { found: 0, .. }), "{e}");
        let e = Report::parse("[]", "r.json").unwrap_err().to_string();
        assert_eq!(
            e,
            "r.json:1:1: not a loadgen report: expected a JSON object, got an array"
        );
    }

    #[test]
    fn shape_errors_keep_their_place_and_say_what_is_absent() {
        let e = Report::parse("{\n  \"version\": 1,\n  \"scenario\": 5\n}", "r.json").unwrap_err();
        assert!(e.to_string().starts_with("r.json:3:"), "{e}");
        let ParseError::Shape { absent, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(absent.contains(&"started_at") && !absent.contains(&"scenario"));
        let e = Report::parse("{\n  \"version\": 1,\n  \"scenario\": ", "r.json").unwrap_err();
        assert!(matches!(e, ParseError::Syntax { line: 3, .. }), "{e:?}");
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["started_at"] = serde_json::json!(5);
        let e = Report::parse(&v.to_string(), "r.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("started_at is 5, not an RFC 3339 time"), "{e}");
        v["started_at"] = serde_json::json!("x".repeat(1000));
        v["ended_at"] = serde_json::json!(["x".repeat(1000)]);
        let e = Report::parse(&v.to_string(), "r.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ended_at is [\"xxx"), "{e}");
        assert!(e.len() < 400, "the bad value is cut: {e}");
    }

    #[test]
    fn values_no_run_writes_are_refused() {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["elapsed_s"] = serde_json::json!(-1.0);
        let e = Report::parse(&v.to_string(), "r.json")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "r.json: elapsed_s must be a finite number, 0 or more, got -1"
        );
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["requests"][0]["rps"] = serde_json::json!(-0.5);
        let e = Report::parse(&v.to_string(), "r.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rps of"), "{e}");
    }

    #[test]
    fn verdicts_and_reasons() {
        let mut r = Report::parse(EXAMPLE, "r.json").unwrap();
        assert_eq!(r.passed(), r.thresholds.iter().all(|t| t.passed));
        r.thresholds[0].passed = false;
        assert!(!r.passed());
        r.total.error_reasons = BTreeMap::from([
            ("connect".into(), BTreeMap::from([("refused".into(), 2)])),
            ("status".into(), BTreeMap::from([("HTTP 503".into(), 5)])),
        ]);
        assert_eq!(
            r.reason_lines(),
            ["status: HTTP 503 (5)", "connect: refused (2)"]
        );
        assert_eq!(r.reasons_by_count()[1], ("connect", "refused", 2));
        r.total.status_codes = BTreeMap::from([(503, 17), (200, 1234)]);
        assert_eq!(r.status_line(), "200: 1234, 503: 17");
        r.total.errors = BTreeMap::from([("status".into(), r.total.count)]);
        let why = r.no_success().unwrap();
        assert!(why.starts_with("no request succeeded"), "{why}");
        assert!(Op::Le.holds(1.0, 1.0) && !Op::Lt.holds(1.0, 1.0));
        assert_eq!(Op::Ge.to_string(), ">=");
    }

    #[test]
    fn fields_are_the_types_fields() {
        let schema = json_schema();
        let props: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = FIELDS.to_vec();
        fields.sort_unstable();
        let mut props = props;
        props.sort_unstable();
        assert_eq!(fields, props);
    }

    /// check-jsonschema: `$CHECK_JSONSCHEMA`, or the one `scripts/test.sh`
    /// installs into `.venv`.
    fn check_jsonschema() -> std::path::PathBuf {
        let tool = std::env::var_os("CHECK_JSONSCHEMA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| manifest().join("../.venv/bin/check-jsonschema"));
        assert!(
            tool.exists(),
            "check-jsonschema is not installed: run scripts/test.sh (it makes .venv) or set CHECK_JSONSCHEMA"
        );
        tool
    }

    /// The checked-in schema accepts real reports (a new one, a failed run,
    /// an older one without `ended_at`) and refuses a broken one.
    #[test]
    fn the_schema_validates_real_reports() {
        let schema = manifest().join("report.schema.json");
        let validate = |file: &std::path::Path| {
            let out = std::process::Command::new(check_jsonschema())
                .arg("--schemafile")
                .arg(&schema)
                .arg(file)
                .output()
                .unwrap();
            (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        };
        for file in [
            "testdata/report.json",
            "testdata/report-refused.json",
            "../k8s/capacity/target-app-stress.json",
        ] {
            let (ok, out) = validate(&manifest().join(file));
            assert!(ok, "{file}: {out}");
        }
        let dir = tempfile::tempdir().unwrap();
        // A report with checks, skipped requests and a checks threshold.
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["checks"] = serde_json::json!([
            {"name": "status in [201]", "request": "create order", "passes": 97, "fails": 3}
        ]);
        v["requests"][0]["skipped"] = serde_json::json!(2);
        v["thresholds"][0]["check"] = serde_json::json!("status in [201]");
        v["thresholds"][0]["metric"] = serde_json::json!("checks");
        let checks = dir.path().join("checks.json");
        std::fs::write(&checks, v.to_string()).unwrap();
        let (ok, out) = validate(&checks);
        assert!(ok, "a report with checks: {out}");
        let r = Report::parse(&v.to_string(), "checks.json").unwrap();
        assert_eq!(r.checks[0].pass_rate(), Some(0.97));
        assert_eq!(r.requests[0].skipped, 2);
        assert_eq!(r.thresholds[0].metric, Some(Metric::Checks));
        v["checks"][0]["fails"] = serde_json::json!(-3);
        std::fs::write(&checks, v.to_string()).unwrap();
        let (ok, out) = validate(&checks);
        assert!(!ok, "a negative check count passed: {out}");
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["intervals"][0]["count"] = serde_json::json!(-1);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, v.to_string()).unwrap();
        let (ok, out) = validate(&bad);
        assert!(!ok, "a negative count passed: {out}");
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v.as_object_mut().unwrap().remove("started_at");
        std::fs::write(&bad, v.to_string()).unwrap();
        let (ok, out) = validate(&bad);
        assert!(!ok, "a report without started_at passed: {out}");
    }

    /// The schema requires what every reader needs (`started_at`), and not
    /// what an interrupted report may lack (`ended_at`).
    #[test]
    fn schema_requires_what_readers_need() {
        // That common/report.schema.json is current is a row of
        // slo/tests/it/goldens.rs (`UPDATE_GOLDENS=1` rewrites it).
        let fresh = serde_json::to_string_pretty(&json_schema()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&fresh).unwrap();
        assert!(
            v["required"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("started_at"))
        );
        assert!(
            !v["required"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("ended_at"))
        );
    }
}
