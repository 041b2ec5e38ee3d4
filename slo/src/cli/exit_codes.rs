//! The exit codes `slo --help` and each command's help list: every code of
//! the product's table with what it means for slo, and per command the
//! codes it can end with. [`with_exit_codes`] appends them to the help the
//! clap derive builds, so the examples stay beside their command and the
//! codes live here, in one table.

use clap::Command;

use super::Exit;

/// One code and what it means.
type Code = (Exit, &'static str);

/// Every exit code of slo, for `slo --help`.
const ALL: &[Code] = &[
    (Exit::Ok, "success; a gate passed"),
    (
        Exit::Failure,
        "runtime failure: Prometheus or the file system misbehaved in a way the command could not absorb (the reason is printed)",
    ),
    (
        Exit::Invalid,
        "invalid input: usage, a spec or a report (the message names file:line:column)",
    ),
    (
        Exit::Inconclusive,
        "inconclusive (gate and report): no traffic, Prometheus unreachable after the retries, or an answer that is not a finite, non-negative, single-series number; never a pass",
    ),
    (Exit::Failed, "an SLO gate failed"),
];

const WRITE_FAILED: &str = "runtime failure: the output could not be written";
const INVALID: &str = "invalid input: usage or the spec (the message names file:line:column)";

/// Per command, the codes it can end with.
const COMMANDS: &[(&str, &[Code])] = &[
    (
        "check",
        &[
            (
                Exit::Ok,
                "the spec is valid (with --prometheus: and Prometheus has its metrics)",
            ),
            (
                Exit::Failure,
                "runtime failure: Prometheus could not be queried (--prometheus)",
            ),
            (
                Exit::Invalid,
                "invalid input: usage or the spec (file:line:column); with --prometheus, the problems found there",
            ),
        ],
    ),
    (
        "report",
        &[
            (Exit::Ok, "every answer from Prometheus could be trusted"),
            (
                Exit::Failure,
                "runtime failure: Prometheus could not be queried, or the output could not be written",
            ),
            (Exit::Invalid, INVALID),
            (
                Exit::Inconclusive,
                "inconclusive: an answer from Prometheus could not be trusted (printed as INCONCLUSIVE)",
            ),
        ],
    ),
    (
        "gate",
        &[
            (
                Exit::Ok,
                "every SLO met its objective (and --max-burn) over the window",
            ),
            (
                Exit::Failure,
                "runtime failure: the output, --json or --junit could not be written",
            ),
            (
                Exit::Invalid,
                "invalid input: usage, the spec (file:line:column), the run report or the times",
            ),
            (
                Exit::Inconclusive,
                "inconclusive: no traffic, Prometheus unreachable after the retries, or an answer that is not a finite, non-negative, single-series number; never a pass",
            ),
            (
                Exit::Failed,
                "an SLO missed its objective or --max-burn (with --compare-client: on either side)",
            ),
        ],
    ),
    (
        "alerts",
        &[
            (Exit::Ok, "the rules were printed, or every file written"),
            (
                Exit::Failure,
                "runtime failure: a file or the output could not be written",
            ),
            (
                Exit::Invalid,
                "invalid input: usage, the spec (file:line:column) or a webhook URL",
            ),
        ],
    ),
    (
        "dashboard",
        &[
            (Exit::Ok, "the dashboard was written"),
            (Exit::Failure, WRITE_FAILED),
            (Exit::Invalid, INVALID),
        ],
    ),
    (
        "hpa",
        &[
            (Exit::Ok, "the configuration was written"),
            (Exit::Failure, WRITE_FAILED),
            (
                Exit::Invalid,
                "invalid input: usage, a setting, or the --capacity report (file:line:column)",
            ),
        ],
    ),
    (
        "import",
        &[
            (Exit::Ok, "the native spec was printed"),
            (Exit::Failure, WRITE_FAILED),
            (
                Exit::Invalid,
                "invalid input: usage or a spec slo cannot read or import (file:line:column)",
            ),
        ],
    ),
    (
        "schema",
        &[
            (Exit::Ok, "the schema was printed"),
            (Exit::Failure, WRITE_FAILED),
            (Exit::Invalid, "invalid input: usage"),
        ],
    ),
    (
        "completions",
        &[
            (Exit::Ok, "the script was printed"),
            (Exit::Failure, WRITE_FAILED),
            (Exit::Invalid, "invalid input: usage or an unknown shell"),
        ],
    ),
];

/// Help lines are wrapped here, so the hanging indent survives.
const WIDTH: usize = 80;

/// An "Exit codes:" section, one code a line, meanings wrapped under their
/// first word.
fn section(codes: &[Code]) -> String {
    let mut out = String::from("Exit codes:");
    for (exit, meaning) in codes {
        let code = format!("  {:<5}", exit.code());
        let indent = " ".repeat(code.len());
        let mut line = code;
        let mut fresh = true;
        for word in meaning.split(' ') {
            if !fresh && line.len() + 1 + word.len() > WIDTH {
                out.push('\n');
                out.push_str(&line);
                line = indent.clone();
                fresh = true;
            }
            if !fresh {
                line.push(' ');
            }
            line.push_str(word);
            fresh = false;
        }
        out.push('\n');
        out.push_str(&line);
    }
    out
}

/// The codes `command` lists, if it is one of slo's commands.
fn codes_of(command: &str) -> Option<&'static [Code]> {
    COMMANDS
        .iter()
        .find(|(name, _)| *name == command)
        .map(|(_, codes)| *codes)
}

/// `cmd` (slo's command line) with the exit codes after the help of the
/// program and of each command (after its examples).
pub fn with_exit_codes(cmd: Command) -> Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let mut cmd = cmd.after_help(section(ALL));
    for name in names {
        let Some(codes) = codes_of(&name) else {
            continue;
        };
        cmd = cmd.mut_subcommand(&name, |c| {
            let help = match c.get_after_help() {
                Some(before) => format!("{before}\n\n{}", section(codes)),
                None => section(codes),
            };
            c.after_help(help)
        });
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn listed(section: &str) -> Vec<u8> {
        section
            .lines()
            .filter_map(|l| l.strip_prefix("  "))
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect()
    }

    #[test]
    fn the_program_lists_every_code() {
        assert_eq!(listed(&section(ALL)), [0, 1, 2, 3, 99]);
        for e in [
            Exit::Ok,
            Exit::Failure,
            Exit::Invalid,
            Exit::Inconclusive,
            Exit::Failed,
        ] {
            assert!(ALL.iter().any(|(c, _)| *c == e), "{e:?}");
        }
    }

    #[test]
    fn every_command_lists_its_codes() {
        let cmd = super::super::command();
        for sub in cmd.get_subcommands() {
            let name = sub.get_name();
            let codes = codes_of(name).unwrap_or_else(|| panic!("no exit codes for {name}"));
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(help.ends_with(&section(codes)), "{name}: {help}");
            // The examples stay first.
            assert!(help.starts_with("Example"), "{name}: {help}");
        }
        assert!(
            super::super::Cli::command().get_subcommands().all(|c| c
                .get_after_help()
                .is_none_or(|h| !h.to_string().contains("Exit codes"))),
            "the codes come from this table only"
        );
        let gate = codes_of("gate").unwrap();
        assert_eq!(listed(&section(gate)), [0, 1, 2, 3, 99]);
        assert_eq!(listed(&section(codes_of("report").unwrap())), [0, 1, 2, 3]);
        assert_eq!(listed(&section(codes_of("check").unwrap())), [0, 1, 2]);
        assert_eq!(listed(&section(codes_of("alerts").unwrap())), [0, 1, 2]);
    }

    const WORDS: &str = "word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word";

    #[test]
    fn meanings_wrap_under_their_first_word() {
        let text = section(&[(Exit::Failed, "a b c"), (Exit::Invalid, WORDS)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Exit codes:");
        assert_eq!(lines[1], "  99   a b c");
        assert!(lines[2].starts_with("  2    word"), "{text}");
        assert!(lines[3].starts_with("       word"), "{text}");
        assert!(lines.iter().all(|l| l.len() <= WIDTH), "{text}");
    }
}
