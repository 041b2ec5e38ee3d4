//! Every number in a scenario has a range, checked before anything runs:
//! the values that made `loadgen run` panic, exhaust memory or never end
//! are refused by `validate` and `run` alike, with exit 2 and
//! file:line:column. Each test is named after the case it guards.

use std::time::{Duration, Instant};

use crate::util::{Dir, arg, has_location, run};

const SCENARIOS: &str =
    "scenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x\n";

/// A scenario with `top` lines before the scenarios and `load` as the load block.
fn scenario(top: &str, load: &str) -> String {
    format!("base_url: http://127.0.0.1:1\n{top}{SCENARIOS}load:\n{load}")
}

const OPEN: &str = "  model: open\n  rate: 10\n  duration: 1s\n  max_users: 5\n";

/// `validate` and `run` both exit 2, naming `bad.yaml:LINE:COLUMN` and `needle`.
async fn refused(text: &str, location: &str, needle: &str) {
    let dir = Dir::new();
    let file = dir.write("bad.yaml", text);
    for cmd in ["validate", "run"] {
        let started = Instant::now();
        let out = run(&[cmd, arg(&file)], Duration::from_secs(30)).await;
        assert_eq!(out.code, Some(2), "{cmd}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(&format!("bad.yaml:{location}: ")),
            "{cmd}: expected bad.yaml:{location} in:\n{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(needle),
            "{cmd}: {needle:?} in:\n{}",
            out.stderr
        );
        assert!(out.stderr.contains("hint"), "{cmd}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{cmd}: {}", out.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{cmd} is refused at once"
        );
    }
}

#[tokio::test]
async fn timeout_of_u64_max_seconds_is_refused_not_a_panic() {
    refused(
        &scenario("timeout: 18446744073709551615s\n", OPEN),
        "2:10",
        "timeout must be more than 0 and at most 1h, got 18446744073709551615s",
    )
    .await;
}

#[tokio::test]
async fn timeout_of_999999999999d_exits_2_not_1_from_goose() {
    refused(
        &scenario("timeout: 999999999999d\n", OPEN),
        "2:10",
        "timeout must be more than 0 and at most 1h",
    )
    .await;
}

#[tokio::test]
async fn stage_target_of_2_pow_64_is_refused_not_a_capacity_overflow() {
    refused(
        &scenario(
            "",
            "  model: closed\n  stages:\n    - {duration: 1s, target: 18446744073709551616}\n",
        ),
        "10:30",
        "stage target (users) must be 0 to 10000, got 1.8446744073709552e19",
    )
    .await;
}

#[tokio::test]
async fn users_near_u32_max_are_refused_not_an_oom() {
    refused(
        &scenario("", "  model: closed\n  users: 4294967295\n  duration: 1s\n"),
        "9:10",
        "users must be 1 to 10000, got 4294967295",
    )
    .await;
    // One more than u32 holds: located at the value inside the load block.
    refused(
        &scenario("", "  model: closed\n  users: 4294967296\n  duration: 1s\n"),
        "9:10",
        "invalid value: integer `4294967296`",
    )
    .await;
    refused(
        &scenario(
            "",
            "  model: open\n  rate: 10\n  duration: 1s\n  max_users: 4294967295\n",
        ),
        "11:14",
        "max_users must be 1 to 10000",
    )
    .await;
}

#[tokio::test]
async fn max_queue_near_u32_max_is_refused_not_an_oom() {
    refused(
        &scenario("", &format!("{OPEN}  max_queue: 4294967295\n")),
        "12:14",
        "max_queue must be 1 to 1000000, got 4294967295",
    )
    .await;
}

#[tokio::test]
async fn rate_of_1e308_is_refused_not_an_endless_run() {
    refused(
        &scenario(
            "",
            "  model: open\n  rate: 1e308\n  duration: 1s\n  max_users: 5\n",
        ),
        "9:9",
        "rate (iterations per second) must be 0 to 100000, got 1e308",
    )
    .await;
    refused(
        &scenario(
            "",
            "  model: open\n  rate: .inf\n  duration: 1s\n  max_users: 5\n",
        ),
        "9:9",
        "non-finite float",
    )
    .await;
}

#[tokio::test]
async fn think_time_of_u64_max_seconds_is_refused_not_an_endless_run() {
    let text = format!(
        "base_url: http://127.0.0.1:1\nscenarios:\n  - name: s\n    think_time: 18446744073709551615s\n    requests:\n      - name: r\n        path: /x\n        think_time: 2h\nload:\n{OPEN}"
    );
    refused(&text, "4:17", "think_time must be at most 1h").await;
    let text = text.replace("18446744073709551615s", "1s");
    refused(&text, "8:21", "think_time must be at most 1h, got 2h").await;
}

#[tokio::test]
async fn a_run_longer_than_24h_is_refused() {
    refused(
        &scenario(
            "",
            "  model: open\n  stages:\n    - {duration: 20h, target: 5}\n    - {duration: 5h, target: 5}\n  max_users: 5\n",
        ),
        "11:18",
        "a run lasts at most 1day; the stages up to here add up to 1day 1h",
    )
    .await;
}

#[tokio::test]
async fn weights_and_expected_statuses_are_ranged() {
    refused(
        &format!(
            "base_url: http://h\nscenarios:\n  - name: s\n    weight: 4294967295\n    requests:\n      - name: r\n        path: /x\nload:\n{OPEN}"
        ),
        "4:13",
        "weight of scenario \"s\" must be 1 to 1000000",
    )
    .await;
    refused(
        &format!(
            "base_url: http://h\nscenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x\n        expect: [200, 600]\nload:\n{OPEN}"
        ),
        "7:23",
        "expected status 600",
    )
    .await;
    refused(
        &format!(
            "base_url: http://h\nscenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x/{{{{ randint(1, 99999999999999999999) }}}}\nload:\n{OPEN}"
        ),
        "6:15",
        "randint needs two integers",
    )
    .await;
}

#[tokio::test]
async fn duration_override_goes_through_the_same_range() {
    let steady = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/steady.yaml");
    for (args, needle) in [
        (
            vec!["run", steady, "--duration", "25h"],
            "--duration must be more than 0 and at most 1day, got 1day 1h",
        ),
        (
            vec!["run", steady, "--duration", "18446744073709551615s"],
            "--duration must be more than 0",
        ),
        (vec!["run", steady, "--duration", "0s"], "--duration"),
        (vec!["demo", "--duration", "999999999999d"], "--duration"),
    ] {
        let out = run(&args, Duration::from_secs(30)).await;
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }
}

#[tokio::test]
async fn invalid_utf8_in_a_scenario_names_the_line_of_the_first_bad_byte() {
    let dir = Dir::new();
    let mut bytes = scenario("", OPEN).into_bytes();
    // Line 3 is "  - name: s": make its name invalid UTF-8.
    let at = bytes.windows(7).position(|w| w == b"name: s").unwrap() + 6;
    bytes[at] = 0xff;
    let file = dir.path("bad.yaml");
    std::fs::write(&file, &bytes).unwrap();
    for cmd in ["validate", "run"] {
        let out = run(&[cmd, arg(&file)], Duration::from_secs(30)).await;
        assert_eq!(out.code, Some(2), "{cmd}: {}", out.stderr);
        assert!(
            out.stderr.contains("bad.yaml:3:11: invalid UTF-8"),
            "{cmd}: {}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn invalid_utf8_in_a_data_file_names_its_line() {
    let dir = Dir::new();
    std::fs::write(dir.path("users.csv"), b"id,name\n1,ann\n2,b\xffb\n").unwrap();
    let text = format!(
        "base_url: http://h\ndata:\n  users: users.csv\nscenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /x/{{{{ data.users.id }}}}\nload:\n{OPEN}"
    );
    let file = dir.write("bad.yaml", &text);
    let out = run(&["validate", arg(&file)], Duration::from_secs(30)).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("bad.yaml:3:10"), "{}", out.stderr);
    assert!(
        out.stderr.contains("users.csv:3:4: invalid UTF-8"),
        "{}",
        out.stderr
    );
    // A row of the wrong width names its line too.
    std::fs::write(dir.path("users.csv"), b"id,name\n1,ann\n2\n").unwrap();
    let out = run(&["validate", arg(&file)], Duration::from_secs(30)).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("users.csv:3: "), "{}", out.stderr);
}

#[tokio::test]
async fn invalid_utf8_in_a_report_names_its_line() {
    let dir = Dir::new();
    let file = dir.path("r.json");
    std::fs::write(
        &file,
        b"{\n  \"version\": 1,\n  \"scenario\": \"\xff\"\n}\n",
    )
    .unwrap();
    let out = run(&["merge", arg(&file)], Duration::from_secs(30)).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("r.json:3:16"), "{}", out.stderr);
    assert!(out.stderr.contains("invalid UTF-8"), "{}", out.stderr);
    // Type errors keep their line too (not 1:1).
    std::fs::write(&file, "{\n  \"version\": 1,\n  \"scenario\": 5\n}\n").unwrap();
    let out = run(&["merge", arg(&file)], Duration::from_secs(30)).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("r.json:3:"), "{}", out.stderr);
}

#[tokio::test]
async fn a_20_mb_line_is_not_echoed_back() {
    let dir = Dir::new();
    let long = "x".repeat(20 * 1024 * 1024);
    // Not a URL, and a YAML error on a long line.
    let text = format!("base_url: nope{long}\n{SCENARIOS}load:\n{OPEN}");
    let broken = format!("{SCENARIOS}base_url: [{long}\n");
    for (cmd, text) in [("validate", &text), ("run", &text), ("validate", &broken)] {
        let file = dir.write("bad.yaml", text);
        let out = run(&[cmd, arg(&file)], Duration::from_secs(60)).await;
        assert_eq!(out.code, Some(2), "{cmd}");
        assert!(
            has_location(&out.stderr, "bad.yaml"),
            "{}",
            &out.stderr[..out.stderr.len().min(2000)]
        );
        assert!(
            out.stderr.len() < 2000,
            "{cmd}: {} bytes of message",
            out.stderr.len()
        );
    }
}
