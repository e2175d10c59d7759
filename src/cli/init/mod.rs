//! `slipway init [--ci github|gitlab]`: a commented starter pipeline, and a CI
//! job that validates the pipelines on every pull request and posts the plan
//! as a comment. It never overwrites a file unless told to (`--force`): it
//! checks every file first and writes none if one is in the way.

use std::path::{Path, PathBuf};

use super::exit;

const STARTER: &str = include_str!("starter.yaml");
const GITHUB: &str = include_str!("github.yml");
const GITLAB: &str = include_str!("gitlab.yml");

/// Where the starter pipeline goes, from the project's root.
pub const PIPELINE: &str = "pipelines/deploy.yaml";
pub const GITHUB_WORKFLOW: &str = ".github/workflows/slipway.yml";
/// GitLab reads one `.gitlab-ci.yml`: the job lives in its own file, which a
/// project's `.gitlab-ci.yml` includes.
pub const GITLAB_JOBS: &str = ".gitlab/slipway.gitlab-ci.yml";
pub const GITLAB_CI: &str = ".gitlab-ci.yml";
const GITLAB_INCLUDE: &str = "include:\n  - local: .gitlab/slipway.gitlab-ci.yml\n";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The CI system to write a job for. Default: guessed from `.github/` or `.gitlab-ci.yml`.
    #[arg(long, value_enum)]
    pub ci: Option<Ci>,
    /// Write only the pipeline, no CI job.
    #[arg(long, conflicts_with = "ci")]
    pub no_ci: bool,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
    /// The project's root folder.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ci {
    /// A GitHub Actions workflow.
    Github,
    /// GitLab CI jobs.
    Gitlab,
}

/// The CI system a project uses, from what is in its root.
pub fn guess(dir: &Path) -> Result<Option<Ci>, String> {
    match (dir.join(".github").is_dir(), dir.join(GITLAB_CI).is_file()) {
        (true, true) => Err("this project has both `.github/` and `.gitlab-ci.yml`: say which CI to write for".into()),
        (true, false) => Ok(Some(Ci::Github)),
        (false, true) => Ok(Some(Ci::Gitlab)),
        (false, false) => Ok(None),
    }
}

/// The files to write, as (path from the root, content).
fn files(dir: &Path, ci: Option<Ci>) -> Vec<(&'static str, String)> {
    let mut out = vec![(PIPELINE, STARTER.to_owned())];
    match ci {
        Some(Ci::Github) => out.push((GITHUB_WORKFLOW, GITHUB.to_owned())),
        Some(Ci::Gitlab) => {
            out.push((GITLAB_JOBS, GITLAB.to_owned()));
            // An existing `.gitlab-ci.yml` is the project's own: it is told to include the jobs, not replaced.
            if !dir.join(GITLAB_CI).exists() {
                out.push((GITLAB_CI, format!("# Written by `slipway init --ci gitlab`.\n{GITLAB_INCLUDE}")));
            }
        }
        None => {}
    }
    out
}

pub fn run(args: Args) -> i32 {
    let ci = match (args.ci, args.no_ci) {
        (Some(ci), _) => Some(ci),
        (None, true) => None,
        (None, false) => match guess(&args.dir) {
            Ok(ci) => ci,
            Err(why) => {
                eprintln!("error: {why}");
                eprintln!("help: pass `--ci github` or `--ci gitlab` (or `--no-ci`)");
                return exit::USAGE;
            }
        },
    };
    let files = files(&args.dir, ci);
    let existing: Vec<&str> = files.iter().map(|(p, _)| *p).filter(|p| args.dir.join(p).exists()).collect();
    if !existing.is_empty() && !args.force {
        for p in &existing {
            eprintln!("error: {} already exists: nothing was written", args.dir.join(p).display());
        }
        eprintln!("help: move it away, or pass `--force` to overwrite it");
        return exit::USAGE;
    }
    for (rel, text) in &files {
        let path = args.dir.join(rel);
        let written = path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&path, text));
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", path.display());
            return exit::USAGE;
        }
        println!("wrote {}", path.display());
    }
    match ci {
        Some(Ci::Gitlab) if !files.iter().any(|(p, _)| *p == GITLAB_CI) => {
            println!("add to your .gitlab-ci.yml:\n{GITLAB_INCLUDE}");
        }
        None => println!("no CI found (no `.github/` or `.gitlab-ci.yml`): `slipway init --ci github` or `--ci gitlab` adds a CI job"),
        _ => {}
    }
    println!("next: slipway validate pipelines/ && slipway plan {PIPELINE}");
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_gitlab_ci_file_is_included_into_not_replaced() {
        let dir = std::env::temp_dir().join(format!("slipway-init-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let names = |ci| files(&dir, Some(ci)).into_iter().map(|(p, _)| p).collect::<Vec<_>>();
        assert_eq!(names(Ci::Gitlab), [PIPELINE, GITLAB_JOBS, GITLAB_CI]);
        std::fs::write(dir.join(GITLAB_CI), "stages: [test]\n").unwrap();
        assert_eq!(names(Ci::Gitlab), [PIPELINE, GITLAB_JOBS]);
        assert_eq!(guess(&dir), Ok(Some(Ci::Gitlab)));
        std::fs::create_dir_all(dir.join(".github")).unwrap();
        assert!(guess(&dir).is_err(), "both: the user says which");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
