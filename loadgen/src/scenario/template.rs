//! Templates in paths, headers and bodies: `{{ randint(1, 20) }}`,
//! `{{ uuid }}`, `{{ seq }}` (the iteration's sequence number),
//! `{{ data.NAME.COLUMN }}` (a CSV row, the same row for a whole iteration),
//! `{{ vars.NAME }}` (a value captured from an earlier response) and
//! `{{ env.NAME }}` or `{{ env.NAME | default("x") }}` (an environment
//! variable, read once when the scenario is loaded).
//!
//! Templates are compiled once when the scenario is loaded; rendering only
//! appends to a string. A value read from the environment is never shown:
//! a template's [`Template::written`] form and its `Debug` keep the
//! placeholder, not the value.

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

/// A value from the environment: rendered, never shown.
#[derive(Clone, PartialEq)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
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
    /// A captured variable, by its index in the plan's variables.
    Var(usize),
    Env(Secret),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    /// As written (placeholders, not environment values), for messages.
    written: String,
}

/// What a template may name: the declared data files, the variables
/// captured before it, and the environment.
pub struct Scope<'a> {
    pub data: &'a BTreeMap<String, DataSet>,
    /// Variables a template may use here, by name: their index in the
    /// plan's variables.
    pub vars: &'a BTreeMap<String, usize>,
    /// Reads an environment variable (`None`: not set, or not Unicode).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Scope<'_> {
    /// The process environment.
    pub fn process_env(name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
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
    #[error("unknown variable {name:?}: {known}")]
    NoVar { name: String, known: String },
    #[error(
        "environment variable {0:?} is not set (set it, or give a default: {{{{ env.{0} | default(\"value\") }}}})"
    )]
    NoEnv(String),
    #[error(
        "invalid environment template {0:?}: write {{{{ env.NAME }}}} or {{{{ env.NAME | default(\"value\") }}}}"
    )]
    BadEnv(String),
}

/// Per-iteration values shared by every template of the iteration.
pub struct RenderCtx<'a, R: Rng> {
    pub seq: u64,
    pub rng: &'a mut R,
    /// The captured variables, by index (`None`: not captured).
    pub vars: &'a [Option<String>],
}

/// A variable name: letters, digits and `_`, not starting with a digit.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads `default("x")` or `default('x')`: the text between the quotes.
fn default_value(filter: &str) -> Option<&str> {
    let args = filter
        .trim()
        .strip_prefix("default")?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')?
        .trim();
    let quote = args.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let inner = args.strip_prefix(quote)?.strip_suffix(quote)?;
    (!inner.contains(quote)).then_some(inner)
}

impl Template {
    /// Compiles `text` against what `scope` declares.
    pub fn parse(text: &str, scope: &Scope<'_>) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or(TemplateError::Unclosed)?;
            parts.push(Self::expr(after[..close].trim(), scope)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self {
            parts,
            written: text.to_owned(),
        })
    }

    fn expr(expr: &str, scope: &Scope<'_>) -> Result<Part, TemplateError> {
        let data = scope.data;
        if let Some(rest) = expr.strip_prefix("env.") {
            let (name, filter) = match rest.split_once('|') {
                Some((n, f)) => (n.trim(), Some(f)),
                None => (rest.trim(), None),
            };
            if !is_name(name) {
                return Err(TemplateError::BadEnv(expr.to_owned()));
            }
            let default = match filter {
                Some(f) => {
                    Some(default_value(f).ok_or_else(|| TemplateError::BadEnv(expr.to_owned()))?)
                }
                None => None,
            };
            return match ((scope.env)(name), default) {
                (Some(v), _) => Ok(Part::Env(Secret(v))),
                (None, Some(d)) => Ok(Part::Text(d.to_owned())),
                (None, None) => Err(TemplateError::NoEnv(name.to_owned())),
            };
        }
        if let Some(name) = expr.strip_prefix("vars.") {
            return match scope.vars.get(name) {
                Some(i) => Ok(Part::Var(*i)),
                None => Err(TemplateError::NoVar {
                    name: name.to_owned(),
                    known: if scope.vars.is_empty() {
                        "no variable is captured before this (capture one in an earlier request: capture: [{var: NAME, json: /id}])".to_owned()
                    } else {
                        format!(
                            "the variables captured before this are {}",
                            scope.vars.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    },
                }),
            };
        }
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

    /// True when the template renders the same every time (text and
    /// environment values only).
    pub fn is_static(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, Part::Text(_) | Part::Env(_)))
    }

    /// The template as written: placeholders, never environment values.
    pub fn written(&self) -> &str {
        &self.written
    }

    /// The variables it uses, by index.
    pub fn vars(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(i) => Some(*i),
            _ => None,
        })
    }

    /// Whether it reads the environment (its rendering may be a secret).
    pub fn reads_env(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Env(_)))
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
                // The engine skips a request whose variable is unset, so
                // the empty case is never sent.
                Part::Var(i) => {
                    if let Some(Some(v)) = ctx.vars.get(*i) {
                        out.push_str(v);
                    }
                }
                Part::Env(Secret(v)) => out.push_str(v),
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

    fn parse(text: &str) -> Result<Template, TemplateError> {
        let data = data();
        let vars = BTreeMap::from([("id".to_owned(), 0)]);
        Template::parse(
            text,
            &Scope {
                data: &data,
                vars: &vars,
                env: &|n| (n == "KEY").then(|| "s3cret".to_owned()),
            },
        )
    }

    #[test]
    fn renders_every_kind() {
        let t =
            parse("/u/{{ data.users.name }}/{{seq}}?r={{ randint(5, 5) }}&id={{ uuid }}").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let out = t.render(&mut RenderCtx {
            seq: 3,
            rng: &mut rng,
            vars: &[],
        });
        assert!(out.starts_with("/u/bob/3?r=5&id="), "{out}");
        let id = out.rsplit('=').next().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
        assert!(parse("/plain").unwrap().is_static());
        // JSON with nested objects is text, not a template.
        let json = parse(r#"{"a":{"b":{{ seq }}}}"#).unwrap();
        assert_eq!(
            json.render(&mut RenderCtx {
                seq: 7,
                rng: &mut rng,
                vars: &[],
            }),
            r#"{"a":{"b":7}}"#
        );
    }

    #[test]
    fn randint_stays_in_range() {
        let t = parse("{{ randint(-2, 3) }}").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let v: i64 = t
                .render(&mut RenderCtx {
                    seq: 0,
                    rng: &mut rng,
                    vars: &[],
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
            (
                "{{ vars.nope }}",
                "unknown variable \"nope\": the variables captured before this are id",
            ),
            ("{{ env.UNSET_X }}", "\"UNSET_X\" is not set"),
            ("{{ env.A-B }}", "invalid environment template"),
            (
                "{{ env.HOME | default(x) }}",
                "invalid environment template",
            ),
            ("{{ env.HOME | upper }}", "invalid environment template"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn vars_and_env() {
        let t =
            parse("/o/{{ vars.id }}?k={{ env.KEY }}&d={{ env.UNSET_X | default('dev') }}").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), vec![0]);
        assert!(!t.is_static() && t.reads_env());
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let vars = [Some("42".to_owned())];
        let out = t.render(&mut RenderCtx {
            seq: 0,
            rng: &mut rng,
            vars: &vars,
        });
        assert_eq!(out, "/o/42?k=s3cret&d=dev");
        // The secret is neither in the written form nor in Debug.
        assert!(!t.written().contains("s3cret") && !format!("{t:?}").contains("s3cret"));
        let env_only = parse(r#"Bearer {{ env.KEY }}"#).unwrap();
        assert!(env_only.is_static());
    }
}
