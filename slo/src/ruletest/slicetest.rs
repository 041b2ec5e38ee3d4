//! promtool unit tests for the rules of a time-slice SLO (see
//! [`crate::timeslices`]), written by `slo alerts --out` as for the other
//! kinds.
//!
//! promtool evaluates every rule group at each `evaluation_interval`, so
//! the tests evaluate once a slice, and the input counters move twice a
//! slice, by the same amounts throughout a slice: a slice's `increase()` is
//! then exact whether its range holds three samples (Prometheus 2) or two
//! and is doubled (Prometheus 3). Good slices sit just above the slice
//! target (a quarter of the allowed failures below it; in the first
//! scenario exactly at it, where that is exact in floating point) and bad
//! ones just below it (a quarter above), so a wrong target or a turned
//! comparison changes the outcome. Scenarios:
//!
//! - for each burn-rate alert, a full long window of good slices, then just
//!   enough bad slices in a row to pass its threshold: one fewer does not
//!   fire it, that many do, and once the short window holds only good
//!   slices again it stops while the long window still burns;
//! - slices without traffic after good ones: they do not count (the alert
//!   would fire if they counted as bad), and the counted slices say so;
//! - with `min_events`, slices of failing requests fewer than it: they do
//!   not count either;
//! - no traffic at all: no slice is recorded, the metadata is;
//! - no series at all: the absent alert, when enabled.
//!
//! Which alerts fire is predicted by counting the slices each window holds
//! (a window of `W` holds [`crate::timeslices::slices_in`] slices). Every
//! comparison keeps a margin, and a firing alert's burn rate (`%.1f` in
//! its description) must be the same at both ends of it; an evaluation
//! whose prediction is not certain is not asserted.

use std::time::Duration;

use serde::Serialize;

use crate::model::Timeslices;
use crate::rules::{BurnRule, SloRules, fmt_num};
use crate::ruletest::{
    AlertTest, ExpAlert, ExpSample, ExprTest, InputSeries, Role, Series, TestGenError, TestGroup,
    input_series, labels_text, render,
};
use crate::timeslices::{SLICE_RECORD, slices_in};
use crate::windows::promql_duration;

/// Events and failed events per input step, the same through a slice.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Load {
    total: f64,
    bad: f64,
}

const QUIET: Load = Load {
    total: 0.0,
    bad: 0.0,
};

/// Events per input step in busy slices: whole numbers keep every counter
/// value exact, and leave room for slice targets to nine nines.
const RATE: f64 = 1e8;

/// The most slices a test group may evaluate: promtool's time grows with
/// the square of it (a 30-day SLO with 1m slices, 5,040, takes it about half
/// a minute).
pub const MAX_SLICES: u64 = 6_000;

/// Counter values stay below this, where every whole number is exact.
const EXACT: f64 = 1e15;

/// What a slice's recording holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slice {
    /// No sample: no traffic, or fewer events than `min_events`.
    Empty,
    /// Its value: 1 good, 0 bad (or the share of good events).
    Counted(f64),
    /// On an edge (a share at the target, a total at `min_events`).
    Unsure,
}

/// A prediction that holds whatever the margins.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fires {
    Yes(f64),
    No,
    Unknown,
}

/// What one evaluation of a scenario asserts: the alerts (unless they are
/// uncertain) and some recordings with their exact values (none: no series).
struct Check {
    tick: u64,
    exprs: Vec<(String, Option<f64>)>,
}

struct Scenario {
    name: String,
    /// The load of slice `j` (1-based) at `j - 1`.
    slices: Vec<Load>,
    checks: Vec<Check>,
}

/// The SLO, its slices and how they are fed.
struct Sim<'a> {
    r: &'a SloRules,
    t: Timeslices,
    /// Input steps per slice.
    k: u64,
    /// The failure shares of a good and a bad slice.
    good_share: f64,
    bad_share: f64,
    /// A good slice exactly at the target, where one is exact.
    at_target: Option<Load>,
}

/// `x > threshold` with a relative margin: None on the edge.
fn above(x: f64, threshold: f64) -> Option<bool> {
    const MARGIN: f64 = 1e-6;
    if x > threshold * (1.0 + MARGIN) + 1e-12 {
        Some(true)
    } else if x < threshold * (1.0 - MARGIN) - 1e-12 {
        Some(false)
    } else {
        None
    }
}

impl<'a> Sim<'a> {
    fn new(r: &'a SloRules, t: Timeslices) -> Self {
        let at_target = t.target.and_then(|target| {
            let bad = (RATE * (1.0 - target)).round();
            (bad >= 1.0 && 1.0 - bad / RATE == target).then_some(Load { total: RATE, bad })
        });
        let (good_share, bad_share) = match t.target {
            Some(target) if target < 1.0 => {
                let allowed = 1.0 - target;
                (
                    (RATE * allowed * 0.75).floor() / RATE,
                    ((RATE * allowed * 1.25).ceil() / RATE).min(1.0),
                )
            }
            Some(_) => (0.0, 0.01),
            None => (0.0, 0.5),
        };
        Sim {
            r,
            t,
            k: 2,
            good_share,
            bad_share,
            at_target,
        }
    }

    /// The input series' interval, as promtool reads it.
    fn step(&self) -> String {
        let ms = (self.t.slice / self.k as u32).as_millis();
        if ms % 1000 == 0 {
            promql_duration(Duration::from_millis(ms as u64))
        } else {
            format!("{ms}ms")
        }
    }

    fn load(&self, share: f64) -> Load {
        Load {
            total: RATE,
            bad: (RATE * share).round(),
        }
    }

    fn good(&self) -> Load {
        self.load(self.good_share)
    }

    fn bad(&self) -> Load {
        self.load(self.bad_share)
    }

    /// The slice's recording, as the rules compute it.
    fn slice(&self, l: Load) -> Slice {
        let total = l.total * self.k as f64;
        let min = self.r.slo.min_events;
        if total <= 0.0 {
            return Slice::Empty;
        }
        if min > 0.0 {
            match above(total, min) {
                Some(false) => return Slice::Empty,
                None if (total - min).abs() > 0.0 => return Slice::Unsure,
                _ => {}
            }
        }
        let share = 1.0 - l.bad / l.total;
        match self.t.target {
            None => Slice::Counted(share),
            // The rules compute the same share from the same whole numbers;
            // the margin (a thousandth of the allowed failures) covers an
            // extrapolating increase().
            Some(target) => {
                let margin = 1e-3 * (1.0 - target);
                if share == target || share > target + margin {
                    Slice::Counted(1.0)
                } else if share < target - margin {
                    Slice::Counted(0.0)
                } else {
                    Slice::Unsure
                }
            }
        }
    }

    /// (counted slices, bad slices) of the window ending at `tick`; None
    /// when one of them is unsure.
    fn window(&self, slices: &[Load], tick: u64, w: Duration) -> Option<(f64, f64)> {
        let n = slices_in(w, &self.t);
        let first = tick.saturating_sub(n) + 1;
        let (mut count, mut bad) = (0.0, 0.0);
        for j in first.max(1)..=tick {
            let l = slices
                .get(usize::try_from(j - 1).unwrap_or(usize::MAX))
                .copied()
                .unwrap_or(QUIET);
            match self.slice(l) {
                Slice::Empty => {}
                Slice::Counted(v) => {
                    count += 1.0;
                    bad += 1.0 - v;
                }
                Slice::Unsure => return None,
            }
        }
        Some((count, bad))
    }

    fn burn(&self, b: &BurnRule, slices: &[Load], tick: u64) -> Fires {
        let budget = self.r.slo.budget();
        let threshold = b.condition.factor * budget;
        let share = |w| {
            self.window(slices, tick, w)
                .map(|(count, bad)| (count > 0.0).then(|| bad / count))
        };
        let (Some(long), Some(short)) = (share(b.condition.long), share(b.condition.short)) else {
            return Fires::Unknown;
        };
        let (Some(long), Some(short)) = (long, short) else {
            // A window without counted slices records nothing.
            return Fires::No;
        };
        match (above(long, threshold), above(short, threshold)) {
            (Some(false), _) | (_, Some(false)) => Fires::No,
            (Some(true), Some(true)) => {
                let v = long / budget;
                let lo = format!("{:.1}", v * (1.0 - 1e-6));
                let hi = format!("{:.1}", v * (1.0 + 1e-6));
                if lo == hi {
                    Fires::Yes(v)
                } else {
                    Fires::Unknown
                }
            }
            _ => Fires::Unknown,
        }
    }

    fn decisive(&self, sc: &Scenario) -> bool {
        sc.checks.iter().all(|c| {
            self.r
                .burns
                .iter()
                .all(|b| self.burn(b, &sc.slices, c.tick) != Fires::Unknown)
        })
    }

    /// Whether every counter of the scenario stays exact.
    fn exact(&self, sc: &Scenario) -> bool {
        let total: f64 = sc.slices.iter().map(|l| l.total).sum::<f64>() * self.k as f64;
        total < EXACT
    }
}

fn repeat(l: Load, n: u64) -> impl Iterator<Item = Load> {
    std::iter::repeat_n(l, usize::try_from(n).unwrap_or(0))
}

/// `name{slo="..."}` for a recording of this SLO.
fn expr(r: &SloRules, name: &str) -> String {
    format!("{name}{{slo=\"{}\"}}", r.slo.name)
}

/// Whether the recording `name` is one of the period group's. A calendar
/// period's count whole hours of the current period only, which these
/// scenarios do not follow: they are tested in slo/tests/it/calendar.rs.
fn reads_period(r: &SloRules, name: &str) -> bool {
    let period = promql_duration(r.slo.period);
    name == "slo:error_budget_remaining:ratio"
        || [
            "slo:sli_slices:count",
            "slo:sli_bad_slices:count",
            "slo:sli_error:ratio_rate",
        ]
        .iter()
        .any(|p| name.strip_prefix(p) == Some(period.as_str()))
}

/// The scenario of one burn-rate alert: `m` bad slices in a row after a
/// long window of good ones, `m` the fewest that pass its threshold.
fn threshold_scenario(sim: &Sim, b: &BurnRule, good: Load) -> Option<Scenario> {
    let c = &b.condition;
    let threshold = c.factor * sim.r.slo.budget();
    let (n_long, n_short) = (slices_in(c.long, &sim.t), slices_in(c.short, &sim.t));
    if threshold >= 1.0 {
        return None;
    }
    // Just below the target; where that is not bad enough, every request failing.
    let (bad, m) = [
        sim.bad(),
        Load {
            total: RATE,
            bad: RATE,
        },
    ]
    .into_iter()
    .find_map(|load| {
        let Slice::Counted(v) = sim.slice(load) else {
            return None;
        };
        let m = (threshold * (1.0 + 1e-5) * n_long as f64 / (1.0 - v)).floor() as u64 + 1;
        (v < 1.0 && m <= n_long).then_some((load, m))
    })?;
    let (long, short) = (promql_duration(c.long), promql_duration(c.short));
    let build = |warm: u64| {
        let slices: Vec<Load> = repeat(good, warm)
            .chain(repeat(bad, m))
            .chain(repeat(good, n_short))
            .collect();
        let r = sim.r;
        let period = promql_duration(r.slo.period);
        let mut clean = vec![
            (
                expr(r, &format!("slo:sli_error:ratio_rate{short}")),
                Some(0.0),
            ),
            (
                expr(r, &format!("slo:sli_error:ratio_rate{period}")),
                Some(0.0),
            ),
            (expr(r, "slo:error_budget_remaining:ratio"), Some(1.0)),
            (
                expr(r, &format!("slo:sli_slices:count{period}")),
                Some(warm as f64),
            ),
        ];
        let mut fired = vec![(
            expr(r, &format!("slo:sli_slices:count{period}")),
            Some((warm + m) as f64),
        )];
        if sim.t.target.is_some() {
            clean.push((expr(r, SLICE_RECORD), Some(1.0)));
            fired.push((expr(r, SLICE_RECORD), Some(0.0)));
            fired.push((
                expr(r, &format!("slo:sli_bad_slices:count{period}")),
                Some(m as f64),
            ));
        }
        let mut checks = vec![Check {
            tick: warm,
            exprs: clean,
        }];
        if m > 1 {
            checks.push(Check {
                tick: warm + m - 1,
                exprs: vec![],
            });
        }
        checks.push(Check {
            tick: warm + m,
            exprs: fired,
        });
        checks.push(Check {
            tick: warm + m + n_short,
            exprs: vec![],
        });
        let at = if Some(good) == sim.at_target {
            " (exactly at the target)"
        } else {
            ""
        };
        Scenario {
            name: format!(
                "{} {}x over {long} and {short}: after {warm} good slices{at}, {} bad slices in a row fire it ({} do not), {n_short} good slices end it",
                c.severity.as_str(),
                fmt_num(c.factor),
                m,
                m - 1
            ),
            slices,
            checks,
        }
    };
    // The shortest warm-up whose every check is certain; else the first,
    // whose uncertain checks are left out.
    let first = build(n_long);
    let chosen = (n_long + 1..n_long + 3)
        .map(build)
        .find(|sc| sim.decisive(sc))
        .filter(|_| !sim.decisive(&first))
        .unwrap_or(first);
    sim.exact(&chosen).then_some(chosen)
}

/// Good slices, then `n` slices of `load` that must not count.
fn uncounted_scenario(sim: &Sim, name: &str, load: Load) -> Option<Scenario> {
    let r = sim.r;
    let (long, short) = r.burns.first().map_or((r.slo.period, r.slo.period), |b| {
        (b.condition.long, b.condition.short)
    });
    let n_long = slices_in(long, &sim.t);
    let n_short = slices_in(short, &sim.t);
    // Enough uncounted slices to fire the first alert if they were bad.
    let enough = r
        .burns
        .first()
        .map(|b| (b.condition.factor * r.slo.budget() * n_long as f64).floor() as u64 + 1)
        .unwrap_or(1)
        .max(n_short);
    let n = enough.min(n_long.saturating_sub(1)).max(1);
    let slices: Vec<Load> = repeat(sim.good(), n_long).chain(repeat(load, n)).collect();
    let d = promql_duration(long);
    let period = promql_duration(r.slo.period);
    let end = n_long + n;
    let sc = Scenario {
        name: format!("after {n_long} good slices, {n} {name}: they do not count, no alert"),
        slices,
        checks: vec![Check {
            tick: end,
            exprs: vec![
                (
                    expr(r, &format!("slo:sli_slices:count{period}")),
                    Some(n_long as f64),
                ),
                (expr(r, &format!("slo:sli_error:ratio_rate{d}")), Some(0.0)),
                (expr(r, SLICE_RECORD), None),
            ],
        }],
    };
    (sim.decisive(&sc) && sim.exact(&sc)).then_some(sc)
}

fn scenarios(sim: &Sim) -> Vec<Scenario> {
    let r = sim.r;
    let mut out: Vec<Scenario> = r
        .burns
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            let good = sim.at_target.filter(|_| i == 0).unwrap_or(sim.good());
            threshold_scenario(sim, b, good)
        })
        .collect();
    out.extend(uncounted_scenario(sim, "slices without traffic", QUIET));
    let min = r.slo.min_events;
    let few = ((min * (1.0 - 1e-6)) / sim.k as f64).floor();
    if min > 0.0 && few >= 1.0 {
        out.extend(uncounted_scenario(
            sim,
            &format!(
                "slices of {} failed requests, fewer than min_events ({})",
                fmt_num(few * sim.k as f64),
                fmt_num(min)
            ),
            Load {
                total: few,
                bad: few,
            },
        ));
    }
    let mut metadata = vec![
        ("slo:objective:ratio", r.slo.objective),
        ("slo:error_budget:ratio", r.slo.budget()),
        ("slo:period:seconds", r.slo.period.as_secs_f64()),
        ("slo:slice:seconds", sim.t.slice.as_secs_f64()),
    ];
    if let Some(target) = sim.t.target {
        metadata.push(("slo:slice_target:ratio", target));
    }
    let quiet = r
        .burns
        .iter()
        .map(|b| slices_in(b.condition.long, &sim.t))
        .min()
        .unwrap_or(1)
        + 1;
    let mut exprs: Vec<(String, Option<f64>)> = metadata
        .into_iter()
        .map(|(name, v)| (expr(r, name), Some(fmt_num(v).parse().unwrap_or(v))))
        .collect();
    exprs.push((expr(r, SLICE_RECORD), None));
    out.push(Scenario {
        name: "no traffic: no slice counts, no burn-rate alert".into(),
        slices: repeat(QUIET, quiet).collect(),
        checks: vec![Check { tick: quiet, exprs }],
    });
    out
}

// ---- the file (promtool's test format) ----

#[derive(Serialize)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: String,
    /// The period group reads the slices the alert group records at the
    /// same evaluation: without an order, promtool evaluates groups in any.
    group_eval_order: Vec<String>,
    tests: Vec<TestGroup>,
}

/// A counter's values in promtool's expanding notation, `k` steps a slice.
fn values(slices: &[Load], role: Role, k: u64) -> String {
    let mut parts = vec!["0".to_owned()];
    let mut v = 0.0;
    let mut i = 0;
    while i < slices.len() {
        let l = slices[i];
        let run = slices[i..].iter().take_while(|x| **x == l).count();
        let inc = match role {
            Role::Total => l.total,
            Role::Good => l.total - l.bad,
            Role::Bad => l.bad,
        };
        let steps = run as u64 * k;
        parts.push(format!(
            "{}+{}x{}",
            fmt_num(v + inc),
            fmt_num(inc),
            steps - 1
        ));
        v += inc * steps as f64;
        i += run;
    }
    parts.join(" ")
}

/// The promtool test file of a time-slice SLO (its slices `t`), testing
/// the rules in `rule_file` (a path relative to the test file).
pub fn unit_tests(
    r: &SloRules,
    t: Timeslices,
    rule_file: &str,
    header: &str,
) -> Result<String, TestGenError> {
    // The longest scenario fills the longest window, then passes its
    // threshold and waits out its short window.
    let longest = r
        .burns
        .iter()
        .map(|b| slices_in(b.condition.long, &t) + slices_in(b.condition.short, &t) * 2)
        .max()
        .unwrap_or(0);
    if longest > MAX_SLICES {
        return Err(TestGenError::Slices {
            slo: r.slo.name.clone(),
            slices: longest,
            max: MAX_SLICES,
        });
    }
    let series = input_series(r)?;
    let sim = Sim::new(r, t);
    let at = |tick: u64| promql_duration(t.slice * u32::try_from(tick).unwrap_or(u32::MAX));
    let interval = sim.step();
    let burn_test = |slices: &[Load], tick: u64| -> Result<Option<AlertTest>, TestGenError> {
        let mut exp = Vec::new();
        for b in &r.burns {
            match sim.burn(b, slices, tick) {
                Fires::Unknown => return Ok(None),
                Fires::No => {}
                Fires::Yes(v) => {
                    let mut labels = r.series_labels.clone();
                    labels.extend(b.labels.clone());
                    exp.push(ExpAlert {
                        exp_labels: labels,
                        exp_annotations: render(&r.slo.name, &b.annotations, Some(v))?,
                    });
                }
            }
        }
        Ok(Some(AlertTest {
            eval_time: at(tick),
            alertname: r.alert.clone(),
            exp_alerts: exp,
        }))
    };
    let mut tests = Vec::new();
    for sc in scenarios(&sim) {
        let mut alert_rule_test = Vec::new();
        let mut promql_expr_test = Vec::new();
        for c in &sc.checks {
            alert_rule_test.extend(burn_test(&sc.slices, c.tick)?);
            if let Some(a) = &r.absent
                && a.alert != r.alert
            {
                alert_rule_test.push(AlertTest {
                    eval_time: at(c.tick),
                    alertname: a.alert.clone(),
                    exp_alerts: vec![],
                });
            }
            for (e, value) in &c.exprs {
                let name = e.split('{').next().unwrap_or(e);
                if r.slo.calendar.is_some() && reads_period(r, name) {
                    continue;
                }
                promql_expr_test.push(ExprTest {
                    expr: e.clone(),
                    eval_time: at(c.tick),
                    exp_samples: value
                        .iter()
                        .map(|v| ExpSample {
                            labels: labels_text(name, &r.series_labels),
                            value: *v,
                        })
                        .collect(),
                });
            }
        }
        let last = sc.checks.iter().map(|c| c.tick).max().unwrap_or(0);
        // The counters run one step past the last check.
        let mut slices = sc.slices.clone();
        slices.resize(usize::try_from(last + 1).unwrap_or(0), QUIET);
        tests.push(TestGroup {
            name: sc.name.clone(),
            interval: interval.clone(),
            input_series: series
                .iter()
                .map(|s: &Series| InputSeries {
                    series: s.text(),
                    values: values(&slices, s.role, sim.k),
                })
                .collect(),
            alert_rule_test,
            promql_expr_test,
        });
    }
    if let Some(a) = &r.absent {
        let for_ticks = (a.for_.as_secs_f64() / t.slice.as_secs_f64()).ceil() as u64;
        let (pending, firing) = (for_ticks / 2, for_ticks + 2);
        let mut labels = a.result_labels.clone();
        labels.extend(a.labels.clone());
        let mut checks = vec![
            AlertTest {
                eval_time: at(pending),
                alertname: a.alert.clone(),
                exp_alerts: vec![],
            },
            AlertTest {
                eval_time: at(firing),
                alertname: a.alert.clone(),
                exp_alerts: vec![ExpAlert {
                    exp_labels: labels,
                    exp_annotations: render(&r.slo.name, &a.annotations, None)?,
                }],
            },
        ];
        if a.alert != r.alert {
            checks.push(AlertTest {
                eval_time: at(firing),
                alertname: r.alert.clone(),
                exp_alerts: vec![],
            });
        }
        tests.push(TestGroup {
            name: format!(
                "no series at all: {} fires after {}",
                a.alert,
                promql_duration(a.for_)
            ),
            interval: interval.clone(),
            input_series: vec![InputSeries {
                series: "up{job=\"unrelated\"}".into(),
                values: format!("1x{}", (firing + 1) * sim.k),
            }],
            alert_rule_test: checks,
            promql_expr_test: vec![],
        });
    }
    let file = TestFile {
        rule_files: vec![rule_file.to_owned()],
        evaluation_interval: promql_duration(t.slice),
        group_eval_order: r
            .groups
            .iter()
            .filter(|g| !r.is_calendar_period(g))
            .map(|g| g.name.clone())
            .collect(),
        tests,
    };
    Ok(crate::yaml::document(header, &file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::slo_rules;
    use std::path::Path;

    const SPEC: &str = r#"
version: slo/v1
service: shop
slos:
  - name: availability
    objective: 99
    period: 7d
    timeslices: {slice: 1m, target: 0.95}
    sli: {availability: {selector: '{job="shop"}'}}
    alerting: {absent: true}
  - name: latency
    objective: 99.5
    period: 7d
    min_events: 10
    timeslices: {slice: 1m}
    sli: {latency: {metric: h, selector: '{job="shop"}', threshold: 0.3}}
"#;

    fn rules(n: usize) -> SloRules {
        let s = crate::spec::parse(SPEC, Path::new("spec.yaml")).unwrap();
        slo_rules(&s, &s.slos[n]).unwrap()
    }

    #[test]
    fn good_and_bad_slices_sit_either_side_of_the_target() {
        let r = rules(0);
        let sim = Sim::new(&r, r.slo.timeslices.unwrap());
        assert_eq!(sim.slice(sim.good()), Slice::Counted(1.0));
        assert_eq!(sim.slice(sim.bad()), Slice::Counted(0.0));
        // 95 of 100 good is exactly the target, and good.
        let at = sim.at_target.unwrap();
        assert_eq!(at.bad / at.total, 0.05);
        assert_eq!(sim.slice(at), Slice::Counted(1.0));
        assert_eq!(sim.slice(QUIET), Slice::Empty);
        assert_eq!(sim.step(), "30s");
        // Without a target a slice counts its share; with min_events a
        // slice needs that many events.
        let r = rules(1);
        let sim = Sim::new(&r, r.slo.timeslices.unwrap());
        assert_eq!(sim.slice(sim.bad()), Slice::Counted(0.5));
        let few = Load {
            total: 4.0,
            bad: 4.0,
        };
        assert_eq!(sim.slice(few), Slice::Empty);
        let enough = Load {
            total: 5.0,
            bad: 5.0,
        };
        assert_eq!(sim.slice(enough), Slice::Counted(0.0));
    }

    /// Every burn alert fires at its m-th bad slice, not at the one before,
    /// and stops once its short window is clean.
    #[test]
    fn every_alert_has_its_threshold_in_slices() {
        for n in [0, 1] {
            let r = rules(n);
            let sim = Sim::new(&r, r.slo.timeslices.unwrap());
            let all = scenarios(&sim);
            for (i, b) in r.burns.iter().enumerate() {
                let sc = &all[i];
                assert!(
                    sc.name.starts_with(b.condition.severity.as_str()),
                    "{}",
                    sc.name
                );
                let states: Vec<Fires> = sc
                    .checks
                    .iter()
                    .map(|c| sim.burn(b, &sc.slices, c.tick))
                    .collect();
                assert_eq!(states[0], Fires::No, "{}", sc.name);
                assert!(
                    matches!(states[states.len() - 2], Fires::Yes(_)),
                    "{}: {states:?}",
                    sc.name
                );
                assert_eq!(states[states.len() - 1], Fires::No, "{}", sc.name);
                if states.len() == 4 {
                    assert_eq!(states[1], Fires::No, "{}", sc.name);
                }
            }
        }
    }

    #[test]
    fn the_page_threshold_is_counted_in_slices() {
        // 7 days: the page alert reads 14 slices of 1m and 2 (70 s). 14.4 x
        // 1% of 14 slices is 2.016: three bad slices fire it, two do not.
        let r = rules(0);
        let sim = Sim::new(&r, r.slo.timeslices.unwrap());
        let sc = &scenarios(&sim)[0];
        assert!(
            sc.name.contains("3 bad slices in a row fire it (2 do not)"),
            "{}",
            sc.name
        );
        assert!(sc.name.contains("exactly at the target"), "{}", sc.name);
        let ticks: Vec<u64> = sc.checks.iter().map(|c| c.tick).collect();
        assert_eq!(ticks, [14, 16, 17, 19]);
        let b = &r.burns[0];
        assert_eq!(
            sim.window(&sc.slices, 17, b.condition.long),
            Some((14.0, 3.0))
        );
        assert_eq!(
            sim.window(&sc.slices, 17, b.condition.short),
            Some((2.0, 2.0))
        );
        match sim.burn(b, &sc.slices, 17) {
            Fires::Yes(v) => assert!((v - 300.0 / 14.0).abs() < 1e-9, "{v}"),
            f => panic!("{f:?}"),
        }
    }

    #[test]
    fn empty_slices_are_tested_not_to_count() {
        let r = rules(0);
        let sim = Sim::new(&r, r.slo.timeslices.unwrap());
        let all = scenarios(&sim);
        let sc = all
            .iter()
            .find(|s| s.name.contains("without traffic"))
            .unwrap();
        let c = &sc.checks[0];
        assert!(
            c.exprs
                .iter()
                .any(|(e, v)| e.starts_with(SLICE_RECORD) && v.is_none())
        );
        // Were the empty slices bad, the page alert would fire.
        let bad: Vec<Load> = sc
            .slices
            .iter()
            .map(|l| if *l == QUIET { sim.bad() } else { *l })
            .collect();
        assert!(matches!(sim.burn(&r.burns[0], &bad, c.tick), Fires::Yes(_)));
        assert_eq!(sim.burn(&r.burns[0], &sc.slices, c.tick), Fires::No);
        // With min_events, slices of too few requests too.
        let r = rules(1);
        let sim = Sim::new(&r, r.slo.timeslices.unwrap());
        assert!(
            scenarios(&sim)
                .iter()
                .any(|s| s.name.contains("fewer than min_events (10)"))
        );
    }

    #[test]
    fn the_file_evaluates_once_a_slice_in_group_order() {
        let r = rules(0);
        let text = unit_tests(&r, r.slo.timeslices.unwrap(), "shop.rules.yml", "# test\n").unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(v["evaluation_interval"], "1m");
        assert_eq!(
            v["group_eval_order"],
            serde_json::json!(["slo-shop-availability", "slo-shop-availability-period"])
        );
        let names: Vec<&str> = v["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 4 + 2 + 1, "{names:?}");
        assert!(names[6].contains("ShopAvailabilitySLIAbsent"), "{names:?}");
        assert_eq!(
            values(
                &[sim_load(10.0, 1.0), sim_load(10.0, 1.0), QUIET],
                Role::Good,
                2
            ),
            "0 9+9x3 36+0x1"
        );
    }

    #[test]
    fn too_many_slices_for_promtool_are_refused() {
        let spec = SPEC.replace(
            "period: 7d\n    timeslices: {slice: 1m, target",
            "period: 90d\n    timeslices: {slice: 1m, target",
        );
        let s = crate::spec::parse(&spec, Path::new("spec.yaml")).unwrap();
        let r = slo_rules(&s, &s.slos[0]).unwrap();
        let e = unit_tests(&r, r.slo.timeslices.unwrap(), "r.yml", "").unwrap_err();
        assert!(
            matches!(e, TestGenError::Slices { slices: 15_120, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("use longer slices"), "{e}");
    }

    fn sim_load(total: f64, bad: f64) -> Load {
        Load { total, bad }
    }
}
