//! The run report: a versioned JSON document with per-name statistics,
//! serialized histograms (so reports merge exactly), the interval series,
//! the slowest requests with their trace ids, and threshold results. The
//! other outputs (table, JUnit, Markdown, HdrHistogram log) render from it.

pub mod hdrlog;
pub mod junit;
pub mod markdown;
pub mod table;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::recorder::{IntervalSummary, RunResult};
use crate::scenario::{Load, Plan};
use crate::stats::{Reasons, Slow, Stats, decode_histogram, encode_histogram};
use crate::threshold::{Metric, Threshold, Verdict};

/// The report format version; bumped on incompatible changes.
pub const REPORT_VERSION: u32 = 1;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    fn of(s: &Stats, corrected: bool) -> Self {
        Self {
            p50: s.percentile_ms(50.0, corrected),
            p90: s.percentile_ms(90.0, corrected),
            p95: s.percentile_ms(95.0, corrected),
            p99: s.percentile_ms(99.0, corrected),
            p99_9: s.percentile_ms(99.9, corrected),
            max: s.max_ms(corrected),
            mean: s.mean_ms(corrected),
        }
    }
}

/// Statistics of one request name (or of all requests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub status_codes: BTreeMap<u16, u64>,
    /// From the intended start (coordinated-omission corrected).
    pub latency_ms: Latency,
    /// From the actual send.
    pub latency_uncorrected_ms: Latency,
    /// HdrHistogram V2 (deflate, base64) of corrected latency in microseconds.
    pub histogram: String,
    pub histogram_uncorrected: String,
    pub slowest: Vec<Slow>,
}

impl NameReport {
    fn of(name: &str, s: &Stats, elapsed: f64) -> Self {
        Self {
            name: name.to_owned(),
            count: s.count,
            rps: if elapsed > 0.0 {
                s.count as f64 / elapsed
            } else {
                0.0
            },
            errors: s.errors.clone(),
            error_reasons: s.reasons.clone(),
            status_codes: s.statuses.clone(),
            latency_ms: Latency::of(s, true),
            latency_uncorrected_ms: Latency::of(s, false),
            histogram: encode_histogram(&s.corrected),
            histogram_uncorrected: encode_histogram(&s.actual),
            slowest: s.slowest.clone(),
        }
    }

    /// Rebuilds the statistics (for merging and re-evaluating thresholds).
    pub fn stats(&self) -> Result<Stats, String> {
        Ok(Stats {
            corrected: decode_histogram(&self.histogram)?,
            actual: decode_histogram(&self.histogram_uncorrected)?,
            count: self.count,
            errors: self.errors.clone(),
            statuses: self.status_codes.clone(),
            reasons: self.error_reasons.clone(),
            slowest: self.slowest.clone(),
        })
    }
}

/// A threshold and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub threshold: String,
    pub request: Option<String>,
    pub abort_on_fail: bool,
    /// The observed value, in the threshold's unit; absent when there was no data.
    pub observed: Option<f64>,
    pub observed_text: String,
    pub passed: bool,
    /// The threshold as parsed: what it measures, the comparison and the
    /// limit (milliseconds for latency, a fraction for error_rate), so
    /// other tools (`slo hpa --capacity`) need not parse the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<crate::threshold::Op>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub scenario: String,
    pub target: String,
    pub model: String,
    /// RFC 3339: when the schedule's clock started.
    pub started_at: String,
    /// RFC 3339: when the last request ended (or was abandoned). Absent in
    /// reports written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Seconds from `started_at` to `ended_at`, measured: the schedule plus
    /// the tail of the requests still in flight at its end (at most one
    /// timeout), or less when interrupted or aborted.
    pub elapsed_s: f64,
    pub iterations: u64,
    pub dropped_iterations: u64,
    pub interrupted: bool,
    pub aborted_by: Option<String>,
    pub total: NameReport,
    pub requests: Vec<NameReport>,
    pub intervals: Vec<IntervalSummary>,
    pub thresholds: Vec<ThresholdResult>,
}

/// Errors while writing or reading reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("failed to write {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("failed to read report {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not a loadgen report: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}: report version {found} is not supported (this loadgen reads version {REPORT_VERSION})"
    )]
    Version { path: String, found: u64 },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// A threshold's verdict ([`Threshold::verdict`]) as the report shows it.
fn evaluate(t: &Threshold, stats: Option<&Stats>, elapsed: f64, dropped: u64) -> ThresholdResult {
    let Verdict { observed, passed } = t.verdict(stats, elapsed, dropped);
    ThresholdResult {
        threshold: t.expr.clone(),
        request: t.request.clone(),
        abort_on_fail: t.abort_on_fail,
        observed,
        observed_text: observed.map_or_else(|| "no data".to_owned(), |v| t.format_value(v)),
        passed,
        metric: Some(t.metric),
        op: Some(t.op),
        limit: Some(t.limit),
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl Report {
    /// Builds the report of a finished run.
    pub fn build(plan: &Plan, target: &str, run: &RunResult) -> Self {
        let elapsed = run.elapsed.as_secs_f64();
        let requests: Vec<NameReport> = plan
            .names
            .iter()
            .zip(&run.recorded.per_name)
            .map(|(n, s)| NameReport::of(n, s, elapsed))
            .collect();
        let mut report = Report {
            version: REPORT_VERSION,
            scenario: plan.name.clone(),
            target: target.to_owned(),
            model: match plan.load {
                Load::Open { .. } => "open".into(),
                Load::Closed { .. } => "closed".into(),
            },
            started_at: rfc3339(run.started_at),
            ended_at: Some(rfc3339(run.ended_at)),
            elapsed_s: elapsed,
            iterations: run.iterations,
            dropped_iterations: run.dropped,
            interrupted: run.interrupted,
            aborted_by: run.aborted_by.clone(),
            total: NameReport::of("total", &run.recorded.total, elapsed),
            requests,
            intervals: run.recorded.intervals.clone(),
            thresholds: Vec::new(),
        };
        report.thresholds = plan
            .thresholds
            .iter()
            .map(|t| {
                let stats = t.stats_in(&run.recorded.total, &run.recorded.per_name, &plan.names);
                evaluate(t, stats, elapsed, run.dropped)
            })
            .collect();
        report
    }

    /// True when every threshold passed.
    pub fn passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// The error reasons of the whole run, most frequent first:
    /// `connect: connection refused (150)`.
    pub fn reason_lines(&self) -> Vec<String> {
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
        all.into_iter()
            .map(|(kind, msg, n)| format!("{kind}: {msg} ({n})"))
            .collect()
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

    /// Reads a report (`-` reads standard input): at most
    /// [`crate::input::MAX_REPORT_BYTES`], UTF-8, then [`Report::parse`].
    pub fn read(path: &Path) -> Result<Self, ReportError> {
        use common::input::InputError;
        let read = common::input::read_text(path, crate::input::MAX_REPORT_BYTES).map_err(|e| {
            let path = path.display().to_string();
            match e {
                InputError::Read { error, .. } => ReportError::Read {
                    path,
                    source: error,
                },
                InputError::Utf8 { line, column, .. } => ReportError::Parse {
                    path,
                    line: usize::try_from(line).unwrap_or(usize::MAX),
                    column: usize::try_from(column).unwrap_or(usize::MAX),
                    message: e.message(),
                },
                InputError::TooLarge { .. } => ReportError::Invalid {
                    path,
                    message: e.message(),
                },
            }
        })?;
        Self::parse(&read.text, &read.shown)
    }

    /// Parses a report's JSON, checking its version and that every number
    /// in it is one a run can produce; `shown` names it in errors.
    pub fn parse(text: &str, shown: &str) -> Result<Self, ReportError> {
        let parse_err = |e: serde_json::Error| ReportError::Parse {
            path: shown.to_owned(),
            line: e.line().max(1),
            column: e.column().max(1),
            message: common::input::cut(&e.to_string(), crate::input::SNIPPET_CHARS),
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(parse_err)?;
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version != u64::from(REPORT_VERSION) {
            return Err(ReportError::Version {
                path: shown.to_owned(),
                found: version,
            });
        }
        drop(value);
        // Parsed again from the text, so type errors keep their line and column.
        let report: Report = serde_json::from_str(text).map_err(parse_err)?;
        report.check().map_err(|message| ReportError::Invalid {
            path: shown.to_owned(),
            message,
        })?;
        Ok(report)
    }

    /// Values no run writes: a negative or non-finite duration or rate.
    fn check(&self) -> Result<(), String> {
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

    /// Merges reports of runs split across machines or pods: histograms and
    /// counters add up, intervals add up by second, rates add up.
    pub fn merge(reports: &[(String, Report)]) -> Result<Report, ReportError> {
        let Some((_, first)) = reports.first() else {
            return Err(ReportError::Invalid {
                path: "-".into(),
                message: "nothing to merge".into(),
            });
        };
        let invalid = |path: &str, message: String| ReportError::Invalid {
            path: path.to_owned(),
            message,
        };
        let mut names: Vec<String> = Vec::new();
        let mut per_name: Vec<Stats> = Vec::new();
        let mut total = Stats::default();
        let mut intervals: BTreeMap<u64, IntervalSummary> = BTreeMap::new();
        let mut elapsed: f64 = 0.0;
        let (mut iterations, mut dropped) = (0, 0);
        for (path, r) in reports {
            elapsed = elapsed.max(r.elapsed_s);
            iterations = u64::saturating_add(iterations, r.iterations);
            dropped = u64::saturating_add(dropped, r.dropped_iterations);
            total.merge(&r.total.stats().map_err(|e| invalid(path, e))?);
            for n in &r.requests {
                let s = n.stats().map_err(|e| invalid(path, e))?;
                match names.iter().position(|x| x == &n.name) {
                    Some(i) => per_name[i].merge(&s),
                    None => {
                        names.push(n.name.clone());
                        per_name.push(s);
                    }
                }
            }
            for i in &r.intervals {
                let e = intervals.entry(i.t).or_insert_with(|| IntervalSummary {
                    t: i.t,
                    count: 0,
                    errors: BTreeMap::new(),
                    status_codes: BTreeMap::new(),
                    p50_ms: 0.0,
                    p90_ms: 0.0,
                    p99_ms: 0.0,
                    max_ms: 0.0,
                });
                e.count = e.count.saturating_add(i.count);
                for (k, v) in &i.errors {
                    let n = e.errors.entry(k.clone()).or_default();
                    *n = n.saturating_add(*v);
                }
                for (k, v) in &i.status_codes {
                    let n = e.status_codes.entry(*k).or_default();
                    *n = n.saturating_add(*v);
                }
                // Percentiles of merged intervals are not derivable from the
                // parts; the worst of the parts is the honest upper bound.
                e.p50_ms = e.p50_ms.max(i.p50_ms);
                e.p90_ms = e.p90_ms.max(i.p90_ms);
                e.p99_ms = e.p99_ms.max(i.p99_ms);
                e.max_ms = e.max_ms.max(i.max_ms);
            }
        }
        let mut merged = first.clone();
        merged.elapsed_s = elapsed;
        // The merged run ends with its last part.
        merged.ended_at = reports
            .iter()
            .filter_map(|(_, r)| r.ended_at.clone())
            .filter(|t| humantime::parse_rfc3339_weak(t).is_ok())
            .max_by_key(|t| humantime::parse_rfc3339_weak(t).ok());
        merged.iterations = iterations;
        merged.dropped_iterations = dropped;
        merged.interrupted = reports.iter().any(|(_, r)| r.interrupted);
        merged.aborted_by = reports.iter().find_map(|(_, r)| r.aborted_by.clone());
        merged.total = NameReport::of("total", &total, elapsed);
        merged.requests = names
            .iter()
            .zip(&per_name)
            .map(|(n, s)| NameReport::of(n, s, elapsed))
            .collect();
        merged.intervals = intervals.into_values().collect();
        // Re-evaluate the thresholds on the merged data.
        for t in &mut merged.thresholds {
            let Ok(mut parsed) = Threshold::parse(&t.threshold) else {
                continue;
            };
            parsed.request = t.request.clone();
            let stats = match &t.request {
                Some(r) => names.iter().position(|n| n == r).map(|i| &per_name[i]),
                None => Some(&total),
            };
            *t = ThresholdResult {
                abort_on_fail: t.abort_on_fail,
                ..evaluate(&parsed, stats, elapsed, dropped)
            };
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Outcome, Sample};
    use std::time::Duration;

    pub(crate) fn sample_report() -> Report {
        let mut per = [Stats::default(), Stats::default()];
        let mut total = Stats::default();
        for i in 0..200u64 {
            let s = Sample {
                name: (i % 2) as usize,
                corrected: Duration::from_millis(10 + i),
                actual: Duration::from_millis(10),
                at: Duration::from_millis(i * 10),
                outcome: if i % 50 == 0 {
                    Outcome::Status(500)
                } else {
                    Outcome::Ok(200)
                },
                trace_id: u128::from(i) + 1,
                reason: None,
            };
            per[s.name].push(&s);
            total.push(&s);
        }
        let elapsed = 2.0;
        Report {
            version: REPORT_VERSION,
            scenario: "unit".into(),
            target: "http://127.0.0.1:1".into(),
            model: "open".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            ended_at: Some("2026-01-01T00:00:02Z".into()),
            elapsed_s: elapsed,
            iterations: 200,
            dropped_iterations: 3,
            interrupted: false,
            aborted_by: None,
            total: NameReport::of("total", &total, elapsed),
            requests: vec![
                NameReport::of("a", &per[0], elapsed),
                NameReport::of("b", &per[1], elapsed),
            ],
            intervals: vec![],
            thresholds: vec![ThresholdResult {
                threshold: "p(95)<1s".into(),
                request: None,
                abort_on_fail: false,
                observed: Some(200.0),
                observed_text: "200ms".into(),
                passed: true,
                metric: Some(Metric::Percentile(95.0)),
                op: Some(crate::threshold::Op::Lt),
                limit: Some(1000.0),
            }],
        }
    }

    #[test]
    fn json_round_trip_and_merge() {
        let r = sample_report();
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        let merged = Report::merge(&[("a".into(), r.clone()), ("b".into(), r.clone())]).unwrap();
        assert_eq!(merged.total.count, 400);
        assert_eq!(merged.requests[0].count, 200);
        assert_eq!(merged.dropped_iterations, 6);
        assert_eq!(merged.total.errors["status"], 8);
        assert_eq!(merged.total.latency_ms.p50, r.total.latency_ms.p50);
        assert!((merged.total.rps - 200.0).abs() < 1e-9);
        assert!(merged.thresholds[0].passed);
        assert_eq!(merged.total.error_reasons["status"]["HTTP 500"], 8);
        assert_eq!(merged.ended_at.as_deref(), Some("2026-01-01T00:00:02Z"));
    }

    #[test]
    fn merge_adds_up_reasons_and_keeps_the_latest_end() {
        let a = sample_report();
        let mut b = sample_report();
        b.ended_at = Some("2026-01-01T00:00:05Z".into());
        let mut refused = Stats::default();
        for _ in 0..7 {
            refused.push(&Sample {
                name: 0,
                corrected: Duration::from_millis(1),
                actual: Duration::from_millis(1),
                at: Duration::ZERO,
                outcome: Outcome::Connect,
                trace_id: 1,
                reason: Some("connection refused".into()),
            });
        }
        let mut total = b.total.stats().unwrap();
        total.merge(&refused);
        b.total = NameReport::of("total", &total, 2.0);
        let merged = Report::merge(&[("a".into(), a), ("b".into(), b)]).unwrap();
        let reasons = &merged.total.error_reasons;
        assert_eq!(reasons["connect"]["connection refused"], 7);
        assert_eq!(reasons["status"]["HTTP 500"], 8);
        assert_eq!(merged.ended_at.as_deref(), Some("2026-01-01T00:00:05Z"));
        assert_eq!(merged.reason_lines()[0], "status: HTTP 500 (8)");
    }

    #[test]
    fn a_report_without_successes_says_why() {
        let mut r = sample_report();
        assert_eq!(r.no_success(), None);
        let mut s = Stats::default();
        for _ in 0..3 {
            s.push(&Sample {
                name: 0,
                corrected: Duration::from_millis(1),
                actual: Duration::from_millis(1),
                at: Duration::ZERO,
                outcome: Outcome::Connect,
                trace_id: 1,
                reason: Some("connection refused".into()),
            });
        }
        r.total = NameReport::of("total", &s, 2.0);
        let why = r.no_success().unwrap();
        assert!(why.contains("3 of 3 failed"), "{why}");
        assert!(why.contains("connect: connection refused (3)"), "{why}");
        r.total = NameReport::of("total", &Stats::default(), 2.0);
        assert!(r.no_success().unwrap().starts_with("no request completed"));
    }

    #[test]
    fn parse_refuses_what_no_run_writes_and_merge_saturates() {
        let r = sample_report();
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(Report::parse(&text, "r.json").unwrap(), r);
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["elapsed_s"] = serde_json::json!(-1.0);
        let err = Report::parse(&v.to_string(), "r.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("r.json: elapsed_s must be a finite number"),
            "{err}"
        );
        v["version"] = serde_json::json!(2);
        let err = Report::parse(&v.to_string(), "r.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("report version 2"), "{err}");
        let err = Report::parse("{\n  \"version\": 1,\n  \"scenario\": 5\n}", "r.json")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.json:3:"), "{err}");
        let mut big = r.clone();
        big.iterations = u64::MAX;
        big.total.count = u64::MAX;
        let merged = Report::merge(&[("a".into(), big.clone()), ("b".into(), big)]).unwrap();
        assert_eq!(merged.iterations, u64::MAX);
        assert_eq!(merged.total.count, u64::MAX);
    }
}
