//! The progress line: once a second on stderr, when stderr is a terminal,
//! no live view is shown and `--quiet` was not given ([`wanted`]). It reads
//! the run's counters and never holds up measurement.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::engine::Control;

/// Width of the bar, in characters.
const WIDTH: usize = 30;

/// Whether to show the progress line: it goes to stderr, so it shows when
/// stderr is a terminal (whatever stdout is: `--json > r.json` still shows
/// it), and not under a live view or `--quiet`.
pub fn wanted(stderr_is_terminal: bool, live_view: bool, quiet: bool) -> bool {
    stderr_is_terminal && !live_view && !quiet
}

/// One progress line (it starts by clearing the terminal line).
pub fn line(elapsed_s: u64, duration: Duration, requests: u64, rps: u64, errors: u64) -> String {
    let elapsed = elapsed_s.min(duration.as_secs());
    let done = if duration.is_zero() {
        WIDTH
    } else {
        (elapsed as usize * WIDTH / duration.as_secs().max(1) as usize).min(WIDTH)
    };
    format!(
        "\r\x1b[2K[{}{}] {}s/{}s  {} requests  {} rps  {} errors",
        "#".repeat(done),
        " ".repeat(WIDTH - done),
        elapsed,
        duration.as_secs(),
        requests,
        rps,
        errors
    )
}

/// Prints the progress line each second until aborted.
pub async fn show(control: Arc<Control>, duration: Duration) {
    let start = Instant::now();
    let mut last = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let requests = control.requests.load(Ordering::Relaxed);
        let errors = control.errors.load(Ordering::Relaxed);
        eprint!(
            "{}",
            line(
                start.elapsed().as_secs(),
                duration,
                requests,
                requests - last,
                errors
            )
        );
        last = requests;
    }
}

/// Clears the progress line.
pub fn clear() {
    eprint!("\r\x1b[2K");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_on_a_terminal_stderr_only() {
        assert!(wanted(true, false, false));
        assert!(!wanted(false, false, false), "stderr piped or a file");
        assert!(!wanted(true, true, false), "the live view draws instead");
        assert!(!wanted(true, false, true), "--quiet");
    }

    #[test]
    fn the_bar_fills_with_the_schedule_and_never_overflows() {
        let d = Duration::from_secs(10);
        let half = line(5, d, 100, 20, 1);
        assert!(half.contains(&format!("[{}{}]", "#".repeat(15), " ".repeat(15))));
        assert!(half.ends_with("5s/10s  100 requests  20 rps  1 errors"));
        // Past the end (the tail of the requests in flight): full, not more.
        let late = line(99, d, 0, 0, 0);
        assert!(late.contains(&format!("[{}]", "#".repeat(WIDTH))));
        assert!(late.contains("10s/10s"));
        // A zero-length schedule is done at once.
        assert!(line(0, Duration::ZERO, 0, 0, 0).contains(&"#".repeat(WIDTH)));
    }
}
