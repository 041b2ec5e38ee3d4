//! `loadgen URL`: each flag's effect seen by a real server, bad flags
//! refused with exit 2, the open and closed models against the target app,
//! the request budget (`-n`), `--print-scenario` round trips, and scenario
//! files that leave out base_url (with `--host`) or names.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use tokio::net::TcpListener;

use crate::util::{Dir, arg, report, run, run_against, served, target};

/// What a recording server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: String,
}

/// An HTTP server on loopback that answers 200 to everything and keeps what
/// it saw (at most 10 000 requests); stopped when dropped.
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    async fn start() -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let keep = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let keep = keep.clone();
                async move {
                    let mut all = keep.lock().unwrap();
                    if all.len() < 10_000 {
                        all.push(Seen {
                            method: method.to_string(),
                            uri: uri.to_string(),
                            headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                    }
                    "ok"
                }
            },
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const LIMIT: Duration = Duration::from_secs(60);

fn header<'a>(s: &'a Seen, name: &str) -> Option<&'a str> {
    s.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flag_reaches_the_server() {
    let server = Recorder::start().await;
    let dir = Dir::new();
    let body_file = dir.write("body.json", "{\"from\": \"file\"}");
    let url = format!("{}/echo/path?x=1&y=two", server.url);
    struct Case {
        args: Vec<String>,
        method: &'static str,
        headers: Vec<(&'static str, &'static str)>,
        body: &'static str,
    }
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let cases = [
        Case {
            args: s(&[]),
            method: "GET",
            headers: vec![],
            body: "",
        },
        Case {
            args: s(&["-m", "put", "-d", "a,b", "-T", "text/csv"]),
            method: "PUT",
            headers: vec![("content-type", "text/csv")],
            body: "a,b",
        },
        Case {
            args: s(&[
                "-H",
                "X-Test: a b: c",
                "-H",
                "Accept:text/plain",
                "--header",
                "x-test: second",
            ]),
            method: "GET",
            headers: vec![("x-test", "second"), ("accept", "text/plain")],
            body: "",
        },
        Case {
            args: vec![
                "-m".into(),
                "POST".into(),
                "-D".into(),
                arg(&body_file).into(),
                "-T".into(),
                "text/plain".into(),
                "-H".into(),
                "Content-Type: application/json".into(),
            ],
            method: "POST",
            headers: vec![("content-type", "application/json")],
            body: "{\"from\": \"file\"}",
        },
    ];
    for case in cases {
        let before = server.seen().len();
        let mut args = vec![url.as_str(), "-n", "3", "-c", "1"];
        args.extend(case.args.iter().map(String::as_str));
        let out = run(&args, LIMIT).await;
        assert_eq!(out.code, Some(0), "{args:?}: {}{}", out.stdout, out.stderr);
        let seen = server.seen();
        let got = &seen[before..];
        assert_eq!(got.len(), 3, "{args:?}: {got:?}");
        for r in got {
            assert_eq!(r.method, case.method, "{args:?}");
            assert_eq!(r.uri, "/echo/path?x=1&y=two", "{args:?}");
            assert_eq!(r.body, case.body, "{args:?}");
            for (k, v) in &case.headers {
                assert_eq!(header(r, k), Some(*v), "{args:?}: header {k}");
            }
            assert!(
                header(r, "user-agent").is_some_and(|u| u.starts_with("loadgen/")),
                "{args:?}"
            );
        }
        // A header given twice is sent once.
        if case.args.iter().any(|a| a == "X-Test: a b: c") {
            assert_eq!(got[0].headers.get_all("x-test").iter().count(), 1);
        }
    }
    // A Host header is kept (a virtual host behind an address); without
    // one, the URL's authority is sent.
    let before = server.seen().len();
    let out = run(&[&url, "-n", "1", "-H", "Host: api.example"], LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(header(&server.seen()[before], "host"), Some("api.example"));
    let authority = server.url.trim_start_matches("http://").to_owned();
    assert_eq!(header(&server.seen()[0], "host"), Some(authority.as_str()));
    // A header value keeps its colons: the split is at the first one.
    let before = server.seen().len();
    let out = run(&[&url, "-n", "1", "-H", "X-Time: 12:30:00"], LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(header(&server.seen()[before], "x-time"), Some("12:30:00"));
}

#[tokio::test]
async fn bad_flags_exit_2_with_the_value_shown() {
    let dir = Dir::new();
    let body = dir.write("b.txt", "x");
    let u = "http://127.0.0.1:1/";
    let b = arg(&body);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![u, "-d", "x", "-D", b], "cannot be used with"),
        (vec![u, "-H", "no colon here"], "no colon here"),
        (vec![u, "-H", "bad name: v"], "bad name"),
        (vec![u, "-H", "x-a: a\u{1}b"], "x-a"),
        (vec!["not a url"], "not a url"),
        (vec!["127.0.0.1:8080"], "127.0.0.1:8080"),
        (vec!["ftp://h/"], "http or https"),
        (vec!["http://user:pw@h/"], "credentials"),
        (vec![u, "-q", "0"], "'0'"),
        (vec![u, "-q", "-5"], "-5"),
        (vec![u, "-q", "nan"], "nan"),
        (vec![u, "-q", "200000"], "200000"),
        (vec![u, "-c", "0"], "'0'"),
        (vec![u, "-c", "10001"], "10001"),
        (vec![u, "-n", "0"], "'0'"),
        (vec![u, "-z", "0s"], "duration"),
        (vec![u, "-z", "25h"], "at most 1day"),
        (vec![u, "-z", "soon"], "soon"),
        (vec![u, "--timeout", "0s"], "--timeout"),
        (vec![u, "-m", "B AD"], "B AD"),
        (vec![u, "--cert", b], "--key"),
        (vec![u, "--threshold", "p(95)<"], "p(95)<"),
        (
            vec![u, "--threshold", "checks>99%"],
            "a URL run has none: checks are written in a scenario file",
        ),
        (vec![u, "-D", "/nonexistent/body"], "/nonexistent/body"),
        (vec![u, "--report", "-", "--junit", "-"], "at most one"),
        (vec![], "Usage"),
    ];
    for (args, shown) in cases {
        let out = run(&args, LIMIT).await;
        assert_eq!(out.code, Some(2), "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(shown),
            "{args:?}: stderr does not show {shown:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_holds_the_rate_and_corrects_latency() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let rep = dir.path("open.json");
    let url = format!("http://{}/api/products", app.addr);
    let out = run(
        &[&url, "-q", "200", "-z", "3s", "--report", arg(&rep)],
        LIMIT,
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    assert_eq!(r["model"], "open");
    let count = r["total"]["count"].as_f64().unwrap();
    let elapsed = r["elapsed_s"].as_f64().unwrap();
    let achieved = count / elapsed;
    assert!(
        (achieved - 200.0).abs() / 200.0 <= 0.02,
        "achieved {achieved}/s ({count} in {elapsed}s)"
    );
    let got = served(&app, "/api/products");
    assert!((got - 600.0).abs() / 600.0 <= 0.02, "the app counted {got}");
    assert_eq!(got, count, "the report and the app agree");
    assert_eq!(r["dropped_iterations"], 0);
    // Corrected latency counts from the intended start: never below the
    // latency from the actual send.
    for p in ["p50", "p99", "max"] {
        let c = r["total"]["latency_ms"][p].as_f64().unwrap();
        let u = r["total"]["latency_uncorrected_ms"][p].as_f64().unwrap();
        assert!(c >= u, "{p}: corrected {c} < uncorrected {u}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_counts_what_the_app_counts() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let rep = dir.path("closed.json");
    let url = format!("http://{}/api/products", app.addr);
    let out = run(&[&url, "-c", "4", "-z", "2s", "--report", arg(&rep)], LIMIT).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    assert_eq!(r["model"], "closed");
    let count = r["total"]["count"].as_f64().unwrap();
    let got = served(&app, "/api/products");
    assert!(count > 100.0, "4 users back to back for 2 s sent {count}");
    assert!(
        (got - count).abs() / count <= 0.02,
        "report {count}, app {got}"
    );
    let elapsed = r["elapsed_s"].as_f64().unwrap();
    assert!((1.9..3.0).contains(&elapsed), "elapsed {elapsed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_budget_ends_the_run_after_exactly_n() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let url = format!("http://{}/api/products", app.addr);
    let rep = dir.path("n.json");
    let cases: [&[&str]; 4] = [
        &["-n", "300", "-c", "8"],
        &["-n", "300", "-q", "400", "-c", "20"],
        // With -z as well, whichever comes first: here -n.
        &["-n", "300", "-c", "3", "-z", "1m"],
        &["-n", "300", "-q", "1000", "-c", "50", "-z", "1m"],
    ];
    for flags in cases {
        let before = served(&app, "/api/products");
        let mut args = vec![url.as_str()];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--report", arg(&rep)]);
        let out = run(&args, LIMIT).await;
        assert_eq!(out.code, Some(0), "{flags:?}: {}{}", out.stdout, out.stderr);
        let r = report(&rep);
        assert_eq!(r["total"]["count"], 300, "{flags:?}");
        assert_eq!(served(&app, "/api/products") - before, 300.0, "{flags:?}");
        assert_eq!(r["dropped_iterations"], 0, "{flags:?}");
        // The budget, not -z, ended it.
        assert!(r["elapsed_s"].as_f64().unwrap() < 30.0, "{flags:?}");
    }
    // With neither -z nor -n, 200 requests (oha's default).
    let before = served(&app, "/api/products");
    let out = run(&[&url, "--report", arg(&rep)], LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(report(&rep)["total"]["count"], 200);
    assert_eq!(served(&app, "/api/products") - before, 200.0);
    // With -z shorter than the budget, -z ends it.
    let out = run(
        &[
            &url,
            "-q",
            "50",
            "-n",
            "100000",
            "-z",
            "1s",
            "--report",
            arg(&rep),
        ],
        LIMIT,
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let count = report(&rep)["total"]["count"].as_u64().unwrap();
    assert!((45..=55).contains(&count), "{count}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_scenario_round_trips_through_validate_and_run() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let url = format!("http://{}/api/products?page=1", app.addr);
    let flags = [
        url.as_str(),
        "-n",
        "40",
        "-c",
        "2",
        "-q",
        "100",
        "-H",
        "X-Trace: on",
        "--timeout",
        "3s",
        "--threshold",
        "p(95)<2s",
    ];
    let mut printing = flags.to_vec();
    printing.push("--print-scenario");
    let out = run(&printing, LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(served(&app, "/api/products"), 0.0, "printing sends nothing");
    let yaml = out.stdout;
    for part in [
        "base_url: http://127.0.0.1:",
        "path: /api/products?page=1",
        "x-trace: \"on\"",
        "timeout: 3s",
        "model: open",
        "rate: 100",
        "max_users: 2",
        "requests: 40",
        "p(95)<2s",
    ] {
        assert!(yaml.contains(part), "{part:?} not in:\n{yaml}");
    }
    let file = dir.write("printed.yaml", &yaml);
    let out = run(&["validate", arg(&file)], LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("1 scenarios, 1 request names, 1 thresholds")
            && out.stdout.contains("at most 40 requests"),
        "{}",
        out.stdout
    );
    // The file and the flags make the same run.
    let (a, b) = (dir.path("file.json"), dir.path("flags.json"));
    let out = run(&["run", arg(&file), "--report", arg(&a)], LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut with_report = flags.to_vec();
    with_report.extend_from_slice(&["--report", arg(&b)]);
    let out = run(&with_report, LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let (a, b) = (report(&a), report(&b));
    for key in ["scenario", "target", "model"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["total"]["count"], 40);
    assert_eq!(b["total"]["count"], 40);
    assert_eq!(a["requests"][0]["name"], "GET /api/products?page=1");
    assert_eq!(a["requests"][0]["name"], b["requests"][0]["name"]);
    assert_eq!(a["thresholds"][0]["threshold"], "p(95)<2s");
    assert_eq!(
        a["thresholds"][0]["threshold"],
        b["thresholds"][0]["threshold"]
    );
    assert_eq!(served(&app, "/api/products"), 80.0);
    // The printed file is the flags' scenario: printing it again gives the same text.
    let again = run(&printing, LIMIT).await;
    assert_eq!(again.stdout, yaml);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_without_base_url_or_names() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let bare = dir.write(
        "bare.yaml",
        "scenarios:\n  - requests:\n      - path: /api/products\n      - method: post\n        path: /health\n        expect: [405]\nload:\n  model: closed\n  users: 1\n  requests: 10\n",
    );
    // Without --host: a clear error at the file, exit 2.
    let out = run(&["run", arg(&bare)], LIMIT).await;
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("no base_url") && out.stderr.contains("--host"),
        "{}",
        out.stderr
    );
    assert!(
        crate::util::has_location(&out.stderr, "bare.yaml"),
        "{}",
        out.stderr
    );
    let out = run(&["validate", arg(&bare)], LIMIT).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    // validate --host and run --host accept it.
    let host = format!("http://{}", app.addr);
    let out = run(&["validate", arg(&bare), "--host", &host], LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rep = dir.path("bare.json");
    let out = run_against(&app, &bare, &["--report", arg(&rep)]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    let names: Vec<&str> = r["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["GET /api/products", "POST /health"]);
    assert_eq!(r["total"]["count"], 10);
    assert_eq!(r["target"], host);
    // Several scenarios need names.
    let two = dir.write(
        "two.yaml",
        "base_url: http://127.0.0.1:1\nscenarios:\n  - requests: [{path: /a}]\n  - requests: [{path: /b}]\nload: {model: closed, users: 1, duration: 1s}\n",
    );
    let out = run(&["validate", arg(&two)], LIMIT).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("has no name"), "{}", out.stderr);
    assert!(
        crate::util::has_location(&out.stderr, "two.yaml"),
        "{}",
        out.stderr
    );
    // A bad --host is refused before the file is read.
    let out = run(&["validate", arg(&bare), "--host", "nope"], LIMIT).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--host"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_is_sent_in_full_to_a_host_name() {
    // The budget's last request ends the schedule while the first requests
    // may still wait for the one shared lookup of the name: they must go on.
    let app = target(0.0).await;
    let url = format!("http://localhost:{}/api/products", app.addr.port());
    let mut expected = 0.0;
    for flags in [
        &["-n", "1", "-c", "50"][..],
        &["-n", "5", "-q", "1000"][..],
        &["-n", "20", "-c", "50"][..],
    ] {
        let mut args = vec![url.as_str()];
        args.extend_from_slice(flags);
        let out = run(&args, LIMIT).await;
        assert_eq!(out.code, Some(0), "{flags:?}: {}{}", out.stdout, out.stderr);
        expected += flags[1].parse::<f64>().unwrap();
        assert_eq!(
            served(&app, "/api/products"),
            expected,
            "{flags:?}: {}",
            out.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_smaller_than_the_shard_count_is_refused() {
    let dir = Dir::new();
    let file = dir.write(
        "s.yaml",
        "base_url: http://127.0.0.1:1\nscenarios:\n  - requests: [{path: /}]\nload: {model: closed, users: 1, requests: 2}\n",
    );
    // Three parts of a budget of two: the third would send nothing.
    let out = run(
        &[
            "run",
            arg(&file),
            "--shard-count",
            "3",
            "--shard-index",
            "2",
        ],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("a request budget of 2 cannot be split across --shard-count 3"),
        "{}",
        out.stderr
    );
}
