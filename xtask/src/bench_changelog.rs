//! `cargo xtask bench changelog`: the `git` source of a `changelog` stage
//! listing 10,000 commits (a history with merges, made with `git fast-import`),
//! beside plain `git log` over the same range, in the same run: interleaved
//! rounds, medians. Target: at most 1.3x.
//!
//! The target is held by the library: the stage's runner called in this
//! process (resolving both revisions, `git log`, parsing, building the
//! outputs), because that is the git source, and what it adds to `git log` is
//! what the target is about. Beside it, for the record, the release `slipway`
//! binary running a one-stage pipeline: process start, the pipeline parsed,
//! the deploy lock, and the engine's handling of 10,000 commits of outputs (it
//! copies them for the journal and the reporters, and writes them, 2.8 MB, to
//! the journal on tmpfs). `--quick` for a smoke run; `--bin PATH` to time
//! another build of the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use slipway_engine::runtime::{Runners, StageEnv};

use crate::bench::{median_of, ms};

/// Commits in the range listed.
const COMMITS: usize = 10_000;

/// What a changelog needs of each commit, as `git log` gives it: the `git`
/// source asks for this and the parents (`%P`), which tell it whether `from` is
/// an ancestor of `to` without another walk of the history.
const FORMAT: &str = "--format=tformat:%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e";

pub fn changelog(args: &[&str]) -> Result<()> {
    let quick = args.contains(&"--quick");
    let bin = crate::slipway_bin(args)?;
    let tmp = std::env::temp_dir().join(format!("slipway-bench-changelog-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let result = measure(&bin, &tmp, if quick { 3 } else { 15 });
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn measure(bin: &Path, tmp: &Path, rounds: usize) -> Result<()> {
    let repo = tmp.join("repo");
    let root_sha = make_repo(&repo)?;
    let range = format!("{root_sha}..main");
    let listed = git(&repo, &["rev-list", "--count", &range])?;
    if listed.trim() != COMMITS.to_string() {
        bail!("the range holds {} commits, not {COMMITS}", listed.trim());
    }
    std::fs::write(
        tmp.join("p.yaml"),
        format!(
            "version: 1\nname: bench-changelog\nstages:\n  changes:\n    kind: changelog\n    from: {root_sha}\n    to: main\n    max_commits: {COMMITS}\n    git: {{ path: repo }}\n"
        ),
    )?;
    let shm = Path::new("/dev/shm");
    let state = match shm.is_dir() {
        true => shm.join(format!("slipway-bench-changelog-{}", std::process::id())),
        false => tmp.join(".slipway"),
    };
    // Once, checked: the stage lists every commit.
    let out = slipway(bin, tmp, &state, &["--format", "json"])?;
    let text = String::from_utf8_lossy(&out);
    let done = text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|e| e["event"] == "stage_finished");
    let count = done.as_ref().and_then(|e| e["outputs"]["commits"].as_array().map(Vec::len));
    if count != Some(COMMITS) {
        bail!("the stage listed {count:?} commits, not {COMMITS}");
    }
    let log_args = ["log", "--no-show-signature", "--reverse", FORMAT, &range, "--"];
    let library = Library::new(tmp)?;
    let mut times: [Vec<Duration>; 3] = Default::default();
    // Interleaved, so a slow spell of the machine hits all alike.
    for _ in 0..rounds {
        let start = Instant::now();
        git(&repo, &log_args)?;
        times[0].push(start.elapsed());
        let start = Instant::now();
        library.run()?;
        times[1].push(start.elapsed());
        let start = Instant::now();
        slipway(bin, tmp, &state, &[])?;
        times[2].push(start.elapsed());
    }
    let _ = std::fs::remove_dir_all(&state);
    let names = [
        "git log (same range and fields)".to_owned(),
        "the git source (library, in process)".to_owned(),
        format!("slipway run, one stage ({})", state_kind(&state)),
    ];
    let plain = median_of(&mut times[0]);
    println!("## changelog, git source: {COMMITS} commits with merges (median of {rounds} interleaved rounds)");
    for (i, name) in names.iter().enumerate() {
        let t = median_of(&mut times[i]);
        let (lo, hi) = (times[i][0], times[i][times[i].len() - 1]);
        let ratio = match i {
            0 => String::new(),
            1 => format!("   ratio {:.2}x (target <= 1.3x)", t.as_secs_f64() / plain.as_secs_f64()),
            _ => format!("   ratio {:.2}x", t.as_secs_f64() / plain.as_secs_f64()),
        };
        println!("{name:<48}{:>8.1} ms  (range {:.1}-{:.1}){ratio}", ms(t), ms(lo), ms(hi));
    }
    Ok(())
}

/// The changelog stage's runner, called as the engine calls it.
struct Library {
    checked: slipway_core::Checked,
    dir: PathBuf,
    live: slipway_stages::Live,
    runtime: tokio::runtime::Runtime,
    renderer: slipway_engine::render::Renderer,
    masker: slipway_engine::secrets::Masker,
}

impl Library {
    fn new(dir: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(dir.join("p.yaml"))?;
        let checked = slipway_core::check_str("p.yaml", &text);
        if !checked.is_valid() {
            bail!("the bench pipeline is not valid: {:?}", checked.diagnostics);
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (renderer, masker) = (slipway_engine::render::Renderer::new(), slipway_engine::secrets::Masker::default());
        Ok(Library { checked, dir: dir.to_path_buf(), live: slipway_stages::Live::new(), runtime, renderer, masker })
    }

    fn run(&self) -> Result<()> {
        let pipeline = self.checked.pipeline.as_ref().context("a pipeline")?;
        let stage = pipeline.stage("changes").context("the stage")?;
        let (_stop, cancel) = tokio::sync::watch::channel(false);
        let env = StageEnv {
            stage,
            pipeline,
            context: serde_json::json!({}),
            renderer: &self.renderer,
            run_id: "bench",
            idempotency_key: "bench:changes".into(),
            base_dir: &self.dir,
            project_root: &self.dir,
            dry_run: false,
            masker: &self.masker,
            events: None,
            cancel,
            history: None,
        };
        let outputs = self.runtime.block_on(self.live.runner(stage.kind.value).run(&env)).map_err(|e| anyhow::anyhow!(e.message))?;
        if outputs["count"] != COMMITS {
            bail!("the library listed {} commits", outputs["count"]);
        }
        Ok(())
    }
}

fn state_kind(state: &Path) -> &'static str {
    if state.starts_with("/dev/shm") { "journal on tmpfs" } else { "journal on disk" }
}

/// One `slipway run` of the pipeline from a fresh state folder; its stdout.
fn slipway(bin: &Path, dir: &Path, state: &PathBuf, extra: &[&str]) -> Result<Vec<u8>> {
    let _ = std::fs::remove_dir_all(state);
    let out = Command::new(bin).args(["run", "p.yaml", "--state-dir"]).arg(state).args(extra).current_dir(dir).output()?;
    if !out.status.success() {
        bail!("slipway run failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git").args(args).current_dir(dir).stdin(Stdio::null()).output()?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A repository whose `main` holds [`COMMITS`] commits after its root: every
/// 50th main commit merges a branch of three commits. Returns the root's SHA.
fn make_repo(dir: &Path) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    git(dir, &["init", "-q", "--initial-branch=main"])?;
    let mut stream = String::new();
    let mut mark = 0usize;
    let mut commit = |stream: &mut String, branch: &str, msg: &str, parents: &[usize]| {
        mark += 1;
        let who = format!("Dev {} <dev{}@bench.test> {} +0000", mark % 7, mark % 7, 1_700_000_000 + mark * 60);
        stream.push_str(&format!("commit refs/heads/{branch}\nmark :{mark}\nauthor {who}\ncommitter {who}\ndata {}\n{msg}\n", msg.len()));
        for (k, p) in parents.iter().enumerate() {
            stream.push_str(&format!("{} :{p}\n", if k == 0 { "from" } else { "merge" }));
        }
        mark
    };
    let root = commit(&mut stream, "main", "root", &[]);
    let (mut head, mut listed, mut i) = (root, 0, 0);
    while listed < COMMITS {
        i += 1;
        if i % 50 == 0 && COMMITS - listed >= 4 {
            let mut tip = head;
            for k in 0..3 {
                tip = commit(&mut stream, "topic", &format!("topic {i} part {k}: a change of some length, as subjects go"), &[tip]);
            }
            head = commit(&mut stream, "main", &format!("Merge branch 'topic-{i}'"), &[head, tip]);
            listed += 4;
        } else {
            head = commit(&mut stream, "main", &format!("change {i}: a change of some length, as subjects go"), &[head]);
            listed += 1;
        }
    }
    let marks = dir.join("../marks");
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet", &format!("--export-marks={}", marks.display())])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(child.stdin.as_mut().context("stdin")?, stream.as_bytes())?;
    drop(child.stdin.take());
    if !child.wait()?.success() {
        bail!("git fast-import failed");
    }
    let marks = std::fs::read_to_string(marks)?;
    marks.lines().find_map(|l| l.strip_prefix(&format!(":{root} ")).map(str::to_owned)).context("the root's mark")
}
