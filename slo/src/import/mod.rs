//! Reading a spec in any supported format into the native file
//! ([`native::SpecFile`]): the format is detected from the lines that name
//! it, and each format has its adapter ([`sloth`]: Sloth `prometheus/v1` and
//! `sloth.slok.dev/v1` PrometheusServiceLevel; [`openslo`]: OpenSLO v1).
//! Anything that does not map is refused with an [`ImportError`] that says
//! where, as data. The adapters never validate: the `spec` module validates
//! what they return, whatever the format was.

pub mod native;
pub mod openslo;
pub mod sloth;

use native::SpecFile;

/// Which format a document is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Native,
    Sloth,
    SlothK8s,
    OpenSlo,
}

/// Guesses the format from the first lines that name it.
pub fn detect(text: &str) -> Format {
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("apiVersion:") && l.contains("sloth.slok.dev/v1") {
            return Format::SlothK8s;
        }
        if l.starts_with("apiVersion:") && l.contains("openslo/v1") {
            return Format::OpenSlo;
        }
        if l.starts_with("version:") && l.contains("prometheus/v1") {
            return Format::Sloth;
        }
    }
    Format::Native
}

/// Why an adapter refuses a document that parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Something in one SLO does not map.
    #[error("slo {slo:?}: {reason}")]
    Slo { slo: String, reason: String },
    /// Something about the whole file does not map.
    #[error("{0}")]
    File(String),
    /// A field the format does not have, in the SLO named `slo` (in parts
    /// of a document that are read as free-form data, such as OpenSLO's `spec`).
    #[error("slo {slo:?}: {}", unknown.message())]
    Field {
        slo: String,
        unknown: common::diagnostic::UnknownName,
    },
}

impl Refusal {
    /// A refusal of something in the SLO named `slo`.
    pub fn slo(slo: &str, reason: impl Into<String>) -> Self {
        Refusal::Slo {
            slo: slo.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A spec that cannot be read as the native file; `line` and `column`
/// (1-based) are where in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The YAML does not parse, or does not have the format's shape.
    #[error("{message}")]
    Yaml {
        line: u64,
        column: u64,
        message: String,
        /// For a field or value the format does not have: the valid ones.
        valid: Option<String>,
    },
    /// The document has the format's shape but uses what the native format
    /// cannot say; located at the SLO it names (or the file's start).
    #[error("{refusal}")]
    Unsupported {
        line: u64,
        column: u64,
        refusal: Refusal,
    },
}

impl ImportError {
    /// Where in the text, 1-based (line, column).
    pub fn location(&self) -> (u64, u64) {
        match self {
            ImportError::Yaml { line, column, .. }
            | ImportError::Unsupported { line, column, .. } => (*line, *column),
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> String {
        match self {
            ImportError::Unsupported {
                refusal: Refusal::Field { unknown, .. },
                ..
            } => format!("{} (slo/README.md has the formats)", unknown.hint()),
            ImportError::Yaml {
                valid: Some(valid), ..
            } => format!("{valid} (slo/README.md has the spec format)"),
            ImportError::Yaml { message, .. } => yaml_hint(message).to_owned(),
            ImportError::Unsupported { .. } => {
                "slo/README.md lists what Sloth and OpenSLO features map to the native format"
                    .to_owned()
            }
        }
    }
}

fn yaml_hint(message: &str) -> &'static str {
    if message.contains("unknown field") {
        "check the spelling against the spec format in slo/README.md"
    } else if message.contains("missing field") {
        "add the field; slo/README.md lists the required ones"
    } else if message.contains("variant") {
        "sli is one of: events, ratio, latency, availability"
    } else if message.contains("duration") {
        "durations are written like 7d, 28d or 30d"
    } else {
        "see the spec format in slo/README.md"
    }
}

fn yaml_error(err: serde_saphyr::Error) -> ImportError {
    // The location is already in front; do not say it twice.
    let e = common::diagnostic::yaml_error(&err);
    ImportError::Yaml {
        line: e.line,
        column: e.column,
        message: e.message,
        valid: e.unknown.map(|u| u.hint()),
    }
}

/// The refusal located in `text`: at the first mention of the SLO it names,
/// or at the start of the file.
fn refused(text: &str, refusal: Refusal) -> ImportError {
    let mention = |slo: &str| {
        text.lines()
            .enumerate()
            .find_map(|(i, l)| l.find(slo).map(|c| (i as u64 + 1, c as u64 + 1)))
    };
    let (line, column) = match &refusal {
        Refusal::Slo { slo, .. } => mention(slo).unwrap_or((1, 1)),
        // The field written as a key: after the SLO's first mention, or anywhere.
        Refusal::Field { slo, unknown } => {
            let from = mention(slo).map_or(0, |(l, _)| l as usize - 1);
            let key = |(i, l): (usize, &str)| {
                let t = l.trim_start().trim_start_matches("- ").trim_start();
                let at = l.len() - t.len();
                t.strip_prefix(unknown.name.as_str())
                    .filter(|rest| rest.trim_start().starts_with(':'))
                    .map(|_| (i as u64 + 1, l[..at].chars().count() as u64 + 1))
            };
            let lines = || text.lines().enumerate();
            lines()
                .skip(from)
                .find_map(key)
                .or_else(|| lines().find_map(key))
                .or_else(|| mention(slo))
                .unwrap_or((1, 1))
        }
        Refusal::File(_) => (1, 1),
    };
    ImportError::Unsupported {
        line,
        column,
        refusal,
    }
}

/// Reads a spec in any supported format (native, Sloth, OpenSLO) as the
/// native file, without validating it.
pub fn read(text: &str) -> Result<SpecFile, ImportError> {
    let adapted = |r: Result<SpecFile, Refusal>| r.map_err(|e| refused(text, e));
    match detect(text) {
        Format::Native => serde_saphyr::from_str(text).map_err(yaml_error),
        Format::Sloth => adapted(sloth::from_sloth(
            serde_saphyr::from_str(text).map_err(yaml_error)?,
        )),
        Format::SlothK8s => adapted(sloth::from_sloth_k8s(
            serde_saphyr::from_str(text).map_err(yaml_error)?,
        )),
        Format::OpenSlo => {
            let docs: Vec<openslo::OpenSloDoc> =
                serde_saphyr::from_str_multiple(text).map_err(yaml_error)?;
            adapted(openslo::from_openslo(docs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        assert_eq!(detect("version: slo/v1\n"), Format::Native);
        assert_eq!(detect("version: \"prometheus/v1\"\n"), Format::Sloth);
        assert_eq!(
            detect("apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\n"),
            Format::SlothK8s
        );
        assert_eq!(detect("---\napiVersion: openslo/v1\n"), Format::OpenSlo);
    }

    #[test]
    fn a_refusal_is_located_at_the_slo_it_names() {
        let text = "version: prometheus/v1\nservice: s\nslos:\n  - name: checkout\n    objective: 99\n    sli:\n      raw: {error_ratio_query: x}\n";
        let e = read(text).unwrap_err();
        assert_eq!(e.location(), (4, 11));
        assert!(matches!(
            &e,
            ImportError::Unsupported { refusal: Refusal::Slo { slo, .. }, .. } if slo == "checkout"
        ));
        assert!(
            e.to_string()
                .starts_with("slo \"checkout\": sli.raw is not supported")
        );
    }

    #[test]
    fn a_file_refusal_and_a_yaml_error_have_locations() {
        let e = read("apiVersion: openslo/v1\nkind: Service\nmetadata: {name: s}\n").unwrap_err();
        assert_eq!(e.location(), (1, 1));
        assert_eq!(e.to_string(), "no SLO documents in the file");
        let e = read("version: slo/v1\nservice: s\nslos:\n  - nme: a\n").unwrap_err();
        assert!(matches!(e, ImportError::Yaml { line: 4, .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "unknown field \"nme\", did you mean \"name\"?"
        );
        assert!(
            e.hint()
                .starts_with("valid fields here: name, description, objective,"),
            "{}",
            e.hint()
        );
    }
}
