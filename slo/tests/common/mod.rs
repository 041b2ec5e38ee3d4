//! Shared by the slo integration tests.

use std::process::Command;

/// Runs the slo binary; returns (exit code, stdout, stderr).
pub fn slo(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slo"))
        .args(args)
        .output()
        .expect("the slo binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
