//! A request ready to send: everything but its `traceparent` is fixed, so a
//! request without templates is built once for the whole run. Over HTTP/1.1
//! its head is encoded once, with a slot where each request's
//! `traceparent` is copied in; over HTTP/2 hyper is given the same method,
//! target, headers and (shared) body.
//!
//! A send may add `extra` headers to one request (a cookie jar's `cookie`):
//! over HTTP/1.1 they are written into the head's copy before its final
//! CRLF (nothing is allocated when there are none), over HTTP/2 added to
//! hyper's request. Each is sent after the prepared headers, even under the
//! same name, with one exception: `cookie` values are joined with `; ` to
//! the request's own `cookie` field (one line, as RFC 6265 asks of a
//! client). Extra headers are not framing: a `content-length`,
//! `transfer-encoding` or `connection` among them is sent as it is and
//! changes nothing of how the request is framed or the connection reused.

use http::header::{
    CONNECTION, CONTENT_LENGTH, COOKIE, HOST, HeaderName, HeaderValue, TRANSFER_ENCODING,
    USER_AGENT,
};
use http::{HeaderMap, Method, Uri};
use hyper::body::Bytes;

use super::Target;

/// The `user-agent` of every request.
pub const AGENT: &str = concat!("loadgen/", env!("CARGO_PKG_VERSION"));

/// Bytes of a W3C `traceparent` value: `00-` trace id `-` span id `-01`.
pub const TRACEPARENT_LEN: usize = 55;

/// A `traceparent` value, formatted without allocating.
pub type Traceparent = [u8; TRACEPARENT_LEN];

/// The sampled `traceparent` of a trace and span id.
pub fn traceparent(trace_id: u128, span_id: u64) -> Traceparent {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-01";
    for (i, b) in out[3..35].iter_mut().enumerate() {
        *b = HEX[((trace_id >> (124 - 4 * i)) & 0xf) as usize];
    }
    for (i, b) in out[36..52].iter_mut().enumerate() {
        *b = HEX[((span_id >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// A request without its `traceparent`.
#[derive(Debug, Clone)]
pub struct Prepared {
    method: Method,
    /// Origin form (`/path?query`).
    uri: Uri,
    /// `user-agent`, then the plan's and the request's headers, in order.
    headers: HeaderMap,
    body: Bytes,
    /// The HTTP/1.1 head, its `traceparent` value zeroed.
    head: Vec<u8>,
    /// Where the `traceparent` value starts in `head`.
    traceparent_at: usize,
    /// Where the value of the last `cookie` line ends in `head` (before its
    /// CRLF), if the request has one: extra cookies are joined to it.
    cookie_end: Option<usize>,
    /// The body as it goes on the wire over HTTP/1.1 (chunked when a
    /// `transfer-encoding` header asks for it).
    wire_body: Bytes,
    /// The request says `connection: close`.
    close: bool,
}

impl Prepared {
    /// A request to `uri` (origin form, from [`Target::uri`]) with `headers`
    /// after the `user-agent`. Over HTTP/1.1, `host` is the target's
    /// authority unless `headers` set one; `content-length` is added for a
    /// non-empty body unless `headers` set it (as hyper does).
    pub fn new(
        target: &Target,
        method: Method,
        uri: Uri,
        headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Self {
        let mut map = HeaderMap::new();
        map.append(USER_AGENT, HeaderValue::from_static(AGENT));
        for (k, v) in headers {
            map.append(k, v);
        }
        // A `transfer-encoding` the scenario sets frames the body as chunked
        // (the last coding must be chunked: it is added when missing) and
        // rules out `content-length` (RFC 9112, 6.1 and 6.3), as hyper does.
        let chunked = map.contains_key(TRANSFER_ENCODING);
        if chunked {
            map.remove(CONTENT_LENGTH);
            let last_is_chunked = map
                .get_all(TRANSFER_ENCODING)
                .iter()
                .next_back()
                .and_then(|v| v.as_bytes().rsplit(|b| *b == b',').next())
                .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            if !last_is_chunked {
                map.append(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            }
        }
        // A request that asks the server to close is not followed by another
        // on the same connection, whatever the response says.
        let close = map.get_all(CONNECTION).iter().any(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        });
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = Vec::with_capacity(128 + path.len() + 64 * map.len());
        head.extend_from_slice(method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(path.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\n");
        if !map.contains_key(HOST) {
            put(&mut head, HOST.as_str(), target.authority.as_bytes());
        }
        let mut traceparent_at = 0;
        let mut cookie_end = None;
        let mut first = true;
        for (k, v) in &map {
            put(&mut head, k.as_str(), v.as_bytes());
            if k == COOKIE {
                cookie_end = Some(head.len() - 2);
            }
            if first {
                // Right after the user-agent, as the request used to be built.
                first = false;
                head.extend_from_slice(b"traceparent: ");
                traceparent_at = head.len();
                head.extend_from_slice(&[b'0'; TRACEPARENT_LEN]);
                head.extend_from_slice(b"\r\n");
            }
        }
        let wire_body = if chunked && body.is_empty() {
            // Only the last chunk: the server reads an empty body.
            Bytes::from_static(b"0\r\n\r\n")
        } else if chunked {
            let mut b = format!("{:x}\r\n", body.len()).into_bytes();
            b.extend_from_slice(&body);
            b.extend_from_slice(b"\r\n0\r\n\r\n");
            Bytes::from(b)
        } else {
            body.clone()
        };
        if !body.is_empty() && !chunked && !map.contains_key(CONTENT_LENGTH) {
            put(
                &mut head,
                CONTENT_LENGTH.as_str(),
                body.len().to_string().as_bytes(),
            );
        }
        head.extend_from_slice(b"\r\n");
        Prepared {
            method,
            uri,
            headers: map,
            body,
            head,
            traceparent_at,
            cookie_end,
            wire_body,
            close,
        }
    }

    /// Whether the request asks the server to close the connection after it.
    pub(super) fn closes(&self) -> bool {
        self.close
    }

    /// The request target (origin form).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Whether the response has no body whatever its headers say.
    pub(super) fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    /// The HTTP/1.1 head with `traceparent` filled in and `extra` headers
    /// added, and the body, into `out` (the body only when it is small;
    /// otherwise it is returned to be written on its own).
    pub(super) fn encode_h1<'a>(
        &'a self,
        tp: &Traceparent,
        extra: &[(HeaderName, HeaderValue)],
        out: &mut Vec<u8>,
    ) -> Option<&'a [u8]> {
        out.clear();
        out.extend_from_slice(&self.head);
        if let Some(slot) = out.get_mut(self.traceparent_at..self.traceparent_at + TRACEPARENT_LEN)
        {
            slot.copy_from_slice(tp);
        }
        if !extra.is_empty() {
            // Before the head's final CRLF.
            out.truncate(out.len().saturating_sub(2));
            let joined = self
                .cookie_end
                .filter(|_| extra.iter().any(|(k, _)| k == COOKIE));
            if let Some(at) = joined {
                // The extra cookies go at the end of the request's own
                // `cookie` line (after the traceparent slot, filled above).
                out.truncate(at);
                for (_, v) in extra.iter().filter(|(k, _)| k == COOKIE) {
                    out.extend_from_slice(b"; ");
                    out.extend_from_slice(v.as_bytes());
                }
                let rest = self.head.len().saturating_sub(2);
                out.extend_from_slice(self.head.get(at..rest).unwrap_or_default());
            }
            for (k, v) in extra {
                if joined.is_none() || k != COOKIE {
                    put(out, k.as_str(), v.as_bytes());
                }
            }
            out.extend_from_slice(b"\r\n");
        }
        if self.wire_body.len() <= 16 * 1024 {
            out.extend_from_slice(&self.wire_body);
            None
        } else {
            Some(&self.wire_body)
        }
    }

    /// The request as hyper's HTTP/2 client takes it (absolute URI).
    pub(super) fn to_h2(
        &self,
        target: &Target,
        tp: &Traceparent,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<http::Request<http_body_util::Full<Bytes>>, super::SendError> {
        let mut request = http::Request::new(http_body_util::Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = target.absolute(self.uri.clone())?;
        let headers = request.headers_mut();
        headers.reserve(self.headers.len() + 1);
        let mut first = true;
        for (k, v) in &self.headers {
            headers.append(k.clone(), v.clone());
            if first {
                first = false;
                if let Ok(v) = HeaderValue::from_bytes(tp) {
                    headers.append(HeaderName::from_static("traceparent"), v);
                }
            }
        }
        let own_cookie = self.headers.contains_key(COOKIE);
        for (k, v) in extra {
            if k == COOKIE && own_cookie {
                join_cookie(headers, v);
            } else {
                headers.append(k.clone(), v.clone());
            }
        }
        Ok(request)
    }
}

/// Joins `extra` with `; ` to the last `cookie` value of `headers`.
fn join_cookie(headers: &mut HeaderMap, extra: &HeaderValue) {
    if let http::header::Entry::Occupied(mut e) = headers.entry(COOKIE) {
        let mut values: Vec<HeaderValue> = e.iter().cloned().collect();
        if let Some(last) = values.last_mut() {
            let mut v = Vec::with_capacity(last.len() + 2 + extra.len());
            v.extend_from_slice(last.as_bytes());
            v.extend_from_slice(b"; ");
            v.extend_from_slice(extra.as_bytes());
            // Both parts are valid values, and so is their join.
            if let Ok(joined) = HeaderValue::from_bytes(&v) {
                *last = joined;
            }
        }
        let mut values = values.into_iter();
        if let Some(first) = values.next() {
            e.insert(first);
            for v in values {
                e.append(v);
            }
        }
    }
}

/// Appends one header line.
fn put(head: &mut Vec<u8>, name: &str, value: &[u8]) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_the_w3c_format() {
        let tp = traceparent(0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331);
        assert_eq!(
            std::str::from_utf8(&tp).unwrap(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        let tp = traceparent(1, u64::MAX);
        assert_eq!(
            std::str::from_utf8(&tp).unwrap(),
            format!("00-{:032x}-{:016x}-01", 1u128, u64::MAX)
        );
    }

    #[test]
    fn the_head_is_encoded_once_with_a_traceparent_slot() {
        let t = Target::parse("http://127.0.0.1:8080/api").unwrap();
        let p = Prepared::new(
            &t,
            Method::POST,
            t.uri("/x?y=1").unwrap(),
            [(
                HeaderName::from_static("x-a"),
                HeaderValue::from_static("1"),
            )],
            Bytes::from_static(b"{}"),
        );
        let tp = traceparent(7, 9);
        let mut out = Vec::new();
        assert!(p.encode_h1(&tp, &[], &mut out).is_none());
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            format!(
                "POST /api/x?y=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nuser-agent: {AGENT}\r\n\
                 traceparent: 00-{:032x}-{:016x}-01\r\nx-a: 1\r\ncontent-length: 2\r\n\r\n{{}}",
                7u128, 9u64
            )
        );
        // A Host the scenario sets is kept; an empty body has no length;
        // HTTP/2 gets the same headers and an absolute URI.
        let p = Prepared::new(
            &t,
            Method::GET,
            t.uri("/").unwrap(),
            [(HOST, HeaderValue::from_static("vhost"))],
            Bytes::new(),
        );
        let mut out = Vec::new();
        p.encode_h1(&tp, &[], &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("host: vhost\r\n"), "{text}");
        assert!(!text.contains("127.0.0.1"), "{text}");
        assert!(!text.contains("content-length"), "{text}");
        let r = p.to_h2(&t, &tp, &[]).unwrap();
        assert_eq!(r.uri(), "http://127.0.0.1:8080/api/");
        assert_eq!(r.headers()["traceparent"].as_bytes(), &tp[..]);
        assert_eq!(r.headers()["host"], "vhost");
    }

    /// Extra headers go before the head's final CRLF, for one request only;
    /// extra cookies join the request's own `cookie` line (over HTTP/1.1 and
    /// HTTP/2), or make one of their own when it has none.
    #[test]
    fn extra_headers_are_added_to_one_request() {
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        let h = |n: &'static str, v: &'static str| {
            (HeaderName::from_static(n), HeaderValue::from_static(v))
        };
        let tp = traceparent(7, 9);
        let text = |p: &Prepared, extra: &[(HeaderName, HeaderValue)]| {
            let mut out = Vec::new();
            assert!(p.encode_h1(&tp, extra, &mut out).is_none());
            String::from_utf8(out).unwrap()
        };
        let own = Prepared::new(
            &t,
            Method::POST,
            t.uri("/").unwrap(),
            [h("cookie", "theme=dark"), h("x-a", "1")],
            Bytes::from_static(b"{}"),
        );
        let plain = text(&own, &[]);
        let extra = [h("cookie", "sid=abc"), h("x-b", "2"), h("cookie", "n=1")];
        let with = text(&own, &extra);
        assert_eq!(
            with,
            plain
                .replace("theme=dark", "theme=dark; sid=abc; n=1")
                .replace("\r\n\r\n{}", "\r\nx-b: 2\r\n\r\n{}"),
        );
        assert!(
            with.contains(&format!("traceparent: 00-{:032x}-", 7u128)),
            "{with}"
        );
        assert_eq!(with.matches("cookie:").count(), 1, "{with}");
        // The next request without extra headers is as before.
        assert_eq!(text(&own, &[]), plain);
        // Without a cookie of its own, the extra cookie is a line of its own.
        let none = Prepared::new(&t, Method::GET, t.uri("/").unwrap(), [], Bytes::new());
        let with = text(&none, &[h("cookie", "sid=abc")]);
        assert_eq!(
            with,
            text(&none, &[]).replace("\r\n\r\n", "\r\ncookie: sid=abc\r\n\r\n")
        );
        // HTTP/2: the same headers, cookies joined into one field.
        let r = own.to_h2(&t, &tp, &extra).unwrap();
        let cookies: Vec<_> = r.headers().get_all(COOKIE).iter().collect();
        assert_eq!(cookies, ["theme=dark; sid=abc; n=1"]);
        assert_eq!(r.headers()["x-b"], "2");
        assert_eq!(r.headers()["x-a"], "1");
        let r = none.to_h2(&t, &tp, &[h("cookie", "sid=abc")]).unwrap();
        assert_eq!(r.headers()["cookie"], "sid=abc");
    }

    #[test]
    fn a_transfer_encoding_frames_the_body_as_chunked() {
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        let te = |v: &'static str| (TRANSFER_ENCODING, HeaderValue::from_static(v));
        let cl = (CONTENT_LENGTH, HeaderValue::from_static("3"));
        let head = |p: &Prepared| String::from_utf8(p.head.clone()).unwrap();
        // An empty body is still framed: only the last chunk.
        let p = Prepared::new(
            &t,
            Method::GET,
            t.uri("/").unwrap(),
            [te("chunked")],
            Bytes::new(),
        );
        assert_eq!(&p.wire_body[..], b"0\r\n\r\n");
        assert!(
            head(&p).contains("transfer-encoding: chunked\r\n"),
            "{}",
            head(&p)
        );
        // A final coding other than chunked gets chunked after it, and a
        // content-length the scenario set is not sent along with it.
        let body = Bytes::from_static(b"abc");
        let p = Prepared::new(
            &t,
            Method::POST,
            t.uri("/").unwrap(),
            [te("gzip"), cl],
            body,
        );
        let h = head(&p);
        assert!(
            h.contains("transfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n"),
            "{h}"
        );
        assert!(!h.contains("content-length"), "{h}");
        assert_eq!(&p.wire_body[..], b"3\r\nabc\r\n0\r\n\r\n");
        assert!(!p.closes());
    }

    #[test]
    fn a_request_that_says_close_is_known() {
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        let close = (CONNECTION, HeaderValue::from_static("keep-alive, Close"));
        let p = Prepared::new(&t, Method::GET, t.uri("/").unwrap(), [close], Bytes::new());
        assert!(p.closes());
        let p = Prepared::new(&t, Method::GET, t.uri("/").unwrap(), [], Bytes::new());
        assert!(!p.closes());
    }
}
