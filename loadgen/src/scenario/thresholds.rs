//! The `thresholds:` of a scenario file: the native list (`p(95)<300ms`,
//! or an object with `request` and `abort_on_fail`) or k6's map from metric
//! to expressions, each read by its shape so that an error inside an entry
//! (an unknown field) is that entry's own, at its own line; and their
//! validation into [`Threshold`]s, located where each is written.

use std::collections::BTreeMap;

use common::input::cut;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Ctx, ScenarioError};
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

const THRESHOLD_HINT: &str = "e.g. p(95)<300ms, p(99.9)<1s, error_rate<1%, rps>=500, or k6's http_req_duration: p(95)<500 (see \"k6 thresholds\" in loadgen/README.md)";

/// The thresholds of a file, native or k6's, each located where it is
/// written: `thresholds.3` in the list, `thresholds.http_req_failed.0` in
/// k6's map (read as the list it means, in order).
pub(super) fn validate(
    specs: &[ThresholdSpec],
    names: &[String],
    ctx: &Ctx,
) -> Result<Vec<Threshold>, ScenarioError> {
    let k6_map = !specs.is_empty() && !ctx.locations.has("thresholds.0");
    let mut per_metric: BTreeMap<&str, usize> = BTreeMap::new();
    let mut thresholds = Vec::new();
    for (i, t) in specs.iter().enumerate() {
        let (expr, request, abort, full) = match t {
            ThresholdSpec::Expr(e) => (e.as_str(), None, false, false),
            ThresholdSpec::Full {
                threshold,
                request,
                abort_on_fail,
            } => (threshold.as_str(), request.clone(), *abort_on_fail, true),
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
        parsed.abort_on_fail = abort;
        thresholds.push(parsed);
    }
    Ok(thresholds)
}
