//! `slo completions SHELL`: the shell completion script, made from the
//! command line itself (so it knows every flag of every command).

use common::manual::Shell;

use super::output::print_out;
use super::{CliError, Exit, command};

/// Arguments of `slo completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

/// Runs `slo completions`.
pub fn run(args: CompletionsArgs) -> Result<Exit, CliError> {
    print_out(&common::manual::completions(command(), args.shell, "slo"))?;
    Ok(Exit::Ok)
}

/// slo's man pages, one per command, as (file name, text) (`slo/man/`,
/// kept current by the goldens table).
pub fn man_pages() -> Vec<(String, String)> {
    common::manual::man_pages(command())
}
