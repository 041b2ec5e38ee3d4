//! `loadgen completions SHELL`: the shell completion script, made from the
//! command line itself (so it knows every flag of every command).

use clap::{Args, CommandFactory};
use common::manual::Shell;

use super::Cli;
use super::error::{CliError, Exit};
use super::shared::stdout;

#[derive(Debug, Args)]
pub(super) struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

pub(super) fn run(args: CompletionsArgs) -> Result<Exit, CliError> {
    stdout(&common::manual::completions(
        Cli::command(),
        args.shell,
        "loadgen",
    ))?;
    Ok(Exit::Ok)
}

/// loadgen's man pages, one per command, as (file name, text)
/// (`loadgen/man/`, kept current by the goldens table).
pub fn man_pages() -> Vec<(String, String)> {
    common::manual::man_pages(Cli::command())
}
