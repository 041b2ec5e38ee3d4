//! loadgen's own HTTP/1.1 client against a raw TCP server on loopback that
//! sends exactly the bytes each case names (chunked with extensions and
//! trailers, one byte per write, no length, HTTP/1.0, `connection: close`,
//! 100 Continue, 204, 304, HEAD, an oversized head, garbage, an early close):
//! status, body bytes, connection reuse and the error's kind and reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::Method;
use hyper::body::Bytes;
use loadgen::client::{Connection, Prepared, Received, SendError, Target, traceparent};
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
                    &[],
                    loadgen::client::Keep::default(),
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
                &[],
                loadgen::client::Keep::default(),
                Duration::from_secs(5),
                std::future::pending(),
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            r,
            Ok(Received {
                kept: None,
                status: 200,
                body_bytes: 0
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
                &[],
                loadgen::client::Keep::default(),
                Duration::from_secs(5),
                std::future::pending(),
            ),
        )
        .await
        .expect("an answer, not a stall");
        assert_eq!(
            r,
            Ok(Received {
                kept: None,
                status: 413,
                body_bytes: 4
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
