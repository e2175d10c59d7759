//! `deploy`: a zero-downtime rolling deploy in the Capistrano layout
//! (`releases/<timestamp>`, an atomic `current` switch, `shared/` links).

use indexmap::IndexMap;

use super::checks::{self, exactly_one, span_of};
use super::{CheckContext, KindSpec, OutputDecl, OutputType};
use crate::decode::{Bounded, DurationValue, Key, Portion, Spanned};
use crate::diagnostic::{Code, Diagnostic};
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

string_enum! {
    default All;
    /// Which part of a deploy a stage does: all of it, or half, so that a
    /// migration can run between the halves (Capistrano's order).
    pub enum DeployPhase {
        /// Prepare the release on every host, then switch batch by batch (the default).
        All = "all",
        /// Only make and fill the release on every host (fetch, shared links,
        /// `build`); nothing running is touched. Outputs `release` and `release_path`.
        Prepare = "prepare",
        /// Only switch to the prepared `release`, batch by batch: drain, switch,
        /// restart, health check, ready; rolled back on failure.
        Switch = "switch",
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
    /// A tarball unpacked into each release. Each host downloads it itself
    /// (with `curl`), checks it and unpacks it with `tar`.
    pub struct ArtifactSource {
        /// Where each host downloads the tarball from: `https://`, `http://` or
        /// `file://` (a path on the host).
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
    /// Commands that take a host out of a load balancer and put it back,
    /// rendered per host and run on the machine Slipway runs on.
    pub struct BalancerCommands {
        /// Takes `{{ host.name }}` out of rotation; it should return once the
        /// host has no more requests in flight.
        pub drain: Command,
        /// Puts the host back into rotation.
        pub ready: Command,
    }
}

config_struct! {
    /// The load balancer hosts leave while they are updated: `haproxy` or `commands`, exactly one.
    pub struct LoadBalancer {
        /// Drain each host through HAProxy's runtime API.
        pub haproxy: Option<Spanned<HaproxyDrain>>,
        /// Drain and ready each host with commands of your own, run locally
        /// (any other load balancer).
        pub commands: Option<Spanned<BalancerCommands>>,
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
        /// Hosts updated at once (default 1): a count (`2`) or a share of the
        /// role (`"25%"`, rounded down, at least 1).
        pub batch_size: Option<Portion>,
        /// Take each host out of its load balancer while it is updated.
        pub load_balancer: Option<LoadBalancer>,
        /// `rollback` (default) or `halt`.
        #[serde(default)]
        pub on_failure: OnFailure,
        /// Environment variables for `build`, `restart` and a `source.command`, rendered per host.
        #[serde(default)]
        pub env: IndexMap<Key, Template>,
        /// `all` (default), `prepare` (only stage the release on every host) or
        /// `switch` (only switch to a `release` an earlier `prepare` stage made).
        #[serde(default)]
        pub phase: DeployPhase,
        /// With `phase: switch`: the release to switch to, e.g.
        /// `"{{ stages.code.outputs.release }}"`.
        pub release: Option<Template>,
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
            OutputDecl::new(
                "release_path",
                OutputType::String,
                "the release's folder on the hosts (the first host's, when `deploy_to` differs)",
            ),
            OutputDecl::new("host_releases", OutputType::List, "each host's name, the release it is on, and what happened to it")
                .with_fields(HOST_RELEASE_FIELDS),
        ]
    }

    fn check(&self, cx: &mut CheckContext<'_>) {
        let s = &self.source;
        exactly_one(cx, &[("git", span_of(&s.git)), ("artifact", span_of(&s.artifact)), ("command", span_of(&s.command))]);
        if let Some(a) = &s.artifact {
            checks::url(cx, &a.url, &["http", "https", "file"]);
        }
        if let Some(lb) = &self.load_balancer {
            exactly_one_balancer(cx, lb);
        }
        if let Some(Portion::Count(0) | Portion::Percent(0)) = self.batch_size {
            cx.push(
                Diagnostic::error(Code::OutOfRange, cx.stage_span(), "`batch_size` is 0: no host would ever be updated")
                    .with_help("use at least 1 (or `1%`, which updates one host at a time)"),
            );
        }
        if let Some(shared) = &self.shared {
            for path in shared.files.iter().chain(&shared.dirs) {
                if !is_plain_relative(path) {
                    cx.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            cx.stage_span(),
                            format!("shared path `{path}` must stay inside the release"),
                        )
                        .with_help("write a relative path without `..`, such as `config/database.yml` or `tmp/pids`"),
                    );
                }
            }
        }
        match (self.phase, &self.release) {
            (DeployPhase::Switch, None) if !cx.has_decode_errors => cx.push(
                Diagnostic::error(
                    Code::MissingField,
                    cx.stage_span(),
                    format!("stage `{}` has `phase: switch` but no `release`", cx.stage.value),
                )
                .with_help("add `release: \"{{ stages.<prepare stage>.outputs.release }}\"`, naming the stage with `phase: prepare`"),
            ),
            (DeployPhase::All | DeployPhase::Prepare, Some(r)) => cx.push(
                Diagnostic::error(Code::ConflictingFields, r.span, "`release` is only read with `phase: switch`")
                    .with_help("add `phase: switch`, or remove `release`: other phases make their own release"),
            ),
            _ => {}
        }
        if let Some(h) = &self.health_check {
            checks::url(cx, &h.url, &["http", "https"]);
            if let Some(p) = &h.revision_pointer {
                checks::pointer(cx, p);
            }
        }
    }
}

/// The fields of each entry of a deploy's `host_releases` output.
pub const HOST_RELEASE_FIELDS: &[&str] = &["name", "release", "status"];

/// One of `haproxy` and `commands`; the error points at the load balancer's stage.
fn exactly_one_balancer(cx: &mut CheckContext<'_>, lb: &LoadBalancer) {
    match (&lb.haproxy, &lb.commands) {
        (None, None) if !cx.has_decode_errors => cx.push(
            Diagnostic::error(Code::MissingField, cx.stage_span(), format!("the `load_balancer` of stage `{}` is empty", cx.stage.value))
                .with_help("add `haproxy` (its runtime API) or `commands` (`drain` and `ready`)"),
        ),
        (Some(h), Some(c)) => cx.push(
            Diagnostic::error(Code::ConflictingFields, c.span, "`commands` and `haproxy` exclude each other")
                .with_secondary(h.span, "`haproxy` is set here")
                .with_help("keep only one of `haproxy` or `commands`"),
        ),
        _ => {}
    }
}

/// A path inside a release: relative, no `..`, not empty.
fn is_plain_relative(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    !path.is_empty() && !path.starts_with('/') && path.split('/').all(|part| !part.is_empty() && part != "..")
}

#[cfg(test)]
mod tests {
    use super::is_plain_relative;

    #[test]
    fn shared_paths_stay_inside_the_release() {
        assert!(is_plain_relative("config/database.yml"));
        assert!(is_plain_relative("tmp/pids/"));
        assert!(is_plain_relative(".env"));
        assert!(!is_plain_relative("/etc/passwd"));
        assert!(!is_plain_relative("../x"));
        assert!(!is_plain_relative("a//b"));
        assert!(!is_plain_relative(""));
    }
}
