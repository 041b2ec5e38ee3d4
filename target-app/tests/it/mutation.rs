//! A seeded mutation test of the fault-plan parser over the checked-in
//! examples (examples/faults): thousands of mutants, each either accepted as
//! a plan whose every value is in range, or refused with `path:line:column`
//! inside the input; never a panic. target-app/fuzz holds the cargo-fuzz
//! target for the same property.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use target_app::faults::FaultPlan;

const CASES: usize = 4_000;

/// Fragments a mutation may splice in: YAML syntax, edge numbers, bad UTF-8.
const FRAGMENTS: &[&[u8]] = &[
    b":",
    b"-",
    b"\n",
    b"  ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b"'",
    b"&a",
    b"*a",
    b"!!str",
    b"#",
    b",",
    b"? ",
    b"|\n",
    b">\n",
    b"\t",
    b"\r\n",
    b"0",
    b"-1",
    b"1e309",
    b".nan",
    b".inf",
    b"-.inf",
    b"18446744073709551616",
    b"65536",
    b"999999999999d",
    b"18446744073709551615s",
    b"1.0000000001",
    b"null",
    b"~",
    b"true",
    b"0x1F",
    b"/api/",
    b"/health",
    b"route: ",
    b"error_rate: ",
    b"error_status: ",
    b"latency: ",
    b"jitter: ",
    b"stall: ",
    b"rules:\n",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\0",
    "é".as_bytes(),
    "\u{202e}".as_bytes(),
];

fn examples() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/faults");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("examples/faults exists")
        .map(|e| e.expect("readable entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("readable example"))
        .collect()
}

fn mutate(rng: &mut StdRng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=out.len());
        match rng.random_range(0..7) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let fragment = FRAGMENTS[rng.random_range(0..FRAGMENTS.len())];
                out.splice(at..at, fragment.iter().copied());
            }
            2 => {
                let end = rng.random_range(at..=out.len().min(at + 16));
                out.drain(at..end);
            }
            3 => {
                // Replace the value after a colon with an edge value.
                if let Some(colon) = out[at..].iter().position(|&b| b == b':') {
                    let start = at + colon + 1;
                    let end = out[start..]
                        .iter()
                        .position(|&b| b == b'\n' || b == b',' || b == b'}')
                        .map_or(out.len(), |i| start + i);
                    let fragment = FRAGMENTS[rng.random_range(0..FRAGMENTS.len())];
                    let mut value = b" ".to_vec();
                    value.extend_from_slice(fragment);
                    out.splice(start..end, value);
                }
            }
            4 => {
                // Duplicate a line.
                let start = out[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = out[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(out.len(), |i| at + i + 1);
                let line = out[start..end].to_vec();
                out.splice(end..end, line);
            }
            5 => {
                // Splice in part of another example.
                let other = &others[rng.random_range(0..others.len())];
                let from = rng.random_range(0..=other.len());
                let to = rng.random_range(from..=other.len());
                out.splice(at..at, other[from..to].iter().copied());
            }
            _ => {
                let repeat = rng.random_range(1..2_000);
                out.splice(at..at, std::iter::repeat_n(b'x', repeat));
            }
        }
    }
    out
}

#[test]
fn mutated_fault_plans_never_panic_and_every_error_has_a_location() {
    let seeds = examples();
    assert!(seeds.len() >= 3, "the examples are missing");
    for seed in &seeds {
        FaultPlan::from_bytes(seed, "example").expect("every checked-in example is valid");
    }
    let mut rng = StdRng::seed_from_u64(12);
    let (mut accepted, mut refused) = (0usize, 0usize);
    for case in 0..CASES {
        let input = mutate(&mut rng, &seeds[case % seeds.len()], &seeds);
        let lines = input.split(|&b| b == b'\n').count() as u64;
        let shown = String::from_utf8_lossy(&input[..input.len().min(400)]).into_owned();
        let result = catch_unwind(AssertUnwindSafe(|| FaultPlan::from_bytes(&input, "m.yaml")))
            .unwrap_or_else(|_| panic!("case {case}: the parser panicked on {shown:?}"));
        match result {
            Ok(plan) => {
                accepted += 1;
                // What the parser accepts is in range and usable.
                let plan = plan.validated().unwrap_or_else(|e| {
                    panic!("case {case}: accepted but invalid ({e}): {shown:?}")
                });
                let json = serde_json::to_string(&plan).expect("a plan serializes");
                let again = FaultPlan::from_yaml(&json, "json")
                    .unwrap_or_else(|e| panic!("case {case}: round trip failed ({e}): {json}"));
                assert_eq!(again, plan, "case {case}");
                let _ = plan.decide("/api/orders", &mut rng);
            }
            Err(err) => {
                refused += 1;
                let (line, column) = err
                    .location()
                    .unwrap_or_else(|| panic!("case {case}: no location in {err}: {shown:?}"));
                assert!(
                    line >= 1 && line <= lines + 1 && column >= 1,
                    "case {case}: {err}"
                );
                let message = err.to_string();
                assert!(
                    message.starts_with(&format!("m.yaml:{line}:{column}: ")),
                    "case {case}: {message}"
                );
                assert!(
                    message.len() < 1_500,
                    "case {case}: {} bytes",
                    message.len()
                );
            }
        }
    }
    // The mutator reaches both sides.
    assert!(
        accepted > 100 && refused > 1_000,
        "{accepted} accepted, {refused} refused"
    );
}
