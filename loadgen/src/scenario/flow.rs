//! Checks on responses and values captured from them: the `checks:` and
//! `capture:` of a request as written ([`CheckSpec`], [`CaptureSpec`]),
//! their validation into [`Check`]s and [`Capture`]s, and their
//! evaluation on a response ([`Response`]). Pure: the engine hands in
//! what came back.
//!
//! JSON values are named by a JSON Pointer (`/items/0/id`, RFC 6901) or a
//! JSONPath subset (`$.items[0].id`, `$['a b']`): a path of member names
//! and array indexes, turned into a pointer when the scenario is loaded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::time::Duration;

use rand::Rng;
use regex::bytes::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::template::{RenderCtx, Scope, Template, TemplateError};

/// The longest regular expression, in bytes of its compiled program, that a
/// check or capture may use (the `regex` crate's limit).
pub const MAX_REGEX_SIZE: usize = 1 << 20;

/// A check on the response to a request, as written: exactly one of
/// `status`, `header`, `body_contains`, `body_matches`, `json`, `duration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// The name reports use (default: made from the check, e.g. `status in [201]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The status is one of these codes or ranges: `[200, 201]`, `[200-299]`, or one code.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "statuses"
    )]
    #[schemars(with = "Option<StatusesAsWritten>")]
    pub status: Option<Vec<String>>,
    /// A response header, with `exists: true`, `equals` or `matches`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The body contains this text (may contain templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// The body matches this regular expression (Rust `regex` syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_matches: Option<String>,
    /// A value in the JSON body, by JSON Pointer (`/id`) or JSONPath
    /// (`$.items[0].id`), with `exists: true`, `equals` or `matches`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    /// The response time (from the send to the last byte) is under this bound.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub duration: Option<Duration>,
    /// With `header` or `json`: the value is there (`true`) or not (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// With `header` or `json`: the value equals this. A string (which may
    /// contain templates) equals a JSON string with that text, or a number
    /// or boolean written that way; any other YAML value is compared as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    /// With `header` or `json`: the value (a JSON string's text, or other
    /// JSON as written) matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// A failure ends the iteration: its later requests are not sent (and
    /// count as skipped).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_iteration: bool,
}

/// A status in a check as written: a code (`201`) or a range (`"200-299"`).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum StatusAsWritten {
    Code(u16),
    Range(String),
}

/// `status:` as written: one status or a list.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum StatusesAsWritten {
    One(StatusAsWritten),
    Many(Vec<StatusAsWritten>),
}

/// Reads `status:` as one code, one range or a list of them, each kept as text.
fn statuses<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a status code (201), a range (\"200-299\") or a list of them")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.to_owned()])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = a.next_element::<StatusItem>()? {
                out.push(item.0);
            }
            Ok(out)
        }
    }
    struct StatusItem(String);
    impl<'de> Deserialize<'de> for StatusItem {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct I;
            impl serde::de::Visitor<'_> for I {
                type Value = String;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a status code (201) or a range (\"200-299\")")
                }
                fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
                    Ok(v.to_string())
                }
                fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
                    Ok(v.to_string())
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
                    Ok(v.to_owned())
                }
            }
            d.deserialize_any(I).map(StatusItem)
        }
    }
    d.deserialize_any(V).map(Some)
}

/// Where a capture reads its value from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VarScope {
    /// The variable lives for one iteration.
    #[default]
    Iteration,
    /// The variable is the user's: it keeps its value across iterations.
    User,
}

impl VarScope {
    fn is_default(&self) -> bool {
        *self == VarScope::Iteration
    }
}

/// A value captured from a response into a variable, as written: exactly
/// one of `json`, `header`, `regex`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureSpec {
    /// The variable, used later as `{{ vars.NAME }}`.
    pub var: String,
    /// A value of the JSON body by JSON Pointer or JSONPath (a string's
    /// text, other JSON as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    /// A response header's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A regular expression on the body; the value is its group `group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The regex group to take (default 1, or 0, the whole match, when the
    /// expression has no group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// `iteration` (default) or `user` (kept across the user's iterations).
    #[serde(default, skip_serializing_if = "VarScope::is_default")]
    pub scope: VarScope,
}

/// How a header or JSON value is tested.
#[derive(Debug, Clone)]
pub enum ValueTest {
    Exists(bool),
    /// Equal to the rendered text.
    Equals(Template),
    /// Equal as JSON (a non-string YAML value).
    EqualsJson(serde_json::Value),
    Matches(Regex),
}

/// What a check looks at.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// Status within one of the ranges.
    Status(Vec<RangeInclusive<u16>>),
    Header {
        name: http::HeaderName,
        test: ValueTest,
    },
    BodyContains(Template),
    BodyMatches(Regex),
    Json {
        pointer: String,
        test: ValueTest,
    },
    /// The response time is under the bound.
    Duration(Duration),
}

/// A validated check.
#[derive(Debug, Clone)]
pub struct Check {
    /// Index into the plan's checks.
    pub id: usize,
    pub kind: CheckKind,
    pub fail_iteration: bool,
}

impl Check {
    /// The variables its templates use.
    pub fn template_vars(&self) -> Vec<usize> {
        match &self.kind {
            CheckKind::BodyContains(t)
            | CheckKind::Header {
                test: ValueTest::Equals(t),
                ..
            }
            | CheckKind::Json {
                test: ValueTest::Equals(t),
                ..
            } => t.vars().collect(),
            _ => Vec::new(),
        }
    }
}

/// Where a capture reads from.
#[derive(Debug, Clone)]
pub enum CaptureFrom {
    Json(String),
    Header(http::HeaderName),
    Regex(Regex, usize),
}

/// A validated capture.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Index of the variable in the plan's variables.
    pub var: usize,
    /// Index of its implicit check (`capture NAME`) in the plan's checks.
    pub check: usize,
    pub from: CaptureFrom,
}

/// A check or capture that is not valid: what, and which field.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowError {
    /// The field it is about (`json`, `equals`, ...), or empty for the
    /// check as a whole.
    pub field: &'static str,
    pub what: String,
    pub hint: &'static str,
}

fn bad(field: &'static str, what: String, hint: &'static str) -> FlowError {
    FlowError { field, what, hint }
}

const KINDS_HINT: &str = "a check is one of {status: [200]}, {header: NAME, exists|equals|matches: ...}, {body_contains: TEXT}, {body_matches: REGEX}, {json: /path, exists|equals|matches: ...}, {duration: 500ms}";
const POINTER_HINT: &str =
    "a JSON Pointer such as /items/0/id, or a JSONPath such as $.items[0].id";

/// Compiles a regular expression with the size limit.
pub fn regex(field: &'static str, text: &str) -> Result<Regex, FlowError> {
    regex::bytes::RegexBuilder::new(text)
        .size_limit(MAX_REGEX_SIZE)
        .build()
        .map_err(|e| {
            let first = e.to_string();
            let first = first.lines().last().unwrap_or_default().trim().to_owned();
            bad(
                field,
                format!("invalid regular expression {text:?}: {first}"),
                "Rust regex syntax (https://docs.rs/regex): e.g. ^application/json, \"id\":\\s*(\\d+)",
            )
        })
}

/// A status range as written: `201` or `200-299`.
fn status_range(text: &str) -> Option<RangeInclusive<u16>> {
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    match text.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (code(lo)?, code(hi)?);
            (lo <= hi).then_some(lo..=hi)
        }
        None => code(text).map(|c| c..=c),
    }
}

/// Turns a JSON Pointer or a JSONPath of names and indexes into a pointer.
pub fn pointer(path: &str) -> Result<String, FlowError> {
    let invalid = |why: &str| {
        bad(
            "json",
            format!("invalid JSON path {path:?}: {why}"),
            POINTER_HINT,
        )
    };
    if path.is_empty() || path.starts_with('/') {
        // RFC 6901: `~` only as `~0` or `~1`.
        let mut chars = path.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(invalid("~ must be written ~0 (and / inside a name ~1)"));
            }
        }
        return Ok(path.to_owned());
    }
    let Some(mut rest) = path.strip_prefix('$') else {
        return Err(invalid("start with / (JSON Pointer) or $ (JSONPath)"));
    };
    let mut out = String::new();
    let escape = |name: &str| name.replace('~', "~0").replace('/', "~1");
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || name == "*" {
                return Err(invalid("a member name after ."));
            }
            let _ = write!(out, "/{}", escape(name));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| invalid("[ without ]"))?;
            let inner = r[..end].trim();
            let quoted = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            match quoted {
                Some(name) => {
                    let _ = write!(out, "/{}", escape(name));
                }
                None if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) => {
                    let _ = write!(out, "/{inner}");
                }
                None => {
                    return Err(invalid(
                        "only [N] (an index) and ['name'] are supported: no wildcards, slices or filters",
                    ));
                }
            }
            rest = &r[end + 1..];
        } else {
            return Err(invalid("expected . or [ after a step"));
        }
    }
    Ok(out)
}

/// The name a check gets when none is written.
fn default_name(spec: &CheckSpec) -> String {
    let test = || {
        if let Some(e) = spec.exists {
            if e {
                "exists".into()
            } else {
                "is absent".into()
            }
        } else if let Some(v) = &spec.equals {
            match v {
                serde_json::Value::String(s) => format!("equals {s}"),
                other => format!("equals {other}"),
            }
        } else if let Some(m) = &spec.matches {
            format!("matches {m}")
        } else {
            String::new()
        }
    };
    if let Some(s) = &spec.status {
        format!("status in [{}]", s.join(", "))
    } else if let Some(h) = &spec.header {
        format!("header {} {}", h.to_ascii_lowercase(), test())
    } else if let Some(t) = &spec.body_contains {
        format!("body contains {t}")
    } else if let Some(r) = &spec.body_matches {
        format!("body matches {r}")
    } else if let Some(j) = &spec.json {
        format!("json {j} {}", test())
    } else if let Some(d) = spec.duration {
        format!("duration < {}", humantime::format_duration(d))
    } else {
        "check".into()
    }
}

/// The test of a `header` or `json` check.
fn value_test(spec: &CheckSpec, scope: &Scope<'_>) -> Result<ValueTest, FlowError> {
    let given = [
        spec.exists.is_some(),
        spec.equals.is_some(),
        spec.matches.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(bad(
            "",
            "a header or json check needs exactly one of exists, equals, matches".into(),
            "e.g. {json: /id, exists: true} or {header: content-type, matches: ^application/json}",
        ));
    }
    if let Some(e) = spec.exists {
        return Ok(ValueTest::Exists(e));
    }
    if let Some(m) = &spec.matches {
        return Ok(ValueTest::Matches(regex("matches", m)?));
    }
    match &spec.equals {
        Some(serde_json::Value::String(s)) => Template::parse(s, scope)
            .map(ValueTest::Equals)
            .map_err(|e| template_error("equals", e)),
        Some(other) => Ok(ValueTest::EqualsJson(other.clone())),
        None => Err(bad("", "no test".into(), KINDS_HINT)),
    }
}

fn template_error(field: &'static str, e: TemplateError) -> FlowError {
    bad(field, e.to_string(), super::TEMPLATE_HINT)
}

/// Validates a check; `id` is its index in the plan's checks. Returns the
/// check and its name.
pub fn check(spec: &CheckSpec, id: usize, scope: &Scope<'_>) -> Result<(Check, String), FlowError> {
    let kinds = [
        spec.status.is_some(),
        spec.header.is_some(),
        spec.body_contains.is_some(),
        spec.body_matches.is_some(),
        spec.json.is_some(),
        spec.duration.is_some(),
    ];
    let n = kinds.iter().filter(|k| **k).count();
    if n != 1 {
        return Err(bad(
            "",
            if n == 0 {
                "the check says nothing to check".into()
            } else {
                "a check checks one thing: write each as its own check".into()
            },
            KINDS_HINT,
        ));
    }
    let tests = spec.exists.is_some() || spec.equals.is_some() || spec.matches.is_some();
    if tests && spec.header.is_none() && spec.json.is_none() {
        return Err(bad(
            "",
            "exists, equals and matches go with header or json".into(),
            KINDS_HINT,
        ));
    }
    let kind = if let Some(list) = &spec.status {
        if list.is_empty() {
            return Err(bad(
                "status",
                "an empty status list".into(),
                "e.g. status: [200, 201] or status: [200-299]",
            ));
        }
        let ranges = list
            .iter()
            .map(|s| {
                status_range(s).ok_or_else(|| {
                    bad(
                        "status",
                        format!("invalid status {s:?}"),
                        "status codes 100 to 599, or ranges such as 200-299",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        CheckKind::Status(ranges)
    } else if let Some(h) = &spec.header {
        let name = http::HeaderName::try_from(h.as_str()).map_err(|_| {
            bad(
                "header",
                format!("invalid header name {h:?}"),
                "header names are tokens like content-type",
            )
        })?;
        CheckKind::Header {
            name,
            test: value_test(spec, scope)?,
        }
    } else if let Some(t) = &spec.body_contains {
        if t.is_empty() {
            return Err(bad(
                "body_contains",
                "empty text".into(),
                "e.g. body_contains: confirmed",
            ));
        }
        CheckKind::BodyContains(
            Template::parse(t, scope).map_err(|e| template_error("body_contains", e))?,
        )
    } else if let Some(r) = &spec.body_matches {
        CheckKind::BodyMatches(regex("body_matches", r)?)
    } else if let Some(j) = &spec.json {
        CheckKind::Json {
            pointer: pointer(j)?,
            test: value_test(spec, scope)?,
        }
    } else if let Some(d) = spec.duration {
        if d.is_zero() {
            return Err(bad(
                "duration",
                "a zero bound: no response is that fast".into(),
                "e.g. duration: 500ms",
            ));
        }
        CheckKind::Duration(d)
    } else {
        return Err(bad(
            "",
            "the check says nothing to check".into(),
            KINDS_HINT,
        ));
    };
    let name = spec.name.clone().unwrap_or_else(|| default_name(spec));
    Ok((
        Check {
            id,
            kind,
            fail_iteration: spec.fail_iteration,
        },
        name,
    ))
}

/// Validates where a capture reads from (the variable is the caller's).
pub fn capture_from(spec: &CaptureSpec) -> Result<CaptureFrom, FlowError> {
    let n = [
        spec.json.is_some(),
        spec.header.is_some(),
        spec.regex.is_some(),
    ]
    .iter()
    .filter(|k| **k)
    .count();
    if n != 1 {
        return Err(bad(
            "",
            format!(
                "capture {:?} needs exactly one of json, header, regex",
                spec.var
            ),
            "e.g. {var: order_id, json: /order_id}, {var: loc, header: location} or {var: n, regex: 'id=(\\d+)'}",
        ));
    }
    if spec.group.is_some() && spec.regex.is_none() {
        return Err(bad(
            "group",
            "group goes with regex".into(),
            "e.g. {var: n, regex: 'id=(\\d+)', group: 1}",
        ));
    }
    if let Some(j) = &spec.json {
        return Ok(CaptureFrom::Json(pointer(j)?));
    }
    if let Some(h) = &spec.header {
        let name = http::HeaderName::try_from(h.as_str()).map_err(|_| {
            bad(
                "header",
                format!("invalid header name {h:?}"),
                "header names are tokens like location",
            )
        })?;
        return Ok(CaptureFrom::Header(name));
    }
    let text = spec.regex.as_deref().unwrap_or_default();
    let re = regex("regex", text)?;
    let groups = re.captures_len() - 1;
    let group = spec.group.unwrap_or(usize::from(groups > 0));
    if group > groups {
        return Err(bad(
            "group",
            format!("group {group} of a regular expression with {groups} group(s)"),
            "groups are numbered from 1 by their opening parenthesis; 0 is the whole match",
        ));
    }
    Ok(CaptureFrom::Regex(re, group))
}

/// What came back for a request, for checks and captures.
pub struct Response<'a> {
    /// `None`: no response (timeout, connection or request error).
    pub status: Option<u16>,
    /// From the send to the last byte.
    pub elapsed: Duration,
    pub headers: Option<&'a http::HeaderMap>,
    /// The body as kept (its first bytes).
    pub body: &'a [u8],
    /// The body parsed as JSON, once asked for.
    json: std::cell::OnceCell<Option<serde_json::Value>>,
}

impl<'a> Response<'a> {
    pub fn new(
        status: Option<u16>,
        elapsed: Duration,
        headers: Option<&'a http::HeaderMap>,
        body: &'a [u8],
    ) -> Self {
        Self {
            status,
            elapsed,
            headers,
            body,
            json: std::cell::OnceCell::new(),
        }
    }

    fn json(&self) -> Option<&serde_json::Value> {
        self.json
            .get_or_init(|| serde_json::from_slice(self.body).ok())
            .as_ref()
    }

    fn json_at(&self, pointer: &str) -> Option<&serde_json::Value> {
        self.json()?.pointer(pointer)
    }

    fn header(&self, name: &http::HeaderName) -> Option<&[u8]> {
        self.headers?.get(name).map(|v| v.as_bytes())
    }
}

/// A JSON value as text: a string's own text, anything else as JSON.
fn json_text(v: &serde_json::Value) -> std::borrow::Cow<'_, str> {
    match v {
        serde_json::Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

/// Whether two JSON values are equal, numbers by value (`1` equals `1.0`).
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::{Array, Number, Object};
    match (a, b) {
        (Number(x), Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Array(x), Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Whether `check` passes on `response`; templates render with `render`.
pub fn passes<R: Rng>(
    check: &Check,
    response: &Response<'_>,
    render: &mut RenderCtx<'_, R>,
) -> bool {
    let Some(status) = response.status else {
        // No response: no check can pass.
        return false;
    };
    match &check.kind {
        CheckKind::Status(ranges) => ranges.iter().any(|r| r.contains(&status)),
        CheckKind::Duration(bound) => response.elapsed < *bound,
        CheckKind::BodyContains(t) => {
            let needle = t.render(render);
            memchr::memmem::find(response.body, needle.as_bytes()).is_some()
        }
        CheckKind::BodyMatches(re) => re.is_match(response.body),
        CheckKind::Header { name, test } => {
            let value = response.header(name);
            match test {
                ValueTest::Exists(e) => value.is_some() == *e,
                ValueTest::Equals(t) => value.is_some_and(|v| v == t.render(render).as_bytes()),
                ValueTest::EqualsJson(j) => value.is_some_and(|v| v == json_text(j).as_bytes()),
                ValueTest::Matches(re) => value.is_some_and(|v| re.is_match(v)),
            }
        }
        CheckKind::Json { pointer, test } => {
            // A body that is not JSON (or was cut at the kept size) fails
            // every JSON check, an absence too.
            let Some(json) = response.json() else {
                return false;
            };
            let value = json.pointer(pointer);
            match test {
                ValueTest::Exists(e) => value.is_some() == *e,
                ValueTest::Equals(t) => value.is_some_and(|v| {
                    let want = t.render(render);
                    match v {
                        serde_json::Value::String(s) => *s == want,
                        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                            v.to_string().as_str() == want.as_str()
                        }
                        _ => false,
                    }
                }),
                ValueTest::EqualsJson(j) => value.is_some_and(|v| json_equal(v, j)),
                ValueTest::Matches(re) => {
                    value.is_some_and(|v| re.is_match(json_text(v).as_bytes()))
                }
            }
        }
    }
}

/// The longest value a capture keeps, in bytes (longer values are cut at a
/// character boundary).
pub const MAX_CAPTURE_BYTES: usize = 64 * 1024;

/// The value `from` finds in `response`, or `None`.
pub fn capture(from: &CaptureFrom, response: &Response<'_>) -> Option<String> {
    response.status?;
    let mut text = match from {
        CaptureFrom::Json(pointer) => match response.json_at(pointer)? {
            serde_json::Value::Null => return None,
            v => json_text(v).into_owned(),
        },
        CaptureFrom::Header(name) => String::from_utf8_lossy(response.header(name)?).into_owned(),
        CaptureFrom::Regex(re, group) => {
            let caps = re.captures(response.body)?;
            String::from_utf8_lossy(caps.get(*group)?.as_bytes()).into_owned()
        }
    };
    let mut end = text.len().min(MAX_CAPTURE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    // An empty value is no value: a request that uses it is not sent.
    (!text.is_empty()).then_some(text)
}

/// The variables of a plan: name and scope, by index.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub names: Vec<String>,
    pub scopes: Vec<VarScope>,
    by_name: BTreeMap<String, usize>,
}

impl Vars {
    /// The index of `name`, added with `scope` if new. A name captured
    /// with both scopes keeps the first one written.
    pub fn index(&mut self, name: &str, scope: VarScope) -> usize {
        if let Some(i) = self.by_name.get(name) {
            return *i;
        }
        self.names.push(name.to_owned());
        self.scopes.push(scope);
        self.by_name.insert(name.to_owned(), self.names.len() - 1);
        self.names.len() - 1
    }

    pub fn get(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn spec(yaml: &str) -> CheckSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn compile(yaml: &str) -> Result<(Check, String), FlowError> {
        let data = BTreeMap::new();
        let vars = BTreeMap::from([("id".to_owned(), 0)]);
        check(
            &spec(yaml),
            3,
            &Scope {
                data: &data,
                vars: &vars,
                env: &|_| None,
            },
        )
    }

    fn run(check: &Check, r: &Response<'_>) -> bool {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let vars = [Some("42".to_owned())];
        passes(
            check,
            r,
            &mut RenderCtx {
                seq: 0,
                rng: &mut rng,
                vars: &vars,
            },
        )
    }

    /// Every check kind, passing and failing, on one response.
    #[test]
    fn every_check_kind_passes_and_fails() {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("x-id", "42".parse().unwrap());
        let body =
            br#"{"order_id":"42","n":42,"ok":true,"items":[{"sku":"a b"}],"status":"confirmed"}"#;
        let r = Response::new(Some(201), Duration::from_millis(20), Some(&headers), body);
        for (yaml, want) in [
            ("status: [201]", true),
            ("status: 201", true),
            ("status: ['200-299']", true),
            ("status: [200, '300-399']", false),
            ("header: content-type\nexists: true", true),
            ("header: x-missing\nexists: true", false),
            ("header: x-missing\nexists: false", true),
            ("header: Content-Type\nmatches: ^application/json$", true),
            ("header: content-type\nmatches: xml", false),
            ("header: x-id\nequals: '{{ vars.id }}'", true),
            ("header: x-id\nequals: 42", true),
            ("header: x-id\nequals: '43'", false),
            ("body_contains: confirmed", true),
            ("body_contains: '\"n\":{{ vars.id }}'", true),
            ("body_contains: declined", false),
            ("body_matches: '\"status\":\\s*\"confirmed\"'", true),
            ("body_matches: '^\\['", false),
            ("json: /order_id\nexists: true", true),
            ("json: /nope\nexists: true", false),
            ("json: /nope\nexists: false", true),
            ("json: /order_id\nequals: '{{ vars.id }}'", true),
            ("json: /n\nequals: '{{ vars.id }}'", true),
            ("json: /n\nequals: 42.0", true),
            ("json: /n\nequals: 43", false),
            ("json: /ok\nequals: true", true),
            ("json: $.items[0].sku\nequals: a b", true),
            ("json: \"$.items[0]['sku']\"\nmatches: ^a", true),
            ("json: $.items[1].sku\nexists: true", false),
            ("json: /items\nequals: [{sku: a b}]", true),
            ("json: /status\nmatches: ^conf", true),
            ("json: /status\nmatches: ^decl", false),
            ("duration: 500ms", true),
            ("duration: 10ms", false),
        ] {
            let (c, _) = compile(yaml).unwrap_or_else(|e| panic!("{yaml}: {e:?}"));
            assert_eq!(c.id, 3);
            assert_eq!(run(&c, &r), want, "{yaml}");
        }
        // No response: nothing passes, not even an absence.
        let none = Response::new(None, Duration::ZERO, None, b"");
        for yaml in ["status: [201]", "json: /x\nexists: false", "duration: 1s"] {
            assert!(!run(&compile(yaml).unwrap().0, &none), "{yaml}");
        }
        // A body that is not JSON has no JSON values.
        let text = Response::new(Some(200), Duration::ZERO, None, b"not json");
        assert!(!run(&compile("json: /a\nexists: true").unwrap().0, &text));
        assert!(!run(&compile("json: /a\nexists: false").unwrap().0, &text));
    }

    #[test]
    fn default_names_say_what_is_checked() {
        for (yaml, name) in [
            ("status: [201, '300-399']", "status in [201, 300-399]"),
            (
                "header: Content-Type\nexists: true",
                "header content-type exists",
            ),
            (
                "json: /id\nequals: '{{ vars.id }}'",
                "json /id equals {{ vars.id }}",
            ),
            ("body_contains: ok", "body contains ok"),
            ("duration: 500ms", "duration < 500ms"),
            ("name: mine\nstatus: [200]", "mine"),
        ] {
            assert_eq!(compile(yaml).unwrap().1, name);
        }
    }

    #[test]
    fn malformed_checks_say_what_and_where() {
        for (yaml, field, want) in [
            ("name: x", "", "says nothing to check"),
            ("status: [200]\nbody_contains: a", "", "checks one thing"),
            ("status: []", "status", "empty status list"),
            ("status: [700]", "status", "invalid status \"700\""),
            ("status: ['300-200']", "status", "invalid status"),
            (
                "header: 'a b'\nexists: true",
                "header",
                "invalid header name",
            ),
            ("header: x", "", "exactly one of exists, equals, matches"),
            ("json: /a\nexists: true\nmatches: x", "", "exactly one of"),
            ("json: a.b\nexists: true", "json", "start with /"),
            ("json: $.a[*]\nexists: true", "json", "only [N]"),
            ("json: /a~2\nexists: true", "json", "~0"),
            (
                "body_matches: '('",
                "body_matches",
                "invalid regular expression",
            ),
            ("body_contains: ''", "body_contains", "empty text"),
            ("status: [200]\nmatches: x", "", "go with header or json"),
            ("duration: 0s", "duration", "zero bound"),
            (
                "json: /a\nequals: '{{ vars.nope }}'",
                "equals",
                "unknown variable",
            ),
        ] {
            let e = compile(yaml).unwrap_err();
            assert_eq!(e.field, field, "{yaml}");
            assert!(e.what.contains(want), "{yaml}: {}", e.what);
        }
    }

    #[test]
    fn json_paths_become_pointers() {
        for (path, want) in [
            ("/a/0", "/a/0"),
            ("", ""),
            ("$", ""),
            ("$.a.b", "/a/b"),
            ("$.items[10].id", "/items/10/id"),
            ("$['a/b']['c~d']", "/a~1b/c~0d"),
            ("$[\"x y\"]", "/x y"),
        ] {
            assert_eq!(pointer(path).unwrap(), want, "{path}");
        }
        for bad in ["a", "$.", "$[", "$[-1]", "$..a", "$.a[?(@.x)]", "$x"] {
            assert!(pointer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn captures_take_json_headers_and_regex_groups() {
        let mut headers = http::HeaderMap::new();
        headers.insert("location", "/api/orders/7".parse().unwrap());
        headers.insert("x-empty", "".parse().unwrap());
        let body = br#"{"order_id":"abc","n":7,"nested":{"a":[1,2]},"empty":"","null":null}"#;
        let r = Response::new(Some(201), Duration::ZERO, Some(&headers), body);
        let cap = |yaml: &str| {
            let spec: CaptureSpec = serde_saphyr::from_str(yaml).unwrap();
            capture(&capture_from(&spec).unwrap(), &r)
        };
        assert_eq!(cap("{var: v, json: /order_id}").as_deref(), Some("abc"));
        assert_eq!(cap("{var: v, json: $.n}").as_deref(), Some("7"));
        assert_eq!(cap("{var: v, json: /nested/a}").as_deref(), Some("[1,2]"));
        assert_eq!(cap("{var: v, json: /missing}"), None);
        assert_eq!(
            cap("{var: v, header: Location}").as_deref(),
            Some("/api/orders/7")
        );
        assert_eq!(cap("{var: v, header: x-none}"), None);
        assert_eq!(cap(r#"{var: v, regex: '"n":(\d+)'}"#).as_deref(), Some("7"));
        assert_eq!(
            cap(r#"{var: v, regex: '"n":\d+'}"#).as_deref(),
            Some("\"n\":7")
        );
        assert_eq!(
            cap(r#"{var: v, regex: '"(order)_id":"(\w+)"', group: 2}"#).as_deref(),
            Some("abc")
        );
        assert_eq!(cap("{var: v, regex: 'nothing here'}"), None);
        // Empty values and JSON null are no values.
        assert_eq!(cap("{var: v, json: /empty}"), None);
        assert_eq!(cap("{var: v, json: /null}"), None);
        assert_eq!(cap("{var: v, header: x-empty}"), None);
        assert_eq!(cap(r#"{var: v, regex: '"order_id":"(x*)'}"#), None);
        // No response: nothing to capture.
        let none = Response::new(None, Duration::ZERO, None, b"");
        let spec: CaptureSpec = serde_saphyr::from_str("{var: v, regex: '.*'}").unwrap();
        assert_eq!(capture(&capture_from(&spec).unwrap(), &none), None);
        for (yaml, want) in [
            ("{var: v}", "exactly one of json, header, regex"),
            ("{var: v, json: /a, header: b}", "exactly one of"),
            ("{var: v, json: /a, group: 1}", "group goes with regex"),
            (
                "{var: v, regex: '(a)', group: 2}",
                "group 2 of a regular expression with 1",
            ),
            ("{var: v, regex: '['}", "invalid regular expression"),
        ] {
            let spec: CaptureSpec = serde_saphyr::from_str(yaml).unwrap();
            let e = capture_from(&spec).unwrap_err();
            assert!(e.what.contains(want), "{yaml}: {}", e.what);
        }
    }

    #[test]
    fn long_captures_are_cut_at_a_character_boundary() {
        let body = format!("{{\"v\":\"{}\"}}", "é".repeat(MAX_CAPTURE_BYTES));
        let r = Response::new(Some(200), Duration::ZERO, None, body.as_bytes());
        let v = capture(&CaptureFrom::Json("/v".into()), &r).unwrap();
        assert!(v.len() <= MAX_CAPTURE_BYTES && v.len() > MAX_CAPTURE_BYTES - 2);
        assert!(v.chars().all(|c| c == 'é'));
    }
}
