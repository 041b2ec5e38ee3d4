//! promtool unit tests for the generated rules.
//!
//! For each SLO, synthetic counters that satisfy its SLI's selectors (for
//! an events SLI, the selectors inside its queries, which must read
//! `sum(rate(SELECTOR[{{.window}}]))`: [`crate::promql::rate_selector`]) are
//! driven through scenarios: for every burn-rate alert, an error ratio 4%
//! above its threshold (it must fire once its long window has filled, not
//! while only its short window has, and stop once its short window is clean
//! again) and 4% below (it must not fire); no traffic (no burn alert); a
//! burst smaller than the traffic guard (no burn alert); and no data at all
//! (the absent alert, when enabled).
//!
//! Which alerts fire at which evaluation is predicted by simulating the
//! recorded windows over the counters. A prediction is only written where it
//! does not depend on how `increase()` treats a window's edges (Prometheus 2
//! includes the left edge, 3 excludes it): comparisons keep a margin, and a
//! firing alert's burn rate (`%.1f` in its description) must be the same at
//! both ends of the uncertainty. Other evaluations are not asserted.

pub mod slicetest;

use std::collections::BTreeMap;
use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr};
use serde::Serialize;

use crate::model::Sli;
use crate::rules::{SloRules, fmt_num};
use crate::windows::promql_duration;

/// Why no test file could be generated for an SLO.
#[derive(Debug, thiserror::Error)]
pub enum TestGenError {
    #[error(
        "slo {slo:?}: no input series can be synthesized for its events SLI: {query} {query_text}: {why}; write its tests by hand"
    )]
    Events {
        slo: String,
        /// `error_query` or `total_query`.
        query: &'static str,
        query_text: String,
        why: String,
    },
    #[error(
        "slo {slo:?}: no series satisfies {selector} (and its counterpart); write its tests by hand"
    )]
    Selector { slo: String, selector: String },
    #[error(
        "slo {slo:?}: its tests would evaluate {slices} time slices, more than {max}, which promtool takes too long to run (it evaluates every slice); use longer slices, or write its tests by hand"
    )]
    Slices { slo: String, slices: u64, max: u64 },
    #[error(
        "slo {slo:?}: its tests would load {samples} samples in one query, more than promtool's limit of {max}, even with input sampled as coarsely as its shortest alert window allows; write its tests by hand"
    )]
    Samples { slo: String, samples: u64, max: u64 },
    #[error("slo {slo:?}: annotation {key:?} uses a template the generator cannot render: {value}")]
    Template {
        slo: String,
        key: String,
        value: String,
    },
}

// ---- label values that satisfy matchers ----

/// The shortest string a regex matches (first alternative, fewest repeats).
fn regex_example(re: &str) -> Option<String> {
    use regex_syntax::hir::{Class, Hir, HirKind};
    fn walk(h: &Hir, out: &mut String) -> Option<()> {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => Some(()),
            HirKind::Literal(l) => {
                out.push_str(std::str::from_utf8(&l.0).ok()?);
                Some(())
            }
            HirKind::Class(Class::Unicode(c)) => {
                // A printable character the class holds, digits first.
                let ch = ('0'..='9')
                    .chain('a'..='z')
                    .chain('A'..='Z')
                    .chain("_-/.:".chars())
                    .find(|ch| c.iter().any(|r| r.start() <= *ch && *ch <= r.end()))?;
                out.push(ch);
                Some(())
            }
            HirKind::Class(Class::Bytes(c)) => {
                let b = (b'0'..=b'z').find(|b| {
                    b.is_ascii_alphanumeric() && c.iter().any(|r| r.start() <= *b && *b <= r.end())
                })?;
                out.push(char::from(b));
                Some(())
            }
            HirKind::Repetition(r) => {
                for _ in 0..r.min {
                    walk(&r.sub, out)?;
                }
                Some(())
            }
            HirKind::Capture(c) => walk(&c.sub, out),
            HirKind::Concat(parts) => parts.iter().try_for_each(|p| walk(p, out)),
            HirKind::Alternation(alts) => walk(alts.first()?, out),
        }
    }
    let hir = regex_syntax::parse(re).ok()?;
    let mut s = String::new();
    walk(&hir, &mut s)?;
    Some(s)
}

/// A constraint on one label's value.
enum Constraint<'a> {
    Is(&'a Matcher),
    IsNot(&'a Matcher),
}

impl Constraint<'_> {
    fn name(&self) -> &str {
        match self {
            Constraint::Is(m) | Constraint::IsNot(m) => &m.name,
        }
    }
    fn ok(&self, v: &str) -> bool {
        match self {
            Constraint::Is(m) => m.is_match(v),
            Constraint::IsNot(m) => !m.is_match(v),
        }
    }
    fn candidates(&self) -> Vec<String> {
        let m = match self {
            Constraint::Is(m) | Constraint::IsNot(m) => m,
        };
        let mut c = Vec::new();
        if matches!(m.op, MatchOp::Re(_) | MatchOp::NotRe(_)) {
            c.extend(regex_example(&m.value));
        }
        c.push(m.value.clone());
        c
    }
}

/// Label values satisfying every constraint ("" means the label is absent).
fn solve(constraints: &[Constraint]) -> Option<BTreeMap<String, String>> {
    let mut by_label: BTreeMap<&str, Vec<&Constraint>> = BTreeMap::new();
    for c in constraints {
        by_label.entry(c.name()).or_default().push(c);
    }
    let mut out = BTreeMap::new();
    for (label, cs) in by_label {
        let mut candidates: Vec<String> = cs.iter().flat_map(|c| c.candidates()).collect();
        candidates.extend(["", "x", "a", "0", "200", "500"].map(String::from));
        candidates.extend(
            cs.iter()
                .flat_map(|c| c.candidates())
                .map(|v| format!("{v}x")),
        );
        let v = candidates
            .into_iter()
            .find(|v| cs.iter().all(|c| c.ok(v)))?;
        if !v.is_empty() {
            out.insert(label.to_owned(), v);
        }
    }
    Some(out)
}

fn selector_matchers(selector: &str) -> Option<(Option<String>, Vec<Matcher>)> {
    match parser::parse(selector).ok()? {
        Expr::VectorSelector(v) => Some((v.name.clone(), v.matchers.matchers.clone())),
        _ => None,
    }
}

/// One synthetic counter and which events it counts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Role {
    Total,
    Good,
    Bad,
}

impl Series {
    fn matches(&self, name: Option<&str>, matchers: &[Matcher]) -> bool {
        name.is_none_or(|n| n == self.name)
            && matchers.iter().all(|m| {
                let v = if m.name == "__name__" {
                    self.name.as_str()
                } else {
                    self.labels.get(&m.name).map_or("", String::as_str)
                };
                m.is_match(v)
            })
    }
    pub(crate) fn text(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(", "))
    }
}

/// Series that make the SLI's queries count good and bad events.
pub(crate) fn input_series(r: &SloRules) -> Result<Vec<Series>, TestGenError> {
    let slo = &r.slo;
    let fail = |selector: &str| TestGenError::Selector {
        slo: slo.name.clone(),
        selector: selector.to_owned(),
    };
    let parse = |s: &str| selector_matchers(s).ok_or_else(|| fail(s));
    match &slo.sli {
        Sli::Availability { selector } => {
            let name = "http_server_request_duration_seconds_count";
            let total = format!("{name}{}", crate::promql::braces(selector));
            let (_, ms) = parse(&total)?;
            let cs: Vec<Constraint> = ms.iter().map(Constraint::Is).collect();
            let base = solve(&cs).ok_or_else(|| fail(&total))?;
            let code = "http_response_status_code";
            let mk = |status: &str, role| {
                let mut labels = base.clone();
                labels.insert(code.into(), status.into());
                Series {
                    name: name.into(),
                    labels,
                    role,
                }
            };
            let series = vec![mk("200", Role::Good), mk("500", Role::Bad)];
            let five = selector_matchers(&format!("x{{{code}=~\"5..\"}}"))
                .and_then(|(_, m)| m.into_iter().next())
                .ok_or_else(|| fail(&total))?;
            let ok = series.iter().all(|s| {
                s.matches(Some(name), &ms)
                    && s.matches(None, std::slice::from_ref(&five)) == (s.role == Role::Bad)
            });
            if ok { Ok(series) } else { Err(fail(&total)) }
        }
        Sli::Latency {
            metric,
            selector,
            threshold,
        } => {
            let count = format!("{metric}_count{}", crate::promql::braces(selector));
            let (_, ms) = parse(&count)?;
            let cs: Vec<Constraint> = ms.iter().map(Constraint::Is).collect();
            let base = solve(&cs).ok_or_else(|| fail(&count))?;
            let mut bucket_labels = base.clone();
            // As Go's client_golang writes it (`1`, not `1.0`): the rules'
            // matcher must find the bucket whatever the exporter's formatting.
            bucket_labels.insert("le".into(), threshold.to_string());
            let (_, le) = parse(&format!(
                "{metric}_bucket{{{}}}",
                crate::promql::le_matcher(*threshold)
            ))?;
            let series = vec![
                Series {
                    name: format!("{metric}_count"),
                    labels: base,
                    role: Role::Total,
                },
                Series {
                    name: format!("{metric}_bucket"),
                    labels: bucket_labels,
                    role: Role::Good,
                },
            ];
            let ok = series[1].matches(None, &ms) && series[1].matches(None, &le);
            if ok { Ok(series) } else { Err(fail(&count)) }
        }
        Sli::Ratio { good, total } => {
            let (gn, gm) = parse(good)?;
            let (tn, tm) = parse(total)?;
            counters(
                (&gn, &gm, Role::Good),
                (&tn, &tm),
                || fail(good),
                || fail(total),
            )
        }
        Sli::Events {
            error_query,
            total_query,
        } => {
            let read = |query: &'static str, text: &str| {
                crate::promql::rate_selector(text)
                    .map(|vs| (vs.name, vs.matchers.matchers))
                    .map_err(|why| TestGenError::Events {
                        slo: slo.name.clone(),
                        query,
                        query_text: text.to_owned(),
                        why,
                    })
            };
            let (en, em) = read("error_query", error_query)?;
            let (tn, tm) = read("total_query", total_query)?;
            let shown = |n: &Option<String>, m: &[Matcher]| {
                let ms: Vec<String> = m.iter().map(ToString::to_string).collect();
                format!("{}{{{}}}", n.as_deref().unwrap_or(""), ms.join(","))
            };
            counters(
                (&en, &em, Role::Bad),
                (&tn, &tm),
                || fail(&shown(&en, &em)),
                || fail(&shown(&tn, &tm)),
            )
        }
    }
}

/// Counters for a selector of part of the events (`part`: the good ones of
/// a ratio SLI, the failed ones of an events SLI) and one of all of them.
/// On two metrics, one counter each, each selected by its own selector
/// only. On one metric, two counters of it, both selected by the total
/// selector: one by the part's selector too, the other not.
fn counters(
    (pn, pm, role): (&Option<String>, &[Matcher], Role),
    (tn, tm): (&Option<String>, &[Matcher]),
    fail_part: impl Fn() -> TestGenError,
    fail_total: impl Fn() -> TestGenError,
) -> Result<Vec<Series>, TestGenError> {
    let rest = match role {
        Role::Good => Role::Bad,
        _ => Role::Good,
    };
    if pn != tn {
        let p = solve(&pm.iter().map(Constraint::Is).collect::<Vec<_>>()).ok_or_else(&fail_part)?;
        let t =
            solve(&tm.iter().map(Constraint::Is).collect::<Vec<_>>()).ok_or_else(&fail_total)?;
        let series = vec![
            Series {
                name: pn.clone().unwrap_or_default(),
                labels: p,
                role,
            },
            Series {
                name: tn.clone().unwrap_or_default(),
                labels: t,
                role: Role::Total,
            },
        ];
        let ok = series[0].matches(pn.as_deref(), pm)
            && !series[0].matches(tn.as_deref(), tm)
            && series[1].matches(tn.as_deref(), tm)
            && !series[1].matches(pn.as_deref(), pm);
        return if ok { Ok(series) } else { Err(fail_part()) };
    }
    let name = pn.clone().unwrap_or_default();
    let both: Vec<Constraint> = pm.iter().chain(tm).map(Constraint::Is).collect();
    let p = solve(&both).ok_or_else(&fail_part)?;
    // The rest: every total matcher, and one of the part's broken.
    let r = pm.iter().find_map(|broken| {
        let mut cs: Vec<Constraint> = tm.iter().map(Constraint::Is).collect();
        cs.push(Constraint::IsNot(broken));
        solve(&cs)
    });
    let r = r.ok_or_else(&fail_part)?;
    let series = vec![
        Series {
            name: name.clone(),
            labels: p,
            role,
        },
        Series {
            name,
            labels: r,
            role: rest,
        },
    ];
    let ok = series[0].matches(pn.as_deref(), pm)
        && series[0].matches(tn.as_deref(), tm)
        && !series[1].matches(pn.as_deref(), pm)
        && series[1].matches(tn.as_deref(), tm)
        && series[0].labels != series[1].labels;
    if ok { Ok(series) } else { Err(fail_part()) }
}

// ---- the simulation ----

/// Events per step over a run of steps.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    steps: u64,
    total: f64,
    bad: f64,
}

/// Traffic over time, sampled every `interval`.
#[derive(Debug, Clone)]
struct Timeline {
    segments: Vec<Segment>,
}

impl Timeline {
    /// The segment the increment into `step` (from step-1) belongs to.
    fn segment_of(&self, step: u64) -> usize {
        let mut end = 0;
        for (i, s) in self.segments.iter().enumerate() {
            end += s.steps;
            if step <= end {
                return i;
            }
        }
        self.segments.len().saturating_sub(1)
    }
    fn start_of(&self, seg: usize) -> u64 {
        self.segments[..seg].iter().map(|s| s.steps).sum()
    }
    /// (total, bad) counter values at a step.
    fn at(&self, step: u64) -> (f64, f64) {
        let (mut t, mut b, mut left) = (0.0, 0.0, step);
        for s in &self.segments {
            let n = left.min(s.steps);
            t += s.total * n as f64;
            b += s.bad * n as f64;
            left -= n;
        }
        (t, b)
    }
}

/// What one window shows at one evaluation: events, errors, and the relative
/// uncertainty from the window's edges.
#[derive(Debug, Clone, Copy)]
struct Window {
    total: f64,
    bad: f64,
    uncertainty: f64,
}

fn window(tl: &Timeline, step: u64, w: Duration, interval: Duration) -> Window {
    let w_steps = w.as_secs_f64() / interval.as_secs_f64();
    let first = (step as f64 - w_steps).ceil().max(0.0) as u64;
    let (t1, b1) = tl.at(step);
    let (t0, b0) = tl.at(first);
    let exact = step == first || {
        let seg = tl.segment_of(first + 1);
        let same = (first + 1..=step).all(|s| tl.segment_of(s) == seg);
        same && (first == 0 || first >= tl.start_of(seg) + 2) && w_steps.fract() == 0.0
    };
    Window {
        total: t1 - t0,
        bad: b1 - b0,
        uncertainty: if exact { 0.0 } else { 3.0 / w_steps.max(1.0) },
    }
}

/// A prediction that holds whatever the edges.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fires {
    Yes(f64),
    No,
    Unknown,
}

/// `x > threshold`, allowing for relative uncertainty `u` in `x`.
fn above(x: f64, u: f64, threshold: f64) -> Option<bool> {
    const MARGIN: f64 = 1e-6;
    if !x.is_finite() {
        return Some(false);
    }
    if x * (1.0 - u) > threshold * (1.0 + MARGIN) {
        Some(true)
    } else if x * (1.0 + u) < threshold * (1.0 - MARGIN) {
        Some(false)
    } else {
        None
    }
}

fn burn(r: &SloRules, b: &crate::rules::BurnRule, tl: &Timeline, step: u64) -> Fires {
    let budget = r.slo.budget();
    let long = window(tl, step, b.condition.long, r.interval);
    let short = window(tl, step, b.condition.short, r.interval);
    let burn_of = |w: &Window| (w.bad / w.total) / budget;
    let checks = [
        above(burn_of(&long), long.uncertainty, b.condition.factor),
        above(burn_of(&short), short.uncertainty, b.condition.factor),
        if r.slo.min_events > 0.0 {
            // `>=`: fires at the minimum itself.
            above(
                long.total,
                long.uncertainty,
                r.slo.min_events * (1.0 - 1e-4),
            )
        } else {
            Some(true)
        },
    ];
    if checks.contains(&Some(false)) {
        return Fires::No;
    }
    if checks.contains(&None) {
        return Fires::Unknown;
    }
    let v = burn_of(&long);
    let lo = format!("{:.1}", v * (1.0 - long.uncertainty - 1e-9));
    let hi = format!("{:.1}", v * (1.0 + long.uncertainty + 1e-9));
    if lo == hi {
        Fires::Yes(v)
    } else {
        Fires::Unknown
    }
}

// ---- the file ----

#[derive(Serialize)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: String,
    tests: Vec<TestGroup>,
}

#[derive(Serialize)]
struct TestGroup {
    name: String,
    interval: String,
    input_series: Vec<InputSeries>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    alert_rule_test: Vec<AlertTest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    promql_expr_test: Vec<ExprTest>,
}

#[derive(Serialize)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Serialize)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Serialize)]
struct ExpAlert {
    exp_labels: BTreeMap<String, String>,
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ExprTest {
    expr: String,
    eval_time: String,
    exp_samples: Vec<ExpSample>,
}

#[derive(Serialize)]
struct ExpSample {
    labels: String,
    value: f64,
}

/// A counter's values in promtool's expanding notation.
fn values(tl: &Timeline, role: Role) -> String {
    let mut parts = vec!["0".to_owned()];
    let mut v = 0.0;
    for s in &tl.segments {
        let inc = match role {
            Role::Total => s.total,
            Role::Good => s.total - s.bad,
            Role::Bad => s.bad,
        };
        if s.steps == 0 {
            continue;
        }
        parts.push(format!(
            "{}{}{}x{}",
            fmt_num(v + inc),
            if inc < 0.0 { "-" } else { "+" },
            fmt_num(inc.abs()),
            s.steps - 1
        ));
        v += inc * s.steps as f64;
    }
    parts.join(" ")
}

/// Renders the annotation templates the generator writes.
pub(crate) fn render(
    slo: &str,
    annotations: &BTreeMap<String, String>,
    value: Option<f64>,
) -> Result<BTreeMap<String, String>, TestGenError> {
    annotations
        .iter()
        .map(|(k, v)| {
            let mut s = v.clone();
            if let Some(x) = value {
                s = s.replace("{{ printf \"%.1f\" $value }}", &format!("{x:.1}"));
            }
            if s.contains("{{") {
                return Err(TestGenError::Template {
                    slo: slo.to_owned(),
                    key: k.clone(),
                    value: v.clone(),
                });
            }
            Ok((k.clone(), s))
        })
        .collect()
}

struct Scenario {
    name: String,
    timeline: Timeline,
    /// Steps at which to assert (multiples of the evaluation grid).
    checks: Vec<u64>,
}

/// Clean traffic for `warm` steps, errors at `bad` per step until step
/// `t1`, then clean traffic for `after` more steps.
fn phases(rate: f64, warm: u64, bad: f64, t1: u64, after: u64) -> Timeline {
    let mut segments = vec![
        Segment {
            steps: warm,
            total: rate,
            bad: 0.0,
        },
        Segment {
            steps: t1 - warm,
            total: rate,
            bad,
        },
    ];
    if after > 0 {
        segments.push(Segment {
            steps: after,
            total: rate,
            bad: 0.0,
        });
    }
    Timeline { segments }
}

/// The shortest short window of the SLO's burn-rate alerts (its interval
/// when it has none).
fn shortest_short(r: &SloRules) -> Duration {
    r.burns
        .iter()
        .map(|b| b.condition.short)
        .min()
        .unwrap_or(r.interval)
}

/// Steps between evaluations: promtool evaluates every group on one grid,
/// as coarse as the shortest alert window allows.
fn eval_steps(r: &SloRules) -> u64 {
    ((shortest_short(r).as_secs_f64() / r.interval.as_secs_f64()).floor() as u64).max(1)
}

/// Whether every burn alert's state is predictable at every check.
fn decisive(r: &SloRules, sc: &Scenario) -> bool {
    sc.checks.iter().all(|&step| {
        r.burns
            .iter()
            .all(|b| burn(r, b, &sc.timeline, step) != Fires::Unknown)
    })
}

/// The "above" and "below" scenarios of one burn alert, with the shortest
/// clean warm-up that makes every check predictable.
fn threshold_scenarios(r: &SloRules, b: &crate::rules::BurnRule, rate: f64) -> Vec<Scenario> {
    let i = r.interval.as_secs_f64();
    let steps = |d: Duration| (d.as_secs_f64() / i).ceil() as u64;
    let e = eval_steps(r);
    let grid = |step: u64| step.div_ceil(e) * e;
    let c = &b.condition;
    let (l, s) = (steps(c.long), steps(c.short));
    let mut warmups: Vec<u64> = [s, l]
        .into_iter()
        .chain(r.burns.iter().map(|o| steps(o.condition.long)))
        .map(|w| w + 2)
        .collect();
    warmups.sort();
    warmups.dedup();
    let label = format!(
        "{} {}x over {} and {}",
        c.severity.as_str(),
        fmt_num(c.factor),
        promql_duration(c.long),
        promql_duration(c.short)
    );
    let mut out = Vec::new();
    for (k, how) in [(1.04, "4% above"), (0.96, "4% below")] {
        let ratio = c.factor * r.slo.budget() * k;
        if ratio > 1.0 {
            continue;
        }
        let bad = (rate * ratio).round();
        let build = |warm: u64| {
            let t0 = warm;
            let fire = grid(t0 + l + 2);
            let t1 = fire + 1;
            let (checks, after) = if k > 1.0 {
                let recovered = grid(t1 + s + 2);
                (
                    vec![(t0 - 1) / e * e, grid(t0 + s + 2), fire, recovered],
                    recovered + 1 - t1,
                )
            } else {
                (vec![fire], 0)
            };
            Scenario {
                name: format!(
                    "{label}: error ratio {how} the threshold from {}",
                    promql_duration(r.interval * t0 as u32)
                ),
                timeline: phases(rate, warm, bad, t1, after),
                checks,
            }
        };
        let chosen = warmups
            .iter()
            .map(|&w| build(w))
            .find(|sc| decisive(r, sc))
            .unwrap_or_else(|| build(warmups.last().copied().unwrap_or(l + 2)));
        out.push(chosen);
    }
    // A burst far enough above the threshold that the long window still
    // burns after it ends: the clean short window must end the alert.
    let build_burst = |warm: u64| {
        let t0 = warm;
        let fire = grid(t0 + l + 2);
        let t1 = fire + 1;
        let recovered = grid(t1 + s + 2);
        let d = recovered - t1;
        if d >= l {
            return None;
        }
        let k = 1.25 * l as f64 / (l - d) as f64;
        let ratio = c.factor * r.slo.budget() * k;
        if ratio > 1.0 {
            return None;
        }
        let bad = (rate * ratio).round();
        Some(Scenario {
            name: format!(
                "{label}: a burst at {}x the threshold from {} to {}, then none: the alert ends with the short window",
                fmt_num((k * 100.0).round() / 100.0),
                promql_duration(r.interval * t0 as u32),
                promql_duration(r.interval * t1 as u32)
            ),
            timeline: phases(rate, warm, bad, t1, recovered + 1 - t1),
            checks: vec![fire, recovered],
        })
    };
    if let Some(sc) = warmups
        .iter()
        .filter_map(|&w| build_burst(w))
        .find(|sc| decisive(r, sc))
    {
        out.push(sc);
    }
    out
}

fn scenarios(r: &SloRules) -> Vec<Scenario> {
    let i = r.interval.as_secs_f64();
    let steps = |d: Duration| (d.as_secs_f64() / i).ceil() as u64;
    let e = eval_steps(r);
    let grid = |step: u64| step.div_ceil(e) * e;
    // Whole numbers of events per step keep every counter value exact in
    // floating point (a value a hair lower than the one before would be a
    // counter reset); 1e8 per step leaves room for ratios down to 1e-6.
    const RATE: f64 = 1e8;
    let mut out: Vec<Scenario> = r
        .burns
        .iter()
        .flat_map(|b| threshold_scenarios(r, b, RATE))
        .collect();
    let shortest_long = r
        .burns
        .iter()
        .map(|b| steps(b.condition.long))
        .min()
        .unwrap_or(1);
    // No traffic at all: counters exist but do not move.
    let quiet = grid(shortest_long + 2);
    out.push(Scenario {
        name: "no traffic: no burn-rate alert".into(),
        timeline: Timeline {
            segments: vec![Segment {
                steps: quiet + 1,
                total: 0.0,
                bad: 0.0,
            }],
        },
        checks: vec![grid(quiet / 2), quiet],
    });
    if r.slo.min_events > 0.0 {
        let n = (r.slo.min_events / 2.0).floor().max(1.0);
        if n < r.slo.min_events {
            let check = grid(quiet + 2);
            out.push(Scenario {
                name: format!(
                    "{} failed requests, fewer than min_events ({}): no burn-rate alert",
                    fmt_num(n),
                    fmt_num(r.slo.min_events)
                ),
                timeline: Timeline {
                    segments: vec![
                        Segment {
                            steps: quiet,
                            total: 0.0,
                            bad: 0.0,
                        },
                        Segment {
                            steps: 1,
                            total: n,
                            bad: n,
                        },
                        Segment {
                            steps: check + 1 - (quiet + 1),
                            total: 0.0,
                            bad: 0.0,
                        },
                    ],
                },
                checks: vec![check],
            });
        }
    }
    out
}

/// promtool's unit tests refuse a query that loads more samples than this
/// (a fixed limit of its query engine, not a flag).
pub(crate) const PROMTOOL_MAX_SAMPLES: u64 = 10_000;

/// The fewest input samples the shortest short window must hold.
const MIN_SHORT_STEPS: u32 = 4;

/// The rules as the tests step through them: input sampled at the alert
/// group's interval, or at the smallest whole multiple of it at which the
/// longest scenario holds fewer samples of all input series together than
/// promtool loads in one query (a long window, or a rolling period's range,
/// reads every sample of the series it selects). Only periods longer than
/// about a month need it (a quarter's longest window is 9 days).
fn stepped(r: &SloRules, series: usize) -> Result<SloRules, TestGenError> {
    // The coarsest multiple that leaves the shortest short window its
    // samples (the rules' own interval in any case); it is at most that
    // window, so the product cannot overflow.
    let coarsest = (shortest_short(r).as_secs_f64()
        / (r.interval.as_secs_f64() * f64::from(MIN_SHORT_STEPS)))
    .floor()
    .max(1.0) as u32;
    let mut s = r.clone();
    let mut most = 0;
    for k in 1..=coarsest {
        s.interval = r.interval * k;
        most = samples(&s, series);
        if most < PROMTOOL_MAX_SAMPLES {
            return Ok(s);
        }
    }
    Err(TestGenError::Samples {
        slo: r.slo.name.clone(),
        samples: most,
        max: PROMTOOL_MAX_SAMPLES,
    })
}

/// The most samples that `series` input series hold together in one
/// scenario (each has one more sample than its timeline has steps).
fn samples(r: &SloRules, series: usize) -> u64 {
    scenarios(r)
        .iter()
        .map(|sc| sc.timeline.segments.iter().map(|g| g.steps).sum::<u64>() + 1)
        .max()
        .unwrap_or(0)
        .saturating_mul(series as u64)
}

pub(crate) fn labels_text(name: &str, labels: &BTreeMap<String, String>) -> String {
    Series {
        name: name.into(),
        labels: labels.clone(),
        role: Role::Total,
    }
    .text()
}

/// The promtool test file of one SLO, testing the rules in `rule_file`
/// (a path relative to the test file).
pub fn unit_tests(r: &SloRules, rule_file: &str, header: &str) -> Result<String, TestGenError> {
    if let Some(t) = r.slo.timeslices {
        return slicetest::unit_tests(r, t, rule_file, header);
    }
    let series = input_series(r)?;
    let stepped = stepped(r, series.len())?;
    let r = &stepped;
    let interval = promql_duration(r.interval);
    let at = |step: u64| promql_duration(r.interval * step as u32);
    let burn_alert = |tl: &Timeline, step: u64| -> Result<Option<AlertTest>, TestGenError> {
        let mut exp = Vec::new();
        for b in &r.burns {
            match burn(r, b, tl, step) {
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
            eval_time: at(step),
            alertname: r.alert.clone(),
            exp_alerts: exp,
        }))
    };
    let mut tests = Vec::new();
    for sc in scenarios(r) {
        let mut alert_rule_test = Vec::new();
        for &step in &sc.checks {
            if let Some(t) = burn_alert(&sc.timeline, step)? {
                alert_rule_test.push(t);
            }
            if let Some(a) = &r.absent
                && a.alert != r.alert
            {
                alert_rule_test.push(AlertTest {
                    eval_time: at(step),
                    alertname: a.alert.clone(),
                    exp_alerts: vec![],
                });
            }
        }
        let mut promql_expr_test = Vec::new();
        if sc.name.starts_with("no traffic") {
            for (name, value) in [
                ("slo:objective:ratio", r.slo.objective),
                ("slo:error_budget:ratio", r.slo.budget()),
                ("slo:period:seconds", r.slo.period.as_secs_f64()),
            ] {
                let sel = labels_text(name, &r.series_labels);
                promql_expr_test.push(ExprTest {
                    expr: format!("{name}{{slo=\"{}\"}}", r.slo.name),
                    eval_time: at(eval_steps(r)),
                    exp_samples: vec![ExpSample {
                        labels: sel,
                        value: fmt_num(value).parse().unwrap_or(value),
                    }],
                });
            }
        }
        if let Some(&first) = sc.checks.first()
            && sc.timeline.at(first).1 == 0.0
            && sc.timeline.at(first).0 > 0.0
        {
            // Clean traffic so far: exact zeros and a full budget.
            let period = promql_duration(r.slo.period);
            let short =
                promql_duration(r.burns.first().map_or(r.slo.period, |b| b.condition.short));
            // A calendar period counts whole hours only (its own tests are
            // in slo/tests/it/calendar.rs).
            let period_checks = if r.slo.calendar.is_some() {
                vec![]
            } else {
                vec![
                    (format!("slo:sli_error:ratio_rate{period}"), 0.0),
                    ("slo:error_budget_remaining:ratio".to_owned(), 1.0),
                ]
            };
            for (name, value) in std::iter::once((format!("slo:sli_error:ratio_rate{short}"), 0.0))
                .chain(period_checks)
            {
                promql_expr_test.push(ExprTest {
                    expr: format!("{name}{{slo=\"{}\"}}", r.slo.name),
                    eval_time: at(first),
                    exp_samples: vec![ExpSample {
                        labels: labels_text(&name, &r.series_labels),
                        value,
                    }],
                });
            }
        }
        tests.push(TestGroup {
            name: sc.name.clone(),
            interval: interval.clone(),
            input_series: series
                .iter()
                .map(|s| InputSeries {
                    series: s.text(),
                    values: values(&sc.timeline, s.role),
                })
                .collect(),
            alert_rule_test,
            promql_expr_test,
        });
    }
    if let Some(a) = &r.absent {
        let e = eval_steps(r);
        let for_steps = (a.for_.as_secs_f64() / r.interval.as_secs_f64()).ceil() as u64;
        let (pending, firing) = (for_steps / 2 / e * e, (for_steps + 2).div_ceil(e) * e);
        let mut labels = a.result_labels.clone();
        labels.extend(a.labels.clone());
        let fired = AlertTest {
            eval_time: at(firing),
            alertname: a.alert.clone(),
            exp_alerts: vec![ExpAlert {
                exp_labels: labels,
                exp_annotations: render(&r.slo.name, &a.annotations, None)?,
            }],
        };
        let mut checks = vec![
            AlertTest {
                eval_time: at(pending),
                alertname: a.alert.clone(),
                exp_alerts: vec![],
            },
            fired,
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
                values: format!("1x{}", firing + 1),
            }],
            alert_rule_test: checks,
            promql_expr_test: vec![],
        });
    }
    let file = TestFile {
        rule_files: vec![rule_file.to_owned()],
        evaluation_interval: promql_duration(r.interval * eval_steps(r) as u32),
        tests,
    };
    Ok(crate::yaml::document(header, &file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::slo_rules;
    use std::path::Path;

    fn rules(spec: &str, n: usize) -> SloRules {
        let s = crate::spec::parse(spec, Path::new("spec.yaml")).unwrap();
        slo_rules(&s, &s.slos[n]).unwrap()
    }

    const SPEC: &str = r#"
version: slo/v1
service: shop
slos:
  - name: availability
    objective: 99.9
    min_events: 10
    sli: {availability: {selector: '{job="shop", http_route=~"/api/.*"}'}}
    alerting: {absent: true}
  - name: checkout
    objective: 99
    period: 28d
    sli: {ratio: {good: 'reqs_total{code!~"5.."}', total: 'reqs_total{job="shop"}'}}
  - name: ev
    objective: 99
    sli: {events: {error_query: 'sum(rate(e[{{.window}}]))', total_query: 'sum(rate(t[{{.window}}]))'}}
"#;

    #[test]
    fn regex_examples_match() {
        for re in ["/api/.*", "5..", "(GET|POST)", "[a-z]+-[0-9]{2}", "x?y+"] {
            let ex = regex_example(re).unwrap();
            let (_, m) = selector_matchers(&format!("x{{l=~{re:?}}}")).unwrap();
            assert!(m[0].is_match(&ex), "{re} -> {ex}");
        }
    }

    #[test]
    fn series_satisfy_the_selectors() {
        let r = rules(SPEC, 0);
        let s = input_series(&r).unwrap();
        assert_eq!(s[0].labels["http_route"], "/api/");
        assert_eq!(s[1].labels["http_response_status_code"], "500");
        let r = rules(SPEC, 1);
        let s = input_series(&r).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels.get("job").map(String::as_str), Some("shop"));
        assert_eq!(s[1].labels["code"], "500", "{:?}", s[1]);
        assert!(!s[0].labels.contains_key("code"), "{:?}", s[0]);
        // Events on two metrics: one counter each.
        let s = input_series(&rules(SPEC, 2)).unwrap();
        assert_eq!((s[0].name.as_str(), s[0].role), ("e", Role::Bad));
        assert_eq!((s[1].name.as_str(), s[1].role), ("t", Role::Total));
    }

    fn events(error_query: &str, total_query: &str) -> SloRules {
        let spec = format!(
            "version: slo/v1\nservice: shop\nslos:\n  - name: ev\n    objective: 99\n    sli:\n      events:\n        error_query: '{error_query}'\n        total_query: '{total_query}'\n"
        );
        rules(&spec, 0)
    }

    #[test]
    fn events_selectors_are_solved_inside_their_queries() {
        // One metric, errors a part of it, as Sloth writes them.
        let r = events(
            r#"(sum(rate(reqs_total{job="shop",code=~"(5..|429)"}[{{.window}}]))) or vector(0)"#,
            r#"sum(rate(reqs_total{job="shop"}[{{.window}}]))"#,
        );
        let s = input_series(&r).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].role, Role::Bad);
        assert_eq!(s[0].labels["code"], "500");
        assert_eq!(s[1].role, Role::Good);
        let (_, errors) = selector_matchers(r#"reqs_total{code=~"(5..|429)"}"#).unwrap();
        assert!(!s[1].matches(None, &errors), "{:?}", s[1]);
        for x in &s {
            assert_eq!(x.name, "reqs_total");
            assert_eq!(x.labels["job"], "shop");
        }
        let text = unit_tests(&r, "shop.rules.yml", "").unwrap();
        assert!(
            text.contains("series: reqs_total{code=\"500\", job=\"shop\"}"),
            "{text}"
        );
    }

    #[test]
    fn unsolvable_events_queries_are_refused_with_the_reason() {
        for (error_query, total_query, which, why) in [
            (
                "sum by (code) (rate(e[{{.window}}]))",
                "sum(rate(t[{{.window}}]))",
                "error_query",
                "a sum by or without labels",
            ),
            (
                "sum(rate(e[{{.window}}]))",
                "sum(rate(t[{{.window}}])) + sum(rate(u[{{.window}}]))",
                "total_query",
                "want sum(rate(SELECTOR[{{.window}}]))",
            ),
            (
                "sum(increase(e[{{.window}}]))",
                "sum(rate(t[{{.window}}]))",
                "error_query",
                "the sum must be of rate(SELECTOR[{{.window}}])",
            ),
            (
                "sum(rate(e[{{.window}}] offset 1h))",
                "sum(rate(t[{{.window}}]))",
                "error_query",
                "offset",
            ),
            // Errors that no series can count apart from the total.
            (
                "sum(rate(t{code=~\".*\"}[{{.window}}]))",
                "sum(rate(t[{{.window}}]))",
                "",
                "no series satisfies",
            ),
        ] {
            let e = input_series(&events(error_query, total_query))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("slo \"ev\": "), "{e}");
            assert!(e.contains(which) && e.contains(why), "{error_query}: {e}");
            assert!(e.contains("write its tests by hand"), "{e}");
        }
    }

    #[test]
    fn values_use_the_expanding_notation() {
        let tl = Timeline {
            segments: vec![
                Segment {
                    steps: 3,
                    total: 10.0,
                    bad: 0.0,
                },
                Segment {
                    steps: 2,
                    total: 10.0,
                    bad: 2.5,
                },
            ],
        };
        assert_eq!(values(&tl, Role::Total), "0 10+10x2 40+10x1");
        assert_eq!(values(&tl, Role::Bad), "0 0+0x2 2.5+2.5x1");
        assert_eq!(values(&tl, Role::Good), "0 10+10x2 37.5+7.5x1");
        assert_eq!(tl.at(5), (50.0, 5.0));
    }

    /// Every burn alert is shown firing just above its threshold, not firing
    /// just below it, and not firing on its short window alone.
    #[test]
    fn every_alert_has_decisive_cases() {
        let r = rules(SPEC, 0);
        for sc in scenarios(&r) {
            for &step in &sc.checks {
                let states: Vec<Fires> = r
                    .burns
                    .iter()
                    .map(|b| burn(&r, b, &sc.timeline, step))
                    .collect();
                assert!(
                    !states.contains(&Fires::Unknown),
                    "{} at step {step}: {states:?}",
                    sc.name
                );
            }
        }
        for (n, b) in r.burns.iter().enumerate() {
            let sc = scenarios(&r);
            let above = &sc[3 * n];
            let below = &sc[3 * n + 1];
            let burst = &sc[3 * n + 2];
            assert!(burst.name.contains("burst"), "{}", burst.name);
            let fires = |sc: &Scenario, k: usize| burn(&r, b, &sc.timeline, sc.checks[k]);
            assert!(matches!(fires(burst, 0), Fires::Yes(_)), "{}", burst.name);
            assert_eq!(fires(burst, 1), Fires::No, "{}", burst.name);
            // ... while the long window alone would still fire.
            let long = window(
                &burst.timeline,
                burst.checks[1],
                b.condition.long,
                r.interval,
            );
            assert!(
                long.bad / long.total / r.slo.budget() > b.condition.factor * 1.05,
                "{}",
                burst.name
            );
            let fires = |sc: &Scenario, k: usize| burn(&r, b, &sc.timeline, sc.checks[k]);
            assert_eq!(fires(above, 0), Fires::No, "{}", above.name);
            assert_eq!(fires(above, 1), Fires::No, "{}", above.name);
            assert!(matches!(fires(above, 2), Fires::Yes(_)), "{}", above.name);
            assert_eq!(fires(above, 3), Fires::No, "{}", above.name);
            assert_eq!(fires(below, 0), Fires::No, "{}", below.name);
        }
    }

    #[test]
    fn input_is_stepped_coarser_only_past_promtools_sample_limit() {
        // 30 days: the rules' own interval, just under the limit.
        let month = rules(SPEC, 1);
        assert_eq!(input_series(&month).unwrap().len(), 2);
        let stepped_month = stepped(&month, 2).unwrap();
        assert_eq!(stepped_month.interval, month.interval);
        assert!(samples(&month, 2) < PROMTOOL_MAX_SAMPLES);
        // 90 days: its 9-day window at 1m would hold 12,960 samples a series.
        let quarter = rules(&SPEC.replace("period: 28d", "period: 90d"), 1);
        assert_eq!(quarter.interval, Duration::from_secs(60));
        assert!(samples(&quarter, 2) > PROMTOOL_MAX_SAMPLES);
        let stepped_quarter = stepped(&quarter, 2).unwrap();
        assert_eq!(stepped_quarter.interval, Duration::from_secs(180));
        assert!(samples(&stepped_quarter, 2) < PROMTOOL_MAX_SAMPLES);
        // Every alert keeps its above, below and burst cases.
        let text = unit_tests(&quarter, "shop.rules.yml", "").unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(v["tests"].as_array().unwrap().len(), 4 * 3 + 1, "{text}");
        assert_eq!(v["tests"][0]["interval"], "3m");
        // A year steps every 12m; with fifty input series no step that
        // leaves its 1h50s short window four samples fits.
        let year = rules(&SPEC.replace("period: 28d", "period: 365d"), 1);
        assert_eq!(
            stepped(&year, 2).unwrap().interval,
            Duration::from_secs(720)
        );
        let e = stepped(&year, 50).unwrap_err();
        assert!(
            matches!(e, TestGenError::Samples { max: 10_000, samples, .. } if samples >= 10_000),
            "{e}"
        );
        assert!(e.to_string().contains("write its tests by hand"), "{e}");
    }

    #[test]
    fn the_file_names_every_case() {
        let r = rules(SPEC, 0);
        let text = unit_tests(&r, "shop.rules.yml", "# test\n").unwrap();
        assert!(
            text.starts_with("# test\nrule_files:\n- shop.rules.yml\n"),
            "{text}"
        );
        assert!(text.contains("ShopAvailabilitySLIAbsent"));
        assert!(text.contains("fewer than min_events (10)"));
        assert!(text.contains("x as fast as the objective allows"));
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(v["tests"].as_array().unwrap().len(), 4 * 3 + 3);
    }
}
