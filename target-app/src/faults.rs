//! Fault injection for SLO drills: extra errors, extra latency and stalls.
//!
//! A [`FaultPlan`] is plain data (loaded from flags, a YAML file, or the admin
//! API). [`FaultPlan::decide`] turns it into a [`FaultDecision`] for one
//! request, given a random source, so the policy is unit-tested without a
//! server. [`Faults`] is the shared, hot-swappable holder used at run time.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use common::input::{InputError, cut};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// Largest duration a fault may hold a request (latency, jitter, stall).
pub const MAX_FAULT_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Most rules a plan may have.
pub const MAX_RULES: usize = 64;
/// Longest route template, in bytes.
pub const MAX_ROUTE_LEN: usize = 256;
/// Largest fault file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Longest excerpt of a value quoted in a message, in characters.
pub const EXCERPT_CHARS: usize = common::diagnostic::EXCERPT_CHARS;
/// The hint of every error in a fault file.
const FILE_HINT: &str =
    "see \"Fault injection\" in target-app/README.md for the file format and ranges";

/// Errors in a fault plan.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// A value out of range in a plan built without a file (flags, code).
    #[error("{message} (rule {index})")]
    Range { message: String, index: usize },
    #[error("{message}")]
    Plan { message: String },
    #[error("failed to read fault file {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("fault file {path} is larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    /// A place in a fault file (or request body): file:line:column, the
    /// line with a caret, and the hint.
    #[error("{0}")]
    Parse(Box<common::diagnostic::Diagnostic>),
}

impl FaultError {
    /// The line and column of a file error.
    pub fn location(&self) -> Option<(u64, u64)> {
        match self {
            FaultError::Parse(d) => d.location,
            _ => None,
        }
    }

    fn at(text: &str, path: &str, line: u64, column: u64, message: &str) -> Self {
        Self::at_with_hint(text, path, line, column, message, FILE_HINT.to_owned())
    }

    fn at_with_hint(
        text: &str,
        path: &str,
        line: u64,
        column: u64,
        message: &str,
        hint: String,
    ) -> Self {
        // A parser that knows no line knows no column either.
        let (line, column) = if line == 0 { (1, 1) } else { (line, column) };
        FaultError::Parse(Box::new(
            common::diagnostic::Diagnostic::at(
                path,
                text,
                line,
                column,
                cut(message, EXCERPT_CHARS),
            )
            .with_hint(hint),
        ))
    }
}

impl From<InputError> for FaultError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Read { path, error } => FaultError::Read {
                path,
                source: error,
            },
            InputError::TooLarge { path, limit } => FaultError::TooLarge { path, limit },
            utf8 @ InputError::Utf8 { .. } => {
                let mut d = utf8.diagnostic();
                d.message = format!("{}; the file must be UTF-8 text", d.message);
                FaultError::Parse(Box::new(d.with_hint(FILE_HINT)))
            }
        }
    }
}

fn check_error_rate(value: f64) -> Result<(), String> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("error_rate must be between 0 and 1, got {value}"))
    }
}

fn check_error_status(value: u16) -> Result<(), String> {
    if (400..=599).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "error_status must be a 4xx or 5xx status code, got {value}"
        ))
    }
}

fn check_route(route: &str) -> Result<(), String> {
    if !route.starts_with("/api/") {
        return Err(format!(
            "route must be a route template starting with \"/api/\", got {:?}",
            cut(route, EXCERPT_CHARS)
        ));
    }
    if route.len() > MAX_ROUTE_LEN {
        return Err(format!(
            "route must be at most {MAX_ROUTE_LEN} bytes, got {}",
            route.len()
        ));
    }
    Ok(())
}

fn check_duration(field: &str, value: Duration) -> Result<(), String> {
    if value <= MAX_FAULT_DURATION {
        Ok(())
    } else {
        Err(format!(
            "{field} must be at most 24h, got {}",
            humantime::format_duration(value)
        ))
    }
}

fn parse_duration(field: &str, text: &str) -> Result<Duration, String> {
    let value = humantime::parse_duration(text.trim()).map_err(|e| {
        format!(
            "{field} must be a duration like 250ms, 2s or 1m, got {:?} ({e})",
            cut(text, 40)
        )
    })?;
    check_duration(field, value)?;
    Ok(value)
}

fn check_rules(count: usize) -> Result<(), String> {
    if count <= MAX_RULES {
        Ok(())
    } else {
        Err(format!(
            "a fault plan has at most {MAX_RULES} rules, got {count}"
        ))
    }
}

/// The file form of a plan: every value with its location, so range errors
/// name the line and column.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    #[serde(default)]
    rules: Option<Spanned<Vec<RawRule>>>,
    #[serde(default)]
    stall: Option<Spanned<String>>,
    #[serde(default)]
    steps: Option<Spanned<Vec<RawStep>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    step: Spanned<String>,
    #[serde(default)]
    share: Option<Spanned<f64>>,
    latency: Spanned<String>,
}

fn check_share(value: f64) -> Result<(), String> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("share must be between 0 and 1, got {value}"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    route: Option<Spanned<String>>,
    #[serde(default)]
    error_rate: Option<Spanned<f64>>,
    #[serde(default)]
    error_status: Option<Spanned<u16>>,
    #[serde(default)]
    latency: Option<Spanned<String>>,
    #[serde(default)]
    jitter: Option<Spanned<String>>,
}

/// Where a value is, for [`FaultError::at`].
fn place<T>(value: &Spanned<T>) -> (u64, u64) {
    (value.referenced.line(), value.referenced.column())
}

impl RawPlan {
    fn into_plan(self, text: &str, path: &str) -> Result<FaultPlan, FaultError> {
        let fail = |(line, column): (u64, u64), message: String| {
            FaultError::at(text, path, line, column, &message)
        };
        let duration = |field: &str, value: Option<Spanned<String>>| {
            value
                .map(|v| parse_duration(field, &v.value).map_err(|m| fail(place(&v), m)))
                .transpose()
        };
        let mut rules = Vec::new();
        if let Some(raw) = self.rules {
            check_rules(raw.value.len()).map_err(|m| fail(place(&raw), m))?;
            for rule in raw.value {
                if let Some(route) = &rule.route {
                    check_route(&route.value).map_err(|m| fail(place(route), m))?;
                }
                if let Some(rate) = &rule.error_rate {
                    check_error_rate(rate.value).map_err(|m| fail(place(rate), m))?;
                }
                if let Some(status) = &rule.error_status {
                    check_error_status(status.value).map_err(|m| fail(place(status), m))?;
                }
                rules.push(FaultRule {
                    route: rule.route.map(|r| r.value),
                    error_rate: rule.error_rate.map_or(0.0, |r| r.value),
                    error_status: rule.error_status.map(|s| s.value),
                    latency: duration("latency", rule.latency)?,
                    jitter: duration("jitter", rule.jitter)?,
                });
            }
        }
        let mut steps = Vec::new();
        if let Some(raw) = self.steps {
            check_rules(raw.value.len()).map_err(|m| fail(place(&raw), m))?;
            for st in raw.value {
                let step = Step::parse(&st.step.value).map_err(|m| fail(place(&st.step), m))?;
                if let Some(share) = &st.share {
                    check_share(share.value).map_err(|m| fail(place(share), m))?;
                }
                let latency = parse_duration("latency", &st.latency.value)
                    .map_err(|m| fail(place(&st.latency), m))?;
                steps.push(StepFault {
                    step,
                    share: st.share.map_or(1.0, |s| s.value),
                    latency,
                });
            }
        }
        Ok(FaultPlan {
            rules,
            stall: duration("stall", self.stall)?,
            steps,
        })
    }
}

/// One fault rule. A rule without a route applies to every API route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Route template (`/api/products/{id}`) this rule applies to; all API routes when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Share of requests (0..=1) answered with `error_status` instead of being served.
    #[serde(default)]
    pub error_rate: f64,
    /// Status code of an injected error; 500 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_status: Option<u16>,
    /// Extra latency added to every matching request.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency: Option<Duration>,
    /// Extra latency drawn uniformly from `0..jitter`, added to `latency`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub jitter: Option<Duration>,
}

/// A step of the simulated work (each runs in a child span of its own)
/// that a [`StepFault`] can slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The products query (`SELECT products`).
    Select,
    /// `validate_order`.
    Validate,
    /// `process_payment`.
    Payment,
    /// `reserve_inventory`.
    Inventory,
}

impl Step {
    /// Every step, by the name a plan gives it.
    pub const ALL: [(&'static str, Step); 4] = [
        ("select", Step::Select),
        ("validate", Step::Validate),
        ("payment", Step::Payment),
        ("inventory", Step::Inventory),
    ];

    fn parse(name: &str) -> Result<Step, String> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                format!(
                    "step must be one of select, validate, payment, inventory, got {:?}",
                    cut(name, EXCERPT_CHARS)
                )
            })
    }
}

fn one() -> f64 {
    1.0
}

/// Extra latency inside one step's span, for a share of the requests that
/// run the step: a slow dependency, seen in the traces where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFault {
    pub step: Step,
    /// Share of the step's runs (0..=1) that get the latency; all when absent.
    #[serde(default = "one")]
    pub share: f64,
    /// Added inside the step's span.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
}

/// The whole fault configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Rules; every rule whose route matches adds its latency and may inject an error.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Hold every API request this long before serving it.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub stall: Option<Duration>,
    /// Latency inside steps of the work (see [`StepFault`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepFault>,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultDecision {
    /// Wait this long first (stall plus latency and jitter).
    pub delay: Duration,
    /// Then answer with this status instead of serving the request.
    pub error_status: Option<u16>,
}

impl FaultPlan {
    /// Checks ranges; returns the plan unchanged when it is valid. (Files
    /// are checked while parsing, with locations.)
    pub fn validated(self) -> Result<Self, FaultError> {
        check_rules(self.rules.len()).map_err(|message| FaultError::Plan { message })?;
        if let Some(stall) = self.stall {
            check_duration("stall", stall).map_err(|message| FaultError::Plan { message })?;
        }
        for (index, rule) in self.rules.iter().enumerate() {
            let range = |message| FaultError::Range { message, index };
            check_error_rate(rule.error_rate).map_err(range)?;
            if let Some(status) = rule.error_status {
                check_error_status(status).map_err(range)?;
            }
            if let Some(route) = &rule.route {
                check_route(route).map_err(range)?;
            }
            if let Some(latency) = rule.latency {
                check_duration("latency", latency).map_err(range)?;
            }
            if let Some(jitter) = rule.jitter {
                check_duration("jitter", jitter).map_err(range)?;
            }
        }
        check_rules(self.steps.len()).map_err(|message| FaultError::Plan { message })?;
        for (index, st) in self.steps.iter().enumerate() {
            let range = |message: String| FaultError::Plan {
                message: format!("{message} (step fault {index})"),
            };
            check_share(st.share).map_err(range)?;
            check_duration("latency", st.latency).map_err(range)?;
        }
        Ok(self)
    }

    /// Parses and validates a YAML (or JSON) fault plan; `path` names it in
    /// errors, which carry `path:line:column`.
    pub fn from_yaml(text: &str, path: &str) -> Result<Self, FaultError> {
        let raw: RawPlan = serde_saphyr::from_str(text).map_err(|err| {
            let e = common::diagnostic::yaml_error(&err);
            // A field the format does not have: the valid ones, then the format.
            let hint = match e.unknown {
                Some(u) => format!("{}; {FILE_HINT}", u.hint()),
                None => FILE_HINT.to_owned(),
            };
            FaultError::at_with_hint(text, path, e.line, e.column, &e.message, hint)
        })?;
        raw.into_plan(text, path)
    }

    /// Like [`FaultPlan::from_yaml`] for bytes that must be UTF-8; invalid
    /// UTF-8 is reported at the line and column of the first bad byte.
    pub fn from_bytes(bytes: &[u8], path: &str) -> Result<Self, FaultError> {
        Self::from_yaml(common::input::decode_str(bytes, path)?, path)
    }

    /// Reads a fault plan from a file, or from standard input when `path` is
    /// `-`; at most [`MAX_FILE_BYTES`].
    pub fn from_file(path: &Path) -> Result<Self, FaultError> {
        let bytes = common::input::read_bytes(path, MAX_FILE_BYTES)?;
        Self::from_bytes(&bytes, &common::input::shown(path))
    }

    /// True when the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.stall.is_none() && self.rules.is_empty() && self.steps.is_empty()
    }

    /// The extra latency of one run of `step`: the sum of the step faults
    /// on it that this run draws (each with its share); `None` when none.
    pub fn step_delay(&self, step: Step, rng: &mut impl Rng) -> Option<Duration> {
        let mut delay: Option<Duration> = None;
        for f in self.steps.iter().filter(|f| f.step == step) {
            if f.share >= 1.0 || (f.share > 0.0 && rng.random::<f64>() < f.share) {
                delay = Some(delay.unwrap_or_default().saturating_add(f.latency));
            }
        }
        delay
    }

    /// Decides the fate of one request to `route` (its template).
    pub fn decide(&self, route: &str, rng: &mut impl Rng) -> FaultDecision {
        let mut decision = FaultDecision {
            delay: self.stall.unwrap_or_default(),
            error_status: None,
        };
        for rule in &self.rules {
            if rule.route.as_deref().is_some_and(|r| r != route) {
                continue;
            }
            decision.delay = decision
                .delay
                .saturating_add(rule.latency.unwrap_or_default());
            if let Some(jitter) = rule.jitter
                && !jitter.is_zero()
            {
                decision.delay = decision
                    .delay
                    .saturating_add(jitter.mul_f64(rng.random::<f64>()));
            }
            if decision.error_status.is_none()
                && rule.error_rate > 0.0
                && rng.random::<f64>() < rule.error_rate
            {
                decision.error_status = Some(rule.error_status.unwrap_or(500));
            }
        }
        decision
    }
}

/// The live fault plan, shared by the request path and the admin API.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    plan: Arc<RwLock<Arc<FaultPlan>>>,
}

impl Faults {
    pub fn new(plan: FaultPlan) -> Self {
        Self {
            plan: Arc::new(RwLock::new(Arc::new(plan))),
        }
    }

    /// The current plan (cheap: an `Arc` clone under a read lock).
    pub fn current(&self) -> Arc<FaultPlan> {
        match self.plan.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the plan.
    pub fn set(&self, plan: FaultPlan) {
        let mut guard = match self.plan.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(plan);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn rule(route: Option<&str>, error_rate: f64) -> FaultRule {
        FaultRule {
            route: route.map(str::to_owned),
            error_rate,
            ..FaultRule::default()
        }
    }

    #[test]
    fn empty_plan_changes_nothing() {
        let mut rng = StdRng::seed_from_u64(1);
        let plan = FaultPlan::default();
        assert!(plan.is_empty());
        assert_eq!(
            plan.decide("/api/products", &mut rng),
            FaultDecision::default()
        );
    }

    #[test]
    fn error_rate_is_honoured_statistically() {
        let mut rng = StdRng::seed_from_u64(7);
        let plan = FaultPlan {
            rules: vec![rule(None, 0.25)],
            stall: None,
            steps: Vec::new(),
        };
        let errors = (0..20_000)
            .filter(|_| plan.decide("/api/orders", &mut rng).error_status.is_some())
            .count();
        let share = errors as f64 / 20_000.0;
        assert!((0.23..0.27).contains(&share), "share {share}");
    }

    #[test]
    fn route_rules_only_match_their_route() {
        let mut rng = StdRng::seed_from_u64(3);
        let plan = FaultPlan {
            rules: vec![FaultRule {
                error_status: Some(503),
                ..rule(Some("/api/orders"), 1.0)
            }],
            stall: None,
            steps: Vec::new(),
        };
        assert_eq!(plan.decide("/api/orders", &mut rng).error_status, Some(503));
        assert_eq!(plan.decide("/api/products", &mut rng).error_status, None);
    }

    #[test]
    fn latency_jitter_and_stall_add_up() {
        let mut rng = StdRng::seed_from_u64(5);
        let plan = FaultPlan {
            rules: vec![FaultRule {
                latency: Some(Duration::from_millis(100)),
                jitter: Some(Duration::from_millis(50)),
                ..FaultRule::default()
            }],
            stall: Some(Duration::from_secs(2)),
            steps: Vec::new(),
        };
        for _ in 0..1000 {
            let d = plan.decide("/api/products", &mut rng).delay;
            assert!(d >= Duration::from_millis(2100) && d < Duration::from_millis(2150));
        }
    }

    #[test]
    fn huge_latencies_saturate_instead_of_overflowing() {
        let mut rng = StdRng::seed_from_u64(5);
        let huge = FaultRule {
            latency: Some(Duration::MAX),
            ..FaultRule::default()
        };
        let plan = FaultPlan {
            rules: vec![huge.clone(), huge],
            stall: Some(Duration::MAX),
            steps: Vec::new(),
        };
        assert_eq!(plan.decide("/api/orders", &mut rng).delay, Duration::MAX);
    }

    #[test]
    fn step_faults_parse_and_draw_their_share() {
        let text = "steps:\n  - step: payment\n    share: 0.2\n    latency: 200ms\n  - step: inventory\n    latency: 50ms\n";
        let plan = FaultPlan::from_yaml(text, "f.yaml").unwrap();
        assert!(!plan.is_empty());
        assert_eq!(plan.steps[1].share, 1.0, "all runs when no share is given");
        let mut rng = StdRng::seed_from_u64(9);
        let hits = (0..10_000)
            .filter(|_| plan.step_delay(Step::Payment, &mut rng).is_some())
            .count();
        assert!((1800..2200).contains(&hits), "{hits}");
        assert_eq!(
            plan.step_delay(Step::Inventory, &mut rng),
            Some(Duration::from_millis(50))
        );
        assert_eq!(plan.step_delay(Step::Select, &mut rng), None);
        let json = serde_json::to_string(&plan).unwrap();
        assert!(json.contains("\"step\":\"payment\""), "{json}");
        let back: FaultPlan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, plan);
        assert!(back.validated().is_ok());
    }

    #[test]
    fn yaml_round_trip() {
        let text = "rules:\n  - route: /api/orders\n    error_rate: 0.5\n    error_status: 503\n    latency: 200ms\n    jitter: 1s\nstall: 3s\n";
        let plan = FaultPlan::from_yaml(text, "f.yaml").unwrap();
        assert_eq!(plan.rules[0].latency, Some(Duration::from_millis(200)));
        assert_eq!(plan.stall, Some(Duration::from_secs(3)));
        let json = serde_json::to_string(&plan).unwrap();
        let back: FaultPlan = serde_json::from_str(&json).unwrap();
        assert_eq!(plan, back);
    }

    #[test]
    fn malformed_plans_are_rejected_with_location() {
        let cases: &[(&str, &str)] = &[
            (
                "rules:\n  - error_rate: 2\n",
                "error_rate must be between 0 and 1",
            ),
            (
                "rules:\n  - error_rate: -0.1\n",
                "error_rate must be between 0 and 1",
            ),
            (
                "rules:\n  - error_status: 200\n",
                "error_status must be a 4xx or 5xx",
            ),
            (
                "rules:\n  - route: /health\n",
                "route must be a route template",
            ),
            ("rules:\n  - latency: soon\n", "f.yaml:2:"),
            ("rules:\n  - error_rate: lots\n", "f.yaml:2:"),
            ("stall: 5s\nbogus: 1\n", "f.yaml:2:"),
            ("rules: [\n", "f.yaml:"),
            (
                "rules:\n  - route: /api/orders\n    eror_rate: 0.1\n",
                "f.yaml:3:",
            ),
            (
                "steps:\n  - step: paymnet\n    latency: 200ms\n",
                "f.yaml:2:11: step must be one of select, validate, payment, inventory",
            ),
            (
                "steps:\n  - step: payment\n    share: 1.5\n    latency: 1s\n",
                "f.yaml:3:12: share must be between 0 and 1",
            ),
            (
                "steps:\n  - step: payment\n    latency: 25h\n",
                "f.yaml:3:14: latency must be at most 24h",
            ),
            ("steps:\n  - step: payment\n", "f.yaml:2:"),
        ];
        for (text, expected) in cases {
            let err = FaultPlan::from_yaml(text, "f.yaml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    /// `text` must be refused with exactly this location and message.
    fn refused_at(text: &str, line: u64, column: u64, expected: &str) {
        let err = FaultPlan::from_yaml(text, "f.yaml").unwrap_err();
        assert_eq!(err.location(), Some((line, column)), "{text:?}: {err}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("f.yaml:{line}:{column}: ")),
            "{shown}"
        );
        assert!(shown.contains(expected), "{text:?}: {shown}");
    }

    #[test]
    fn range_errors_carry_file_line_column_and_a_caret() {
        refused_at(
            "rules:\n  - route: /api/orders\n    error_rate: 2\n",
            3,
            17,
            "error_rate must be between 0 and 1, got 2",
        );
        refused_at(
            "rules:\n  - error_rate: -0.1\n",
            2,
            17,
            "error_rate must be",
        );
        refused_at(
            "rules:\n  - error_rate: .nan\n",
            2,
            17,
            "error_rate must be",
        );
        refused_at(
            "rules:\n  - error_rate: .inf\n",
            2,
            17,
            "error_rate must be",
        );
        refused_at("rules:\n  - error_status: 200\n", 2, 19, "4xx or 5xx");
        refused_at("rules:\n  - error_status: 70000\n", 2, 19, "");
        refused_at(
            "rules:\n  - route: /health\n",
            2,
            12,
            "route must be a route template",
        );
        refused_at(
            "rules:\n  - latency: 25h\n",
            2,
            14,
            "latency must be at most 24h",
        );
        refused_at(
            "rules:\n  - jitter: soon\n",
            2,
            13,
            "jitter must be a duration",
        );
        refused_at("stall: 2d\n", 1, 8, "stall must be at most 24h");
        let err = FaultPlan::from_yaml("rules:\n  - error_rate: 2\n", "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\n  |   - error_rate: 2\n  |                 ^\n"),
            "{err}"
        );
    }

    #[test]
    fn durations_that_would_overflow_an_instant_are_refused() {
        for text in [
            "rules:\n  - latency: 999999999999d\n",
            "rules:\n  - jitter: 18446744073709551615s\n",
            "stall: 999999999999d\n",
        ] {
            let err = FaultPlan::from_yaml(text, "f.yaml").unwrap_err();
            assert!(err.location().is_some(), "{text:?}: {err}");
        }
        let flags = FaultPlan {
            rules: vec![FaultRule {
                latency: Some(Duration::MAX),
                ..FaultRule::default()
            }],
            stall: None,
            steps: Vec::new(),
        };
        let err = flags.validated().unwrap_err().to_string();
        assert!(err.contains("latency must be at most 24h"), "{err}");
    }

    #[test]
    fn too_many_rules_and_overlong_routes_are_refused() {
        let many = format!("rules:\n{}", "  - error_rate: 0\n".repeat(MAX_RULES + 1));
        refused_at(&many, 2, 3, "at most 64 rules");
        let long = format!("rules:\n  - route: /api/{}\n", "x".repeat(MAX_ROUTE_LEN));
        refused_at(&long, 2, 12, "route must be at most 256 bytes");
    }

    #[test]
    fn invalid_utf8_is_reported_at_the_line_of_the_first_bad_byte() {
        let bytes = b"stall: 5s\nrules:\n  - route: /api/\xff\xfeorders\n";
        let err = FaultPlan::from_bytes(bytes, "f.yaml").unwrap_err();
        assert_eq!(err.location(), Some((3, 17)), "{err}");
        assert!(
            err.to_string()
                .contains("invalid UTF-8: byte 0xff at offset 33"),
            "{err}"
        );
    }

    #[test]
    fn snippets_and_messages_of_huge_lines_are_cut() {
        let huge = "x".repeat(2_000_000);
        for text in [
            format!("rules:\n  - route: /api/{huge}\n"),
            format!("rules:\n  - route: /api/o\n    bogus: {huge}\n"),
            format!("rules: [{huge}"),
            format!("rules:\n  - error_rate: {huge}\n"),
        ] {
            let err = FaultPlan::from_yaml(&text, "f.yaml").unwrap_err();
            assert!(err.location().is_some(), "{err}");
            let shown = err.to_string();
            assert!(shown.len() < 1_000, "{} bytes", shown.len());
        }
        let excerpt = common::diagnostic::Excerpt::of_line(&"ab".repeat(1000), 1501);
        let (snippet, caret) = (excerpt.text, format!("{}^", " ".repeat(excerpt.caret)));
        assert_eq!(snippet.chars().count(), EXCERPT_CHARS + 2);
        assert_eq!(snippet.chars().nth(caret.len() - 1), Some('a'));
    }
}
