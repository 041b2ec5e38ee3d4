//! `slo import`: a Sloth or OpenSLO spec (or a native one) printed in the
//! native format, after the same validation every command applies.

use std::path::PathBuf;

use super::output::print_out;
use super::{CliError, Exit};

/// Arguments of `slo import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Spec file (YAML), or - for standard input.
    pub spec: PathBuf,
}

/// Runs `slo import`.
pub fn run(args: ImportArgs) -> Result<Exit, CliError> {
    let (text, shown) = crate::spec::read_text(&args.spec)?;
    let native = crate::spec::to_native(&text, &shown)?;
    let yaml = serde_saphyr::to_string(&native)
        .map_err(|e| CliError::Failure(format!("failed to write YAML: {e}")))?;
    print_out(&yaml)?;
    Ok(Exit::Ok)
}
