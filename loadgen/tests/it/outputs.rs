//! What a run prints and writes, through the binary against the target app:
//! the summary's status codes and bytes against what the app served,
//! `--json`, `--quiet`, the progress line on a terminal stderr, and the
//! HdrHistogram log read back by HdrHistogram's Python package and by its
//! reference Java log processor.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::util::{Dir, arg, open_scenario, report, run, run_against, set_faults, target};

/// Responses the target app has counted for `route` with `status`.
fn served_with(app: &target_app::Running, route: &str, status: u16) -> u64 {
    let text = app.state.metrics.encode();
    text.lines()
        .filter(|l| {
            l.starts_with("http_server_request_duration_seconds_count{")
                && l.contains(&format!("http_route=\"{route}\""))
                && l.contains(&format!("http_response_status_code=\"{status}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The body size of one `GET /api/products/1` with the app's current faults.
async fn body_len(app: &target_app::Running, expect: u16) -> u64 {
    let r = reqwest::get(format!("http://{}/api/products/1", app.addr))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), expect);
    r.bytes().await.unwrap().len() as u64
}

/// The route the fault plan breaks some requests of.
const ROUTE: &str = "/api/products/{id}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_shows_the_status_codes_and_bytes_the_app_served() {
    let app = target(0.0).await;
    // The two bodies product 1 is answered with: 200 and the injected 503.
    let ok_len = body_len(&app, 200).await;
    set_faults(
        &app,
        json!({"rules": [{"route": ROUTE, "error_rate": 1.0, "error_status": 503}]}),
    )
    .await;
    let err_len = body_len(&app, 503).await;
    set_faults(
        &app,
        json!({"rules": [{"route": ROUTE, "error_rate": 0.3, "error_status": 503}]}),
    )
    .await;
    let before = (served_with(&app, ROUTE, 200), served_with(&app, ROUTE, 503));
    let dir = Dir::new();
    let file = dir.write("s.yaml", &open_scenario("/api/products/1", 50.0, 2, 10, ""));
    let rep = dir.path("r.json");
    let out = run_against(&app, &file, &["--report", arg(&rep)]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let ok = served_with(&app, ROUTE, 200) - before.0;
    let failed = served_with(&app, ROUTE, 503) - before.1;
    assert!(ok > 0 && failed > 0, "200: {ok}, 503: {failed}");
    // The summary: every status seen, with the app's own counts.
    assert!(
        out.stdout
            .contains(&format!("\nstatus codes: 200: {ok}, 503: {failed}\n")),
        "app served 200: {ok}, 503: {failed}; summary:\n{}",
        out.stdout
    );
    // Bytes received: the bodies the app served.
    let bytes = ok * ok_len + failed * err_len;
    assert!(
        out.stdout
            .contains(&format!("\nreceived {bytes} bytes of response bodies (")),
        "expected {bytes} bytes ({ok} x {ok_len} + {failed} x {err_len}):\n{}",
        out.stdout
    );
    // The reasons, with counts, one line each.
    assert!(
        out.stdout
            .contains(&format!("  status: HTTP 503 ({failed})\n")),
        "{}",
        out.stdout
    );
    // The JSON report has them too.
    let r = report(&rep);
    assert_eq!(r["total"]["status_codes"]["200"], ok);
    assert_eq!(r["total"]["status_codes"]["503"], failed);
    assert_eq!(r["total"]["bytes_received"], bytes);
    assert_eq!(r["requests"][0]["bytes_received"], bytes);
    // A merge of two adds them up.
    let merged = dir.path("m.json");
    let out = run(
        &["merge", arg(&rep), arg(&rep), "--report", arg(&merged)],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let m = report(&merged);
    assert_eq!(m["total"]["bytes_received"], 2 * bytes);
    assert_eq!(m["total"]["status_codes"]["503"], 2 * failed);
    assert!(
        out.stdout.contains(&format!(
            "status codes: 200: {}, 503: {}",
            2 * ok,
            2 * failed
        )),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_puts_the_report_on_stdout_and_quiet_prints_nothing() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let file = dir.write("s.yaml", &open_scenario("/health", 20.0, 1, 5, ""));
    let rep = dir.path("r.json");
    // --json with --report FILE: the report on stdout and in the file,
    // the summary on stderr.
    let out = run_against(&app, &file, &["--json", "--report", arg(&rep)]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let parsed = loadgen::report::parse(&out.stdout, "stdout")
        .unwrap_or_else(|e| panic!("stdout is not the report alone ({e}):\n{}", out.stdout));
    assert_eq!(parsed, loadgen::report::read(&rep).unwrap());
    assert!(parsed.total.count > 0);
    assert!(
        out.stderr.contains("\nstatus codes: 200: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("received "), "{}", out.stderr);
    // merge --json: the merged report on stdout, its summary on stderr.
    let out = run(
        &["merge", "--json", arg(&rep), arg(&rep)],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let merged = loadgen::report::parse(&out.stdout, "stdout")
        .unwrap_or_else(|e| panic!("merge --json stdout ({e}):\n{}", out.stdout));
    assert_eq!(merged.total.count, 2 * parsed.total.count);
    assert!(out.stderr.contains("status codes: 200: "), "{}", out.stderr);
    // --json alone: stdout is the report.
    let out = run_against(&app, &file, &["--json"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        loadgen::report::parse(&out.stdout, "stdout").is_ok(),
        "{}",
        out.stdout
    );
    // --json and another output on stdout would interleave: refused.
    let out = run_against(&app, &file, &["--json", "--junit", "-"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("at most one"), "{}", out.stderr);

    // --quiet: nothing on stdout or stderr, the files still written.
    let quiet = dir.path("q.json");
    let hdr = dir.path("q.hlog");
    let out = run_against(
        &app,
        &file,
        &["--quiet", "--report", arg(&quiet), "--hdr-log", arg(&hdr)],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    assert!(report(&quiet)["total"]["count"].as_u64() > Some(0));
    assert!(hdr.is_file());
    let out = run(&["merge", "--quiet", arg(&quiet)], Duration::from_secs(20)).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    // --quiet still says why a run failed.
    let refused = dir.write(
        "refused.yaml",
        &open_scenario("/health", 10.0, 1, 2, "").replace("timeout: 5s", "timeout: 1s"),
    );
    let out = run(
        &[
            "run",
            arg(&refused),
            "--quiet",
            "--host",
            "http://127.0.0.1:1",
        ],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("no request succeeded"),
        "{}",
        out.stderr
    );
}

/// Runs `command` in a shell under `script`, so that it has a terminal
/// (a pty) for what it does not redirect; returns what reached the terminal.
async fn on_a_terminal(dir: &Dir, command: &str) -> String {
    let typescript = dir.path("typescript");
    let out = run_script(&["-qec", command, arg(&typescript)]).await;
    assert!(out.status.success(), "script: {out:?}");
    std::fs::read_to_string(&typescript).unwrap()
}

async fn run_script(args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new("script")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("script (util-linux) starts");
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("script finished in time")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_shows_when_stderr_is_a_terminal() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let file = dir.write("s.yaml", &open_scenario("/health", 20.0, 2, 5, ""));
    let run = format!(
        "{} run {} --host http://{}",
        env!("CARGO_BIN_EXE_loadgen"),
        arg(&file),
        app.addr
    );
    let progress = "\x1b[2K[";
    // stdout to a file, stderr the terminal: the progress line is there.
    let stdout = dir.path("stdout.txt");
    let seen = on_a_terminal(&dir, &format!("{run} --json > {}", arg(&stdout))).await;
    assert!(
        seen.contains(progress) && seen.contains(" requests "),
        "{seen:?}"
    );
    assert!(loadgen::report::parse(&std::fs::read_to_string(&stdout).unwrap(), "stdout").is_ok());
    // stdout the terminal, stderr to a file: no progress line anywhere.
    let stderr = dir.path("stderr.txt");
    let seen = on_a_terminal(&dir, &format!("{run} 2> {}", arg(&stderr))).await;
    let err = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        !seen.contains(progress) && !err.contains(progress),
        "{seen:?} {err:?}"
    );
    assert!(seen.contains("status codes: 200: "), "{seen:?}");
    // --quiet on a terminal: nothing at all.
    let seen = on_a_terminal(&dir, &format!("{run} --quiet")).await;
    assert!(
        !seen.contains(progress) && !seen.contains("status codes"),
        "{seen:?}"
    );
}

/// The Python that has HdrHistogram's package: `$HDRH_PYTHON`, or the
/// `.venv` scripts/test.sh makes.
fn hdrh_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("HDRH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(
        python.exists(),
        "no Python with hdrhistogram: run scripts/test.sh (it makes .venv) or set HDRH_PYTHON"
    );
    python
}

/// What HdrHistogram's Python package reads in a log (hdrlog_check.py).
fn read_with_python(log: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/hdrlog_check.py");
    let out = std::process::Command::new(hdrh_python())
        .arg(script)
        .arg(log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hdrlog_check.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether what the Python reader found agrees with the report: the
/// reference layout, the same count, and p50/p99/max within the
/// histogram's precision (3 digits). The two libraries round a percentile's
/// rank differently (ceil, nearest), so a value one rank away is allowed.
fn agrees(py: &serde_json::Value, r: &loadgen::report::Report) -> Result<(), String> {
    let problems = py["problems"].as_array().cloned().unwrap_or_default();
    if !problems.is_empty() {
        return Err(format!("not the reference format: {problems:?}"));
    }
    let count = py["count"].as_u64().unwrap_or(0);
    if count != r.total.count {
        return Err(format!("count {count}, the report says {}", r.total.count));
    }
    let h = loadgen::stats::decode_histogram(&r.total.histogram)?;
    let close = |a: f64, b: f64| (a - b).abs() <= b.abs() * 0.001 + 1.0;
    let at_rank = |rank: u64| {
        let rank = rank.clamp(1, count);
        h.value_at_quantile((rank as f64 - 0.5) / count as f64) as f64
    };
    let l = &r.total.latency_ms;
    for (key, q, reported) in [("p50_us", 0.5, l.p50), ("p99_us", 0.99, l.p99)] {
        let got = py[key].as_f64().unwrap_or(-1.0);
        let rank = (q * count as f64).ceil() as u64;
        let allowed = [
            reported * 1000.0,
            at_rank(rank.saturating_sub(1)),
            at_rank(rank + 1),
        ];
        if !allowed.iter().any(|a| close(got, *a)) {
            return Err(format!("{key} {got} us, the report says {reported} ms"));
        }
    }
    let max = py["max_us"].as_f64().unwrap_or(-1.0);
    if !close(max, l.max * 1000.0) {
        return Err(format!("max {max} us, the report says {} ms", l.max));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hdr_log_reads_back_with_an_independent_implementation() {
    let app = target(0.0).await;
    set_faults(
        &app,
        json!({"rules": [{"route": "/api/products", "latency": "5ms", "jitter": "20ms"}]}),
    )
    .await;
    let dir = Dir::new();
    let file = dir.write("s.yaml", &open_scenario("/api/products", 50.0, 3, 20, ""));
    let (rep, log) = (dir.path("r.json"), dir.path("r.hlog"));
    let out = run_against(
        &app,
        &file,
        &["--report", arg(&rep), "--hdr-log", arg(&log)],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = loadgen::report::read(&rep).unwrap();
    let py = read_with_python(&log);
    assert!(py["intervals"].as_u64() >= Some(3), "{py}");
    agrees(&py, &r).unwrap_or_else(|e| panic!("{e}: {py}"));

    // The check can fail: a log without the header, ...
    let text = std::fs::read_to_string(&log).unwrap();
    let bare: String = text
        .lines()
        .filter(|l| !l.starts_with("#[") && !l.starts_with('"'))
        .map(|l| format!("{l}\n"))
        .collect();
    let broken = dir.write("bare.hlog", &bare);
    let e = agrees(&read_with_python(&broken), &r).unwrap_err();
    assert!(
        e.contains("no version header") && e.contains("no legend"),
        "{e}"
    );
    // ... tagged lines, as loadgen wrote them before, ...
    let tagged = tagged(&text);
    let broken = dir.write("tagged.hlog", &tagged);
    let e = agrees(&read_with_python(&broken), &r).unwrap_err();
    assert!(e.contains("tagged line"), "{e}");
    // ... and histograms in milliseconds instead of microseconds.
    let millis: String = text
        .lines()
        .map(|l| {
            if l.starts_with(['#', '"']) {
                return format!("{l}\n");
            }
            let fields: Vec<&str> = l.split(',').collect();
            let h = loadgen::stats::decode_histogram(fields[3]).unwrap();
            let mut ms =
                hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
            for v in h.iter_recorded() {
                ms.record_n((v.value_iterated_to() / 1000).max(1), v.count_at_value())
                    .unwrap();
            }
            format!(
                "{},{},{:.3},{}\n",
                fields[0],
                fields[1],
                ms.max() as f64 / 1000.0,
                loadgen::stats::encode_histogram(&ms)
            )
        })
        .collect();
    let broken = dir.write("millis.hlog", &millis);
    let e = agrees(&read_with_python(&broken), &r).unwrap_err();
    assert!(e.contains("p50_us"), "{e}");
}

/// A log with its interval lines tagged, as loadgen wrote them before it
/// followed the reference format.
fn tagged(log: &str) -> String {
    log.lines()
        .map(|l| {
            if l.starts_with(['#', '"']) {
                format!("{l}\n")
            } else {
                format!("Tag=corrected,{l}\n")
            }
        })
        .collect()
}

/// HdrHistogram's reference implementation, the Java `HistogramLogProcessor`
/// (Debian's libhdrhistogram-java, which scripts/test.sh installs), run on a
/// log as its users run it: no `-tag`, values printed in milliseconds.
/// Returns its exit status, its `.hgrm` percentile file and its stderr.
fn java_processor(log: &Path, out: &Path) -> (bool, String, String) {
    let jar =
        std::env::var("HDRH_JAR").unwrap_or_else(|_| "/usr/share/java/hdrhistogram.jar".to_owned());
    let run = std::process::Command::new(std::env::var("JAVA").unwrap_or_else(|_| "java".into()))
        .args(["-cp", &jar, "org.HdrHistogram.HistogramLogProcessor", "-i"])
        .arg(log)
        .args(["-outputValueUnitRatio", "1000", "-o"])
        .arg(out)
        .output()
        .expect("java runs (scripts/test.sh installs libhdrhistogram-java)");
    let hgrm = std::fs::read_to_string(format!("{}.hgrm", out.display())).unwrap_or_default();
    (
        run.status.success(),
        hgrm,
        String::from_utf8_lossy(&run.stderr).into_owned(),
    )
}

/// A `#[Name = value, ...]` figure of an `.hgrm` footer.
fn footer(hgrm: &str, name: &str) -> Option<f64> {
    let at = hgrm.find(&format!("{name} "))?;
    let rest = hgrm[at..].split_once('=')?.1;
    rest.trim_start()
        .split([',', ']'])
        .next()?
        .trim()
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hdr_log_reads_in_the_reference_java_log_processor() {
    let app = target(0.0).await;
    set_faults(
        &app,
        json!({"rules": [{"route": "/api/products", "latency": "5ms", "jitter": "20ms"}]}),
    )
    .await;
    let dir = Dir::new();
    let file = dir.write("s.yaml", &open_scenario("/api/products", 50.0, 2, 20, ""));
    let (rep, log) = (dir.path("r.json"), dir.path("r.hlog"));
    let out = run_against(
        &app,
        &file,
        &["--report", arg(&rep), "--hdr-log", arg(&log)],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = loadgen::report::read(&rep).unwrap();
    let (ok, hgrm, stderr) = java_processor(&log, &dir.path("java"));
    assert!(ok && !stderr.contains("Exception"), "{stderr}");
    // The whole run: the same count, mean and max as the report (ms, 3 decimals).
    assert_eq!(
        footer(&hgrm, "Total count"),
        Some(r.total.count as f64),
        "{hgrm}"
    );
    let lat = &r.total.latency_ms;
    let close = |a: f64, b: f64| (a - b).abs() <= 0.0015 + b * 1e-3;
    let max = footer(&hgrm, "Max").unwrap_or(f64::NAN);
    assert!(close(max, lat.max), "java max {max} vs report {}", lat.max);
    let mean = footer(&hgrm, "Mean").unwrap_or(f64::NAN);
    assert!(
        close(mean, lat.mean),
        "java mean {mean} vs report {}",
        lat.mean
    );
    // The median: the first row of the distribution at or past 0.5.
    let p50 = hgrm
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                f.next()?.parse::<f64>().ok()?,
                f.next()?.parse::<f64>().ok()?,
            ))
        })
        .find(|(_, q)| *q >= 0.5)
        .map_or(f64::NAN, |(v, _)| v);
    assert!(close(p50, lat.p50), "java p50 {p50} vs report {}", lat.p50);

    // The check can fail: the tagged lines loadgen wrote before crash it.
    let text = std::fs::read_to_string(&log).unwrap();
    let tagged = tagged(&text);
    let old = dir.write("tagged.hlog", &tagged);
    let (_, hgrm, stderr) = java_processor(&old, &dir.path("old"));
    assert!(
        stderr.contains("Exception") || footer(&hgrm, "Total count") != Some(r.total.count as f64),
        "the old format read cleanly: {stderr}{hgrm}"
    );
}
