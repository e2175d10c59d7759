//! `migrate`: the migration command, exactly once, on one host of a role, under a lock.

use indexmap::IndexMap;

use super::{CheckContext, KindSpec, OutputDecl, OutputType};
use crate::config_struct;
use crate::decode::{DurationValue, Key};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::model::HostEntry;
use crate::template::{Command, Template};

config_struct! {
    /// Runs the database migration once, on one host of a role, holding a lock on it.
    pub struct MigrateConfig {
        /// The role whose host runs the migration.
        pub hosts: Key,
        /// The command, e.g. `bundle exec rake db:migrate`.
        pub command: Command,
        /// Which host of the role (default: the first).
        pub host: Option<Template>,
        /// The folder on the host the command runs in, e.g. `/var/www/app/current`.
        pub workdir: Option<Template>,
        /// Environment variables for the command, e.g. `RAILS_ENV: production`.
        #[serde(default)]
        pub env: IndexMap<Key, Template>,
        /// How long to wait for the migration lock held by another run (default 5m).
        pub lock_timeout: Option<DurationValue>,
        /// A command that lists pending migrations without running them
        /// (`bundle exec rake db:migrate:status`); `plan --live-reads` runs it on
        /// the migration's host, in `workdir`, with `env`, and shows what it printed.
        pub check_command: Option<Command>,
    }
}

impl KindSpec for MigrateConfig {
    /// With a `check_command`, `plan --live-reads` runs the stage's runner with
    /// read-only capabilities, which let it run that command and nothing else.
    fn read_only(&self) -> bool {
        self.check_command.is_some()
    }

    fn host_role(&self) -> Option<&Key> {
        Some(&self.hosts)
    }

    fn outputs(&self) -> Vec<OutputDecl> {
        vec![
            OutputDecl::new("host", OutputType::String, "the host that ran the migration"),
            OutputDecl::new("ran", OutputType::Bool, "false when an earlier attempt already completed it"),
            OutputDecl::new(
                "pending",
                OutputType::String,
                "under `plan --live-reads`: what `check_command` printed (empty in a run, which does not run the check)",
            )
            .untrusted(),
        ]
    }

    /// A `host` written out (no template) must name a host of the role.
    fn check_hosts(&self, hosts: &IndexMap<Key, Vec<HostEntry>>, cx: &mut CheckContext<'_>) {
        let (Some(host), Some(entries)) = (&self.host, hosts.get(&self.hosts)) else { return };
        let name = host.source.trim();
        if name.contains("{{") || entries.iter().any(|h| h.name().value == name || h.address() == name) {
            return;
        }
        let names: Vec<&str> = entries.iter().map(|h| h.name().value.as_str()).collect();
        let listed = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
        let help = did_you_mean(name, names.iter().copied()).unwrap_or_else(|| format!("role `{}` has: {listed}", self.hosts.value));
        cx.push(
            Diagnostic::error(Code::InvalidValue, host.span, format!("`{name}` is not a host of role `{}`", self.hosts.value))
                .with_help(help),
        );
    }
}
