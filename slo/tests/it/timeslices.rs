//! Time-slice SLOs: the checked-in rules and promtool tests of
//! slo/testdata/timeslices/ pass promtool (that they are current is a row of
//! goldens.rs); every broken slice rule fails the scenario meant to catch
//! it; and a bad `timeslices:` is refused at its place.

use crate::util::{root, slo};

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    root().join("slo/testdata/timeslices")
}

/// promtool ARGS in `dir`: (success, stdout + stderr).
fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs (scripts/test.sh installs it)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

const TESTS: [&str; 4] = [
    "shop-availability-minutes.test.yml",
    "shop-checkout.test.yml",
    "shop-p90-under-300ms.test.yml",
    "shop-search.test.yml",
];

#[test]
fn time_slice_rules_and_their_tests_pass_promtool() {
    let (ok, out) = promtool(
        &[
            "check",
            "rules",
            "--lint=all",
            "--lint-fatal",
            "shop.rules.yml",
        ],
        &dir(),
    );
    assert!(ok, "{out}");
    // 4 SLOs: a slice recording, 7 windows, 3 period recordings and the
    // budget remaining, 4 or 5 metadata, 4 burn alerts; 1 absent alert.
    assert!(out.contains("SUCCESS: 84 rules found"), "{out}");
    let mut args = vec!["test", "rules"];
    args.extend(TESTS);
    let (ok, out) = promtool(&args, &dir());
    assert!(ok, "{out}");
    assert_eq!(out.matches("SUCCESS").count(), 4, "{out}");
    // The events SLO's tests too (its selectors solved inside its queries).
    let names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".test.yml"))
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

/// The test file `file` with only its test groups whose name holds
/// `scenario`, written into `into`.
fn only(file: &Path, scenario: &str, into: &Path) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    let mut v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let tests: Vec<serde_json::Value> = v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap_or("").contains(scenario))
        .cloned()
        .collect();
    let n = tests.len();
    v["tests"] = serde_json::Value::Array(tests);
    std::fs::write(into, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    n
}

/// One broken rule: the edit, the test file and the scenario that must
/// catch it.
struct Mutant {
    what: &'static str,
    from: &'static str,
    to: &'static str,
    file: &'static str,
    scenario: &'static str,
}

const AVAILABILITY: &str = "shop-availability-minutes.test.yml";
const PAGE: &str = "page 14.4x";

const MUTANTS: &[Mutant] = &[
    Mutant {
        what: "a slice at the target counts as bad",
        from: ") >= bool 0.95",
        to: ") > bool 0.95",
        file: AVAILABILITY,
        scenario: "exactly at the target",
    },
    Mutant {
        what: "the comparison turned",
        from: ") >= bool 0.95",
        to: ") <= bool 0.95",
        file: AVAILABILITY,
        scenario: PAGE,
    },
    Mutant {
        what: "a lower slice target",
        from: ") >= bool 0.95",
        to: ") >= bool 0.9",
        file: AVAILABILITY,
        scenario: PAGE,
    },
    Mutant {
        what: "a higher slice target",
        from: ") >= bool 0.95",
        to: ") >= bool 0.96",
        file: AVAILABILITY,
        scenario: PAGE,
    },
    Mutant {
        what: "the empty-slice guard dropped (NaN >= bool x is 0: a bad slice)",
        from: "{job=\"shop\", http_route=~\"/api/.*\"}[1m])) > 0)",
        to: "{job=\"shop\", http_route=~\"/api/.*\"}[1m])))",
        file: AVAILABILITY,
        scenario: "without traffic",
    },
    Mutant {
        what: "the per-slice min_events guard dropped",
        from: "{job=\"shop\"}[1m])) >= 10)",
        to: "{job=\"shop\"}[1m])) > 0)",
        file: "shop-checkout.test.yml",
        scenario: "fewer than min_events",
    },
    Mutant {
        what: "a long window one slice longer",
        from: "[13m59s999ms]",
        to: "[14m59s999ms]",
        file: AVAILABILITY,
        scenario: PAGE,
    },
    Mutant {
        what: "a window's range not short of its edge (15 slices in 14m)",
        from: "[13m59s999ms]",
        to: "[14m]",
        file: AVAILABILITY,
        scenario: PAGE,
    },
    Mutant {
        what: "the worst slice instead of the share of bad slices",
        from: "1 - avg_over_time(slo:slice_good:ratio{slo=\"availability-minutes\"",
        to: "1 - min_over_time(slo:slice_good:ratio{slo=\"availability-minutes\"",
        file: AVAILABILITY,
        scenario: PAGE,
    },
    Mutant {
        what: "no short window: the alert outlives the bad slices",
        from: "\n      and\n      slo:sli_error:ratio_rate1m10s{slo=\"availability-minutes\", slo_service=\"shop\"} / 0.01 > 14.4",
        to: "",
        file: AVAILABILITY,
        scenario: PAGE,
    },
    Mutant {
        what: "a RatioTimeslices slice judged against a target",
        from: "1 - (sum(increase(checkout_total{job=\"shop\"}[1m])) - (sum(increase(checkout_total{job=\"shop\", result=\"ok\"}[1m])) or vector(0)))\n      /\n      (sum(increase(checkout_total{job=\"shop\"}[1m])) >= 10)",
        to: "(1 - (sum(increase(checkout_total{job=\"shop\"}[1m])) - (sum(increase(checkout_total{job=\"shop\", result=\"ok\"}[1m])) or vector(0)))\n      /\n      (sum(increase(checkout_total{job=\"shop\"}[1m])) >= 10)) >= bool 0.9",
        file: "shop-checkout.test.yml",
        scenario: PAGE,
    },
];

#[test]
fn generated_time_slice_tests_catch_broken_slice_rules() {
    let rules = std::fs::read_to_string(dir().join("shop.rules.yml")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // Each scenario passes against the rules as generated.
    let mut baselines = std::collections::BTreeSet::new();
    for m in MUTANTS {
        if baselines.insert((m.file, m.scenario)) {
            std::fs::write(tmp.path().join("shop.rules.yml"), &rules).unwrap();
            let n = only(&dir().join(m.file), m.scenario, &tmp.path().join("t.yml"));
            assert!(n >= 1, "{}: no scenario named {:?}", m.file, m.scenario);
            let (ok, out) = promtool(&["test", "rules", "t.yml"], tmp.path());
            assert!(ok, "{} {:?} fails unmutated: {out}", m.file, m.scenario);
        }
    }
    for m in MUTANTS {
        assert!(
            rules.contains(m.from),
            "{}: {:?} is not in the rules",
            m.what,
            m.from
        );
        std::fs::write(
            tmp.path().join("shop.rules.yml"),
            rules.replace(m.from, m.to),
        )
        .unwrap();
        only(&dir().join(m.file), m.scenario, &tmp.path().join("t.yml"));
        let (ok, out) = promtool(&["test", "rules", "t.yml"], tmp.path());
        assert!(
            !ok,
            "{}: the {:?} scenario still passes:\n{out}",
            m.what, m.scenario
        );
        assert!(out.contains("FAILED"), "{}: {out}", m.what);
    }
}

const HEAD: &str = "version: slo/v1\nservice: s\nslos:\n  - name: a\n    objective: 99\n";
const SLI: &str = "    sli: {availability: {}}\n";

#[test]
fn bad_time_slices_are_refused_at_their_place() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("spec.yaml");
    let p = path.to_str().unwrap();
    // (spec lines after the objective, message, line:column, hint)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "    timeslices: {slice: 1500ms, target: 0.9}\n",
            "time slice of slo \"a\" must be a whole number of seconds, got 1s 500ms",
            ":6:25:",
            "e.g. slice: 1m",
        ),
        (
            "    timeslices:\n      slice: 2s\n",
            "time slice must be at least 5s, got 2s (slo \"a\")",
            ":7:14:",
            "two scrapes",
        ),
        (
            "    timeslices: {slice: 10m, target: 0.9}\n",
            "time slice 10m of slo \"a\" is longer than the shortest alert window of its 30d period (5m)",
            ":6:25:",
            "a slice of at most 5m",
        ),
        (
            "    period: 7d\n    timeslices: {slice: 2m}\n",
            "shortest alert window of its 7d period (1m10s)",
            ":7:25:",
            "at most 1m10s",
        ),
        (
            "    timeslices: {slice: 1m, target: 1.5}\n",
            "time-slice target must be above 0 and at most 1, got 1.5 (slo \"a\")",
            ":6:37:",
            "target: 0.95 for 95%",
        ),
        (
            "    timeslices:\n      slice: 1m\n      target: 0\n",
            "at most 1, got 0",
            ":8:15:",
            "a fraction",
        ),
        (
            "    timeslices: {slice: 1m, targt: 0.9}\n",
            "unknown field \"targt\", did you mean \"target\"?",
            ":6:29:",
            "valid fields here: slice, target",
        ),
        (
            "    timeslices: {target: 0.9}\n",
            "missing field `slice`",
            ":6:18:",
            "add the field",
        ),
        (
            "    timeslices: {slice: soon}\n",
            "expected a duration",
            ":6:18:",
            "durations are written like",
        ),
    ];
    for (extra, message, at, hint) in cases {
        std::fs::write(&path, format!("{HEAD}{extra}{SLI}")).unwrap();
        let (code, stdout, stderr) = slo(&["check", p]);
        assert_eq!(code, Some(2), "{extra}: {stdout}{stderr}");
        assert!(stderr.contains(message), "{extra}: {stderr}");
        assert!(stderr.contains(&format!("{p}{at}")), "{extra}: {stderr}");
        assert!(stderr.contains(hint), "{extra}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A slice of the shortest window, and a target of 1, are fine.
    for extra in [
        "    timeslices: {slice: 5m, target: 1}\n",
        "    period: 12h\n    timeslices: {slice: 5s}\n",
    ] {
        std::fs::write(&path, format!("{HEAD}{extra}{SLI}")).unwrap();
        let (code, stdout, stderr) = slo(&["check", p]);
        assert_eq!(code, Some(0), "{extra}: {stdout}{stderr}");
    }
}
