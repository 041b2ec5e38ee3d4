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

/// How far the run has to go: its schedule's length, and the request
/// budget when it has one (`-n`, `load.requests`).
#[derive(Debug, Clone, Copy)]
pub struct Extent {
    pub duration: Duration,
    pub budget: Option<u64>,
}

/// One progress line (it starts by clearing the terminal line). With a
/// request budget the bar follows whichever of time and requests is
/// further along (the run ends at the first), and a schedule that is only
/// the run's ceiling (a budget alone) is not shown as a length.
pub fn line(elapsed_s: u64, extent: Extent, requests: u64, rps: u64, errors: u64) -> String {
    let duration = extent.duration;
    let elapsed = elapsed_s.min(duration.as_secs());
    let by_time = if duration.is_zero() {
        WIDTH
    } else {
        (elapsed as usize * WIDTH / duration.as_secs().max(1) as usize).min(WIDTH)
    };
    let by_requests = extent.budget.map_or(0, |n| {
        let share = requests.min(n) as u128 * WIDTH as u128 / u128::from(n.max(1));
        share as usize
    });
    let done = by_time.max(by_requests).min(WIDTH);
    let time = match extent.budget {
        Some(_) if duration >= crate::scenario::limits::MAX_RUN => format!("{elapsed_s}s"),
        _ => format!("{elapsed}s/{}s", duration.as_secs()),
    };
    let count = match extent.budget {
        Some(n) => format!("{requests}/{n} requests"),
        None => format!("{requests} requests"),
    };
    format!(
        "\r\x1b[2K[{}{}] {time}  {count}  {rps} rps  {errors} errors",
        "#".repeat(done),
        " ".repeat(WIDTH - done),
    )
}

/// Prints the progress line each second until aborted.
pub async fn show(control: Arc<Control>, extent: Extent) {
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
                extent,
                requests,
                requests.saturating_sub(last),
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
        let d = Extent {
            duration: Duration::from_secs(10),
            budget: None,
        };
        let half = line(5, d, 100, 20, 1);
        assert!(half.contains(&format!("[{}{}]", "#".repeat(15), " ".repeat(15))));
        assert!(half.ends_with("5s/10s  100 requests  20 rps  1 errors"));
        // Past the end (the tail of the requests in flight): full, not more.
        let late = line(99, d, 0, 0, 0);
        assert!(late.contains(&format!("[{}]", "#".repeat(WIDTH))));
        assert!(late.contains("10s/10s"));
        // A zero-length schedule is done at once.
        let none = Extent {
            duration: Duration::ZERO,
            budget: None,
        };
        assert!(line(0, none, 0, 0, 0).contains(&"#".repeat(WIDTH)));
    }

    #[test]
    fn a_request_budget_shows_requests_out_of_n() {
        // A budget alone: the 24h ceiling is not shown as the run's length.
        let alone = Extent {
            duration: crate::scenario::limits::MAX_RUN,
            budget: Some(300),
        };
        let half = line(3, alone, 150, 50, 0);
        assert!(half.contains(&format!("[{}{}]", "#".repeat(15), " ".repeat(15))));
        assert!(
            half.ends_with("] 3s  150/300 requests  50 rps  0 errors"),
            "{half}"
        );
        // With a duration too, the bar follows whichever is further along.
        let both = Extent {
            duration: Duration::from_secs(10),
            budget: Some(1000),
        };
        let line_ = line(8, both, 100, 10, 0);
        assert!(line_.contains(&format!("[{}{}]", "#".repeat(24), " ".repeat(6))));
        assert!(line_.contains("8s/10s  100/1000 requests"), "{line_}");
        assert!(line(1, both, 5000, 10, 0).contains(&"#".repeat(WIDTH)));
    }
}
