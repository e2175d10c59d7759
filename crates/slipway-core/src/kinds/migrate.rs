//! `migrate`: the migration command, exactly once, on one host of a role, under a lock.

use indexmap::IndexMap;

use super::{KindSpec, OutputDecl, OutputType};
use crate::config_struct;
use crate::decode::{DurationValue, Key};
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
    }
}

impl KindSpec for MigrateConfig {
    fn host_role(&self) -> Option<&Key> {
        Some(&self.hosts)
    }

    fn outputs(&self) -> Vec<OutputDecl> {
        vec![
            OutputDecl::new("host", OutputType::String, "the host that ran the migration"),
            OutputDecl::new("ran", OutputType::Bool, "false when an earlier attempt already completed it"),
        ]
    }
}
