//! `loadgen completions SHELL` and the man page: the scripts load in their
//! shell and name the commands and flags; the checked-in man page (kept
//! current by slo/tests/it/goldens.rs) is roff that groff reads without a
//! warning.

use std::process::Command;
use std::time::Duration;

use crate::util::{Dir, run};

#[tokio::test]
async fn every_shell_gets_a_script_with_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell], Duration::from_secs(30)).await;
        assert_eq!(out.code, Some(0), "{shell}: {}", out.stderr);
        for word in ["validate", "merge", "demo", "report", "junit"] {
            assert!(out.stdout.contains(word), "{shell}: no {word}");
        }
    }
}

#[tokio::test]
async fn the_bash_script_loads_and_completes_loadgen() {
    let out = run(&["completions", "bash"], Duration::from_secs(30)).await;
    let dir = Dir::new();
    let script = dir.write("loadgen.bash", &out.stdout);
    let loaded = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p loadgen",
            script.display()
        ))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        loaded.status.success() && said.contains("loadgen"),
        "{said}{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
}

#[tokio::test]
async fn an_unknown_shell_is_invalid_input() {
    let out = run(&["completions", "tcsh"], Duration::from_secs(30)).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("possible values"), "{}", out.stderr);
}

/// Every page of `loadgen/man/` renders with groff (plain text) without a
/// warning; the top page lists the commands and each command's page its
/// synopsis.
#[test]
fn the_man_pages_are_roff_groff_reads_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let mut pages: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    assert!(pages.len() > 3, "{pages:?}");
    for page in pages {
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-P-cbou"])
            .arg(&page)
            .output()
            .expect("groff runs (scripts/test.sh installs groff-base)");
        let text = String::from_utf8_lossy(&out.stdout);
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.is_empty(),
            "{}: {warnings}",
            page.display()
        );
        assert!(text.contains("SYNOPSIS"), "{}:\n{text}", page.display());
        if page.file_name().unwrap() == "loadgen.1" {
            for word in ["SYNOPSIS", "validate", "merge", "completions"] {
                assert!(text.contains(word), "no {word} in:\n{text}");
            }
        }
    }
}
