//! HTTP/1.1 on one connection (plain TCP or TLS), without a connection
//! task: the user writes its request's pre-encoded head and body, then
//! reads the response into a reused buffer and parses it with `httparse`.
//! The body is counted and dropped, unless the request asks to keep it
//! ([`Keep`]): then its first [`MAX_KEPT_BODY`] bytes (after chunked
//! decoding) are copied out as they are read, as are the header fields.
//!
//! The response's framing follows RFC 9112: no body after HEAD, 1xx, 204
//! and 304; a final `chunked` transfer coding (chunk extensions and
//! trailers are read and ignored); else `content-length`; else the body
//! runs to the end of the connection. Interim 1xx responses are skipped.
//! A connection is used again only after a complete HTTP/1.1 response that
//! did not say `connection: close` and was not read to the close.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, Version};
use httparse::Status;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::request::{Prepared, Traceparent};
use super::{Keep, Kept, KeptBody, MAX_KEPT_BODY, SendError, tls};

/// The largest response head (status line and header fields), and the
/// largest chunk-size line or trailer section.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields a response head may have.
const MAX_HEADERS: usize = 128;
/// The read buffer's first size; it grows (up to twice [`MAX_HEAD`]) only
/// for a head that does not fit.
const READ_BUF: usize = 8 * 1024;

/// The byte stream of a connection.
pub enum Io {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The reason for an incomplete response.
pub const INCOMPLETE: &str = "connection closed before the response was complete";

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid response: {0}")]
    Invalid(String),
    #[error("invalid response: the {0} is larger than 64 KiB")]
    TooLarge(&'static str),
    #[error("{INCOMPLETE}")]
    Incomplete,
}

/// Where the parser is in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    /// Body bytes left (content-length).
    Length(u64),
    ChunkSize,
    /// Bytes left in the current chunk.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    Trailers,
    /// The body runs to the end of the connection.
    UntilClose,
    Done,
}

/// A complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub version: Version,
    pub body_bytes: u64,
    /// The connection may carry the next request.
    pub reusable: bool,
}

/// What a parser keeps of the response, as [`Keep`] asks.
#[derive(Debug)]
struct Keeping {
    keep: Keep,
    headers: HeaderMap,
    body: KeptBody,
}

/// An incremental HTTP/1.x response parser that keeps no body bytes unless
/// asked to ([`Parser::keeping`]).
#[derive(Debug)]
pub struct Parser {
    head_request: bool,
    state: State,
    status: u16,
    version: Version,
    keep_alive: bool,
    body_bytes: u64,
    trailer_bytes: usize,
    /// `None` when nothing is kept (the default: no allocation).
    kept: Option<Keeping>,
}

impl Parser {
    /// A parser for the response to a request (`head_request`: HEAD).
    pub fn new(head_request: bool) -> Self {
        Parser {
            head_request,
            state: State::Head,
            status: 0,
            version: Version::HTTP_11,
            keep_alive: false,
            body_bytes: 0,
            trailer_bytes: 0,
            kept: None,
        }
    }

    /// A parser that also keeps what `keep` asks for (see [`Parser::take_kept`]).
    pub fn keeping(head_request: bool, keep: Keep) -> Self {
        let mut parser = Self::new(head_request);
        if keep.any() {
            parser.kept = Some(Keeping {
                keep,
                headers: HeaderMap::new(),
                body: KeptBody::default(),
            });
        }
        parser
    }

    /// What was kept, once the response is complete: `None` unless the
    /// parser was made [`Parser::keeping`] something.
    pub fn take_kept(&mut self) -> Option<Box<Kept>> {
        let k = self.kept.take()?;
        Some(Box::new(Kept {
            headers: k.headers,
            body: k.body.bytes.into(),
            body_truncated: k.body.truncated,
        }))
    }

    /// Keeps `data`, bytes of the decoded body, if the body is kept.
    fn keep_body(&mut self, data: &[u8]) {
        if let Some(k) = self.kept.as_mut().filter(|k| k.keep.body) {
            k.body.push(data);
        }
    }

    /// Consumes what it can of `buf`; returns how many bytes it used. The
    /// rest (a part of a head, chunk-size line or trailer) must be given
    /// again with more bytes after it.
    pub fn feed(&mut self, buf: &[u8]) -> Result<usize, ParseError> {
        let mut pos = 0;
        loop {
            let rest = buf.get(pos..).unwrap_or_default();
            match self.state {
                State::Done => return Ok(pos),
                State::Head => {
                    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let mut resp = httparse::Response::new(&mut headers);
                    match resp.parse(rest) {
                        Ok(Status::Complete(n)) if n > MAX_HEAD => {
                            return Err(ParseError::TooLarge("response head"));
                        }
                        Ok(Status::Complete(n)) => {
                            pos += n;
                            self.on_head(&resp)?;
                        }
                        Ok(Status::Partial) if rest.len() > MAX_HEAD => {
                            return Err(ParseError::TooLarge("response head"));
                        }
                        Ok(Status::Partial) => return Ok(pos),
                        Err(httparse::Error::TooManyHeaders) => {
                            return Err(ParseError::Invalid(format!(
                                "more than {MAX_HEADERS} header fields"
                            )));
                        }
                        Err(e) => return Err(ParseError::Invalid(e.to_string())),
                    }
                }
                State::Length(0) => self.state = State::Done,
                State::Length(left) | State::ChunkData(left) => {
                    let take = left.min(rest.len() as u64);
                    if take == 0 {
                        return Ok(pos);
                    }
                    // `take` is at most `rest.len()`, a usize.
                    self.keep_body(rest.get(..take as usize).unwrap_or_default());
                    pos += take as usize;
                    self.body_bytes = self.body_bytes.saturating_add(take);
                    self.state = match self.state {
                        State::Length(_) => State::Length(left - take),
                        _ if left == take => State::ChunkEnd,
                        _ => State::ChunkData(left - take),
                    };
                }
                State::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(Status::Complete((n, size))) => {
                        pos += n;
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::ChunkData(size)
                        };
                    }
                    Ok(Status::Partial) if rest.len() > MAX_HEAD => {
                        return Err(ParseError::TooLarge("chunk-size line"));
                    }
                    Ok(Status::Partial) => return Ok(pos),
                    Err(_) => return Err(ParseError::Invalid("invalid chunk size".into())),
                },
                State::ChunkEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok(pos),
                    _ => {
                        return Err(ParseError::Invalid(
                            "chunk data longer than its size".into(),
                        ));
                    }
                },
                State::Trailers => match rest.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        pos += 2;
                        self.state = State::Done;
                    }
                    Some(i) => {
                        // A trailer field, read and ignored.
                        pos += i + 2;
                        self.trailer_bytes = self.trailer_bytes.saturating_add(i + 2);
                        if self.trailer_bytes > MAX_HEAD {
                            return Err(ParseError::TooLarge("trailer section"));
                        }
                    }
                    None if self.trailer_bytes.saturating_add(rest.len()) > MAX_HEAD => {
                        return Err(ParseError::TooLarge("trailer section"));
                    }
                    None => return Ok(pos),
                },
                State::UntilClose => {
                    self.keep_body(rest);
                    self.body_bytes = self.body_bytes.saturating_add(rest.len() as u64);
                    return Ok(buf.len());
                }
            }
        }
    }

    /// The connection ended (no more bytes will come).
    pub fn eof(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            State::Done => Ok(()),
            _ => Err(ParseError::Incomplete),
        }
    }

    /// The response, once it is complete.
    pub fn response(&self) -> Option<Response> {
        (self.state == State::Done).then_some(Response {
            status: self.status,
            version: self.version,
            body_bytes: self.body_bytes,
            reusable: self.keep_alive,
        })
    }

    /// Takes in a parsed head: interim responses are skipped; otherwise the
    /// body's framing and the connection's reuse are decided.
    fn on_head(&mut self, resp: &httparse::Response<'_, '_>) -> Result<(), ParseError> {
        let status = resp.code.unwrap_or(0);
        self.status = status;
        self.version = match resp.version {
            Some(0) => Version::HTTP_10,
            _ => Version::HTTP_11,
        };
        if (100..200).contains(&status) && status != 101 {
            return Ok(());
        }
        if let Some(k) = self.kept.as_mut().filter(|k| k.keep.headers) {
            k.headers.reserve(resp.headers.len());
            for h in resp.headers.iter() {
                // A field `http` cannot hold is left out, not an error.
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(h.name.as_bytes()),
                    HeaderValue::from_bytes(h.value),
                ) {
                    k.headers.append(name, value);
                }
            }
        }
        let mut length: Option<u64> = None;
        let mut coded = false;
        let mut chunked = false;
        let mut close = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                for part in h.value.split(|b| *b == b',') {
                    let n = std::str::from_utf8(part)
                        .ok()
                        .map(str::trim)
                        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| ParseError::Invalid("invalid content-length".into()))?;
                    if length.is_some_and(|l| l != n) {
                        return Err(ParseError::Invalid(
                            "content-length values that disagree".into(),
                        ));
                    }
                    length = Some(n);
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                coded = true;
                // Only the last coding counts: chunked must come last.
                chunked = h
                    .value
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if h.name.eq_ignore_ascii_case("connection") {
                close |= h
                    .value
                    .split(|b| *b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            }
        }
        self.keep_alive = self.version == Version::HTTP_11 && !close && status != 101;
        self.state = if self.head_request || matches!(status, 101 | 204 | 304) {
            State::Done
        } else if coded && chunked {
            State::ChunkSize
        } else if coded {
            State::UntilClose
        } else if let Some(n) = length {
            State::Length(n)
        } else {
            State::UntilClose
        };
        if self.state == State::UntilClose {
            self.keep_alive = false;
        }
        if let (State::Length(n), Some(k)) = (self.state, self.kept.as_mut())
            && k.keep.body
        {
            // The declared length, up to the cap: one allocation for the body.
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(MAX_KEPT_BODY);
            k.body.bytes.reserve_exact(n);
        }
        Ok(())
    }
}

/// An open HTTP/1.1 connection and its buffers.
pub struct H1 {
    io: Io,
    read: Vec<u8>,
    write: Vec<u8>,
}

impl H1 {
    pub fn new(io: Io) -> Self {
        H1 {
            io,
            read: Vec::new(),
            write: Vec::new(),
        }
    }

    /// Whether the server closed the connection (or sent bytes nobody asked
    /// for) while it was idle: one read attempt that does not wait.
    pub fn closed_while_idle(&mut self) -> bool {
        let mut probe = [0u8; 64];
        let mut buf = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // Pending: nothing to read, the connection is open and quiet.
        Pin::new(&mut self.io)
            .poll_read(&mut cx, &mut buf)
            .is_ready()
    }

    /// Sends a request (with `extra` headers) and reads its response, and
    /// what `keep` asks to keep of it. After an error the connection is not
    /// to be used again.
    pub async fn exchange(
        &mut self,
        request: &Prepared,
        tp: &Traceparent,
        keep: Keep,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<(Response, Option<Box<Kept>>), SendError> {
        let big_body = request.encode_h1(tp, extra, &mut self.write);
        if self.read.len() < READ_BUF {
            self.read.resize(READ_BUF, 0);
        }
        let (start, mut end) = (0, 0);
        // The server may answer before it has read all of a large body (a
        // 413, say) and stop reading: the first bytes of its answer end the
        // writing, and that connection is not used again.
        let mut answered_early = false;
        let written = match big_body {
            None => self.io.write_all(&self.write).await,
            Some(body) => {
                let (mut rd, mut wr) = tokio::io::split(&mut self.io);
                let write = async {
                    wr.write_all(&self.write).await?;
                    wr.write_all(body).await?;
                    wr.flush().await
                };
                tokio::select! {
                    w = write => w,
                    r = rd.read(&mut self.read[..]) => match r {
                        Ok(n) if n > 0 => {
                            end = n;
                            answered_early = true;
                            Ok(())
                        }
                        Ok(_) => Err(io::ErrorKind::UnexpectedEof.into()),
                        Err(e) => Err(e),
                    },
                }
            }
        };
        if let Err(e) = written.and(self.io.flush().await) {
            // A response the server sent before closing is still read (a
            // 413 before the rest of the body was taken); if there is none,
            // the write error stands.
            return match Box::pin(self.read_response(request, keep, 0, 0)).await {
                Ok((mut r, kept)) => {
                    r.reusable = false;
                    Ok((r, kept))
                }
                Err(_) => Err(io_error(&e)),
            };
        }
        let (mut response, kept) = self.read_response(request, keep, start, end).await?;
        response.reusable &= !answered_early && !request.closes();
        Ok((response, kept))
    }

    /// Reads the response to `request`, the bytes `start..end` of the read
    /// buffer already in, and what `keep` asks for of it.
    async fn read_response(
        &mut self,
        request: &Prepared,
        keep: Keep,
        mut start: usize,
        mut end: usize,
    ) -> Result<(Response, Option<Box<Kept>>), SendError> {
        let mut parser = Parser::keeping(request.is_head(), keep);
        let mut closed = false;
        loop {
            let used = parser
                .feed(self.read.get(start..end).unwrap_or_default())
                .map_err(|e| SendError::Request(e.to_string()))?;
            start += used;
            if parser.response().is_some() {
                break;
            }
            if start == end {
                (start, end) = (0, 0);
            } else if start > 0 {
                self.read.copy_within(start..end, 0);
                end -= start;
                start = 0;
            }
            if end == self.read.len() {
                // A head that does not fit yet; the parser refuses one
                // larger than MAX_HEAD before the buffer reaches its cap.
                let grown = (self.read.len() * 2).min(2 * MAX_HEAD);
                if grown <= self.read.len() {
                    return Err(SendError::Request(
                        ParseError::TooLarge("response head").to_string(),
                    ));
                }
                self.read.resize(grown, 0);
            }
            let n = match self.io.read(&mut self.read[end..]).await {
                Ok(n) => n,
                // A TLS peer that closes without close_notify.
                Err(e)
                    if e.kind() == io::ErrorKind::UnexpectedEof
                        && tls::find_rustls(&e).is_none() =>
                {
                    0
                }
                Err(e) => return Err(io_error(&e)),
            };
            if n == 0 {
                closed = true;
                parser
                    .eof()
                    .map_err(|e| SendError::Request(e.to_string()))?;
                break;
            }
            end += n;
        }
        let mut response = parser
            .response()
            .ok_or_else(|| SendError::Request(INCOMPLETE.into()))?;
        // Bytes after the response (nothing was asked for) or the end of the
        // connection: not used again.
        response.reusable &= !closed && start == end;
        Ok((response, parser.take_kept()))
    }
}

/// The failure of a read or write on an open connection. A TLS alert (a
/// server that refuses the client after the handshake) is a connect error,
/// as over hyper.
fn io_error(e: &io::Error) -> SendError {
    use io::ErrorKind;
    if let Some(r) = tls::find_rustls(e) {
        return SendError::Connect(tls::rustls_reason(r));
    }
    match e.kind() {
        ErrorKind::UnexpectedEof => SendError::Request(INCOMPLETE.into()),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted => {
            SendError::Request("connection closed by the server".into())
        }
        _ => SendError::Request(format!("connection error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Feeds `pieces` one after another as a connection would deliver them
    /// (unused bytes kept for the next read); the response, or the error.
    fn parse_in(pieces: &[&[u8]], head_request: bool) -> Result<Response, ParseError> {
        let (r, kept) = parse_keeping(pieces, head_request, Keep::default())?;
        assert!(kept.is_none(), "nothing kept unless asked");
        Ok(r)
    }

    /// As [`parse_in`], keeping what `keep` asks for.
    fn parse_keeping(
        pieces: &[&[u8]],
        head_request: bool,
        keep: Keep,
    ) -> Result<(Response, Option<Box<Kept>>), ParseError> {
        let mut parser = Parser::keeping(head_request, keep);
        let mut pending = Vec::new();
        for piece in pieces {
            pending.extend_from_slice(piece);
            let used = parser.feed(&pending)?;
            pending.drain(..used);
            if let Some(r) = parser.response() {
                return Ok((r, parser.take_kept()));
            }
        }
        parser.eof()?;
        let r = parser.response().ok_or(ParseError::Incomplete)?;
        Ok((r, parser.take_kept()))
    }

    const ALL: Keep = Keep {
        headers: true,
        body: true,
    };

    /// A valid response of random framing, what it reads as, and its
    /// decoded body.
    fn random_response(rng: &mut StdRng) -> (Vec<u8>, Response, Vec<u8>) {
        let body_len = if rng.random_bool(0.2) {
            0
        } else {
            rng.random_range(0..3000usize)
        };
        let status = [200u16, 201, 404, 500, 503][rng.random_range(0..5)];
        let mut out = Vec::new();
        if rng.random_bool(0.2) {
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\nx-interim: 1\r\n\r\n");
        }
        out.extend_from_slice(format!("HTTP/1.1 {status} Whatever\r\n").as_bytes());
        for i in 0..rng.random_range(0..6) {
            out.extend_from_slice(format!("x-h{i}: {}\r\n", "v".repeat(i * 7)).as_bytes());
        }
        let body: Vec<u8> = (0..body_len).map(|i| b"abc\r\n0"[i % 6]).collect();
        let framing = rng.random_range(0..3);
        let reusable = framing != 2;
        match framing {
            0 => {
                out.extend_from_slice(format!("Content-Length: {body_len}\r\n\r\n").as_bytes());
                out.extend_from_slice(&body);
            }
            1 => {
                out.extend_from_slice(b"Transfer-Encoding: gzip, chunked\r\n\r\n");
                let mut rest = &body[..];
                while !rest.is_empty() {
                    let n = rng.random_range(1..=rest.len().min(700));
                    let ext = if rng.random_bool(0.3) { ";k=\"v\"" } else { "" };
                    out.extend_from_slice(format!("{n:X}{ext}\r\n").as_bytes());
                    out.extend_from_slice(&rest[..n]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                out.extend_from_slice(b"0\r\n");
                if rng.random_bool(0.5) {
                    out.extend_from_slice(b"x-checksum: 123\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
            _ => {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&body);
            }
        }
        let want = Response {
            status,
            version: Version::HTTP_11,
            body_bytes: body_len as u64,
            reusable,
        };
        (out, want, body)
    }

    /// Property: any split of a valid response into pieces (down to one
    /// byte each) reads as the same response as the whole of it.
    #[test]
    fn a_response_split_anywhere_reads_the_same() {
        let mut rng = StdRng::seed_from_u64(0x5eed_0015);
        for case in 0..2000 {
            let (bytes, want, body) = random_response(&mut rng);
            assert_eq!(parse_in(&[&bytes], false), Ok(want), "case {case} whole");
            let mut pieces = Vec::new();
            let mut rest = &bytes[..];
            let one_byte = case % 10 == 0;
            while !rest.is_empty() {
                let n = if one_byte {
                    1
                } else {
                    rng.random_range(1..=rest.len().min(200))
                };
                pieces.push(&rest[..n]);
                rest = &rest[n..];
            }
            assert_eq!(
                parse_in(&pieces, false),
                Ok(want),
                "case {case}: {:?} split in {}",
                String::from_utf8_lossy(&bytes),
                pieces.len()
            );
            // Kept, the same split gives the decoded body and the final
            // head's fields (not the interim 100's).
            let (r, kept) = parse_keeping(&pieces, false, ALL).unwrap();
            assert_eq!(r, want, "case {case} kept");
            let kept = kept.expect("kept");
            assert_eq!(kept.body, body, "case {case}: kept body");
            assert!(!kept.body_truncated);
            assert!(!kept.headers.contains_key("x-interim"), "case {case}");
            let x_fields = kept
                .headers
                .keys()
                .filter(|k| k.as_str().starts_with("x-h"))
                .count();
            let in_head = String::from_utf8_lossy(&bytes).matches("\r\nx-h").count();
            assert_eq!(x_fields, in_head, "case {case}: kept header fields");
            // Cut short anywhere before its end (except a body read to the
            // close), it is incomplete, never a response.
            if want.reusable {
                let cut = rng.random_range(0..bytes.len());
                assert_eq!(
                    parse_in(&[&bytes[..cut]], false),
                    Err(ParseError::Incomplete),
                    "case {case} cut at {cut}"
                );
            }
        }
    }

    /// Repeated fields are all kept in order, obs-text values too; only
    /// what is asked for is kept; a body over the cap is cut
    /// there and still counted whole, in every framing.
    #[test]
    fn kept_headers_and_a_capped_body() {
        let head = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nx-latin: caf\xe9\r\n\
            set-cookie: b=2; Path=/\r\ncontent-length: 3\r\n\r\nabc";
        let (_, kept) = parse_keeping(&[head], false, ALL).unwrap();
        let kept = kept.unwrap();
        let cookies: Vec<_> = kept.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2; Path=/"]);
        assert_eq!(kept.headers["x-latin"].as_bytes(), b"caf\xe9");
        assert_eq!(kept.headers["content-length"], "3");
        assert_eq!(&kept.body[..], b"abc");
        let only_headers = Keep {
            headers: true,
            body: false,
        };
        let (_, kept) = parse_keeping(&[head], false, only_headers).unwrap();
        let kept = kept.unwrap();
        assert!(kept.body.is_empty() && kept.headers.len() == 4);
        let only_body = Keep {
            headers: false,
            body: true,
        };
        let (_, kept) = parse_keeping(&[head], false, only_body).unwrap();
        let kept = kept.unwrap();
        assert!(kept.headers.is_empty());
        assert_eq!(&kept.body[..], b"abc");

        let size = MAX_KEPT_BODY + 1000;
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut length = format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n").into_bytes();
        length.extend_from_slice(&body);
        let mut chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for part in body.chunks(300_000) {
            chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            chunked.extend_from_slice(part);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let mut close = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        close.extend_from_slice(&body);
        for (name, bytes) in [("length", length), ("chunked", chunked), ("close", close)] {
            let pieces: Vec<&[u8]> = bytes.chunks(70_001).collect();
            let (r, kept) = parse_keeping(&pieces, false, only_body).unwrap();
            let kept = kept.unwrap();
            assert_eq!(r.body_bytes, size as u64, "{name}");
            assert_eq!(kept.body.len(), MAX_KEPT_BODY, "{name}");
            assert_eq!(&kept.body[..], &body[..MAX_KEPT_BODY], "{name}");
            assert!(kept.body_truncated, "{name}");
        }
        // Exactly at the cap is not truncated.
        let mut at_cap =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {MAX_KEPT_BODY}\r\n\r\n").into_bytes();
        at_cap.extend_from_slice(&body[..MAX_KEPT_BODY]);
        let (_, kept) = parse_keeping(&[&at_cap], false, only_body).unwrap();
        let kept = kept.unwrap();
        assert!(!kept.body_truncated && kept.body.len() == MAX_KEPT_BODY);
    }

    #[test]
    fn heads_and_framing() {
        let r = parse_in(
            &[b"HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\nhello"],
            false,
        );
        assert_eq!(r.map(|r| r.body_bytes), Ok(5));
        assert!(matches!(
            parse_in(
                &[b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n"],
                false
            ),
            Err(ParseError::Invalid(_))
        ));
        // Transfer-Encoding wins over Content-Length; a final coding other
        // than chunked reads to the close.
        let r = parse_in(
            &[b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"],
            false,
        );
        assert_eq!(r.map(|r| (r.body_bytes, r.reusable)), Ok((1, true)));
        let r = parse_in(
            &[b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nabc"],
            false,
        );
        assert_eq!(r.map(|r| (r.body_bytes, r.reusable)), Ok((3, false)));
        // Too many header fields, and a trailer section without end.
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..200 {
            many.extend_from_slice(format!("x-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let mut big = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse_in(&[&big], false),
            Err(ParseError::TooLarge("response head"))
        );
        assert!(matches!(
            parse_in(&[&many], false),
            Err(ParseError::Invalid(_))
        ));
        let mut trailers = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n".to_vec();
        trailers.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert_eq!(
            parse_in(&[&trailers], false),
            Err(ParseError::TooLarge("trailer section"))
        );
        let mut line = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1;".to_vec();
        line.extend(std::iter::repeat_n(b'e', MAX_HEAD + 10));
        assert_eq!(
            parse_in(&[&line], false),
            Err(ParseError::TooLarge("chunk-size line"))
        );
        // HTTP/1.0 with keep-alive is still not reused.
        let r = parse_in(
            &[b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"],
            false,
        );
        assert_eq!(
            r.map(|r| (r.version, r.reusable)),
            Ok((Version::HTTP_10, false))
        );
    }
}
