//! Templates in paths, headers and bodies: `{{ randint(1, 20) }}`,
//! `{{ uuid }}`, `{{ seq }}` (the iteration's sequence number) and
//! `{{ data.NAME.COLUMN }}` (a CSV row, the same row for a whole iteration).
//!
//! Templates are compiled once when the scenario is loaded; rendering only
//! appends to a string.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rand::Rng;

/// A CSV file's rows, by column.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSet {
    pub columns: Vec<String>,
    pub rows: Arc<Vec<Vec<String>>>,
}

impl DataSet {
    /// Reads a CSV file with a header row: at most
    /// [`crate::input::MAX_DATA_BYTES`], UTF-8, 1 to
    /// [`crate::scenario::limits::MAX_DATA_ROWS`] rows, every row as wide
    /// as the header. Errors name the file and line.
    pub fn from_csv_file(path: &Path) -> Result<Self, String> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let bytes = common::input::read_bounded(file, crate::input::MAX_DATA_BYTES, &shown)
            .map_err(|e| e.to_string())?;
        let text = common::input::decode(bytes, &shown).map_err(|e| e.to_string())?;
        Self::from_csv(&text).map_err(|e| format!("{shown}:{e}"))
    }

    /// Parses CSV text with a header row (see [`Self::from_csv_file`]);
    /// errors start with the line.
    pub fn from_csv(text: &str) -> Result<Self, String> {
        let at = |e: &csv::Error| e.position().map_or(1, |p| p.line());
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let columns = reader
            .headers()
            .map_err(|e| format!("{}: {e}", at(&e)))?
            .iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| format!("{}: {e}", at(&e)))?;
            if rows.len() == crate::scenario::limits::MAX_DATA_ROWS {
                return Err(format!(
                    "{}: more than {} rows",
                    record.position().map_or(1, |p| p.line()),
                    crate::scenario::limits::MAX_DATA_ROWS
                ));
            }
            rows.push(record.iter().map(str::to_owned).collect());
        }
        if rows.is_empty() {
            return Err("1: a header but no rows".to_owned());
        }
        Ok(Self {
            columns,
            rows: Arc::new(rows),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    RandInt(i64, i64),
    Uuid,
    Seq,
    Data {
        rows: Arc<Vec<Vec<String>>>,
        column: usize,
    },
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Errors in a template.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed template: \"{{{{\" without \"}}}}\"")]
    Unclosed,
    #[error("unknown template {0:?}")]
    Unknown(String),
    #[error("randint needs two integers low <= high, got {0:?}")]
    RandInt(String),
    #[error("no data file named {0:?} (declare it under data:)")]
    NoData(String),
    #[error("data file {file:?} has no column {column:?} (columns: {columns})")]
    NoColumn {
        file: String,
        column: String,
        columns: String,
    },
}

/// Per-iteration values shared by every template of the iteration.
pub struct RenderCtx<'a, R: Rng> {
    pub seq: u64,
    pub rng: &'a mut R,
}

impl Template {
    /// Compiles `text` against the declared data files.
    pub fn parse(text: &str, data: &BTreeMap<String, DataSet>) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or(TemplateError::Unclosed)?;
            parts.push(Self::expr(after[..close].trim(), data)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    fn expr(expr: &str, data: &BTreeMap<String, DataSet>) -> Result<Part, TemplateError> {
        match expr {
            "uuid" => return Ok(Part::Uuid),
            "seq" => return Ok(Part::Seq),
            _ => {}
        }
        if let Some(args) = expr
            .strip_prefix("randint(")
            .and_then(|a| a.strip_suffix(')'))
        {
            let bad = || TemplateError::RandInt(expr.to_owned());
            let (lo, hi) = args.split_once(',').ok_or_else(bad)?;
            let lo: i64 = lo.trim().parse().map_err(|_| bad())?;
            let hi: i64 = hi.trim().parse().map_err(|_| bad())?;
            if lo > hi {
                return Err(bad());
            }
            return Ok(Part::RandInt(lo, hi));
        }
        if let Some(path) = expr.strip_prefix("data.") {
            let (file, column) = path
                .split_once('.')
                .ok_or_else(|| TemplateError::Unknown(expr.to_owned()))?;
            let set = data
                .get(file)
                .ok_or_else(|| TemplateError::NoData(file.to_owned()))?;
            let index = set
                .columns
                .iter()
                .position(|c| c == column)
                .ok_or_else(|| TemplateError::NoColumn {
                    file: file.to_owned(),
                    column: column.to_owned(),
                    columns: set.columns.join(", "),
                })?;
            return Ok(Part::Data {
                rows: set.rows.clone(),
                column: index,
            });
        }
        Err(TemplateError::Unknown(expr.to_owned()))
    }

    /// True when the template has no placeholders.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Appends the rendered template to `out`.
    pub fn render_into<R: Rng>(&self, ctx: &mut RenderCtx<'_, R>, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::RandInt(lo, hi) => {
                    let _ = write!(out, "{}", ctx.rng.random_range(*lo..=*hi));
                }
                Part::Uuid => {
                    let bytes: [u8; 16] = ctx.rng.random();
                    let _ = write!(
                        out,
                        "{}",
                        uuid::Builder::from_random_bytes(bytes).into_uuid()
                    );
                }
                Part::Seq => {
                    let _ = write!(out, "{}", ctx.seq);
                }
                Part::Data { rows, column } => {
                    let row = &rows[(ctx.seq % rows.len() as u64) as usize];
                    out.push_str(row.get(*column).map(String::as_str).unwrap_or(""));
                }
            }
        }
    }

    pub fn render<R: Rng>(&self, ctx: &mut RenderCtx<'_, R>) -> String {
        let mut out = String::new();
        self.render_into(ctx, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn data() -> BTreeMap<String, DataSet> {
        let mut d = BTreeMap::new();
        d.insert(
            "users".to_owned(),
            DataSet {
                columns: vec!["name".into(), "id".into()],
                rows: Arc::new(vec![
                    vec!["ann".into(), "1".into()],
                    vec!["bob".into(), "2".into()],
                ]),
            },
        );
        d
    }

    #[test]
    fn renders_every_kind() {
        let t = Template::parse(
            "/u/{{ data.users.name }}/{{seq}}?r={{ randint(5, 5) }}&id={{ uuid }}",
            &data(),
        )
        .unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let out = t.render(&mut RenderCtx {
            seq: 3,
            rng: &mut rng,
        });
        assert!(out.starts_with("/u/bob/3?r=5&id="), "{out}");
        let id = out.rsplit('=').next().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
        assert!(Template::parse("/plain", &data()).unwrap().is_static());
        // JSON with nested objects is text, not a template.
        let json = Template::parse(r#"{"a":{"b":{{ seq }}}}"#, &data()).unwrap();
        assert_eq!(
            json.render(&mut RenderCtx {
                seq: 7,
                rng: &mut rng
            }),
            r#"{"a":{"b":7}}"#
        );
    }

    #[test]
    fn randint_stays_in_range() {
        let t = Template::parse("{{ randint(-2, 3) }}", &BTreeMap::new()).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let v: i64 = t
                .render(&mut RenderCtx {
                    seq: 0,
                    rng: &mut rng,
                })
                .parse()
                .unwrap();
            assert!((-2..=3).contains(&v));
            seen.insert(v);
        }
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn bad_templates() {
        for (text, want) in [
            ("{{ uuid", "unclosed"),
            ("{{ nope }}", "unknown template"),
            ("{{ randint(3, 1) }}", "randint"),
            ("{{ randint(a, 1) }}", "randint"),
            ("{{ data.other.x }}", "no data file"),
            ("{{ data.users.email }}", "no column"),
        ] {
            let err = Template::parse(text, &data()).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
