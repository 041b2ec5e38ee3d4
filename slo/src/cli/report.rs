//! `slo report`: where each SLO of a spec stands now (SLI, budget, burn
//! rates, alerts that would fire), as text or JSON; exit 3 when an answer
//! from Prometheus could not be trusted.

use std::path::PathBuf;

use super::output::out_verdict;
use super::{CliError, Exit, PromArgs};

/// Arguments of `slo report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    pub spec: PathBuf,
    #[command(flatten)]
    pub prom: PromArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `slo report`.
pub async fn run(args: ReportArgs) -> Result<Exit, CliError> {
    let service = crate::spec::load(&args.spec)?;
    let client = args.prom.client()?;
    let mut reports = Vec::new();
    for s in &service.slos {
        reports.push(
            crate::evaluate::report(&client, s, None)
                .await
                .map_err(|e| CliError::Failure(e.to_string()))?,
        );
    }
    let text = if args.json {
        serde_json::to_string_pretty(&reports).unwrap_or_default() + "\n"
    } else {
        let mut text = format!("service {}\n", service.name);
        reports.iter().for_each(|r| text += &report_text(r));
        text
    };
    out_verdict(&text)?;
    let doubts: usize = reports.iter().map(|r| r.inconclusive.len()).sum();
    if doubts > 0 {
        eprintln!(
            "slo: error: inconclusive: {doubts} answer(s) from Prometheus could not be trusted (see INCONCLUSIVE above)"
        );
        return Ok(Exit::Inconclusive);
    }
    Ok(Exit::Ok)
}

/// A ratio as a percentage, or "no traffic".
pub(super) fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "no traffic".to_owned(), |v| format!("{:.4}%", v * 100.0))
}

/// The text of one SLO's report.
fn report_text(r: &crate::evaluate::SloReport) -> String {
    use crate::evaluate::fmt_count;
    let slices = r.timeslices.as_ref();
    let over = match &r.calendar {
        Some(c) => format!("per calendar {} ({})", c.calendar, c.timezone),
        None => format!("over {}", r.period),
    };
    let mut lines = vec![format!(
        "{}: objective {}% {over}{}",
        r.name,
        r.objective * 100.0,
        slices.map_or_else(String::new, |t| format!(
            ", in {} time slices ({})",
            t.slice,
            t.target.map_or_else(
                || "each counts its share of good events".to_owned(),
                |x| format!(
                    "a slice is good at {}% good events or more",
                    crate::rules::fmt_num(x * 100.0)
                )
            )
        ))
    )];
    if let Some(c) = &r.calendar {
        lines.push(format!(
            "  period: {} to {}, {} left",
            c.start,
            c.end,
            crate::duration::format(std::time::Duration::from_secs(c.left_seconds as u64))
        ));
    }
    lines.push(format!(
        "  SLI over the period{}: {}{}",
        if r.calendar.is_some() { " so far" } else { "" },
        if r.period_inconclusive {
            "inconclusive".to_owned()
        } else {
            pct(r.sli)
        },
        match slices.map(|t| (t.counted_slices, t.bad_slices)) {
            Some((Some(n), Some(bad))) => format!(
                " of the counted slices ({} bad of {n} with traffic; slices without traffic do not count)",
                fmt_count(bad)
            ),
            _ => String::new(),
        }
    ));
    let allowed = if slices.is_some() {
        "bad slices"
    } else {
        "failed requests"
    };
    lines.push(
        match (
            r.budget_remaining_ratio,
            r.budget_remaining_errors,
            r.budget_consumed_ratio,
        ) {
            (Some(rem), Some(n), Some(used)) => format!(
                "  error budget: {:.1}% consumed, {:.1}% remaining ({:.0} more {allowed} allowed)",
                used * 100.0,
                rem * 100.0,
                n
            ),
            _ if r.period_inconclusive => "  error budget: inconclusive".to_owned(),
            _ => "  error budget: no traffic".to_owned(),
        },
    );
    if let Some(t) = slices {
        lines.push(format!(
            "  budget in slices: {} of the period's {} slices of {} ({}% of them may be bad)",
            fmt_count((t.budget_slices * 100.0).round() / 100.0),
            t.period_slices,
            t.slice,
            crate::rules::fmt_num((1.0 - r.objective) * 100.0)
        ));
    }
    let burns: Vec<String> = r
        .windows
        .iter()
        .map(|w| {
            let b = match (w.burn_rate, &w.inconclusive) {
                (Some(b), _) => format!("{b:.2}"),
                (None, Some(_)) => "?".into(),
                (None, None) => "-".into(),
            };
            format!("{} {b}", w.window)
        })
        .collect();
    lines.push(format!("  burn rate: {}", burns.join("  ")));
    for a in &r.alerts {
        let state = if a.firing {
            "FIRING"
        } else if a.inconclusive {
            "INCONCLUSIVE"
        } else {
            "ok"
        };
        lines.push(format!(
            "  {:<6} burn > {} over {} and {}: {state}",
            a.severity, a.factor, a.long, a.short
        ));
    }
    let hour_inconclusive = r
        .windows
        .iter()
        .any(|w| w.window == "1h" && w.inconclusive.is_some());
    lines.push(match r.exhaustion_seconds {
        _ if r.budget_remaining_ratio.is_some_and(|rem| rem <= 0.0) => {
            "  budget exhausted for this period".to_owned()
        }
        None if r.period_inconclusive || hour_inconclusive => {
            "  time to exhaustion: inconclusive".to_owned()
        }
        Some(s) if r.calendar.is_some() => format!(
            "  budget exhausted in {} at the 1h burn rate, before the period ends",
            crate::duration::format(std::time::Duration::from_secs(s as u64))
        ),
        Some(s) => format!(
            "  budget exhausted in {} at the 1h burn rate",
            crate::duration::format(std::time::Duration::from_secs(s as u64))
        ),
        None => match r.calendar.as_ref().and_then(|c| c.projected_consumed_ratio) {
            Some(end) => format!(
                "  budget lasts to the period's end at the 1h burn rate ({:.1}% spent by then)",
                end * 100.0
            ),
            None => "  budget not being spent at the 1h burn rate".to_owned(),
        },
    });
    for m in &r.inconclusive {
        lines.push(format!("  INCONCLUSIVE: {m}"));
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_to_exhaustion_is_written_as_a_duration() {
        let r = crate::evaluate::SloReport {
            name: "a".into(),
            objective: 0.999,
            period: "28d".into(),
            unit: "events",
            timeslices: None,
            sli: Some(0.9995),
            period_inconclusive: false,
            budget_total_errors: Some(10.0),
            budget_consumed_ratio: Some(0.5),
            budget_remaining_ratio: Some(0.5),
            budget_remaining_errors: Some(5.0),
            windows: vec![],
            alerts: vec![],
            exhaustion_seconds: Some((7 * 86_400 + 12 * 3_600) as f64 + 0.4),
            calendar: None,
            inconclusive: vec![],
        };
        let text = report_text(&r);
        assert!(text.starts_with("a: objective 99.9% over 28d\n"), "{text}");
        assert!(
            text.contains("\n  budget exhausted in 7d12h at the 1h burn rate\n"),
            "{text}"
        );
    }

    #[test]
    fn a_calendar_period_shows_its_bounds_time_left_and_projection() {
        let calendar = crate::evaluate::CalendarReport {
            calendar: "month",
            timezone: "Europe/Berlin".into(),
            start: "2026-03-01T00:00:00+01:00".into(),
            end: "2026-04-01T00:00:00+02:00".into(),
            elapsed_seconds: 86_400.0,
            left_seconds: (29 * 86_400 + 23 * 3_600) as f64,
            budget_lasts: Some(true),
            projected_consumed_ratio: Some(0.4),
        };
        let mut r = crate::evaluate::SloReport {
            name: "a".into(),
            objective: 0.999,
            period: "30d".into(),
            unit: "events",
            timeslices: None,
            sli: Some(0.9995),
            period_inconclusive: false,
            budget_total_errors: Some(10.0),
            budget_consumed_ratio: Some(0.5),
            budget_remaining_ratio: Some(0.5),
            budget_remaining_errors: Some(5.0),
            windows: vec![],
            alerts: vec![],
            exhaustion_seconds: None,
            calendar: Some(calendar),
            inconclusive: vec![],
        };
        let text = report_text(&r);
        assert!(
            text.starts_with("a: objective 99.9% per calendar month (Europe/Berlin)\n  period: 2026-03-01T00:00:00+01:00 to 2026-04-01T00:00:00+02:00, 29d23h left\n  SLI over the period so far: 99.9500%\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n  budget lasts to the period's end at the 1h burn rate (40.0% spent by then)\n"
            ),
            "{text}"
        );
        r.exhaustion_seconds = Some(3.0 * 86_400.0);
        let text = report_text(&r);
        assert!(
            text.contains(
                "\n  budget exhausted in 3d at the 1h burn rate, before the period ends\n"
            ),
            "{text}"
        );
    }
}
