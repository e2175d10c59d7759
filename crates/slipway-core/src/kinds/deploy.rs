//! `deploy`: a zero-downtime rolling deploy in the Capistrano layout
//! (`releases/<timestamp>`, an atomic `current` switch, `shared/` links).

use indexmap::IndexMap;

use super::checks::{self, exactly_one, span_of};
use super::{CheckContext, KindSpec, OutputDecl, OutputType};
use crate::decode::{Bounded, DurationValue, Key, Spanned};
use crate::template::{Command, Template};
use crate::{config_struct, string_enum};

string_enum! {
    default Rollback;
    /// What happens when a batch fails its health check.
    pub enum OnFailure {
        /// Switch every updated host back to its previous release (the default).
        Rollback = "rollback",
        /// Stop where it is and leave hosts as they are, for a person to look.
        Halt = "halt",
    }
}

config_struct! {
    /// A git repository checked out into each release.
    pub struct GitCheckout {
        /// The repository to clone on each host: a URL or path that host's `git` can reach.
        pub repo: Template,
        /// Branch, tag or SHA (default: the deploy's `revision`).
        pub r#ref: Option<Template>,
    }
}

config_struct! {
    /// A tarball unpacked into each release.
    pub struct ArtifactSource {
        /// Where each host downloads the tarball from.
        pub url: Template,
        /// Expected SHA-256 of the download, hex.
        pub sha256: Option<Template>,
    }
}

config_struct! {
    /// Where the release's files come from: exactly one of `git`, `artifact`, `command`.
    pub struct DeploySource {
        /// Check out a git repository into the release.
        pub git: Option<Spanned<GitCheckout>>,
        /// Download a tarball and unpack it into the release.
        pub artifact: Option<Spanned<ArtifactSource>>,
        /// A command that fills `$SLIPWAY_RELEASE_DIR` on the host.
        pub command: Option<Spanned<Command>>,
    }
}

config_struct! {
    /// Files and directories kept across releases, linked from `shared/`.
    pub struct SharedPaths {
        /// Files, relative to the release, linked to the same path under `shared/`
        /// (e.g. `config/database.yml`).
        #[serde(default)]
        pub files: Vec<String>,
        /// Directories, relative to the release, linked to the same path under
        /// `shared/` (e.g. `log`, `tmp/pids`).
        #[serde(default)]
        pub dirs: Vec<String>,
    }
}

config_struct! {
    /// Checks a host is healthy on the new release before its batch counts as done.
    pub struct HealthCheck {
        /// Rendered per host: `http://{{ host.address }}:8080/health`.
        pub url: Template,
        /// The status that counts as healthy (default 200).
        pub expect_status: Option<Bounded<100, 599>>,
        /// JSON pointer to the revision in the response; it must match the deploy's
        /// revision (a 7+ character prefix counts).
        pub revision_pointer: Option<Spanned<String>>,
        /// Give up after this long (default 60s).
        pub timeout: Option<DurationValue>,
        /// Wait between tries (default 1s).
        pub interval: Option<DurationValue>,
    }
}

config_struct! {
    /// HAProxy's runtime API: drain a server before it is updated, enable it after.
    pub struct HaproxyDrain {
        /// The admin socket: a path, or `ipv4@127.0.0.1:9999`.
        pub socket: Template,
        /// The HAProxy backend that holds the hosts' servers.
        pub backend: Template,
        /// The server name in the backend (default `{{ host.name }}`).
        pub server: Option<Template>,
        /// How long to wait for open sessions to end (default 30s).
        pub drain_timeout: Option<DurationValue>,
    }
}

config_struct! {
    /// Load balancers to drain hosts from while they are updated.
    pub struct LoadBalancer {
        /// Drain each host through HAProxy's runtime API.
        pub haproxy: HaproxyDrain,
    }
}

config_struct! {
    /// Rolls a release out to every host of a role, batch by batch.
    pub struct DeployConfig {
        /// The host role to deploy to.
        pub hosts: Key,
        /// The application directory on each host, e.g. `/var/www/app`.
        pub deploy_to: Template,
        /// The revision going out; written to the release's `REVISION` file.
        pub revision: Template,
        /// Where the release's files come from: `git`, `artifact` or `command`.
        pub source: DeploySource,
        /// Releases kept on each host, the current one included (default 5).
        pub keep_releases: Option<Bounded<1, 100>>,
        /// Files and directories kept across releases in `shared/` and linked into each one.
        pub shared: Option<SharedPaths>,
        /// Runs in the new release before the switch (e.g. `bundle install`).
        pub build: Option<Command>,
        /// The graceful reload after the switch, e.g. `kill -USR2 $(cat tmp/puma.pid)`.
        pub restart: Option<Command>,
        /// An HTTP check each host must pass on the new release before its batch counts as done.
        pub health_check: Option<HealthCheck>,
        /// Hosts updated at once (default 1).
        pub batch_size: Option<Bounded<1, 10000>>,
        /// Take each host out of its load balancer while it is updated.
        pub load_balancer: Option<LoadBalancer>,
        /// `rollback` (default) or `halt`.
        #[serde(default)]
        pub on_failure: OnFailure,
        /// Environment variables for `build`, `restart` and a `source.command`, rendered per host.
        #[serde(default)]
        pub env: IndexMap<Key, Template>,
    }
}

impl KindSpec for DeployConfig {
    fn host_role(&self) -> Option<&Key> {
        Some(&self.hosts)
    }

    fn outputs(&self) -> Vec<OutputDecl> {
        vec![
            OutputDecl::new("release", OutputType::String, "the release directory name (UTC timestamp)"),
            OutputDecl::new("revision", OutputType::String, "the revision deployed"),
            OutputDecl::new("previous_revision", OutputType::String, "the revision it replaced"),
            OutputDecl::new("hosts", OutputType::List, "hosts now on the new release"),
            OutputDecl::new("rolled_back", OutputType::Bool, "true when a failure rolled hosts back"),
        ]
    }

    fn check(&self, cx: &mut CheckContext<'_>) {
        let s = &self.source;
        exactly_one(cx, &[("git", span_of(&s.git)), ("artifact", span_of(&s.artifact)), ("command", span_of(&s.command))]);
        if let Some(a) = &s.artifact {
            checks::url(cx, &a.url, &["http", "https"]);
        }
        if let Some(h) = &self.health_check {
            checks::url(cx, &h.url, &["http", "https"]);
            if let Some(p) = &h.revision_pointer {
                checks::pointer(cx, p);
            }
        }
    }
}
