//! Error-budget arithmetic: SLI, budget consumed and remaining, burn rate,
//! time to exhaustion. Windows without enough traffic are "no traffic",
//! never NaN or infinity. The same arithmetic counts events, or for a
//! time-slice SLO slices (counted slices as the total, bad ones as errors).

use std::time::Duration;

use crate::model::Slo;

/// Good and total events over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Events {
    pub total: f64,
    pub errors: f64,
}

/// What a window says about an SLO.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Fewer events than the SLO's minimum (or none at all).
    NoTraffic,
    Measured {
        /// Share of good events.
        sli: f64,
        /// Error ratio divided by the budget: 1 spends the budget exactly over the period.
        burn_rate: f64,
    },
}

/// Evaluates one window. For a time-slice SLO, `e` counts slices (each
/// already held to `min_events`): one counted slice is traffic.
pub fn verdict(slo: &Slo, e: Events) -> Verdict {
    let min = if slo.timeslices.is_some() {
        0.0
    } else {
        slo.min_events
    };
    if !(e.total.is_finite() && e.errors.is_finite()) || e.total <= 0.0 || e.total < min {
        return Verdict::NoTraffic;
    }
    let errors = e.errors.clamp(0.0, e.total);
    let error_ratio = errors / e.total;
    Verdict::Measured {
        sli: 1.0 - error_ratio,
        burn_rate: error_ratio / slo.budget(),
    }
}

/// The budget over the SLO's period, from the period's events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Failed events the period allows at its current traffic.
    pub allowed_errors: f64,
    pub consumed_errors: f64,
    /// consumed / allowed (may exceed 1).
    pub consumed_ratio: f64,
    /// 1 - consumed_ratio (negative when overspent).
    pub remaining_ratio: f64,
    /// More failed events allowed at the period's traffic (0 when overspent).
    pub remaining_errors: f64,
}

pub fn budget(slo: &Slo, period: Events) -> Option<Budget> {
    if !(period.total.is_finite() && period.errors.is_finite()) || period.total <= 0.0 {
        return None;
    }
    let allowed = period.total * slo.budget();
    let consumed = period.errors.clamp(0.0, period.total);
    let ratio = consumed / allowed;
    Some(Budget {
        allowed_errors: allowed,
        consumed_errors: consumed,
        consumed_ratio: ratio,
        remaining_ratio: 1.0 - ratio,
        remaining_errors: (allowed - consumed).max(0.0),
    })
}

/// How long the remaining budget lasts at `burn_rate`; `None` when it is
/// not being spent (burn rate 0) or already gone.
pub fn time_to_exhaustion(slo: &Slo, remaining_ratio: f64, burn_rate: f64) -> Option<Duration> {
    let spending = burn_rate.is_finite() && burn_rate > 0.0;
    let left = remaining_ratio.is_finite() && remaining_ratio > 0.0;
    if !(spending && left) {
        return None;
    }
    let secs = remaining_ratio * slo.period.as_secs_f64() / burn_rate;
    secs.is_finite().then(|| Duration::from_secs_f64(secs))
}

/// Where a calendar period's budget is headed: the period's traffic so far
/// goes on at its average rate to the period's end, and errors at the
/// current burn rate. The budget of a calendar period is a share of the
/// whole period's events, so it grows with the traffic still to come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// Errors over allowed errors at the period's end (above 1: overspent).
    pub end_consumed_ratio: f64,
    /// The budget still holds at the period's end.
    pub lasts: bool,
    /// From now until the budget is gone, when that happens before the
    /// period ends (zero when it is gone already).
    pub exhausted_in: Option<Duration>,
}

/// The projection of `period`'s events (counted over `elapsed`, with
/// `left` to go) at `burn_rate`; `None` without traffic or elapsed time.
pub fn project(
    slo: &Slo,
    period: Events,
    elapsed: Duration,
    left: Duration,
    burn_rate: f64,
) -> Option<Projection> {
    let (total, secs) = (period.total, elapsed.as_secs_f64());
    if !(total.is_finite() && period.errors.is_finite() && burn_rate.is_finite())
        || total <= 0.0
        || secs <= 0.0
        || burn_rate < 0.0
    {
        return None;
    }
    let b = slo.budget();
    let consumed = period.errors.clamp(0.0, total);
    let rate = total / secs;
    let future = rate * left.as_secs_f64();
    let end_consumed_ratio = (consumed + burn_rate * b * future) / (b * (total + future));
    // Budget left now; each second adds `rate * b` allowed errors and spends
    // `rate * b * burn_rate`.
    let margin = b * total - consumed;
    let exhausted_in = if margin <= 0.0 {
        Some(Duration::ZERO)
    } else if burn_rate > 1.0 {
        let t = margin / (rate * b * (burn_rate - 1.0));
        (t < left.as_secs_f64()).then(|| Duration::from_secs_f64(t))
    } else {
        None
    };
    Some(Projection {
        end_consumed_ratio,
        lasts: end_consumed_ratio <= 1.0,
        exhausted_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alerting, Sli};

    fn slo(objective: f64) -> Slo {
        Slo {
            name: "s".into(),
            description: None,
            objective,
            period: Duration::from_secs(30 * 86_400),
            calendar: None,
            sli: Sli::Availability {
                selector: String::new(),
            },
            client: crate::model::ClientSli::Availability {
                selector: String::new(),
            },
            min_events: 10.0,
            labels: Default::default(),
            alerting: Alerting::default(),
            timeslices: None,
        }
    }

    #[test]
    fn burn_rate_is_error_ratio_over_budget() {
        let s = slo(0.999);
        match verdict(
            &s,
            Events {
                total: 10_000.0,
                errors: 50.0,
            },
        ) {
            Verdict::Measured { sli, burn_rate } => {
                assert!((sli - 0.995).abs() < 1e-12);
                assert!((burn_rate - 5.0).abs() < 1e-9);
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn no_traffic_is_never_nan() {
        let s = slo(0.999);
        for e in [
            Events {
                total: 0.0,
                errors: 0.0,
            },
            Events {
                total: 5.0,
                errors: 5.0,
            },
            Events {
                total: f64::NAN,
                errors: 1.0,
            },
            Events {
                total: 100.0,
                errors: f64::INFINITY,
            },
        ] {
            assert_eq!(verdict(&s, e), Verdict::NoTraffic, "{e:?}");
        }
        assert_eq!(
            budget(
                &s,
                Events {
                    total: 0.0,
                    errors: 0.0
                }
            ),
            None
        );
    }

    #[test]
    fn a_calendar_budget_grows_with_the_traffic_to_come() {
        let s = slo(0.99);
        let day = Duration::from_secs(86_400);
        // 10 days in, 100k events, 500 errors: half of the budget so far.
        let e = Events {
            total: 100_000.0,
            errors: 500.0,
        };
        // At burn 1 the rest of the month spends exactly its own share.
        let p = project(&s, e, day * 10, day * 20, 1.0).unwrap();
        // (500 + 1 * 0.01 * 200k) / (0.01 * 300k) = 2500 / 3000.
        assert!((p.end_consumed_ratio - 2_500.0 / 3_000.0).abs() < 1e-12);
        assert!(p.lasts);
        assert_eq!(p.exhausted_in, None);
        // At burn 3: 500 more allowed now, 10k events a day, 200 more
        // errors than allowed a day: gone in 2.5 days.
        let p = project(&s, e, day * 10, day * 20, 3.0).unwrap();
        assert_eq!(p.exhausted_in, Some(day * 5 / 2));
        assert!(!p.lasts);
        assert!((p.end_consumed_ratio - 6_500.0 / 3_000.0).abs() < 1e-12);
        // Still burning at 3, but with a day left: it lasts.
        let p = project(&s, e, day * 29, day, 3.0).unwrap();
        assert_eq!(p.exhausted_in, None);
        assert!(p.lasts, "{p:?}");
        // Overspent now: gone already, yet a quiet rest of the period recovers it.
        let over = Events {
            total: 100_000.0,
            errors: 1_500.0,
        };
        let p = project(&s, over, day * 10, day * 20, 0.0).unwrap();
        assert_eq!(p.exhausted_in, Some(Duration::ZERO));
        assert!(p.lasts);
        // No traffic, no elapsed time or nonsense: no projection.
        let none = Events {
            total: 0.0,
            errors: 0.0,
        };
        assert_eq!(project(&s, none, day, day, 1.0), None);
        assert_eq!(project(&s, e, Duration::ZERO, day, 1.0), None);
        assert_eq!(project(&s, e, day, day, f64::NAN), None);
    }

    #[test]
    fn budget_and_exhaustion() {
        let s = slo(0.99);
        let b = budget(
            &s,
            Events {
                total: 100_000.0,
                errors: 250.0,
            },
        )
        .unwrap();
        assert!((b.allowed_errors - 1000.0).abs() < 1e-9);
        assert!((b.consumed_ratio - 0.25).abs() < 1e-12);
        assert!((b.remaining_errors - 750.0).abs() < 1e-9);
        // 75% left at burn 3: 0.75 * 30d / 3 = 7.5 days.
        let t = time_to_exhaustion(&s, b.remaining_ratio, 3.0).unwrap();
        assert_eq!(t, Duration::from_secs(7 * 86_400 + 43_200));
        assert_eq!(time_to_exhaustion(&s, 0.5, 0.0), None);
        assert_eq!(time_to_exhaustion(&s, -0.1, 2.0), None);
        let over = budget(
            &s,
            Events {
                total: 1000.0,
                errors: 50.0,
            },
        )
        .unwrap();
        assert!(over.remaining_ratio < 0.0);
        assert_eq!(over.remaining_errors, 0.0);
    }
}
