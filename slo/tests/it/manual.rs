//! `slo completions SHELL` and the man page: the scripts load in their shell
//! and name the commands and flags; the checked-in man page (a row of
//! goldens.rs) is roff that groff reads without a warning.

use std::process::Command;

use crate::util::slo;

#[test]
fn every_shell_gets_a_script_with_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, stdout, stderr) = slo(&["completions", shell]);
        assert_eq!(code, Some(0), "{shell}: {stderr}");
        for word in ["gate", "alerts", "hpa", "--prometheus"] {
            assert!(stdout.contains(word), "{shell}: no {word}");
        }
    }
}

#[test]
fn the_bash_script_loads_and_completes_slo() {
    let (_, script, _) = slo(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slo.bash");
    std::fs::write(&file, script).unwrap();
    let loaded = Command::new("bash")
        .arg("-c")
        .arg(format!("source '{}' && complete -p slo", file.display()))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        loaded.status.success() && said.contains("slo"),
        "{said}{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
}

#[test]
fn an_unknown_shell_is_invalid_input() {
    let (code, _, stderr) = slo(&["completions", "tcsh"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("possible values"), "{stderr}");
}

/// Every page of `slo/man/` renders with groff (plain text) without a
/// warning; the top page lists the commands and each command's page its
/// synopsis.
#[test]
fn the_man_pages_are_roff_groff_reads_cleanly() {
    let dir = crate::util::root().join("slo/man");
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
        if page.file_name().unwrap() == "slo.1" {
            for word in ["SYNOPSIS", "gate", "alerts", "completions"] {
                assert!(text.contains(word), "no {word} in:\n{text}");
            }
        }
    }
}
