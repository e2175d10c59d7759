//! `converge`: config management on every host of a role.

use indexmap::IndexMap;

use super::{KindSpec, OutputDecl, OutputType};
use crate::decode::{Bounded, Key, Portion};
use crate::template::{Command, Template};
use crate::{config_struct, string_enum};

string_enum! {
    default Command;
    /// Which tool runs, which decides how its exit codes read.
    pub enum ConvergeTool {
        /// chef-client: 35 and 37 mean success with a reboot pending; 213 means run again.
        Chef = "chef",
        /// puppet with `--detailed-exitcodes`: 2 means changes applied; 4 and 6 mean failures.
        Puppet = "puppet",
        /// ansible-pull or ansible-playbook: 0 is success; 4 (unreachable) is retried; others fail.
        Ansible = "ansible",
        /// Any command: 0 is success.
        Command = "command",
    }
}

config_struct! {
    /// Runs config management on every host of a role over SSH.
    pub struct ConvergeConfig {
        /// The host role to converge.
        pub hosts: Key,
        /// The command, e.g. `sudo chef-client --no-fork`.
        pub command: Command,
        /// How to read exit codes: `chef`, `puppet`, `ansible` or `command` (default).
        #[serde(default)]
        pub tool: ConvergeTool,
        /// Hosts converged at once (default 1).
        pub concurrency: Option<Bounded<1, 1000>>,
        /// Hosts that may fail before the stage fails and no more are started
        /// (default 0): a count (`2`) or a share of the role (`"25%"`, rounded down).
        pub max_failures: Option<Portion>,
        /// A command that reports what would change without changing it
        /// (`chef-client --why-run`, `puppet agent --test --noop`); `plan --live-reads` runs it.
        pub check_command: Option<Command>,
        /// Environment variables for the command, rendered per host.
        #[serde(default)]
        pub env: IndexMap<Key, Template>,
    }
}

impl KindSpec for ConvergeConfig {
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
            OutputDecl::new("succeeded", OutputType::List, "hosts that converged"),
            OutputDecl::new("failed", OutputType::List, "hosts whose run failed"),
            OutputDecl::new("changed", OutputType::List, "hosts where the tool reported changes"),
            OutputDecl::new("reboot_pending", OutputType::List, "hosts that need a reboot (chef 35/37)"),
            OutputDecl::new("hosts", OutputType::List, "each host's name, status, exit code and duration")
                .with_fields(super::HOST_RESULT_FIELDS),
        ]
    }
}
