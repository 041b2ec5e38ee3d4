//! `slo completions SHELL`, the man page and `--help`: the scripts load in
//! their shell and name the commands and flags; the checked-in man page (a
//! row of goldens.rs) is roff that groff reads without a warning; the help
//! lists the exit codes.

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

/// The codes an "Exit codes:" section of `help` lists, with their meanings.
fn exit_codes(help: &str) -> Vec<(i32, String)> {
    let Some((_, section)) = help.split_once("\nExit codes:\n") else {
        return Vec::new();
    };
    let mut codes: Vec<(i32, String)> = Vec::new();
    for line in section.lines().take_while(|l| l.starts_with("  ")) {
        let text = line.trim_start();
        match text.split_once(' ') {
            Some((code, meaning)) if line.starts_with("  ") && !line.starts_with("   ") => {
                codes.push((code.parse().unwrap(), meaning.trim().to_owned()));
            }
            _ => {
                let (_, meaning) = codes.last_mut().expect("a code before its meaning");
                *meaning = format!("{meaning} {text}");
            }
        }
    }
    codes
}

/// `slo --help` lists every exit code of the product's table (the shared
/// `Exit` type) with its meaning; each command lists the codes it can end with.
#[test]
fn help_lists_the_exit_codes() {
    let (code, help, stderr) = slo(&["--help"]);
    assert_eq!(code, Some(0), "{stderr}");
    let listed = exit_codes(&help);
    let every: Vec<i32> = (0..=255)
        .filter(|c| common::exit::Exit::from_code(*c).is_some())
        .collect();
    assert_eq!(every, [0, 1, 2, 3, 99]);
    assert_eq!(
        listed.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        every,
        "{help}"
    );
    for (needle, code) in [
        ("success", 0),
        ("runtime failure", 1),
        ("invalid input", 2),
        ("inconclusive", 3),
        ("never a pass", 3),
        ("gate failed", 99),
    ] {
        let meaning = &listed.iter().find(|(c, _)| *c == code).unwrap().1;
        assert!(meaning.contains(needle), "{code}: {meaning}");
    }
    for (command, codes, needle) in [
        ("gate", &[0, 1, 2, 3, 99][..], "missed its objective"),
        ("report", &[0, 1, 2, 3], "could not be trusted"),
        ("check", &[0, 1, 2], "the spec is valid"),
        ("alerts", &[0, 1, 2], "webhook URL"),
        ("dashboard", &[0, 1, 2], "invalid input"),
        ("hpa", &[0, 1, 2], "--capacity"),
    ] {
        for form in [vec![command, "--help"], vec!["help", command]] {
            let (code, help, stderr) = slo(&form);
            assert_eq!(code, Some(0), "{form:?}: {stderr}");
            let listed = exit_codes(&help);
            assert_eq!(
                listed.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
                codes,
                "{form:?}: {help}"
            );
            assert!(
                listed.iter().any(|(_, m)| m.contains(needle)),
                "{form:?}: {help}"
            );
            assert!(help.contains("Example"), "{form:?}: examples first: {help}");
        }
    }
}
