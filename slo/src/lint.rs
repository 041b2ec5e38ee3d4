//! What `slo check` checks without Prometheus: [`offline`] builds everything
//! the generators would build from a spec (rules, dashboard, every SLI query
//! parsed), so what check accepts they generate; and warnings about
//! generated alerts that build but cannot work as meant ([`alert_warnings`]):
//! a burn-rate alert whose threshold needs an error ratio above 100% (it can
//! never fire), and alert windows or time slices too short for a slow
//! scrape to fill. Both
//! `slo alerts` and `slo check` show them.

use std::time::Duration;

use crate::model::Service;
use crate::rules::SloRules;
use crate::windows::{Severity, promql_duration};

/// Why a spec that validated cannot be generated from.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The rules could not be built.
    #[error(transparent)]
    Rules(#[from] crate::rules::RulesError),
    /// The dashboard could not be built.
    #[error(transparent)]
    Dashboard(#[from] crate::dashboard::DashboardError),
    /// A generated SLI query does not parse.
    #[error("slo {slo:?}: generated query does not parse: {query}: {error}")]
    Query {
        slo: String,
        query: String,
        error: String,
    },
}

/// What [`offline`] found.
#[derive(Debug)]
pub struct Offline {
    /// Per SLO (in the spec's order), how many generated SLI queries parsed.
    pub queries: Vec<usize>,
    /// The warnings about the generated alerts.
    pub warnings: Vec<AlertWarning>,
    /// The rules `slo alerts` would write, per SLO in order (only the
    /// alerts the spec enables).
    pub rules: Vec<SloRules>,
}

/// Builds the rules and the dashboard of `service` and parses every SLI
/// query (over each alert window and the period) with promql-parser.
pub fn offline(service: &Service) -> Result<Offline, OfflineError> {
    let rules = crate::rules::service_rules(service)?;
    let opts = crate::dashboard::Options::for_service(service);
    crate::dashboard::dashboard(service, &opts)?;
    // And the load test dashboard (`slo dashboard --loadtest`).
    crate::loadtest_dashboard::dashboard(service, &opts)?;
    let mut queries = Vec::with_capacity(service.slos.len());
    for s in &service.slos {
        let mut parsed = 0;
        for w in crate::windows::alert_windows(s.period)
            .into_iter()
            .chain([s.period])
        {
            let q = crate::timeslices::slo_events(s, w);
            for text in [&q.errors, &q.total] {
                crate::promql::check(text).map_err(|error| OfflineError::Query {
                    slo: s.name.clone(),
                    query: text.clone(),
                    error,
                })?;
                parsed += 1;
            }
        }
        queries.push(parsed);
    }
    Ok(Offline {
        queries,
        warnings: alert_warnings(&rules),
        rules,
    })
}

/// One warning about an SLO's generated alerts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertWarning {
    /// `factor` times the budget is above 1: the burn rate cannot reach it.
    #[error(
        "slo {slo:?}: the {} alert over {} needs an error ratio above 100% ({factor}x a {:.4}% budget): it can never fire",
        severity.as_str(),
        promql_duration(*long),
        budget * 100.0
    )]
    NeverFires {
        slo: String,
        severity: Severity,
        long: Duration,
        factor: f64,
        /// The error budget, a ratio (0.001 for 99.9%).
        budget: f64,
    },
    /// The shortest alert window is under a minute.
    #[error(
        "slo {slo:?}: the shortest alert window is {}; Prometheus must scrape at least every {} for it to hold two samples",
        promql_duration(*window),
        promql_duration(Duration::from_secs((window.as_secs() / 2).max(1)))
    )]
    ShortWindow { slo: String, window: Duration },
    /// A time slice under a minute.
    #[error(
        "slo {slo:?}: time slices of {} need Prometheus to scrape at least every {}s, so that each slice holds two samples",
        promql_duration(*slice),
        (slice.as_secs() / 2).max(1)
    )]
    ShortSlice { slo: String, slice: Duration },
}

/// Windows shorter than this need a scrape interval below 30 s.
const SHORT_WINDOW: Duration = Duration::from_secs(60);

/// The warnings about `all`'s alerts, per SLO in order.
pub fn alert_warnings(all: &[SloRules]) -> Vec<AlertWarning> {
    let mut out = Vec::new();
    for r in all {
        for b in &r.burns {
            let c = &b.condition;
            if c.factor * r.slo.budget() > 1.0 {
                out.push(AlertWarning::NeverFires {
                    slo: r.slo.name.clone(),
                    severity: c.severity,
                    long: c.long,
                    factor: c.factor,
                    budget: r.slo.budget(),
                });
            }
        }
        if let Some(b) = r.burns.iter().min_by_key(|b| b.condition.short)
            && b.condition.short < SHORT_WINDOW
        {
            out.push(AlertWarning::ShortWindow {
                slo: r.slo.name.clone(),
                window: b.condition.short,
            });
        }
        if let Some(t) = r.slo.timeslices
            && t.slice < SHORT_WINDOW
        {
            out.push(AlertWarning::ShortSlice {
                slo: r.slo.name.clone(),
                slice: t.slice,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn warnings(objective: &str, period: &str) -> Vec<String> {
        let spec = format!(
            "version: slo/v1\nservice: s\nslos:\n  - name: a\n    objective: {objective}\n    period: {period}\n    sli:\n      availability: {{}}\n"
        );
        let s = crate::spec::parse(&spec, Path::new("spec.yaml")).unwrap();
        let all = crate::rules::service_rules(&s).unwrap();
        alert_warnings(&all).iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn offline_parses_every_query_of_every_window_and_warns_like_alerts() {
        let spec = "version: slo/v1\nservice: s\nslos:\n  - name: a\n    objective: 99.9\n    period: 30d\n    sli:\n      availability: {}\n  - name: b\n    objective: 80\n    period: 30d\n    sli:\n      availability: {}\n";
        let s = crate::spec::parse(spec, Path::new("spec.yaml")).unwrap();
        let found = offline(&s).unwrap();
        // errors and total over each alert window and the period.
        let per_slo = 2 * (crate::windows::alert_windows(s.slos[0].period).len() + 1);
        assert_eq!(found.queries, vec![per_slo, per_slo]);
        let rules = crate::rules::service_rules(&s).unwrap();
        assert_eq!(found.warnings, alert_warnings(&rules));
        assert!(!found.warnings.is_empty());
    }

    #[test]
    fn a_usual_slo_has_none() {
        assert!(warnings("99.9", "30d").is_empty());
    }

    #[test]
    fn a_loose_objective_cannot_page() {
        let w = warnings("80", "30d");
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            w[0],
            "slo \"a\": the page alert over 1h needs an error ratio above 100% (14.4x a 20.0000% budget): it can never fire"
        );
        assert!(w[1].contains("the page alert over 6h"), "{w:?}");
    }

    #[test]
    fn short_slices_need_a_fast_scrape() {
        let spec = "version: slo/v1\nservice: s\nslos:\n  - name: a\n    objective: 99\n    period: 1d\n    timeslices: {slice: 10s}\n    sli:\n      availability: {}\n";
        let s = crate::spec::parse(spec, Path::new("spec.yaml")).unwrap();
        let w: Vec<String> = alert_warnings(&crate::rules::service_rules(&s).unwrap())
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert!(
            w.contains(&"slo \"a\": time slices of 10s need Prometheus to scrape at least every 5s, so that each slice holds two samples".to_owned()),
            "{w:?}"
        );
        let one_minute = spec
            .replace("period: 1d", "period: 30d")
            .replace("10s", "1m");
        let s = crate::spec::parse(&one_minute, Path::new("spec.yaml")).unwrap();
        assert!(alert_warnings(&crate::rules::service_rules(&s).unwrap()).is_empty());
    }

    #[test]
    fn a_short_period_needs_a_fast_scrape() {
        let w = warnings("99.9", "1h");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("slo \"a\": the shortest alert window is "),
            "{w:?}"
        );
        assert!(w[0].ends_with("for it to hold two samples"), "{w:?}");
    }
}
