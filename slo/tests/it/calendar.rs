//! Calendar periods in the generated rules, under the real promtool: the
//! period recordings count the current month or week only (its events, or
//! for a time-slice SLO its slices), start again at its boundary in local
//! time (Europe/Berlin and Australia/Sydney, daylight saving included),
//! and each broken variant of the reset logic fails the same tests. The
//! promtool tests `slo alerts` writes for the time-slice SLO pass too.

use crate::util::{alerts_out, root};

use std::path::Path;
use std::process::Command;

/// The checks: (hours since 1970-01-01T00:00Z, recorded series of one
/// SLO, its value then or `None` for no series). Input: 1 event a second,
/// 0.5% of them failing, scraped every 5 minutes from promtool's time 0.
/// Europe/Berlin is UTC+1, UTC+2 from the last Sunday of March (the
/// current rule, which the rules apply to every year).
const CHECKS: &[(u32, &str, Option<f64>)] = &[
    // January so far at 1970-01-31T22:00Z (23:00 local): 742 whole hours.
    (
        742,
        "slo:sli_events:increase30d{slo=\"checkout-monthly\"}",
        Some(2_671_200.0),
    ),
    (
        742,
        "slo:sli_errors:increase30d{slo=\"checkout-monthly\"}",
        Some(13_356.0),
    ),
    // February 1st, 00:00 local: nothing of February yet.
    (
        743,
        "slo:sli_events:increase30d{slo=\"checkout-monthly\"}",
        None,
    ),
    // 01:00 local: one hour of February, its budget half spent.
    (
        744,
        "slo:sli_events:increase30d{slo=\"checkout-monthly\"}",
        Some(3_600.0),
    ),
    (
        744,
        "slo:error_budget_remaining:ratio{slo=\"checkout-monthly\"}",
        Some(0.5),
    ),
    // April starts at 1970-03-31T22:00Z, 00:00 CEST.
    (
        2158,
        "slo:sli_events:increase30d{slo=\"checkout-monthly\"}",
        None,
    ),
    (
        2159,
        "slo:sli_events:increase30d{slo=\"checkout-monthly\"}",
        Some(3_600.0),
    ),
    // Sydney (UTC+11 in summer, its March): April starts at
    // 1970-03-31T13:00Z, 00:00 AEDT; March started at 1970-02-28T13:00Z,
    // 743 whole hours before.
    (
        2148,
        "slo:sli_events:increase30d{slo=\"checkout-sydney\"}",
        Some(2_674_800.0),
    ),
    (
        2149,
        "slo:sli_events:increase30d{slo=\"checkout-sydney\"}",
        None,
    ),
    (
        2150,
        "slo:sli_events:increase30d{slo=\"checkout-sydney\"}",
        Some(3_600.0),
    ),
    // The week of Monday 1970-01-05 starts at 1970-01-04T23:00Z (CET).
    (
        94,
        "slo:sli_events:increase7d{slo=\"checkout-weekly\"}",
        Some(338_400.0),
    ),
    (
        95,
        "slo:sli_events:increase7d{slo=\"checkout-weekly\"}",
        None,
    ),
    (
        96,
        "slo:sli_events:increase7d{slo=\"checkout-weekly\"}",
        Some(3_600.0),
    ),
    // The week of Monday 1970-03-23 (from 1970-03-22T23:00Z, CET) holds
    // the change to CEST: at 1970-03-29T21:00Z, 166 whole hours of it. The
    // next one starts on Monday at 00:00 CEST, 1970-03-29T22:00Z.
    (
        2109,
        "slo:sli_events:increase7d{slo=\"checkout-weekly\"}",
        Some(597_600.0),
    ),
    (
        2110,
        "slo:sli_events:increase7d{slo=\"checkout-weekly\"}",
        None,
    ),
    (
        2111,
        "slo:sli_events:increase7d{slo=\"checkout-weekly\"}",
        Some(3_600.0),
    ),
];

/// The input of [`CHECKS`]: 1 event a second, 0.5% failing, for 90 days.
const REQUESTS: &str = "      - series: 'requests_total{code=\"200\"}'\n        values: '0+298.5x26000'\n      - series: 'requests_total{code=\"500\"}'\n        values: '0+1.5x26000'\n";

/// The time-slice SLO `orders-slices` (a Berlin month of 1m slices): its
/// period rules count the recorded slices (`slo:slice_good:ratio`, given
/// here as input, one a minute from time 0, so that the test evaluates at
/// two instants only) by the hour each ends in. Minutes 6000 to 6059 are
/// bad, and so is the last slice of January (minute 44580, which ends at
/// February 1st, 00:00 local); of February's first hour (minutes 44581 to
/// 44640) the second half is bad.
const SLICES: &str = "      - series: 'slo:slice_good:ratio{slo=\"orders-slices\", slo_service=\"shop\"}'\n        values: '1x5999 0x59 1x38519 0 1x29 0x29 1x59'\n";

/// The checks of `orders-slices`, as [`CHECKS`].
const SLICE_CHECKS: &[(u32, &str, Option<f64>)] = &[
    // January so far at 22:00Z: the slices of minutes 0 to 44520.
    (
        742,
        "slo:sli_slices:count30d{slo=\"orders-slices\"}",
        Some(44_521.0),
    ),
    (
        742,
        "slo:sli_bad_slices:count30d{slo=\"orders-slices\"}",
        Some(60.0),
    ),
    // February 1st, 00:00 local: the slice ending then is January's.
    (743, "slo:sli_slices:count30d{slo=\"orders-slices\"}", None),
    (
        743,
        "slo:sli_bad_slices:count30d{slo=\"orders-slices\"}",
        None,
    ),
    // 01:00 local: February's 60 slices, 30 of them bad, the budget
    // (1% of them) spent 50 times.
    (
        744,
        "slo:sli_slices:count30d{slo=\"orders-slices\"}",
        Some(60.0),
    ),
    (
        744,
        "slo:sli_bad_slices:count30d{slo=\"orders-slices\"}",
        Some(30.0),
    ),
    (
        744,
        "slo:error_budget_remaining:ratio{slo=\"orders-slices\"}",
        Some(-49.0),
    ),
];

/// One promtool test file per check, each evaluating the rules at time 0
/// and at the check's time only (its evaluation interval), so that a
/// missing series is not hidden by an earlier sample; their names.
fn write_tests(dir: &Path) -> Vec<String> {
    let requests = CHECKS.iter().map(|c| (REQUESTS, "5m", c));
    let slices = SLICE_CHECKS.iter().map(|c| (SLICES, "1m", c));
    requests
        .chain(slices)
        .enumerate()
        .map(|(i, (input, interval, (hours, expr, value)))| {
            let exp = match value {
                Some(v) => {
                    let name = expr.split('{').next().unwrap_or_default();
                    let slo = expr.split('"').nth(1).unwrap_or_default();
                    format!(
                        "\n          - labels: '{name}{{slo=\"{slo}\", slo_service=\"shop\"}}'\n            value: {v}"
                    )
                }
                None => " []".to_owned(),
            };
            let text = format!(
                "rule_files:\n  - shop.period.rules.yml\nevaluation_interval: {hours}h\ntests:\n  - interval: {interval}\n    input_series:\n{input}    promql_expr_test:\n      - expr: '{expr}'\n        eval_time: {hours}h\n        exp_samples:{exp}\n"
            );
            let name = format!("calendar-{i}.test.yml");
            std::fs::write(dir.join(&name), text).unwrap();
            name
        })
        .collect()
}

/// Runs promtool's unit tests in `dir`; (passed, output).
fn promtool_test(dir: &Path, files: &[String]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .args(files)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("promtool runs (scripts/test.sh installs it): {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Removes each line holding `needle` and the line after it.
fn drop_with_next(text: &str, needle: &str) -> String {
    let mut out = Vec::new();
    let mut skip = false;
    for line in text.lines() {
        if skip {
            skip = false;
        } else if line.contains(needle) {
            skip = true;
        } else {
            out.push(line);
        }
    }
    out.join("\n") + "\n"
}

fn replace_all(text: &str, pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
}

#[test]
fn calendar_periods_reset_at_their_local_boundaries() {
    let tmp = tempfile::tempdir().unwrap();
    alerts_out(
        &root().join("slo/testdata/calendar/shop.slo.yaml"),
        tmp.path(),
    );
    let files = write_tests(tmp.path());
    let (ok, out) = promtool_test(tmp.path(), &files);
    assert!(ok, "{out}");

    let rules_path = tmp.path().join("shop.period.rules.yml");
    let rules = std::fs::read_to_string(&rules_path).unwrap();
    type Mutation = fn(&str) -> String;
    let mutants: [(&str, Mutation); 6] = [
        // A step's increase is the hour before it: classified at its end,
        // the hour before a boundary is counted in the new period.
        ("steps classified at their end", |r| {
            replace_all(
                r,
                &[
                    ("time() + 3599)", "time() + 3600)"),
                    ("time() + 7199)", "time() + 7200)"),
                ],
            )
        }),
        // Boundaries at UTC midnight.
        ("the zone ignored", |r| {
            replace_all(
                r,
                &[
                    ("time() + 3599)", "time() - 1)"),
                    ("time() + 3600)", "time())"),
                    ("time() + 7199)", "time() + 3599)"),
                    ("time() + 7200)", "time() + 3600)"),
                ],
            )
        }),
        // Standard time all year.
        ("daylight saving time ignored", |r| {
            r.replace("+ 3600 * (", "+ 0 * (")
        }),
        // Every step of the lookback summed: no reset at all.
        ("no reset", |r| drop_with_next(r, "and on (slo_period)")),
        // The index of two periods back shares the current one's residue.
        ("modulo 2", |r| r.replace(") % 3)", ") % 2)")),
        // A slice ending on the hour counted in both hours around it.
        ("hours of slices that overlap", |r| {
            r.replace("[59m59s999ms])", "[1h])")
        }),
    ];
    for (what, mutate) in mutants {
        let mutant = mutate(&rules);
        assert_ne!(mutant, rules, "{what}: the mutation changes the rules");
        std::fs::write(&rules_path, &mutant).unwrap();
        let (ok, out) = promtool_test(tmp.path(), &files);
        assert!(!ok, "{what}: the tests still pass:\n{out}");
        assert!(out.contains("FAILED"), "{what}: {out}");
    }
}

/// The promtool tests `slo alerts --out` writes for calendar SLOs pass, as
/// written, against the rule file they name: their alerts are the rolling
/// windows', and the period recordings, in a file of their own (each of
/// their subqueries reads back to the period's start, which would take
/// promtool, evaluating every group of its rule files at every step, far
/// longer over the tests' days of input), are left to the tests above.
/// The quarter's tests step their input every 3m, not every 1m as its
/// rules are evaluated: its 9-day window would otherwise load more
/// samples in one query than promtool allows.
#[test]
fn generated_tests_of_calendar_slos_pass() {
    let tmp = tempfile::tempdir().unwrap();
    alerts_out(
        &root().join("slo/testdata/calendar/shop.slo.yaml"),
        tmp.path(),
    );
    let rules = std::fs::read_to_string(tmp.path().join("shop.rules.yml")).unwrap();
    let period = std::fs::read_to_string(tmp.path().join("shop.period.rules.yml")).unwrap();
    assert!(!rules.contains("-period\n"), "{rules}");
    assert!(rules.contains("slo:sli_error:ratio_rate1h"), "{rules}");
    assert_eq!(period.matches("-period\n").count(), 5, "{period}");
    let slices = std::fs::read_to_string(tmp.path().join("shop-orders-slices.test.yml")).unwrap();
    assert!(
        !slices.contains("count30d") && !slices.contains("-period\n"),
        "{slices}"
    );
    assert!(slices.contains("slo:sli_error:ratio_rate1h"), "{slices}");
    let quarter =
        std::fs::read_to_string(tmp.path().join("shop-checkout-quarterly.test.yml")).unwrap();
    assert!(quarter.contains("\n  interval: 3m\n"), "{quarter}");
    let names: Vec<String> = [
        "checkout-monthly",
        "checkout-weekly",
        "checkout-sydney",
        "checkout-quarterly",
        "orders-slices",
    ]
    .iter()
    .map(|n| format!("shop-{n}.test.yml"))
    .collect();
    for name in &names {
        let test = std::fs::read_to_string(tmp.path().join(name)).unwrap();
        assert!(
            test.contains("rule_files:\n- shop.rules.yml\n"),
            "{name}: {test}"
        );
    }
    // The month's, the week's and Sydney's alert groups are those of a
    // rolling 30d or 7d period, whose generated tests alerts.rs runs; the
    // quarter's (coarser input) and the slices' are run here (about 50 s
    // of promtool each).
    let run = [names[3].clone(), names[4].clone()];
    let (ok, out) = promtool_test(tmp.path(), &run);
    assert!(ok, "{out}");
    assert_eq!(out.matches("SUCCESS").count(), run.len(), "{out}");
}
