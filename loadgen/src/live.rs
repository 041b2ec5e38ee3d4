//! What a live view shows, and the switches it pulls.
//!
//! The recorder task builds a [`Snapshot`] a few times a second when a view
//! is attached and swaps it into [`Live`]; the view only ever reads the
//! latest one, so measurement never waits on drawing. The view pauses the
//! load and scales the open model's arrival rate through [`Live`] too.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::checks::{CheckData, ChecksSnapshot};
use crate::recorder::Recorder;
use crate::scenario::Plan;
use crate::stats::Stats;

/// Shared between the engine and a live view.
#[derive(Debug)]
pub struct Live {
    snapshot: Mutex<Arc<Snapshot>>,
    paused: AtomicBool,
    /// Arrival-rate multiplier (f64 bits); 1 follows the scenario.
    scale: AtomicU64,
    /// Time spent paused so far, in microseconds.
    paused_total_us: AtomicU64,
    /// Latency bounds (ms) whose share of requests the snapshot reports.
    marks_ms: Vec<f64>,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            snapshot: Mutex::new(Arc::new(Snapshot::default())),
            paused: AtomicBool::new(false),
            scale: AtomicU64::new(1f64.to_bits()),
            paused_total_us: AtomicU64::new(0),
            marks_ms: Vec::new(),
        }
    }
}

impl Live {
    /// A live state whose snapshots also report the share of requests at or
    /// under each of `marks_ms` (client-side latency SLIs).
    pub fn with_marks(marks_ms: Vec<f64>) -> Self {
        Self {
            marks_ms,
            ..Self::default()
        }
    }

    pub fn marks(&self) -> &[f64] {
        &self.marks_ms
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub fn publish(&self, s: Snapshot) {
        let s = Arc::new(s);
        match self.snapshot.lock() {
            Ok(mut g) => *g = s,
            Err(e) => *e.into_inner() = s,
        }
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    pub fn toggle_pause(&self) {
        self.paused.fetch_xor(true, Ordering::Relaxed);
    }

    pub fn scale(&self) -> f64 {
        f64::from_bits(self.scale.load(Ordering::Relaxed))
    }

    /// Multiplies the arrival rate by `factor` (kept between 1% and 100x).
    pub fn rescale(&self, factor: f64) {
        let next = (self.scale() * factor).clamp(0.01, 100.0);
        self.scale.store(next.to_bits(), Ordering::Relaxed);
    }

    /// Time spent paused so far.
    pub fn paused_total(&self) -> Duration {
        Duration::from_micros(self.paused_total_us.load(Ordering::Relaxed))
    }

    pub fn add_paused(&self, d: Duration) {
        self.paused_total_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

/// One second of the run, as charted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Point {
    pub t: u64,
    pub ok: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

/// A row of the per-request table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NameRow {
    pub name: String,
    pub count: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

/// A threshold and where it stands now, its values written with their
/// units (`p(95)`, `212 ms`, `<`, `300 ms`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThresholdRow {
    /// As written in the scenario (with `[request]` when it names one).
    pub text: String,
    /// What it measures: `p(95)`, `avg`, `max`, `error_rate`, `rps`,
    /// `dropped`, `checks`.
    pub metric: String,
    /// The one request it looks at, if not all of them.
    pub request: Option<String>,
    /// The one check name it looks at (a `checks` threshold), if not all.
    pub check: Option<String>,
    /// The comparison: `<`, `<=`, `>` or `>=`.
    pub op: String,
    /// The limit with its unit: `300 ms`, `1%`, `90 req/s`.
    pub limit: String,
    pub observed: Option<f64>,
    /// The observed value with its unit, as `limit` is written.
    pub value: Option<String>,
    /// `None` until there is something to judge.
    pub passing: Option<bool>,
    pub abort_on_fail: bool,
}

impl ThresholdRow {
    /// The row of threshold `t` with its observed value (`None`: no data).
    pub fn of(t: &crate::threshold::Threshold, observed: Option<f64>) -> Self {
        ThresholdRow {
            text: t.to_string(),
            metric: metric_name(&t.metric),
            request: t.request.clone(),
            check: t.check.clone(),
            op: t.op.to_string(),
            limit: with_unit(&t.metric, t.limit),
            observed,
            value: observed.map(|v| with_unit(&t.metric, v)),
            passing: observed.map(|v| t.passes(v)),
            abort_on_fail: t.abort_on_fail,
        }
    }
}

/// A metric as thresholds write it.
fn metric_name(m: &crate::threshold::Metric) -> String {
    use crate::threshold::Metric;
    match m {
        Metric::Percentile(q) => format!("p({})", trimmed(*q, 3)),
        Metric::AvgLatency => "avg".into(),
        Metric::MaxLatency => "max".into(),
        Metric::ErrorRate => "error_rate".into(),
        Metric::Rps => "rps".into(),
        Metric::Dropped => "dropped".into(),
        Metric::Checks => "checks".into(),
    }
}

/// `v` with at most `decimals` decimals, trailing zeros dropped.
fn trimmed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A value of metric `m` with its unit: latency in ms (in s from 1 s on),
/// an error rate or a share of passed checks in percent, a rate in requests per second.
pub fn with_unit(m: &crate::threshold::Metric, v: f64) -> String {
    use crate::threshold::Metric;
    match m {
        Metric::Percentile(_) | Metric::AvgLatency | Metric::MaxLatency => {
            if v >= 1000.0 {
                format!("{} s", trimmed(v / 1000.0, 2))
            } else if v >= 100.0 {
                format!("{} ms", trimmed(v, 0))
            } else if v >= 10.0 {
                format!("{} ms", trimmed(v, 1))
            } else {
                format!("{} ms", trimmed(v, 2))
            }
        }
        Metric::ErrorRate | Metric::Checks => format!("{}%", trimmed(v * 100.0, 2)),
        Metric::Rps => format!("{} req/s", trimmed(v, 1)),
        Metric::Dropped => trimmed(v, 0),
    }
}

/// One of the slowest requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlowRow {
    pub name: String,
    pub latency_ms: f64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub trace_id: String,
}

/// Where the schedule is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clock {
    /// Schedule time (pauses excluded).
    pub elapsed: Duration,
    pub duration: Duration,
    /// (index from 0, count) of the running stage.
    pub stage: Option<(usize, usize)>,
    /// Open model: iterations per second now, scale applied.
    pub target_rate: Option<f64>,
    /// Closed model: users active now.
    pub target_users: Option<f64>,
    pub in_flight: usize,
    pub pool: usize,
    pub dropped: u64,
    /// Iterations finished so far (each sends one or more requests).
    pub iterations: u64,
    /// The run's request budget (`-n`, `load.requests`), if it has one.
    pub budget: Option<u64>,
    pub paused: bool,
    pub scale: f64,
}

/// Everything a live view draws, at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub scenario: String,
    pub target: String,
    pub clock: Clock,
    /// Requests in the last closed second.
    pub achieved_rps: f64,
    pub requests: u64,
    pub errors: u64,
    /// The last closed seconds, oldest first (at most 300).
    pub points: Vec<Point>,
    pub names: Vec<NameRow>,
    pub statuses: BTreeMap<u16, u64>,
    pub error_kinds: BTreeMap<String, u64>,
    /// Why requests failed: by kind, the first few messages with counts.
    pub error_reasons: crate::stats::Reasons,
    /// Corrected latency: (upper bound in ms, requests), the last bound open.
    pub histogram: Vec<(f64, u64)>,
    pub thresholds: Vec<ThresholdRow>,
    pub slowest: Vec<SlowRow>,
    /// (bound in ms, share of requests at or under it), for each mark.
    pub under: Vec<(f64, f64)>,
    /// The checks so far, one row per (request, check name) as the report
    /// has them; empty when the scenario has none.
    pub checks: Vec<common::report::CheckResult>,
    /// Per request name, its slow and typical requests so far with their
    /// trace ids (at most [`LIVE_TRACED`] in all), for the live "where the
    /// time goes"; empty unless the run keeps them (`--trace-sink`).
    pub traced: Vec<crate::traced::Chosen>,
}

/// Most requests a snapshot lists with their trace ids.
pub const LIVE_TRACED: usize = 2000;

/// Bucket bounds of the latency histogram, in milliseconds.
const BOUNDS_MS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];

/// Requests whose corrected latency is at or under `ms`.
fn at_or_under(s: &Stats, ms: f64) -> u64 {
    s.corrected.count_between(0, (ms * 1000.0) as u64)
}

fn histogram(s: &Stats) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(BOUNDS_MS.len() + 1);
    let mut below = 0;
    for &b in &BOUNDS_MS {
        let upto = at_or_under(s, b);
        out.push((b, upto - below));
        below = upto;
    }
    out.push((f64::INFINITY, s.count.saturating_sub(below)));
    out
}

impl Snapshot {
    /// Builds the view of a run from what is recorded so far and the check
    /// counts so far (indexed like `plan.checks`).
    pub fn build(
        plan: &Plan,
        target: &str,
        rec: &Recorder,
        clock: Clock,
        marks_ms: &[f64],
        checks: &ChecksSnapshot,
    ) -> Self {
        let total = rec.total();
        let under = marks_ms
            .iter()
            .map(|&m| {
                let n = at_or_under(&total, m);
                (
                    m,
                    if total.count == 0 {
                        0.0
                    } else {
                        n as f64 / total.count as f64
                    },
                )
            })
            .collect();
        let secs = clock.elapsed.as_secs_f64().max(1e-9);
        let points: Vec<Point> = rec
            .intervals()
            .iter()
            .rev()
            .take(300)
            .rev()
            .map(|i| {
                let errors: u64 = i.errors.values().sum();
                Point {
                    t: i.t,
                    ok: i.count.saturating_sub(errors),
                    errors,
                    p50_ms: i.p50_ms,
                    p90_ms: i.p90_ms,
                    p99_ms: i.p99_ms,
                }
            })
            .collect();
        let names = plan
            .names
            .iter()
            .zip(rec.per_name())
            .map(|(name, s)| NameRow {
                name: name.clone(),
                count: s.count,
                rps: s.count as f64 / secs,
                p50_ms: s.percentile_ms(50.0, true),
                p95_ms: s.percentile_ms(95.0, true),
                p99_ms: s.percentile_ms(99.0, true),
                max_ms: s.max_ms(true),
                errors: s.error_count(),
            })
            .collect();
        let thresholds = plan
            .thresholds
            .iter()
            .map(|t| {
                let observed = crate::threshold::observe(
                    t,
                    &total,
                    rec.per_name(),
                    &plan.names,
                    clock.elapsed,
                    clock.dropped,
                    CheckData::new(&plan.checks, checks),
                );
                ThresholdRow::of(t, observed)
            })
            .collect();
        let mut slowest: Vec<SlowRow> = plan
            .names
            .iter()
            .zip(rec.per_name())
            .flat_map(|(name, s)| {
                s.slowest.iter().map(move |w| SlowRow {
                    name: name.clone(),
                    latency_ms: w.latency_ms,
                    status: w.status,
                    error: w.error.clone(),
                    trace_id: w.trace_id.clone(),
                })
            })
            .collect();
        slowest.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
        slowest.truncate(10);
        Snapshot {
            scenario: plan.name.clone(),
            target: target.to_owned(),
            achieved_rps: points.last().map_or(0.0, |p| (p.ok + p.errors) as f64),
            requests: total.count,
            errors: total.error_count(),
            points,
            names,
            statuses: total.statuses.clone(),
            error_kinds: total.errors.clone(),
            error_reasons: total.reasons.clone(),
            histogram: histogram(&total),
            thresholds,
            slowest,
            under,
            clock,
            checks: crate::checks::results(&plan.checks, checks),
            traced: crate::traced::choose(&plan.names, rec.per_name(), rec.traced(), LIVE_TRACED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Outcome, Sample};
    use std::path::Path;

    #[test]
    fn snapshot_counts_what_was_recorded() {
        let plan =
            crate::scenario::parse(crate::bundled::STEADY, Path::new("steady.yaml")).unwrap();
        let mut rec = Recorder::new(plan.names.len(), false);
        for i in 0..100u64 {
            rec.push(&Sample {
                name: 0,
                series: 0,
                corrected: Duration::from_millis(3 + i % 40),
                actual: Duration::from_millis(3),
                at: Duration::from_millis(i * 20),
                outcome: if i % 10 == 0 {
                    Outcome::Status(500)
                } else {
                    Outcome::Ok(200)
                },
                trace_id: u128::from(i) + 1,
                reason: None,
                body_bytes: 0,
            });
        }
        rec.close_before(Duration::from_secs(4));
        let s = Snapshot::build(
            &plan,
            "http://127.0.0.1:1",
            &rec,
            Clock {
                elapsed: Duration::from_secs(2),
                ..Clock::default()
            },
            &[20.0],
            &ChecksSnapshot::default(),
        );
        // 3 + i % 40 ms for i in 0..100: 18 + 18 + 18 at or under 20 ms.
        assert!((s.under[0].1 - 0.54).abs() < 0.005, "{:?}", s.under);
        assert_eq!(s.requests, 100);
        assert_eq!(s.errors, 10);
        assert_eq!(s.points.len(), 2);
        assert_eq!(s.points[0].ok + s.points[0].errors, 50);
        assert_eq!(s.names[0].count, 100);
        assert!((s.names[0].rps - 50.0).abs() < 1e-9);
        assert_eq!(s.histogram.iter().map(|b| b.1).sum::<u64>(), 100);
        assert_eq!(s.statuses[&500], 10);
        assert_eq!(s.error_reasons["status"]["HTTP 500"], 10);
        assert!(s.slowest[0].latency_ms >= s.slowest[1].latency_ms);
        assert_eq!(s.thresholds.len(), plan.thresholds.len());
    }

    #[test]
    fn threshold_rows_carry_units() {
        let row = |expr: &str, v: f64| {
            ThresholdRow::of(&crate::threshold::Threshold::parse(expr).unwrap(), Some(v))
        };
        let r = row("p(95)<300ms", 212.3);
        assert_eq!(
            (
                r.metric.as_str(),
                r.value.as_deref(),
                r.op.as_str(),
                r.limit.as_str()
            ),
            ("p(95)", Some("212 ms"), "<", "300 ms")
        );
        assert_eq!(r.passing, Some(true));
        let r = row("error_rate<1%", 0.004);
        assert_eq!((r.value.as_deref(), r.limit.as_str()), (Some("0.4%"), "1%"));
        let r = row("p(99.9)<=1.5s", 1520.0);
        assert_eq!(
            (r.metric.as_str(), r.value.as_deref(), r.limit.as_str()),
            ("p(99.9)", Some("1.52 s"), "1.5 s")
        );
        assert_eq!(r.passing, Some(false));
        let r = row("rps>90", 95.26);
        assert_eq!(
            (r.value.as_deref(), r.limit.as_str()),
            (Some("95.3 req/s"), "90 req/s")
        );
        let r = row("avg<250us", 9.456);
        assert_eq!(
            (r.value.as_deref(), r.limit.as_str()),
            (Some("9.46 ms"), "0.25 ms")
        );
        let r = ThresholdRow::of(
            &crate::threshold::Threshold::parse("dropped<=0").unwrap(),
            None,
        );
        assert_eq!((r.value, r.passing, r.limit.as_str()), (None, None, "0"));
    }

    #[test]
    fn controls() {
        let l = Live::default();
        assert!(!l.paused());
        l.toggle_pause();
        assert!(l.paused());
        l.rescale(2.0);
        l.rescale(1000.0);
        assert_eq!(l.scale(), 100.0);
        l.add_paused(Duration::from_millis(1500));
        assert_eq!(l.paused_total(), Duration::from_millis(1500));
    }
}
