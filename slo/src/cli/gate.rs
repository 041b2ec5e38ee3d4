//! `slo gate`: did a load test's window meet the SLOs? Prints a verdict per
//! SLO, optionally writes them as JSON and JUnit XML, and exits 99 when one
//! failed, 3 when one could not be told.

use std::path::{Path, PathBuf};

use super::output::{out_verdict, write_atomic};
use super::report::pct;
use super::{CliError, Exit, PromArgs};
use crate::compare::{Comparison, Side};
use crate::evaluate::{GateResult, GateVerdict};
use crate::run_window::{Run, RunWindowError};

/// Arguments of `slo gate`.
#[derive(Debug, clap::Args)]
pub struct GateArgs {
    pub spec: PathBuf,
    #[command(flatten)]
    pub prom: PromArgs,
    /// A loadgen report: its started_at and ended_at are the window.
    #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present_all = ["from", "to"])]
    pub run: Option<PathBuf>,
    /// Judge a --run report whose run was interrupted (its window is
    /// shorter than planned, and its load may not be the one planned).
    #[arg(long, requires = "run")]
    pub allow_interrupted: bool,
    /// Window start (RFC 3339 or Unix seconds).
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// Window end (RFC 3339 or Unix seconds).
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// With --run: beside each SLO's SLI, its client-side SLI from the
    /// run's own metrics (loadgen_run = the report's run_id, exported with
    /// `loadgen run --remote-write` or `--metrics-listen`); fails when
    /// either side misses, naming it.
    #[arg(long, requires = "run")]
    pub compare_client: bool,
    /// Also fail when the window's burn rate is above this.
    #[arg(long)]
    pub max_burn: Option<f64>,
    /// Write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the results as JUnit XML (a test case per SLO).
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

/// A window of whole seconds, as slo writes durations (`5m`, `1h30m`).
fn seconds(s: u64) -> String {
    crate::duration::format(std::time::Duration::from_secs(s))
}

/// A time as Unix seconds: RFC 3339 or Unix seconds.
fn unix(t: &str) -> Result<i64, CliError> {
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    humantime::parse_rfc3339_weak(t)
        .map_err(|e| {
            format!("invalid time {t:?}: {e} (RFC 3339 like 2026-11-21T10:00:00Z, or Unix seconds)")
        })
        .and_then(|st| {
            st.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .map_err(|_| format!("time {t:?} is before 1970"))
        })
        .map_err(CliError::Invalid)
}

/// The window and id of a loadgen report's run (see [`crate::run_window`]).
fn run_window(path: &Path, allow_interrupted: bool) -> Result<Run, CliError> {
    let common::input::Text { text, shown } =
        common::input::read_text(path, common::report::MAX_REPORT_BYTES)
            .map_err(|e| CliError::Invalid(e.to_string()))?;
    crate::run_window::run(&text, &shown, allow_interrupted).map_err(|e| match e {
        RunWindowError::Interrupted { .. } => {
            CliError::Invalid(format!("{e}; judge it anyway with --allow-interrupted"))
        }
        e => CliError::Invalid(e.to_string()),
    })
}

/// The text of the verdicts, a line per SLO.
fn verdict_text(results: &[GateResult]) -> String {
    let mut text = String::new();
    for r in results {
        let verdict = match r.verdict {
            GateVerdict::Pass => "PASS",
            GateVerdict::Fail => "FAIL",
            GateVerdict::Inconclusive => "INCONCLUSIVE",
        };
        let slices = match (r.unit, r.total, r.errors) {
            ("slices", Some(total), Some(bad)) => format!(
                " ({} of {} counted slices bad)",
                crate::evaluate::fmt_count(bad),
                crate::evaluate::fmt_count(total)
            ),
            _ => String::new(),
        };
        text += &format!(
            "{verdict} {}: SLI {}{slices} over {} (objective {}%), burn rate {}; {}\n",
            r.name,
            match r.verdict {
                GateVerdict::Inconclusive => "unknown".to_owned(),
                _ => pct(r.sli),
            },
            seconds(r.window_seconds),
            r.objective * 100.0,
            r.burn_rate.map_or("-".into(), |b| format!("{b:.2}")),
            r.reason
        );
        if let Some(share) = r.sustained_budget_share {
            text += &format!(
                "  sustained for the whole period, this load would spend {:.0}% of the error budget\n",
                share * 100.0
            );
        }
        if let Some(c) = &r.calendar {
            text += &calendar_text(c);
        }
    }
    text
}

/// A calendar SLO's period around the window, in two lines.
fn calendar_text(c: &crate::evaluate::GateCalendar) -> String {
    let Some(p) = &c.period else {
        return format!(
            "  calendar period: {}\n",
            c.inconclusive.as_deref().unwrap_or("not placed")
        );
    };
    let left = seconds(p.left_seconds as u64);
    let mut text = format!(
        "  calendar {} ({}): {} to {}, {left} left after the window\n",
        p.calendar, p.timezone, p.start, p.end
    );
    let pct0 = |x: f64| format!("{:.0}%", x * 100.0);
    text += &match (c.sli, c.budget_remaining_ratio) {
        (Some(sli), Some(rem)) => {
            let mut line = format!(
                "  period so far: SLI {}, {} of the budget left",
                pct(Some(sli)),
                pct0(rem.max(0.0))
            );
            if let (Some(end), Some(lasts)) = (p.projected_consumed_ratio, p.budget_lasts) {
                line += &format!(
                    "; at this load's burn rate until the period ends, {} of it would be spent ({})",
                    pct0(end),
                    if lasts { "it lasts" } else { "overspent" }
                );
            }
            line + "\n"
        }
        _ => format!(
            "  period so far: unknown ({})\n",
            c.inconclusive.as_deref().unwrap_or("no traffic")
        ),
    };
    text
}

/// The results as JUnit XML: a test case per SLO, an inconclusive one an
/// error, a missed one a failure.
fn junit(service: &str, results: &[GateResult]) -> String {
    use common::junit::{Case, Document, Outcome, Suite};
    let cases = results
        .iter()
        .map(|r| {
            let outcome = match r.verdict {
                GateVerdict::Pass => Outcome::Passed,
                GateVerdict::Fail => Outcome::Failure {
                    message: r.reason.clone(),
                    text: None,
                },
                GateVerdict::Inconclusive => Outcome::Error {
                    message: r.reason.clone(),
                    text: None,
                },
            };
            Case::new("slo.gate", r.name.clone(), outcome)
        })
        .collect();
    Document::Suite(Suite {
        name: format!("slo gate {service}"),
        cases,
        ..Suite::default()
    })
    .render()
}

/// Runs `slo gate`.
pub async fn run(args: GateArgs) -> Result<Exit, CliError> {
    let service = crate::spec::load(&args.spec)?;
    let client = args.prom.client()?;
    if args.compare_client {
        let Some(r) = &args.run else {
            return Err(CliError::Invalid(
                "--compare-client compares a run's two sides: give --run REPORT.json (not --from and --to)".into(),
            ));
        };
        return compare_client(&args, r, &service, &client).await;
    }
    let (from, to) = match (&args.run, &args.from, &args.to) {
        (Some(r), _, _) => {
            let run = run_window(r, args.allow_interrupted)?;
            (run.from, run.to)
        }
        (None, Some(f), Some(t)) => (unix(f)?, unix(t)?),
        _ => {
            return Err(CliError::Invalid(
                "give --run REPORT.json or --from and --to".into(),
            ));
        }
    };
    if to <= from {
        return Err(CliError::Invalid(format!(
            "the window is empty: --to ({to}) must be after --from ({from})"
        )));
    }
    let results = crate::evaluate::gate(&client, &service, from, to, args.max_burn)
        .await
        .map_err(|e| CliError::Inconclusive(e.to_string()))?;
    out_verdict(&verdict_text(&results))?;
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&results).unwrap_or_default();
        write_atomic(p, &text)?;
    }
    if let Some(p) = &args.junit {
        let xml = junit(&service.name, &results);
        write_atomic(p, &xml)?;
    }
    Ok(exit(results.iter().map(|r| r.verdict)))
}

/// 99 when a verdict failed, else 3 when one is inconclusive, else 0.
fn exit(verdicts: impl Iterator<Item = GateVerdict> + Clone) -> Exit {
    if verdicts.clone().any(|v| v == GateVerdict::Fail) {
        Exit::Failed
    } else if verdicts.into_iter().any(|v| v == GateVerdict::Inconclusive) {
        Exit::Inconclusive
    } else {
        Exit::Ok
    }
}

fn verdict_word(v: GateVerdict) -> &'static str {
    match v {
        GateVerdict::Pass => "PASS",
        GateVerdict::Fail => "FAIL",
        GateVerdict::Inconclusive => "INCONCLUSIVE",
    }
}

/// `slo gate --run REPORT --compare-client`.
async fn compare_client(
    args: &GateArgs,
    report: &Path,
    service: &crate::model::Service,
    client: &crate::prom::Prom,
) -> Result<Exit, CliError> {
    let run = run_window(report, args.allow_interrupted)?;
    let run_id = match (&run.run_id, run.exported) {
        (Some(id), true) => id.clone(),
        (id, _) => {
            return Err(CliError::Invalid(format!(
                "{}: {}, so Prometheus holds no client metrics of it to compare; rerun with `loadgen run --remote-write URL` (Prometheus's /api/v1/write, with --web.enable-remote-write-receiver) or `--metrics-listen ADDR` scraped by Prometheus",
                report.display(),
                if id.is_none() {
                    "the report has no run_id"
                } else {
                    "the run exported no client metrics (the report has no metrics)"
                }
            )));
        }
    };
    let results = crate::compare::gate(client, service, &run_id, run.from, run.to, args.max_burn)
        .await
        .map_err(|e| match e {
            crate::compare::CompareError::Prom(e) => CliError::Inconclusive(e.to_string()),
            e => CliError::Invalid(e.to_string()),
        })?;
    out_verdict(&comparison_text(&results))?;
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&results).unwrap_or_default();
        write_atomic(p, &text)?;
    }
    if let Some(p) = &args.junit {
        write_atomic(p, &comparison_junit(&service.name, &results))?;
    }
    Ok(exit(results.iter().map(|r| r.verdict)))
}

/// The comparison as a table (a row per SLO and side), then a verdict line
/// per SLO and what its client side counted.
fn comparison_text(results: &[Comparison]) -> String {
    let width = results
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    let mut text = format!(
        "{:<width$}  {:<6}  {:>10}  {:>9}  {:>10}  {:>10}  verdict\n",
        "SLO", "side", "SLI", "objective", "requests", "bad"
    );
    let count = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.0}"));
    for r in results {
        for (side, g) in [(Side::Server, &r.server), (Side::Client, &r.client)] {
            text += &format!(
                "{:<width$}  {:<6}  {:>10}  {:>9}  {:>10}  {:>10}  {}\n",
                r.name,
                side.as_str(),
                match g.verdict {
                    GateVerdict::Inconclusive => "unknown".to_owned(),
                    _ => pct(g.sli),
                },
                format!("{}%", r.objective * 100.0),
                count(g.total),
                count(g.errors),
                verdict_word(g.verdict)
            );
        }
    }
    for r in results {
        text += &format!("{} {}: {}\n", verdict_word(r.verdict), r.name, r.reason);
        text += &format!(
            "  client side: {} ({}), over the run's {}\n",
            r.client_sli,
            crate::compare::run_matcher(&r.run_id),
            seconds(r.window_seconds)
        );
    }
    text
}

/// The comparison as JUnit XML: a test case per SLO and side, named
/// `SLO (server)` and `SLO (client)`.
fn comparison_junit(service: &str, results: &[Comparison]) -> String {
    use common::junit::{Case, Document, Outcome, Suite};
    let mut cases = Vec::new();
    for r in results {
        for (side, g) in [(Side::Server, &r.server), (Side::Client, &r.client)] {
            let outcome = match g.verdict {
                GateVerdict::Pass => Outcome::Passed,
                GateVerdict::Fail => Outcome::Failure {
                    message: r.reason.clone(),
                    text: None,
                },
                GateVerdict::Inconclusive => Outcome::Error {
                    message: g.reason.clone(),
                    text: None,
                },
            };
            cases.push(Case::new(
                "slo.gate",
                format!("{} ({})", r.name, side.as_str()),
                outcome,
            ));
        }
    }
    Document::Suite(Suite {
        name: format!("slo gate {service} --compare-client"),
        cases,
        ..Suite::default()
    })
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, verdict: GateVerdict) -> GateResult {
        GateResult {
            name: name.into(),
            objective: 0.99,
            window_seconds: 60,
            unit: "events",
            total: Some(100.0),
            errors: Some(1.0),
            sli: Some(0.99),
            burn_rate: Some(1.0),
            sustained_budget_share: Some(1.0),
            verdict,
            reason: "SLI <99% & more".into(),
            calendar: None,
        }
    }

    #[test]
    fn compare_client_has_a_case_per_side_and_a_row_per_side() {
        let slo = crate::spec::parse(
            "version: slo/v1\nservice: s\nslos:\n  - name: avail\n    objective: 99\n    sli:\n      availability: {}\n",
            Path::new("s.yaml"),
        )
        .unwrap()
        .slos
        .remove(0);
        let counted = |total, errors| {
            crate::evaluate::Reading::Events(crate::budget::Events { total, errors })
        };
        let c = crate::compare::compare(
            &slo,
            std::time::Duration::from_secs(30),
            "run7",
            &counted(100.0, 0.0),
            &counted(100.0, 10.0),
            None,
        );
        let xml = comparison_junit("s", std::slice::from_ref(&c));
        assert!(xml.contains("name=\"avail (server)\""), "{xml}");
        assert!(xml.contains("name=\"avail (client)\""), "{xml}");
        assert!(
            xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""),
            "{xml}"
        );
        let text = comparison_text(&[c]);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("avail ")).collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(
            rows[0].contains("server") && rows[0].ends_with("PASS"),
            "{text}"
        );
        assert!(
            rows[1].contains("client") && rows[1].contains("90.0000%") && rows[1].ends_with("FAIL"),
            "{text}"
        );
        assert!(
            text.contains("FAIL avail: client-side SLI 90.00% misses"),
            "{text}"
        );
        assert!(text.contains("loadgen_run=\"run7\""), "{text}");
        assert!(text.contains("over the run's 30s"), "{text}");
    }

    #[test]
    fn verdicts_write_the_window_as_a_duration() {
        let mut r = result("a", GateVerdict::Pass);
        r.window_seconds = 5_400;
        let text = verdict_text(&[r]);
        assert!(text.starts_with("PASS a: SLI 99"), "{text}");
        assert!(text.contains(" over 1h30m (objective 99%)"), "{text}");
    }

    #[test]
    fn one_case_per_slo() {
        let xml = junit(
            "shop",
            &[
                result("a", GateVerdict::Pass),
                result("b", GateVerdict::Fail),
                result("c", GateVerdict::Inconclusive),
            ],
        );
        assert!(
            xml.contains("tests=\"3\" failures=\"1\" errors=\"1\""),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert!(xml.contains("<failure message=\"SLI &lt;99% &amp; more\"/>"));
        assert!(xml.contains("<error "));
    }

    /// Control characters in a name or reason (XML 1.0 cannot carry most of
    /// them) still give XML that a parser reads, with the names intact.
    #[test]
    fn junit_with_control_characters_parses() {
        let nasty: String =
            (0u32..0x20).filter_map(char::from_u32).collect::<String>() + "\u{7f}\u{fffe}&<>\"'";
        let mut failed = result(&format!("fail{nasty}"), GateVerdict::Fail);
        failed.reason = format!("reason{nasty}");
        let xml = junit(
            &format!("shop{nasty}"),
            &[result(&format!("pass{nasty}"), GateVerdict::Pass), failed],
        );
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        let suite = doc.root_element();
        assert_eq!(suite.tag_name().name(), "testsuite");
        assert!(
            suite
                .attribute("name")
                .is_some_and(|n| n.starts_with("slo gate shop"))
        );
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 2);
        let name = cases[1].attribute("name").unwrap_or_default();
        assert!(name.starts_with("fail"), "{name:?}");
        assert!(
            ['\t', '\n', '\r'].iter().all(|c| name.contains(*c)) && name.ends_with("&<>\"'"),
            "{name:?}"
        );
        // What XML cannot carry is spelled out, not dropped.
        assert!(name.contains("\\u{1b}"), "{name:?}");
        let failure = cases[1]
            .children()
            .find(|n| n.has_tag_name("failure"))
            .and_then(|n| n.attribute("message"))
            .unwrap_or_default();
        assert!(failure.starts_with("reason"), "{failure:?}");
    }
}
