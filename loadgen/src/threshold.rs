//! Thresholds in k6-like syntax: `p(95)<300ms`, `p(99.9)<1s`, `avg<=200ms`,
//! `max<2s`, `error_rate<1%`, `rps>=500`, `dropped<=0`, `checks>99%`.
//! Latency thresholds use the coordinated-omission-corrected latency;
//! `checks` is the share of check evaluations that passed. k6's own syntax
//! (`http_req_duration: p(95)<500`) is mapped onto these by [`k6`];
//! [`Threshold::parse_any`] reads either.
//!
//! Evaluation lives here too: the observed value of a threshold in a run's
//! statistics, its verdict, and the abort-on-fail check the recorder task
//! makes each second. The report, the live view and the engine all ask these
//! functions; none of them judges a threshold itself.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checks::CheckData;
use crate::stats::Stats;

pub mod k6;

/// What a threshold measures and its comparison: wire types of the run
/// report (`common::report`), which carries them parsed.
pub use common::report::{Metric, Op};

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// As written.
    pub expr: String,
    pub metric: Metric,
    pub op: Op,
    /// Milliseconds for latency, a fraction for error_rate and checks, a
    /// count or rate otherwise.
    pub limit: f64,
    /// One request name, or all requests when absent.
    pub request: Option<String>,
    /// A `checks` threshold: the checks of this name only, or all of them
    /// (of `request`, when it names one) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    pub abort_on_fail: bool,
}

/// Why a threshold did not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error("threshold {0:?} has no comparison (<, <=, > or >=)")]
    NoOp(String),
    #[error(
        "unknown metric {metric:?} in threshold {expr:?} (use p(N), avg, med, max, error_rate, rps, dropped or checks; k6's form is METRIC: EXPR, e.g. http_req_duration: p(95)<500)"
    )]
    Metric { metric: String, expr: String },
    #[error(
        "k6 metric {metric:?} has no loadgen threshold (in {expr:?}); loadgen maps {} and has the native thresholds {}",
        k6::K6_FORMS,
        k6::NATIVE_FORMS
    )]
    K6Metric { metric: String, expr: String },
    #[error(
        "{aggregation:?} of k6 metric {metric:?} has no loadgen threshold (in {expr:?}): {why}; native thresholds are {}",
        k6::NATIVE_FORMS
    )]
    K6Aggregation {
        metric: String,
        aggregation: String,
        expr: String,
        why: &'static str,
    },
    #[error(
        "tag filter {filter} is not supported in {expr:?}: only {{name:REQUEST}} on http_req_duration, http_req_failed, http_reqs and checks (it means request: REQUEST), and {{check:NAME}} on checks (it means check: NAME)"
    )]
    K6Tag { filter: String, expr: String },
    #[error("== and != are not supported in {0:?}: use <, <=, > or >=")]
    K6Op(String),
    #[error("percentile in {0:?} must be between 0 and 100")]
    Percentile(String),
    #[error("invalid value {value:?} in threshold {expr:?}: {why}")]
    Value {
        value: String,
        expr: String,
        why: &'static str,
    },
}

fn parse_ms(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = value.split_at(split);
    let n: f64 = num.trim().parse().ok()?;
    let factor = match unit.trim() {
        "us" | "µs" => 0.001,
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n * factor)
}

impl Threshold {
    /// Parses a native expression (`p(95)<300ms`) or k6's `METRIC: EXPR`
    /// (`http_req_duration{name:login}: p(95)<500`, see [`k6`]). A k6 tag
    /// filter sets `request`; `abort_on_fail` is set by the caller.
    pub fn parse_any(text: &str) -> Result<Self, ThresholdError> {
        match k6::split(text) {
            Some((metric, expr)) => k6::parse(metric, expr),
            None => Self::parse(text),
        }
    }

    /// Parses one native expression; `request` and `abort_on_fail` are set by the caller.
    pub fn parse(expr: &str) -> Result<Self, ThresholdError> {
        let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
        let (at, op, len) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .iter()
            .filter_map(|(s, op)| compact.find(s).map(|i| (i, *op, s.len())))
            .min_by_key(|(i, _, len)| (*i, std::cmp::Reverse(*len)))
            .ok_or_else(|| ThresholdError::NoOp(expr.to_owned()))?;
        let (lhs, rhs) = (&compact[..at], &compact[at + len..]);
        let bad_value = |why| ThresholdError::Value {
            value: rhs.to_owned(),
            expr: expr.to_owned(),
            why,
        };
        let metric = match lhs {
            "avg" => Metric::AvgLatency,
            "max" => Metric::MaxLatency,
            "med" => Metric::Percentile(50.0),
            "error_rate" => Metric::ErrorRate,
            "rps" => Metric::Rps,
            "dropped" => Metric::Dropped,
            "checks" => Metric::Checks,
            _ => match lhs.strip_prefix("p(").and_then(|p| p.strip_suffix(')')) {
                Some(q) => {
                    let q: f64 = q
                        .parse()
                        .map_err(|_| ThresholdError::Percentile(expr.to_owned()))?;
                    if !(q > 0.0 && q < 100.0) {
                        return Err(ThresholdError::Percentile(expr.to_owned()));
                    }
                    Metric::Percentile(q)
                }
                None => {
                    return Err(ThresholdError::Metric {
                        metric: lhs.to_owned(),
                        expr: expr.to_owned(),
                    });
                }
            },
        };
        let limit = match metric {
            Metric::Percentile(_) | Metric::AvgLatency | Metric::MaxLatency => parse_ms(rhs)
                .ok_or_else(|| bad_value("expected a duration such as 300ms or 1.5s"))?,
            Metric::ErrorRate | Metric::Checks => {
                let (num, pct) = match rhs.strip_suffix('%') {
                    Some(n) => (n, true),
                    None => (rhs, false),
                };
                let v: f64 = num.parse().map_err(|_| {
                    bad_value("expected a percentage such as 1% or a fraction such as 0.01")
                })?;
                let v = if pct { v / 100.0 } else { v };
                if !(0.0..=1.0).contains(&v) {
                    return Err(bad_value(if metric == Metric::Checks {
                        "a share of passed checks is between 0% and 100%"
                    } else {
                        "an error rate is between 0% and 100%"
                    }));
                }
                v
            }
            Metric::Rps | Metric::Dropped => {
                let v: f64 = rhs.parse().map_err(|_| bad_value("expected a number"))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(bad_value("expected a number of 0 or more"));
                }
                v
            }
        };
        Ok(Threshold {
            expr: expr.trim().to_owned(),
            metric,
            op,
            limit,
            request: None,
            check: None,
            abort_on_fail: false,
        })
    }

    /// Whether the observed value passes.
    pub fn passes(&self, observed: f64) -> bool {
        observed.is_finite() && self.op.holds(observed, self.limit)
    }

    /// The observed value formatted in the threshold's unit.
    pub fn format_value(&self, v: f64) -> String {
        match self.metric {
            Metric::Percentile(_) | Metric::AvgLatency | Metric::MaxLatency => {
                format!("{v:.2}ms")
            }
            Metric::ErrorRate | Metric::Checks => format!("{:.3}%", v * 100.0),
            Metric::Rps => format!("{v:.1}"),
            Metric::Dropped => format!("{v:.0}"),
        }
    }
}

/// A threshold's verdict on a run: what was observed, and whether it passed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The observed value, in the threshold's unit; `None` when there was no data.
    pub observed: Option<f64>,
    /// No data is never a pass.
    pub passed: bool,
}

impl Threshold {
    /// The statistics this threshold looks at: its request name's, or the
    /// total. `None` when the name is not among `names`.
    pub fn stats_in<'a>(
        &self,
        total: &'a Stats,
        per_name: &'a [Stats],
        names: &[String],
    ) -> Option<&'a Stats> {
        match &self.request {
            Some(r) => per_name.get(names.iter().position(|n| n == r)?),
            None => Some(total),
        }
    }

    /// The share of `checks`' evaluations that passed among those this
    /// threshold looks at (its request's, its check name's), or `None`
    /// when none ran.
    pub fn observe_checks(&self, checks: CheckData) -> Option<f64> {
        checks
            .tally(self.request.as_deref(), self.check.as_deref())
            .pass_rate()
    }

    /// The observed value in `stats` over `elapsed_s` seconds (in `checks`
    /// for a `checks` threshold), or `None` when there is no data for it.
    pub fn observe_in(
        &self,
        stats: &Stats,
        elapsed_s: f64,
        dropped: u64,
        checks: CheckData,
    ) -> Option<f64> {
        match self.metric {
            Metric::Dropped => Some(dropped as f64),
            Metric::Checks => self.observe_checks(checks),
            _ if stats.count == 0 => None,
            Metric::Rps => (elapsed_s > 0.0).then(|| stats.count as f64 / elapsed_s),
            Metric::Percentile(q) => Some(stats.percentile_ms(q, true)),
            Metric::AvgLatency => Some(stats.mean_ms(true)),
            Metric::MaxLatency => Some(stats.max_ms(true)),
            Metric::ErrorRate => Some(stats.error_rate()),
        }
    }

    /// The verdict on `stats` (`None`: no statistics for its request name)
    /// and `checks`.
    pub fn verdict(
        &self,
        stats: Option<&Stats>,
        elapsed_s: f64,
        dropped: u64,
        checks: CheckData,
    ) -> Verdict {
        let observed = match self.metric {
            // Checks are counted apart from the request statistics.
            Metric::Checks => self.observe_checks(checks),
            _ => stats.and_then(|s| self.observe_in(s, elapsed_s, dropped, checks)),
        };
        Verdict {
            observed,
            passed: observed.is_some_and(|v| self.passes(v)),
        }
    }
}

/// The observed value of a threshold, or `None` when there is no data for it.
pub fn observe(
    t: &Threshold,
    total: &Stats,
    per_name: &[Stats],
    names: &[String],
    elapsed: Duration,
    dropped: u64,
    checks: CheckData,
) -> Option<f64> {
    if t.metric == Metric::Checks {
        return t.observe_checks(checks);
    }
    let stats = t.stats_in(total, per_name, names)?;
    t.observe_in(stats, elapsed.as_secs_f64(), dropped, checks)
}

/// The first abort-on-fail threshold that fails on what is recorded so far,
/// as text. Rates are judged at the end only (a ramp is slow at first by
/// design); the share of passed checks is judged as it stands, like the
/// error rate, once a check has run; `total` is only computed when some
/// threshold needs it.
pub fn failing_abort(
    thresholds: &[Threshold],
    total: impl FnOnce() -> Stats,
    per_name: &[Stats],
    names: &[String],
    elapsed: Duration,
    dropped: u64,
    checks: CheckData,
) -> Option<String> {
    let mut aborting = thresholds
        .iter()
        .filter(|t| t.abort_on_fail && t.metric != Metric::Rps)
        .peekable();
    aborting.peek()?;
    let total = total();
    aborting.find_map(|t| {
        let v = observe(t, &total, per_name, names, elapsed, dropped, checks)?;
        (!t.passes(v)).then(|| t.to_string())
    })
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match common::report::scope(self.request.as_deref(), self.check.as_deref()) {
            Some(scope) => write!(f, "{} [{scope}]", self.expr),
            None => write!(f, "{}", self.expr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_syntax() {
        let t = Threshold::parse("p(95)<300ms").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit),
            (Metric::Percentile(95.0), Op::Lt, 300.0)
        );
        let t = Threshold::parse("p(99.9) <= 1.5s").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit),
            (Metric::Percentile(99.9), Op::Le, 1500.0)
        );
        let t = Threshold::parse("error_rate<1%").unwrap();
        assert_eq!((t.metric, t.limit), (Metric::ErrorRate, 0.01));
        let t = Threshold::parse("error_rate<0.05").unwrap();
        assert_eq!(t.limit, 0.05);
        let t = Threshold::parse("rps>=500").unwrap();
        assert_eq!((t.metric, t.op, t.limit), (Metric::Rps, Op::Ge, 500.0));
        let t = Threshold::parse("max<250us").unwrap();
        assert!((t.limit - 0.25).abs() < 1e-12);
        assert_eq!(
            Threshold::parse("dropped<=0").unwrap().metric,
            Metric::Dropped
        );
        assert_eq!(Threshold::parse("avg<1m").unwrap().limit, 60_000.0);
    }

    #[test]
    fn evaluates() {
        let t = Threshold::parse("p(95)<300ms").unwrap();
        assert!(t.passes(299.9));
        assert!(!t.passes(300.0));
        assert!(!t.passes(f64::NAN));
        let t = Threshold::parse("rps>=500").unwrap();
        assert!(t.passes(500.0) && !t.passes(499.0));
    }

    #[test]
    fn rejects_malformed() {
        for (expr, want) in [
            ("p(95)", "no comparison"),
            ("p95<300ms", "unknown metric"),
            ("p(100)<1s", "between 0 and 100"),
            ("p(x)<1s", "between 0 and 100"),
            ("p(95)<300", "duration"),
            ("p(95)<300 parsecs", "duration"),
            ("error_rate<150%", "between 0% and 100%"),
            ("error_rate<lots", "percentage"),
            ("rps>=-1", "0 or more"),
            ("latency<1s", "unknown metric"),
        ] {
            let err = Threshold::parse(expr).unwrap_err().to_string();
            assert!(err.contains(want), "{expr}: {err}");
        }
    }

    fn stats_of(latencies_ms: &[u64], errors: usize) -> Stats {
        let mut s = Stats::default();
        for (i, ms) in latencies_ms.iter().enumerate() {
            s.push(&crate::stats::Sample {
                name: 0,
                series: 0,
                corrected: Duration::from_millis(*ms),
                actual: Duration::from_millis(*ms),
                at: Duration::ZERO,
                outcome: if i < errors {
                    crate::stats::Outcome::Status(500)
                } else {
                    crate::stats::Outcome::Ok(200)
                },
                trace_id: 1,
                reason: None,
                body_bytes: 0,
            });
        }
        s
    }

    #[test]
    fn verdicts_pick_the_named_statistics_and_no_data_never_passes() {
        let names = vec!["fast".to_owned(), "slow".to_owned()];
        let per_name = vec![stats_of(&[10, 10, 10], 0), stats_of(&[900, 900], 0)];
        let mut total = Stats::default();
        per_name.iter().for_each(|s| total.merge(s));
        let mut t = Threshold::parse("max<100ms").unwrap();
        t.request = Some("fast".into());
        let fast = t.stats_in(&total, &per_name, &names);
        let v = t.verdict(fast, 1.0, 0, CheckData::NONE);
        assert!(v.passed && v.observed.is_some_and(|o| o < 100.0), "{v:?}");
        t.request = Some("slow".into());
        assert!(
            !t.verdict(
                t.stats_in(&total, &per_name, &names),
                1.0,
                0,
                CheckData::NONE
            )
            .passed
        );
        // A name the run does not have, or a name without requests: no data.
        t.request = Some("gone".into());
        assert!(t.stats_in(&total, &per_name, &names).is_none());
        assert_eq!(
            t.verdict(None, 1.0, 0, CheckData::NONE),
            Verdict {
                observed: None,
                passed: false
            }
        );
        assert!(
            !t.verdict(Some(&Stats::default()), 1.0, 0, CheckData::NONE)
                .passed
        );
        // The total, and counts over the elapsed time.
        let rps = Threshold::parse("rps>=4").unwrap();
        assert_eq!(
            observe(
                &rps,
                &total,
                &per_name,
                &names,
                Duration::from_secs(1),
                0,
                CheckData::NONE
            ),
            Some(5.0)
        );
        assert_eq!(rps.observe_in(&total, 0.0, 0, CheckData::NONE), None);
        let dropped = Threshold::parse("dropped<=0").unwrap();
        assert_eq!(
            dropped
                .verdict(Some(&Stats::default()), 1.0, 3, CheckData::NONE)
                .observed,
            Some(3.0)
        );
    }

    #[test]
    fn abort_checks_only_abort_on_fail_thresholds_and_never_rates() {
        let names = vec!["a".to_owned()];
        let per_name = vec![stats_of(&[50, 50, 50, 50], 2)];
        let mut rate = Threshold::parse("rps>=1000").unwrap();
        rate.abort_on_fail = true;
        let mut errors = Threshold::parse("error_rate<10%").unwrap();
        let mut computed = false;
        let none = failing_abort(
            &[rate.clone(), errors.clone()],
            || {
                computed = true;
                per_name[0].clone()
            },
            &per_name,
            &names,
            Duration::from_secs(1),
            0,
            CheckData::NONE,
        );
        // The rate is judged at the end only; the error rate does not abort.
        assert_eq!(none, None);
        assert!(!computed, "the total is not merged when nothing can abort");
        errors.abort_on_fail = true;
        let got = failing_abort(
            &[rate, errors],
            || per_name[0].clone(),
            &per_name,
            &names,
            Duration::from_secs(1),
            0,
            CheckData::NONE,
        );
        assert_eq!(got.as_deref(), Some("error_rate<10%"));
    }

    fn check_run() -> (Vec<crate::checks::CheckMeta>, crate::checks::ChecksSnapshot) {
        use crate::checks::{CheckMeta, CheckTally, ChecksSnapshot};
        let meta = |name: &str, request: &str| CheckMeta {
            name: name.into(),
            request: request.into(),
            name_id: 0,
        };
        (
            vec![
                meta("status in [201]", "create"),
                meta("fast", "create"),
                meta("status in [201]", "read"),
                meta("never", "read"),
            ],
            ChecksSnapshot {
                checks: vec![
                    CheckTally {
                        passes: 99,
                        fails: 1,
                    },
                    CheckTally {
                        passes: 50,
                        fails: 50,
                    },
                    CheckTally {
                        passes: 100,
                        fails: 0,
                    },
                    CheckTally::default(),
                ],
                skipped: vec![0, 0],
            },
        )
    }

    #[test]
    fn checks_thresholds_parse_as_a_share() {
        let t = Threshold::parse("checks>99%").unwrap();
        assert_eq!((t.metric, t.op, t.limit), (Metric::Checks, Op::Gt, 0.99));
        let t = Threshold::parse("checks >= 0.95").unwrap();
        assert_eq!((t.metric, t.op, t.limit), (Metric::Checks, Op::Ge, 0.95));
        assert_eq!(t.format_value(0.9876), "98.760%");
        for (expr, want) in [
            (
                "checks>101%",
                "share of passed checks is between 0% and 100%",
            ),
            ("checks>1.5", "share of passed checks"),
            ("checks>most", "percentage"),
        ] {
            let err = Threshold::parse(expr).unwrap_err().to_string();
            assert!(err.contains(want), "{expr}: {err}");
        }
    }

    #[test]
    fn checks_thresholds_judge_the_selected_checks_and_no_data_never_passes() {
        let (meta, counts) = check_run();
        let data = CheckData::new(&meta, &counts);
        let stats = Stats::default();
        let judge = |expr: &str, request: Option<&str>, check: Option<&str>| {
            let mut t = Threshold::parse(expr).unwrap();
            t.request = request.map(str::to_owned);
            t.check = check.map(str::to_owned);
            // The request statistics play no part (none here).
            t.verdict(None, 1.0, 0, data)
        };
        // All checks: 249 of 300.
        let all = judge("checks>80%", None, None);
        assert!(all.passed, "{all:?}");
        assert!((all.observed.unwrap() - 249.0 / 300.0).abs() < 1e-12);
        assert!(!judge("checks>90%", None, None).passed);
        // One request's: 149 of 200.
        let create = judge("checks>=0.75", Some("create"), None);
        assert_eq!(create.observed, Some(0.745));
        assert!(!create.passed);
        assert!(judge("checks>=0.7", Some("create"), None).passed);
        // One check name, over every request that has it: 199 of 200.
        let status = judge("checks>99%", None, Some("status in [201]"));
        assert_eq!(status.observed, Some(0.995));
        assert!(status.passed);
        // That name of one request only.
        assert_eq!(
            judge("checks>99%", Some("create"), Some("status in [201]")).observed,
            Some(0.99)
        );
        assert!(!judge("checks>99%", Some("create"), Some("status in [201]")).passed);
        // A check that never ran, and a run without checks: no data, a failure.
        for v in [
            judge("checks>=0%", Some("read"), Some("never")),
            Threshold::parse("checks>=0%")
                .unwrap()
                .verdict(Some(&stats), 1.0, 0, CheckData::NONE),
        ] {
            assert_eq!(
                v,
                Verdict {
                    observed: None,
                    passed: false
                }
            );
        }
        let t = Threshold::parse("checks>99%").unwrap();
        assert_eq!(
            observe(&t, &stats, &[], &[], Duration::from_secs(1), 0, data),
            Some(249.0 / 300.0)
        );
        let mut named = t.clone();
        named.request = Some("create".into());
        named.check = Some("fast".into());
        assert_eq!(named.to_string(), "checks>99% [create, check: fast]");
        named.request = None;
        assert_eq!(named.to_string(), "checks>99% [check: fast]");
    }

    #[test]
    fn a_failing_checks_threshold_aborts_once_checks_ran() {
        let (meta, counts) = check_run();
        let mut t = Threshold::parse("checks>90%").unwrap();
        t.abort_on_fail = true;
        let abort = |t: &Threshold, checks: CheckData| {
            failing_abort(
                std::slice::from_ref(t),
                Stats::default,
                &[],
                &[],
                Duration::from_secs(1),
                0,
                checks,
            )
        };
        assert_eq!(
            abort(&t, CheckData::new(&meta, &counts)).as_deref(),
            Some("checks>90%")
        );
        // Nothing ran yet: nothing to judge, no abort.
        assert_eq!(abort(&t, CheckData::NONE), None);
        t.check = Some("status in [201]".into());
        assert_eq!(abort(&t, CheckData::new(&meta, &counts)), None);
    }
}
