//! A seeded mutation test over the checked-in scenarios: thousands of
//! mutants (edge numbers and durations, deleted, doubled and swapped lines,
//! stray bytes, truncation) go through the parser and validation. None may
//! panic; every refusal names file:line:column; every accepted plan is in
//! the documented ranges. A sample of accepted mutants then really runs
//! (1 s, against the in-process target app) and must end within its
//! duration plus its request timeout plus a small slack.

use std::path::Path;
use std::time::{Duration, Instant};

use loadgen::scenario::{Load, Plan, limits};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::util::{Dir, arg, has_location, run, target};

const CASES: usize = 4000;
const RUNS: usize = 20;

fn seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut seeds: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 4, "the bundled scenarios are the seeds");
    // The same with a small pool, so that the run sample has open-model
    // mutants of every scenario.
    let small: Vec<String> = seeds
        .iter()
        .filter(|s| s.contains("max_users:"))
        .map(|s| {
            s.lines()
                .map(|l| {
                    if l.trim_start().starts_with("max_users:") {
                        "  max_users: 10\n".to_owned()
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect()
        })
        .collect();
    seeds.extend(small);
    seeds
}

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "0.5",
    "1e308",
    "-1e308",
    "1e-300",
    "1e309",
    ".nan",
    ".inf",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999",
    "10000",
    "10001",
    "100000",
    "100001",
    "1000000",
    "1000001",
    "2",
];

const DURATIONS: &[&str] = &[
    "0s",
    "1ns",
    "1ms",
    "1s",
    "1h",
    "3601s",
    "24h",
    "25h",
    "999999999999d",
    "18446744073709551615s",
    "soon",
];

const STRAY: &[&str] = &[
    ":", "{", "}", "[", "]", "- ", "#", "&a ", "*a", "!", "|", ">", "'", "\"", "\t", "\n", "  ",
    "{{", "}}", "\u{0}", "é",
];

/// Byte ranges of the numbers in `text` (with a trailing unit, if any).
fn tokens(text: &str) -> Vec<(usize, usize, bool)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let unit = i < b.len() && b[i].is_ascii_alphabetic();
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push((start, i, unit));
        } else {
            i += 1;
        }
    }
    out
}

fn mutate(seed: &str, rng: &mut StdRng) -> Vec<u8> {
    let mut text = seed.to_owned();
    for _ in 0..rng.random_range(1..=3) {
        let lines: Vec<&str> = text.lines().collect();
        match rng.random_range(0..10) {
            0..=3 => {
                let t = tokens(&text);
                if t.is_empty() {
                    continue;
                }
                let (s, e, unit) = t[rng.random_range(0..t.len())];
                let pool = if unit { DURATIONS } else { NUMBERS };
                text.replace_range(s..e, pool[rng.random_range(0..pool.len())]);
            }
            4 if !lines.is_empty() => {
                let k = rng.random_range(0..lines.len());
                text = lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != k)
                    .map(|(_, l)| format!("{l}\n"))
                    .collect();
            }
            5 if !lines.is_empty() => {
                let k = rng.random_range(0..lines.len());
                let mut v: Vec<&str> = lines.clone();
                v.insert(k, lines[k]);
                text = v.iter().map(|l| format!("{l}\n")).collect();
            }
            6 if lines.len() > 1 => {
                let (a, b) = (
                    rng.random_range(0..lines.len()),
                    rng.random_range(0..lines.len()),
                );
                let mut v: Vec<&str> = lines.clone();
                v.swap(a, b);
                text = v.iter().map(|l| format!("{l}\n")).collect();
            }
            7 => {
                let at = rng.random_range(0..=text.len());
                if text.is_char_boundary(at) {
                    text.insert_str(at, STRAY[rng.random_range(0..STRAY.len())]);
                }
            }
            8 => {
                let at = rng.random_range(0..=text.len());
                if text.is_char_boundary(at) {
                    text.truncate(at);
                }
            }
            _ => {
                // A stray byte, possibly not UTF-8.
                let mut bytes = text.into_bytes();
                let at = rng.random_range(0..=bytes.len());
                bytes.insert(at, rng.random());
                return bytes;
            }
        }
    }
    text.into_bytes()
}

/// An accepted plan is inside the documented ranges.
fn check_ranges(plan: &Plan) {
    assert!(!plan.timeout.is_zero() && plan.timeout <= limits::MAX_TIMEOUT);
    let d = plan.load.duration();
    assert!(!d.is_zero() && d <= limits::MAX_RUN, "{d:?}");
    for r in plan.scenarios.iter().flat_map(|s| &s.requests) {
        assert!(r.think_time <= limits::MAX_THINK_TIME);
    }
    match &plan.load {
        Load::Open {
            start_rate,
            stages,
            max_users,
            max_queue,
        } => {
            assert!((0.0..=limits::MAX_RATE).contains(start_rate));
            assert!(
                stages
                    .iter()
                    .all(|s| (0.0..=limits::MAX_RATE).contains(&s.target))
            );
            assert!((1..=limits::MAX_USERS).contains(max_users));
            assert!((1..=limits::MAX_QUEUE).contains(max_queue));
        }
        Load::Closed {
            start_users,
            stages,
        } => {
            assert!(*start_users <= limits::MAX_USERS);
            let max = f64::from(limits::MAX_USERS);
            assert!(stages.iter().all(|s| (0.0..=max).contains(&s.target)));
        }
    }
}

/// The user pool a run starts.
fn pool(plan: &Plan) -> u32 {
    match &plan.load {
        Load::Open { max_users, .. } => *max_users,
        Load::Closed {
            start_users,
            stages,
        } => stages
            .iter()
            .map(|s| s.target as u32)
            .fold(*start_users, u32::max),
    }
}

fn max_think(plan: &Plan) -> Duration {
    plan.scenarios
        .iter()
        .flat_map(|s| &s.requests)
        .map(|r| r.think_time)
        .max()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutants_of_the_bundled_scenarios_never_panic_and_what_validates_runs() {
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(12);
    let path = Path::new("/nonexistent/mutant.yaml");
    let (mut accepted, mut refused) = (Vec::new(), 0usize);
    let started = Instant::now();
    for case in 0..CASES {
        let seed = &seeds[case % seeds.len()];
        let bytes = mutate(seed, &mut rng);
        let shown = String::from_utf8_lossy(&bytes).into_owned();
        let result = std::panic::catch_unwind(|| {
            match common::input::decode(bytes.clone(), "mutant.yaml") {
                Err(e) => Err(e.to_string()),
                Ok(text) => loadgen::scenario::parse(&text, path)
                    .map(|plan| (text, plan))
                    .map_err(|e| e.to_string()),
            }
        });
        match result {
            Err(_) => panic!("case {case} panicked on:\n{shown}"),
            Ok(Err(message)) => {
                refused += 1;
                assert!(
                    has_location(&message, "mutant.yaml"),
                    "case {case}: no file:line:column in {message:?} for:\n{shown}"
                );
            }
            Ok(Ok((text, plan))) => {
                check_ranges(&plan);
                accepted.push((text, plan));
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{CASES} cases took {:?}",
        started.elapsed()
    );
    // The mutator must exercise both sides.
    assert!(refused > CASES / 10, "{refused} refused");
    assert!(accepted.len() > RUNS, "{} accepted", accepted.len());

    // A sample of the accepted mutants, shortened to 1 s, really runs.
    // Left out: think time beyond 1 s (cutting it at the end of a run is the
    // engine's part), and pools of more than 20 users (a 1 s run of
    // steady.yaml, 100 users, takes about 10 s on a healthy target, and of
    // stress.yaml, 1000 users, more than 100 s: the engine's part too).
    let app = target(0.0).await;
    let host = format!("http://{}", app.addr);
    let dir = Dir::new();
    let runnable: Vec<_> = accepted
        .iter()
        .filter(|(_, p)| max_think(p) <= Duration::from_secs(1) && pool(p) <= 20)
        .collect();
    let sample: Vec<_> = runnable
        .iter()
        .step_by((runnable.len() / RUNS).max(1))
        .take(RUNS)
        .collect();
    assert_eq!(sample.len(), RUNS);
    // One at a time: the other tests of this binary measure latency.
    for (chunk_no, chunk) in sample.chunks(1).enumerate() {
        let mut runs = tokio::task::JoinSet::new();
        for (k, (text, plan)) in chunk.iter().enumerate() {
            let i = chunk_no + k;
            let file = dir.write(&format!("m{i}.yaml"), text);
            let bound = Duration::from_secs(1) + plan.timeout + Duration::from_secs(5);
            let (host, text) = (host.clone(), text.clone());
            runs.spawn(async move {
                let started = Instant::now();
                let out = run(
                    &["run", arg(&file), "--host", &host, "--duration", "1s"],
                    bound + Duration::from_secs(30),
                )
                .await;
                (i, text, bound, started.elapsed(), out)
            });
        }
        while let Some(done) = runs.join_next().await {
            let (i, text, bound, took, out) = done.expect("the run task");
            assert!(
                matches!(out.code, Some(0 | 1 | 99)),
                "mutant {i}: exit {:?}: {}\n{text}",
                out.code,
                out.stderr
            );
            assert!(
                !out.stderr.contains("panicked"),
                "mutant {i}: {}",
                out.stderr
            );
            assert!(
                took <= bound,
                "mutant {i} took {took:?}, more than {bound:?}:\n{text}"
            );
        }
    }
}
