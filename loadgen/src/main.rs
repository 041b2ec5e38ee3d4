//! `loadgen`: run, validate and merge load tests; `loadgen demo` runs the
//! bundled steady scenario against an in-process target app. Wiring only:
//! the commands live in [`loadgen::cli`], which decides the exit code.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::exit::Exit;
use common::fs::stderr_line;
use loadgen::cli::{self, Cli};

// Each request allocates in reqwest and hyper; mimalloc is markedly cheaper
// than the system allocator for that (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            stderr_line(&format!("loadgen: error: failed to start the runtime: {e}"));
            return Exit::Failure.into();
        }
    };
    let result = runtime.block_on(cli::run(cli));
    // Work that outlived the run (a host lookup the resolver still holds)
    // does not hold the exit: everything the run writes is written by now.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            // Never a panic, even when stderr is closed.
            stderr_line(&format!("loadgen: error: {:#}", e.error));
            e.exit.into()
        }
    }
}
