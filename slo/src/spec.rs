//! A spec, whatever its format, validated into the [`crate::model`] types:
//! reading the file (or stdin), the range of every number, names, labels and
//! queries. The formats themselves are [`crate::import`]'s (the native file
//! as written is [`crate::import::native`]); this module only calls into it.
//! Errors name `file:line:column`, show the line and give a hint.

use std::path::Path;

use common::diagnostic::Diagnostic;
use common::input::InputError;

use crate::calendar::{Calendar, Unit};
use crate::import::native::{
    AlertSpecFile, CalendarUnitSpec, PeriodSpec, SliSpec, SloSpec, SpecFile,
};
use crate::model::{AlertSpec, Alerting, ClientSli, Service, Sli, Slo, Timeslices};
use crate::promql;

/// Errors in a spec.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("failed to read SLO spec {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A problem at a place in the file (or with the file as a whole), as
    /// the shared renderer shows it: file:line:column, the line, a caret, a hint.
    #[error("{0}")]
    At(Box<Diagnostic>),
}

impl From<InputError> for SpecError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Read { path, error } => SpecError::Read {
                path,
                source: error,
            },
            InputError::Utf8 {
                ref path,
                line,
                column,
                offset,
                byte,
                ref excerpt,
            } => SpecError::At(Box::new(
                Diagnostic::new(
                    path.as_str(),
                    format!("invalid UTF-8 at byte {offset} (0x{byte:02x})"),
                )
                .located(line, column)
                .with_excerpt(excerpt.clone())
                .with_hint(e.hint()),
            )),
            InputError::TooLarge { .. } => SpecError::At(Box::new(e.diagnostic())),
        }
    }
}

/// The largest spec read, in bytes (a spec is a few kilobytes; this keeps a
/// wrong file from being read whole).
pub const MAX_SPEC_BYTES: u64 = 64 << 20;

/// The range of every number in a spec, checked at parse time (documented
/// in slo/README.md). Generated rules, dashboards and queries are only
/// built from numbers inside them, so they never hold NaN, infinities or
/// durations Prometheus cannot parse.
pub mod ranges {
    use std::time::Duration;

    /// `objective`: a percentage strictly between these.
    pub const OBJECTIVE: (f64, f64) = (0.0, 100.0);
    /// `period`: at least 1 hour, at most 366 days.
    pub const PERIOD: (Duration, Duration) = (
        Duration::from_secs(3_600),
        Duration::from_secs(366 * 86_400),
    );
    /// `min_events`: 0 to 10^12 events.
    pub const MIN_EVENTS: (f64, f64) = (0.0, 1e12);
    /// A latency `threshold` in seconds: 1 ns to 1 day.
    pub const THRESHOLD: (f64, f64) = (1e-9, 86_400.0);
    /// `timeslices.slice`: whole seconds, at least 5 s (and at most the
    /// period's shortest alert window, checked with the period).
    pub const SLICE_MIN: Duration = Duration::from_secs(5);
    /// `timeslices.target`: a fraction above the first, up to the second.
    pub const SLICE_TARGET: (f64, f64) = (0.0, 1.0);
}

/// A number for a message: scientific notation when fixed would be long.
fn shown_number(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || (1e-4..1e15).contains(&a) || !a.is_finite() {
        x.to_string()
    } else {
        format!("{x:e}")
    }
}

struct Ctx<'a> {
    path: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn at(&self, line: u64, column: u64, message: String, hint: &str) -> SpecError {
        SpecError::At(Box::new(
            Diagnostic::at(self.path, self.text, line, column, message).with_hint(hint),
        ))
    }

    /// An error at the value of the first `key:` (any of `keys`) from line
    /// `from`, or at the SLO's line when the key is not written (a default).
    fn value_at(&self, from: u64, keys: &[&str], message: String, hint: &str) -> SpecError {
        let skip = usize::try_from(from.saturating_sub(1)).unwrap_or(usize::MAX);
        let found = self.text.lines().enumerate().skip(skip).find_map(|(i, l)| {
            keys.iter().find_map(|k| {
                let key = format!("{k}:");
                let at = l.match_indices(&key).find(|(c, _)| {
                    // A whole key: at the line's start, or after `{`, `,` or a space.
                    *c == 0 || l[..*c].ends_with(['{', ',', ' ', '-'])
                })?;
                let after = at.0 + key.len();
                let value = after + (l.len() - after - l[after..].trim_start().len());
                Some((i, l[..value].chars().count()))
            })
        });
        match found {
            Some((i, c)) => self.at(i as u64 + 1, c as u64 + 1, message, hint),
            None => self.at(from.max(1), 1, message, hint),
        }
    }

    /// An error at the first line (from `from`) mentioning `needle`.
    fn near(&self, from: u64, needle: &str, message: String, hint: &str) -> SpecError {
        let found = self
            .text
            .lines()
            .enumerate()
            .skip(from.saturating_sub(1) as usize)
            .find_map(|(i, l)| l.find(needle).map(|c| (i as u64 + 1, c as u64 + 1)));
        let (line, column) = found.unwrap_or((from.max(1), 1));
        self.at(line, column, message, hint)
    }

    /// The first line from `from` mentioning `needle`, or `from`.
    fn line_of(&self, from: u64, needle: &str) -> u64 {
        self.text
            .lines()
            .enumerate()
            .skip(from.saturating_sub(1) as usize)
            .find(|(_, l)| l.contains(needle))
            .map_or(from, |(i, _)| i as u64 + 1)
    }

    /// The line where `- name: NAME` starts, to anchor errors in one SLO.
    fn slo_line(&self, name: &str) -> u64 {
        self.text
            .lines()
            .position(|l| {
                let t = l.trim_start().trim_start_matches("- ").trim();
                t == format!("name: {name}") || t == format!("name: \"{name}\"")
            })
            .map_or(1, |i| i as u64 + 1)
    }
}

/// Reads a spec in any supported format as the native file (see
/// [`crate::import`]), its errors located in the text.
fn read(ctx: &Ctx) -> Result<SpecFile, SpecError> {
    crate::import::read(ctx.text).map_err(|e| {
        let (line, column) = e.location();
        ctx.at(line, column, e.to_string(), &e.hint())
    })
}

/// Parses and validates a spec (native, Sloth or OpenSLO); `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Service, SpecError> {
    let shown = path.display().to_string();
    let ctx = Ctx { path: &shown, text };
    validate(read(&ctx)?, &ctx)
}

/// Parses, validates and returns the spec in the native format (for `slo import`).
pub fn to_native(text: &str, path: &Path) -> Result<SpecFile, SpecError> {
    let shown = path.display().to_string();
    let ctx = Ctx { path: &shown, text };
    let file = read(&ctx)?;
    validate(file.clone(), &ctx)?;
    Ok(file)
}

/// The JSON Schema of the native spec, for editors.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(SpecFile)).unwrap_or_default()
}

/// Reads a spec file's text (`-` for standard input, at most
/// [`MAX_SPEC_BYTES`]) and the name to show.
pub fn read_text(path: &Path) -> Result<(String, std::path::PathBuf), SpecError> {
    let t = common::input::read_text(path, MAX_SPEC_BYTES)?;
    Ok((t.text, std::path::PathBuf::from(t.shown)))
}

/// The text of a file, or an error at the line and column of its first
/// byte that is not UTF-8.
pub fn utf8(bytes: Vec<u8>, shown: &str) -> Result<String, SpecError> {
    Ok(common::input::decode(bytes, shown)?)
}

/// Reads and validates a spec file (`-` for standard input).
pub fn load(path: &Path) -> Result<Service, SpecError> {
    let (text, shown) = read_text(path)?;
    parse(&text, &shown)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Labels the generated rules set themselves.
pub const RESERVED_LABELS: [&str; 5] = [
    "alertname",
    "slo",
    "slo_service",
    "long_window",
    "short_window",
];

const LABEL_HINT: &str =
    "label names are letters, digits and _, not starting with a digit or __ (e.g. team: shop)";

/// Why a label name cannot be used, if it cannot.
fn label_problem(name: &str) -> Option<String> {
    let valid = name
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if name.is_empty() || !valid || name.starts_with("__") {
        Some(format!("{name:?} is not a valid Prometheus label name"))
    } else if RESERVED_LABELS.contains(&name) {
        Some(format!(
            "label {name:?} is set by the generated rules and cannot be overridden"
        ))
    } else {
        None
    }
}

fn alert_spec(a: Option<&AlertSpecFile>) -> AlertSpec {
    match a {
        Some(a) => AlertSpec {
            enabled: a.enabled,
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
        },
        None => AlertSpec {
            enabled: true,
            ..AlertSpec::default()
        },
    }
}

/// One SLI as written, validated into the model; errors are located from
/// line `line` (the SLO's, or its `client:`'s).
fn to_sli(ctx: &Ctx, line: u64, slo_name: &str, sli: &SliSpec) -> Result<Sli, SpecError> {
    let name = slo_name;
    Ok(match sli {
        SliSpec::Events {
            error_query,
            total_query,
        } => {
            for (what, q) in [("error_query", error_query), ("total_query", total_query)] {
                if !q.contains("{{.window}}") {
                    return Err(ctx.near(
                        line,
                        what,
                        format!(
                            "{what} of slo {:?} has no {{{{.window}}}} placeholder",
                            name
                        ),
                        "write the range as [{{.window}}], as in Sloth",
                    ));
                }
                promql::check(&q.replace("{{.window}}", "5m")).map_err(|e| {
                    ctx.near(
                        line,
                        what,
                        format!("{what} of slo {:?} is not valid PromQL: {e}", name),
                        "test the query in Prometheus with [5m] in place of [{{.window}}]",
                    )
                })?;
            }
            Sli::Events {
                error_query: error_query.clone(),
                total_query: total_query.clone(),
            }
        }
        SliSpec::Ratio { good, total } => {
            for (what, q) in [("good", good), ("total", total)] {
                promql::check_selector(q).map_err(|e| {
                    ctx.near(
                        line,
                        what,
                        format!("{what} of slo {:?} must be a metric selector: {e}", name),
                        "e.g. good: 'http_requests_total{code!~\"5..\"}'",
                    )
                })?;
            }
            Sli::Ratio {
                good: good.clone(),
                total: total.clone(),
            }
        }
        SliSpec::Latency {
            metric,
            selector,
            threshold,
        } => {
            let (lo, hi) = ranges::THRESHOLD;
            if !(*threshold >= lo && *threshold <= hi) {
                return Err(ctx.value_at(
                    line,
                    &["threshold"],
                    format!(
                        "latency threshold must be between 1e-9 and 86400 seconds, got {} (slo {:?})",
                        shown_number(*threshold),
                        name
                    ),
                    "use a bucket bound of the histogram, e.g. threshold: 0.3",
                ));
            }
            let metric = metric.strip_suffix("_bucket").unwrap_or(metric).to_owned();
            promql::check_selector(&format!("{metric}_bucket{}", promql::braces(selector)))
                .map_err(|e| {
                    ctx.near(
                        line,
                        "metric",
                        format!("latency SLI of slo {:?}: {e}", name),
                        "metric: a histogram name; selector: label matchers like {job=\"api\"}",
                    )
                })?;
            Sli::Latency {
                metric,
                selector: selector.clone(),
                threshold: *threshold,
            }
        }
        SliSpec::Availability { selector } => {
            promql::check_selector(&format!(
                "http_server_request_duration_seconds_count{}",
                promql::braces(selector)
            ))
            .map_err(|e| {
                ctx.near(
                    line,
                    "selector",
                    format!("availability SLI of slo {:?}: {e}", name),
                    "label matchers like {job=\"target-app\"}",
                )
            })?;
            Sli::Availability {
                selector: selector.clone(),
            }
        }
    })
}

/// The time slices of an SLO, validated against its period; errors are
/// located from line `line` (the SLO's).
fn timeslices(
    ctx: &Ctx,
    line: u64,
    s: &SloSpec,
    period_len: std::time::Duration,
) -> Result<Option<Timeslices>, SpecError> {
    let Some(t) = &s.timeslices else {
        return Ok(None);
    };
    let name = &s.name;
    let from = ctx.line_of(line, "timeslices");
    let shortest = crate::windows::alert_windows(period_len)
        .first()
        .copied()
        .unwrap_or(period_len);
    let period = crate::windows::promql_duration(period_len);
    let slice_at = |message: String, hint: String| {
        ctx.value_at(from, &["slice", "timeSliceWindow"], message, &hint)
    };
    if t.slice.subsec_nanos() != 0 {
        return Err(slice_at(
            format!(
                "time slice of slo {name:?} must be a whole number of seconds, got {}",
                humantime::format_duration(t.slice)
            ),
            "e.g. slice: 1m".into(),
        ));
    }
    if t.slice < ranges::SLICE_MIN {
        return Err(slice_at(
            format!(
                "time slice must be at least 5s, got {} (slo {name:?})",
                humantime::format_duration(t.slice)
            ),
            "each slice must hold two scrapes or more, e.g. slice: 1m".into(),
        ));
    }
    if t.slice > shortest {
        return Err(slice_at(
            format!(
                "time slice {} of slo {name:?} is longer than the shortest alert window of its {period} period ({})",
                humantime::format_duration(t.slice),
                crate::windows::promql_duration(shortest)
            ),
            format!(
                "every alert window must hold a slice: for period: {period}, a slice of at most {} (e.g. slice: 1m for 30d)",
                crate::windows::promql_duration(shortest)
            ),
        ));
    }
    if let Some(target) = t.target {
        let (lo, hi) = ranges::SLICE_TARGET;
        if !(target > lo && target <= hi) {
            let keys: &[&str] = if ctx.text.contains("timeSliceTarget:") {
                &["timeSliceTarget"]
            } else {
                &["target"]
            };
            return Err(ctx.value_at(
                from,
                keys,
                format!(
                    "time-slice target must be above 0 and at most 1, got {} (slo {name:?})",
                    shown_number(target)
                ),
                "a fraction of good events per slice: target: 0.95 for 95%",
            ));
        }
    }
    Ok(Some(Timeslices {
        slice: t.slice,
        target: t.target,
    }))
}

/// The client-side SLI of an SLO: `client:` as written (a ratio, latency or
/// events SLI), or derived from `sli`, narrowed by `client_selector`.
fn client_sli(
    ctx: &Ctx,
    line: u64,
    name: &str,
    sli: &Sli,
    client: Option<&SliSpec>,
    selector: Option<&str>,
) -> Result<ClientSli, SpecError> {
    let at = ctx.line_of(line, "client");
    let c = match (client, selector) {
        (Some(_), Some(_)) => {
            return Err(ctx.near(
                line,
                "client_selector",
                format!("slo {name:?} has both client: and client_selector: (client_selector narrows the derived client-side SLI)"),
                "write the matchers in client:'s own selectors, or leave client: out to use the derived SLI",
            ));
        }
        (Some(SliSpec::Availability { .. }), None) => {
            return Err(ctx.near(
                at,
                "availability",
                format!("client: of slo {name:?} cannot be availability (that kind reads the server's metrics)"),
                "leave client: out for the derived client availability (narrow it with client_selector), or write a ratio of http_client_request_duration_seconds_count",
            ));
        }
        (Some(spec), None) => ClientSli::Explicit(to_sli(ctx, at, name, spec)?),
        (None, selector) => {
            let selector = selector.unwrap_or_default();
            promql::check_selector(&format!(
                "{}_count{}",
                crate::client::DURATION,
                promql::braces(selector)
            ))
            .map_err(|e| {
                ctx.near(
                    line,
                    "client_selector",
                    format!("client_selector of slo {name:?}: {e}"),
                    "label matchers of loadgen's request series, e.g. {loadgen_request=\"checkout\"}",
                )
            })?;
            crate::client::derive(sli, selector)
        }
    };
    crate::client::queries(&c, std::time::Duration::from_secs(300), "run").map_err(|e| {
        ctx.near(
            at,
            "client",
            format!("client-side SLI of slo {name:?}: {e}"),
            "leave loadgen_run out of the client-side SLI: slo adds the report's run_id to every selector",
        )
    })?;
    Ok(c)
}

/// The period's length (for a calendar period, its unit's nominal length)
/// and its calendar, if it is one.
fn period(
    ctx: &Ctx,
    line: u64,
    name: &str,
    spec: &PeriodSpec,
) -> Result<(std::time::Duration, Option<Calendar>), SpecError> {
    match spec {
        PeriodSpec::Rolling(d) => {
            let (lo, hi) = ranges::PERIOD;
            if !(lo..=hi).contains(d) {
                return Err(ctx.value_at(
                    line,
                    &["period", "duration"],
                    format!(
                        "period must be between 1h and 366d, got {} (slo {name:?})",
                        crate::duration::format(*d),
                    ),
                    "e.g. period: 30d",
                ));
            }
            Ok((*d, None))
        }
        PeriodSpec::Calendar(c) => {
            let unit = match c.calendar {
                CalendarUnitSpec::Week => Unit::Week,
                CalendarUnitSpec::Month => Unit::Month,
                CalendarUnitSpec::Quarter => Unit::Quarter,
            };
            let calendar = Calendar::new(unit, &c.timezone).ok_or_else(|| {
                ctx.value_at(
                    line,
                    &["timezone", "timeZone"],
                    format!(
                        "unknown time zone {:?} (slo {name:?})",
                        c.timezone
                    ),
                    "write an IANA time zone name such as Europe/Berlin, America/New_York or UTC (the names under /usr/share/zoneinfo)",
                )
            })?;
            Ok((unit.nominal(), Some(calendar)))
        }
    }
}

fn validate(file: SpecFile, ctx: &Ctx) -> Result<Service, SpecError> {
    if file.version != "slo/v1" {
        return Err(ctx.near(
            1,
            "version",
            format!("unsupported version {:?}", file.version),
            "write version: slo/v1 (Sloth and OpenSLO files are imported with `slo import`)",
        ));
    }
    if !valid_name(&file.service) {
        return Err(ctx.near(
            1,
            "service",
            format!(
                "service name {:?} must be letters, digits, - or _",
                file.service
            ),
            "e.g. service: target-app",
        ));
    }
    if let Some(problem) = file.labels.keys().find_map(|k| label_problem(k)) {
        return Err(ctx.near(1, "labels", problem, LABEL_HINT));
    }
    if file.slos.is_empty() {
        return Err(ctx.near(
            1,
            "slos",
            "no SLOs: add at least one".into(),
            "slos: [{name: availability, objective: 99.9, sli: {availability: {}}}]",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut slos = Vec::new();
    for s in file.slos {
        let line = ctx.slo_line(&s.name);
        if !valid_name(&s.name) {
            return Err(ctx.near(
                line,
                "name",
                format!("SLO name {:?} must be letters, digits, - or _", s.name),
                "e.g. name: checkout-availability",
            ));
        }
        if !seen.insert(s.name.clone()) {
            return Err(ctx.near(
                line,
                "name",
                format!("SLO {:?} is defined twice", s.name),
                "give each SLO its own name",
            ));
        }
        let alerting_spec = s.alerting.clone().unwrap_or_default();
        let label_sets = [
            ("labels", &s.labels),
            ("labels", &alerting_spec.labels),
            (
                "labels",
                &alerting_spec
                    .page
                    .as_ref()
                    .map(|a| a.labels.clone())
                    .unwrap_or_default(),
            ),
            (
                "labels",
                &alerting_spec
                    .ticket
                    .as_ref()
                    .map(|a| a.labels.clone())
                    .unwrap_or_default(),
            ),
        ];
        for (key, set) in label_sets {
            let templated = set
                .values()
                .find(|v| v.contains("{{"))
                .map(|v| format!("label value {v:?} holds a template ({{{{ ... }}}}), which Prometheus would expand"))
                .or_else(|| {
                    set.get("severity")
                        .filter(|v| {
                            v.is_empty()
                                || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                        })
                        .map(|v| format!("severity {v:?} must be letters, digits, - or _ (it is routed on)"))
                });
            if let Some(problem) = set.keys().find_map(|k| label_problem(k)).or(templated) {
                return Err(ctx.near(
                    line,
                    key,
                    format!("slo {:?}: {problem}", s.name),
                    LABEL_HINT,
                ));
            }
        }
        if let Some(name) = &alerting_spec.name {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() {
                return Err(ctx.near(
                    line,
                    "name",
                    format!(
                        "alert name {name:?} of slo {:?} must be letters, digits or _",
                        s.name
                    ),
                    "e.g. alerting: {name: CheckoutAvailability}",
                ));
            }
        }
        let (lo, hi) = ranges::OBJECTIVE;
        if !(s.objective > lo && s.objective < hi) {
            return Err(ctx.value_at(
                line,
                &["objective", "targetPercent", "target"],
                format!(
                    "objective must be between 0 and 100 (exclusive), got {} (slo {:?})",
                    shown_number(s.objective),
                    s.name
                ),
                "objectives are percentages such as 99.9",
            ));
        }
        let (period, calendar) = period(ctx, line, &s.name, &s.period)?;
        let (lo, hi) = ranges::MIN_EVENTS;
        if let Some(m) = s.min_events
            && !(m >= lo && m <= hi)
        {
            return Err(ctx.value_at(
                line,
                &["min_events"],
                format!(
                    "min_events must be between 0 and 1e12, got {} (slo {:?})",
                    shown_number(m),
                    s.name
                ),
                "e.g. min_events: 10",
            ));
        }
        let timeslices = timeslices(ctx, line, &s, period)?;
        let sli = to_sli(ctx, line, &s.name, &s.sli)?;
        let client = client_sli(
            ctx,
            line,
            &s.name,
            &sli,
            s.client.as_ref(),
            s.client_selector.as_deref(),
        )?;
        let alerting = s.alerting.clone().unwrap_or_default();
        slos.push(Slo {
            name: s.name.clone(),
            description: s.description.clone(),
            objective: s.objective / 100.0,
            period,
            calendar,
            sli,
            client,
            min_events: s.min_events.unwrap_or(0.0),
            labels: s.labels.clone(),
            alerting: Alerting {
                name: alerting.name.clone(),
                labels: alerting.labels.clone(),
                annotations: alerting.annotations.clone(),
                runbook_url: alerting.runbook_url.clone(),
                dashboard_url: alerting.dashboard_url.clone(),
                page: alert_spec(alerting.page.as_ref()),
                ticket: alert_spec(alerting.ticket.as_ref()),
                absent: alerting.absent,
            },
            timeslices,
        });
    }
    Ok(Service {
        name: file.service,
        labels: file.labels,
        slos,
    })
}
