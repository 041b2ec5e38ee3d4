//! The receiver's endpoints, per the OTLP specification: `POST /v1/traces`
//! with an `application/x-protobuf` or `application/json` body (gzip or
//! not), and the gRPC `TraceService/Export` on the same listener.
//!
//! Answers: 200 with an `ExportTraceServiceResponse` (its partial success
//! counting the spans not kept), 400 for a body that does not decode, 413
//! over the body cap (checked on `Content-Length`, while reading, and after
//! gunzip), 415 for another content type or encoding. Error bodies are a
//! `google.rpc.Status` in the request's format.

use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt as _;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

use super::Shared;
use super::convert::{Converted, convert};

/// The gRPC method's path.
pub const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// Bodies up to this size are decoded on the runtime's thread; larger ones
/// (and every gzip body) on the blocking pool.
const INLINE_BYTES: usize = 256 * 1024;
/// Spans in a gRPC request converted on the runtime's thread.
const INLINE_SPANS: usize = 2_000;

/// The endpoints over `shared`.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    let grpc =
        TraceServiceServer::new(Grpc(shared.clone())).max_decoding_message_size(shared.max_body);
    Router::new()
        .route("/v1/traces", post(http_export))
        .route_service(GRPC_EXPORT, grpc)
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found: OTLP traces go to POST /v1/traces (HTTP) or TraceService/Export (gRPC)\n",
    )
        .into_response()
}

/// `google.rpc.Status`, the OTLP error body.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC codes of the refusals.
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

/// Why a body was refused.
#[derive(Debug)]
enum Refusal {
    TooLarge(usize),
    Undecodable(String),
}

/// The media type, without parameters, lower case.
fn media_type(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?;
    Some(
        v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

fn format_of(headers: &HeaderMap) -> Result<Format, String> {
    match media_type(headers, header::CONTENT_TYPE).as_deref() {
        Some("application/x-protobuf" | "application/protobuf") => Ok(Format::Protobuf),
        Some("application/json") => Ok(Format::Json),
        Some(other) => Err(format!(
            "unsupported content type {other:?}: OTLP/HTTP takes application/x-protobuf or application/json\n"
        )),
        None => Err(
            "no content type: OTLP/HTTP takes application/x-protobuf or application/json\n"
                .to_owned(),
        ),
    }
}

/// Whether the body is gzip; `Err` for an encoding not supported.
fn gzip_of(headers: &HeaderMap) -> Result<bool, String> {
    match media_type(headers, header::CONTENT_ENCODING).as_deref() {
        None | Some("" | "identity") => Ok(false),
        Some("gzip") => Ok(true),
        Some(other) => Err(format!(
            "unsupported content encoding {other:?}: send gzip or none\n"
        )),
    }
}

fn encode<M: prost::Message + serde::Serialize>(
    format: Format,
    msg: &M,
) -> (&'static str, Vec<u8>) {
    match format {
        Format::Protobuf => ("application/x-protobuf", msg.encode_to_vec()),
        // Serializing these plain structs to a Vec cannot fail.
        Format::Json => (
            "application/json",
            serde_json::to_vec(msg).unwrap_or_default(),
        ),
    }
}

fn refuse(format: Format, refusal: &Refusal) -> Response {
    let (status, code, message) = match refusal {
        Refusal::TooLarge(max) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            RESOURCE_EXHAUSTED,
            format!("the body is over {max} bytes: send smaller batches"),
        ),
        Refusal::Undecodable(why) => (
            StatusCode::BAD_REQUEST,
            INVALID_ARGUMENT,
            format!("the body is not an OTLP ExportTraceServiceRequest: {why}"),
        ),
    };
    let (ct, body) = encode(format, &RpcStatus { code, message });
    (status, [(header::CONTENT_TYPE, ct)], body).into_response()
}

fn partial_success(c: &Converted) -> Option<ExportTracePartialSuccess> {
    let rejected = c.rejected();
    (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: format!(
            "{} spans not kept: {} of traces this receiver does not keep, {} with invalid ids",
            rejected, c.foreign, c.invalid
        ),
    })
}

async fn read(body: Body, max: usize) -> Result<Bytes, Refusal> {
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Refusal::TooLarge(max))
        }
        Err(e) => Err(Refusal::Undecodable(format!("reading it failed: {e}"))),
    }
}

fn gunzip(raw: &[u8], max: usize) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Refusal::Undecodable(format!("gzip: {e}")))?;
    if out.len() > max {
        return Err(Refusal::TooLarge(max));
    }
    Ok(out)
}

/// A received body, decoded and converted; the export as protobuf when it
/// is to be forwarded.
struct Decoded {
    converted: Converted,
    forward: Option<Bytes>,
}

fn decode(
    format: Format,
    gzip: bool,
    raw: Bytes,
    shared: &Shared,
    forwarding: bool,
) -> Result<Decoded, Refusal> {
    let plain: Bytes = if gzip {
        gunzip(&raw, shared.max_body)?.into()
    } else {
        raw
    };
    let req = match format {
        Format::Protobuf => ExportTraceServiceRequest::decode(plain.clone())
            .map_err(|e| Refusal::Undecodable(e.to_string()))?,
        Format::Json => serde_json::from_slice::<ExportTraceServiceRequest>(&plain)
            .map_err(|e| Refusal::Undecodable(e.to_string()))?,
    };
    let forward = forwarding.then(|| match format {
        Format::Protobuf => plain,
        Format::Json => req.encode_to_vec().into(),
    });
    Ok(Decoded {
        converted: convert(req, shared.keep),
        forward,
    })
}

async fn http_export(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let format = match format_of(&headers) {
        Ok(f) => f,
        Err(msg) => {
            shared.bad();
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, msg).into_response();
        }
    };
    let gzip = match gzip_of(&headers) {
        Ok(g) => g,
        Err(msg) => {
            shared.bad();
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, msg).into_response();
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.max_body as u64) {
        shared.bad();
        return refuse(format, &Refusal::TooLarge(shared.max_body));
    }
    let raw = match read(body, shared.max_body).await {
        Ok(b) => b,
        Err(r) => {
            shared.bad();
            return refuse(format, &r);
        }
    };
    let forwarding = shared.forwarding();
    let decoded = if gzip || raw.len() > INLINE_BYTES {
        let sh = shared.clone();
        tokio::task::spawn_blocking(move || decode(format, gzip, raw, &sh, forwarding))
            .await
            .unwrap_or_else(|e| Err(Refusal::Undecodable(format!("decoding failed: {e}"))))
    } else {
        decode(format, gzip, raw, &shared, forwarding)
    };
    let Decoded { converted, forward } = match decoded {
        Ok(d) => d,
        Err(r) => {
            shared.bad();
            return refuse(format, &r);
        }
    };
    let answer = ExportTraceServiceResponse {
        partial_success: partial_success(&converted),
    };
    shared.record(converted);
    if let Some(body) = forward {
        shared.forward(body);
    }
    let (ct, body) = encode(format, &answer);
    (StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response()
}

/// The gRPC service.
struct Grpc(Arc<Shared>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let shared = self.0.clone();
        shared.requests.fetch_add(1, Ordering::Relaxed);
        let req = request.into_inner();
        let forwarding = shared.forwarding();
        let spans: usize = req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let keep = shared.keep;
        let work = move || {
            let forward = forwarding.then(|| Bytes::from(req.encode_to_vec()));
            (convert(req, keep), forward)
        };
        let (converted, forward) = if spans > INLINE_SPANS {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|e| tonic::Status::internal(format!("converting failed: {e}")))?
        } else {
            work()
        };
        let answer = ExportTraceServiceResponse {
            partial_success: partial_success(&converted),
        };
        shared.record(converted);
        if let Some(body) = forward {
            shared.forward(body);
        }
        Ok(tonic::Response::new(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn content_types_and_encodings() {
        let ct = |v| format_of(&headers(&[(header::CONTENT_TYPE, v)]));
        assert_eq!(ct("application/x-protobuf").unwrap(), Format::Protobuf);
        assert_eq!(ct("Application/JSON; charset=utf-8").unwrap(), Format::Json);
        assert!(ct("text/plain").unwrap_err().contains("\"text/plain\""));
        assert!(format_of(&HeaderMap::new()).is_err());
        let ce = |v| gzip_of(&headers(&[(header::CONTENT_ENCODING, v)]));
        assert!(ce("gzip").unwrap());
        assert!(!ce("identity").unwrap());
        assert!(ce("br").is_err());
    }

    #[test]
    fn gunzip_is_capped() {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![0u8; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 10_000).unwrap().len(), 10_000);
        assert!(matches!(gunzip(&gz, 9_999), Err(Refusal::TooLarge(9_999))));
        assert!(matches!(gunzip(b"nope", 100), Err(Refusal::Undecodable(_))));
    }
}
