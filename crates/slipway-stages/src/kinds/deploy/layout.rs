//! The Capistrano layout on a host, as the bash scripts that keep it, each run
//! on the host by its transport (`bash -euo pipefail`, from the remote user's
//! home, or locally from the pipeline's folder):
//!
//! ```text
//! <deploy_to>/releases/<YYYYMMDDHHMMSS>/   one folder per release, REVISION inside
//! <deploy_to>/current -> releases/<id>      switched by renaming a new link over it
//! <deploy_to>/shared/                       linked into every release
//! <deploy_to>/repo/                         a git mirror (git sources)
//! <deploy_to>/revisions.log                 one line per deploy and rollback
//! ```
//!
//! Slipway's own marks, which make every step safe to run again after a crash:
//! `releases/<id>/.slipway-prepared` (written last when a release is complete;
//! it holds the run id), `releases/<id>/.slipway-previous` (the release that was
//! live when this one went live: where a rollback goes), and
//! `<deploy_to>/.slipway-switching` (a host between its switch and the end of
//! its health check: not done, whatever `current` says).
//!
//! Every value from the pipeline is quoted; values read back (revisions,
//! release names) are data and never reach a shell unquoted.

use crate::transport::quote;

/// `deploy_to` as a shell word. A relative path, or one starting with `~/`,
/// is under the remote user's `$HOME` over SSH (`remote`); locally, relative
/// paths start in the pipeline's folder, where local scripts start.
pub fn dir_word(deploy_to: &str, remote: bool) -> String {
    if deploy_to == "~" {
        return "\"$HOME\"".into();
    }
    if let Some(rest) = deploy_to.strip_prefix("~/") {
        return format!("\"$HOME\"/{}", quote(rest));
    }
    match remote && !deploy_to.starts_with('/') {
        true => format!("\"$HOME\"/{}", quote(deploy_to)),
        false => quote(deploy_to),
    }
}

/// Enters `dir` (a shell word from [`dir_word`]; created when `create`), and names it `$root`.
fn enter(dir: &str, create: bool) -> String {
    let q = dir;
    match create {
        true => format!("mkdir -p -- {q}\ncd -- {q}\nroot=$PWD\n"),
        false => format!("cd -- {q}\nroot=$PWD\n"),
    }
}

/// Release folder names Capistrano's cleanup considers: 14 digits.
const RELEASES: &str = "{ ls -1 releases 2>/dev/null | grep -E '^[0-9]{14}$' || true; } | sort";

/// Starts preparing: makes `releases/<id>` afresh, unless this run already
/// completed it. Prints `prepared <root>` or `fresh <root>`.
pub fn begin(dir: &str, release: &str, run_id: &str) -> String {
    let (id, run) = (quote(release), quote(run_id));
    format!(
        "{enter}rel=\"$root/releases/\"{id}\nmkdir -p releases shared\n\
         if [ -f \"$rel/.slipway-prepared\" ]; then\n\
         \x20 made=$(cat \"$rel/.slipway-prepared\")\n\
         \x20 if [ \"$made\" = {run} ]; then printf 'prepared %s\\n' \"$root\"; exit 0; fi\n\
         \x20 echo \"$rel was made by run $made: two runs started in the same second; start this one again\" >&2; exit 3\n\
         fi\n\
         if [ \"$(readlink current || true)\" = \"$rel\" ]; then echo \"$rel is live but incomplete: deploy again\" >&2; exit 3; fi\n\
         rm -rf -- \"$rel\"\nmkdir -p -- \"$rel\"\nprintf 'fresh %s\\n' \"$root\"",
        enter = enter(dir, true)
    )
}

/// Fills the release with `git archive` of `reference` from a mirror of
/// `repo` kept in `<root>/repo` (cloned once, then fetched), as Capistrano does.
pub fn fill_git(root: &str, release: &str, repo: &str, reference: &str) -> String {
    let (rel, repo, reference) = (quote(&format!("{root}/releases/{release}")), quote(repo), quote(reference));
    format!(
        "cd -- {root}\n\
         if command -v flock >/dev/null; then exec 9>repo.lock; flock 9; fi\n\
         if [ -d repo ] && [ \"$(git -C repo config --get remote.origin.url || true)\" = {repo} ]; then\n\
         \x20 git -C repo remote update --prune >/dev/null\n\
         else\n\
         \x20 rm -rf repo\n\
         \x20 git clone --quiet --mirror -- {repo} repo\n\
         fi\n\
         commit=$(git -C repo rev-parse --verify --quiet --end-of-options {reference}'^{{commit}}') || {{ echo \"no commit \"{reference}\" in \"{repo} >&2; exit 3; }}\n\
         git -C repo archive --format=tar \"$commit\" | tar -x -f - -C {rel}\n\
         echo \"$commit\" > {rel}/.slipway-commit",
        root = quote(root)
    )
}

/// Fills the release from a tarball the host downloads with `curl` (any
/// compression `tar` knows), checked against `sha256` when given.
pub fn fill_artifact(root: &str, release: &str, url: &str, sha256: Option<&str>) -> String {
    let rel = quote(&format!("{root}/releases/{release}"));
    let tmp = quote(&format!("{root}/releases/.{release}.download"));
    let check = match sha256 {
        Some(sum) => format!(
            "got=$(sha256sum {tmp} | cut -d' ' -f1)\n\
             if [ \"$got\" != {want} ]; then rm -f {tmp}; echo \"the download's sha256 is $got, not \"{want} >&2; exit 3; fi\n",
            want = quote(&sum.trim().to_ascii_lowercase())
        ),
        None => String::new(),
    };
    format!(
        "command -v curl >/dev/null || {{ echo 'curl is missing on this host: install it to fetch artifacts' >&2; exit 3; }}\n\
         curl -fsSL --retry 2 -o {tmp} --url {url}\n{check}tar -x -f {tmp} -C {rel}\nrm -f {tmp}",
        url = quote(url)
    )
}

/// Runs a user's command (`source.command`, `build`, `restart`) in `dir`.
pub fn in_dir(dir: &str, command: &str) -> String {
    format!("cd -- {}\n{command}", quote(dir))
}

/// Writes `REVISION` and links the shared paths into the release: the link's
/// parent folders are made, and a path the release itself holds is replaced
/// (a tracked `log/` would otherwise get the link nested inside it). Shared
/// folders are created; shared files must exist, as Capistrano requires.
pub fn link(root: &str, release: &str, revision: &str, files: &[String], dirs: &[String]) -> String {
    let rel = quote(&format!("{root}/releases/{release}"));
    let mut s = format!("cd -- {}\nroot=$PWD\nprintf '%s\\n' {} > {rel}/REVISION\n", quote(root), quote(revision));
    let put = |s: &mut String, path: &str| {
        let (target, shared) = (quote(&format!("{root}/releases/{release}/{path}")), quote(&format!("{root}/shared/{path}")));
        s.push_str(&format!("mkdir -p -- \"$(dirname -- {target})\"\nrm -rf -- {target}\nln -s -- {shared} {target}\n"));
    };
    for dir in dirs {
        let dir = dir.trim_end_matches('/');
        s.push_str(&format!("mkdir -p -- {}\n", quote(&format!("shared/{dir}"))));
        put(&mut s, dir);
    }
    for file in files {
        let shared = quote(&format!("shared/{file}"));
        s.push_str(&format!(
            "[ -e {shared} ] || {{ echo \"the shared file $root/\"{shared}\" is missing: put it there first (it is kept across releases)\" >&2; exit 3; }}\n"
        ));
        put(&mut s, file);
    }
    s.trim_end().to_owned()
}

/// Marks the release complete: the last step of preparing it.
pub fn seal(root: &str, release: &str, run_id: &str) -> String {
    let mark = quote(&format!("{root}/releases/{release}/.slipway-prepared"));
    format!("printf '%s\\n' {} > {mark}.tmp\nmv -f -- {mark}.tmp {mark}", quote(run_id))
}

/// Prints what a host is on, as `key=value` lines (see [`View`]); `release`
/// is the one a deploy brings, if any.
pub fn inspect(dir: &str, release: Option<&str>) -> String {
    let mut s = format!(
        "cd -- {dir} 2>/dev/null || exit 0\nroot=$PWD\necho \"root=$root\"\n\
         cur=$(readlink current || true); cur=${{cur##*/}}\necho \"current=$cur\"\n\
         [ -z \"$cur\" ] || [ ! -f \"releases/$cur/REVISION\" ] || echo \"current_revision=$(head -n1 \"releases/$cur/REVISION\")\"\n\
         [ ! -f .slipway-switching ] || echo \"switching=$(head -n1 .slipway-switching)\"\n\
         prev=\n\
         if [ -n \"$cur\" ] && [ -f \"releases/$cur/.slipway-previous\" ]; then prev=$(head -n1 \"releases/$cur/.slipway-previous\")\n\
         elif [ -n \"$cur\" ]; then prev=$({RELEASES} | awk -v c=\"$cur\" '$0 < c' | tail -n1); fi\n\
         [ -z \"$prev\" ] || [ ! -d \"releases/$prev\" ] || echo \"previous=$prev\"\n\
         [ -z \"$prev\" ] || [ ! -f \"releases/$prev/REVISION\" ] || echo \"previous_revision=$(head -n1 \"releases/$prev/REVISION\")\"\n"
    );
    if let Some(id) = release {
        let rel = quote(&format!("releases/{id}"));
        s.push_str(&format!(
            "[ ! -f {rel}/.slipway-prepared ] || echo prepared=1\n\
             [ ! -f {rel}/REVISION ] || echo \"release_revision=$(head -n1 {rel}/REVISION)\"\n\
             [ ! -f {rel}/.slipway-previous ] || echo \"release_previous=$(head -n1 {rel}/.slipway-previous)\""
        ));
    }
    s.trim_end().to_owned()
}

/// What [`inspect`] printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// `deploy_to` as an absolute path; empty when it does not exist.
    pub root: String,
    /// The release `current` points to.
    pub current: Option<String>,
    pub current_revision: Option<String>,
    /// A switch that started and did not finish (see the module's marks).
    pub switching: Option<String>,
    /// Where a rollback of the current release goes.
    pub previous: Option<String>,
    pub previous_revision: Option<String>,
    /// The deploy's release is complete on this host.
    pub prepared: bool,
    pub release_revision: Option<String>,
    /// The release that was live when the deploy's release went live.
    pub release_previous: Option<String>,
}

impl View {
    pub fn parse(text: &str) -> View {
        let mut v = View::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else { continue };
            let value = (!value.is_empty()).then(|| value.to_owned());
            match key {
                "root" => v.root = value.unwrap_or_default(),
                "current" => v.current = value,
                "current_revision" => v.current_revision = value,
                "switching" => v.switching = value,
                "previous" => v.previous = value,
                "previous_revision" => v.previous_revision = value,
                "prepared" => v.prepared = value.is_some(),
                "release_revision" => v.release_revision = value,
                "release_previous" => v.release_previous = value,
                _ => {}
            }
        }
        v
    }
}

/// Points `current` at `releases/<release>`: a new link renamed over the old
/// one (`mv -T`, one rename(2): `current` is never missing nor dangling). The
/// host is marked as switching until [`finish`]. `mark_previous` (a deploy,
/// not a rollback) records the release it replaces, for a later rollback.
pub fn switch(root: &str, release: &str, require_prepared: bool, mark_previous: bool) -> String {
    let id = quote(release);
    let rel = quote(&format!("{root}/releases/{release}"));
    let check = match require_prepared {
        true => format!("[ -f {rel}/.slipway-prepared ] || {{ echo {rel}\" is not prepared: nothing was switched\" >&2; exit 3; }}\n"),
        false => format!("[ -d {rel} ] || {{ echo {rel}\" does not exist: nothing was switched\" >&2; exit 3; }}\n"),
    };
    let previous = match mark_previous {
        true => format!("  [ -z \"$cur\" ] || printf '%s\\n' \"$cur\" > {rel}/.slipway-previous\n"),
        false => String::new(),
    };
    format!(
        "cd -- {}\n{check}cur=$(readlink current || true); cur=${{cur##*/}}\n\
         printf '%s\\n' {id} > .slipway-switching.tmp\nmv -f .slipway-switching.tmp .slipway-switching\n\
         if [ \"$cur\" != {id} ]; then\n{previous}\
         \x20 rm -f current.slipway-new\n\x20 ln -s -- {rel} current.slipway-new\n\x20 mv -T -f current.slipway-new current\nfi",
        quote(root)
    )
}

/// Ends a host's switch once it is healthy and back in the load balancer: a
/// line in `revisions.log`, the switching mark removed, and with `keep`, old
/// releases removed (never the live one, nor the one a rollback would go to).
pub fn finish(root: &str, log_line: &str, keep: Option<u64>) -> String {
    let mut s = format!("cd -- {}\nprintf '%s\\n' {} >> revisions.log\nrm -f .slipway-switching\n", quote(root), quote(log_line));
    if let Some(keep) = keep {
        s.push_str(&format!(
            "cur=$(readlink current || true); cur=${{cur##*/}}\nprev=\n\
             [ ! -f \"releases/$cur/.slipway-previous\" ] || prev=$(head -n1 \"releases/$cur/.slipway-previous\")\n\
             {RELEASES} -r | tail -n +{} | while read -r old; do\n\
             \x20 if [ \"$old\" != \"$cur\" ] && [ \"$old\" != \"$prev\" ]; then rm -rf -- \"releases/$old\"; fi\n\
             done",
            keep + 1
        ));
    }
    s.trim_end().to_owned()
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
