//! The run report: a versioned JSON document with per-name statistics,
//! serialized histograms (so reports merge exactly), the interval series,
//! the slowest requests with their trace ids, threshold results, and the
//! checks with their passes and failures (skipped requests per name). The
//! other outputs (table, JUnit, Markdown, HdrHistogram log) render from it.

pub mod hdrlog;
pub mod junit;
pub mod markdown;
pub mod table;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use crate::checks::CheckData;
use crate::recorder::{IntervalSummary, RunResult};
use crate::scenario::{Load, Plan};
use crate::stats::{Stats, decode_histogram, encode_histogram};
use crate::threshold::{Threshold, Verdict};

/// The wire types live in `common::report`, shared with slo, which reads
/// them; re-exported so loadgen's callers keep their paths.
pub use common::report::{
    CheckResult, Latency, NameReport, REPORT_VERSION, Report, ThresholdResult,
};

/// The latency percentiles of `s` (corrected or as sent).
fn latency(s: &Stats, corrected: bool) -> Latency {
    Latency {
        p50: s.percentile_ms(50.0, corrected),
        p90: s.percentile_ms(90.0, corrected),
        p95: s.percentile_ms(95.0, corrected),
        p99: s.percentile_ms(99.0, corrected),
        p99_9: s.percentile_ms(99.9, corrected),
        max: s.max_ms(corrected),
        mean: s.mean_ms(corrected),
    }
}

/// The report of one request name (or of all requests) from its statistics.
pub fn name_report(name: &str, s: &Stats, elapsed: f64) -> NameReport {
    NameReport {
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
        bytes_received: Some(s.bytes),
        latency_ms: latency(s, true),
        latency_uncorrected_ms: latency(s, false),
        histogram: encode_histogram(&s.corrected),
        histogram_uncorrected: encode_histogram(&s.actual),
        slowest: s.slowest.clone(),
        skipped: 0,
    }
}

/// Rebuilds the statistics of a name's report (for merging and
/// re-evaluating thresholds).
pub fn stats_of(n: &NameReport) -> Result<Stats, String> {
    Ok(Stats {
        corrected: decode_histogram(&n.histogram)?,
        actual: decode_histogram(&n.histogram_uncorrected)?,
        count: n.count,
        errors: n.errors.clone(),
        statuses: n.status_codes.clone(),
        reasons: n.error_reasons.clone(),
        slowest: n.slowest.clone(),
        bytes: n.bytes_received.unwrap_or(0),
    })
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
fn evaluate(
    t: &Threshold,
    stats: Option<&Stats>,
    elapsed: f64,
    dropped: u64,
    checks: CheckData,
) -> ThresholdResult {
    let Verdict { observed, passed } = t.verdict(stats, elapsed, dropped, checks);
    ThresholdResult {
        threshold: t.expr.clone(),
        request: t.request.clone(),
        check: t.check.clone(),
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

/// Builds the report of a finished run.
pub fn build(plan: &Plan, target: &str, run: &RunResult) -> Report {
    let elapsed = run.elapsed.as_secs_f64();
    let requests: Vec<NameReport> = plan
        .names
        .iter()
        .zip(&run.recorded.per_name)
        .zip(run.checks.skipped.iter().chain(std::iter::repeat(&0)))
        .map(|((n, s), skipped)| NameReport {
            skipped: *skipped,
            ..name_report(n, s, elapsed)
        })
        .collect();
    let mut total = name_report("total", &run.recorded.total, elapsed);
    total.skipped = run
        .checks
        .skipped
        .iter()
        .fold(0, |a: u64, b| a.saturating_add(*b));
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
        http_version: run.http_version.clone(),
        total,
        requests,
        intervals: run.recorded.intervals.clone(),
        thresholds: Vec::new(),
        checks: crate::checks::results(&plan.checks, &run.checks),
        run_id: run.run_id.clone(),
        // Filled in by the session once the metrics are flushed.
        metrics: None,
        bottlenecks: None,
    };
    let checks = CheckData::new(&plan.checks, &run.checks);
    report.thresholds = plan
        .thresholds
        .iter()
        .map(|t| {
            let stats = t.stats_in(&run.recorded.total, &run.recorded.per_name, &plan.names);
            evaluate(t, stats, elapsed, run.dropped, checks)
        })
        .collect();
    report
}

/// Reads a report (`-` reads standard input): at most
/// [`crate::input::MAX_REPORT_BYTES`], UTF-8, then [`parse`].
pub fn read(path: &Path) -> Result<Report, ReportError> {
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
    parse(&read.text, &read.shown)
}

/// Parses a report's JSON ([`Report::parse`]: an object, version 1,
/// fields that fit, numbers a run can produce); `shown` names it in errors.
pub fn parse(text: &str, shown: &str) -> Result<Report, ReportError> {
    use common::report::ParseError;
    Report::parse(text, shown).map_err(|e| match e {
        ParseError::Syntax {
            path,
            line,
            column,
            message,
        }
        | ParseError::Shape {
            path,
            line,
            column,
            message,
            ..
        } => ReportError::Parse {
            path,
            line,
            column,
            message,
        },
        ParseError::Version { path, found } => ReportError::Version { path, found },
        ParseError::Invalid { path, message } => ReportError::Invalid { path, message },
    })
}

/// Whether `reports` are parts of one run: the same scenario against the
/// same target. Reports of different runs add up to a number that
/// describes none of them, so `merge` is refused them unless told.
pub fn same_run(reports: &[(String, Report)]) -> Result<(), ReportError> {
    let Some((first_path, first)) = reports.first() else {
        return Ok(());
    };
    for (path, r) in &reports[1..] {
        if r.scenario != first.scenario || r.target != first.target {
            return Err(ReportError::Invalid {
                path: path.clone(),
                message: format!(
                    "another run: scenario {:?} against {}, where {first_path} is scenario {:?} against {}",
                    common::input::cut(&r.scenario, crate::input::SNIPPET_CHARS),
                    common::input::cut(&r.target, crate::input::SNIPPET_CHARS),
                    common::input::cut(&first.scenario, crate::input::SNIPPET_CHARS),
                    common::input::cut(&first.target, crate::input::SNIPPET_CHARS),
                ),
            });
        }
    }
    Ok(())
}

/// Merges reports of runs split across machines or pods: histograms and
/// counters add up, intervals add up by second, rates add up, checks add
/// up by (request, check name) and skipped requests by name.
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
    let mut checks: Vec<CheckResult> = Vec::new();
    let mut skipped: Vec<u64> = Vec::new();
    let mut total_skipped: u64 = 0;
    for (path, r) in reports {
        for c in &r.checks {
            crate::checks::add(&mut checks, c);
        }
        total_skipped = total_skipped.saturating_add(r.total.skipped);
        elapsed = elapsed.max(r.elapsed_s);
        iterations = u64::saturating_add(iterations, r.iterations);
        dropped = u64::saturating_add(dropped, r.dropped_iterations);
        total.merge(&stats_of(&r.total).map_err(|e| invalid(path, e))?);
        for n in &r.requests {
            let s = stats_of(n).map_err(|e| invalid(path, e))?;
            match names.iter().position(|x| x == &n.name) {
                Some(i) => {
                    per_name[i].merge(&s);
                    skipped[i] = skipped[i].saturating_add(n.skipped);
                }
                None => {
                    names.push(n.name.clone());
                    per_name.push(s);
                    skipped.push(n.skipped);
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
    // Shards of one run share its id (and label their series apart); parts
    // of different runs have none in common.
    merged.run_id = first
        .run_id
        .clone()
        .filter(|id| reports.iter().all(|(_, r)| r.run_id.as_ref() == Some(id)));
    merged.metrics = None;
    merged.bottlenecks = None;
    // The versions of all parts, each once.
    let mut versions: Vec<&str> = Vec::new();
    for v in reports
        .iter()
        .filter_map(|(_, r)| r.http_version.as_deref())
    {
        for one in v.split(", ") {
            if !versions.contains(&one) {
                versions.push(one);
            }
        }
    }
    versions.sort_unstable();
    merged.http_version = (!versions.is_empty()).then(|| versions.join(", "));
    merged.total = NameReport {
        skipped: total_skipped,
        ..name_report("total", &total, elapsed)
    };
    merged.requests = names
        .iter()
        .zip(&per_name)
        .zip(&skipped)
        .map(|((n, s), skipped)| NameReport {
            skipped: *skipped,
            ..name_report(n, s, elapsed)
        })
        .collect();
    let (check_meta, check_counts) = crate::checks::from_results(&checks);
    merged.checks = checks;
    merged.intervals = intervals.into_values().collect();
    // A part that does not say how many bytes it received (an older
    // report) leaves the sum unknown, not smaller.
    for (i, n) in std::iter::once(&mut merged.total)
        .chain(&mut merged.requests)
        .enumerate()
    {
        let unknown = reports.iter().any(|(_, r)| {
            let part = if i == 0 {
                Some(&r.total)
            } else {
                r.requests.iter().find(|p| p.name == n.name)
            };
            part.is_some_and(|p| p.bytes_received.is_none())
        });
        if unknown {
            n.bytes_received = None;
        }
    }
    // Re-evaluate the thresholds on the merged data.
    for t in &mut merged.thresholds {
        let Ok(mut parsed) = Threshold::parse(&t.threshold) else {
            continue;
        };
        parsed.request = t.request.clone();
        parsed.check = t.check.clone();
        let stats = match &t.request {
            Some(r) => names.iter().position(|n| n == r).map(|i| &per_name[i]),
            None => Some(&total),
        };
        *t = ThresholdResult {
            abort_on_fail: t.abort_on_fail,
            ..evaluate(
                &parsed,
                stats,
                elapsed,
                dropped,
                CheckData::new(&check_meta, &check_counts),
            )
        };
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Outcome, Sample};
    use std::time::Duration;

    use crate::threshold::Metric;

    pub(crate) fn sample_report() -> Report {
        let mut per = [Stats::default(), Stats::default()];
        let mut total = Stats::default();
        for i in 0..200u64 {
            let s = Sample {
                name: (i % 2) as usize,
                series: 0,
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
                body_bytes: 100,
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
            http_version: None,
            total: name_report("total", &total, elapsed),
            requests: vec![
                name_report("a", &per[0], elapsed),
                name_report("b", &per[1], elapsed),
            ],
            intervals: vec![],
            thresholds: vec![ThresholdResult {
                threshold: "p(95)<1s".into(),
                request: None,
                check: None,
                abort_on_fail: false,
                observed: Some(200.0),
                observed_text: "200ms".into(),
                passed: true,
                metric: Some(Metric::Percentile(95.0)),
                op: Some(crate::threshold::Op::Lt),
                limit: Some(1000.0),
            }],
            checks: vec![],
            run_id: None,
            metrics: None,
            bottlenecks: None,
        }
    }

    #[test]
    fn reports_of_other_runs_are_told_apart() {
        let r = sample_report();
        let mut other = r.clone();
        assert!(same_run(&[("a".into(), r.clone()), ("b".into(), r.clone())]).is_ok());
        other.scenario = "spike".into();
        let e = same_run(&[("a".into(), r.clone()), ("b".into(), other.clone())]).unwrap_err();
        assert!(e.to_string().starts_with("b: "), "{e}");
        assert!(e.to_string().contains("scenario \"spike\""), "{e}");
        assert!(
            !e.to_string().contains("--"),
            "the library names no flag: {e}"
        );
        other.scenario = r.scenario.clone();
        other.target = "http://elsewhere:1".into();
        let e = same_run(&[("a".into(), r), ("b".into(), other)]).unwrap_err();
        assert!(e.to_string().contains("http://elsewhere:1"), "{e}");
    }

    #[test]
    fn json_round_trip_and_merge() {
        let r = sample_report();
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        let merged = merge(&[("a".into(), r.clone()), ("b".into(), r.clone())]).unwrap();
        assert_eq!(merged.total.count, 400);
        assert_eq!(merged.requests[0].count, 200);
        assert_eq!(merged.dropped_iterations, 6);
        assert_eq!(merged.total.errors["status"], 8);
        assert_eq!(merged.total.latency_ms.p50, r.total.latency_ms.p50);
        assert!((merged.total.rps - 200.0).abs() < 1e-9);
        assert!(merged.thresholds[0].passed);
        assert_eq!(merged.total.error_reasons["status"]["HTTP 500"], 8);
        assert_eq!(merged.ended_at.as_deref(), Some("2026-01-01T00:00:02Z"));
        // Status counts and bytes add up.
        assert_eq!(r.total.bytes_received, Some(200 * 100));
        assert_eq!(merged.total.bytes_received, Some(2 * 200 * 100));
        assert_eq!(merged.requests[1].bytes_received, Some(2 * 100 * 100));
        assert_eq!(merged.total.status_codes[&200], 2 * 196);
        assert_eq!(merged.total.status_codes[&500], 2 * 4);
        // A part without the field (an older report) makes the sum unknown.
        let mut old = r.clone();
        old.total.bytes_received = None;
        old.requests[0].bytes_received = None;
        let merged = merge(&[("a".into(), r.clone()), ("old".into(), old)]).unwrap();
        assert_eq!(merged.total.bytes_received, None);
        assert_eq!(merged.requests[0].bytes_received, None);
        assert_eq!(merged.requests[1].bytes_received, Some(2 * 100 * 100));
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
                series: 0,
                corrected: Duration::from_millis(1),
                actual: Duration::from_millis(1),
                at: Duration::ZERO,
                outcome: Outcome::Connect,
                trace_id: 1,
                reason: Some("connection refused".into()),
                body_bytes: 0,
            });
        }
        let mut total = stats_of(&b.total).unwrap();
        total.merge(&refused);
        b.total = name_report("total", &total, 2.0);
        let merged = merge(&[("a".into(), a), ("b".into(), b)]).unwrap();
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
                series: 0,
                corrected: Duration::from_millis(1),
                actual: Duration::from_millis(1),
                at: Duration::ZERO,
                outcome: Outcome::Connect,
                trace_id: 1,
                reason: Some("connection refused".into()),
                body_bytes: 0,
            });
        }
        r.total = name_report("total", &s, 2.0);
        let why = r.no_success().unwrap();
        assert!(why.contains("3 of 3 failed"), "{why}");
        assert!(why.contains("connect: connection refused (3)"), "{why}");
        r.total = name_report("total", &Stats::default(), 2.0);
        assert!(r.no_success().unwrap().starts_with("no request completed"));
    }

    #[test]
    fn parse_refuses_what_no_run_writes_and_merge_saturates() {
        let r = sample_report();
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(parse(&text, "r.json").unwrap(), r);
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["elapsed_s"] = serde_json::json!(-1.0);
        let err = parse(&v.to_string(), "r.json").unwrap_err().to_string();
        assert!(
            err.contains("r.json: elapsed_s must be a finite number"),
            "{err}"
        );
        v["version"] = serde_json::json!(2);
        let err = parse(&v.to_string(), "r.json").unwrap_err().to_string();
        assert!(err.contains("report version 2"), "{err}");
        let err = parse("{\n  \"version\": 1,\n  \"scenario\": 5\n}", "r.json")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.json:3:"), "{err}");
        let mut big = r.clone();
        big.iterations = u64::MAX;
        big.total.count = u64::MAX;
        let merged = merge(&[("a".into(), big.clone()), ("b".into(), big)]).unwrap();
        assert_eq!(merged.iterations, u64::MAX);
        assert_eq!(merged.total.count, u64::MAX);
    }

    /// [`sample_report`] with checks (one failing), skipped requests and a
    /// checks threshold.
    pub(crate) fn checks_report() -> Report {
        let mut r = sample_report();
        r.checks = vec![
            CheckResult {
                name: "status in [201]".into(),
                request: "a".into(),
                passes: 100,
                fails: 0,
            },
            CheckResult {
                name: "json /order_id exists".into(),
                request: "b".into(),
                passes: 97,
                fails: 3,
            },
        ];
        r.requests[1].skipped = 3;
        r.total.skipped = 3;
        r.thresholds.push(ThresholdResult {
            threshold: "checks>99%".into(),
            request: Some("b".into()),
            check: Some("json /order_id exists".into()),
            abort_on_fail: false,
            observed: Some(0.97),
            observed_text: "97.000%".into(),
            passed: false,
            metric: Some(Metric::Checks),
            op: Some(crate::threshold::Op::Gt),
            limit: Some(0.99),
        });
        r
    }

    fn run_with_checks(plan: &Plan) -> RunResult {
        use crate::checks::{CheckTally, ChecksSnapshot};
        RunResult {
            recorded: crate::recorder::Recorded {
                per_name: vec![Stats::default(); plan.names.len()],
                ..Default::default()
            },
            started_at: SystemTime::UNIX_EPOCH,
            ended_at: SystemTime::UNIX_EPOCH + Duration::from_secs(2),
            elapsed: Duration::from_secs(2),
            iterations: 10,
            dropped: 0,
            interrupted: false,
            aborted_by: None,
            http_version: None,
            run_id: None,
            checks: ChecksSnapshot {
                checks: vec![
                    CheckTally {
                        passes: 9,
                        fails: 1,
                    },
                    CheckTally {
                        passes: 10,
                        fails: 0,
                    },
                    CheckTally {
                        passes: 5,
                        fails: 5,
                    },
                ],
                skipped: vec![0, 2, 1],
            },
        }
    }

    #[test]
    fn build_writes_the_checks_and_skips_and_parses_back() {
        use crate::checks::CheckMeta;
        let mut plan =
            crate::scenario::parse(crate::bundled::STEADY, std::path::Path::new("steady.yaml"))
                .unwrap();
        assert_eq!(plan.names.len(), 3, "{:?}", plan.names);
        let meta = |name: &str, name_id: usize| CheckMeta {
            name: name.into(),
            request: plan.names[name_id].clone(),
            name_id,
        };
        // The third is the first again (written in another scenario).
        plan.checks = vec![
            meta("status in [200]", 0),
            meta("fast", 1),
            meta("status in [200]", 0),
        ];
        let mut all = Threshold::parse("checks>=80%").unwrap();
        all.request = Some(plan.names[0].clone());
        let mut fast = Threshold::parse("checks>99%").unwrap();
        fast.check = Some("fast".into());
        plan.thresholds = vec![all, fast];
        let run = run_with_checks(&plan);
        let r = build(&plan, "http://127.0.0.1:1", &run);
        let rows: Vec<(&str, &str, u64, u64)> = r
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.request.as_str(), c.passes, c.fails))
            .collect();
        assert_eq!(
            rows,
            [
                ("status in [200]", plan.names[0].as_str(), 14, 6),
                ("fast", plan.names[1].as_str(), 10, 0),
            ]
        );
        let skipped: Vec<u64> = r.requests.iter().map(|n| n.skipped).collect();
        assert_eq!((skipped, r.total.skipped), (vec![0, 2, 1], 3));
        // 14 of 20 is under 80%; the named check passed every time.
        assert_eq!(r.thresholds[0].observed, Some(0.7));
        assert!(!r.thresholds[0].passed);
        assert_eq!(r.thresholds[0].check, None);
        assert!(r.thresholds[1].passed);
        assert_eq!(r.thresholds[1].check.as_deref(), Some("fast"));
        assert_eq!(r.thresholds[1].metric, Some(Metric::Checks));
        // What build wrote reads back as it was.
        let text = serde_json::to_string_pretty(&r).unwrap();
        assert_eq!(parse(&text, "r.json").unwrap(), r);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["checks"][0]["fails"], 6);
        assert_eq!(v["requests"][1]["skipped"], 2);
        assert!(v["requests"][0].get("skipped").is_none(), "{text}");
        assert_eq!(v["thresholds"][1]["check"], "fast");
        assert!(v["thresholds"][0].get("check").is_none(), "{text}");
        // A run without checks writes none of the new fields.
        plan.checks.clear();
        plan.thresholds.clear();
        let mut run = run_with_checks(&plan);
        run.checks = Default::default();
        let text = serde_json::to_string(&build(&plan, "http://127.0.0.1:1", &run)).unwrap();
        assert!(
            !text.contains("\"checks\"") && !text.contains("\"skipped\""),
            "{text}"
        );
    }

    #[test]
    fn merge_adds_up_checks_by_request_and_name_and_judges_them_again() {
        let a = checks_report();
        let mut b = checks_report();
        // b has a check a lacks, and one the other way round.
        b.checks[0].name = "status in [200]".into();
        b.checks[1].fails = 7;
        b.requests[1].skipped = 1;
        b.total.skipped = 1;
        let merged = merge(&[("a".into(), a), ("b".into(), b)]).unwrap();
        let rows: Vec<(&str, &str, u64, u64)> = merged
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.request.as_str(), c.passes, c.fails))
            .collect();
        assert_eq!(
            rows,
            [
                ("status in [201]", "a", 100, 0),
                ("json /order_id exists", "b", 194, 10),
                ("status in [200]", "a", 100, 0),
            ]
        );
        assert_eq!(merged.requests[1].skipped, 4);
        assert_eq!(merged.requests[0].skipped, 0);
        assert_eq!(merged.total.skipped, 4);
        // The checks threshold is judged on the sums: 194 of 204.
        let t = &merged.thresholds[1];
        assert_eq!(t.check.as_deref(), Some("json /order_id exists"));
        assert_eq!(t.request.as_deref(), Some("b"));
        assert!((t.observed.unwrap() - 194.0 / 204.0).abs() < 1e-12, "{t:?}");
        assert!(!t.passed);
        // Merged with a report without checks (an older one): the same sums.
        let merged = merge(&[
            ("a".into(), checks_report()),
            ("old".into(), sample_report()),
        ])
        .unwrap();
        assert_eq!(merged.checks, checks_report().checks);
        assert_eq!(merged.total.skipped, 3);
    }
}
