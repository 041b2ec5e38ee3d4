//! OTLP protobuf (`ExportTraceServiceRequest`) written straight from the
//! SDK's [`SpanData`]: each message's length is computed once, from the
//! data, and the bytes go into one buffer; nothing is converted into
//! intermediate structs first. What it writes decodes to exactly what the
//! OTLP crate's own conversion builds (a test decodes both and compares):
//! one `ResourceSpans` for the provider's resource, one `ScopeSpans` per
//! instrumentation scope in the order the scopes first appear, and the
//! fields proto3 leaves out when they hold their default value left out.
//! Fields are written in the order of their numbers, as prost writes them,
//! so the bytes are the same as the crate's too.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{Link, SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// `SpanFlags`: the span context says whether its parent is remote.
const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
/// `SpanFlags`: the parent is remote.
const CONTEXT_IS_REMOTE: u32 = 0x200;

#[inline(always)]
fn varint_len(v: u64) -> usize {
    // 1 byte for 0..=127 (nearly every length and key here), one more for
    // each further 7 bits.
    if v < 0x80 {
        1
    } else {
        (64 - v.leading_zeros() as usize).div_ceil(7)
    }
}

#[inline(always)]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline(always)]
fn key_len(field: u32) -> usize {
    varint_len(u64::from(field) << 3)
}

#[inline(always)]
fn put_key(out: &mut Vec<u8>, field: u32, wire: u64) {
    put_varint(out, (u64::from(field) << 3) | wire);
}

/// A length-delimited field of `len` bytes, key and length included.
#[inline(always)]
fn nested_len(field: u32, len: usize) -> usize {
    key_len(field) + varint_len(len as u64) + len
}

#[inline(always)]
fn put_nested(out: &mut Vec<u8>, field: u32, len: usize) {
    if field < 16 && len < 0x80 {
        // The common case, a one-byte key and a one-byte length.
        out.extend_from_slice(&[((field << 3) as u8) | LEN as u8, len as u8]);
    } else {
        put_key(out, field, LEN);
        put_varint(out, len as u64);
    }
}

#[inline(always)]
fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_nested(out, field, bytes.len());
    out.extend_from_slice(bytes);
}

/// A proto3 string or bytes field: left out when empty.
#[inline(always)]
fn opt_bytes_len(field: u32, bytes: &[u8]) -> usize {
    if bytes.is_empty() {
        0
    } else {
        nested_len(field, bytes.len())
    }
}

#[inline(always)]
fn put_opt_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_bytes(out, field, bytes);
    }
}

/// A proto3 integer field: left out when 0.
#[inline(always)]
fn opt_varint_len(field: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(field) + varint_len(v)
    }
}

fn put_opt_varint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_key(out, field, VARINT);
        put_varint(out, v);
    }
}

fn opt_fixed64_len(field: u32, v: u64) -> usize {
    if v == 0 { 0 } else { key_len(field) + 8 }
}

fn put_opt_fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_key(out, field, FIXED64);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn opt_fixed32_len(field: u32, v: u32) -> usize {
    if v == 0 { 0 } else { key_len(field) + 4 }
}

fn put_opt_fixed32(out: &mut Vec<u8>, field: u32, v: u32) {
    if v != 0 {
        put_key(out, field, FIXED32);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Nanoseconds since the epoch; times before it are 0, as in the OTLP crate.
fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

// ---- common.v1: AnyValue, ArrayValue, KeyValue ----

/// The body of an `AnyValue`; its one-of field is always written, default or
/// not, as one-of fields are. A kind of value this encoder does not know
/// gives an empty `AnyValue`.
#[inline(always)]
fn any_len(v: &Value) -> usize {
    match (v, scalar(v)) {
        (Value::Array(a), _) => nested_len(5, array_len(a)),
        (_, Some(s)) => scalar_len(s),
        _ => 0,
    }
}

fn put_any(out: &mut Vec<u8>, v: &Value) {
    match (v, scalar(v)) {
        (Value::Array(a), _) => {
            put_nested(out, 5, array_len(a));
            put_array(out, a);
        }
        (_, Some(s)) => put_scalar(out, s),
        _ => {}
    }
}

#[inline(always)]
fn scalar(v: &Value) -> Option<Scalar<'_>> {
    match v {
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::I64(i) => Some(Scalar::I64(*i)),
        Value::F64(f) => Some(Scalar::F64(*f)),
        Value::String(s) => Some(Scalar::Str(s.as_str())),
        _ => None,
    }
}

/// Calls `each` with every element of an array.
fn array_values(a: &Array, mut each: impl FnMut(Scalar<'_>)) {
    match a {
        Array::Bool(v) => v.iter().for_each(|b| each(Scalar::Bool(*b))),
        Array::I64(v) => v.iter().for_each(|i| each(Scalar::I64(*i))),
        Array::F64(v) => v.iter().for_each(|f| each(Scalar::F64(*f))),
        Array::String(v) => v.iter().for_each(|s| each(Scalar::Str(s.as_str()))),
        _ => {}
    }
}

/// A value that is not an array: an attribute's or an array element's.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(&'a str),
}

#[inline(always)]
fn scalar_len(s: Scalar<'_>) -> usize {
    match s {
        Scalar::Bool(_) => key_len(2) + 1,
        Scalar::I64(i) => key_len(3) + varint_len(i as u64),
        Scalar::F64(_) => key_len(4) + 8,
        Scalar::Str(s) => nested_len(1, s.len()),
    }
}

#[inline(always)]
fn put_scalar(out: &mut Vec<u8>, s: Scalar<'_>) {
    match s {
        Scalar::Bool(b) => {
            put_key(out, 2, VARINT);
            out.push(u8::from(b));
        }
        Scalar::I64(i) => {
            put_key(out, 3, VARINT);
            put_varint(out, i as u64);
        }
        Scalar::F64(f) => {
            put_key(out, 4, FIXED64);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Scalar::Str(s) => put_bytes(out, 1, s.as_bytes()),
    }
}

/// The body of an `ArrayValue`: `values` (1), one `AnyValue` each.
fn array_len(a: &Array) -> usize {
    let mut len = 0;
    array_values(a, |s| len += nested_len(1, scalar_len(s)));
    len
}

fn put_array(out: &mut Vec<u8>, a: &Array) {
    array_values(a, |s| {
        put_nested(out, 1, scalar_len(s));
        put_scalar(out, s);
    });
}

/// The body of a `KeyValue`: `key` (1), `value` (2, always present).
#[inline(always)]
fn kv_len(key: &str, value: &Value) -> usize {
    opt_bytes_len(1, key.as_bytes()) + nested_len(2, any_len(value))
}

/// A `KeyValue` as field `field` of its parent: key, lengths and value, the
/// value's length computed once.
#[inline(always)]
fn put_kv(out: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    let value_len = any_len(value);
    let body = opt_bytes_len(1, key.as_bytes()) + nested_len(2, value_len);
    put_nested(out, field, body);
    put_opt_bytes(out, 1, key.as_bytes());
    put_nested(out, 2, value_len);
    put_any(out, value);
}

fn attributes_len(field: u32, attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| nested_len(field, kv_len(kv.key.as_str(), &kv.value)))
        .sum()
}

fn put_attributes(out: &mut Vec<u8>, field: u32, attributes: &[KeyValue]) {
    for kv in attributes {
        put_kv(out, field, kv.key.as_str(), &kv.value);
    }
}

// ---- resource and scope ----

/// The provider's resource, encoded once: the body of a `Resource` message
/// (`attributes`, 1) and the resource's schema URL.
#[derive(Debug, Clone, Default)]
pub struct EncodedResource {
    body: Vec<u8>,
    schema_url: String,
}

impl EncodedResource {
    pub fn new(resource: &Resource) -> Self {
        let mut body = Vec::new();
        for (key, value) in resource.iter() {
            put_kv(&mut body, 1, key.as_str(), value);
        }
        EncodedResource {
            body,
            schema_url: resource.schema_url().unwrap_or_default().to_owned(),
        }
    }
}

/// The body of an `InstrumentationScope`: name (1), version (2),
/// attributes (3).
fn scope_len(scope: &InstrumentationScope) -> usize {
    let attributes: usize = scope
        .attributes()
        .map(|kv| nested_len(3, kv_len(kv.key.as_str(), &kv.value)))
        .sum();
    opt_bytes_len(1, scope.name().as_bytes())
        + opt_bytes_len(2, scope.version().unwrap_or_default().as_bytes())
        + attributes
}

fn put_scope(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    put_opt_bytes(out, 1, scope.name().as_bytes());
    put_opt_bytes(out, 2, scope.version().unwrap_or_default().as_bytes());
    for kv in scope.attributes() {
        put_kv(out, 3, kv.key.as_str(), &kv.value);
    }
}

// ---- trace.v1: Span, Event, Link, Status ----

fn flags(context: &SpanContext, parent_is_remote: bool) -> u32 {
    let mut flags = u32::from(context.trace_flags().to_u8()) | CONTEXT_HAS_IS_REMOTE;
    if parent_is_remote {
        flags |= CONTEXT_IS_REMOTE;
    }
    flags
}

fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// `Status`: message (2), code (3).
fn status_parts(status: &Status) -> (&str, u64) {
    match status {
        Status::Unset => ("", 0),
        Status::Ok => ("", 1),
        Status::Error { description } => (description, 2),
    }
}

fn status_len(status: &Status) -> usize {
    let (message, code) = status_parts(status);
    opt_bytes_len(2, message.as_bytes()) + opt_varint_len(3, code)
}

/// `Event`: time (1), name (2), attributes (3), dropped attributes (4).
fn event_len(e: &opentelemetry::trace::Event) -> usize {
    opt_fixed64_len(1, nanos(e.timestamp))
        + opt_bytes_len(2, e.name.as_bytes())
        + attributes_len(3, &e.attributes)
        + opt_varint_len(4, u64::from(e.dropped_attributes_count))
}

fn put_event(out: &mut Vec<u8>, e: &opentelemetry::trace::Event) {
    put_opt_fixed64(out, 1, nanos(e.timestamp));
    put_opt_bytes(out, 2, e.name.as_bytes());
    put_attributes(out, 3, &e.attributes);
    put_opt_varint(out, 4, u64::from(e.dropped_attributes_count));
}

/// `Link`: trace id (1), span id (2), trace state (3), attributes (4),
/// dropped attributes (5), flags (6).
fn link_len(l: &Link, state: &str) -> usize {
    let c = &l.span_context;
    nested_len(1, 16)
        + nested_len(2, 8)
        + opt_bytes_len(3, state.as_bytes())
        + attributes_len(4, &l.attributes)
        + opt_varint_len(5, u64::from(l.dropped_attributes_count))
        + opt_fixed32_len(6, flags(c, c.is_remote()))
}

fn put_link(out: &mut Vec<u8>, l: &Link, state: &str) {
    let c = &l.span_context;
    put_bytes(out, 1, &c.trace_id().to_bytes());
    put_bytes(out, 2, &c.span_id().to_bytes());
    put_opt_bytes(out, 3, state.as_bytes());
    put_attributes(out, 4, &l.attributes);
    put_opt_varint(out, 5, u64::from(l.dropped_attributes_count));
    put_opt_fixed32(out, 6, flags(c, c.is_remote()));
}

/// What a span's encoding needs computed once: its body's length and the
/// trace state headers (its own and its links', usually all empty).
struct Prepared {
    len: usize,
    start: u64,
    end: u64,
    state: String,
    link_states: Vec<String>,
}

fn prepare(s: &SpanData) -> Prepared {
    let state = s.span_context.trace_state().header();
    let link_states: Vec<String> = s
        .links
        .links
        .iter()
        .map(|l| l.span_context.trace_state().header())
        .collect();
    let parent = s.parent_span_id != SpanId::INVALID;
    let (start, end) = (nanos(s.start_time), nanos(s.end_time));
    let mut len = nested_len(1, 16)
        + nested_len(2, 8)
        + opt_bytes_len(3, state.as_bytes())
        + if parent { nested_len(4, 8) } else { 0 }
        + opt_fixed32_len(16, flags(&s.span_context, s.parent_span_is_remote))
        + opt_bytes_len(5, s.name.as_bytes())
        + opt_varint_len(6, kind(&s.span_kind))
        + opt_fixed64_len(7, start)
        + opt_fixed64_len(8, end)
        + attributes_len(9, &s.attributes)
        + opt_varint_len(10, u64::from(s.dropped_attributes_count))
        + opt_varint_len(12, u64::from(s.events.dropped_count))
        + opt_varint_len(14, u64::from(s.links.dropped_count))
        + nested_len(15, status_len(&s.status));
    len += s
        .events
        .events
        .iter()
        .map(|e| nested_len(11, event_len(e)))
        .sum::<usize>();
    len += s
        .links
        .links
        .iter()
        .zip(&link_states)
        .map(|(l, st)| nested_len(13, link_len(l, st)))
        .sum::<usize>();
    Prepared {
        len,
        start,
        end,
        state,
        link_states,
    }
}

fn put_span(out: &mut Vec<u8>, s: &SpanData, p: &Prepared) {
    put_bytes(out, 1, &s.span_context.trace_id().to_bytes());
    put_bytes(out, 2, &s.span_context.span_id().to_bytes());
    put_opt_bytes(out, 3, p.state.as_bytes());
    if s.parent_span_id != SpanId::INVALID {
        put_bytes(out, 4, &s.parent_span_id.to_bytes());
    }
    put_opt_bytes(out, 5, s.name.as_bytes());
    put_opt_varint(out, 6, kind(&s.span_kind));
    put_opt_fixed64(out, 7, p.start);
    put_opt_fixed64(out, 8, p.end);
    put_attributes(out, 9, &s.attributes);
    put_opt_varint(out, 10, u64::from(s.dropped_attributes_count));
    for e in &s.events.events {
        put_nested(out, 11, event_len(e));
        put_event(out, e);
    }
    put_opt_varint(out, 12, u64::from(s.events.dropped_count));
    for (l, st) in s.links.links.iter().zip(&p.link_states) {
        put_nested(out, 13, link_len(l, st));
        put_link(out, l, st);
    }
    put_opt_varint(out, 14, u64::from(s.links.dropped_count));
    let (message, code) = status_parts(&s.status);
    put_nested(out, 15, status_len(&s.status));
    put_opt_bytes(out, 2, message.as_bytes());
    put_opt_varint(out, 3, code);
    put_opt_fixed32(out, 16, flags(&s.span_context, s.parent_span_is_remote));
}

// ---- the request ----

/// Whether two scopes are equal; spans of one tracer share the name's and
/// version's static text, which settles it without comparing bytes.
fn same_scope(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    let same_text = |x: Option<&str>, y: Option<&str>| match (x, y) {
        (None, None) => true,
        (Some(x), Some(y)) => std::ptr::eq(x, y),
        _ => false,
    };
    let shared = std::ptr::eq(a.name(), b.name())
        && same_text(a.version(), b.version())
        && same_text(a.schema_url(), b.schema_url())
        && a.attributes().next().is_none()
        && b.attributes().next().is_none();
    shared || a == b
}

/// Appends `span` as a `ScopeSpans.spans` entry (field 2, its length
/// first) to `out`: the form [`encode_request`] puts together. A span
/// processor can encode each span as it ends, on its own thread, and hand
/// over bytes instead of the span.
pub fn put_span_entry(out: &mut Vec<u8>, span: &SpanData) {
    let prepared = prepare(span);
    out.reserve(nested_len(2, prepared.len));
    put_nested(out, 2, prepared.len);
    put_span(out, span, &prepared);
}

/// Spans of one instrumentation scope, already encoded by
/// [`put_span_entry`] one after the other.
#[derive(Debug, Clone, Copy)]
pub struct ScopeEntries<'a> {
    pub scope: &'a InstrumentationScope,
    pub spans: &'a [u8],
}

/// Appends the `ExportTraceServiceRequest` of the resource and the scopes'
/// encoded spans to `out`.
pub fn encode_request(resource: &EncodedResource, scopes: &[ScopeEntries<'_>], out: &mut Vec<u8>) {
    // ScopeSpans: scope (1, always present), spans (2), schema URL (3).
    let scope_len_of = |e: &ScopeEntries<'_>| {
        nested_len(1, scope_len(e.scope))
            + e.spans.len()
            + opt_bytes_len(3, e.scope.schema_url().unwrap_or_default().as_bytes())
    };
    // ResourceSpans: resource (1, always present), scope spans (2), schema URL (3).
    let resource_spans_len = nested_len(1, resource.body.len())
        + scopes
            .iter()
            .map(|e| nested_len(2, scope_len_of(e)))
            .sum::<usize>()
        + opt_bytes_len(3, resource.schema_url.as_bytes());

    out.reserve(nested_len(1, resource_spans_len));
    put_nested(out, 1, resource_spans_len);
    put_bytes(out, 1, &resource.body);
    for e in scopes {
        put_nested(out, 2, scope_len_of(e));
        put_nested(out, 1, scope_len(e.scope));
        put_scope(out, e.scope);
        out.extend_from_slice(e.spans);
        put_opt_bytes(out, 3, e.scope.schema_url().unwrap_or_default().as_bytes());
    }
    put_opt_bytes(out, 3, resource.schema_url.as_bytes());
}

/// Spans grouped by instrumentation scope, in the order the scopes first
/// appear (one, almost always), each group's spans encoded in their order.
#[derive(Debug, Default)]
pub struct ScopeGroups {
    groups: Vec<(InstrumentationScope, Vec<u8>)>,
    spans: usize,
}

impl ScopeGroups {
    /// Adds the encoded span `entry` (from [`put_span_entry`]) of `scope`.
    pub fn push(&mut self, scope: &InstrumentationScope, entry: &[u8]) {
        match self.groups.iter_mut().find(|(s, _)| same_scope(s, scope)) {
            Some((_, bytes)) => bytes.extend_from_slice(entry),
            None => self.groups.push((scope.clone(), entry.to_vec())),
        }
        self.spans += 1;
    }

    /// How many spans were pushed.
    pub fn spans(&self) -> usize {
        self.spans
    }

    /// Appends the request of these spans to `out`.
    pub fn encode(&self, resource: &EncodedResource, out: &mut Vec<u8>) {
        let scopes: Vec<ScopeEntries<'_>> = self
            .groups
            .iter()
            .map(|(scope, spans)| ScopeEntries { scope, spans })
            .collect();
        encode_request(resource, &scopes, out);
    }
}

/// Appends the `ExportTraceServiceRequest` for `spans` to `out`.
pub fn encode_traces(resource: &EncodedResource, spans: &[SpanData], out: &mut Vec<u8>) {
    let mut groups = ScopeGroups::default();
    let mut entry = Vec::new();
    for span in spans {
        entry.clear();
        put_span_entry(&mut entry, span);
        groups.push(&span.instrumentation_scope, &entry);
    }
    groups.encode(resource, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Event, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::time::Duration;

    /// Empty, short, or long enough for two-byte lengths; some non-ASCII.
    fn text(rng: &mut StdRng) -> String {
        const CHARS: [char; 8] = ['a', 'z', '0', '.', '_', 'é', '✓', ' '];
        let len = match rng.random_range(0..10) {
            0 => 0,
            1 => rng.random_range(100..300),
            _ => rng.random_range(1..12),
        };
        (0..len)
            .map(|_| CHARS[rng.random_range(0..CHARS.len())])
            .collect()
    }

    fn finite(rng: &mut StdRng) -> f64 {
        match rng.random_range(0..4) {
            0 => 0.0,
            1 => -1.5e300,
            _ => rng.random_range(-1e6..1e6),
        }
    }

    fn int(rng: &mut StdRng) -> i64 {
        match rng.random_range(0..4) {
            0 => 0,
            1 => rng.random_range(-200..200),
            _ => rng.random(),
        }
    }

    fn value(rng: &mut StdRng) -> Value {
        let n = rng.random_range(0..4);
        match rng.random_range(0..8) {
            0 => Value::Bool(rng.random()),
            1 => Value::I64(int(rng)),
            2 => Value::F64(finite(rng)),
            3 => Value::Array(Array::Bool((0..n).map(|_| rng.random()).collect())),
            4 => Value::Array(Array::I64((0..n).map(|_| int(rng)).collect())),
            5 => Value::Array(Array::F64((0..n).map(|_| finite(rng)).collect())),
            6 => Value::Array(Array::String((0..n).map(|_| text(rng).into()).collect())),
            _ => Value::String(text(rng).into()),
        }
    }

    fn attributes(rng: &mut StdRng) -> Vec<KeyValue> {
        (0..rng.random_range(0..12))
            .map(|_| KeyValue::new(text(rng), value(rng)))
            .collect()
    }

    fn count(rng: &mut StdRng) -> u32 {
        if rng.random() { 0 } else { rng.random() }
    }

    fn time(rng: &mut StdRng) -> SystemTime {
        match rng.random_range(0..10) {
            0 => UNIX_EPOCH - Duration::from_secs(1),
            1 => UNIX_EPOCH,
            _ => UNIX_EPOCH + Duration::from_nanos(rng.random_range(0..u64::MAX / 2)),
        }
    }

    fn context(rng: &mut StdRng) -> SpanContext {
        let state = if rng.random_range(0..4) == 0 {
            TraceState::from_key_value([("vendor", "abc"), ("other", "x-1")]).unwrap()
        } else {
            TraceState::default()
        };
        SpanContext::new(
            TraceId::from(rng.random_range(1..u128::MAX)),
            SpanId::from(rng.random_range(1..u64::MAX)),
            if rng.random() {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            rng.random(),
            state,
        )
    }

    fn span(rng: &mut StdRng, scopes: &[InstrumentationScope]) -> SpanData {
        let kinds = [
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ];
        let mut events = SpanEvents::default();
        events.events = (0..rng.random_range(0..3))
            .map(|_| {
                let mut e = Event::new(text(rng), time(rng), attributes(rng), 0);
                e.dropped_attributes_count = count(rng);
                e
            })
            .collect();
        events.dropped_count = count(rng);
        let mut links = SpanLinks::default();
        links.links = (0..rng.random_range(0..3))
            .map(|_| Link::new(context(rng), attributes(rng), count(rng)))
            .collect();
        links.dropped_count = count(rng);
        SpanData {
            span_context: context(rng),
            parent_span_id: if rng.random() {
                SpanId::INVALID
            } else {
                SpanId::from(rng.random_range(1..u64::MAX))
            },
            parent_span_is_remote: rng.random(),
            span_kind: kinds[rng.random_range(0..kinds.len())].clone(),
            name: text(rng).into(),
            start_time: time(rng),
            end_time: time(rng),
            attributes: attributes(rng),
            dropped_attributes_count: count(rng),
            events,
            links,
            status: match rng.random_range(0..3) {
                0 => Status::Unset,
                1 => Status::Ok,
                _ => Status::error(text(rng)),
            },
            instrumentation_scope: scopes[rng.random_range(0..scopes.len())].clone(),
        }
    }

    fn scopes(rng: &mut StdRng) -> Vec<InstrumentationScope> {
        let mut all = vec![InstrumentationScope::builder("target-app").build()];
        for i in 0..rng.random_range(0..3) {
            let mut b = InstrumentationScope::builder(format!("scope-{i}"))
                .with_attributes(attributes(rng));
            if rng.random() {
                b = b.with_version(text(rng));
            }
            if rng.random() {
                b = b.with_schema_url(format!("https://opentelemetry.io/schemas/1.{i}.0"));
            }
            all.push(b.build());
        }
        all
    }

    fn resource(rng: &mut StdRng) -> Resource {
        let b = Resource::builder_empty().with_attributes(attributes(rng));
        if rng.random() {
            b.with_schema_url([], "https://opentelemetry.io/schemas/1.26.0")
                .build()
        } else {
            b.build()
        }
    }

    /// What the OTLP crate sends for the same spans.
    fn crates_request(resource: &Resource, spans: &[SpanData]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans.to_vec(),
                &ResourceAttributesWithSchema::from(resource),
            ),
        }
    }

    #[test]
    fn writes_the_bytes_the_otlp_crate_writes_and_they_decode_to_its_request() {
        let mut spans_seen = 0;
        for seed in 0..400 {
            let mut rng = StdRng::seed_from_u64(seed);
            let resource = resource(&mut rng);
            let scopes = scopes(&mut rng);
            let spans: Vec<SpanData> = (0..rng.random_range(0..16))
                .map(|_| span(&mut rng, &scopes))
                .collect();
            spans_seen += spans.len();
            let mut ours = Vec::new();
            encode_traces(&EncodedResource::new(&resource), &spans, &mut ours);
            let expected = crates_request(&resource, &spans);
            let decoded = ExportTraceServiceRequest::decode(ours.as_slice())
                .unwrap_or_else(|e| panic!("seed {seed}: does not decode: {e}"));
            if decoded != expected {
                let (a, b) = (format!("{decoded:?}"), format!("{expected:?}"));
                let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                let from = at.saturating_sub(300);
                panic!(
                    "seed {seed}: decodes differently at {at}:\n ours: {}\n crate: {}",
                    &a[from..(at + 200).min(a.len())],
                    &b[from..(at + 200).min(b.len())]
                );
            }
            let theirs = expected.encode_to_vec();
            let at = ours.iter().zip(&theirs).take_while(|(x, y)| x == y).count();
            assert!(
                ours == theirs,
                "seed {seed}: bytes differ from byte {at} (lengths {} and {}): {:?} {:?}",
                ours.len(),
                theirs.len(),
                &ours[at.saturating_sub(20)..(at + 20).min(ours.len())],
                &theirs[at.saturating_sub(20)..(at + 20).min(theirs.len())]
            );
        }
        assert!(spans_seen > 2000, "{spans_seen}");
    }

    #[test]
    fn appends_to_what_the_buffer_holds() {
        let mut rng = StdRng::seed_from_u64(7);
        let resource = resource(&mut rng);
        let scopes = scopes(&mut rng);
        let spans: Vec<SpanData> = (0..3).map(|_| span(&mut rng, &scopes)).collect();
        let mut out = b"head".to_vec();
        encode_traces(&EncodedResource::new(&resource), &spans, &mut out);
        assert_eq!(&out[..4], b"head");
        assert!(out[4..] == crates_request(&resource, &spans).encode_to_vec());
    }

    #[test]
    fn varint_lengths() {
        for (v, len) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::MAX, 10),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!((varint_len(v), out.len()), (len, len), "{v}");
        }
    }
}
