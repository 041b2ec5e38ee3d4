//! Multi-window, multi-burn-rate alerts (Google SRE Workbook, "Alerting on
//! SLOs"), scaled to the SLO's period.
//!
//! For a 30-day SLO: page when the burn rate is above 14.4 over 1h and 5m,
//! or above 6 over 6h and 30m; ticket above 3 over 1d and 2h, or above 1 over
//! 3d and 6h. Each pair spends the same share of the budget whatever the
//! period (2%, 5%, 10%, 10%), so for other periods the windows scale with the
//! period and the factors stay.

use std::time::Duration;

/// Page (wake someone) or ticket (next working day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One alert condition: both windows must burn faster than `factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnAlert {
    pub severity: Severity,
    pub factor: f64,
    pub long: Duration,
    pub short: Duration,
    /// Share of the period's budget spent when the long window burns at `factor`.
    pub budget_share: f64,
}

const BASE_PERIOD: Duration = Duration::from_secs(30 * 86_400);

/// The workbook table for a 30-day period: (severity, factor, long, short).
const TABLE: [(Severity, f64, u64, u64); 4] = [
    (Severity::Page, 14.4, 3_600, 300),
    (Severity::Page, 6.0, 6 * 3_600, 1_800),
    (Severity::Ticket, 3.0, 86_400, 2 * 3_600),
    (Severity::Ticket, 1.0, 3 * 86_400, 6 * 3_600),
];

/// Scales a duration by period / 30 days, rounded to whole seconds (at least 1 s).
fn scale(d: Duration, period: Duration) -> Duration {
    let secs = d.as_secs_f64() * period.as_secs_f64() / BASE_PERIOD.as_secs_f64();
    Duration::from_secs((secs.round() as u64).max(1))
}

/// The four alert conditions for an SLO period.
pub fn burn_alerts(period: Duration) -> Vec<BurnAlert> {
    TABLE
        .iter()
        .map(|&(severity, factor, long, short)| {
            let long_base = Duration::from_secs(long);
            BurnAlert {
                severity,
                factor,
                long: scale(long_base, period),
                short: scale(Duration::from_secs(short), period),
                budget_share: factor * long_base.as_secs_f64() / BASE_PERIOD.as_secs_f64(),
            }
        })
        .collect()
}

/// Every window the alerts use, shortest first, without repeats.
pub fn alert_windows(period: Duration) -> Vec<Duration> {
    let mut w: Vec<Duration> = burn_alerts(period)
        .iter()
        .flat_map(|a| [a.long, a.short])
        .collect();
    w.sort();
    w.dedup();
    w
}

/// A duration as PromQL writes it (`5m`, `1h`, `3d`, `22h24m`): the one
/// rule slo writes every duration by, [`crate::duration::format`].
pub use crate::duration::format as promql_duration;

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn thirty_days_is_the_workbook_table() {
        let a = burn_alerts(d(30 * 86_400));
        let got: Vec<(Severity, f64, String, String)> = a
            .iter()
            .map(|a| {
                (
                    a.severity,
                    a.factor,
                    promql_duration(a.long),
                    promql_duration(a.short),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Severity::Page, 14.4, "1h".into(), "5m".into()),
                (Severity::Page, 6.0, "6h".into(), "30m".into()),
                (Severity::Ticket, 3.0, "1d".into(), "2h".into()),
                (Severity::Ticket, 1.0, "3d".into(), "6h".into()),
            ]
        );
        let shares: Vec<f64> = a
            .iter()
            .map(|a| (a.budget_share * 1000.0).round() / 1000.0)
            .collect();
        assert_eq!(shares, vec![0.02, 0.05, 0.1, 0.1]);
    }

    #[test]
    fn other_periods_scale_the_windows_not_the_factors() {
        let a = burn_alerts(d(7 * 86_400));
        assert_eq!(a[0].factor, 14.4);
        assert_eq!(a[0].long, d(840)); // 1h * 7/30
        assert_eq!(a[0].short, d(70));
        let a = burn_alerts(d(28 * 86_400));
        assert_eq!(a[3].long, d(3 * 86_400 * 28 / 30));
        // A 12-hour period makes the fast page windows 1 minute and 5 seconds.
        let a = burn_alerts(d(43_200));
        assert_eq!((a[0].long, a[0].short), (d(60), d(5)));
    }

    #[test]
    fn windows_and_promql_durations() {
        assert_eq!(
            alert_windows(d(30 * 86_400))
                .iter()
                .map(|w| promql_duration(*w))
                .collect::<Vec<_>>(),
            vec!["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
        );
        // A 28-day period: the 1h and 1d windows scale to 56m and 22h24m.
        assert_eq!(
            alert_windows(d(28 * 86_400))
                .iter()
                .map(|w| promql_duration(*w))
                .collect::<Vec<_>>(),
            vec![
                "4m40s", "28m", "56m", "1h52m", "5h36m", "22h24m", "2d19h12m"
            ]
        );
    }
}
