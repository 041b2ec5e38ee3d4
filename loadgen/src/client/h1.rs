//! HTTP/1.1 on one connection (plain TCP or TLS), without a connection
//! task: the user writes its request's pre-encoded head and body, then
//! reads the response into a reused buffer and parses it with `httparse`.
//! The body is counted and dropped, never kept.
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

use http::Version;
use httparse::Status;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::request::{Prepared, Traceparent};
use super::{Received, SendError, tls};

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

/// An incremental HTTP/1.x response parser that keeps no body bytes.
#[derive(Debug)]
pub struct Parser {
    head_request: bool,
    state: State,
    status: u16,
    version: Version,
    keep_alive: bool,
    body_bytes: u64,
    trailer_bytes: usize,
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

    /// Sends a request and reads its response. After an error the
    /// connection is not to be used again.
    pub async fn exchange(
        &mut self,
        request: &Prepared,
        tp: &Traceparent,
    ) -> Result<Response, SendError> {
        let big_body = request.encode_h1(tp, &mut self.write);
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
            return match Box::pin(self.read_response(request, 0, 0)).await {
                Ok(mut r) => {
                    r.reusable = false;
                    Ok(r)
                }
                Err(_) => Err(io_error(&e)),
            };
        }
        let mut response = self.read_response(request, start, end).await?;
        response.reusable &= !answered_early && !request.closes();
        Ok(response)
    }

    /// Reads the response to `request`, the bytes `start..end` of the read
    /// buffer already in.
    async fn read_response(
        &mut self,
        request: &Prepared,
        mut start: usize,
        mut end: usize,
    ) -> Result<Response, SendError> {
        let mut parser = Parser::new(request.is_head());
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
            .ok_or(SendError::Request(INCOMPLETE.into()))?;
        // Bytes after the response (nothing was asked for) or the end of the
        // connection: not used again.
        response.reusable &= !closed && start == end;
        Ok(response)
    }
}

impl From<Response> for Received {
    fn from(r: Response) -> Self {
        Received {
            status: r.status,
            body_bytes: r.body_bytes,
            kept: None,
        }
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
        let mut parser = Parser::new(head_request);
        let mut pending = Vec::new();
        for piece in pieces {
            pending.extend_from_slice(piece);
            let used = parser.feed(&pending)?;
            pending.drain(..used);
            if let Some(r) = parser.response() {
                return Ok(r);
            }
        }
        parser.eof()?;
        parser.response().ok_or(ParseError::Incomplete)
    }

    /// A valid response of random framing, and what it reads as.
    fn random_response(rng: &mut StdRng) -> (Vec<u8>, Response) {
        let body_len = if rng.random_bool(0.2) {
            0
        } else {
            rng.random_range(0..3000usize)
        };
        let status = [200u16, 201, 404, 500, 503][rng.random_range(0..5)];
        let mut out = Vec::new();
        if rng.random_bool(0.2) {
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
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
        (out, want)
    }

    /// Property: any split of a valid response into pieces (down to one
    /// byte each) reads as the same response as the whole of it.
    #[test]
    fn a_response_split_anywhere_reads_the_same() {
        let mut rng = StdRng::seed_from_u64(0x5eed_0015);
        for case in 0..2000 {
            let (bytes, want) = random_response(&mut rng);
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
