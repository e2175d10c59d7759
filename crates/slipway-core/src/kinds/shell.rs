//! `shell`: a command run with bash, locally or on every host of a role.

use indexmap::IndexMap;

use super::{KindSpec, OutputDecl, OutputType};
use crate::config_struct;
use crate::decode::{Bounded, Key};
use crate::template::{Command, Template};

config_struct! {
    /// Runs a command with `bash -euo pipefail -c`.
    pub struct ShellConfig {
        /// The command. Pass untrusted values through `env:` and quote them: `"$VERSION"`.
        pub run: Command,
        /// Environment variables for the command, rendered first.
        #[serde(default)]
        pub env: IndexMap<Key, Template>,
        /// Working directory (default: the pipeline file's directory).
        pub workdir: Option<Template>,
        /// Run on every host of this role (over SSH, or locally for `transport: local`
        /// hosts) instead of here. `run`, `env` and `workdir` render per host
        /// (`{{ host.name }}`); output lines carry the host's name.
        pub hosts: Option<Key>,
        /// With `hosts`: how many hosts run the command at once (default: all).
        pub concurrency: Option<Bounded<1, 1000>>,
        /// Outputs the command writes to the file at `$SLIPWAY_OUTPUT`, as
        /// `name=value` lines or `name<<EOF` … `EOF` blocks.
        #[serde(default)]
        pub outputs: Vec<Key>,
        /// Exit codes that mean "try again" (retried like timeouts). Others fail the stage.
        #[serde(default)]
        pub retry_on_exit_codes: Vec<u32>,
    }
}

/// The fields of each entry of a per-host stage's `hosts` output.
pub const HOST_RESULT_FIELDS: &[&str] = &["name", "status", "exit_code", "duration_ms"];

impl KindSpec for ShellConfig {
    fn check(&self, cx: &mut super::CheckContext<'_>) {
        for name in &self.outputs {
            super::checks::output_name(cx, name);
        }
    }

    fn host_role(&self) -> Option<&Key> {
        self.hosts.as_ref()
    }

    fn outputs(&self) -> Vec<OutputDecl> {
        let mut out: Vec<OutputDecl> =
            self.outputs.iter().map(|o| OutputDecl::new(o.value.clone(), OutputType::String, "declared under `outputs`")).collect();
        out.push(OutputDecl::new("exit_code", OutputType::Number, "the command's exit code"));
        if self.hosts.is_some() {
            out.push(
                OutputDecl::new("hosts", OutputType::List, "with `hosts`: each host's name, status, exit code and duration")
                    .with_fields(HOST_RESULT_FIELDS),
            );
        }
        out
    }
}
