//! The layout scripts run for real by bash in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp(name: &str) -> Dir {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let dir = std::env::temp_dir().join(format!("slipway-layout-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Dir(dir)
}

/// Runs `script` as a transport would, from `cwd`: (exit code, stdout, stderr).
fn bash(cwd: &Path, script: &str) -> (i32, String, String) {
    let out = Command::new("bash").args(["-euo", "pipefail", "-c", script]).current_dir(cwd).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn ok(cwd: &Path, script: &str) -> String {
    let (code, out, err) = bash(cwd, script);
    assert_eq!(code, 0, "script failed: {err}\n--- script:\n{script}");
    out
}

/// Prepares release `id` of revision `rev` under `<cwd>/app`, as a deploy does.
fn prepare(cwd: &Path, id: &str, rev: &str, run: &str) -> String {
    let said = ok(cwd, &begin("app", id, run));
    let root = said.trim().strip_prefix("fresh ").expect("a fresh release").to_owned();
    let rel = format!("{root}/releases/{id}");
    ok(cwd, &in_dir(&rel, "mkdir -p log config && echo tracked > log/.keep && echo app > app.txt"));
    ok(cwd, &link(&root, id, rev, &["config/database.yml".into()], &["log".into(), "tmp/pids".into()]));
    ok(cwd, &seal(&root, id, run));
    root
}

#[test]
fn a_release_is_prepared_once_with_its_shared_paths_linked() {
    let d = tmp("prepare");
    let cwd = &d.0;
    // A shared file must be there before the first deploy, as in Capistrano.
    let said = ok(cwd, &begin("app", "20260101000000", "run-1"));
    let root = said.trim().strip_prefix("fresh ").unwrap().to_owned();
    let (code, _, err) = bash(cwd, &link(&root, "20260101000000", "abc", &["config/database.yml".into()], &[]));
    assert_eq!(code, 3);
    assert!(err.contains("shared/config/database.yml is missing"), "{err}");

    std::fs::create_dir_all(cwd.join("app/shared/config")).unwrap();
    std::fs::write(cwd.join("app/shared/config/database.yml"), "db").unwrap();
    let root = prepare(cwd, "20260101000000", "abc1234", "run-1");
    let rel = Path::new(&root).join("releases/20260101000000");
    assert_eq!(std::fs::read_to_string(rel.join("REVISION")).unwrap(), "abc1234\n");
    // A path the release holds (a tracked `log/`) is replaced by the link, not nested in it.
    assert_eq!(std::fs::read_link(rel.join("log")).unwrap(), Path::new(&root).join("shared/log"));
    // The link's parent folders are made (`tmp/` did not exist).
    assert_eq!(std::fs::read_link(rel.join("tmp/pids")).unwrap(), Path::new(&root).join("shared/tmp/pids"));
    assert!(Path::new(&root).join("shared/tmp/pids").is_dir());
    assert_eq!(std::fs::read_to_string(rel.join("config/database.yml")).unwrap(), "db");
    // The same run again: nothing to do. Another run with the same id: refused.
    assert_eq!(ok(cwd, &begin("app", "20260101000000", "run-1")).trim(), format!("prepared {root}"));
    let (code, _, err) = bash(cwd, &begin("app", "20260101000000", "run-2"));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("was made by run run-1"), "{err}");
}

#[test]
fn an_unfinished_release_is_made_afresh() {
    let d = tmp("unfinished");
    let cwd = &d.0;
    let said = ok(cwd, &begin("app", "20260101000000", "run-1"));
    let root = said.trim().strip_prefix("fresh ").unwrap().to_owned();
    std::fs::write(Path::new(&root).join("releases/20260101000000/half-written"), "x").unwrap();
    // No `.slipway-prepared`: the crash came before the end; start over.
    assert!(ok(cwd, &begin("app", "20260101000000", "run-1")).starts_with("fresh "));
    assert!(!Path::new(&root).join("releases/20260101000000/half-written").exists());
}

#[test]
fn switching_renames_a_new_link_over_current_and_rollback_goes_to_the_previous_release() {
    let d = tmp("switch");
    let cwd = &d.0;
    std::fs::create_dir_all(cwd.join("app/shared/config")).unwrap();
    std::fs::write(cwd.join("app/shared/config/database.yml"), "db").unwrap();
    let root = prepare(cwd, "20260101000000", "v1", "run-1");
    let r = |script: &str| ok(cwd, script);
    let view = |release: Option<&str>| View::parse(&r(&inspect("app", release)));

    assert_eq!(view(None), View { root: root.clone(), ..View::default() });
    r(&switch(&root, "20260101000000", true, true));
    assert_eq!(view(None).switching.as_deref(), Some("20260101000000"), "switching until finished");
    r(&finish(&root, "deployed v1", Some(5)));
    let first = view(Some("20260101000000"));
    assert_eq!((first.current.as_deref(), first.current_revision.as_deref()), (Some("20260101000000"), Some("v1")));
    assert_eq!((first.switching, first.previous, first.prepared), (None, None, true));

    prepare(cwd, "20260102000000", "v2", "run-2");
    let before = view(Some("20260102000000"));
    assert_eq!((before.prepared, before.release_revision.as_deref()), (true, Some("v2")));
    // Switching twice is switching once: the second finds `current` there already.
    r(&switch(&root, "20260102000000", true, true));
    r(&switch(&root, "20260102000000", true, true));
    r(&finish(&root, "deployed v2", Some(5)));
    let after = view(Some("20260102000000"));
    assert_eq!(after.current.as_deref(), Some("20260102000000"));
    assert_eq!((after.previous.as_deref(), after.previous_revision.as_deref()), (Some("20260101000000"), Some("v1")));
    assert_eq!(after.release_previous.as_deref(), Some("20260101000000"));
    assert_eq!(std::fs::read_link(Path::new(&root).join("current")).unwrap(), Path::new(&root).join("releases/20260102000000"));
    assert!(!Path::new(&root).join("current.slipway-new").exists());

    // A rollback records nothing as previous: a second rollback goes further back, as Capistrano's does.
    r(&switch(&root, "20260101000000", false, false));
    r(&finish(&root, "rolled back", None));
    assert_eq!(view(None).current.as_deref(), Some("20260101000000"));
    assert_eq!(std::fs::read_to_string(Path::new(&root).join("revisions.log")).unwrap(), "deployed v1\ndeployed v2\nrolled back\n");
    // A release that was never prepared is never switched to.
    let (code, _, err) = bash(cwd, &switch(&root, "20990101000000", true, true));
    assert_eq!(code, 3);
    assert!(err.contains("is not prepared"), "{err}");
    assert_eq!(view(None).current.as_deref(), Some("20260101000000"));
}

#[test]
fn without_a_recorded_previous_release_the_one_before_by_name_is_used() {
    let d = tmp("capistrano");
    let cwd = &d.0;
    // A host deployed by Capistrano: no marks of Slipway's.
    for (id, rev) in [("20250101000000", "a"), ("20250102000000", "b"), ("20250103000000", "c")] {
        std::fs::create_dir_all(cwd.join(format!("app/releases/{id}"))).unwrap();
        std::fs::write(cwd.join(format!("app/releases/{id}/REVISION")), format!("{rev}\n")).unwrap();
    }
    std::os::unix::fs::symlink(cwd.join("app/releases/20250102000000"), cwd.join("app/current")).unwrap();
    let v = View::parse(&ok(cwd, &inspect("app", None)));
    assert_eq!(
        (v.current.as_deref(), v.previous.as_deref(), v.previous_revision.as_deref()),
        (Some("20250102000000"), Some("20250101000000"), Some("a"))
    );
}

#[test]
fn cleanup_keeps_the_newest_the_live_one_and_the_one_to_roll_back_to() {
    let d = tmp("cleanup");
    let cwd = &d.0;
    let ids = ["20250101000000", "20250102000000", "20250103000000", "20250104000000", "20250105000000"];
    for id in ids {
        std::fs::create_dir_all(cwd.join(format!("app/releases/{id}"))).unwrap();
    }
    std::fs::create_dir_all(cwd.join("app/releases/not-a-release")).unwrap();
    // Live: the oldest (a rollback went far back); its previous: none recorded.
    std::os::unix::fs::symlink(cwd.join("app/releases/20250101000000"), cwd.join("app/current")).unwrap();
    std::fs::write(cwd.join("app/releases/20250101000000/.slipway-previous"), "20250102000000\n").unwrap();
    let root = cwd.join("app").display().to_string();
    ok(cwd, &finish(&root, "x", Some(2)));
    let mut left: Vec<String> =
        std::fs::read_dir(cwd.join("app/releases")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["20250101000000", "20250102000000", "20250104000000", "20250105000000", "not-a-release"]);
}

#[test]
fn relative_folders_are_under_home_over_ssh() {
    let d = tmp("home");
    let script = format!("printf '%s|' {} {}", dir_word("x y", true), dir_word("~/a", true));
    let out = Command::new("bash").args(["-c", &script]).env("HOME", &d.0).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{0}/x y|{0}/a|", d.0.display()));
    assert_eq!(dir_word("/srv/app", true), "'/srv/app'");
    assert_eq!(dir_word("app", false), "'app'");
}

#[test]
fn values_stay_data_whatever_they_hold() {
    let d = tmp("quoting");
    let cwd = &d.0;
    let evil = "v1'; touch pwned; echo '$(touch pwned2)";
    let said = ok(cwd, &begin(&dir_word("app dir", false), "20260101000000", evil));
    let root = said.trim().strip_prefix("fresh ").unwrap().to_owned();
    ok(cwd, &link(&root, "20260101000000", evil, &[], &[]));
    ok(cwd, &seal(&root, "20260101000000", evil));
    assert!(!cwd.join("pwned").exists() && !cwd.join("pwned2").exists() && !Path::new(&root).join("pwned").exists());
    assert_eq!(std::fs::read_to_string(Path::new(&root).join("releases/20260101000000/REVISION")).unwrap(), format!("{evil}\n"));
    assert_eq!(
        View::parse(&ok(cwd, &inspect(&dir_word("app dir", false), Some("20260101000000")))).release_revision.as_deref(),
        Some(evil)
    );
}

#[test]
fn git_sources_are_archived_from_a_mirror() {
    let d = tmp("git");
    let cwd = &d.0;
    let git = |args: &[&str], dir: &Path| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let work = cwd.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&["init", "-q", "-b", "main"], &work);
    std::fs::write(work.join("app.txt"), "one\n").unwrap();
    git(&["add", "."], &work);
    git(&["commit", "-q", "-m", "one"], &work);
    let first = git(&["rev-parse", "HEAD"], &work);
    std::fs::write(work.join("app.txt"), "two\n").unwrap();
    git(&["commit", "-q", "-am", "two"], &work);
    let repo = work.display().to_string();

    let root = ok(cwd, &begin("app", "20260101000000", "r")).trim().strip_prefix("fresh ").unwrap().to_owned();
    ok(cwd, &fill_git(&root, "20260101000000", &repo, &first));
    assert_eq!(std::fs::read_to_string(Path::new(&root).join("releases/20260101000000/app.txt")).unwrap(), "one\n");
    assert_eq!(std::fs::read_to_string(Path::new(&root).join("releases/20260101000000/.slipway-commit")).unwrap().trim(), first);
    // The mirror is fetched again for the next release: a branch name reads its new head.
    ok(cwd, &begin("app", "20260102000000", "r"));
    ok(cwd, &fill_git(&root, "20260102000000", &repo, "main"));
    assert_eq!(std::fs::read_to_string(Path::new(&root).join("releases/20260102000000/app.txt")).unwrap(), "two\n");
    let (code, _, err) = bash(cwd, &fill_git(&root, "20260102000000", &repo, "no-such-ref"));
    assert_eq!(code, 3);
    assert!(err.contains("no commit no-such-ref in"), "{err}");
}

#[test]
fn artifacts_are_checked_before_they_are_unpacked() {
    let d = tmp("artifact");
    let cwd = &d.0;
    std::fs::create_dir_all(cwd.join("src")).unwrap();
    std::fs::write(cwd.join("src/app.txt"), "from the tarball\n").unwrap();
    ok(cwd, "tar -czf app.tgz -C src .");
    let url = format!("file://{}/app.tgz", cwd.display());
    let sum = ok(cwd, "sha256sum app.tgz | cut -d' ' -f1").trim().to_owned();
    let root = ok(cwd, &begin("app", "20260101000000", "r")).trim().strip_prefix("fresh ").unwrap().to_owned();
    let (code, _, err) = bash(cwd, &fill_artifact(&root, "20260101000000", &url, Some(&"0".repeat(64))));
    assert_eq!(code, 3);
    assert!(err.contains(&format!("sha256 is {sum}")), "{err}");
    assert!(!Path::new(&root).join("releases/20260101000000/app.txt").exists());
    ok(cwd, &fill_artifact(&root, "20260101000000", &url, Some(&sum.to_uppercase())));
    assert_eq!(std::fs::read_to_string(Path::new(&root).join("releases/20260101000000/app.txt")).unwrap(), "from the tarball\n");
}
