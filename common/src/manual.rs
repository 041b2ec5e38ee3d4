//! A binary's manual, made from its clap command so it can never drift from
//! the flags: shell completion scripts ([`completions`], for `loadgen
//! completions SHELL` and `slo completions SHELL`) and the man pages
//! ([`man_pages`], one per command, checked in beside each crate and kept
//! current by the goldens table).

pub use clap_complete::Shell;

/// The completion script of `cmd` for `shell`, completing the program
/// `name` (the binary's file name).
pub fn completions(mut cmd: clap::Command, shell: Shell, name: &str) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The man pages (roff, section 1) of `cmd` and of each of its visible
/// subcommands, as (file name, text): `tool.1`, `tool-run.1`, ... (the
/// pages the top one's SUBCOMMANDS section refers to). Each has its name,
/// synopsis, description, options and version, and no date, so a page
/// changes only when the command line does.
pub fn man_pages(cmd: clap::Command) -> Vec<(String, String)> {
    fn collect(cmd: clap::Command, pages: &mut Vec<(String, String)>) {
        let man = clap_mangen::Man::new(cmd.clone());
        let mut out = Vec::new();
        // Rendering into memory cannot fail for want of space or a reader.
        if man.render(&mut out).is_err() {
            out.clear();
        }
        pages.push((
            man.get_filename(),
            String::from_utf8_lossy(&out).into_owned(),
        ));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            collect(sub.clone(), pages);
        }
    }
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(cmd, &mut pages);
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> clap::Command {
        clap::Command::new("tool")
            .version("1.2.3")
            .about("Does a thing.")
            .subcommand(
                clap::Command::new("run")
                    .about("Runs it.")
                    .arg(clap::Arg::new("rate").long("rate")),
            )
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let script = completions(cmd(), shell, "tool");
            assert!(script.contains("run"), "{shell}: {script}");
            assert!(script.contains("rate"), "{shell}: {script}");
        }
    }

    #[test]
    fn a_page_per_command_with_its_sections_and_no_date() {
        let pages = man_pages(cmd());
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["tool.1", "tool-run.1"]);
        let (_, top) = &pages[0];
        assert!(top.contains(".TH tool 1"), "{top}");
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "SUBCOMMANDS", "VERSION"] {
            assert!(top.contains(&format!(".SH {section}")), "{section}: {top}");
        }
        assert!(top.contains(r"tool\-run(1)"), "{top}");
        assert!(top.contains("v1.2.3"), "{top}");
        assert!(!top.contains("2026"), "a date: {top}");
        let (_, run) = &pages[1];
        assert!(run.contains(".TH tool-run 1"), "{run}");
        assert!(run.contains("Runs it.") && run.contains("rate"), "{run}");
    }
}
