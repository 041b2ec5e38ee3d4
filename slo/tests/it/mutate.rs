//! A seeded mutation test over the checked-in specs (native, Sloth in both
//! forms, OpenSLO): a few thousand mutants, each parsed and validated as
//! `slo check` does. None may panic; each is accepted, or refused with
//! file:line:column; whatever is accepted generates rules, promtool tests and
//! a dashboard holding only finite numbers and PromQL that parses. A sample
//! goes through the binary (exit 0 or 2 only) and through promtool.

use crate::util;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// xorshift64*: small, seeded, the same mutants on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// Values that sit at or beyond the edge of some range.
const EDGES: &[&str] = &[
    "0",
    "-1",
    "1e309",
    "-1e309",
    ".nan",
    ".inf",
    "-.inf",
    "1e-300",
    "100",
    "99.99999999999999",
    "1e12",
    "1e13",
    "0.000000001",
    "86400",
    "86401",
    "18446744073709551616",
    "366d",
    "367d",
    "999999999999d",
    "0s",
    "59m",
    "1h",
    "12h",
    "7d",
    "''",
    "'{'",
    "'{job=\"x\"}'",
    "~",
    "[]",
    "{}",
    "\"\\xff\"",
    "1",
    "0.3",
    "1e+00",
];

/// Bytes that matter to YAML, plus one that is not UTF-8.
const BYTES: &[u8] = b"{}[]:,-'\"#&*!|>\n \t0.9e\\\xff";

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = b.len().max(1);
        match rng.below(6) {
            // A value after `: ` replaced by an edge value.
            0 | 1 => {
                let colons: Vec<usize> = b
                    .windows(2)
                    .enumerate()
                    .filter(|(_, w)| w == b": ")
                    .map(|(i, _)| i + 2)
                    .collect();
                if colons.is_empty() {
                    continue;
                }
                let start = *rng.pick(&colons);
                let end = b[start..]
                    .iter()
                    .position(|c| matches!(c, b'\n' | b',' | b'}'))
                    .map_or(b.len(), |i| start + i);
                b.splice(start..end, rng.pick(EDGES).bytes());
            }
            // A short range deleted.
            2 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(8)).min(b.len());
                b.drain(at.min(end)..end);
            }
            // A byte inserted.
            3 => {
                let at = rng.below(len);
                b.insert(at.min(b.len()), *rng.pick(BYTES));
            }
            // A line duplicated.
            4 => {
                let lines: Vec<&[u8]> = b.split(|c| *c == b'\n').collect();
                let i = rng.below(lines.len());
                let mut out: Vec<u8> = Vec::new();
                for (j, l) in lines.iter().enumerate() {
                    out.extend_from_slice(l);
                    out.push(b'\n');
                    if j == i {
                        out.extend_from_slice(l);
                        out.push(b'\n');
                    }
                }
                b = out;
            }
            // A number token replaced by an edge value.
            _ => {
                let digits: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii_digit()).collect();
                if digits.is_empty() {
                    continue;
                }
                let start = *rng.pick(&digits);
                let end = b[start..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'.'))
                    .map_or(b.len(), |i| start + i);
                b.splice(start..end, rng.pick(EDGES).bytes());
            }
        }
    }
    b
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let root = util::root();
    let mut paths: Vec<PathBuf> = vec![
        root.join("alerts/target-app.slo.yaml"),
        // Another metric shape: its dashboard reads the SLIs' own selectors.
        root.join("examples/slo/flask-app.slo.yaml"),
        root.join("slo/testdata/timeslices/shop.slo.yaml"),
    ];
    for name in [
        "sloth.yaml",
        "sloth-k8s.yaml",
        "openslo.yaml",
        "openslo-timeslices.yaml",
        "sloth.native.yaml",
    ] {
        paths.push(root.join("slo/testdata/import").join(name));
    }
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// A NaN or infinite number in a PromQL expression or series notation
/// (outside its string literals), if there is one.
fn non_finite(expr: &str) -> Option<String> {
    let mut code = String::new();
    let mut quoted = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quoted {
            Some(_) if escaped => escaped = false,
            Some(q) if c == '\\' && q != '`' => escaped = true,
            Some(q) if c == q => quoted = None,
            Some(_) => {}
            None if matches!(c, '"' | '\'' | '`') => quoted = Some(c),
            None => code.push(c),
        }
    }
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|t| ["nan", "inf", "infinity"].contains(&t.to_ascii_lowercase().as_str()))
        .map(|t| format!("{t} in {expr}"))
}

/// Every expression, series and duration in generated YAML or JSON, and
/// whether every number in it is finite.
fn numbers(v: &serde_json::Value, key: &str, exprs: &mut Vec<String>) -> bool {
    match v {
        serde_json::Value::String(s)
            if matches!(key, "expr" | "values" | "for" | "interval" | "eval_time") =>
        {
            exprs.push(s.clone());
            true
        }
        serde_json::Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        serde_json::Value::Array(a) => a.iter().all(|x| numbers(x, key, exprs)),
        serde_json::Value::Object(o) => o.iter().all(|(k, x)| numbers(x, k, exprs)),
        _ => true,
    }
}

/// Generated text (YAML or JSON) holds only finite numbers.
fn finite_only(kind: &str, text: &str) -> Result<(), String> {
    let v: serde_json::Value =
        serde_saphyr::from_str(text).map_err(|e| format!("{kind} does not read back: {e}"))?;
    let mut exprs = Vec::new();
    if !numbers(&v, "", &mut exprs) {
        return Err(format!("{kind}: a number that is not finite"));
    }
    match exprs.iter().find_map(|e| non_finite(e)) {
        Some(bad) => Err(format!("{kind}: {bad}")),
        None => Ok(()),
    }
}

/// What `slo check` does to a spec, in process: Ok(rules text) or the error.
fn check(
    bytes: Vec<u8>,
    path: &Path,
    seen: &mut std::collections::HashSet<String>,
) -> Result<Option<String>, String> {
    let shown = path.display().to_string();
    let text = slo::spec::utf8(bytes, &shown).map_err(|e| e.to_string())?;
    let service = slo::spec::parse(&text, path).map_err(|e| e.to_string())?;
    // Generation is a function of the model: each distinct model once.
    // Building is slow in a debug build: rules for every second distinct
    // model, dashboards and promtool tests for every eighth.
    if !seen.insert(format!("{service:?}")) || seen.len() % 2 == 0 {
        return Ok(None);
    }
    let full = seen.len() % 8 == 1;
    // Accepted: everything generated from it must build and be finite.
    let all = slo::rules::service_rules(&service)
        .unwrap_or_else(|e| panic!("check accepts, alerts refuses: {e}\n{text}"));
    let rule_file = slo::rules::rule_file(&service, &all, "slo alerts spec.yaml");
    let mut generated = vec![
        ("rules", rule_file.clone()),
        (
            "PrometheusRule",
            slo::rules::prometheus_rule(&service, &all, "slo alerts spec.yaml"),
        ),
    ];
    for r in all.iter().filter(|_| full) {
        if let Ok(t) = slo::ruletest::unit_tests(r, "rules.yml", "") {
            generated.push(("promtool tests", t));
        }
    }
    if full {
        let d =
            slo::dashboard::dashboard(&service, &slo::dashboard::Options::for_service(&service))
                .unwrap_or_else(|e| panic!("check accepts, dashboard refuses: {e}\n{text}"));
        generated.push(("dashboard", d.to_string()));
    }
    for s in &service.slos {
        for w in slo::windows::alert_windows(s.period)
            .into_iter()
            .chain([s.period])
        {
            let q = slo::timeslices::slo_events(s, w);
            for query in [&q.errors, &q.total] {
                slo::promql::check(query)
                    .unwrap_or_else(|e| panic!("{query} does not parse: {e}\n{text}"));
                generated.push(("query", serde_json::json!({ "expr": query }).to_string()));
            }
        }
    }
    for (kind, out) in &generated {
        if let Err(e) = finite_only(kind, out) {
            panic!("{e}\nfrom:\n{text}");
        }
    }
    Ok(Some(rule_file))
}

/// `path:LINE:COLUMN: ` at the start of an error, with LINE inside the file.
fn located(message: &str, shown: &str, lines: usize) -> bool {
    let Some(rest) = message.strip_prefix(&format!("{shown}:")) else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().and_then(|l| l.parse::<usize>().ok());
    let column = parts.next().and_then(|c| c.parse::<usize>().ok());
    matches!((line, column), (Some(l), Some(c)) if l >= 1 && l <= lines + 1 && c >= 1)
}

#[test]
fn mutated_specs_are_accepted_and_generate_or_are_refused_with_a_location() {
    let _alone = util::Alone::wait();
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.yaml");
    let shown = path.display().to_string();
    let seeds = seeds();
    let mut rng = Rng(0x5eed_1e5a_a11e_0001);
    let (mut accepted, mut refused) = (0, 0);
    let mut promtool_checked = 0;
    let mut seen = std::collections::HashSet::new();
    const CASES: usize = 2_000;
    for i in 0..CASES {
        let (seed_name, seed) = rng.pick(&seeds).clone();
        let bytes = mutate(&mut rng, &seed);
        let lines = bytes.split(|b| *b == b'\n').count();
        let shown_text = String::from_utf8_lossy(&bytes).into_owned();
        let result = catch_unwind(AssertUnwindSafe(|| check(bytes.clone(), &path, &mut seen)));
        let result = result
            .unwrap_or_else(|_| panic!("case {i} (from {seed_name}) panicked:\n{shown_text}"));
        match &result {
            Ok(rules) => {
                accepted += 1;
                // promtool reads a sample of what check accepts.
                if let Some(rules) = rules
                    .as_ref()
                    .filter(|_| promtool_checked < 5 && bytes != seed && i % 7 == 0)
                {
                    let rules_path = dir.path().join("rules.yml");
                    std::fs::write(&rules_path, rules).unwrap();
                    let out = std::process::Command::new("promtool")
                        .args(["check", "rules"])
                        .arg(&rules_path)
                        .output()
                        .expect("promtool runs");
                    assert!(
                        out.status.success(),
                        "promtool refuses the rules of an accepted spec:\n{shown_text}\n{}",
                        String::from_utf8_lossy(&out.stdout)
                    );
                    promtool_checked += 1;
                }
            }
            Err(message) => {
                refused += 1;
                assert!(
                    located(message, &shown, lines),
                    "case {i} (from {seed_name}): no file:line:column in {message:?} for:\n{shown_text}"
                );
            }
        }
        // Every 200th mutant also through the binary: exit 0 or 2, never a panic.
        if i % 200 == 0 {
            std::fs::write(&path, &bytes).unwrap();
            let p = path.to_str().unwrap();
            let (code, _, stderr) = util::slo(&["check", p]);
            let want = if result.is_ok() { 0 } else { 2 };
            assert_eq!(
                code,
                Some(want),
                "case {i}: slo check: {stderr}\n{shown_text}"
            );
            if want == 0 {
                for command in ["alerts", "dashboard"] {
                    let (code, _, stderr) = util::slo(&[command, p]);
                    assert_eq!(code, Some(0), "case {i}: slo {command}: {stderr}");
                }
            } else {
                assert!(stderr.contains(&format!("{shown}:")), "{stderr}");
            }
        }
    }
    eprintln!(
        "{CASES} mutants: {accepted} accepted ({} distinct models), {refused} refused, {promtool_checked} rule files through promtool, in {:?}",
        seen.len(),
        started.elapsed()
    );
    // The mutator reaches both sides, and the sample reached promtool.
    assert!(accepted > CASES / 20, "only {accepted} accepted");
    assert!(refused > CASES / 4, "only {refused} refused");
    assert!(promtool_checked > 0, "no accepted mutant reached promtool");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
