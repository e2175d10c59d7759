//! `--help`: every subcommand the binary lists says what each argument is for
//! and ends with examples (the unit test in `src/cli/help.rs` checks every
//! argument through clap; this one reads what the binary prints).

use crate::support::{slipway, stdout};

#[test]
fn every_subcommand_help_describes_its_arguments_and_shows_examples() {
    let top = stdout(&slipway(&["--help"]));
    assert!(top.contains("Examples:\n  slipway "), "{top}");
    let commands: Vec<String> = top
        .split("Commands:\n")
        .nth(1)
        .expect("a list of commands")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 8, "{commands:?}");
    for command in &commands {
        let out = slipway(&[command, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{command}");
        let help = stdout(&out);
        assert!(help.contains("Examples:\n  slipway "), "`slipway {command} --help` shows no example:\n{help}");
        // Long help puts each argument's description on the line after it: none is blank.
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let is_arg = line.starts_with("  -") || line.trim_start().starts_with('<') && line.starts_with("  <");
            if is_arg {
                let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
                assert!(!next.is_empty(), "`slipway {command} --help`: `{}` has no description", line.trim());
            }
        }
    }
}
