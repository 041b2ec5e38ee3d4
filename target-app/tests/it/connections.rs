//! Connection floods and malformed requests, over raw TCP: the connection
//! cap, the header-read and idle timeouts, and JSON bodies on the errors
//! hyper answers before routing.

use std::time::{Duration, Instant};

use target_app::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::util::{start_in_process, test_config};

fn limits(max_connections: usize, header_ms: u64, idle_ms: u64) -> ConnectionLimits {
    ConnectionLimits {
        max_connections,
        header_read_timeout: Duration::from_millis(header_ms),
        idle_timeout: Duration::from_millis(idle_ms),
    }
}

/// Sends `request` on a fresh connection and reads until the server closes
/// it (every answer here closes the connection); bounded by `limit`.
async fn exchange(addr: std::net::SocketAddr, request: &[u8], limit: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    timeout(limit, stream.read_to_end(&mut out))
        .await
        .expect("the server answered and closed in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until the peer closes; true when it did within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

fn status_and_json(response: &str) -> (u16, serde_json::Value) {
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let (_, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {response:?}"));
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: body {body:?}"));
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_past_the_cap_neither_take_slots_nor_starve_health() {
    // The header-read timeout is long: only making room under pressure can
    // let the fresh client in quickly.
    let app = start_in_process(target_app::Config {
        connections: limits(4, 10_000, 60_000),
        ..test_config()
    })
    .await;
    // Three times the cap of sockets that never send a byte, plus one
    // keep-alive connection that is idle after a request.
    let mut keep_alive = TcpStream::connect(app.addr).await.expect("connect");
    keep_alive
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = timeout(Duration::from_secs(3), keep_alive.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let mut silent = Vec::new();
    for _ in 0..12 {
        silent.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        app.connection_count() <= 4,
        "{} connections held past a cap of 4",
        app.connection_count()
    );
    // A fresh client is let in as idle connections are closed to make room.
    let started = Instant::now();
    let response = exchange(
        app.addr,
        b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2_500), "{took:?}");
    // The idle keep-alive connection was among those closed.
    assert!(closed_within(&mut keep_alive, Duration::from_secs(2)).await);
    assert!(app.connection_count() <= 4, "{}", app.connection_count());
}

#[tokio::test]
async fn silent_sockets_are_closed_at_the_header_read_timeout() {
    let app = start_in_process(target_app::Config {
        connections: limits(64, 400, 60_000),
        ..test_config()
    })
    .await;
    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    for stream in &mut silent {
        assert!(closed_within(stream, Duration::from_secs(3)).await);
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(350), "{took:?}");
    assert_eq!(app.connection_count(), 0);
}

#[tokio::test]
async fn a_request_head_sent_too_slowly_is_cut_at_the_header_read_timeout() {
    let app = start_in_process(target_app::Config {
        connections: limits(64, 300, 60_000),
        ..test_config()
    })
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    assert!(closed_within(&mut stream, Duration::from_secs(3)).await);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_at_the_idle_timeout() {
    let app = start_in_process(target_app::Config {
        connections: limits(64, 5_000, 400),
        ..test_config()
    })
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let request = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        // A request well inside the idle timeout keeps the connection.
        stream.write_all(request).await.unwrap();
        let n = timeout(Duration::from_secs(3), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle_from = Instant::now();
    assert!(closed_within(&mut stream, Duration::from_secs(3)).await);
    // The header-read timeout (5 s) did not close it: the idle timeout did.
    let took = idle_from.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn a_slow_request_is_not_cut_by_the_idle_or_header_timeout() {
    let app = start_in_process(target_app::Config {
        connections: limits(64, 200, 200),
        faults: target_app::faults::FaultPlan {
            rules: vec![],
            stall: Some(Duration::from_millis(800)),
            steps: Vec::new(),
        },
        ..test_config()
    })
    .await;
    let response = exchange(
        app.addr,
        b"GET /api/products HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn errors_hyper_answers_before_routing_have_json_bodies() {
    let app = start_in_process(target_app::Config {
        connections: limits(64, 5_000, 5_000),
        ..test_config()
    })
    .await;
    let long_uri = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let huge_header = format!(
        "GET /health HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "b".repeat(100_000)
    );
    let cases: [(&[u8], u16, &str); 4] = [
        (b"GARBAGE\r\n\r\n", 400, "malformed_request"),
        (
            b"GET /health HTTP/1.1\r\nbad header\r\n\r\n",
            400,
            "malformed_request",
        ),
        (long_uri.as_bytes(), 414, "uri_too_long"),
        (huge_header.as_bytes(), 431, "headers_too_large"),
    ];
    for (request, status, code) in cases {
        let response = exchange(app.addr, request, Duration::from_secs(5)).await;
        let (got, json) = status_and_json(&response);
        assert_eq!(got, status, "{response}");
        assert_eq!(json["error"], code, "{response}");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(
            response
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{response}"
        );
    }
    // The server still serves after them.
    let response = exchange(
        app.addr,
        b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}
