//! Fault injection for SLO drills: extra errors, extra latency and stalls.
//!
//! A [`FaultPlan`] is plain data (loaded from flags, a YAML file, or the admin
//! API). [`FaultPlan::decide`] turns it into a [`FaultDecision`] for one
//! request, given a random source, so the policy is unit-tested without a
//! server. [`Faults`] is the shared, hot-swappable holder used at run time.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Errors in a fault plan.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("error_rate must be between 0 and 1, got {value} (rule {index})")]
    ErrorRate { value: f64, index: usize },
    #[error("error_status must be a 4xx or 5xx status code, got {value} (rule {index})")]
    ErrorStatus { value: u16, index: usize },
    #[error("route must be a route template starting with \"/api/\", got {route:?} (rule {index})")]
    Route { route: String, index: usize },
    #[error("failed to read fault file {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}:{column}: {message}\n  | {snippet}\n  = hint: see \"Fault injection\" in target-app/README.md for the file format"
    )]
    Parse {
        path: String,
        line: u64,
        column: u64,
        message: String,
        snippet: String,
    },
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
    /// Checks ranges; returns the plan unchanged when it is valid.
    pub fn validated(self) -> Result<Self, FaultError> {
        for (index, rule) in self.rules.iter().enumerate() {
            if !(0.0..=1.0).contains(&rule.error_rate) || rule.error_rate.is_nan() {
                return Err(FaultError::ErrorRate {
                    value: rule.error_rate,
                    index,
                });
            }
            if let Some(status) = rule.error_status
                && !(400..=599).contains(&status)
            {
                return Err(FaultError::ErrorStatus {
                    value: status,
                    index,
                });
            }
            if let Some(route) = &rule.route
                && !route.starts_with("/api/")
            {
                return Err(FaultError::Route {
                    route: route.clone(),
                    index,
                });
            }
        }
        Ok(self)
    }

    /// Parses and validates a YAML (or JSON) fault plan; `path` names it in errors.
    pub fn from_yaml(text: &str, path: &str) -> Result<Self, FaultError> {
        let plan: FaultPlan = serde_saphyr::from_str(text).map_err(|err| {
            let (line, column) = err
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            let snippet = text
                .lines()
                .nth(line.saturating_sub(1) as usize)
                .unwrap_or("")
                .to_owned();
            FaultError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: first_line(&err.to_string()),
                snippet,
            }
        })?;
        plan.validated()
    }

    /// Reads a fault plan from a file, or from standard input when `path` is `-`.
    pub fn from_file(path: &Path) -> Result<Self, FaultError> {
        let stdin = path == Path::new("-");
        let shown = if stdin {
            "<stdin>".to_owned()
        } else {
            path.display().to_string()
        };
        let read = if stdin {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        };
        let text = read.map_err(|source| FaultError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_yaml(&text, &shown)
    }

    /// True when the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.stall.is_none() && self.rules.is_empty()
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

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).to_owned()
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
        };
        assert_eq!(plan.decide("/api/orders", &mut rng).delay, Duration::MAX);
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
        ];
        for (text, expected) in cases {
            let err = FaultPlan::from_yaml(text, "f.yaml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
