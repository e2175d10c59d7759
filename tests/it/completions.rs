//! `slipway completions SHELL`, and the pre-commit hooks: what people wire
//! slipway into their shell and their commits with.

use std::process::Command;

use serde_yaml::Value;

use crate::support::{root, slipway, stdout};

/// Bash completes subcommands and options from the script, as a user's shell would.
#[test]
fn bash_completion_completes_subcommands_and_options() {
    let out = slipway(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let script = stdout(&out);
    let complete = |words: &str| {
        let words: Vec<&str> = words.split(' ').collect();
        let shell = format!(
            "{script}\nCOMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; _slipway slipway '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
            words.len() - 1,
            words.join(" "),
            words[words.len() - 1],
            words[words.len().saturating_sub(2)],
        );
        let out = Command::new("bash").arg("-c").arg(shell).output().expect("run bash");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        stdout(&out).lines().map(str::to_owned).collect::<Vec<_>>()
    };
    let subcommands = complete("slipway re");
    for expected in ["report", "resume"] {
        assert!(subcommands.iter().any(|c| c == expected), "`slipway re<TAB>` offers {subcommands:?}");
    }
    let options = complete("slipway report --o");
    assert!(options.iter().any(|c| c == "--out"), "`slipway report --o<TAB>` offers {options:?}");
    let choices = complete("slipway init --ci ");
    assert!(choices.iter().any(|c| c == "github") && choices.iter().any(|c| c == "gitlab"), "{choices:?}");
}

#[test]
fn every_shell_gets_a_script_that_knows_every_subcommand() {
    let top = stdout(&slipway(&["--help"]));
    let commands: Vec<&str> = top
        .split("Commands:\n")
        .nth(1)
        .expect("a list of commands")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = slipway(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        for command in &commands {
            assert!(script.contains(command), "the {shell} script does not know `{command}`");
        }
    }
    let out = slipway(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
}

/// Each hook runs `slipway validate` on the files a commit changes: its entry
/// plus file names, run as pre-commit runs it, passes a good pipeline and fails a bad one.
#[test]
fn the_pre_commit_hooks_validate_pipeline_files() {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).expect(".pre-commit-hooks.yaml at the root");
    let hooks: Vec<Value> = serde_yaml::from_str(&text).expect("a list of hooks");
    assert_eq!(hooks.len(), 2);
    for hook in &hooks {
        let id = hook["id"].as_str().expect("an id");
        for field in ["name", "entry", "language", "files"] {
            assert!(hook[field].as_str().is_some_and(|v| !v.is_empty()), "hook {id} has no `{field}`");
        }
        let files = hook["files"].as_str().unwrap_or_default();
        assert!(files.starts_with("^pipelines/") && files.contains("ya?ml"), "{id}: {files}");
        let entry: Vec<&str> = hook["entry"].as_str().unwrap_or_default().split_whitespace().collect();
        assert_eq!(entry[..2], ["slipway", "validate"], "{id}");
        let run = |file: &str| slipway(&[&entry[1..], &[file]].concat()).status.code();
        assert_eq!(run("pipelines/local-demo.yaml"), Some(0), "{id} refuses a good pipeline");
        assert_eq!(run("tests/fixtures/invalid/02-yaml-unclosed-quote.yaml"), Some(1), "{id} lets a bad pipeline through");
    }
}
