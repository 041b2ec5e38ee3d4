//! A closed stdout (`loadgen ... | head -1`) is not a panic: loadgen exits
//! quietly with the exit code of what it did, and still writes its reports.

use std::process::Stdio;
use std::time::Duration;

use crate::util::{Dir, arg, open_scenario, target};

/// Runs loadgen with stdout a pipe whose reading end is already closed, so
/// every write fails with EPIPE; returns the exit code and stderr.
async fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let (read, write) = nix::unistd::pipe().expect("a pipe");
    drop(read);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("loadgen starts");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("loadgen finished in time")
        .expect("loadgen output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn closed_stdout_is_not_a_panic() {
    let steady = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/steady.yaml");
    for args in [
        vec!["schema"],
        vec!["validate", steady],
        vec!["--help"],
        vec!["run", "--help"],
    ] {
        let (code, stderr) = with_closed_stdout(&args).await;
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // A run's summary into a closed pipe: the report is still written, and
    // `merge` of it into a closed pipe is quiet too.
    let app = target(0.0).await;
    let dir = Dir::new();
    let file = dir.write("s.yaml", &open_scenario("/health", 20.0, 1, 2, ""));
    let rep = dir.path("r.json");
    let host = format!("http://{}", app.addr);
    let (code, stderr) =
        with_closed_stdout(&["run", arg(&file), "--host", &host, "--report", arg(&rep)]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(rep.is_file(), "the report is written: {stderr}");
    let (code, stderr) = with_closed_stdout(&["merge", arg(&rep), arg(&rep)]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
