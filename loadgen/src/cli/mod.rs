//! The command line: clap's types, one file per command, and the one place
//! that turns a command's outcome into an exit code (PRODUCT.md). clap stops
//! here: each command checks what was typed and hands plain values (a
//! [`Plan`](crate::scenario::Plan), [`Outputs`](crate::output::Outputs), a
//! view) to the library.
//!
//! Each command file holds its arguments and `run(args) -> Result<Exit,
//! CliError>`; `session` is the run with its live view, progress line and
//! outputs that `run` and `demo` share; `shared` holds what several commands
//! take, and `error` the exit codes; `completions` also makes the man page;
//! `url` is the top-level `loadgen URL` (a URL instead of a command).
//! `main.rs` parses, starts the runtime, calls [`run`] and prints the error
//! chain. No file here imports this one.

mod completions;
mod demo;
mod error;
mod merge;
mod metrics;
mod run;
mod session;
mod shared;
mod signal;
mod traces;
mod url;
mod validate;

use clap::{Parser, Subcommand};

pub use self::completions::man_pages;
pub use self::error::{CliError, Exit};

/// Load tests from YAML or from one URL, with honest latency, thresholds and reports.
///
/// `loadgen URL` tests one URL (oha's and hey's flag names); `loadgen run FILE` runs a
/// scenario file. `loadgen URL ... --print-scenario` prints the file the flags make.
#[derive(Debug, Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    arg_required_else_help = true,
    after_help = "Examples:
  loadgen http://127.0.0.1:8080/ -z 10s -c 10     (10 users back to back for 10 s)
  loadgen http://127.0.0.1:8080/ -q 200 -z 30s    (200 requests/s, latency corrected)
  loadgen http://127.0.0.1:8080/api/orders -m POST -d '{\"product_id\": 1}' -n 1000
  loadgen http://127.0.0.1:8080/ -n 500 --print-scenario > scenario.yaml

Exit codes: 0 passed, 1 runtime failure, interrupted, or no request succeeded (the reason is printed), 2 invalid input, 99 a threshold failed."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    url: url::UrlArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario file.
    #[command(after_help = "Examples:
  loadgen run loadgen/scenarios/steady.yaml --host http://127.0.0.1:8080
  loadgen run scenario.yaml --duration 2m --report report.json --junit junit.xml --summary-md summary.md
  cat scenario.yaml | loadgen run -")]
    Run(Box<run::RunArgs>),
    /// Check a scenario file without running it.
    #[command(after_help = "Example:\n  loadgen validate loadgen/scenarios/stress.yaml")]
    Validate(validate::ValidateArgs),
    /// Start the target app in-process and run the bundled steady scenario against it.
    #[command(after_help = "Example:\n  loadgen demo --duration 10s --report demo.json")]
    Demo(demo::DemoArgs),
    /// Merge reports of a run split across machines; prints the summary.
    #[command(after_help = "Example:\n  loadgen merge pod-0.json pod-1.json --report merged.json")]
    Merge(merge::MergeArgs),
    /// Print the JSON Schema of scenario files (for editors).
    #[command(after_help = "Example:\n  loadgen schema > scenario.schema.json")]
    Schema,
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  loadgen completions bash > ~/.local/share/bash-completion/completions/loadgen
  loadgen completions zsh > ~/.zfunc/_loadgen
  loadgen completions fish > ~/.config/fish/completions/loadgen.fish")]
    Completions(completions::CompletionsArgs),
}

/// Runs the command the user typed.
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    let Some(command) = cli.command else {
        return url::run(cli.url).await;
    };
    if cli.url.given() {
        return Err(CliError::invalid(anyhow::anyhow!(
            "give either a URL or a command, not both (loadgen --help)"
        )));
    }
    match command {
        Command::Run(args) => run::run(*args).await,
        Command::Validate(args) => validate::run(args),
        Command::Demo(args) => demo::run(args).await,
        Command::Merge(args) => merge::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Schema => {
            shared::stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&crate::scenario::json_schema()).unwrap_or_default()
            ))?;
            Ok(Exit::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
