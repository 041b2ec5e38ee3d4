//! Ctrl-C and SIGTERM: the first stops the run and lets it write its
//! reports; the second leaves it [`HURRY`] to write what it has, then exits.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::error::Exit;
use crate::engine::Control;

/// How long a second Ctrl-C leaves the run to write what it has.
const HURRY: Duration = Duration::from_secs(2);

/// Installs the handler for the run `control` (before goose starts, so
/// goose's own handler stands aside).
pub(super) fn install(control: &Arc<Control>) {
    let control = control.clone();
    if let Err(e) = ctrlc::set_handler(move || {
        if control.interrupted.load(Ordering::SeqCst) {
            if control.hurry.swap(true, Ordering::SeqCst) {
                return;
            }
            eprintln!("loadgen: interrupted twice, writing what there is and exiting");
            // The reports are written without waiting for anything else;
            // whatever still holds the exit after that is cut off.
            std::thread::spawn(|| {
                std::thread::sleep(HURRY);
                eprintln!("loadgen: exiting before the reports were written");
                std::process::exit(i32::from(Exit::Failure.code()));
            });
            return;
        }
        eprintln!("loadgen: interrupted, stopping and writing reports...");
        control.interrupt();
    }) {
        eprintln!("loadgen: warning: cannot handle Ctrl-C: {e}");
    }
}
