//! OpenSLO v1 documents into the native spec: SLO kinds with inline
//! indicators or SLI kinds, `ratioMetric` on Prometheus counters, rolling
//! windows, calendar windows of a week, month or quarter, and the three
//! budgeting methods: Occurrences, Timeslices (`timeSliceTarget` and
//! `timeSliceWindow` of each objective, into `timeslices: {slice, target}`)
//! and RatioTimeslices (`timeSliceWindow`, into `timeslices: {slice}`).
//! Threshold metrics, gauges and other calendar durations do not map and
//! are refused.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::Refusal;
use super::native::{
    CalendarSpec, CalendarUnitSpec, PeriodSpec, SliSpec, SloSpec, SpecFile, TimeslicesSpec,
};
use crate::calendar::{Unit, starts_period};

/// One OpenSLO document, its `spec` left as JSON for the kind to read.
/// A field OpenSLO v1 does not have is refused (with a suggestion).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenSloDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: OpenSloMetadata,
    #[serde(default)]
    pub spec: serde_json::Value,
}

/// An OpenSLO document's metadata.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenSloMetadata {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub labels: serde_json::Value,
    #[serde(default)]
    pub annotations: serde_json::Value,
}

/// The fields OpenSLO v1 gives an SLO's `spec`.
const SLO_SPEC: &[&str] = &[
    "description",
    "service",
    "indicator",
    "indicatorRef",
    "timeWindow",
    "budgetingMethod",
    "objectives",
    "alertPolicies",
];
/// The fields of an SLI's `spec` (an SLI document's, or an inline indicator's).
const SLI_SPEC: &[&str] = &["description", "thresholdMetric", "ratioMetric"];
/// The fields of an inline `indicator`.
const INDICATOR: &[&str] = &["metadata", "spec"];
/// The fields of `ratioMetric`.
const RATIO_METRIC: &[&str] = &["counter", "good", "bad", "total", "rawType", "raw"];
/// The fields of one `timeWindow`.
const TIME_WINDOW: &[&str] = &["duration", "isRolling", "calendar"];
/// The fields of a time window's `calendar`.
const CALENDAR: &[&str] = &["startTime", "timeZone"];
/// The fields of one objective.
const OBJECTIVE: &[&str] = &[
    "displayName",
    "op",
    "value",
    "target",
    "targetPercent",
    "timeSliceTarget",
    "timeSliceWindow",
    "indicator",
    "indicatorRef",
    "compositeWeight",
];

/// Refuses a key of the object `v` that is not among `valid` (OpenSLO's
/// fields there), so that a typo is not read as an absent field.
fn known_fields(v: &serde_json::Value, valid: &[&str], slo: &str) -> Result<(), Refusal> {
    let Some(map) = v.as_object() else {
        return Ok(());
    };
    match map.keys().find(|k| !valid.contains(&k.as_str())) {
        Some(k) => Err(Refusal::Field {
            slo: slo.to_owned(),
            unknown: common::diagnostic::UnknownName {
                kind: common::diagnostic::NameKind::Field,
                name: k.clone(),
                expected: valid.iter().map(|f| (*f).to_owned()).collect(),
            },
        }),
        None => Ok(()),
    }
}

fn prom_query(v: &serde_json::Value, what: &str, slo: &str) -> Result<String, Refusal> {
    let source = &v["metricSource"];
    let kind = source["type"].as_str().unwrap_or("");
    if !kind.eq_ignore_ascii_case("prometheus") {
        return Err(Refusal::slo(
            slo,
            format!("{what} uses metricSource type {kind:?}; only Prometheus is supported"),
        ));
    }
    let q = source["spec"]["query"]
        .as_str()
        .ok_or_else(|| Refusal::slo(slo, format!("{what}.metricSource.spec.query is missing")))?;
    crate::promql::check_selector(q).map_err(|_| {
        Refusal::slo(slo, format!("{what} query {q:?} must be a counter selector (the tool takes increases over each window itself)"))
    })?;
    Ok(q.to_owned())
}

fn opensli(spec: &serde_json::Value, slo: &str) -> Result<SliSpec, Refusal> {
    known_fields(spec, SLI_SPEC, slo)?;
    if !spec["thresholdMetric"].is_null() {
        return Err(Refusal::slo(
            slo,
            "thresholdMetric is not supported (its query is any expression, compared with op and value); use ratioMetric, or in the native format a latency SLI, with timeslices: {slice, target: QUANTILE} for a percentile per slice",
        ));
    }
    let ratio = &spec["ratioMetric"];
    if ratio.is_null() {
        return Err(Refusal::slo(slo, "the indicator has no ratioMetric"));
    }
    known_fields(ratio, RATIO_METRIC, slo)?;
    if ratio["counter"].as_bool() == Some(false) {
        return Err(Refusal::slo(
            slo,
            "ratioMetric.counter: false (gauges) is not supported",
        ));
    }
    let total = prom_query(&ratio["total"], "ratioMetric.total", slo)?;
    let rate = |q: &str| format!("sum(rate({q}[{{{{.window}}}}]))");
    if !ratio["good"].is_null() {
        let good = prom_query(&ratio["good"], "ratioMetric.good", slo)?;
        Ok(SliSpec::Ratio { good, total })
    } else if !ratio["bad"].is_null() {
        let bad = prom_query(&ratio["bad"], "ratioMetric.bad", slo)?;
        Ok(SliSpec::Events {
            error_query: rate(&bad),
            total_query: rate(&total),
        })
    } else {
        Err(Refusal::slo(slo, "ratioMetric needs good or bad"))
    }
}

/// The time slices of objective `i` under `method`: Timeslices needs
/// `timeSliceTarget` (a fraction) and `timeSliceWindow`, RatioTimeslices
/// only the window; Occurrences takes neither.
fn timeslices(
    o: &serde_json::Value,
    method: &str,
    slo: &str,
    i: usize,
) -> Result<Option<TimeslicesSpec>, Refusal> {
    let (target, window) = (&o["timeSliceTarget"], &o["timeSliceWindow"]);
    let refuse = |what: String| Err(Refusal::slo(slo, format!("objective {i}: {what}")));
    if method == "Occurrences" {
        return match (target.is_null(), window.is_null()) {
            (true, true) => Ok(None),
            _ => refuse(
                "timeSliceTarget and timeSliceWindow need budgetingMethod: Timeslices (or RatioTimeslices, with the window only)".into(),
            ),
        };
    }
    // A duration shorthand ("1m"), or a number of seconds.
    let slice = match (window.as_str(), window.as_f64()) {
        (Some(d), _) => humantime::parse_duration(d)
            .map_err(|e| Refusal::slo(slo, format!("objective {i}: timeSliceWindow {d:?}: {e}")))?,
        (None, Some(secs)) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
            std::time::Duration::from_secs_f64(secs)
        }
        _ => {
            return refuse(format!(
                "budgetingMethod {method} needs a timeSliceWindow (e.g. 1m)"
            ));
        }
    };
    let target = match (method, target.is_null(), target.as_f64()) {
        ("Timeslices", _, Some(t)) => Some(t),
        ("Timeslices", _, None) => {
            return refuse("budgetingMethod Timeslices needs a timeSliceTarget (e.g. 0.95)".into());
        }
        (_, true, _) => None,
        _ => {
            return refuse(
                "timeSliceTarget is for budgetingMethod Timeslices; RatioTimeslices averages the slices' ratios".into(),
            );
        }
    };
    Ok(Some(TimeslicesSpec { slice, target }))
}

/// The period of an SLO from its (first) time window: rolling
/// (`isRolling: true`, the default) for any duration, or a calendar period
/// (`isRolling: false`) of `1w`, `1M` or `1Q` in `calendar.timeZone`
/// (UTC without one). A `calendar.startTime` must be a boundary of that
/// unit (00:00 on a Monday, a month's or a quarter's first day): periods
/// start there, not at an arbitrary instant.
fn period(window: &serde_json::Value, slo: &str) -> Result<PeriodSpec, Refusal> {
    let calendar = &window["calendar"];
    known_fields(calendar, CALENDAR, slo)?;
    let rolling = window["isRolling"].as_bool();
    let duration = window["duration"].as_str();
    if rolling == Some(true) && !calendar.is_null() {
        return Err(Refusal::slo(
            slo,
            "timeWindow has isRolling: true and a calendar (a calendar window is isRolling: false)",
        ));
    }
    if rolling != Some(false) {
        return Ok(PeriodSpec::Rolling(match duration {
            Some(d) => humantime::parse_duration(d)
                .map_err(|e| Refusal::slo(slo, format!("timeWindow duration {d:?}: {e}")))?,
            None => Duration::from_secs(30 * 86_400),
        }));
    }
    let (unit, native) = match duration {
        Some("1w") => (Unit::Week, CalendarUnitSpec::Week),
        Some("1M") => (Unit::Month, CalendarUnitSpec::Month),
        Some("1Q") => (Unit::Quarter, CalendarUnitSpec::Quarter),
        d => {
            return Err(Refusal::slo(
                slo,
                format!(
                    "calendar timeWindow duration {}: only 1w, 1M and 1Q are supported (a week, month or quarter)",
                    d.map_or_else(|| "missing".to_owned(), |d| format!("{d:?}"))
                ),
            ));
        }
    };
    if let Some(start) = calendar["startTime"].as_str() {
        let at = start
            .replacen(' ', "T", 1)
            .parse::<jiff::civil::DateTime>()
            .map_err(|e| {
                Refusal::slo(
                    slo,
                    format!("calendar.startTime {start:?} is not a date and time (2024-01-01 00:00:00): {e}"),
                )
            })?;
        if at.time() != jiff::civil::Time::midnight() || !starts_period(unit, at.date()) {
            return Err(Refusal::slo(
                slo,
                format!(
                    "calendar.startTime {start:?} is not the start of a {} (periods start at 00:00 {}); write e.g. startTime: \"{} 00:00:00\"",
                    unit.as_str(),
                    match unit {
                        Unit::Week => "on a Monday",
                        Unit::Month => "on the 1st",
                        Unit::Quarter => "on January, April, July or October 1st",
                    },
                    unit.first_day(at.date()),
                ),
            ));
        }
    }
    Ok(PeriodSpec::Calendar(CalendarSpec {
        calendar: native,
        timezone: calendar["timeZone"].as_str().unwrap_or("UTC").to_owned(),
    }))
}

/// OpenSLO v1 documents (SLO kinds, with inline indicators or SLI kinds) as native.
pub fn from_openslo(docs: Vec<OpenSloDoc>) -> Result<SpecFile, Refusal> {
    for d in &docs {
        if d.api_version != "openslo/v1" {
            return Err(Refusal::File(format!(
                "{} {:?}: unsupported apiVersion {:?} (expected openslo/v1)",
                d.kind, d.metadata.name, d.api_version
            )));
        }
    }
    let slis: BTreeMap<&str, &serde_json::Value> = docs
        .iter()
        .filter(|d| d.kind == "SLI")
        .map(|d| (d.metadata.name.as_str(), &d.spec))
        .collect();
    let mut service = None;
    let mut slos = Vec::new();
    for d in docs.iter().filter(|d| d.kind == "SLO") {
        let name = d.metadata.name.as_str();
        let spec = &d.spec;
        known_fields(spec, SLO_SPEC, name)?;
        known_fields(&spec["indicator"], INDICATOR, name)?;
        for w in spec["timeWindow"].as_array().into_iter().flatten() {
            known_fields(w, TIME_WINDOW, name)?;
        }
        for o in spec["objectives"].as_array().into_iter().flatten() {
            known_fields(o, OBJECTIVE, name)?;
        }
        let method = spec["budgetingMethod"].as_str().unwrap_or("Occurrences");
        if !matches!(method, "Occurrences" | "Timeslices" | "RatioTimeslices") {
            return Err(Refusal::slo(
                name,
                format!(
                    "budgetingMethod {method} is not supported (Occurrences, Timeslices or RatioTimeslices)"
                ),
            ));
        }
        let svc = spec["service"].as_str().unwrap_or("service").to_owned();
        service.get_or_insert(svc);
        let indicator = if let Some(r) = spec["indicatorRef"].as_str() {
            slis.get(r).copied().ok_or_else(|| {
                Refusal::slo(name, format!("indicatorRef {r:?} names no SLI in the file"))
            })?
        } else {
            &spec["indicator"]["spec"]
        };
        let sli = opensli(indicator, name)?;
        let period = period(&spec["timeWindow"][0], name)?;
        let objectives = spec["objectives"]
            .as_array()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| Refusal::slo(name, "no objectives"))?;
        for (i, o) in objectives.iter().enumerate() {
            let target = match (o["target"].as_f64(), o["targetPercent"].as_f64()) {
                (Some(t), _) => t * 100.0,
                (None, Some(p)) => p,
                _ => {
                    return Err(Refusal::slo(
                        name,
                        format!("objective {i} has no target or targetPercent"),
                    ));
                }
            };
            let timeslices = timeslices(o, method, name, i)?;
            let suffix = o["displayName"]
                .as_str()
                .map(|n| {
                    n.to_lowercase()
                        .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
                })
                .filter(|_| objectives.len() > 1)
                .unwrap_or_else(|| {
                    if objectives.len() > 1 {
                        i.to_string()
                    } else {
                        String::new()
                    }
                });
            slos.push(SloSpec {
                name: if suffix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{name}-{suffix}")
                },
                description: spec["description"].as_str().map(str::to_owned),
                objective: target,
                period: period.clone(),
                sli: sli.clone(),
                client: None,
                client_selector: None,
                min_events: None,
                alerting: None,
                labels: BTreeMap::new(),
                timeslices,
            });
        }
    }
    if let Some(k) = docs
        .iter()
        .find(|d| !matches!(d.kind.as_str(), "SLO" | "SLI" | "Service"))
    {
        return Err(Refusal::File(format!(
            "kind {:?} ({:?}) is not supported (SLO, SLI and Service are)",
            k.kind, k.metadata.name
        )));
    }
    Ok(SpecFile {
        version: "slo/v1".into(),
        service: service.ok_or_else(|| Refusal::File("no SLO documents in the file".into()))?,
        labels: BTreeMap::new(),
        slos,
    })
}
