//! The run's traces from a trace store after the run (`--traces-from`):
//! Grafana Tempo's or Jaeger's HTTP API asked for each trace id loadgen
//! wants, the answers parsed into [`Span`]s for [`crate::bottleneck`].
//!
//! - Tempo: `GET {URL}/api/traces/{id}` (or `/api/v2/traces/{id}`) answers
//!   OTLP JSON: `{"batches":[...]}` (v1), `{"resourceSpans":[...]}`, or
//!   `{"trace":{"resourceSpans":[...]}}` (v2); ids in hex or, as Go's
//!   protobuf JSON writes bytes, base64; `instrumentationLibrarySpans` in
//!   old versions where newer ones say `scopeSpans`.
//! - Jaeger: `GET {URL}/api/traces/{id}`, the query service's JSON API
//!   (`{"data":[{"spans":[...],"processes":{...}}]}`, times in µs, the
//!   parent in a `CHILD_OF` reference); and Jaeger v2's OTLP API,
//!   `GET {URL}/api/v3/traces/{id}` (`{"result":{"resourceSpans":[...]}}`).
//!
//! The parsers are pure and build OTLP spans that
//! [`crate::trace_sink::convert`] turns into [`Span`]s, so the caps on
//! names and attributes and the resource's `service.name` are the sink's.
//! A body is at most [`MAX_BODY`] bytes and [`MAX_SPANS`] spans; anything
//! malformed is a [`ParseError`].

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value as Any,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan};
use serde_json::Value;

use crate::bottleneck::Span;
use crate::trace_sink::Keep;
use crate::trace_sink::convert::{SERVICE_NAME, convert};

/// Largest response body read, in bytes.
pub const MAX_BODY: usize = 16 << 20;
/// Most spans taken from one trace.
pub const MAX_SPANS: usize = 20_000;
/// Deepest nesting of attribute values read.
const MAX_DEPTH: usize = 8;

/// The trace store's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Grafana Tempo, `/api/traces/{id}`.
    Tempo,
    /// Jaeger's query service, `/api/traces/{id}` (its JSON).
    Jaeger,
    /// Jaeger v2's OTLP query API, `/api/v3/traces/{id}`.
    JaegerOtlp,
}

impl Kind {
    /// The names `--traces-from` takes.
    pub const NAMES: &str = "tempo, jaeger or jaeger-v3";

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "tempo" => Some(Kind::Tempo),
            "jaeger" => Some(Kind::Jaeger),
            "jaeger-v3" => Some(Kind::JaegerOtlp),
            _ => None,
        }
    }

    /// The report's `bottlenecks.source`.
    pub fn source(self) -> &'static str {
        match self {
            Kind::Tempo => "tempo",
            Kind::Jaeger | Kind::JaegerOtlp => "jaeger",
        }
    }

    /// The URL of one trace under `base` (no trailing slash).
    pub fn url(self, base: &str, trace_id: u128) -> String {
        let base = base.trim_end_matches('/');
        match self {
            Kind::Tempo | Kind::Jaeger => format!("{base}/api/traces/{trace_id:032x}"),
            Kind::JaegerOtlp => format!("{base}/api/v3/traces/{trace_id:032x}"),
        }
    }

    /// The spans of a body this API answered.
    pub fn parse_body(self, body: &[u8]) -> Result<Vec<Span>, ParseError> {
        match self {
            Kind::Tempo | Kind::JaegerOtlp => parse_otlp(body),
            Kind::Jaeger => parse_jaeger(body),
        }
    }
}

/// Why a body gave no spans.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("the body is over {MAX_BODY} bytes")]
    TooLarge,
    #[error("the body is not JSON: {0}")]
    Json(String),
    #[error("the body has no {0}")]
    Shape(&'static str),
    #[error("span {index}: {what}")]
    Span { index: usize, what: String },
    #[error("the trace has more than {MAX_SPANS} spans")]
    TooManySpans,
    #[error("the store answered an error: {0}")]
    Store(String),
}

fn json(body: &[u8]) -> Result<Value, ParseError> {
    if body.len() > MAX_BODY {
        return Err(ParseError::TooLarge);
    }
    serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))
}

/// An id of `len` bytes, from hex (as OTLP JSON and Jaeger write it; a
/// shorter hex id is padded on the left, as Jaeger's 64-bit trace ids are)
/// or from base64 (as Go's protobuf JSON writes bytes). Empty is empty.
fn id_bytes(s: &str, len: usize) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    if s.len() <= len * 2 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let padded = format!("{s:0>width$}", width = len * 2);
        return (0..len)
            .map(|i| u8::from_str_radix(&padded[i * 2..i * 2 + 2], 16).ok())
            .collect();
    }
    let b = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    (b.len() == len).then_some(b)
}

/// A JSON integer that may be written as a string (protobuf JSON's int64).
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// An OTLP JSON `AnyValue`.
fn any_value(v: &Value, depth: usize) -> Option<AnyValue> {
    let o = v.as_object()?;
    let value = if depth >= MAX_DEPTH {
        Some(Any::StringValue("…".into()))
    } else if let Some(s) = o.get("stringValue") {
        Some(Any::StringValue(s.as_str()?.to_owned()))
    } else if let Some(b) = o.get("boolValue") {
        Some(Any::BoolValue(b.as_bool()?))
    } else if let Some(i) = o.get("intValue") {
        Some(Any::IntValue(int(i)?))
    } else if let Some(d) = o.get("doubleValue") {
        Some(Any::DoubleValue(match d {
            Value::String(s) => s.parse().ok()?,
            other => other.as_f64()?,
        }))
    } else if let Some(b) = o.get("bytesValue") {
        let s = b.as_str()?;
        Some(Any::BytesValue(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_else(|_| s.as_bytes().to_vec()),
        ))
    } else if let Some(a) = o.get("arrayValue") {
        let values = match a.get("values") {
            None => Vec::new(),
            Some(vs) => vs
                .as_array()?
                .iter()
                .map(|x| any_value(x, depth + 1))
                .collect::<Option<_>>()?,
        };
        Some(Any::ArrayValue(ArrayValue { values }))
    } else if let Some(l) = o.get("kvlistValue") {
        let values = match l.get("values") {
            None => Vec::new(),
            Some(kvs) => key_values(kvs, depth + 1)?,
        };
        Some(Any::KvlistValue(KeyValueList { values }))
    } else {
        None
    };
    Some(AnyValue { value })
}

fn key_values(v: &Value, depth: usize) -> Option<Vec<KeyValue>> {
    v.as_array()?
        .iter()
        .map(|kv| {
            Some(KeyValue {
                key: kv.get("key")?.as_str()?.to_owned(),
                value: match kv.get("value") {
                    None | Some(Value::Null) => None,
                    Some(x) => Some(any_value(x, depth)?),
                },
                ..Default::default()
            })
        })
        .collect()
}

fn attributes(o: &Value, index: usize) -> Result<Vec<KeyValue>, ParseError> {
    match o.get("attributes") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(a) => key_values(a, 0).ok_or_else(|| ParseError::Span {
            index,
            what: "malformed attributes".into(),
        }),
    }
}

/// Spans into [`Span`]s, every one of them kept.
fn converted(req: ExportTraceServiceRequest) -> Result<Vec<Span>, ParseError> {
    let c = convert(req, Keep::All);
    if c.invalid > 0 {
        return Err(ParseError::Span {
            index: 0,
            what: format!("{} spans with an all-zero id", c.invalid),
        });
    }
    Ok(c.kept)
}

/// One OTLP JSON span.
fn otlp_span(s: &Value, index: usize) -> Result<OtlpSpan, ParseError> {
    let bad = |what: &str| ParseError::Span {
        index,
        what: what.to_owned(),
    };
    let text = |key: &str| s.get(key).and_then(Value::as_str).unwrap_or("");
    let trace_id = id_bytes(text("traceId"), 16)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("no trace id of 16 bytes (hex or base64)"))?;
    let span_id = id_bytes(text("spanId"), 8)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("no span id of 8 bytes (hex or base64)"))?;
    let parent_span_id =
        id_bytes(text("parentSpanId"), 8).ok_or_else(|| bad("a parent id not of 8 bytes"))?;
    let time = |key: &str| {
        s.get(key)
            .and_then(uint)
            .ok_or_else(|| bad(&format!("no {key}")))
    };
    let (start, end) = (time("startTimeUnixNano")?, time("endTimeUnixNano")?);
    Ok(OtlpSpan {
        trace_id,
        span_id,
        parent_span_id,
        name: text("name").to_owned(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attributes(s, index)?,
        kind: otlp_kind(s.get("kind")),
        ..Default::default()
    })
}

/// An OTLP JSON span's `kind`: the enum's name (`SPAN_KIND_CLIENT`) or its
/// number; anything else is unspecified.
fn otlp_kind(v: Option<&Value>) -> i32 {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    match v {
        Some(Value::String(name)) => SpanKind::from_str_name(name).map_or(0, |k| k as i32),
        Some(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| SpanKind::try_from(*n).is_ok())
            .unwrap_or(0),
        None => 0,
    }
}

/// A Jaeger span's kind, from its `span.kind` tag (`client`, `server`...).
fn jaeger_kind(tags: &[KeyValue]) -> i32 {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    let kind = tags.iter().find(|t| t.key == "span.kind").and_then(|t| {
        match t.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => {
                Some(s.as_str())
            }
            _ => None,
        }
    });
    match kind {
        Some("client") => SpanKind::Client as i32,
        Some("server") => SpanKind::Server as i32,
        Some("producer") => SpanKind::Producer as i32,
        Some("consumer") => SpanKind::Consumer as i32,
        Some("internal") => SpanKind::Internal as i32,
        _ => 0,
    }
}

/// The spans of an OTLP JSON trace as Tempo or Jaeger v2 answer it.
pub fn parse_otlp(body: &[u8]) -> Result<Vec<Span>, ParseError> {
    let v = json(body)?;
    if !v.is_object() {
        return Err(ParseError::Shape("JSON object"));
    }
    let root = v
        .get("trace")
        .or_else(|| v.get("result"))
        .filter(|t| t.is_object())
        .unwrap_or(&v);
    let batches = match root.get("batches").or_else(|| root.get("resourceSpans")) {
        Some(b) => b.as_array().ok_or(ParseError::Shape("array of batches"))?,
        // An empty trace (v2 answers `{}` or only a status for none).
        None if root.get("trace").is_none() && v.get("error").is_none() => return Ok(Vec::new()),
        None => {
            let msg = v.get("error").map(|e| e.to_string()).unwrap_or_default();
            return Err(ParseError::Store(msg));
        }
    };
    let mut req = ExportTraceServiceRequest::default();
    let mut index = 0usize;
    for b in batches {
        let resource = match b.get("resource") {
            Some(r) => Some(Resource {
                attributes: attributes(r, index)?,
                ..Default::default()
            }),
            None => None,
        };
        let scopes = b
            .get("scopeSpans")
            .or_else(|| b.get("instrumentationLibrarySpans"))
            .map(|s| s.as_array().ok_or(ParseError::Shape("array of scopeSpans")))
            .transpose()?
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut scope_spans = Vec::with_capacity(scopes.len());
        for sc in scopes {
            let spans = sc
                .get("spans")
                .map(|s| s.as_array().ok_or(ParseError::Shape("array of spans")))
                .transpose()?
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut out = Vec::with_capacity(spans.len().min(MAX_SPANS));
            for s in spans {
                if index >= MAX_SPANS {
                    return Err(ParseError::TooManySpans);
                }
                out.push(otlp_span(s, index)?);
                index += 1;
            }
            scope_spans.push(ScopeSpans {
                spans: out,
                ..Default::default()
            });
        }
        req.resource_spans.push(ResourceSpans {
            resource,
            scope_spans,
            ..Default::default()
        });
    }
    converted(req)
}

/// A Jaeger tag's value as an OTLP value (by its `type`; the value as it
/// is where the type is unknown).
fn jaeger_value(tag: &Value) -> AnyValue {
    let v = tag.get("value").unwrap_or(&Value::Null);
    let ty = tag.get("type").and_then(Value::as_str).unwrap_or("");
    let value = match (ty, v) {
        (_, Value::String(s)) if ty != "int64" && ty != "float64" && ty != "bool" => {
            Any::StringValue(s.clone())
        }
        (_, Value::Bool(b)) => Any::BoolValue(*b),
        ("int64", x) if int(x).is_some() => Any::IntValue(int(x).unwrap_or_default()),
        ("float64", Value::String(s)) if s.parse::<f64>().is_ok() => {
            Any::DoubleValue(s.parse().unwrap_or_default())
        }
        ("bool", Value::String(s)) => Any::BoolValue(s == "true"),
        (_, Value::Number(n)) => match n.as_i64() {
            Some(i) if ty != "float64" => Any::IntValue(i),
            _ => Any::DoubleValue(n.as_f64().unwrap_or_default()),
        },
        (_, Value::String(s)) => Any::StringValue(s.clone()),
        (_, Value::Null) => return AnyValue { value: None },
        (_, other) => Any::StringValue(other.to_string()),
    };
    AnyValue { value: Some(value) }
}

fn jaeger_tags(v: Option<&Value>, index: usize) -> Result<Vec<KeyValue>, ParseError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let tags = v.as_array().ok_or_else(|| ParseError::Span {
        index,
        what: "tags is not an array".into(),
    })?;
    tags.iter()
        .map(|t| {
            let key = t
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| ParseError::Span {
                    index,
                    what: "a tag without a key".into(),
                })?;
            Ok(KeyValue {
                key: key.to_owned(),
                value: Some(jaeger_value(t)),
                ..Default::default()
            })
        })
        .collect()
}

/// The spans of a Jaeger query service answer (`/api/traces/{id}`).
pub fn parse_jaeger(body: &[u8]) -> Result<Vec<Span>, ParseError> {
    let v = json(body)?;
    let data = match v.get("data") {
        Some(Value::Array(d)) => d,
        Some(Value::Null) | None => {
            let msg = v
                .get("errors")
                .and_then(Value::as_array)
                .and_then(|e| e.first())
                .map(|e| {
                    e.get("msg")
                        .and_then(Value::as_str)
                        .map_or_else(|| e.to_string(), str::to_owned)
                });
            return match msg {
                Some(m) => Err(ParseError::Store(m)),
                None => Err(ParseError::Shape("\"data\" array")),
            };
        }
        Some(_) => return Err(ParseError::Shape("\"data\" array")),
    };
    let mut req = ExportTraceServiceRequest::default();
    let mut index = 0usize;
    for trace in data {
        let spans = trace
            .get("spans")
            .and_then(Value::as_array)
            .ok_or(ParseError::Shape("\"spans\" array in a trace"))?;
        let processes = trace.get("processes").and_then(Value::as_object);
        // One resource per process, in the order met.
        let mut by_process: Vec<(String, Vec<OtlpSpan>)> = Vec::new();
        for s in spans {
            if index >= MAX_SPANS {
                return Err(ParseError::TooManySpans);
            }
            let bad = |what: &str| ParseError::Span {
                index,
                what: what.to_owned(),
            };
            let text = |key: &str| s.get(key).and_then(Value::as_str).unwrap_or("");
            let trace_id = id_bytes(text("traceID"), 16)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| bad("no traceID in hex"))?;
            let span_id = id_bytes(text("spanID"), 8)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| bad("no spanID in hex"))?;
            let refs = match s.get("references") {
                None | Some(Value::Null) => &[][..],
                Some(Value::Array(r)) => r.as_slice(),
                Some(_) => return Err(bad("references is not an array")),
            };
            let parent = refs
                .iter()
                .find(|r| r.get("refType").and_then(Value::as_str) == Some("CHILD_OF"))
                .or_else(|| refs.first())
                .and_then(|r| r.get("spanID").and_then(Value::as_str));
            let parent_span_id = match parent {
                None => Vec::new(),
                Some(p) => id_bytes(p, 8).ok_or_else(|| bad("a reference's spanID not in hex"))?,
            };
            let micros = |key: &str| {
                s.get(key)
                    .and_then(uint)
                    .ok_or_else(|| bad(&format!("no {key} in µs")))
            };
            let start = micros("startTime")?.saturating_mul(1000);
            let duration = micros("duration")?.saturating_mul(1000);
            let pid = text("processID").to_owned();
            let tags = jaeger_tags(s.get("tags"), index)?;
            let kind = jaeger_kind(&tags);
            let span = OtlpSpan {
                trace_id,
                span_id,
                parent_span_id,
                name: text("operationName").to_owned(),
                start_time_unix_nano: start,
                end_time_unix_nano: start.saturating_add(duration),
                attributes: tags,
                kind,
                ..Default::default()
            };
            match by_process.iter_mut().find(|(p, _)| *p == pid) {
                Some((_, v)) => v.push(span),
                None => by_process.push((pid, vec![span])),
            }
            index += 1;
        }
        for (pid, spans) in by_process {
            let service = processes
                .and_then(|p| p.get(&pid))
                .and_then(|p| p.get("serviceName"))
                .and_then(Value::as_str);
            let resource = service.map(|name| Resource {
                attributes: vec![KeyValue {
                    key: SERVICE_NAME.into(),
                    value: Some(AnyValue {
                        value: Some(Any::StringValue(name.to_owned())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            });
            req.resource_spans.push(ResourceSpans {
                resource,
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    converted(req)
}

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Requests at once.
    pub concurrency: usize,
    /// Each request's limit.
    pub timeout: Duration,
    /// All of the fetching's limit: traces not fetched by then fail.
    pub deadline: Duration,
    /// Tries again after a 5xx or a transport error, this many times.
    pub retries: u32,
    /// Sent as `Authorization: Bearer`.
    pub token: Option<String>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(120),
            retries: 2,
            token: None,
        }
    }
}

/// The environment variable a bearer token for the trace store is read from.
pub const TOKEN_ENV: &str = "LOADGEN_TRACES_TOKEN";

/// What the fetching did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchStats {
    /// Traces found (with at least one span).
    pub fetched: u64,
    /// Traces the store does not have (404, or no spans).
    pub not_found: u64,
    /// Traces not fetched: errors, malformed bodies, the deadline.
    pub failed: u64,
    /// The last failure's reason.
    pub last_error: Option<String>,
}

enum Outcome {
    Found(Vec<Span>),
    NotFound,
    Failed(String),
}

/// The body, at most [`MAX_BODY`] bytes.
async fn body(mut r: reqwest::Response) -> Result<Vec<u8>, String> {
    if r.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(ParseError::TooLarge.to_string());
    }
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
        if out.len().saturating_add(chunk.len()) > MAX_BODY {
            return Err(ParseError::TooLarge.to_string());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

async fn fetch_one(
    client: &reqwest::Client,
    kind: Kind,
    base: &str,
    id: u128,
    cfg: &FetchConfig,
) -> Outcome {
    let url = kind.url(base, id);
    let mut last = String::new();
    for attempt in 0..=cfg.retries {
        if attempt > 0 {
            let backoff = 200u64.saturating_mul(1 << attempt.min(6));
            tokio::time::sleep(Duration::from_millis(backoff)).await;
        }
        let mut req = client
            .get(&url)
            .header("accept", "application/json")
            .timeout(cfg.timeout);
        if let Some(t) = &cfg.token {
            req = req.bearer_auth(t);
        }
        let r = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                last = format!("{url}: {e}");
                continue;
            }
        };
        let status = r.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::NO_CONTENT {
            return Outcome::NotFound;
        }
        if status.is_server_error() {
            last = format!("{url}: {status}");
            continue;
        }
        if !status.is_success() {
            return Outcome::Failed(format!("{url}: {status}"));
        }
        let bytes = match body(r).await {
            Ok(b) => b,
            Err(e) => {
                last = format!("{url}: {e}");
                continue;
            }
        };
        return match kind.parse_body(&bytes) {
            Ok(mut spans) => {
                spans.retain(|s| s.trace_id == id);
                if spans.is_empty() {
                    Outcome::NotFound
                } else {
                    Outcome::Found(spans)
                }
            }
            Err(e) => Outcome::Failed(format!("{url}: {e}")),
        };
    }
    Outcome::Failed(last)
}

/// Fetches the traces of `ids` from the store at `base` (its base URL),
/// `cfg.concurrency` at a time; the spans per trace id found, and counts.
pub async fn fetch(
    kind: Kind,
    base: &str,
    ids: &[u128],
    cfg: &FetchConfig,
) -> (HashMap<u128, Vec<Span>>, FetchStats) {
    let mut stats = FetchStats::default();
    let mut found = HashMap::new();
    let client = match reqwest::Client::builder()
        .connect_timeout(cfg.timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            stats.failed = ids.len() as u64;
            stats.last_error = Some(e.to_string());
            return (found, stats);
        }
    };
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(cfg.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for &id in ids {
        let (client, sem, base, cfg) = (client.clone(), sem.clone(), base.to_owned(), cfg.clone());
        tasks.spawn(async move {
            let Ok(_permit) = sem.acquire_owned().await else {
                return (id, Outcome::Failed("stopped".into()));
            };
            (id, fetch_one(&client, kind, &base, id, &cfg).await)
        });
    }
    let deadline = tokio::time::Instant::now() + cfg.deadline;
    let mut done = 0u64;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok((id, outcome)))) => {
                done += 1;
                match outcome {
                    Outcome::Found(spans) => {
                        stats.fetched += 1;
                        found.insert(id, spans);
                    }
                    Outcome::NotFound => stats.not_found += 1,
                    Outcome::Failed(e) => {
                        stats.failed += 1;
                        stats.last_error = Some(e);
                    }
                }
            }
            Ok(Some(Err(e))) => {
                done += 1;
                stats.failed += 1;
                stats.last_error = Some(e.to_string());
            }
            Ok(None) => break,
            Err(_) => {
                tasks.abort_all();
                let left = (ids.len() as u64).saturating_sub(done);
                stats.failed += left;
                stats.last_error = Some(format!(
                    "{left} traces not fetched within {}",
                    humantime::format_duration(cfg.deadline)
                ));
                break;
            }
        }
    }
    (found, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: u128 = 0x5b8e_fff7_9803_8103_d269_b633_813f_c60c;
    const ROOT: u64 = 0xeee1_9b7e_c3c1_b173;
    const VALIDATE: u64 = 0xa1b2_c3d4_e5f6_0718;
    const PAYMENT: u64 = 0x0f1e_2d3c_4b5a_6978;
    const T0: u64 = 1_746_259_200_000_000_000;
    const MS: u64 = 1_000_000;

    fn data(name: &str) -> Vec<u8> {
        let p = format!("{}/tests/data/traces/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
        s.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn by_name<'a>(spans: &'a [Span], name: &str) -> &'a Span {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} in {spans:?}"))
    }

    /// The tree the recorded bodies hold: a root with two children.
    fn check_tree(spans: &[Span], with_validate: bool) {
        assert_eq!(spans.len(), if with_validate { 3 } else { 2 });
        assert!(spans.iter().all(|s| s.trace_id == TRACE));
        let root = by_name(spans, "POST /api/orders");
        assert_eq!((root.span_id, root.parent), (ROOT, 0), "no parent");
        assert_eq!((root.start_ns, root.end_ns), (T0, T0 + 30 * MS));
        let pay = by_name(spans, "process_payment");
        assert_eq!((pay.span_id, pay.parent), (PAYMENT, ROOT));
        assert_eq!((pay.start_ns, pay.end_ns), (T0 + 3 * MS, T0 + 25 * MS));
        assert_eq!(attr(pay, "app.payment.slow_path"), Some("true"));
        if with_validate {
            let v = by_name(spans, "validate_order");
            assert_eq!((v.span_id, v.parent), (VALIDATE, ROOT));
            assert_eq!((v.start_ns, v.end_ns), (T0 + MS, T0 + 3 * MS));
        }
    }

    // Format: https://grafana.com/docs/tempo/latest/api_docs/#query (Query
    // traces by id, `GET /api/traces/<traceID>`: OTLP JSON in `batches`; ids
    // as Go's protobuf JSON writes bytes, base64; int64 as strings).
    #[test]
    fn tempo_v1_batches_with_base64_ids() {
        let spans = parse_otlp(&data("tempo_v1.json")).unwrap();
        check_tree(&spans, true);
        let root = by_name(&spans, "POST /api/orders");
        assert_eq!(attr(root, "http.response.status_code"), Some("201"));
        assert_eq!(attr(root, "service.name"), Some("shop"));
        let pay = by_name(&spans, "process_payment");
        assert_eq!(attr(pay, "app.payment.amount"), Some("12.5"));
        assert_eq!(attr(pay, "app.payment.tries"), Some("2"));
        assert_eq!(Kind::Tempo.parse_body(&data("tempo_v1.json")), Ok(spans));
    }

    // Format: https://grafana.com/docs/tempo/latest/api_docs/#query-v2 (Query
    // traces by id V2, `GET /api/v2/traces/<traceID>`: `{"trace":
    // {"resourceSpans": [...]}, "status": ...}`, hex ids).
    #[test]
    fn tempo_v2_trace_with_hex_ids() {
        let spans = parse_otlp(&data("tempo_v2.json")).unwrap();
        check_tree(&spans, true);
        let pay = by_name(&spans, "process_payment");
        assert_eq!(attr(pay, "app.payment.tags"), Some(r#"["card",3]"#));
        assert_eq!(attr(pay, "service.name"), Some("shop"));
    }

    // A load generator's own client span, the root of the trace, is left
    // out, in OTLP JSON (kind by name or number) and in Jaeger (its tag); a
    // client span with a parent (a call the service makes) stays.
    #[test]
    fn root_client_spans_are_left_out() {
        let otlp = |kind: &str| {
            format!(
                r#"{{"batches":[{{"scopeSpans":[{{"spans":[
                {{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000001","name":"POST create order","kind":{kind},"startTimeUnixNano":"1","endTimeUnixNano":"9"}},
                {{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000002","parentSpanId":"0000000000000001","name":"POST /api/orders","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"2","endTimeUnixNano":"8"}},
                {{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000003","parentSpanId":"0000000000000002","name":"GET payments","kind":3,"startTimeUnixNano":"3","endTimeUnixNano":"4"}}
                ]}}]}}]}}"#
            )
        };
        for kind in [r#""SPAN_KIND_CLIENT""#, "3"] {
            let spans = parse_otlp(otlp(kind).as_bytes()).unwrap();
            let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["POST /api/orders", "GET payments"], "{kind}");
        }
        let spans = parse_otlp(otlp(r#""SPAN_KIND_INTERNAL""#).as_bytes()).unwrap();
        assert_eq!(spans.len(), 3, "an internal root is kept");
        let jaeger = br#"{"data":[{"processes":{"p1":{"serviceName":"loadgen"}},"spans":[
            {"traceID":"0102030405060708090a0b0c0d0e0f10","spanID":"0000000000000001","operationName":"POST create order","references":[],"startTime":1,"duration":9,"tags":[{"key":"span.kind","type":"string","value":"client"}],"processID":"p1"},
            {"traceID":"0102030405060708090a0b0c0d0e0f10","spanID":"0000000000000002","operationName":"POST /api/orders","references":[{"refType":"CHILD_OF","spanID":"0000000000000001"}],"startTime":2,"duration":6,"tags":[{"key":"span.kind","type":"string","value":"server"}],"processID":"p1"}
        ]}]}"#;
        let spans = parse_jaeger(jaeger).unwrap();
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["POST /api/orders"]);
    }

    // Format: https://grafana.com/docs/tempo/latest/api_docs/#query (older
    // versions: `instrumentationLibrarySpans`; an empty answer is no trace).
    #[test]
    fn tempo_old_and_empty_answers() {
        let old = String::from_utf8(data("tempo_v1.json"))
            .unwrap()
            .replace("scopeSpans", "instrumentationLibrarySpans");
        check_tree(&parse_otlp(old.as_bytes()).unwrap(), true);
        assert_eq!(parse_otlp(b"{}"), Ok(vec![]));
        assert_eq!(parse_otlp(br#"{"batches":[]}"#), Ok(vec![]));
        assert_eq!(
            parse_otlp(br#"{"trace":{},"status":"COMPLETE"}"#),
            Ok(vec![])
        );
    }

    // Format: https://www.jaegertracing.io/docs/latest/apis/#internal-http-json
    // (the query service's `GET /api/traces/{trace-id}`: `{"data":[{"spans",
    // "processes"}]}`, times in µs, parents in `references`).
    #[test]
    fn jaeger_query_json() {
        let spans = parse_jaeger(&data("jaeger.json")).unwrap();
        check_tree(&spans, true);
        let root = by_name(&spans, "POST /api/orders");
        assert_eq!(attr(root, "service.name"), Some("shop"));
        assert_eq!(attr(root, "span.kind"), Some("server"));
        assert_eq!(attr(root, "http.response.status_code"), Some("201"));
        let pay = by_name(&spans, "process_payment");
        assert_eq!(attr(pay, "service.name"), Some("payments"));
        assert_eq!(attr(pay, "app.payment.amount"), Some("12.5"));
        assert_eq!(attr(pay, "app.payment.note"), Some("retried"));
    }

    // Jaeger's 64-bit trace ids are 16 hex digits: the high half is zero.
    #[test]
    fn jaeger_short_trace_ids_and_follows_from() {
        let body = br#"{"data":[{"traceID":"37755ec1ae429b50","spans":[
            {"traceID":"37755ec1ae429b50","spanID":"37755ec1ae429b50","operationName":"a",
             "references":[],"startTime":10,"duration":5,"tags":[],"processID":"p1"},
            {"traceID":"37755ec1ae429b50","spanID":"0000000000000002","operationName":"b",
             "references":[{"refType":"FOLLOWS_FROM","spanID":"37755ec1ae429b50"}],
             "startTime":11,"duration":1,"processID":"nowhere"}],
            "processes":{"p1":{"serviceName":"svc"}}}]}"#;
        let spans = parse_jaeger(body).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].trace_id, 0x3775_5ec1_ae42_9b50);
        assert_eq!((spans[0].start_ns, spans[0].end_ns), (10_000, 15_000));
        assert_eq!(spans[1].parent, 0x3775_5ec1_ae42_9b50);
        assert_eq!(attr(&spans[1], "service.name"), None);
    }

    // Format: https://www.jaegertracing.io/docs/latest/apis/#http-json (api_v3,
    // `GET /api/v3/traces/{trace_id}`: OTLP JSON in `result`).
    #[test]
    fn jaeger_v3_otlp() {
        let spans = Kind::JaegerOtlp
            .parse_body(&data("jaeger_v3.json"))
            .unwrap();
        check_tree(&spans, false);
        assert_eq!(Kind::JaegerOtlp.source(), "jaeger");
    }

    /// A body and what its error must be.
    type Case = (&'static [u8], fn(&ParseError) -> bool);

    #[test]
    fn malformed_bodies_are_errors() {
        let cases: &[Case] = &[
            (b"", |e| matches!(e, ParseError::Json(_))),
            (b"<html>502</html>", |e| matches!(e, ParseError::Json(_))),
            (b"[1,2]", |e| matches!(e, ParseError::Shape(_))),
            (br#"{"batches":{}}"#, |e| matches!(e, ParseError::Shape(_))),
            (br#"{"batches":[{"scopeSpans":[{"spans":[{"spanId":"eee19b7ec3c1b173"}]}]}]}"#, |e| {
                matches!(e, ParseError::Span { index: 0, .. })
            }),
            (
                br#"{"batches":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b173","startTimeUnixNano":"x","endTimeUnixNano":"1"}]}]}]}"#,
                |e| matches!(e, ParseError::Span { .. }),
            ),
            (
                br#"{"batches":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b173","startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"k","value":{"intValue":"nope"}}]}]}]}]}"#,
                |e| matches!(e, ParseError::Span { .. }),
            ),
            (
                br#"{"batches":[{"scopeSpans":[{"spans":[{"traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b173","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#,
                |e| matches!(e, ParseError::Span { .. }),
            ),
            (br#"{"error":"boom"}"#, |e| matches!(e, ParseError::Store(_))),
        ];
        for (body, ok) in cases {
            let e = parse_otlp(body).unwrap_err();
            assert!(ok(&e), "{}: {e:?}", String::from_utf8_lossy(body));
        }
        let jaeger: &[Case] = &[
            (b"{", |e| matches!(e, ParseError::Json(_))),
            (br#"{"data":{}}"#, |e| matches!(e, ParseError::Shape(_))),
            (br#"{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}"#, |e| {
                *e == ParseError::Store("trace not found".into())
            }),
            (br#"{"data":[{"spans":[{"traceID":"zz","spanID":"01","startTime":1,"duration":1}]}]}"#, |e| {
                matches!(e, ParseError::Span { index: 0, .. })
            }),
            (br#"{"data":[{"spans":[{"traceID":"01","spanID":"01","startTime":-1,"duration":1}]}]}"#, |e| {
                matches!(e, ParseError::Span { .. })
            }),
            (br#"{"data":[{"spans":[{"traceID":"01","spanID":"01","startTime":1,"duration":1,"tags":[{"value":1}]}]}]}"#, |e| {
                matches!(e, ParseError::Span { .. })
            }),
            (br#"{"data":[{"spans":[{"traceID":"01","spanID":"01","startTime":1,"duration":1,"references":[{"spanID":"not hex!"}]}]}]}"#, |e| {
                matches!(e, ParseError::Span { .. })
            }),
        ];
        for (body, ok) in jaeger {
            let e = parse_jaeger(body).unwrap_err();
            assert!(ok(&e), "{}: {e:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn sizes_are_capped() {
        let big = vec![b' '; MAX_BODY + 1];
        assert_eq!(parse_otlp(&big), Err(ParseError::TooLarge));
        assert_eq!(parse_jaeger(&big), Err(ParseError::TooLarge));
        let span = r#"{"traceID":"01","spanID":"01","startTime":1,"duration":1}"#;
        let many = format!(
            r#"{{"data":[{{"spans":[{}]}}]}}"#,
            vec![span; MAX_SPANS + 1].join(",")
        );
        assert_eq!(parse_jaeger(many.as_bytes()), Err(ParseError::TooManySpans));
        let ok = format!(
            r#"{{"data":[{{"spans":[{}]}}]}}"#,
            vec![span; MAX_SPANS].join(",")
        );
        assert_eq!(parse_jaeger(ok.as_bytes()).unwrap().len(), MAX_SPANS);
        // Attribute values nest at most so deep.
        let mut deep = r#"{"stringValue":"x"}"#.to_owned();
        for _ in 0..20 {
            deep = format!(r#"{{"arrayValue":{{"values":[{deep}]}}}}"#);
        }
        let body = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"01","spanId":"01","startTimeUnixNano":1,"endTimeUnixNano":2,"attributes":[{{"key":"d","value":{deep}}}]}}]}}]}}]}}"#
        );
        let spans = parse_otlp(body.as_bytes()).unwrap();
        assert!(spans[0].attributes[0].1.contains('…'));
    }

    #[test]
    fn kinds_and_urls() {
        assert_eq!(Kind::parse("tempo"), Some(Kind::Tempo));
        assert_eq!(Kind::parse("zipkin"), None);
        assert_eq!(
            Kind::Tempo.url("http://t:3200/", 0xab),
            "http://t:3200/api/traces/000000000000000000000000000000ab"
        );
        assert_eq!(
            Kind::JaegerOtlp.url("http://j:16686", TRACE),
            "http://j:16686/api/v3/traces/5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(
            id_bytes("7uGbfsPBsXM=", 8),
            Some(ROOT.to_be_bytes().to_vec())
        );
        assert_eq!(
            id_bytes("eee19b7ec3c1b173", 8),
            Some(ROOT.to_be_bytes().to_vec())
        );
        assert_eq!(id_bytes("eee19b7ec3c1b17300", 8), None);
    }
}
