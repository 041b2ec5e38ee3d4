//! Prometheus rules for a service's SLOs: exact SLI recording rules,
//! multi-window multi-burn-rate alerts, and an optional absent-data alert.
//!
//! Per SLO, one group evaluated every `interval` (a fifth of the shortest
//! alert window, at most 1m) records, for each alert window `W`:
//!
//! - `slo:sli_errors:increaseW` and `slo:sli_events:increaseW`: failed and
//!   total events over `W` (sums of `increase()`);
//! - `slo:sli_error:ratio_rateW`: their ratio, so every window's SLI is exact;
//!
//! then the objective metadata, then the alerts, which read the recordings
//! of the same evaluation. A second group, evaluated less often, records the
//! same three series over the whole period and the budget remaining.
//!
//! A time-slice SLO's alert group is evaluated every slice and first records
//! the slice's value (`slo:slice_good:ratio`); each window records the share
//! of bad slices as `slo:sli_error:ratio_rateW`, so the alerts, the budget
//! and the dashboard read the same names, and the period also its counted
//! and bad slices (`slo:sli_slices:countP`, `slo:sli_bad_slices:countP`;
//! see [`crate::timeslices`]).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{AlertSpec, Service, Sli, Slo};
use crate::promql::{self, braces};
use crate::windows::{BurnAlert, Severity, burn_alerts, promql_duration};

/// A rule group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub interval: Duration,
    pub rules: Vec<Rule>,
}

/// A recording or alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Record {
        record: String,
        expr: String,
        labels: BTreeMap<String, String>,
    },
    Alert {
        alert: String,
        expr: String,
        for_: Option<Duration>,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    },
}

/// One burn-rate alert rule of an SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct BurnRule {
    pub condition: BurnAlert,
    pub expr: String,
    /// The rule's own labels (the series add the SLO's).
    pub labels: BTreeMap<String, String>,
    /// Templates; `$value` is the long window's burn rate.
    pub annotations: BTreeMap<String, String>,
}

/// The absent-data alert of an SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct AbsentRule {
    pub alert: String,
    pub expr: String,
    pub for_: Duration,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Labels `absent()` itself puts on its result (the selector's `=` matchers).
    pub result_labels: BTreeMap<String, String>,
}

/// Everything generated for one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct SloRules {
    pub slo: Slo,
    /// Labels on every recorded series of this SLO.
    pub series_labels: BTreeMap<String, String>,
    pub alert: String,
    pub burns: Vec<BurnRule>,
    pub absent: Option<AbsentRule>,
    /// How often the alert group is evaluated.
    pub interval: Duration,
    /// How often the period group is evaluated.
    pub period_interval: Duration,
    pub groups: Vec<Group>,
}

/// Errors building rules.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(
        "slos {first:?} and {second:?} both make alerts named {alert:?}: give one an alerting.name of its own"
    )]
    DuplicateAlert {
        alert: String,
        first: String,
        second: String,
    },
    /// A calendar period whose zone the rules cannot follow.
    #[error("slo {slo:?}: {source}")]
    Calendar {
        slo: String,
        source: crate::calendar::NoYearlyRule,
    },
    #[error("slo {slo:?}: generated PromQL does not parse: {expr}: {message}")]
    Query {
        slo: String,
        expr: String,
        message: String,
    },
}

pub use crate::promql::fmt_num;

/// `target-app` -> `TargetApp`.
fn camel(s: &str) -> String {
    s.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The selector of an SLO's recorded series.
fn series_selector(service: &str, slo: &str) -> String {
    format!("{{slo=\"{slo}\", slo_service=\"{service}\"}}")
}

/// The series whose absence means the SLI has no data.
pub fn presence(slo: &Slo) -> String {
    match &slo.sli {
        Sli::Availability { selector } => {
            format!(
                "http_server_request_duration_seconds_count{}",
                braces(selector)
            )
        }
        Sli::Latency {
            metric, selector, ..
        } => format!("{metric}_count{}", braces(selector)),
        Sli::Ratio { total, .. } => total.clone(),
        Sli::Events { total_query, .. } => {
            let short = burn_alerts(slo.period)[0].short;
            total_query.replace("{{.window}}", &promql_duration(short))
        }
    }
}

/// Labels `absent(expr)` gives its result: the `=` matchers of a plain
/// selector, except labels matched twice.
fn absent_labels(expr: &str) -> BTreeMap<String, String> {
    use promql_parser::label::MatchOp;
    use promql_parser::parser::Expr;
    let mut out = BTreeMap::new();
    let Ok(Expr::VectorSelector(v)) = promql_parser::parser::parse(expr) else {
        return out;
    };
    let mut seen = BTreeMap::<String, usize>::new();
    for m in &v.matchers.matchers {
        *seen.entry(m.name.clone()).or_default() += 1;
    }
    for m in &v.matchers.matchers {
        // Prometheus drops empty-valued labels.
        if matches!(m.op, MatchOp::Equal)
            && m.name != "__name__"
            && !m.value.is_empty()
            && seen[&m.name] == 1
        {
            out.insert(m.name.clone(), m.value.clone());
        }
    }
    out
}

fn spec_labels(spec: &AlertSpec, common: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut l = common.clone();
    l.extend(spec.labels.clone());
    l
}

/// Rounds to whole seconds, at least one.
fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs_f64().round().max(1.0) as u64)
}

fn check(slo: &Slo, expr: &str) -> Result<(), RulesError> {
    promql::check(expr).map_err(|message| RulesError::Query {
        slo: slo.name.clone(),
        expr: expr.to_owned(),
        message,
    })
}

fn record(name: &str, expr: String, labels: &BTreeMap<String, String>) -> Rule {
    Rule::Record {
        record: name.to_owned(),
        expr,
        labels: labels.clone(),
    }
}

/// The three recordings of one window.
fn window_rules(slo: &Slo, w: Duration, sel: &str, labels: &BTreeMap<String, String>) -> Vec<Rule> {
    if slo.timeslices.is_some() {
        let records = if w == slo.period {
            crate::timeslices::period_records(w, sel)
        } else {
            crate::timeslices::window_records(w, sel)
        };
        return records
            .into_iter()
            .map(|(name, expr)| record(&name, expr, labels))
            .collect();
    }
    let q = crate::timeslices::slo_events(slo, w);
    let d = promql_duration(w);
    vec![
        // No 5xx series yet means no errors, not no data (the other kinds
        // subtract good events, already 0 when their series is missing).
        record(
            &format!("slo:sli_errors:increase{d}"),
            if matches!(slo.sli, Sli::Availability { .. }) {
                format!("{} or vector(0)", q.errors)
            } else {
                q.errors
            },
            labels,
        ),
        record(&format!("slo:sli_events:increase{d}"), q.total, labels),
        record(
            &format!("slo:sli_error:ratio_rate{d}"),
            format!("slo:sli_errors:increase{d}{sel}\n/\nslo:sli_events:increase{d}{sel}"),
            labels,
        ),
    ]
}

/// The step of a calendar period's sums: each step's increase covers the
/// hour before it, and steps are aligned to whole hours (so to every local
/// midnight in a zone whose offsets are whole hours). The current hour is
/// counted once it is over.
pub const CALENDAR_STEP: Duration = Duration::from_secs(3_600);

/// How far back a calendar period's sums look: more than the longest
/// period (plus an hour of daylight saving and a step), less than the two
/// shortest before it, so only the current period's steps have its index
/// modulo 3.
pub fn calendar_lookback(unit: crate::calendar::Unit) -> Duration {
    use crate::calendar::Unit;
    let days = match unit {
        Unit::Week => 8,
        Unit::Month => 32,
        Unit::Quarter => 93,
    };
    Duration::from_secs(days * 86_400)
}

/// The period recordings of a calendar SLO, under the names of its nominal
/// period so that everything reading them works unchanged: the events (for
/// a time-slice SLO, the counted and bad slices) of the current month, week
/// or quarter so far, which start again from zero at each boundary. Each is a subquery summing the increase over every
/// hour of the lookback, grouped by the step's period index modulo
/// 3 (computed in the zone's local time, at one second into the step's
/// interval), of which the group of the evaluation time's own index is
/// kept. See slo/README.md, "Calendar periods".
fn calendar_window_rules(
    slo: &Slo,
    c: &crate::calendar::Calendar,
    sel: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Vec<Rule>, RulesError> {
    let local = c
        .local(CALENDAR_STEP)
        .map_err(|source| RulesError::Calendar {
            slo: slo.name.clone(),
            source,
        })?;
    let step_index = crate::calendar::period_residue_promql(c.unit, local, 1);
    let now_index = crate::calendar::period_residue_promql(c.unit, local, 0);
    let lookback = promql_duration(calendar_lookback(c.unit));
    let step = promql_duration(CALENDAR_STEP);
    let sum = |inner: &str| {
        format!(
            "sum without (slo_period) (\n  sum_over_time(\n    (\n      ({inner})\n      * on () group_left (slo_period)\n      count_values(\"slo_period\", {step_index})\n    )[{lookback}:{step}]\n  )\n  and on (slo_period)\n  count_values(\"slo_period\", {now_index})\n)"
        )
    };
    let d = promql_duration(slo.period);
    if slo.timeslices.is_some() {
        // The recorded slices of each hour, by the sample's time: a slice
        // belongs to the period in which it ends.
        return Ok(
            crate::timeslices::calendar_period_records(slo.period, CALENDAR_STEP, sel, sum)
                .into_iter()
                .map(|(name, expr)| record(&name, expr, labels))
                .collect(),
        );
    }
    let q = crate::timeslices::slo_events(slo, CALENDAR_STEP);
    let errors = sum(&q.errors);
    Ok(vec![
        record(
            &format!("slo:sli_errors:increase{d}"),
            if matches!(slo.sli, Sli::Availability { .. }) {
                format!("{errors}\nor vector(0)")
            } else {
                errors
            },
            labels,
        ),
        record(
            &format!("slo:sli_events:increase{d}"),
            sum(&q.total),
            labels,
        ),
        record(
            &format!("slo:sli_error:ratio_rate{d}"),
            format!("slo:sli_errors:increase{d}{sel}\n/\nslo:sli_events:increase{d}{sel}"),
            labels,
        ),
    ])
}

/// Builds the rules of one SLO.
pub fn slo_rules(service: &Service, slo: &Slo) -> Result<SloRules, RulesError> {
    let sel = series_selector(&service.name, &slo.name);
    let mut series_labels = service.labels.clone();
    series_labels.extend(slo.labels.clone());
    series_labels.insert("slo_service".into(), service.name.clone());
    series_labels.insert("slo".into(), slo.name.clone());

    let conditions = burn_alerts(slo.period);
    // A time-slice SLO's windows change once a slice.
    let interval = match &slo.timeslices {
        Some(t) => t.slice,
        None => whole_seconds((conditions[0].short / 5).min(Duration::from_secs(60))),
    };
    let period_interval = whole_seconds(
        Duration::from_secs(300)
            .mul_f64(slo.period.as_secs_f64() / (30.0 * 86_400.0))
            .min(Duration::from_secs(300))
            .max(interval),
    );
    let budget = fmt_num(slo.budget());
    let objective_pct = fmt_num(slo.objective * 100.0);
    let period = promql_duration(slo.period);
    let alert = slo
        .alerting
        .name
        .clone()
        .unwrap_or_else(|| format!("{}{}BudgetBurn", camel(&service.name), camel(&slo.name)));

    let mut common_annotations = BTreeMap::new();
    if let Some(u) = &slo.alerting.runbook_url {
        common_annotations.insert("runbook_url".to_owned(), u.clone());
    }
    if let Some(u) = &slo.alerting.dashboard_url {
        common_annotations.insert("dashboard_url".to_owned(), u.clone());
    }
    common_annotations.extend(slo.alerting.annotations.clone());

    let mut burns = Vec::new();
    for &c in &conditions {
        let spec = match c.severity {
            Severity::Page => &slo.alerting.page,
            Severity::Ticket => &slo.alerting.ticket,
        };
        if !spec.enabled {
            continue;
        }
        let (long, short) = (promql_duration(c.long), promql_duration(c.short));
        let factor = fmt_num(c.factor);
        let mut expr = format!(
            "slo:sli_error:ratio_rate{long}{sel} / {budget} > {factor}\nand\nslo:sli_error:ratio_rate{short}{sel} / {budget} > {factor}"
        );
        // A time-slice SLO's guard is in each slice (see crate::timeslices).
        if slo.min_events > 0.0 && slo.timeslices.is_none() {
            expr.push_str(&format!(
                "\nand\nslo:sli_events:increase{long}{sel} >= {}",
                fmt_num(slo.min_events)
            ));
        }
        // The spec may name its own severity (as Sloth specs do); the
        // Alertmanager routes follow it.
        let mut labels = BTreeMap::new();
        labels.insert("severity".into(), c.severity.as_str().into());
        labels.extend(spec_labels(spec, &slo.alerting.labels));
        labels.insert("long_window".into(), long.clone());
        labels.insert("short_window".into(), short.clone());
        let mut annotations = common_annotations.clone();
        annotations.insert(
            "summary".into(),
            format!(
                "{} {}: error budget burning over {factor}x ({long} and {short} windows)",
                service.name, slo.name
            ),
        );
        annotations.insert(
            "description".into(),
            format!(
                "{} {} ({objective_pct}% over {period}): over the last {long} the error budget burned {{{{ printf \"%.1f\" $value }}}}x as fast as the objective allows. This alert fires above {factor}x over both {long} and {short}; at {factor}x, {share}% of the {period} budget is gone in {long}.",
                service.name,
                slo.name,
                share = fmt_num((c.budget_share * 1000.0).round() / 10.0),
            ) + &slo
                .timeslices
                .map(|t| format!(" Budget and burn rate count {}.", crate::timeslices::describe(&t)))
                .unwrap_or_default(),
        );
        annotations.extend(spec.annotations.clone());
        burns.push(BurnRule {
            condition: c,
            expr,
            labels,
            annotations,
        });
    }

    let absent = slo.alerting.absent.then(|| {
        let what_expr = presence(slo);
        let for_ = whole_seconds((conditions[0].short * 2).max(Duration::from_secs(60)));
        let mut labels = series_labels.clone();
        labels.insert("severity".into(), Severity::Ticket.as_str().into());
        labels.extend(slo.alerting.labels.clone());
        labels.extend(slo.alerting.ticket.labels.clone());
        let mut annotations = common_annotations.clone();
        annotations.insert(
            "summary".into(),
            format!("{} {}: the SLI has no data", service.name, slo.name),
        );
        annotations.insert(
            "description".into(),
            format!(
                "No series match {what_expr} for {}: the {} SLO cannot be measured and its burn-rate alerts cannot fire.",
                promql_duration(for_),
                slo.name
            ),
        );
        AbsentRule {
            alert: slo
                .alerting
                .name
                .as_ref()
                .map_or_else(|| format!("{}{}SLIAbsent", camel(&service.name), camel(&slo.name)), |n| format!("{n}Absent")),
            result_labels: absent_labels(&what_expr),
            expr: format!("absent({what_expr})"),
            for_,
            labels,
            annotations,
        }
    });

    // The alert group: the slice, windows, metadata, alerts.
    let mut rules = Vec::new();
    if let Some(t) = &slo.timeslices {
        rules.push(record(
            crate::timeslices::SLICE_RECORD,
            crate::timeslices::slice_good(slo, t),
            &series_labels,
        ));
    }
    for w in crate::windows::alert_windows(slo.period) {
        rules.extend(window_rules(slo, w, &sel, &series_labels));
    }
    rules.push(record(
        "slo:objective:ratio",
        format!("vector({})", fmt_num(slo.objective)),
        &series_labels,
    ));
    rules.push(record(
        "slo:error_budget:ratio",
        format!("vector({budget})"),
        &series_labels,
    ));
    rules.push(record(
        "slo:period:seconds",
        format!("vector({})", slo.period.as_secs()),
        &series_labels,
    ));
    if let Some(t) = &slo.timeslices {
        rules.push(record(
            "slo:slice:seconds",
            format!("vector({})", t.slice.as_secs()),
            &series_labels,
        ));
        if let Some(target) = t.target {
            rules.push(record(
                "slo:slice_target:ratio",
                format!("vector({})", fmt_num(target)),
                &series_labels,
            ));
        }
    }
    for b in &burns {
        rules.push(Rule::Alert {
            alert: alert.clone(),
            expr: b.expr.clone(),
            for_: None,
            labels: b.labels.clone(),
            annotations: b.annotations.clone(),
        });
    }
    if let Some(a) = &absent {
        rules.push(Rule::Alert {
            alert: a.alert.clone(),
            expr: a.expr.clone(),
            for_: Some(a.for_),
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
        });
    }
    let mut period_rules = match &slo.calendar {
        Some(c) => calendar_window_rules(slo, c, &sel, &series_labels)?,
        None => window_rules(slo, slo.period, &sel, &series_labels),
    };
    period_rules.push(record(
        "slo:error_budget_remaining:ratio",
        format!("1 - slo:sli_error:ratio_rate{period}{sel} / {budget}"),
        &series_labels,
    ));
    let groups = vec![
        Group {
            name: format!("slo-{}-{}", service.name, slo.name),
            interval,
            rules,
        },
        Group {
            name: format!("slo-{}-{}-period", service.name, slo.name),
            interval: period_interval,
            rules: period_rules,
        },
    ];
    for g in &groups {
        for r in &g.rules {
            match r {
                Rule::Record { expr, .. } | Rule::Alert { expr, .. } => check(slo, expr)?,
            }
        }
    }
    Ok(SloRules {
        slo: slo.clone(),
        series_labels,
        alert,
        burns,
        absent,
        interval,
        period_interval,
        groups,
    })
}

/// Rules for every SLO of a service, in the spec's order.
pub fn service_rules(service: &Service) -> Result<Vec<SloRules>, RulesError> {
    let all: Vec<SloRules> = service
        .slos
        .iter()
        .map(|s| slo_rules(service, s))
        .collect::<Result<_, _>>()?;
    let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
    for r in &all {
        let names =
            std::iter::once(r.alert.as_str()).chain(r.absent.as_ref().map(|a| a.alert.as_str()));
        for name in names {
            if let Some(first) = owners.insert(name, &r.slo.name) {
                return Err(RulesError::DuplicateAlert {
                    alert: name.to_owned(),
                    first: first.to_owned(),
                    second: r.slo.name.clone(),
                });
            }
        }
    }
    Ok(all)
}

// ---- YAML ----

mod out {
    use serde::Serialize;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    pub struct File {
        pub groups: Vec<Group>,
    }

    #[derive(Serialize)]
    pub struct Group {
        pub name: String,
        pub interval: String,
        pub rules: Vec<Rule>,
    }

    #[derive(Serialize)]
    #[serde(untagged)]
    pub enum Expr {
        Line(String),
        Block(serde_saphyr::LitString),
    }

    #[derive(Serialize)]
    pub struct Rule {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub record: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub alert: Option<String>,
        pub expr: Expr,
        #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
        pub for_: Option<String>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub labels: BTreeMap<String, String>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub annotations: BTreeMap<String, String>,
    }

    #[derive(Serialize)]
    pub struct Metadata {
        pub name: String,
        pub labels: BTreeMap<String, String>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PrometheusRule {
        pub api_version: &'static str,
        pub kind: &'static str,
        pub metadata: Metadata,
        pub spec: File,
    }
}

fn expr_out(e: &str) -> out::Expr {
    if e.contains('\n') {
        out::Expr::Block(serde_saphyr::LitString(e.to_owned()))
    } else {
        out::Expr::Line(e.to_owned())
    }
}

fn file_out<'a>(groups: impl Iterator<Item = &'a Group>) -> out::File {
    out::File {
        groups: groups
            .map(|g| out::Group {
                name: g.name.clone(),
                interval: promql_duration(g.interval),
                rules: g
                    .rules
                    .iter()
                    .map(|r| match r {
                        Rule::Record {
                            record,
                            expr,
                            labels,
                        } => out::Rule {
                            record: Some(record.clone()),
                            alert: None,
                            expr: expr_out(expr),
                            for_: None,
                            labels: labels.clone(),
                            annotations: BTreeMap::new(),
                        },
                        Rule::Alert {
                            alert,
                            expr,
                            for_,
                            labels,
                            annotations,
                        } => out::Rule {
                            record: None,
                            alert: Some(alert.clone()),
                            expr: expr_out(expr),
                            for_: for_.map(promql_duration),
                            labels: labels.clone(),
                            annotations: annotations.clone(),
                        },
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn header(service: &Service, regenerate: &str) -> String {
    crate::yaml::header(
        &format!("SLO rules for {}", service.name),
        "alerts",
        &[],
        regenerate,
    )
}

impl SloRules {
    /// Whether `g` is a calendar period's group, whose subqueries read back
    /// to the period's start at every evaluation.
    pub fn is_calendar_period(&self, g: &Group) -> bool {
        self.slo.calendar.is_some()
            && self
                .groups
                .first()
                .is_some_and(|first| first.name != g.name)
    }
}

/// A plain Prometheus rule file with every group.
pub fn rule_file(service: &Service, all: &[SloRules], regenerate: &str) -> String {
    let groups = all.iter().flat_map(|s| &s.groups);
    crate::yaml::document(&header(service, regenerate), &file_out(groups))
}

/// The plain rule files `slo alerts --out` writes, (file name, text):
/// `NAME.rules.yml` with every group but the calendar periods' ones, which
/// go to `NAME.period.rules.yml` (only when there are any). Prometheus
/// loads both; the generated promtool tests, which promtool runs by
/// evaluating every group of their rule files at each step, read the
/// first only, since a calendar period's group reads back to the period's
/// start at every evaluation and would take them minutes.
pub fn rule_files(service: &Service, all: &[SloRules], regenerate: &str) -> Vec<(String, String)> {
    let of = |period: bool| {
        all.iter().flat_map(move |r| {
            r.groups
                .iter()
                .filter(move |g| r.is_calendar_period(g) == period)
        })
    };
    let mut files = vec![(
        rules_file_name(service),
        crate::yaml::document(&header(service, regenerate), &file_out(of(false))),
    )];
    if of(true).next().is_some() {
        let period_header = crate::yaml::header(
            &format!("SLO calendar period rules for {}", service.name),
            "alerts",
            &[],
            regenerate,
        );
        files.push((
            format!("{}.period.rules.yml", service.name),
            crate::yaml::document(&period_header, &file_out(of(true))),
        ));
    }
    files
}

/// The name of the rule file the generated promtool tests read.
pub fn rules_file_name(service: &Service) -> String {
    format!("{}.rules.yml", service.name)
}

/// A prometheus-operator PrometheusRule with the same groups.
pub fn prometheus_rule(service: &Service, all: &[SloRules], regenerate: &str) -> String {
    let mut labels = BTreeMap::new();
    labels.insert("app.kubernetes.io/name".to_owned(), service.name.clone());
    labels.insert(
        "app.kubernetes.io/component".to_owned(),
        "slo-rules".to_owned(),
    );
    labels.insert("app.kubernetes.io/managed-by".to_owned(), "slo".to_owned());
    let doc = out::PrometheusRule {
        api_version: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: out::Metadata {
            name: format!("{}-slos", service.name),
            labels,
        },
        spec: file_out(all.iter().flat_map(|s| &s.groups)),
    };
    crate::yaml::document(&header(service, regenerate), &doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SPEC: &str = r#"
version: slo/v1
service: shop-api
labels: {team: shop}
slos:
  - name: availability
    objective: 99.9
    min_events: 10
    sli:
      availability:
        selector: '{job="shop", http_route=~"/api/.*"}'
    alerting:
      runbook_url: https://runbooks.example.com/a
      dashboard_url: https://grafana.example.com/d/shop
      absent: true
  - name: latency
    objective: 99
    period: 28d
    sli:
      latency: {metric: http_server_request_duration_seconds, selector: '{job="shop"}', threshold: 0.3}
    alerting:
      name: ShopSlow
      ticket: {enabled: false}
"#;

    fn service() -> Service {
        crate::spec::parse(SPEC, Path::new("spec.yaml")).unwrap()
    }

    #[test]
    fn numbers_have_no_float_noise() {
        assert_eq!(fmt_num(1.0 - 0.999), "0.001");
        assert_eq!(fmt_num(0.999 * 100.0), "99.9");
        assert_eq!(fmt_num(14.4), "14.4");
        assert_eq!(fmt_num(6.0), "6");
        assert_eq!(fmt_num(-0.0), "0");
        assert_eq!(fmt_num(1.0 - 0.99999), "0.00001");
        assert_ne!(fmt_num(1.0 - 0.99999999999), "0");
        assert_eq!(fmt_num(2592000.0), "2592000");
    }

    #[test]
    fn every_window_is_recorded_exactly_and_every_expr_parses() {
        let s = service();
        let r = slo_rules(&s, &s.slos[0]).unwrap();
        let records: Vec<&str> = r
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter_map(|r| match r {
                Rule::Record { record, .. } => Some(record.as_str()),
                _ => None,
            })
            .collect();
        for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"] {
            for m in [
                "sli_errors:increase",
                "sli_events:increase",
                "sli_error:ratio_rate",
            ] {
                let name = format!("slo:{m}{w}");
                assert!(records.contains(&name.as_str()), "{name} missing");
            }
        }
        let Rule::Record { expr, .. } = &r.groups[0].rules[0] else {
            panic!("first rule is a recording");
        };
        assert!(expr.starts_with("sum(increase("), "{expr}");
        assert_eq!(r.groups[0].interval, Duration::from_secs(60));
        assert_eq!(r.groups[1].interval, Duration::from_secs(300));
        assert_eq!(r.groups[1].name, "slo-shop-api-availability-period");
    }

    #[test]
    fn burn_alerts_follow_the_workbook_with_a_traffic_guard() {
        let s = service();
        let r = slo_rules(&s, &s.slos[0]).unwrap();
        assert_eq!(r.alert, "ShopApiAvailabilityBudgetBurn");
        assert_eq!(r.burns.len(), 4);
        let b = &r.burns[0];
        assert_eq!(
            b.expr,
            "slo:sli_error:ratio_rate1h{slo=\"availability\", slo_service=\"shop-api\"} / 0.001 > 14.4\nand\nslo:sli_error:ratio_rate5m{slo=\"availability\", slo_service=\"shop-api\"} / 0.001 > 14.4\nand\nslo:sli_events:increase1h{slo=\"availability\", slo_service=\"shop-api\"} >= 10"
        );
        assert_eq!(b.labels["severity"], "page");
        assert_eq!(b.labels["long_window"], "1h");
        assert_eq!(b.labels["short_window"], "5m");
        assert!(b.annotations["description"].contains("{{ printf \"%.1f\" $value }}x"));
        assert_eq!(
            b.annotations["runbook_url"],
            "https://runbooks.example.com/a"
        );
        assert_eq!(
            b.annotations["dashboard_url"],
            "https://grafana.example.com/d/shop"
        );
        assert_eq!(r.series_labels["team"], "shop");
        let sev: Vec<_> = r
            .burns
            .iter()
            .map(|b| b.labels["severity"].as_str())
            .collect();
        assert_eq!(sev, ["page", "page", "ticket", "ticket"]);
    }

    #[test]
    fn absent_alert_and_disabled_tickets() {
        let s = service();
        let r = slo_rules(&s, &s.slos[0]).unwrap();
        let a = r.absent.as_ref().unwrap();
        assert_eq!(
            a.expr,
            "absent(http_server_request_duration_seconds_count{job=\"shop\", http_route=~\"/api/.*\"})"
        );
        assert_eq!(a.result_labels.get("job").map(String::as_str), Some("shop"));
        assert!(!a.result_labels.contains_key("http_route"));
        assert_eq!(a.for_, Duration::from_secs(600));
        let r = slo_rules(&s, &s.slos[1]).unwrap();
        assert!(r.absent.is_none());
        assert_eq!(r.alert, "ShopSlow");
        assert_eq!(r.burns.len(), 2);
        // 28 days: windows scale, the page long window is 56m, no traffic guard.
        assert_eq!(r.burns[0].labels["long_window"], "56m");
        assert!(!r.burns[0].expr.contains("increase56m"));
        assert_eq!(r.interval, Duration::from_secs(56));
    }

    #[test]
    fn short_periods_evaluate_fast() {
        let spec = SPEC.replace(
            "    objective: 99.9\n",
            "    objective: 99.9\n    period: 12h\n",
        );
        let s = crate::spec::parse(&spec, Path::new("spec.yaml")).unwrap();
        let r = slo_rules(&s, &s.slos[0]).unwrap();
        assert_eq!(r.burns[0].labels["long_window"], "1m");
        assert_eq!(r.burns[0].labels["short_window"], "5s");
        assert_eq!(r.interval, Duration::from_secs(1));
    }

    #[test]
    fn time_slices_record_each_slice_then_share_of_bad_slices() {
        let spec = SPEC.replace(
            "    objective: 99.9\n",
            "    objective: 99.9\n    timeslices: {slice: 1m, target: 0.9}\n",
        );
        let s = crate::spec::parse(&spec, Path::new("spec.yaml")).unwrap();
        let r = slo_rules(&s, &s.slos[0]).unwrap();
        assert_eq!(r.interval, Duration::from_secs(60));
        let records: Vec<(&str, &str)> = r
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter_map(|r| match r {
                Rule::Record { record, expr, .. } => Some((record.as_str(), expr.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(records[0].0, "slo:slice_good:ratio");
        assert!(records[0].1.ends_with(") >= bool 0.9"), "{}", records[0].1);
        assert!(
            records[0].1.contains(">= 10)"),
            "min_events per slice: {}",
            records[0].1
        );
        let sel = "{slo=\"availability\", slo_service=\"shop-api\"}";
        assert!(records.contains(&(
            "slo:sli_error:ratio_rate1h",
            &*format!("1 - avg_over_time(slo:slice_good:ratio{sel}[59m59s999ms])")
        )));
        assert!(records.iter().any(|(n, _)| *n == "slo:sli_slices:count30d"));
        assert!(
            records
                .iter()
                .any(|(n, _)| *n == "slo:sli_bad_slices:count30d")
        );
        assert!(!records.iter().any(|(n, _)| *n == "slo:sli_slices:count1h"));
        assert!(records.contains(&("slo:slice:seconds", "vector(60)")));
        assert!(records.contains(&("slo:slice_target:ratio", "vector(0.9)")));
        // The guard is in each slice, not on the alert.
        assert!(
            !r.burns[0].expr.contains("sli_events"),
            "{}",
            r.burns[0].expr
        );
        assert!(r.burns[0].annotations["description"].contains("1m time slices"));
    }

    #[test]
    fn yaml_is_deterministic_and_reads_back() {
        let s = service();
        let all = service_rules(&s).unwrap();
        let a = rule_file(&s, &all, "slo alerts spec.yaml");
        assert_eq!(a, rule_file(&s, &all, "slo alerts spec.yaml"));
        let v: serde_json::Value = serde_saphyr::from_str(&a).unwrap();
        let groups = v["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 4);
        let first = &groups[0]["rules"][0];
        assert!(first["expr"].as_str().unwrap().starts_with("sum(increase("));
        let op = prometheus_rule(&s, &all, "x");
        let v: serde_json::Value = serde_saphyr::from_str(&op).unwrap();
        assert_eq!(v["kind"], "PrometheusRule");
        assert_eq!(v["spec"]["groups"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn calendar_period_groups_get_a_file_of_their_own() {
        let groups = |text: &str| -> Vec<String> {
            let v: serde_json::Value = serde_saphyr::from_str(text).unwrap();
            v["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["name"].as_str().unwrap().to_owned())
                .collect()
        };
        // Rolling periods only: one file with every group.
        let s = service();
        let all = service_rules(&s).unwrap();
        let files = rule_files(&s, &all, "x");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "shop-api.rules.yml");
        assert_eq!(groups(&files[0].1).len(), 4);
        // A calendar month: its period group moves, the rolling one's stays.
        let spec = SPEC.replace(
            "period: 28d",
            "period: {calendar: month, timezone: Europe/Berlin}",
        );
        let s = crate::spec::parse(&spec, Path::new("spec.yaml")).unwrap();
        let all = service_rules(&s).unwrap();
        let files = rule_files(&s, &all, "x");
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["shop-api.rules.yml", "shop-api.period.rules.yml"]);
        assert_eq!(
            groups(&files[0].1),
            [
                "slo-shop-api-availability",
                "slo-shop-api-availability-period",
                "slo-shop-api-latency"
            ]
        );
        assert_eq!(groups(&files[1].1), ["slo-shop-api-latency-period"]);
        assert!(
            files[1]
                .1
                .starts_with("# SLO calendar period rules for shop-api")
        );
        // The one-document forms keep all four.
        assert_eq!(groups(&rule_file(&s, &all, "x")).len(), 4);
    }
}
