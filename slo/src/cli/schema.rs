//! `slo schema`: the JSON Schema of the native spec, for editors.

use super::output::print_out;
use super::{CliError, Exit};

/// Arguments of `slo schema` (none).
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

/// Runs `slo schema`.
pub fn run(_args: SchemaArgs) -> Result<Exit, CliError> {
    print_out(&format!(
        "{}\n",
        serde_json::to_string_pretty(&crate::spec::json_schema()).unwrap_or_default()
    ))?;
    Ok(Exit::Ok)
}
