//! End to end: `loadgen demo` inside tmux, on a real pseudo-terminal. The
//! panels draw, Tab reaches the SLO panel (fed by a real Prometheus when one
//! is on PATH, as scripts/test.sh installs), Esc closes the help without
//! stopping anything, q stops the run, the report is written, and the
//! terminal is given back.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util;

/// A private tmux server (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs (scripts/test.sh installs it)")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "demo"]).stdout)
            .into_owned()
    }

    /// Waits until the pane shows `needle`; returns the pane.
    fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let until = Instant::now() + limit;
        loop {
            let pane = self.capture();
            if pane.contains(needle) || Instant::now() > until {
                return pane;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn demo_in_a_terminal_draws_quits_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("demo.json");
    let done = dir.path().join("done");
    let tmux = Tmux {
        socket: format!("loadgen-test-{}", std::process::id()),
    };
    let script = format!(
        "{} demo --duration 60s --report {}; echo $? > {}; sleep 60",
        env!("CARGO_BIN_EXE_loadgen"),
        report.display(),
        done.display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "demo",
        "-x",
        "160",
        "-y",
        "48",
        "sh",
        "-c",
        &script,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Wait for the header to count at least 100 requests.
    let requests = |pane: &str| -> u64 {
        pane.split("requests ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let until = Instant::now() + Duration::from_secs(30);
    let mut pane = tmux.capture();
    while requests(&pane) < 100 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
        pane = tmux.capture();
    }
    assert!(requests(&pane) >= 100, "{pane}");
    for panel in [
        "Throughput",
        "Latency, corrected",
        "Requests",
        "Thresholds",
        "steady ->",
    ] {
        assert!(pane.contains(panel), "no {panel:?} in:\n{pane}");
    }
    assert_eq!(
        tmux.cmd(&["display-message", "-p", "-t", "demo", "#{alternate_on}"])
            .stdout,
        b"1\n",
        "the view draws on the alternate screen"
    );

    tmux.cmd(&["send-keys", "-t", "demo", "Tab"]);
    // Waits for what only the second view has ("status" is on the overview
    // too, so waiting for it could read the pane before the key was taken).
    let pane = tmux.wait_for("Slowest requests", Duration::from_secs(10));
    assert!(pane.contains("Slowest requests"), "{pane}");
    assert!(pane.contains("status"), "{pane}");
    tmux.cmd(&["send-keys", "-t", "demo", "Tab"]);
    // Prometheus needs a few scrapes before the first SLIs.
    let pane = tmux.wait_for("orders-latency  objective", Duration::from_secs(30));
    assert!(
        pane.contains("source Prometheus http://127.0.0.1:"),
        "{pane}"
    );
    assert!(
        pane.contains("availability  objective 99.9% over 30d"),
        "{pane}"
    );
    assert!(pane.contains("burn rate"), "{pane}");

    // Where the time goes: the in-process app's spans reach the run's own
    // trace sink; the slowest request opens into its span tree.
    tmux.cmd(&["send-keys", "-t", "demo", "Tab"]);
    // A row in the slowest requests with its spans (both GETs have two).
    let pane = tmux.wait_for("  2 spans", Duration::from_secs(20));
    assert!(pane.contains("SELECT products"), "{pane}");
    assert!(pane.contains("source trace sink 127.0.0.1:"), "{pane}");
    assert!(pane.contains("list products:"), "{pane}");
    assert!(pane.contains("(not in any server span"), "{pane}");
    assert!(pane.contains("Slowest requests"), "{pane}");
    tmux.cmd(&["send-keys", "-t", "demo", "Enter"]);
    let pane = tmux.wait_for(") at +", Duration::from_secs(10));
    assert!(pane.contains("v "), "the first row opened:\n{pane}");
    assert!(
        pane.contains("GET /api/products") || pane.contains("POST /api/orders"),
        "its server span:\n{pane}"
    );

    // Esc closes the help overlay and the run goes on.
    tmux.cmd(&["send-keys", "-t", "demo", "?"]);
    let pane = tmux.wait_for("close this help", Duration::from_secs(5));
    assert!(pane.contains("Esc             close this help"), "{pane}");
    let before = requests(&pane);
    tmux.cmd(&["send-keys", "-t", "demo", "Escape"]);
    let until = Instant::now() + Duration::from_secs(5);
    let mut pane = tmux.capture();
    while pane.contains("close this help") && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
        pane = tmux.capture();
    }
    assert!(
        !pane.contains("close this help"),
        "help still open:\n{pane}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let pane = tmux.capture();
    assert!(!pane.contains("stopping"), "Esc stopped the run:\n{pane}");
    assert!(!done.exists(), "Esc ended loadgen");
    assert!(requests(&pane) > before, "the run went on:\n{pane}");

    tmux.cmd(&["send-keys", "-t", "demo", "p"]);
    let pane = tmux.wait_for("PAUSED", Duration::from_secs(5));
    assert!(pane.contains("PAUSED"), "{pane}");
    tmux.cmd(&["send-keys", "-t", "demo", "q"]);
    let until = Instant::now() + Duration::from_secs(30);
    while !done.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
    }
    let code = std::fs::read_to_string(&done).expect("loadgen exited after q");
    // Stopped early, as with Ctrl-C: 1, or 99 when a threshold already failed.
    assert!(matches!(code.trim(), "1" | "99"), "exit {code}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report written")).unwrap();
    assert_eq!(r["interrupted"], true);
    assert!(r["total"]["count"].as_u64().unwrap() > 0);
    // The report joins the spans too (an interrupted run does not wait for more).
    assert_eq!(
        r["bottlenecks"]["source"], "trace-sink",
        "{}",
        r["bottlenecks"]
    );
    assert!(r["bottlenecks"]["spans"].as_u64().unwrap() > 0);
    let names: Vec<&str> = r["bottlenecks"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["request"].as_str())
        .collect();
    assert!(names.contains(&"list products"), "{names:?}");
    // The terminal is back: main screen, the summary printed on it.
    assert_eq!(
        tmux.cmd(&["display-message", "-p", "-t", "demo", "#{alternate_on}"])
            .stdout,
        b"0\n"
    );
    let pane = tmux.capture();
    assert!(
        pane.contains("list products"),
        "summary after the view:\n{pane}"
    );
}

/// `run --tui` with no terminal (the harness pipes stdout and closes stdin)
/// runs the load headless, says so on stderr, and writes its report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tui_without_a_terminal_runs_headless_with_a_warning() {
    let app = util::target(0.0).await;
    let dir = util::Dir::new();
    let file = dir.write(
        "s.yaml",
        &util::open_scenario("/api/products", 20.0, 1, 5, ""),
    );
    let report = dir.path("r.json");
    let out = util::run_against(&app, &file, &["--tui", "--report", util::arg(&report)]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("loadgen: warning: --tui needs a terminal; running without the live view"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("failed to take over"),
        "{}",
        out.stderr
    );
    let r = util::report(&report);
    assert!(r["total"]["count"].as_u64().unwrap() >= 15, "{r}");
    // Without --tui there is no such warning.
    let out = util::run_against(&app, &file, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("--tui"), "{}", out.stderr);
    app.shutdown().await;
}
