//! `loadgen run --traces-from KIND=URL`: after a run against the real
//! target app, loadgen asks a trace store for the traces of its slow,
//! typical and sampled requests. The store here is a small HTTP server
//! answering, for the trace id in the path, the recorded body of
//! `tests/data/traces/` (written from Tempo's and Jaeger's documented
//! formats) with that id in it, and 404 for a quarter of the ids; it
//! checks the bearer token from `LOADGEN_TRACES_TOKEN`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;

use crate::util::{Dir, arg, open_scenario, report, run_env, target};

const TOKEN: &str = "store-token";
/// The trace id in the recorded bodies, in hex and in base64.
const HEX: &str = "5b8efff798038103d269b633813fc60c";
const B64: &str = "W47/95gDgQPSabYzgT/GDA==";

#[derive(Default)]
struct Asked {
    ids: Vec<u128>,
    found: u64,
    missing: u64,
}

/// The store on an ephemeral port: `GET /api/traces/{id}` answers `body`
/// with the id put in (as base64 with `base64_ids`), 404 for ids that are
/// 0 mod 4, and 401 without the token.
async fn store(body: &'static str, base64_ids: bool) -> (String, Arc<Mutex<Asked>>) {
    let asked: Arc<Mutex<Asked>> = Arc::default();
    let seen = asked.clone();
    let app = axum::Router::new().route(
        "/api/traces/{id}",
        axum::routing::get(move |Path(id): Path<String>, headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                if auth != Some(&format!("Bearer {TOKEN}")) {
                    return (StatusCode::UNAUTHORIZED, String::new());
                }
                let Ok(n) = u128::from_str_radix(&id, 16) else {
                    return (StatusCode::BAD_REQUEST, "bad id".into());
                };
                let mut a = seen.lock().unwrap();
                a.ids.push(n);
                if n % 4 == 0 {
                    a.missing += 1;
                    return (
                        StatusCode::NOT_FOUND,
                        r#"{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}"#.into(),
                    );
                }
                a.found += 1;
                let text = if base64_ids {
                    let b = base64::engine::general_purpose::STANDARD.encode(n.to_be_bytes());
                    body.replace(B64, &b)
                } else {
                    body.replace(HEX, &format!("{n:032x}"))
                };
                (StatusCode::OK, text)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), asked)
}

/// A run with `--traces-from KIND=store`; checks what was asked and found
/// against the report and the summary line.
async fn run_with(kind: &str, body: &'static str, base64_ids: bool) {
    let (url, asked) = store(body, base64_ids).await;
    let app = target(0.05).await;
    let dir = Dir::new();
    let file = dir.write("s.yaml", &open_scenario("/api/products", 40.0, 2, 10, ""));
    let out_file = dir.path("r.json");
    let host = format!("http://{}", app.addr);
    let from = format!("{kind}={url}");
    let out = run_env(
        &[
            "run",
            arg(&file),
            "--host",
            &host,
            "--traces-from",
            &from,
            "--traces-delay",
            "100ms",
            "--report",
            arg(&out_file),
        ],
        &[("LOADGEN_TRACES_TOKEN", TOKEN)],
        Duration::from_secs(60),
    )
    .await;
    app.shutdown().await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let a = asked.lock().unwrap();
    let unique: HashSet<u128> = a.ids.iter().copied().collect();
    assert_eq!(unique.len(), a.ids.len(), "each trace asked for once");
    assert!(a.found > 0 && a.missing > 0, "{} {}", a.found, a.missing);
    assert!(
        a.ids.len() <= 80,
        "at most the run's requests: {}",
        a.ids.len()
    );
    let line = format!(
        "{} traces fetched from {kind}, {} not found, 0 failed",
        a.found, a.missing
    );
    assert!(out.stderr.contains(&line), "{line:?} in {}", out.stderr);
    assert!(out.stdout.contains("where the time goes"), "{}", out.stdout);

    let r = report(&out_file);
    let b = &r["bottlenecks"];
    assert_eq!(b["source"], kind, "{b}");
    assert_eq!(b["spans"], a.found * 3, "three spans a trace: {b}");
    let q = &b["requests"][0];
    assert_eq!(q["request"], "req");
    let without =
        q["slow_without_trace"].as_u64().unwrap() + q["typical_without_trace"].as_u64().unwrap();
    let analysed = q["slow"].as_u64().unwrap() + q["typical"].as_u64().unwrap();
    assert!(analysed > 0, "{q}");
    assert!(without <= a.missing && without < analysed, "{q}");
    // The recorded tree: process_payment's self time is 22 ms in every trace.
    let pay = q["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["span"] == "process_payment")
        .unwrap_or_else(|| panic!("no process_payment in {q}"));
    assert!(
        (pay["typical_ms"].as_f64().unwrap() - 22.0).abs() < 0.01,
        "{pay}"
    );
    // In every trace: not a separator.
    assert!(q["separators"].as_array().unwrap().is_empty(), "{q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempo_traces_are_fetched_and_analysed() {
    run_with("tempo", include_str!("../data/traces/tempo_v1.json"), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_traces_are_fetched_and_analysed() {
    run_with("jaeger", include_str!("../data/traces/jaeger.json"), false).await;
}

#[tokio::test]
async fn traces_from_is_checked() {
    let dir = Dir::new();
    let file = dir.write("s.yaml", &open_scenario("/api/products", 1.0, 1, 1, ""));
    for (args, needle) in [
        (
            vec!["--traces-from", "zipkin=http://x:1"],
            "tempo, jaeger or jaeger-v3",
        ),
        (vec!["--traces-from", "tempo=ftp://x"], "not an http(s) URL"),
        (
            vec![
                "--traces-from",
                "tempo=http://x:1",
                "--trace-sink",
                "127.0.0.1:0",
            ],
            "cannot be used with",
        ),
        (vec!["--traces-delay", "1s"], "--traces-from"),
    ] {
        let mut all = vec!["run", arg(&file)];
        all.extend(args);
        let out = run_env(&all, &[], Duration::from_secs(20)).await;
        assert_eq!(out.code, Some(2), "{all:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{all:?}: {}", out.stderr);
    }
}
