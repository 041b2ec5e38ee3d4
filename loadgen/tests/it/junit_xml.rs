//! loadgen's JUnit parses as XML whatever the names hold: a scenario and a
//! request name with control characters (which XML 1.0 cannot carry) and the
//! characters XML reserves, from a real run against the target app, read
//! back with a real XML parser.

use crate::util::{Dir, arg, run_against, target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_with_control_characters_in_names_is_well_formed_xml() {
    let app = target(0.0).await;
    let dir = Dir::new();
    // YAML escapes: the file itself holds no control character.
    let file = dir.write(
        "ctl.yaml",
        r#"name: "ctl \x01\x1b\x7f <&> \uFFFE end"
base_url: http://127.0.0.1:1
timeout: 5s
scenarios:
  - name: s
    requests:
      - name: "req \x02\b"
        path: /api/products
load:
  model: open
  rate: 5
  duration: 1s
  max_users: 2
thresholds:
  - threshold: p(95)<1us
    request: "req \x02\b"
  - error_rate<100%
"#,
    );
    let junit = dir.path("junit.xml");
    let out = run_against(&app, &file, &["--junit", arg(&junit)]).await;
    // The 1 µs threshold fails.
    assert_eq!(out.code, Some(99), "{}{}", out.stdout, out.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suite = root
        .children()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite");
    // What XML cannot carry is spelled out; what it reserves comes back as written.
    assert_eq!(
        suite.attribute("name"),
        Some("ctl \\u{1}\\u{1b}\u{7f} <&> \\u{fffe} end")
    );
    assert_eq!(suite.attribute("tests"), Some("2"));
    assert_eq!(suite.attribute("failures"), Some("1"));
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2);
    let failed = cases
        .iter()
        .find(|c| c.children().any(|n| n.has_tag_name("failure")))
        .expect("a failed case");
    assert_eq!(
        failed.attribute("name"),
        Some("p(95)<1us [req \\u{2}\\u{8}]")
    );
    let failure = failed
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("threshold p(95)<1us [req \\u{2}\\u{8}] failed")
    );
    assert!(
        failure.text().is_some_and(|t| t.starts_with("observed ")),
        "{xml}"
    );
    // No raw control character is left anywhere in the file.
    assert!(
        !xml.chars()
            .any(|c| (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r')),
        "{xml:?}"
    );
}
