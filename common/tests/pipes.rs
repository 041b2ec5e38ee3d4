//! Standard output into a pipe whose reader has gone, for real: this test
//! (without libtest, whose own output would hit the closed pipe first) runs
//! itself as a child whose stdout is a pipe to `head -c0`, which exits
//! without reading. The child writes through common's helpers and says on
//! stderr how it went. Also: `-` reads standard input.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::fs::{Stdout, exit_quietly_on_closed_stdout, stderr_line, write_atomic, write_stdout};

fn child(mode: &str) {
    match mode {
        "write" => {
            let big = vec![b'x'; 1 << 20];
            let first = write_atomic(Path::new("-"), &big);
            let second = write_stdout(&big);
            stderr_line(&format!("child: {first:?} {second:?}"));
        }
        "println" => {
            exit_quietly_on_closed_stdout();
            let big = "x".repeat(1 << 20);
            println!("{big}");
            stderr_line("child: println returned");
            std::process::exit(7);
        }
        "stdin" => match common::input::read_text(Path::new("-"), 10) {
            Ok(t) => stderr_line(&format!("child: ok {} {}", t.shown, t.text)),
            Err(e) => stderr_line(&format!("child: err {e}")),
        },
        _ => unreachable!("unknown mode {mode}"),
    }
}

/// Runs this binary as a child in `mode`, its stdout a pipe to a `head -c0`
/// that has already exited; returns the child's exit code and stderr.
fn into_closed_pipe(mode: &str) -> (Option<i32>, String) {
    let mut head = Command::new("head")
        .arg("-c0")
        .stdin(Stdio::piped())
        .spawn()
        .expect("head runs");
    let pipe = head.stdin.take().expect("a pipe");
    // head -c0 exits without reading; once it has, the pipe has no reader.
    assert!(head.wait().expect("head exits").success());
    let out = Command::new(std::env::current_exe().expect("this test binary"))
        .env("COMMON_PIPES_CHILD", mode)
        .stdout(pipe)
        .stderr(Stdio::piped())
        .output()
        .expect("the child runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn with_stdin(input: &[u8]) -> String {
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .env("COMMON_PIPES_CHILD", "stdin")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child runs");
    child
        .stdin
        .take()
        .expect("a pipe")
        .write_all(input)
        .expect("written");
    let out = child.wait_with_output().expect("the child exits");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn main() {
    if let Ok(mode) = std::env::var("COMMON_PIPES_CHILD") {
        child(&mode);
        return;
    }
    let mut failed = 0;
    let mut check = |what: &str, ok: bool, detail: &str| {
        if ok {
            println!("test {what} ... ok");
        } else {
            println!("test {what} ... FAILED\n{detail}");
            failed += 1;
        }
    };

    let (code, stderr) = into_closed_pipe("write");
    let expected = format!("child: Ok(()) Ok({:?})", Stdout::Closed);
    check(
        "write_atomic(-) and write_stdout into a closed pipe",
        code == Some(0) && stderr.contains(&expected) && !stderr.contains("panicked"),
        &format!("exit {code:?}, stderr:\n{stderr}"),
    );

    let (code, stderr) = into_closed_pipe("println");
    check(
        "println! into a closed pipe exits 0 quietly",
        code == Some(0) && stderr.is_empty(),
        &format!("exit {code:?}, stderr:\n{stderr}"),
    );

    let stderr = with_stdin(b"hello");
    check(
        "- reads standard input",
        stderr.contains("child: ok <stdin> hello"),
        &stderr,
    );
    let stderr = with_stdin(b"01234567890");
    check(
        "standard input over the cap is refused",
        stderr.contains("child: err <stdin> is larger than 10 bytes"),
        &stderr,
    );

    let passed = 4 - failed;
    println!("\npipes: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
