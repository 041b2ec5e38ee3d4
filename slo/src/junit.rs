//! JUnit XML for `slo gate`: one test case per SLO, so CI systems show each verdict.

use std::fmt::Write as _;

use crate::evaluate::{GateResult, GateVerdict};

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// Renders the gate's results; an inconclusive SLO is an error, a missed one a failure.
pub fn render(service: &str, results: &[GateResult]) -> String {
    let failures = results
        .iter()
        .filter(|r| r.verdict == GateVerdict::Fail)
        .count();
    let errors = results
        .iter()
        .filter(|r| r.verdict == GateVerdict::Inconclusive)
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"slo gate {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
        escape(service),
        results.len()
    );
    for r in results {
        let _ = write!(
            out,
            "  <testcase classname=\"slo.gate\" name=\"{}\"",
            escape(&r.name)
        );
        match r.verdict {
            GateVerdict::Pass => out.push_str("/>\n"),
            GateVerdict::Fail => {
                let _ = writeln!(
                    out,
                    ">\n    <failure message=\"{}\"/>\n  </testcase>",
                    escape(&r.reason)
                );
            }
            GateVerdict::Inconclusive => {
                let _ = writeln!(
                    out,
                    ">\n    <error message=\"{}\"/>\n  </testcase>",
                    escape(&r.reason)
                );
            }
        }
    }
    out.push_str("</testsuite>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, verdict: GateVerdict) -> GateResult {
        GateResult {
            name: name.into(),
            objective: 0.99,
            window_seconds: 60,
            total: Some(100.0),
            errors: Some(1.0),
            sli: Some(0.99),
            burn_rate: Some(1.0),
            sustained_budget_share: Some(1.0),
            verdict,
            reason: "SLI <99% & more".into(),
        }
    }

    #[test]
    fn one_case_per_slo() {
        let xml = render(
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
}
