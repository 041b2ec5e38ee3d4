//! The run's switches and counters that outside code touches: a signal
//! handler interrupts, a live view or the progress line reads the counts,
//! and everything inside the run waits on the halt.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::watch;

/// Run-wide switches set from outside (signal handlers), and live counters
/// read from outside (the progress line).
#[derive(Debug)]
pub struct Control {
    pub interrupted: AtomicBool,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    /// Set once everything must stop now: requests in flight are abandoned.
    halt: watch::Sender<bool>,
    /// A second interruption: skip whatever waiting is left.
    pub hurry: AtomicBool,
    /// Set by [`Control::interrupt`] (not by an ordinary halt): what waits
    /// after the run (a metrics flush, a last scrape) is cut short.
    interrupts: watch::Sender<bool>,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            interrupted: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            halt: watch::Sender::new(false),
            hurry: AtomicBool::new(false),
            interrupts: watch::Sender::new(false),
        }
    }
}

impl Control {
    /// Stops the run at once; reports are still written.
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.interrupts.send_replace(true);
        self.halt();
        goose::trigger_killswitch("interrupted");
    }

    /// Stops every request and wait of the run now.
    pub fn halt(&self) {
        self.halt.send_replace(true);
    }

    pub fn halted(&self) -> bool {
        *self.halt.borrow()
    }

    /// Returns once the run is interrupted (Ctrl-C, SIGTERM), also when
    /// that happened before the call.
    pub async fn until_interrupted(&self) {
        let mut rx = self.interrupts.subscribe();
        let _ = rx.wait_for(|i| *i).await;
    }

    /// Returns once the run is halted.
    pub async fn until_halted(&self) {
        let mut rx = self.halt.subscribe();
        // The sender lives as long as `self`: waiting cannot fail.
        let _ = rx.wait_for(|h| *h).await;
    }
}
