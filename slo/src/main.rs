//! `slo`: SLO specs in; checks, reports and gates out. Wiring only: the
//! commands live in [`slo::cli`], which also decides the exit code.

use std::process::ExitCode;

use slo::cli::{self, Exit};

fn main() -> ExitCode {
    common::fs::exit_quietly_on_closed_stdout();
    let args = cli::parse();
    let result = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(cli::run(args)),
        Err(e) => Err(cli::CliError::Failure(format!(
            "failed to start the runtime: {e}"
        ))),
    };
    let exit: Exit = cli::finish(result);
    exit.into()
}
