//! JUnit XML, the one writer both loadgen (one case per threshold) and
//! `slo gate` (one case per SLO) use, so CI systems show each verdict.
//!
//! Whatever a name or message holds, the output is well-formed XML 1.0:
//! `& < > " '` are escaped; tab, line feed and carriage return are kept
//! (as character references inside attributes, whose values a parser
//! would otherwise normalise to spaces); and the characters XML 1.0 cannot
//! carry at all — the other C0 control characters and U+FFFE, U+FFFF — are
//! written spelled out as Rust does, e.g. `\u{1b}`, so nothing is lost.
//! (Lone surrogates cannot occur in a Rust string.)
//!
//! Layout: a [`Document`] is either one `<testsuite>` (slo) or a
//! `<testsuites>` around several (loadgen). Every suite carries `tests`,
//! `failures`, `errors` and `skipped` counts computed from its cases, then
//! `time` and `timestamp` where given. Two spaces indent each level.

use std::fmt::Write as _;

/// What became of one test case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It passed: `<testcase .../>`.
    Passed,
    /// An assertion failed (a threshold, an SLO): `<failure>`.
    Failure {
        /// The `message` attribute.
        message: String,
        /// The element's text, where there is any.
        text: Option<String>,
    },
    /// It could not be decided (an inconclusive gate): `<error>`.
    Error {
        /// The `message` attribute.
        message: String,
        /// The element's text, where there is any.
        text: Option<String>,
    },
    /// It was not run: `<skipped>`.
    Skipped {
        /// The `message` attribute, where there is one.
        message: Option<String>,
    },
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The `classname` attribute (`loadgen.thresholds`, `slo.gate`).
    pub classname: String,
    /// The `name` attribute.
    pub name: String,
    /// Seconds it took, where known.
    pub time: Option<f64>,
    /// What became of it.
    pub outcome: Outcome,
}

impl Case {
    /// A case with `outcome` and no time.
    pub fn new(classname: impl Into<String>, name: impl Into<String>, outcome: Outcome) -> Self {
        Case {
            classname: classname.into(),
            name: name.into(),
            time: None,
            outcome,
        }
    }
}

/// One `<testsuite>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Suite {
    /// The `name` attribute.
    pub name: String,
    /// Seconds it took (written with 3 decimals), where known.
    pub time: Option<f64>,
    /// When it started (RFC 3339), where known.
    pub timestamp: Option<String>,
    /// Its cases, in order.
    pub cases: Vec<Case>,
    /// Text for `<system-out>` after the cases, where there is any.
    pub system_out: Option<String>,
}

/// Counts of a set of cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// All cases.
    pub tests: usize,
    /// Cases that failed.
    pub failures: usize,
    /// Cases that could not be decided.
    pub errors: usize,
    /// Cases not run.
    pub skipped: usize,
}

impl Counts {
    fn add(self, o: Counts) -> Counts {
        Counts {
            tests: self.tests + o.tests,
            failures: self.failures + o.failures,
            errors: self.errors + o.errors,
            skipped: self.skipped + o.skipped,
        }
    }
}

impl Suite {
    /// The counts of its cases.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            tests: self.cases.len(),
            ..Counts::default()
        };
        for case in &self.cases {
            match case.outcome {
                Outcome::Passed => {}
                Outcome::Failure { .. } => c.failures += 1,
                Outcome::Error { .. } => c.errors += 1,
                Outcome::Skipped { .. } => c.skipped += 1,
            }
        }
        c
    }
}

/// A whole JUnit file.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A lone `<testsuite>` at the root.
    Suite(Suite),
    /// `<testsuites>` (with its own name and time) around suites.
    Suites {
        /// The `name` attribute.
        name: String,
        /// Seconds in all, where known.
        time: Option<f64>,
        /// The suites.
        suites: Vec<Suite>,
    },
}

/// `s` escaped for XML text (`attribute` false) or a double-quoted
/// attribute value (`attribute` true); see the module documentation.
pub fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A parser turns a raw CR (and CR LF) into LF; keep it as written.
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn attr(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, " {name}=\"{}\"", escape(value, true));
}

fn counts(out: &mut String, c: Counts) {
    let _ = write!(
        out,
        " tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"",
        c.tests, c.failures, c.errors, c.skipped
    );
}

fn time(out: &mut String, t: Option<f64>) {
    if let Some(t) = t {
        let _ = write!(out, " time=\"{t:.3}\"");
    }
}

fn detail(out: &mut String, pad: &str, tag: &str, message: Option<&str>, text: Option<&str>) {
    let _ = write!(out, "{pad}<{tag}");
    if let Some(m) = message {
        attr(out, "message", m);
    }
    match text {
        Some(t) => {
            let _ = writeln!(out, ">{}</{tag}>", escape(t, false));
        }
        None => out.push_str("/>\n"),
    }
}

fn suite(out: &mut String, s: &Suite, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = write!(out, "{pad}<testsuite");
    attr(out, "name", &s.name);
    counts(out, s.counts());
    time(out, s.time);
    if let Some(ts) = &s.timestamp {
        attr(out, "timestamp", ts);
    }
    out.push_str(">\n");
    let inner = "  ".repeat(depth + 1);
    let detail_pad = "  ".repeat(depth + 2);
    for case in &s.cases {
        let _ = write!(out, "{inner}<testcase");
        attr(out, "classname", &case.classname);
        attr(out, "name", &case.name);
        time(out, case.time);
        let (tag, message, text) = match &case.outcome {
            Outcome::Passed => {
                out.push_str("/>\n");
                continue;
            }
            Outcome::Failure { message, text } => ("failure", Some(message), text),
            Outcome::Error { message, text } => ("error", Some(message), text),
            Outcome::Skipped { message } => ("skipped", message.as_ref(), &None),
        };
        out.push_str(">\n");
        detail(
            out,
            &detail_pad,
            tag,
            message.map(String::as_str),
            text.as_deref(),
        );
        let _ = writeln!(out, "{inner}</testcase>");
    }
    if let Some(text) = &s.system_out {
        let _ = writeln!(
            out,
            "{inner}<system-out>{}</system-out>",
            escape(text, false)
        );
    }
    let _ = writeln!(out, "{pad}</testsuite>");
}

impl Document {
    /// The XML, with its declaration, ending in a newline.
    pub fn render(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        match self {
            Document::Suite(s) => suite(&mut out, s, 0),
            Document::Suites {
                name,
                time: t,
                suites,
            } => {
                out.push_str("<testsuites");
                attr(&mut out, "name", name);
                let all = suites
                    .iter()
                    .fold(Counts::default(), |c, s| c.add(s.counts()));
                counts(&mut out, all);
                time(&mut out, *t);
                out.push_str(">\n");
                for s in suites {
                    suite(&mut out, s, 1);
                }
                out.push_str("</testsuites>\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character XML 1.0 forbids, the five it reserves, and the
    /// whitespace it normalises.
    fn nasty() -> String {
        let mut s: String = (0u32..0x20).filter_map(char::from_u32).collect();
        s.push_str("\u{fffe}\u{ffff}&<>\"' ]]> é\u{1F600}\u{7f}\u{85}");
        s
    }

    fn document() -> Document {
        let n = nasty();
        Document::Suites {
            name: format!("loadgen {n}"),
            time: Some(1.5),
            suites: vec![Suite {
                name: n.clone(),
                time: Some(1.5),
                timestamp: Some("2026-01-01T00:00:00Z".into()),
                cases: vec![
                    Case::new(n.clone(), n.clone(), Outcome::Passed),
                    Case::new(
                        "c",
                        "failed",
                        Outcome::Failure {
                            message: n.clone(),
                            text: Some(n.clone()),
                        },
                    ),
                    Case::new(
                        "c",
                        "undecided",
                        Outcome::Error {
                            message: n.clone(),
                            text: None,
                        },
                    ),
                    Case {
                        time: Some(0.25),
                        ..Case::new("c", "not run", Outcome::Skipped { message: None })
                    },
                ],
                system_out: Some(n),
            }],
        }
    }

    /// What XML 1.0 can carry of `s`, as `escape` keeps it and a parser reads it back.
    fn readable(s: &str) -> String {
        s.chars()
            .map(|c| {
                if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')
                    || matches!(c, '\u{fffe}' | '\u{ffff}')
                {
                    format!("\\u{{{:x}}}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect()
    }

    #[test]
    fn control_characters_in_every_place_still_parse_and_read_back() {
        let xml = document().render();
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let n = readable(&nasty());
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(
            root.attribute("name"),
            Some(format!("loadgen {n}").as_str())
        );
        assert_eq!(root.attribute("tests"), Some("4"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("errors"), Some("1"));
        assert_eq!(root.attribute("skipped"), Some("1"));
        let suite = root.first_element_child().unwrap();
        assert_eq!(suite.attribute("name"), Some(n.as_str()));
        assert_eq!(suite.attribute("time"), Some("1.500"));
        let cases: Vec<_> = suite
            .children()
            .filter(|c| c.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 4);
        assert_eq!(cases[0].attribute("classname"), Some(n.as_str()));
        assert_eq!(cases[0].attribute("name"), Some(n.as_str()));
        let failure = cases[1].first_element_child().unwrap();
        assert_eq!(failure.tag_name().name(), "failure");
        assert_eq!(failure.attribute("message"), Some(n.as_str()));
        assert_eq!(failure.text(), Some(n.as_str()));
        let error = cases[2].first_element_child().unwrap();
        assert_eq!(error.tag_name().name(), "error");
        assert_eq!(error.text(), None);
        assert_eq!(cases[3].attribute("time"), Some("0.250"));
        assert!(
            cases[3]
                .first_element_child()
                .unwrap()
                .has_tag_name("skipped")
        );
        let out = suite
            .children()
            .find(|c| c.has_tag_name("system-out"))
            .unwrap();
        assert_eq!(out.text(), Some(n.as_str()));
    }

    #[test]
    fn each_control_character_alone_in_a_name_parses() {
        for c in (0u32..0x20)
            .chain([0xfffe, 0xffff])
            .filter_map(char::from_u32)
        {
            let name = format!("a{c}b");
            let xml = Document::Suite(Suite {
                name: name.clone(),
                cases: vec![Case::new("k", name.clone(), Outcome::Passed)],
                ..Suite::default()
            })
            .render();
            let doc = roxmltree::Document::parse(&xml)
                .unwrap_or_else(|e| panic!("U+{:04X}: {e}\n{xml}", c as u32));
            let case = doc.root_element().first_element_child().unwrap();
            assert_eq!(case.attribute("name"), Some(readable(&name).as_str()));
        }
    }

    #[test]
    fn layouts_of_both_users() {
        // slo gate: a lone suite, failures and errors as empty elements.
        let gate = Document::Suite(Suite {
            name: "slo gate shop".into(),
            cases: vec![
                Case::new("slo.gate", "a", Outcome::Passed),
                Case::new(
                    "slo.gate",
                    "b",
                    Outcome::Failure {
                        message: "SLI <99% & more".into(),
                        text: None,
                    },
                ),
                Case::new(
                    "slo.gate",
                    "c",
                    Outcome::Error {
                        message: "no data".into(),
                        text: None,
                    },
                ),
            ],
            ..Suite::default()
        });
        assert_eq!(
            gate.render(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuite name=\"slo gate shop\" tests=\"3\" failures=\"1\" errors=\"1\" skipped=\"0\">\n\
             \x20 <testcase classname=\"slo.gate\" name=\"a\"/>\n\
             \x20 <testcase classname=\"slo.gate\" name=\"b\">\n\
             \x20   <failure message=\"SLI &lt;99% &amp; more\"/>\n\
             \x20 </testcase>\n\
             \x20 <testcase classname=\"slo.gate\" name=\"c\">\n\
             \x20   <error message=\"no data\"/>\n\
             \x20 </testcase>\n\
             </testsuite>\n"
        );
        // loadgen: testsuites around one suite, failure text, system-out.
        let run = Document::Suites {
            name: "loadgen".into(),
            time: Some(2.0),
            suites: vec![Suite {
                name: "unit".into(),
                time: Some(2.0),
                timestamp: Some("2026-01-01T00:00:00Z".into()),
                cases: vec![Case::new(
                    "loadgen.thresholds",
                    "p(99)<1ms",
                    Outcome::Failure {
                        message: "threshold p(99)<1ms failed".into(),
                        text: Some(
                            "observed 200ms\nerrors by reason:\nstatus: HTTP 500 (4)".into(),
                        ),
                    },
                )],
                system_out: Some("errors by reason:\nstatus: HTTP 500 (4)".into()),
            }],
        };
        assert_eq!(
            run.render(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuites name=\"loadgen\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"2.000\">\n\
             \x20 <testsuite name=\"unit\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"2.000\" timestamp=\"2026-01-01T00:00:00Z\">\n\
             \x20   <testcase classname=\"loadgen.thresholds\" name=\"p(99)&lt;1ms\">\n\
             \x20     <failure message=\"threshold p(99)&lt;1ms failed\">observed 200ms\nerrors by reason:\nstatus: HTTP 500 (4)</failure>\n\
             \x20   </testcase>\n\
             \x20   <system-out>errors by reason:\nstatus: HTTP 500 (4)</system-out>\n\
             \x20 </testsuite>\n\
             </testsuites>\n"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("a&b<c>d\"e'f", false),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f"
        );
        assert_eq!(escape("l1\nl2\tx\ry", false), "l1\nl2\tx&#13;y");
        assert_eq!(escape("l1\nl2\tx", true), "l1&#10;l2&#9;x");
        assert_eq!(
            escape("\u{0}\u{1b}\u{ffff}", true),
            "\\u{0}\\u{1b}\\u{ffff}"
        );
    }
}
