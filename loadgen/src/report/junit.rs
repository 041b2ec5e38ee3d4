//! JUnit XML: one test case per threshold, so CI systems show each verdict,
//! and (when the scenario has checks) a `checks` suite with one test case
//! per check, failed when the check failed at least once. The XML is
//! [`common::junit`]'s, well-formed whatever the names hold.

use common::junit::{Case, Document, Outcome, Suite};

use super::Report;

/// The `checks` suite: one case per (request, check), a failure when it
/// failed at least once, skipped when it never ran.
fn checks_suite(r: &Report) -> Suite {
    let cases = r
        .checks
        .iter()
        .map(|c| {
            let outcome = if c.fails > 0 {
                Outcome::Failure {
                    message: format!("{} of {} failed", c.fails, c.total()),
                    text: Some(format!(
                        "check {:?} of request {:?}: {} passed ({})",
                        c.name,
                        c.request,
                        c.passes,
                        super::table::check_share(c)
                    )),
                }
            } else if c.total() == 0 {
                Outcome::Skipped {
                    message: Some("never evaluated".into()),
                }
            } else {
                Outcome::Passed
            };
            Case::new(
                "loadgen.checks",
                format!("{} [{}]", c.name, c.request),
                outcome,
            )
        })
        .collect();
    Suite {
        name: "checks".into(),
        time: None,
        timestamp: Some(r.started_at.clone()),
        cases,
        system_out: super::table::skipped_line(r).map(|l| format!("skipped (not sent): {l}")),
    }
}

/// Renders the report's thresholds as a JUnit test suite (and its checks
/// as another).
pub fn render(r: &Report) -> String {
    let reasons = r.reason_lines();
    let why = if reasons.is_empty() {
        String::new()
    } else {
        format!("\nerrors by reason:\n{}", reasons.join("\n"))
    };
    let cases = r
        .thresholds
        .iter()
        .map(|t| {
            let name = match t.scope() {
                Some(n) => format!("{} [{n}]", t.threshold),
                None => t.threshold.clone(),
            };
            let outcome = if t.passed {
                Outcome::Passed
            } else {
                Outcome::Failure {
                    message: format!("threshold {name} failed"),
                    text: Some(format!("observed {}{why}", t.observed_text)),
                }
            };
            Case::new("loadgen.thresholds", name, outcome)
        })
        .collect();
    let mut system_out = Vec::new();
    if r.interrupted {
        system_out.push("the run was interrupted".to_owned());
    }
    if let Some(none) = r.no_success() {
        system_out.push(none);
    } else if !reasons.is_empty() {
        system_out.push(format!("errors by reason:\n{}", reasons.join("\n")));
    }
    let mut suites = vec![Suite {
        name: r.scenario.clone(),
        time: Some(r.elapsed_s),
        timestamp: Some(r.started_at.clone()),
        cases,
        system_out: (!system_out.is_empty()).then(|| system_out.join("\n")),
    }];
    if !r.checks.is_empty() {
        suites.push(checks_suite(r));
    }
    Document::Suites {
        name: "loadgen".into(),
        time: Some(r.elapsed_s),
        suites,
    }
    .render()
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_case_per_threshold_with_failures() {
        let mut r = super::super::tests::sample_report();
        let mut failing = r.thresholds[0].clone();
        failing.threshold = "p(99)<1ms & <fast>".into();
        failing.passed = false;
        r.thresholds.push(failing);
        let xml = super::render(&r);
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("p(99)&lt;1ms &amp; &lt;fast&gt;"));
        // The reasons are in the failure text and in system-out.
        assert!(
            xml.contains("observed 200ms\nerrors by reason:\nstatus: HTTP 500 (4)</failure>"),
            "{xml}"
        );
        assert!(xml.contains("<system-out>errors by reason:\nstatus: HTTP 500 (4)</system-out>"));
    }

    #[test]
    fn a_checks_suite_has_one_case_per_check_failed_when_it_failed_once() {
        let mut r = super::super::tests::checks_report();
        r.checks.push(common::report::CheckResult {
            name: "body <matches> & \u{1}".into(),
            request: "a".into(),
            passes: 0,
            fails: 0,
        });
        let xml = super::render(&r);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        let suites: Vec<_> = doc
            .root_element()
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        assert_eq!(suites.len(), 2, "{xml}");
        let checks = suites[1];
        assert_eq!(checks.attribute("name"), Some("checks"));
        assert_eq!(checks.attribute("tests"), Some("3"));
        assert_eq!(checks.attribute("failures"), Some("1"));
        assert_eq!(checks.attribute("skipped"), Some("1"));
        let cases: Vec<_> = checks
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let names: Vec<_> = cases.iter().map(|c| c.attribute("name")).collect();
        assert_eq!(
            names,
            [
                Some("status in [201] [a]"),
                Some("json /order_id exists [b]"),
                Some("body <matches> & \\u{1} [a]"),
            ]
        );
        assert!(
            cases
                .iter()
                .all(|c| c.attribute("classname") == Some("loadgen.checks"))
        );
        assert!(cases[0].children().all(|n| !n.is_element()), "{xml}");
        let failure = cases[1]
            .children()
            .find(|n| n.has_tag_name("failure"))
            .expect("a failure");
        assert_eq!(failure.attribute("message"), Some("3 of 100 failed"));
        assert_eq!(
            failure.text(),
            Some("check \"json /order_id exists\" of request \"b\": 97 passed (97.0%)")
        );
        assert!(cases[2].children().any(|n| n.has_tag_name("skipped")));
        let out = checks
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text());
        assert_eq!(out, Some("skipped (not sent): b 3"));
        // The checks threshold names its request and check.
        assert!(
            xml.contains("name=\"checks&gt;99% [b, check: json /order_id exists]\""),
            "{xml}"
        );
        // No checks, no suite.
        let plain = super::render(&super::super::tests::sample_report());
        assert!(!plain.contains("loadgen.checks"), "{plain}");
    }
}
