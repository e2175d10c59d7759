//! The examples each subcommand's `--help` ends with, and the test that every
//! argument of every subcommand says what it is for.

pub const SLIPWAY: &str = "\
Examples:
  slipway validate pipelines/
  slipway plan pipelines/deploy.yaml --param version=1.4.2
  slipway run pipelines/deploy.yaml --param version=1.4.2
  slipway diff pipelines/deploy.yaml --git main
  slipway resume RUN_ID

`slipway COMMAND --help` shows a command's options and examples.";

pub const VALIDATE: &str = "\
Examples:
  slipway validate pipelines/
  slipway validate --format github --deny-warnings pipelines/
  slipway validate --format gitlab pipelines/ > gl-code-quality-report.json
  slipway validate --format json pipelines/deploy.yaml";

pub const GRAPH: &str = "\
Examples:
  slipway graph pipelines/deploy.yaml > deploy.mmd
  slipway graph --format dot pipelines/deploy.yaml | dot -Tsvg > deploy.svg";

pub const SCHEMA: &str = "\
Examples:
  slipway schema > schemas/pipeline.schema.json
  # then, first line of a pipeline: # yaml-language-server: $schema=../schemas/pipeline.schema.json";

pub const RUN: &str = "\
Examples:
  slipway run pipelines/deploy.yaml --param version=1.4.2
  slipway run pipelines/deploy.yaml -p version=1.4.2 -p environment=staging --wait-lock=10m
  slipway run pipelines/deploy.yaml -p version=1.4.2 --limit 'web-1,worker*'
  slipway run pipelines/deploy.yaml -p version=1.4.2 --format json > run.jsonl
  slipway run --plan plan.json  # a plan saved by `slipway plan --out plan.json`";

pub const PLAN: &str = "\
Examples:
  slipway plan pipelines/deploy.yaml --param version=1.4.2
  slipway plan pipelines/deploy.yaml -p version=1.4.2 --live-reads
  slipway plan pipelines/deploy.yaml -p version=1.4.2 --format json | jq '.stages[].effects'
  slipway plan pipelines/deploy.yaml -p version=1.4.2 --format markdown > plan.md  # a PR comment
  slipway plan pipelines/deploy.yaml -p version=1.4.2 --out plan.json  # then: slipway run --plan plan.json";

pub const RESUME: &str = "\
Examples:
  slipway runs
  slipway resume 20260314T101500Z-3f9a2c
  slipway resume 20260314T101500Z-3f9a2c --file ci/pipelines/deploy.yaml --wait-lock=5m";

pub const RUNS: &str = "\
Examples:
  slipway runs
  slipway runs --json | jq -r 'select(.status == \"failed\") | .run_id'
  slipway runs --state-dir /var/lib/slipway";

pub const UNLOCK: &str = "\
Examples:
  slipway unlock pipelines/deploy.yaml
  slipway unlock pipelines/deploy.yaml --param environment=production
  slipway unlock pipelines/deploy.yaml --state-url postgres://… --force";

pub const STATE: &str = "\
Examples:
  slipway state migrate --state-url postgres://admin:PASSWORD@db.example.com:5432/slipway?sslmode=require
  SLIPWAY_STATE_URL=postgres://slipway:PASSWORD@127.0.0.1:5432/slipway slipway state migrate";

pub const SERVE: &str = "\
Examples:
  slipway serve --config deploy/chatops.yaml
  slipway serve --config deploy/chatops.yaml --listen 0.0.0.0:8080 --log-format json
  slipway validate deploy/chatops.yaml    # checks the config and the pipelines its aliases name
In Slack: /deploy restaurant-api production build_id=42, /deploy plan …, /deploy status,
/deploy cancel RUN, /deploy lock ALIAS reason…, /deploy unlock ALIAS, /deploy history ALIAS";

pub const ROLLBACK: &str = "\
Examples:
  slipway rollback pipelines/deploy.yaml --stage deploy
  slipway rollback pipelines/deploy.yaml --stage deploy -p environment=production --limit 'web-*' --wait-lock=5m";

pub const REPORT: &str = "\
Examples:
  slipway runs
  slipway report 20260314T101500Z-3f9a2c --out report.html
  slipway report \"$(slipway runs --json | head -1 | jq -r .run_id)\" --out last-run.html";

pub const INIT: &str = "\
Examples:
  slipway init
  slipway init --ci github
  slipway init --ci gitlab --force ../other-project";

pub const COMPLETIONS: &str = "\
Examples:
  slipway completions bash > ~/.local/share/bash-completion/completions/slipway
  slipway completions zsh > \"${fpath[1]}/_slipway\"
  slipway completions fish > ~/.config/fish/completions/slipway.fish";

pub const DIFF: &str = "\
Examples:
  slipway diff pipelines/deploy.yaml --git main
  slipway diff old/deploy.yaml pipelines/deploy.yaml
  slipway diff pipelines/deploy.yaml --git origin/main --format markdown > diff.md
  slipway diff pipelines/deploy.yaml --git HEAD~1 --format json | jq '.stages_changed'";

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::super::Cli;

    /// Every argument (and every value of a choice) of `cmd` without a
    /// description, as `command: argument`.
    fn undescribed(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path}: {id}"));
            }
            for value in arg.get_possible_values().iter().filter(|v| !v.is_hide_set()) {
                if value.get_help().is_none() {
                    out.push(format!("{path}: {id} = {}", value.get_name()));
                }
            }
        }
    }

    #[test]
    fn every_argument_of_every_subcommand_is_described_and_every_subcommand_has_an_example() {
        let mut cli = Cli::command();
        cli.build();
        let mut missing = Vec::new();
        undescribed(&cli, "slipway", &mut missing);
        let mut without_example = Vec::new();
        if !cli.render_long_help().to_string().contains("Examples:\n  slipway ") {
            without_example.push("slipway".to_owned());
        }
        // `help` is clap's own.
        for sub in cli.get_subcommands_mut().filter(|s| s.get_name() != "help") {
            let name = sub.get_name().to_owned();
            let path = format!("slipway {name}");
            undescribed(sub, &path, &mut missing);
            // What `slipway NAME --help` prints.
            let help = sub.render_long_help().to_string();
            if !help.contains("Examples:\n  slipway ") {
                without_example.push(path);
            }
        }
        assert!(missing.is_empty(), "arguments without a description:\n  {}", missing.join("\n  "));
        assert!(without_example.is_empty(), "subcommands without an example: {without_example:?}");
    }
}
