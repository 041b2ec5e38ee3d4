//! YAML for generated files: block scalars only where a string has line
//! breaks, long lines left whole (rules stay greppable), and a comment header.

use serde::Serialize;

/// `header` (comment lines) followed by `value` as YAML.
pub fn document<T: Serialize>(header: &str, value: &T) -> String {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    let body = serde_saphyr::to_string_with_options(value, options)
        .unwrap_or_else(|e| format!("# failed to write: {e}\n"));
    format!("{header}{body}")
}
