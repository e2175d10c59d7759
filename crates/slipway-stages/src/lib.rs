//! The stage kinds at run time: one file per kind, each with its planner (what
//! it would do, pure) and, where the kind runs in this version, its runner.
//!
//! [`Planning`] holds planners only: it is all a dry run gets. [`Live`] holds the
//! capabilities runners act through; [`Live::read_only`] is what
//! `plan --live-reads` gets.

mod caps;
mod clients;
mod kinds;
mod process;
mod transport;
pub mod watchdog;

use slipway_core::kinds::Kind;
use slipway_core::model::Pipeline;
use slipway_engine::runtime::{BoxFuture, Planner, Planners, Runner, Runners, StageEnv};

use kinds::{audit_ticket, changelog, converge, deploy, http, marker, migrate, notify, shell};

pub use caps::HttpCap;
pub use kinds::shell::parse_output_file;
pub use process::set_commands_die_with_runner;
pub use transport::Fleet;

/// Every kind's planner.
pub struct Planning;

impl Planners for Planning {
    fn planner(&self, kind: Kind) -> &dyn Planner {
        match kind {
            Kind::Shell => &shell::Plan,
            Kind::Http => &http::Plan,
            Kind::Converge => &converge::Plan,
            Kind::Deploy => &deploy::Plan,
            Kind::Migrate => &migrate::Plan,
            Kind::Changelog => &changelog::Plan,
            Kind::AuditTicket => &audit_ticket::Plan,
            Kind::Marker => &marker::Plan,
            Kind::Notify => &notify::Plan,
        }
    }
}

/// Runners, with the capabilities they act through.
pub struct Live {
    shell: shell::Run,
    deploy: deploy::Run,
    converge: converge::Run,
    migrate: migrate::Run,
    http: http::Run,
    changelog: changelog::Run,
    audit_ticket: audit_ticket::Run,
    marker: marker::Run,
    notify: notify::Run,
}

impl Live {
    /// Full capabilities: `slipway run`.
    pub fn new() -> Self {
        Self::with(false, Fleet::new(None))
    }

    /// Reads only: HTTP GET and HEAD, no processes but read-only `git`
    /// (`plan --live-reads`).
    pub fn read_only() -> Self {
        Self::with(true, Fleet::read_only(None, read_only_command))
    }

    /// With SSH control sockets under `state_dir` (the run's state folder).
    pub fn with_state_dir(state_dir: &std::path::Path, read_only: bool) -> Self {
        let dir = Some(state_dir.to_path_buf());
        match read_only {
            false => {
                use_scratch_under(state_dir);
                Self::with(false, Fleet::new(dir))
            }
            true => Self::with(true, Fleet::read_only(dir, read_only_command)),
        }
    }

    fn with(read_only: bool, fleet: Fleet) -> Self {
        let http = HttpCap::new(read_only);
        Live {
            shell: shell::Run { allowed: !read_only, fleet: fleet.clone(), earlier: Default::default() },
            deploy: deploy::Run { fleet: fleet.clone(), http: http.clone() },
            converge: converge::Run { fleet: fleet.clone(), earlier: Default::default() },
            migrate: migrate::Run { fleet },
            http: http::Run { http: http.clone() },
            changelog: changelog::Run { http: http.clone() },
            audit_ticket: audit_ticket::Run { http: http.clone() },
            marker: marker::Run::new(http.clone()),
            notify: notify::Run::new(http),
        }
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Runners for Live {
    fn runner(&self, kind: Kind) -> &dyn Runner {
        match kind {
            Kind::Shell => &self.shell,
            Kind::Http => &self.http,
            Kind::Changelog => &self.changelog,
            Kind::AuditTicket => &self.audit_ticket,
            Kind::Marker => &self.marker,
            Kind::Notify => &self.notify,
            Kind::Converge => &self.converge,
            Kind::Migrate => &self.migrate,
            Kind::Deploy => &self.deploy,
        }
    }

    fn can_run(&self, kind: Kind) -> bool {
        can_run(kind)
    }
}

impl Live {
    /// `slipway rollback`: the deploy stage's hosts back to their previous
    /// release. `Ok` (the report) when every host is back and healthy.
    pub fn rollback<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<String, String>> {
        deploy::rollback(env, &self.deploy.fleet, &self.deploy.http)
    }
}

/// The one command a stage may run on its hosts while planning: converge's
/// `check_command` (what would change), migrate's (what is pending), and nothing else.
fn read_only_command(stage: &slipway_core::model::Stage) -> Option<&slipway_core::template::Command> {
    match &stage.config {
        slipway_core::kinds::StageConfig::Converge(c) => c.check_command.as_ref(),
        slipway_core::kinds::StageConfig::Migrate(c) => c.check_command.as_ref(),
        _ => None,
    }
}

static SCRATCH_BASE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// This process's private scratch folder (mode 0700): stage output files live
/// there. It is `<state>/scratch/<pid>` once a run named its state folder
/// (`$TMPDIR/slipway-<pid>` before). The CLI removes it when the run ends; one
/// left by a killed run is removed by the next run ([`use_scratch_under`]).
pub fn scratch_dir() -> std::path::PathBuf {
    let pid = std::process::id();
    match SCRATCH_BASE.get() {
        Some(base) => base.join(pid.to_string()),
        None => std::env::temp_dir().join(format!("slipway-{pid}")),
    }
}

/// Keeps scratch folders under `<state>/scratch/`, and removes those whose
/// process is gone (a `kill -9` leaves its folder, with the stages' outputs in it).
fn use_scratch_under(state_dir: &std::path::Path) {
    let base = state_dir.join("scratch");
    if SCRATCH_BASE.set(base.clone()).is_err() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(&base) else { return };
    for entry in entries.flatten() {
        let pid = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok());
        if pid.is_some_and(|p| p != std::process::id() && !is_slipway(p)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether `pid` is a live Slipway process (a reused pid is another program).
fn is_slipway(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "slipway")
}

/// [`scratch_dir`], created (mode 0700) the first time a stage needs it.
fn private_scratch_dir() -> Result<&'static std::path::Path, String> {
    static DIR: std::sync::OnceLock<Result<std::path::PathBuf, String>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| private_dir(scratch_dir())).as_ref().map(|p| p.as_path()).map_err(Clone::clone)
}

/// Creates `dir` readable by this user only, or checks that it already is.
fn private_dir(dir: std::path::PathBuf) -> Result<std::path::PathBuf, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = slipway_engine::private::create_dir_all(&dir)
        .and_then(|()| std::fs::symlink_metadata(&dir))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // A folder left by someone else under this name must not receive our outputs.
    // SAFETY: geteuid has no preconditions and cannot fail.
    if !meta.is_dir() || meta.uid() != unsafe { libc::geteuid() } || meta.mode() & 0o077 != 0 {
        return Err(format!("{} exists but is not a private folder of this user: remove it", dir.display()));
    }
    Ok(dir)
}

/// Whether this version can run a kind for real. Every kind does; the match
/// has no wildcard, so a new kind must say whether it runs or only plans.
pub fn can_run(kind: Kind) -> bool {
    match kind {
        Kind::Shell
        | Kind::Http
        | Kind::Converge
        | Kind::Migrate
        | Kind::Deploy
        | Kind::Changelog
        | Kind::AuditTicket
        | Kind::Marker
        | Kind::Notify => true,
    }
}

/// Stages this version cannot run, with why: checked before a run takes the lock.
pub fn unsupported_stages(pipeline: &Pipeline) -> Vec<String> {
    let mut out = Vec::new();
    for stage in pipeline.stages.values() {
        if !can_run(stage.kind.value) {
            out.push(format!("stage `{}`: kind `{}` can be planned but not yet run", stage.id.value, stage.kind.value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::private_dir;

    #[test]
    fn the_scratch_folder_must_be_private() {
        let base = std::env::temp_dir().join(format!("slipway-private-test-{}", std::process::id()));
        let fresh = base.join("fresh");
        assert_eq!(private_dir(fresh.clone()), Ok(fresh.clone()));
        assert_eq!(std::fs::metadata(&fresh).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777).ok(), Some(0o700));
        assert_eq!(private_dir(fresh.clone()), Ok(fresh), "an existing private folder is reused");
        let shared = base.join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert!(private_dir(shared).unwrap_err().contains("not a private folder"));
        let _ = std::fs::remove_dir_all(base);
    }
}
