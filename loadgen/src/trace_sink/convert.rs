//! OTLP spans into [`Span`]s: ids from their bytes, attribute values as
//! text, the resource's `service.name` as an attribute of each span. Pure.
//!
//! What a sender controls is capped here, so a span's size in the store is
//! bounded: its name, attribute keys and values are cut (at a character
//! boundary) and a span keeps at most [`MAX_ATTRIBUTES`] attributes.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::Keep;
use crate::bottleneck::Span;

/// Longest span name kept, in bytes.
pub const MAX_NAME: usize = 256;
/// Longest attribute key kept, in bytes.
pub const MAX_KEY: usize = 128;
/// Longest attribute value text kept, in bytes.
pub const MAX_VALUE: usize = 512;
/// Attributes kept per span (the resource's service name included).
pub const MAX_ATTRIBUTES: usize = 64;
/// Nesting of arrays and key-value lists written out; deeper is `…`.
const MAX_DEPTH: usize = 8;

/// The attribute the resource's service name is kept as.
pub const SERVICE_NAME: &str = "service.name";

/// The spans of one export request, sorted.
#[derive(Debug, Default, PartialEq)]
pub struct Converted {
    /// Spans to keep, in the request's order.
    pub kept: Vec<Span>,
    /// All spans of the request.
    pub received: u64,
    /// Spans whose trace id is outside the kept prefix.
    pub foreign: u64,
    /// Spans with a trace or span id of the wrong length or all zeros, or
    /// a parent id of the wrong length.
    pub invalid: u64,
    /// Root spans of kind client: a load generator's own spans of its
    /// requests (`--otlp-endpoint`), which measure what loadgen measures
    /// itself and are no server span; not kept, not an error either.
    pub client_roots: u64,
}

impl Converted {
    /// Spans not kept, for the answer's partial success.
    pub fn rejected(&self) -> u64 {
        self.foreign.saturating_add(self.invalid)
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn trace_id(b: &[u8]) -> Option<u128> {
    let id = u128::from_be_bytes(b.try_into().ok()?);
    (id != 0).then_some(id)
}

fn span_id(b: &[u8]) -> Option<u64> {
    let id = u64::from_be_bytes(b.try_into().ok()?);
    (id != 0).then_some(id)
}

fn parent_id(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return Some(0);
    }
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// A value as JSON, for the inside of arrays and key-value lists.
fn json(v: Option<&Value>, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    if depth >= MAX_DEPTH {
        return J::String("…".into());
    }
    match v {
        None => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or_else(|| J::String(d.to_string()), J::Number)
        }
        Some(Value::BytesValue(b)) => J::String(hex(b)),
        Some(Value::StringValueStrindex(i)) => J::String(format!("#{i}")),
        Some(Value::ArrayValue(a)) => J::Array(
            a.values
                .iter()
                .map(|x| json(x.value.as_ref(), depth + 1))
                .collect(),
        ),
        Some(Value::KvlistValue(l)) => J::Object(
            l.values
                .iter()
                .map(|kv| {
                    let inner = kv.value.as_ref().and_then(|x| x.value.as_ref());
                    (kv.key.clone(), json(inner, depth + 1))
                })
                .collect(),
        ),
    }
}

/// An attribute value's text: a string as it is, a bool, int or double
/// printed, bytes in hex, arrays and key-value lists as JSON.
pub fn value_text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => hex(b),
        Some(Value::StringValueStrindex(i)) => format!("#{i}"),
        Some(other @ (Value::ArrayValue(_) | Value::KvlistValue(_))) => {
            json(Some(other), 0).to_string()
        }
    }
}

fn attribute(kv: &KeyValue) -> (String, String) {
    let mut value = value_text(kv.value.as_ref());
    if value.len() > MAX_VALUE {
        value = cut(value, MAX_VALUE);
    }
    (cut(kv.key.clone(), MAX_KEY), value)
}

fn service_name(resource: Option<&[KeyValue]>) -> Option<String> {
    resource?
        .iter()
        .find(|kv| kv.key == SERVICE_NAME)
        .map(|kv| cut(value_text(kv.value.as_ref()), MAX_VALUE))
}

/// The spans of `req` that `keep` keeps, with the counts of the others.
pub fn convert(req: ExportTraceServiceRequest, keep: Keep) -> Converted {
    let mut out = Converted::default();
    for rs in req.resource_spans {
        let service = service_name(rs.resource.as_ref().map(|r| r.attributes.as_slice()));
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.received = out.received.saturating_add(1);
                let ids = trace_id(&s.trace_id)
                    .zip(span_id(&s.span_id))
                    .zip(parent_id(&s.parent_span_id));
                let Some(((trace, id), parent)) = ids else {
                    out.invalid = out.invalid.saturating_add(1);
                    continue;
                };
                if !keep.keeps(trace) {
                    out.foreign = out.foreign.saturating_add(1);
                    continue;
                }
                // A client span inside the service (a call it makes) has
                // a parent; the request's own client span has none.
                if parent == 0 && s.kind == SpanKind::Client as i32 {
                    out.client_roots = out.client_roots.saturating_add(1);
                    continue;
                }
                let room = MAX_ATTRIBUTES - usize::from(service.is_some());
                let mut attributes: Vec<(String, String)> =
                    s.attributes.iter().take(room).map(attribute).collect();
                if let Some(name) = &service {
                    attributes.push((SERVICE_NAME.to_owned(), name.clone()));
                }
                out.kept.push(Span {
                    trace_id: trace,
                    span_id: id,
                    parent,
                    name: cut(s.name, MAX_NAME),
                    start_ns: s.start_time_unix_nano,
                    end_ns: s.end_time_unix_nano,
                    attributes,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan};

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn otlp(trace: u128, id: u64, parent: &[u8]) -> OtlpSpan {
        OtlpSpan {
            trace_id: trace.to_be_bytes().to_vec(),
            span_id: id.to_be_bytes().to_vec(),
            parent_span_id: parent.to_vec(),
            name: "op".into(),
            start_time_unix_nano: 10,
            end_time_unix_nano: 25,
            ..Default::default()
        }
    }

    fn request(spans: Vec<OtlpSpan>, resource: Vec<KeyValue>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn the_requests_own_client_spans_are_not_server_spans() {
        let mut root_client = otlp(1, 1, &[]);
        root_client.kind = SpanKind::Client as i32;
        let server = otlp(1, 2, &1u64.to_be_bytes());
        // A call the service makes: a client span with a parent, kept.
        let mut call = otlp(1, 3, &2u64.to_be_bytes());
        call.kind = SpanKind::Client as i32;
        let c = convert(request(vec![root_client, server, call], vec![]), Keep::All);
        assert_eq!(c.kept.iter().map(|s| s.span_id).collect::<Vec<_>>(), [2, 3]);
        assert_eq!((c.received, c.client_roots, c.rejected()), (3, 1, 0));
    }

    #[test]
    fn ids_times_parent_and_service() {
        let trace = 0x0102_0304_0000_0000_0000_0000_0000_00ffu128;
        let mut child = otlp(trace, 2, &1u64.to_be_bytes());
        child.attributes = vec![kv("payment.slow_path", Value::BoolValue(true))];
        let req = request(
            vec![otlp(trace, 1, &[]), child],
            vec![kv("service.name", Value::StringValue("shop".into()))],
        );
        let c = convert(req, Keep::All);
        assert_eq!((c.received, c.rejected()), (2, 0));
        assert_eq!(c.kept[0].trace_id, trace);
        assert_eq!((c.kept[0].span_id, c.kept[0].parent), (1, 0));
        assert_eq!((c.kept[1].span_id, c.kept[1].parent), (2, 1));
        assert_eq!((c.kept[1].start_ns, c.kept[1].end_ns), (10, 25));
        assert_eq!(
            c.kept[1].attributes,
            [
                ("payment.slow_path".to_owned(), "true".to_owned()),
                ("service.name".to_owned(), "shop".to_owned())
            ]
        );
    }

    #[test]
    fn the_prefix_keeps_only_its_traces_and_bad_ids_are_counted() {
        let ours = (0xdead_beefu128 << 96) | 5;
        let theirs = (0x0bad_f00du128 << 96) | 5;
        let mut short = otlp(ours, 3, &[]);
        short.trace_id.pop();
        let mut zero_span = otlp(ours, 4, &[]);
        zero_span.span_id = vec![0; 8];
        let bad_parent = otlp(ours, 6, &[1, 2, 3]);
        let req = request(
            vec![
                otlp(ours, 1, &[]),
                otlp(theirs, 2, &[]),
                short,
                zero_span,
                bad_parent,
            ],
            vec![],
        );
        let c = convert(req, Keep::Prefix(0xdead_beef));
        assert_eq!(c.kept.len(), 1);
        assert_eq!(c.kept[0].span_id, 1);
        assert_eq!((c.received, c.foreign, c.invalid), (5, 1, 3));
        assert!(
            c.kept[0].attributes.is_empty(),
            "no resource name, no attribute"
        );
    }

    #[test]
    fn values_as_text() {
        let text = |v: Value| value_text(Some(&AnyValue { value: Some(v) }));
        assert_eq!(text(Value::StringValue("a b".into())), "a b");
        assert_eq!(text(Value::IntValue(-42)), "-42");
        assert_eq!(text(Value::DoubleValue(0.25)), "0.25");
        assert_eq!(text(Value::BoolValue(false)), "false");
        assert_eq!(text(Value::BytesValue(vec![0xab, 1])), "ab01");
        let arr = Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue {
                    value: Some(Value::StringValue("x".into())),
                },
                AnyValue {
                    value: Some(Value::IntValue(1)),
                },
            ],
        });
        assert_eq!(text(arr.clone()), r#"["x",1]"#);
        let list = Value::KvlistValue(KeyValueList {
            values: vec![kv("k", arr), kv("n", Value::DoubleValue(f64::NAN))],
        });
        assert_eq!(text(list), r#"{"k":["x",1],"n":"NaN"}"#);
        assert_eq!(value_text(None), "");
    }

    #[test]
    fn sizes_are_capped() {
        let trace = 9u128;
        let mut s = otlp(trace, 1, &[]);
        s.name = "é".repeat(MAX_NAME); // two bytes each
        s.attributes = (0..200)
            .map(|i| kv(&format!("k{i}"), Value::StringValue("v".repeat(5000))))
            .collect();
        let c = convert(
            request(
                vec![s],
                vec![kv("service.name", Value::StringValue("svc".into()))],
            ),
            Keep::All,
        );
        let span = &c.kept[0];
        assert!(span.name.len() <= MAX_NAME && span.name.chars().all(|c| c == 'é'));
        assert_eq!(span.attributes.len(), MAX_ATTRIBUTES);
        assert!(span.attributes.iter().all(|(_, v)| v.len() <= MAX_VALUE));
        assert_eq!(span.attributes.last().unwrap().0, SERVICE_NAME);
    }
}
