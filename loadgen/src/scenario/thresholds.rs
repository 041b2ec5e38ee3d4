//! The `thresholds:` of a scenario file: the native list (`p(95)<300ms`,
//! or an object with `request` and `abort_on_fail`) or k6's map from metric
//! to expressions, each read by its shape so that an error inside an entry
//! (an unknown field) is that entry's own, at its own line; and their
//! validation into [`Threshold`]s, located where each is written (a
//! `checks` threshold against the scenario's checks).

use std::collections::BTreeMap;

use common::input::cut;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Ctx, ScenarioError};
use crate::checks::CheckMeta;
use crate::input::SNIPPET_CHARS;
use crate::threshold::{Threshold, ThresholdError};

/// A threshold as written: a bare expression, or one with options. The
/// expression is native (`p(95)<300ms`) or k6's `METRIC: EXPR`
/// (`http_req_duration: p(95)<500`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum ThresholdSpec {
    Expr(String),
    Full {
        threshold: String,
        /// Apply to one request name instead of all requests.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<String>,
        /// A `checks` threshold: judge the checks of this name only (of
        /// `request`, when given) instead of all checks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<String>,
        /// Stop the run as soon as this threshold fails.
        #[serde(default)]
        abort_on_fail: bool,
    },
}

/// [`ThresholdSpec::Full`] as written, for its deserializer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullThreshold {
    threshold: String,
    #[serde(default)]
    request: Option<String>,
    #[serde(default)]
    check: Option<String>,
    #[serde(default)]
    abort_on_fail: bool,
}

/// A threshold of k6's map form as written: an expression, or k6's object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct K6Object {
    threshold: String,
    #[serde(default)]
    abort_on_fail: bool,
}

/// Reads a string or a map by the value's shape, so that an error inside
/// the map (an unknown field) is the map's own, at its own line.
struct StringOrMap<F>(std::marker::PhantomData<F>);

impl<'de, F: Deserialize<'de>> serde::de::Visitor<'de> for StringOrMap<F> {
    type Value = Result<String, F>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a threshold expression, or a map with `threshold`")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Ok(v.to_owned()))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        F::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Err)
    }
}

impl<'de> Deserialize<'de> for ThresholdSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(
            match d.deserialize_any(StringOrMap::<FullThreshold>(Default::default()))? {
                Ok(expr) => ThresholdSpec::Expr(expr),
                Err(f) => ThresholdSpec::Full {
                    threshold: f.threshold,
                    request: f.request,
                    check: f.check,
                    abort_on_fail: f.abort_on_fail,
                },
            },
        )
    }
}

/// One threshold of k6's map form (`'p(95)<500'` or `{threshold:
/// 'p(95)<500', abortOnFail: true}` under `metric`) as the list entry it
/// means: `METRIC: EXPR`.
fn k6_entry(metric: &str, value: Result<String, K6Object>) -> ThresholdSpec {
    match value {
        Ok(expr) => ThresholdSpec::Expr(format!("{metric}: {expr}")),
        Err(o) => ThresholdSpec::Full {
            threshold: format!("{metric}: {}", o.threshold),
            request: None,
            check: None,
            abort_on_fail: o.abort_on_fail,
        },
    }
}

/// k6's list of thresholds for one metric (a single one needs no list).
struct K6List(Vec<Result<String, K6Object>>);

impl<'de> Deserialize<'de> for K6List {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = K6List;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of k6 threshold expressions, e.g. ['p(95)<500']")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<K6List, E> {
                Ok(K6List(vec![Ok(v.to_owned())]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<K6List, A::Error> {
                let mut out = Vec::new();
                while let Some(One(item)) = seq.next_element::<One>()? {
                    out.push(item);
                }
                Ok(K6List(out))
            }
        }
        struct One(Result<String, K6Object>);
        impl<'de> Deserialize<'de> for One {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(StringOrMap::<K6Object>(Default::default()))
                    .map(One)
            }
        }
        d.deserialize_any(V)
    }
}

/// The `thresholds:` of a scenario file as written: the native list, or
/// k6's map from metric to expressions (`http_req_duration: ['p(95)<500']`),
/// which is read as the list it means, in the order written.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(super) enum ThresholdsAsWritten {
    List(Vec<ThresholdSpec>),
    /// k6's form: metric (with an optional `{name:REQUEST}` tag filter) to
    /// expressions, each a string or `{threshold, abortOnFail}`.
    K6(BTreeMap<String, Vec<K6EntryAsWritten>>),
}

/// The schema of one threshold of k6's map form.
#[derive(JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
#[allow(dead_code)]
pub(super) enum K6EntryAsWritten {
    Expr(String),
    Object {
        threshold: String,
        #[serde(default, rename = "abortOnFail")]
        abort_on_fail: bool,
    },
}

/// Reads `thresholds:`: the native list, or k6's map as the list it means.
pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ThresholdSpec>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<ThresholdSpec>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of thresholds, or k6's map from metric to thresholds")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(t) = seq.next_element::<ThresholdSpec>()? {
                out.push(t);
            }
            Ok(out)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((metric, K6List(list))) = map.next_entry::<String, K6List>()? {
                out.extend(list.into_iter().map(|v| k6_entry(&metric, v)));
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

const THRESHOLD_HINT: &str = "e.g. p(95)<300ms, p(99.9)<1s, error_rate<1%, rps>=500, checks>99%, or k6's http_req_duration: p(95)<500 (see \"k6 thresholds\" in loadgen/README.md)";

/// The most checks a hint lists.
const LISTED_CHECKS: usize = 8;

/// The checks of `request` (all of them when `None`) as a hint lists
/// them: `status in [201], fast` or `status in [201] [create order], ...`.
fn check_list(checks: &[CheckMeta], request: Option<&str>) -> String {
    let mut shown: Vec<String> = Vec::new();
    for c in checks
        .iter()
        .filter(|c| request.is_none_or(|r| c.request == r))
    {
        let one = match request {
            Some(_) => format!("{:?}", cut(&c.name, SNIPPET_CHARS)),
            None => format!(
                "{:?} [{}]",
                cut(&c.name, SNIPPET_CHARS),
                cut(&c.request, SNIPPET_CHARS)
            ),
        };
        if !shown.contains(&one) {
            shown.push(one);
        }
    }
    let more = shown.len().saturating_sub(LISTED_CHECKS);
    shown.truncate(LISTED_CHECKS);
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// A `checks` threshold must have checks to judge, and its `check:` must
/// name one (of its request, when it names one); `check:` on another
/// metric is refused. `at` is where the threshold is written, `check_at`
/// where its check is named.
fn validate_check(
    t: &Threshold,
    expr: &str,
    checks: &[CheckMeta],
    at: &str,
    check_at: &str,
    ctx: &Ctx,
) -> Result<(), ScenarioError> {
    let expr = cut(expr, SNIPPET_CHARS);
    if t.metric != crate::threshold::Metric::Checks {
        return match &t.check {
            Some(c) => Err(ctx.at(
                check_at,
                format!(
                    "threshold {expr:?} names check {:?}, but it does not judge checks",
                    cut(c, SNIPPET_CHARS)
                ),
                "check: goes with a checks threshold (checks>99%, or k6's checks: rate>0.99); remove it here",
            )),
            None => Ok(()),
        };
    }
    let request = t.request.as_deref();
    let of_request = checks
        .iter()
        .filter(|c| request.is_none_or(|r| c.request == r))
        .count();
    let whose = match request {
        Some(r) => format!("request {:?}", cut(r, SNIPPET_CHARS)),
        None => "the scenario".to_owned(),
    };
    if of_request == 0 {
        return Err(ctx.at(
            at,
            format!("threshold {expr:?} judges checks, but {whose} has none"),
            "add checks: to the request (see \"Checks\" in loadgen/README.md), or judge another metric",
        ));
    }
    if let Some(c) = &t.check
        && !checks
            .iter()
            .any(|m| &m.name == c && request.is_none_or(|r| m.request == r))
    {
        let which = match request {
            Some(_) => format!("which {whose} does not have"),
            None => "which no request has".to_owned(),
        };
        return Err(ctx.at(
            check_at,
            format!(
                "threshold {expr:?} names check {:?}, {which}",
                cut(c, SNIPPET_CHARS)
            ),
            &format!(
                "use the name of a check (its name:, or the one made from it); the checks of {whose}: {}",
                check_list(checks, request)
            ),
        ));
    }
    Ok(())
}

/// The thresholds of a file, native or k6's, each located where it is
/// written: `thresholds.3` in the list, `thresholds.http_req_failed.0` in
/// k6's map (read as the list it means, in order).
pub(super) fn validate(
    specs: &[ThresholdSpec],
    names: &[String],
    checks: &[CheckMeta],
    ctx: &Ctx,
) -> Result<Vec<Threshold>, ScenarioError> {
    let k6_map = !specs.is_empty() && !ctx.locations.has("thresholds.0");
    let mut per_metric: BTreeMap<&str, usize> = BTreeMap::new();
    let mut thresholds = Vec::new();
    for (i, t) in specs.iter().enumerate() {
        let (expr, request, check, abort, full) = match t {
            ThresholdSpec::Expr(e) => (e.as_str(), None, None, false, false),
            ThresholdSpec::Full {
                threshold,
                request,
                check,
                abort_on_fail,
            } => (
                threshold.as_str(),
                request.clone(),
                check.clone(),
                *abort_on_fail,
                true,
            ),
        };
        let entry = match crate::threshold::k6::split(expr) {
            Some((metric, _)) if k6_map => {
                let j = per_metric.entry(metric).or_default();
                *j += 1;
                format!("thresholds.{metric}.{}", *j - 1)
            }
            _ => format!("thresholds.{i}"),
        };
        let at = if full {
            format!("{entry}.threshold")
        } else {
            entry.clone()
        };
        let mut parsed = Threshold::parse_any(expr).map_err(|e: ThresholdError| {
            ctx.at(&at, cut(&e.to_string(), SNIPPET_CHARS), THRESHOLD_HINT)
        })?;
        let request = match (request, parsed.request.take()) {
            (Some(a), Some(b)) if a != b => {
                return Err(ctx.at(
                    &format!("{entry}.request"),
                    format!(
                        "threshold {:?} names request {:?} in its tag filter and {:?} in request:",
                        cut(expr, SNIPPET_CHARS),
                        cut(&b, SNIPPET_CHARS),
                        cut(&a, SNIPPET_CHARS)
                    ),
                    "name the request once: in request: or in the {name:REQUEST} tag filter",
                ));
            }
            (a, b) => a.or(b),
        };
        if let Some(r) = &request
            && !names.contains(r)
        {
            let (at, hint) = if matches!(
                t,
                ThresholdSpec::Full {
                    request: Some(_),
                    ..
                }
            ) {
                (
                    format!("{entry}.request"),
                    "use a request name from scenarios[].requests[].name",
                )
            } else {
                (
                    at.clone(),
                    "a k6 tag filter {name:REQUEST} names a request from scenarios[].requests[].name (see \"k6 thresholds\" in loadgen/README.md)",
                )
            };
            return Err(ctx.at(
                &at,
                format!(
                    "threshold {:?} names request {:?}, which no scenario has",
                    cut(expr, SNIPPET_CHARS),
                    cut(r, SNIPPET_CHARS)
                ),
                hint,
            ));
        }
        parsed.request = request;
        let check_at = if check.is_some() {
            format!("{entry}.check")
        } else {
            at.clone()
        };
        parsed.check = match (check, parsed.check.take()) {
            (Some(a), Some(b)) if a != b => {
                return Err(ctx.at(
                    &format!("{entry}.check"),
                    format!(
                        "threshold {:?} names check {:?} in its tag filter and {:?} in check:",
                        cut(expr, SNIPPET_CHARS),
                        cut(&b, SNIPPET_CHARS),
                        cut(&a, SNIPPET_CHARS)
                    ),
                    "name the check once: in check: or in the {check:NAME} tag filter",
                ));
            }
            (a, b) => a.or(b),
        };
        validate_check(&parsed, expr, checks, &at, &check_at, ctx)?;
        parsed.abort_on_fail = abort;
        thresholds.push(parsed);
    }
    Ok(thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threshold::Metric;

    #[derive(Deserialize)]
    struct File {
        #[serde(deserialize_with = "deserialize")]
        thresholds: Vec<ThresholdSpec>,
    }

    fn checks() -> Vec<CheckMeta> {
        let meta = |name: &str, request: &str, name_id| CheckMeta {
            name: name.into(),
            request: request.into(),
            name_id,
        };
        vec![
            meta("status in [201]", "create", 0),
            meta("fast", "create", 0),
            meta("status in [201]", "read", 1),
            meta("capture id", "read", 1),
        ]
    }

    /// The thresholds of `text` validated against the requests `create`,
    /// `read` and `plain` and `checks`; an error as shown.
    fn validated(text: &str, checks: &[CheckMeta]) -> Result<Vec<Threshold>, String> {
        let file: File = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let ctx = Ctx {
            path: "t.yaml",
            text,
            locations: super::super::locate::Locations::of(text),
            env: &|_| None,
        };
        let names = ["create", "read", "plain"].map(String::from);
        validate(&file.thresholds, &names, checks, &ctx).map_err(|e| e.to_string())
    }

    #[test]
    fn checks_thresholds_of_every_form_name_their_request_and_check() {
        let text = r#"thresholds:
  - checks>99%
  - {threshold: "checks>=0.9", request: create}
  - {threshold: "checks>95%", check: "status in [201]"}
  - {threshold: "checks>95%", request: read, check: "status in [201]", abort_on_fail: true}
  - "checks{check:fast}: rate>0.5"
  - {threshold: "checks{name:read}: rate>0.5", check: "capture id"}
"#;
        let t = validated(text, &checks()).unwrap();
        type Seen<'a> = (Metric, Option<&'a str>, Option<&'a str>, f64, bool);
        let got: Vec<Seen> = t
            .iter()
            .map(|t| {
                (
                    t.metric,
                    t.request.as_deref(),
                    t.check.as_deref(),
                    t.limit,
                    t.abort_on_fail,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (Metric::Checks, None, None, 0.99, false),
                (Metric::Checks, Some("create"), None, 0.9, false),
                (Metric::Checks, None, Some("status in [201]"), 0.95, false),
                (
                    Metric::Checks,
                    Some("read"),
                    Some("status in [201]"),
                    0.95,
                    true
                ),
                (Metric::Checks, None, Some("fast"), 0.5, false),
                (Metric::Checks, Some("read"), Some("capture id"), 0.5, false),
            ]
        );
        // k6's map form.
        let text = "thresholds:\n  checks: ['rate>0.99']\n  'checks{check:fast}': ['rate>0.9']\n";
        let t = validated(text, &checks()).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.iter().all(|t| t.metric == Metric::Checks));
        assert_eq!(t[1].check.as_deref(), Some("fast"));
    }

    #[test]
    fn a_check_that_is_not_there_is_refused_where_it_is_named_listing_the_checks() {
        for (text, place, want, hint) in [
            (
                "thresholds:\n  - threshold: checks>99%\n    check: slow\n",
                "t.yaml:3:12",
                "names check \"slow\", which no request has",
                "\"status in [201]\" [create], \"fast\" [create], \"status in [201]\" [read], \"capture id\" [read]",
            ),
            (
                "thresholds:\n  - threshold: checks>99%\n    request: read\n    check: fast\n",
                "t.yaml:4:12",
                "names check \"fast\", which request \"read\" does not have",
                "the checks of request \"read\": \"status in [201]\", \"capture id\"",
            ),
            (
                "thresholds:\n  - \"checks{check:slow}: rate>0.5\"\n",
                "t.yaml:2:5",
                "which no request has",
                "\"fast\" [create]",
            ),
            (
                "thresholds:\n  - threshold: checks>99%\n    request: plain\n",
                "t.yaml:2:16",
                "judges checks, but request \"plain\" has none",
                "add checks: to the request",
            ),
            (
                "thresholds:\n  - threshold: p(95)<1s\n    check: fast\n",
                "t.yaml:3:12",
                "names check \"fast\", but it does not judge checks",
                "check: goes with a checks threshold",
            ),
            (
                "thresholds:\n  - threshold: \"checks{check:fast}: rate>0.5\"\n    check: \"status in [201]\"\n",
                "t.yaml:3:12",
                "in its tag filter and \"status in [201]\" in check:",
                "name the check once",
            ),
        ] {
            let err = validated(text, &checks()).unwrap_err();
            assert!(err.starts_with(place), "{text}: {err}");
            assert!(err.contains(want), "{text}: {err}");
            assert!(err.contains(hint), "{text}: {err}");
        }
        // A scenario without checks has nothing for a checks threshold to judge.
        let err = validated("thresholds:\n  - checks>99%\n", &[]).unwrap_err();
        assert!(err.starts_with("t.yaml:2:5"), "{err}");
        assert!(err.contains("but the scenario has none"), "{err}");
    }

    #[test]
    fn a_long_list_of_checks_is_cut_in_the_hint() {
        let many: Vec<CheckMeta> = (0..20)
            .map(|i| CheckMeta {
                name: format!("check {i}"),
                request: "create".into(),
                name_id: 0,
            })
            .collect();
        assert_eq!(
            check_list(&many, Some("create")).matches("check ").count(),
            LISTED_CHECKS
        );
        assert!(check_list(&many, Some("create")).ends_with(" and 12 more"));
        let err = validated(
            "thresholds:\n  - threshold: checks>99%\n    check: nope\n",
            &many,
        )
        .unwrap_err();
        assert!(err.contains(" and 12 more"), "{err}");
    }
}
