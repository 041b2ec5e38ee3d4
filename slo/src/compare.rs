//! `slo gate --run REPORT --compare-client`: over a load test's window,
//! each SLO's server-side SLI (the service's own metrics) beside its
//! client-side SLI (the metrics loadgen exported for that run, see
//! [`crate::client`]), each judged against the objective as the gate judges
//! one, and which side missed.
//!
//! The two differ by what one side sees and the other does not: requests
//! the server never saw (refused connections, timeouts at a load balancer),
//! answers it does not count as errors (a 404 of an unrouted path), and
//! time it does not measure (client-side queueing, connection set-up, the
//! network). [`compare`] is pure; [`gate`] asks Prometheus.

use std::time::Duration;

use serde::Serialize;

use crate::answer::{SNIPPET_CHARS, snippet};
use crate::client::{self, InjectError, RUN_LABEL};
use crate::evaluate::{self, GateResult, GateVerdict, Reading};
use crate::model::{ClientSli, Service, Sli, Slo};
use crate::prom::{Prom, PromError};

/// How long after the run's end the client side still looks for the run's
/// series: the final reading (the run's totals) is sent, or scraped, after
/// the last request ended. Only the run's own series are read, and they
/// do not change after it, so a longer look adds nothing else.
pub const CLIENT_GRACE: Duration = Duration::from_secs(60);

/// One side of a comparison.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Server,
    Client,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

/// One SLO's two sides over a run's window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub name: String,
    pub objective: f64,
    pub window_seconds: u64,
    /// The run whose client metrics were read (`loadgen_run`).
    pub run_id: String,
    /// The spec's SLI over the service's metrics, judged as `slo gate` does.
    pub server: GateResult,
    /// The client-side SLI over the run's metrics, judged the same way.
    pub client: GateResult,
    /// What the client side counts, in words (which requests, which are good).
    pub client_sli: String,
    /// Fail when either side missed, else inconclusive when either could
    /// not be told, else pass.
    pub verdict: GateVerdict,
    /// The sides that missed.
    pub missed: Vec<Side>,
    /// Why, naming the side that missed.
    pub reason: String,
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "unknown".into(), |x| format!("{:.2}%", x * 100.0))
}

/// Why the two sides of this SLI can differ, after "N% of the requests".
fn explanation(sli: &ClientSli) -> &'static str {
    match sli {
        ClientSli::Latency { .. } | ClientSli::Explicit(Sli::Latency { .. }) => {
            "were slow or failed on the client but not on the server: time the server does not measure (client-side queueing, connection set-up, the network), and failed requests, never fast on the client side"
        }
        _ => {
            "failed on the client but not on the server: requests that never reached it (refused connections, timeouts before it answered) or that it answered without counting an error (a 404 of an unrouted path)"
        }
    }
}

/// What one side's miss says: its SLI against the objective, or its reason.
fn missed(side: Side, r: &GateResult) -> String {
    match r.sli {
        Some(sli) if sli < r.objective => format!(
            "{}-side SLI {} misses the objective {}%",
            side.as_str(),
            percent(Some(sli)),
            r.objective * 100.0
        ),
        _ => format!("{}-side {}", side.as_str(), r.reason),
    }
}

/// The comparison of one SLO from its two readings (pure). `max_burn`
/// applies to both sides, as in `slo gate`.
pub fn compare(
    slo: &Slo,
    window: Duration,
    run_id: &str,
    server: &Reading,
    client: &Reading,
    max_burn: Option<f64>,
) -> Comparison {
    let s = evaluate::judge(slo, window, server, max_burn);
    // The client side counts the run's requests, also for a time-slice SLO.
    let by_events = Slo {
        timeslices: None,
        ..slo.clone()
    };
    let mut c = evaluate::judge(&by_events, window, client, max_burn);
    if let Reading::NoData { query } = client {
        c.reason = format!(
            "no client metrics of run {run_id:?} in Prometheus: {query} returned no series (were the run's metrics exported, with `loadgen run --remote-write URL` or scraped from `--metrics-listen ADDR`, into this Prometheus?): never a pass"
        );
    }
    let missed_sides: Vec<Side> = [(Side::Server, &s), (Side::Client, &c)]
        .into_iter()
        .filter(|(_, r)| r.verdict == GateVerdict::Fail)
        .map(|(side, _)| side)
        .collect();
    use GateVerdict::{Fail, Inconclusive, Pass};
    let (verdict, reason) = match (s.verdict, c.verdict) {
        (Fail, Fail) => (
            Fail,
            format!(
                "both sides miss: {}, {}",
                missed(Side::Server, &s),
                missed(Side::Client, &c)
            ),
        ),
        (Pass, Fail) => {
            let gap = match (s.sli, c.sli) {
                (Some(a), Some(b)) if a > b => format!(
                    ": {} of the requests {}",
                    percent(Some(a - b)),
                    explanation(&slo.client)
                ),
                _ => String::new(),
            };
            (
                Fail,
                format!(
                    "{} while the server saw {}{gap}",
                    missed(Side::Client, &c),
                    percent(s.sli)
                ),
            )
        }
        (Fail, Pass) => (
            Fail,
            format!(
                "{} while the client saw {}: the server counted as bad requests the client accepted (a status in the scenario's expect), or traffic besides this run's",
                missed(Side::Server, &s),
                percent(c.sli)
            ),
        ),
        (Inconclusive, Fail) => (
            Fail,
            format!(
                "{}; the server side is inconclusive: {}",
                missed(Side::Client, &c),
                s.reason
            ),
        ),
        (Fail, Inconclusive) => (
            Fail,
            format!(
                "{}; the client side is inconclusive: {}",
                missed(Side::Server, &s),
                c.reason
            ),
        ),
        (Pass, Pass) => (
            Pass,
            format!(
                "both sides met the objective: server-side {}, client-side {}",
                percent(s.sli),
                percent(c.sli)
            ),
        ),
        _ => {
            let why: Vec<String> = [(Side::Server, &s), (Side::Client, &c)]
                .into_iter()
                .filter(|(_, r)| r.verdict == Inconclusive)
                .map(|(side, r)| format!("{}-side inconclusive: {}", side.as_str(), r.reason))
                .collect();
            (Inconclusive, why.join("; "))
        }
    };
    Comparison {
        name: slo.name.clone(),
        objective: slo.objective,
        window_seconds: window.as_secs(),
        run_id: run_id.to_owned(),
        server: s,
        client: c,
        client_sli: client::describe(&slo.client),
        verdict,
        missed: missed_sides,
        reason,
    }
}

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Prom(#[from] PromError),
    #[error("slo {slo:?}: {error}")]
    Query { slo: String, error: InjectError },
}

/// The client side's reading of one SLO over the run `[from, to]`.
async fn client_reading(
    prom: &Prom,
    slo: &Slo,
    run_id: &str,
    window: Duration,
    to: i64,
) -> Result<Reading, CompareError> {
    let q = client::queries(&slo.client, window.saturating_add(CLIENT_GRACE), run_id).map_err(
        |error| CompareError::Query {
            slo: slo.name.clone(),
            error,
        },
    )?;
    let grace = i64::try_from(CLIENT_GRACE.as_secs()).unwrap_or(0);
    let at = Some(to.saturating_add(grace));
    let total = prom.instant(&q.total, at).await?;
    let errors = prom.instant(&q.errors, at).await?;
    Ok(evaluate::reading_of(
        client::empty_errors_mean_zero(&slo.client),
        &q,
        &total,
        &errors,
    ))
}

/// Compares every SLO of `service` over the run `run_id`'s window
/// `[from, to]` (Unix seconds): the server side as `slo gate` reads it (one
/// `increase()` over the window at its end), the client side from the run's
/// series (their totals up to [`CLIENT_GRACE`] after the end).
pub async fn gate(
    prom: &Prom,
    service: &Service,
    run_id: &str,
    from: i64,
    to: i64,
    max_burn: Option<f64>,
) -> Result<Vec<Comparison>, CompareError> {
    let window = evaluate::window_of(from, to);
    let mut out = Vec::new();
    for slo in &service.slos {
        let server = evaluate::events(prom, slo, window, Some(to)).await?;
        let client = client_reading(prom, slo, run_id, window, to).await?;
        out.push(compare(slo, window, run_id, &server, &client, max_burn));
    }
    Ok(out)
}

/// The label matcher that selects a run's series, for messages.
pub fn run_matcher(run_id: &str) -> String {
    format!(
        "{RUN_LABEL}=\"{}\"",
        snippet(&promql_parser::util::escape_string(run_id), SNIPPET_CHARS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Events;
    use crate::model::Alerting;

    fn slo(sli: Sli) -> Slo {
        Slo {
            name: "availability".into(),
            description: None,
            objective: 0.99,
            period: Duration::from_secs(30 * 86_400),
            calendar: None,
            client: crate::client::derive(&sli, ""),
            sli,
            min_events: 10.0,
            labels: Default::default(),
            alerting: Alerting::default(),
            timeslices: None,
        }
    }

    fn availability() -> Slo {
        slo(Sli::Availability {
            selector: String::new(),
        })
    }

    fn counted(total: f64, errors: f64) -> Reading {
        Reading::Events(Events { total, errors })
    }

    fn cmp(s: &Slo, server: Reading, client: Reading) -> Comparison {
        compare(s, Duration::from_secs(60), "r1", &server, &client, None)
    }

    #[test]
    fn a_client_side_miss_is_named_with_the_gap() {
        let c = cmp(&availability(), counted(1000.0, 0.0), counted(1000.0, 39.0));
        assert_eq!(c.verdict, GateVerdict::Fail);
        assert_eq!(c.missed, vec![Side::Client]);
        assert_eq!(c.server.verdict, GateVerdict::Pass);
        assert!(
            c.reason.starts_with(
                "client-side SLI 96.10% misses the objective 99% while the server saw 100.00%: 3.90% of the requests failed on the client"
            ),
            "{}",
            c.reason
        );
        assert!(c.reason.contains("never reached it"), "{}", c.reason);
    }

    #[test]
    fn a_latency_miss_explains_time_the_server_does_not_measure() {
        let s = slo(Sli::Latency {
            metric: "m".into(),
            selector: String::new(),
            threshold: 0.1,
        });
        let c = cmp(&s, counted(100.0, 0.0), counted(100.0, 20.0));
        assert!(c.reason.contains("client-side queueing"), "{}", c.reason);
        assert!(c.client_sli.contains("within 0.1s"), "{}", c.client_sli);
    }

    #[test]
    fn a_server_side_miss_is_named() {
        let c = cmp(&availability(), counted(1000.0, 50.0), counted(1000.0, 0.0));
        assert_eq!(c.verdict, GateVerdict::Fail);
        assert_eq!(c.missed, vec![Side::Server]);
        assert!(
            c.reason.starts_with(
                "server-side SLI 95.00% misses the objective 99% while the client saw 100.00%"
            ),
            "{}",
            c.reason
        );
    }

    #[test]
    fn both_sides_missing_names_both() {
        let c = cmp(
            &availability(),
            counted(1000.0, 50.0),
            counted(1000.0, 90.0),
        );
        assert_eq!(c.missed, vec![Side::Server, Side::Client]);
        assert!(
            c.reason
                .starts_with("both sides miss: server-side SLI 95.00%"),
            "{}",
            c.reason
        );
        assert!(c.reason.contains("client-side SLI 91.00%"), "{}", c.reason);
    }

    #[test]
    fn no_client_data_is_inconclusive_never_a_pass() {
        let c = cmp(
            &availability(),
            counted(1000.0, 0.0),
            Reading::NoData {
                query: "sum(x)".into(),
            },
        );
        assert_eq!(c.verdict, GateVerdict::Inconclusive);
        assert!(c.missed.is_empty());
        assert!(
            c.reason
                .starts_with("client-side inconclusive: no client metrics of run \"r1\""),
            "{}",
            c.reason
        );
        assert!(c.reason.contains("--remote-write"), "{}", c.reason);
        // An untrusted client answer is inconclusive too; a known miss still fails.
        let c = cmp(
            &availability(),
            counted(1000.0, 0.0),
            Reading::Inconclusive("Prometheus answered NaN".into()),
        );
        assert_eq!(c.verdict, GateVerdict::Inconclusive);
        let c = cmp(
            &availability(),
            counted(1000.0, 500.0),
            Reading::Inconclusive("Prometheus answered NaN".into()),
        );
        assert_eq!(c.verdict, GateVerdict::Fail);
        assert!(
            c.reason.contains("the client side is inconclusive"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn two_passes_pass_and_show_both() {
        let c = cmp(&availability(), counted(1000.0, 1.0), counted(1010.0, 2.0));
        assert_eq!(c.verdict, GateVerdict::Pass);
        assert_eq!(
            c.reason,
            "both sides met the objective: server-side 99.90%, client-side 99.80%"
        );
        assert_eq!(c.client.total, Some(1010.0));
    }

    #[test]
    fn the_run_matcher_is_quoted() {
        assert_eq!(run_matcher("a\"b"), "loadgen_run=\"a\\\"b\"");
    }
}
