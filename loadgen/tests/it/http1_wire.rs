//! loadgen's own HTTP/1.1 client against a raw TCP server on loopback that
//! sends exactly the bytes each case names (chunked with extensions and
//! trailers, one byte per write, no length, HTTP/1.0, `connection: close`,
//! 100 Continue, 204, 304, HEAD, an oversized head, garbage, an early close):
//! status, body bytes, connection reuse and the error's kind and reason;
//! what is kept of headers and body when asked, and extra request headers
//! as the server receives them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::Method;
use hyper::body::Bytes;
use loadgen::client::{
    Connection, Keep, MAX_KEPT_BODY, Prepared, Received, SendError, Target, traceparent,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the server writes its answer.
#[derive(Clone, Copy)]
enum Writes {
    All,
    OneByteEach,
}

/// One case: the server's answer to every request, how it is written,
/// and whether the server closes the connection after it.
struct Case {
    name: &'static str,
    method: Method,
    answer: Vec<u8>,
    writes: Writes,
    close_after: bool,
    /// The first request's result.
    expect: Result<Received, ErrorKind>,
    /// Connections the server accepts for two requests in a row.
    connections: usize,
}

#[derive(Debug)]
enum ErrorKind {
    Request(&'static str),
}

/// A raw server; aborted (with its connections) when dropped.
struct Server {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(answer: Vec<u8>, writes: Writes, close_after: bool) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let answer = Arc::new(answer);
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            conns.spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    // One request head (no request body in these cases).
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.clear();
                    let ok = match writes {
                        Writes::All => s.write_all(&answer).await.is_ok(),
                        Writes::OneByteEach => {
                            let mut ok = true;
                            for b in answer.iter() {
                                ok &= s.write_all(std::slice::from_ref(b)).await.is_ok();
                                ok &= s.flush().await.is_ok();
                                tokio::task::yield_now().await;
                            }
                            ok
                        }
                    };
                    if !ok || close_after {
                        let _ = s.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    Server {
        addr,
        accepted,
        task,
    }
}

fn ok(status: u16, body_bytes: u64) -> Result<Received, ErrorKind> {
    Ok(Received {
        status,
        body_bytes,
        kept: None,
    })
}

fn cases() -> Vec<Case> {
    let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
        5;name=value\r\nhello\r\n6 ; a; b=\"c d\"\r\n world\r\n0\r\nx-trailer: 1\r\nx-other: 2\r\n\r\n"
        .to_vec();
    let mut big = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 70 * 1024));
    big.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n");
    let case = |name, answer: &[u8], expect, connections| Case {
        name,
        method: Method::GET,
        answer: answer.to_vec(),
        writes: Writes::All,
        close_after: false,
        expect,
        connections,
    };
    vec![
        Case {
            answer: chunked.clone(),
            ..case("chunked, extensions and trailers", b"", ok(200, 11), 1)
        },
        Case {
            answer: chunked,
            writes: Writes::OneByteEach,
            ..case("chunked, one byte per write", b"", ok(200, 11), 1)
        },
        Case {
            writes: Writes::OneByteEach,
            ..case(
                "content-length, one byte per write",
                b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nabcd",
                ok(201, 4),
                1,
            )
        },
        Case {
            close_after: true,
            ..case(
                "no length, read to the close",
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nabcdef",
                ok(200, 6),
                2,
            )
        },
        case(
            "HTTP/1.0 is not reused",
            b"HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nabc",
            ok(200, 3),
            2,
        ),
        case(
            "connection: close is not reused",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 2\r\n\r\nok",
            ok(200, 2),
            2,
        ),
        Case {
            close_after: true,
            ..case(
                "closed by the server after a keep-alive response: replaced",
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
                ok(200, 2),
                2,
            )
        },
        case(
            "100 Continue, then 200",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            ok(200, 2),
            1,
        ),
        case(
            "204 has no body",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            ok(204, 0),
            1,
        ),
        case(
            "304 has no body whatever its length says",
            b"HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n",
            ok(304, 0),
            1,
        ),
        Case {
            method: Method::HEAD,
            ..case(
                "HEAD has no body",
                b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n",
                ok(200, 0),
                1,
            )
        },
        case(
            "a 503 is a status, its body counted",
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\n\r\nbusy\n",
            ok(503, 5),
            1,
        ),
        Case {
            answer: big,
            ..case(
                "a head over 64 KiB",
                b"",
                Err(ErrorKind::Request(
                    "invalid response: the response head is larger than 64 KiB",
                )),
                2,
            )
        },
        case(
            "garbage",
            b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
            Err(ErrorKind::Request("invalid response: ")),
            2,
        ),
        Case {
            close_after: true,
            ..case(
                "closed mid-body",
                b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
                Err(ErrorKind::Request(
                    "connection closed before the response was complete",
                )),
                2,
            )
        },
        Case {
            close_after: true,
            ..case(
                "closed mid-chunk",
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\nabc",
                Err(ErrorKind::Request(
                    "connection closed before the response was complete",
                )),
                2,
            )
        },
        case(
            "an invalid content-length",
            b"HTTP/1.1 200 OK\r\ncontent-length: 12abc\r\n\r\n",
            Err(ErrorKind::Request(
                "invalid response: invalid content-length",
            )),
            2,
        ),
        case(
            "an invalid chunk size",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            Err(ErrorKind::Request("invalid response: invalid chunk size")),
            2,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_on_the_wire_read_as_their_status_bytes_and_reuse() {
    for case in cases() {
        let server = serve(case.answer.clone(), case.writes, case.close_after).await;
        let target = Target::parse(&format!("http://{}", server.addr)).unwrap();
        let request = Prepared::new(
            &target,
            case.method.clone(),
            target.uri("/x").unwrap(),
            [],
            Bytes::new(),
        );
        let mut conn = Connection::default();
        let mut send = async || {
            tokio::time::timeout(
                Duration::from_secs(10),
                conn.send(
                    &target,
                    &request,
                    &traceparent(1, 2),
                    Keep::default(),
                    &[],
                    Duration::from_secs(5),
                    std::future::pending(),
                ),
            )
            .await
            .unwrap_or_else(|_| panic!("{}: no answer in 10 s", case.name))
        };
        let first = send().await;
        match (&case.expect, &first) {
            (Ok(want), Ok(got)) => assert_eq!(want, got, "{}", case.name),
            (Err(ErrorKind::Request(want)), Err(SendError::Request(got))) => {
                assert!(got.starts_with(want), "{}: {got:?}", case.name)
            }
            (want, got) => panic!("{}: expected {want:?}, got {got:?}", case.name),
        }
        // The server's FIN reaches the client before it looks again.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = send().await;
        assert_eq!(first.is_ok(), second.is_ok(), "{}: {second:?}", case.name);
        assert_eq!(
            server.accepted.load(Ordering::SeqCst),
            case.connections,
            "{}: connections for two requests",
            case.name
        );
        if case.name.starts_with("HTTP/1.0") {
            assert_eq!(target.http_versions().as_deref(), Some("HTTP/1.0"));
        } else if first.is_ok() {
            assert_eq!(target.http_versions().as_deref(), Some("HTTP/1.1"));
        }
    }
}

/// The request on the wire: the pre-encoded head with this request's
/// traceparent, the scenario's headers and a body with its length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_on_the_wire_carries_its_traceparent_and_body() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        for _ in 0..2 {
            let mut got = Vec::new();
            // Head plus the 7-byte body.
            while got
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .is_none_or(|p| got.len() < p + 4 + 7)
            {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed early");
                got.extend_from_slice(&buf[..n]);
            }
            tx.send(got).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
        }
    });
    let target = Target::parse(&format!("http://{addr}/base")).unwrap();
    let request = Prepared::new(
        &target,
        Method::POST,
        target.uri("/orders?x=1").unwrap(),
        [(
            http::HeaderName::from_static("x-tenant"),
            http::HeaderValue::from_static("a"),
        )],
        Bytes::from_static(b"{\"a\":1}"),
    );
    let mut conn = Connection::default();
    for (trace, span) in [(0xabc_u128, 0xdef_u64), (u128::MAX, 1)] {
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            conn.send(
                &target,
                &request,
                &traceparent(trace, span),
                Keep::default(),
                &[],
                Duration::from_secs(5),
                std::future::pending(),
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            r,
            Ok(Received {
                status: 200,
                body_bytes: 0,
                kept: None,
            })
        );
        let got = String::from_utf8(rx.recv().await.unwrap()).unwrap();
        assert!(
            got.starts_with("POST /base/orders?x=1 HTTP/1.1\r\n"),
            "{got}"
        );
        assert!(got.contains(&format!("host: {addr}\r\n")), "{got}");
        assert!(
            got.contains(&format!("traceparent: 00-{trace:032x}-{span:016x}-01\r\n")),
            "{got}"
        );
        assert!(got.contains("x-tenant: a\r\n"), "{got}");
        assert!(got.contains("user-agent: loadgen/"), "{got}");
        assert!(got.ends_with("content-length: 7\r\n\r\n{\"a\":1}"), "{got}");
    }
    server.await.unwrap();
}

/// A server that answers a large upload early (a 413 after the head) and
/// stops reading: the answer is the request's result, not a write error or
/// a timeout, and the connection is not used again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_to_a_large_body_is_the_result() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let server = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s
                .write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig\n")
                .await;
            // Not read any further, and kept open.
            open.push(s);
        }
    });
    let target = Target::parse(&format!("http://{addr}")).unwrap();
    let request = Prepared::new(
        &target,
        Method::POST,
        target.uri("/upload").unwrap(),
        [],
        Bytes::from(vec![b'x'; 16 * 1024 * 1024]),
    );
    let mut conn = Connection::default();
    for round in 1..=2 {
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            conn.send(
                &target,
                &request,
                &traceparent(1, 2),
                Keep::default(),
                &[],
                Duration::from_secs(5),
                std::future::pending(),
            ),
        )
        .await
        .expect("an answer, not a stall");
        assert_eq!(
            r,
            Ok(Received {
                status: 413,
                body_bytes: 4,
                kept: None,
            }),
            "round {round}"
        );
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            round,
            "a new connection each time"
        );
    }
    server.abort();
}

/// One request on `conn` with `keep` and `extra`, bounded in time.
async fn send_with(
    conn: &mut Connection,
    target: &Target,
    request: &Prepared,
    keep: Keep,
    extra: &[(http::HeaderName, http::HeaderValue)],
) -> Result<Received, SendError> {
    tokio::time::timeout(
        Duration::from_secs(10),
        conn.send(
            target,
            request,
            &traceparent(1, 2),
            keep,
            extra,
            Duration::from_secs(5),
            std::future::pending(),
        ),
    )
    .await
    .expect("an answer in 10 s")
}

const KEEP_ALL: Keep = Keep {
    headers: true,
    body: true,
};

/// A case of what is kept: the answer, and the status, whole body (its
/// size is what is counted), `set-cookie` values and `content-type` kept.
struct KeptCase {
    name: &'static str,
    method: Method,
    answer: Vec<u8>,
    writes: Writes,
    close_after: bool,
    status: u16,
    body: Vec<u8>,
    set_cookies: &'static [&'static str],
    content_type: Option<&'static str>,
}

fn kept_cases() -> Vec<KeptCase> {
    let json = br#"{"order_id":7,"status":"confirmed"}"#;
    let mut length = format!(
        "HTTP/1.1 201 Created\r\nSet-Cookie: sid=abc; HttpOnly\r\ncontent-type: application/json\r\n\
         set-cookie: theme=dark; Path=/\r\nContent-Length: {}\r\n\r\n",
        json.len()
    )
    .into_bytes();
    length.extend_from_slice(json);
    let chunked = b"HTTP/1.1 200 OK\r\nset-cookie: a=1\r\ntransfer-encoding: chunked\r\n\
        set-cookie: b=2\r\n\r\n5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
        .to_vec();
    let big: Vec<u8> = (0..MAX_KEPT_BODY + 4321)
        .map(|i| b"0123456789abcdef"[i % 16])
        .collect();
    let mut over = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    over.extend_from_slice(&big);
    let mut over_chunked =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    for part in big.chunks(100_000) {
        over_chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        over_chunked.extend_from_slice(part);
        over_chunked.extend_from_slice(b"\r\n");
    }
    over_chunked.extend_from_slice(b"0\r\n\r\n");
    let case = |name, answer: Vec<u8>, status, body: &[u8]| KeptCase {
        name,
        method: Method::GET,
        answer,
        writes: Writes::All,
        close_after: false,
        status,
        body: body.to_vec(),
        set_cookies: &[],
        content_type: None,
    };
    vec![
        KeptCase {
            set_cookies: &["sid=abc; HttpOnly", "theme=dark; Path=/"],
            content_type: Some("application/json"),
            ..case("content-length", length.clone(), 201, json)
        },
        KeptCase {
            writes: Writes::OneByteEach,
            set_cookies: &["sid=abc; HttpOnly", "theme=dark; Path=/"],
            content_type: Some("application/json"),
            ..case("content-length, one byte per write", length, 201, json)
        },
        KeptCase {
            set_cookies: &["a=1", "b=2"],
            ..case("chunked", chunked.clone(), 200, b"hello world")
        },
        KeptCase {
            writes: Writes::OneByteEach,
            set_cookies: &["a=1", "b=2"],
            ..case("chunked, one byte per write", chunked, 200, b"hello world")
        },
        KeptCase {
            close_after: true,
            set_cookies: &["c=3"],
            content_type: Some("text/plain"),
            ..case(
                "no length, read to the close",
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nset-cookie: c=3\r\n\r\nabcdef"
                    .to_vec(),
                200,
                b"abcdef",
            )
        },
        KeptCase {
            method: Method::HEAD,
            set_cookies: &["h=1"],
            content_type: Some("text/html"),
            ..case(
                "HEAD",
                b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nset-cookie: h=1\r\ncontent-length: 1000\r\n\r\n"
                    .to_vec(),
                200,
                b"",
            )
        },
        KeptCase {
            set_cookies: &["gone=; Max-Age=0"],
            ..case(
                "204",
                b"HTTP/1.1 204 No Content\r\nset-cookie: gone=; Max-Age=0\r\n\r\n".to_vec(),
                204,
                b"",
            )
        },
        KeptCase {
            set_cookies: &["final=1"],
            ..case(
                "100 Continue: the final head's fields only",
                b"HTTP/1.1 100 Continue\r\nset-cookie: interim=1\r\n\r\n\
                  HTTP/1.1 200 OK\r\nset-cookie: final=1\r\ncontent-length: 2\r\n\r\nok"
                    .to_vec(),
                200,
                b"ok",
            )
        },
        KeptCase {
            content_type: Some("text/plain"),
            ..case("a body over the cap", over, 200, &big)
        },
        KeptCase {
            content_type: Some("text/plain"),
            ..case("a chunked body over the cap", over_chunked, 200, &big)
        },
    ]
}

/// What is kept, on the wire: every final header field (both `set-cookie`
/// lines), the decoded body up to [`MAX_KEPT_BODY`] (cut there with
/// `body_truncated`, still counted whole), in every framing and split; the
/// next request on the connection, keeping nothing, gets `kept: None`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_headers_and_bodies_on_the_wire() {
    for case in kept_cases() {
        let server = serve(case.answer.clone(), case.writes, case.close_after).await;
        let target = Target::parse(&format!("http://{}", server.addr)).unwrap();
        let request = Prepared::new(
            &target,
            case.method.clone(),
            target.uri("/x").unwrap(),
            [],
            Bytes::new(),
        );
        let mut conn = Connection::default();
        let name = case.name;
        let r = send_with(&mut conn, &target, &request, KEEP_ALL, &[])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(r.status, case.status, "{name}");
        assert_eq!(r.body_bytes, case.body.len() as u64, "{name}");
        let kept = r.kept.unwrap_or_else(|| panic!("{name}: nothing kept"));
        let cookies: Vec<&[u8]> = kept
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let want: Vec<&[u8]> = case.set_cookies.iter().map(|c| c.as_bytes()).collect();
        assert_eq!(cookies, want, "{name}: set-cookie");
        assert_eq!(
            kept.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            case.content_type,
            "{name}"
        );
        let cut = case.body.len().min(MAX_KEPT_BODY);
        assert_eq!(kept.body.len(), cut, "{name}: kept body size");
        assert!(kept.body[..] == case.body[..cut], "{name}: kept body");
        assert_eq!(
            kept.body_truncated,
            case.body.len() > MAX_KEPT_BODY,
            "{name}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let again = send_with(&mut conn, &target, &request, Keep::default(), &[])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(
            (again.status, again.body_bytes, again.kept),
            (case.status, case.body.len() as u64, None),
            "{name}: the next request keeps nothing"
        );
    }
}

/// Only the body, or only the headers: the other part is left empty; a
/// large upload answered early (the 413 path) is kept as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeping_a_part_and_an_early_answer() {
    let answer =
        b"HTTP/1.1 413 Payload Too Large\r\nset-cookie: s=1\r\ncontent-length: 4\r\n\r\nbig\n";
    let server = serve(answer.to_vec(), Writes::All, false).await;
    let target = Target::parse(&format!("http://{}", server.addr)).unwrap();
    let small = Prepared::new(
        &target,
        Method::GET,
        target.uri("/").unwrap(),
        [],
        Bytes::new(),
    );
    let mut conn = Connection::default();
    let body_only = Keep {
        headers: false,
        body: true,
    };
    let kept = send_with(&mut conn, &target, &small, body_only, &[])
        .await
        .unwrap()
        .kept
        .unwrap();
    assert!(kept.headers.is_empty(), "{:?}", kept.headers);
    assert_eq!(&kept.body[..], b"big\n");
    let headers_only = Keep {
        headers: true,
        body: false,
    };
    let kept = send_with(&mut conn, &target, &small, headers_only, &[])
        .await
        .unwrap()
        .kept
        .unwrap();
    assert_eq!(kept.headers["set-cookie"], "s=1");
    assert!(kept.body.is_empty());
    drop(server);

    // The server answers after the head and reads no more of the body.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let early = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(answer).await;
            open.push(s);
        }
    });
    let target = Target::parse(&format!("http://{addr}")).unwrap();
    let upload = Prepared::new(
        &target,
        Method::POST,
        target.uri("/upload").unwrap(),
        [],
        Bytes::from(vec![b'x'; 16 * 1024 * 1024]),
    );
    let r = send_with(&mut Connection::default(), &target, &upload, KEEP_ALL, &[])
        .await
        .unwrap();
    assert_eq!((r.status, r.body_bytes), (413, 4));
    let kept = r.kept.unwrap();
    assert_eq!(kept.headers["set-cookie"], "s=1");
    assert_eq!(&kept.body[..], b"big\n");
    early.abort();
}

/// Extra headers reach the server with the request they were given to and
/// no other: an extra `cookie` joins the request's own `cookie` line, other
/// extra headers come before the end of the head, the body after it (also
/// for a body written apart from the head, over 16 KiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_headers_reach_the_server_for_one_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = Vec::new();
        loop {
            // A head, then as many body bytes as its content-length says.
            let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                got.extend_from_slice(&buf[..n]);
                continue;
            };
            let head = String::from_utf8_lossy(&got[..p]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |n| n.trim().parse().unwrap());
            while got.len() < p + 4 + length {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed mid-body");
                got.extend_from_slice(&buf[..n]);
            }
            let rest = got.split_off(p + 4 + length);
            tx.send(std::mem::replace(&mut got, rest)).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
        }
    });
    let target = Target::parse(&format!("http://{addr}")).unwrap();
    let h = |n: &'static str, v: &'static str| {
        (
            http::HeaderName::from_static(n),
            http::HeaderValue::from_static(v),
        )
    };
    let own_cookie = Prepared::new(
        &target,
        Method::POST,
        target.uri("/orders").unwrap(),
        [h("cookie", "theme=dark"), h("x-tenant", "a")],
        Bytes::from_static(b"{\"a\":1}"),
    );
    let no_cookie = Prepared::new(
        &target,
        Method::POST,
        target.uri("/upload").unwrap(),
        [],
        Bytes::from(vec![b'u'; 20 * 1024]),
    );
    let extra = [h("cookie", "sid=abc"), h("x-extra", "1")];
    let mut conn = Connection::default();
    let mut seen = async |request: &Prepared, extra: &[(http::HeaderName, http::HeaderValue)]| {
        let r = send_with(&mut conn, &target, request, Keep::default(), extra).await;
        assert_eq!(r.map(|r| r.status), Ok(200));
        let got = rx.recv().await.unwrap();
        let p = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8(got[..p + 4].to_vec()).unwrap(),
            got[p + 4..].to_vec(),
        )
    };
    let (head, body) = seen(&own_cookie, &extra).await;
    assert!(
        head.contains("\r\ncookie: theme=dark; sid=abc\r\n"),
        "{head}"
    );
    assert_eq!(head.matches("cookie:").count(), 1, "{head}");
    assert!(head.ends_with("\r\nx-extra: 1\r\n\r\n"), "{head}");
    assert!(head.contains("\r\nx-tenant: a\r\n"), "{head}");
    assert!(head.contains("\r\ntraceparent: 00-"), "{head}");
    assert!(head.contains("\r\ncontent-length: 7\r\n"), "{head}");
    assert_eq!(body, b"{\"a\":1}");
    // The next request, without extra headers, is as prepared.
    let (head, body) = seen(&own_cookie, &[]).await;
    assert!(head.contains("\r\ncookie: theme=dark\r\n"), "{head}");
    assert!(!head.contains("x-extra"), "{head}");
    assert_eq!(body, b"{\"a\":1}");
    // No cookie of its own, and a body written after the head.
    let (head, body) = seen(&no_cookie, &extra).await;
    assert!(head.contains("\r\ncookie: sid=abc\r\n"), "{head}");
    assert!(head.ends_with("\r\nx-extra: 1\r\n\r\n"), "{head}");
    assert_eq!(body, vec![b'u'; 20 * 1024]);
    server.abort();
}
