//! A local git repository through the git CLI: revisions resolved to full SHAs,
//! the commits of a range listed (merges included), ancestry checked.
//!
//! Only read-only subcommands run ([`READ_ONLY`]): none of them writes to the
//! repository (with `GIT_OPTIONAL_LOCKS=0`, not even the index), which is why
//! `plan --live-reads`, where no other process may start, still runs them.
//! Fields are separated by the bytes 0x1f and 0x1e, which no SHA, date or
//! subject line holds in practice, so any text in a subject stays data.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use slipway_engine::runtime::{StageEnv, StageError};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// A commit as both sources report it.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub sha: String,
    pub author: String,
    pub email: String,
    /// ISO 8601.
    pub date: String,
    /// The first paragraph of the message, on one line.
    pub subject: String,
}

/// The commits between two revisions.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    /// Full SHAs.
    pub from: String,
    pub to: String,
    /// Oldest first: the newest `max` of the range.
    pub commits: Vec<Commit>,
    /// How many commits the range holds.
    pub count: u64,
    /// A web page showing the comparison, when the source has one.
    pub compare_url: String,
    /// `from` is not an ancestor of `to`: history was rewritten, or this goes back.
    pub not_ancestor: bool,
}

/// The subcommands this client runs: they only read.
pub const READ_ONLY: &[&str] = &["rev-parse", "log", "rev-list", "merge-base"];

/// What a stage keeps of a command's output; the rest fails the stage.
const MAX_OUTPUT: u64 = 16 * 1024 * 1024;

/// Variables of the caller's environment that would point git at another
/// repository than the stage's (a pipeline run from a git hook has them set).
const REPOSITORY_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
];

/// The `git log` arguments listing the newest `limit` commits of `from..to`,
/// oldest first (`--max-count` picks the newest, `--reverse` orders what it
/// picked), each with its parents (`%P`). `--no-show-signature` keeps a user's
/// `log.showSignature` out of the output.
pub fn log_args(from: &str, to: &str, limit: u64) -> Vec<String> {
    let format = "--format=tformat:%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e";
    ["log", "--no-show-signature", "--reverse", &format!("--max-count={limit}"), format, &format!("{from}..{to}"), "--"]
        .map(String::from)
        .to_vec()
}

/// A command line as a plan shows it.
pub fn command_line(args: &[String]) -> String {
    let quote = |a: &String| match a.chars().all(|c| c.is_ascii_alphanumeric() || "-_=./:,".contains(c)) {
        true => a.clone(),
        false => format!("'{}'", a.replace('\'', r"'\''")),
    };
    std::iter::once("git".to_owned()).chain(args.iter().map(quote)).collect::<Vec<_>>().join(" ")
}

pub struct Repo {
    pub dir: PathBuf,
}

impl Repo {
    pub fn new(dir: &Path) -> Self {
        Repo { dir: dir.to_path_buf() }
    }

    /// The newest `max` commits of `from..to`, both revisions as full SHAs, how
    /// many commits there are, and whether `from` is an ancestor of `to`.
    pub async fn range(&self, env: &StageEnv<'_>, from: &str, to: &str, max: u64) -> Result<Range, StageError> {
        check_revision("from", from)?;
        check_revision("to", to)?;
        // One more than kept: whether there are more says if counting is needed.
        // Both revisions are resolved meanwhile, on the other core: nothing waits.
        // The records are parsed as they come, while git still writes.
        let args = log_args(from, to, max + 1);
        let mut parser = LogParser::default();
        let unreadable = |e: String| StageError::permanent(format!("reading `git log` in {}: {e}", self.dir.display()));
        let (shas, log) =
            tokio::join!(self.resolve_both(env, from, to), self.stream(env, &args, |chunk| parser.feed(chunk).map_err(unreadable)));
        let (from_sha, to_sha) = shas?;
        let mut range =
            Range { from: from_sha, to: to_sha, commits: Vec::new(), count: 0, compare_url: String::new(), not_ancestor: false };
        match log? {
            (Some(0), _) => {}
            (code, err) => return Err(failed(&self.dir, &args, code, &err)),
        }
        if range.from == range.to {
            return Ok(range);
        }
        let (mut commits, from_is_parent) = parser.finish(&range.from).map_err(unreadable)?;
        if commits.len() as u64 > max {
            commits.drain(..commits.len() - max as usize);
            let (count, ancestor) = tokio::try_join!(self.count(env, &range), self.is_ancestor(env, &range))?;
            (range.count, range.not_ancestor) = (count, !ancestor);
        } else {
            // The whole range is listed: `from` is an ancestor of `to` exactly when
            // it is a parent of a listed commit (the one after it on a path from
            // `to`). That saves a `git merge-base` walking the whole history.
            (range.count, range.not_ancestor) = (commits.len() as u64, !from_is_parent);
        }
        range.commits = commits;
        Ok(range)
    }

    /// A revision (SHA, abbreviated SHA, tag, branch) to its full commit SHA; an
    /// unknown one is a permanent error that names it.
    pub async fn resolve(&self, env: &StageEnv<'_>, rev: &str, field: &str) -> Result<String, StageError> {
        check_revision(field, rev)?;
        let args = ["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")].map(String::from);
        match self.output(env, &args).await? {
            (Some(0), out, _) => Ok(out.trim().to_owned()),
            (Some(1), _, _) => Err(StageError::permanent(format!(
                "unknown revision `{rev}` (`{field}`) in {}: fetch it (`git fetch`), or check the SHA",
                self.dir.display()
            ))),
            (code, _, err) => Err(failed(&self.dir, &args, code, &err)),
        }
    }

    /// Both revisions in one `git rev-parse`; when one is unknown, each on its
    /// own, to say which.
    async fn resolve_both(&self, env: &StageEnv<'_>, from: &str, to: &str) -> Result<(String, String), StageError> {
        let args = ["rev-parse", &format!("{from}^{{commit}}"), &format!("{to}^{{commit}}")].map(String::from);
        if let (Some(0), out, _) = self.output(env, &args).await? {
            let mut lines = out.lines();
            if let (Some(f), Some(t)) = (lines.next(), lines.next())
                && is_full_sha(f)
                && is_full_sha(t)
            {
                return Ok((f.to_owned(), t.to_owned()));
            }
        }
        tokio::try_join!(self.resolve(env, from, "from"), self.resolve(env, to, "to"))
    }

    async fn count(&self, env: &StageEnv<'_>, range: &Range) -> Result<u64, StageError> {
        let args = ["rev-list", "--count", &format!("{}..{}", range.from, range.to), "--"].map(String::from);
        let counted = self.run(env, &args).await?;
        counted.trim().parse().map_err(|_| StageError::permanent(format!("`git rev-list --count` said {counted:?}")))
    }

    async fn is_ancestor(&self, env: &StageEnv<'_>, range: &Range) -> Result<bool, StageError> {
        let args = ["merge-base", "--is-ancestor", &range.from, &range.to].map(String::from);
        match self.output(env, &args).await? {
            (Some(0), ..) => Ok(true),
            (Some(1), ..) => Ok(false),
            (code, _, err) => Err(failed(&self.dir, &args, code, &err)),
        }
    }

    /// Stdout of a command that must succeed.
    async fn run(&self, env: &StageEnv<'_>, args: &[String]) -> Result<String, StageError> {
        match self.output(env, args).await? {
            (Some(0), out, _) => Ok(out),
            (code, _, err) => Err(failed(&self.dir, args, code, &err)),
        }
    }

    /// Runs `git ARGS` in the repository: exit code, stdout, stderr.
    async fn output(&self, env: &StageEnv<'_>, args: &[String]) -> Result<(Option<i32>, String, String), StageError> {
        let mut out = Vec::new();
        let (code, err) = self
            .stream(env, args, |chunk| {
                out.extend_from_slice(chunk);
                Ok(())
            })
            .await?;
        Ok((code, lossy(out), err))
    }

    /// Runs `git ARGS` in the repository, handing its output to `sink` as it
    /// comes: exit code and stderr. Stops at once when the run is interrupted
    /// (the process is killed when dropped).
    async fn stream(
        &self,
        env: &StageEnv<'_>,
        args: &[String],
        mut sink: impl FnMut(&[u8]) -> Result<(), StageError>,
    ) -> Result<(Option<i32>, String), StageError> {
        if !args.first().is_some_and(|a| READ_ONLY.contains(&a.as_str())) {
            return Err(StageError::permanent(format!("refused `{}`: this client only reads", command_line(args))));
        }
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(&self.dir)
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in REPOSITORY_VARS {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound if !self.dir.is_dir() => format!("{} is not a folder: check `git.path`", self.dir.display()),
                std::io::ErrorKind::NotFound => "git is not installed (or not on PATH): install it, or read commits with `github`".into(),
                _ => e.to_string(),
            };
            StageError::permanent(format!("cannot run git in {}: {why}", self.dir.display()))
        })?;
        let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(StageError::permanent("git started without its output pipes"));
        };
        let work = async {
            let read_out = async {
                let (mut buf, mut total) = (vec![0u8; 64 * 1024], 0u64);
                loop {
                    let n = stdout.read(&mut buf).await.map_err(|e| StageError::permanent(format!("reading git's output: {e}")))?;
                    if n == 0 {
                        return Ok(());
                    }
                    total += n as u64;
                    if total > MAX_OUTPUT {
                        let what = command_line(args);
                        return Err(StageError::permanent(format!(
                            "`{what}` printed more than {} MiB: lower `max_commits`",
                            MAX_OUTPUT >> 20
                        )));
                    }
                    sink(&buf[..n])?;
                }
            };
            let (mut err, mut stderr) = (Vec::new(), stderr.take(64 * 1024));
            let (out, e) = tokio::join!(read_out, stderr.read_to_end(&mut err));
            out?;
            e.map_err(|e| StageError::permanent(format!("reading git's errors: {e}")))?;
            let status = child.wait().await.map_err(|e| StageError::permanent(format!("waiting for git: {e}")))?;
            Ok((status.code(), lossy(err)))
        };
        tokio::select! {
            result = work => result,
            () = env.interrupted() => Err(StageError::permanent("stopped: the run was interrupted")),
        }
    }
}

/// A revision given to git must not read as an option.
fn check_revision(field: &str, rev: &str) -> Result<(), StageError> {
    match rev.is_empty() || rev.starts_with('-') {
        true => Err(StageError::permanent(format!("`{field}` is `{rev}`, which is not a revision: give a SHA, tag or branch"))),
        false => Ok(()),
    }
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A git command that failed, with what git said (`not a git repository`, …).
fn failed(dir: &Path, args: &[String], code: Option<i32>, stderr: &str) -> StageError {
    let said = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    let code = code.map_or("a signal".to_owned(), |c| format!("exit code {c}"));
    let mut message = format!("`{}` in {} ended with {code}: {said}", command_line(args), dir.display());
    if said.contains("not a git repository") {
        message.push_str(": point `git.path` (relative to the pipeline file) at a clone");
    } else if said.contains("dubious ownership") {
        message.push_str(": run as the repository's owner, or mark it safe with `git config --global --add safe.directory`");
    }
    StageError::permanent(message)
}

/// `git log` records of `%H %P %an %ae %aI %s`, each ended by 0x1e and a
/// newline, parsed as they arrive. `%s` never holds a newline (git joins the
/// subject's lines), so the record ends are exact, and a record is whole text.
#[derive(Default)]
pub struct LogParser {
    /// The start of a record whose end has not arrived yet.
    pending: Vec<u8>,
    commits: Vec<Commit>,
    /// Every parent of every commit, space-separated.
    parents: String,
}

impl LogParser {
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.pending.extend_from_slice(chunk);
        let Some(end) = self.pending.windows(2).rposition(|w| w == b"\x1e\n").map(|i| i + 2) else { return Ok(()) };
        let pending = std::mem::take(&mut self.pending);
        for record in String::from_utf8_lossy(&pending[..end]).split_terminator("\u{1e}\n") {
            self.record(record)?;
        }
        self.pending = pending[end..].to_vec();
        Ok(())
    }

    fn record(&mut self, record: &str) -> Result<(), String> {
        let mut fields = record.splitn(6, '\u{1f}');
        let (sha, parents) = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
        let mut next = || fields.next().map(str::to_owned);
        match (next(), next(), next(), next()) {
            (Some(author), Some(email), Some(date), Some(subject)) if is_full_sha(sha) => {
                self.parents.extend([parents, " "]);
                self.commits.push(Commit { sha: sha.to_owned(), author, email, date, subject });
                Ok(())
            }
            _ => Err(format!("unexpected record {:?}", record.chars().take(120).collect::<String>())),
        }
    }

    /// The commits, oldest first, and whether `sha` is a parent of one of them.
    pub fn finish(self, sha: &str) -> Result<(Vec<Commit>, bool), String> {
        if !self.pending.is_empty() {
            return Err(format!("the output ends inside a record: {:?}", String::from_utf8_lossy(&self.pending)));
        }
        let is_parent = self.parents.split(' ').any(|p| p == sha);
        Ok((self.commits, is_parent))
    }
}

/// All of a `git log` output at once (see [`LogParser`]).
#[cfg(test)]
fn parse_log(out: &str, parent: &str) -> Result<(Vec<Commit>, bool), String> {
    let mut parser = LogParser::default();
    parser.feed(out.as_bytes())?;
    parser.finish(parent)
}

/// 40 (SHA-1) or 64 (SHA-256) hex digits.
pub fn is_full_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// 7 to 39 hex digits: an abbreviated SHA, to be resolved to the full one.
pub fn is_abbreviated_sha(s: &str) -> bool {
    (7..40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_whatever_the_subject_holds() {
        let (sha, p1, p2) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let out = format!(
            "{sha}\u{1f}{p1} {p2}\u{1f}Ann\u{1f}ann@x\u{1f}2026-01-01T00:00:00+01:00\u{1f}$(touch pwned) {{{{ secrets.X }}}} a\u{1f}b\u{1e}x\u{1e}\n\
             {sha}\u{1f}{p1}\u{1f}Bob\u{1f}bob@x\u{1f}2026-01-02T00:00:00Z\u{1f}\u{1e}\n"
        );
        let (commits, is_parent) = parse_log(&out, &p2).unwrap();
        assert!(is_parent, "a merge's second parent counts");
        assert!(!parse_log(&out, &sha).unwrap().1);
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].subject, "$(touch pwned) {{ secrets.X }} a\u{1f}b\u{1e}x");
        assert_eq!((commits[1].author.as_str(), commits[1].subject.as_str()), ("Bob", ""));
        assert_eq!(parse_log("", &p1).unwrap(), (Vec::new(), false));
        assert!(parse_log("nonsense\u{1e}\n", &p1).is_err());
    }

    #[test]
    fn records_cut_anywhere_between_reads_parse_the_same() {
        let sha = "d".repeat(40);
        let out = format!("{sha}\u{1f}\u{1f}Åsa\u{1f}a@x\u{1f}2026-01-01T00:00:00Z\u{1f}café ✓\u{1e}\n").repeat(3);
        let whole = parse_log(&out, "x").unwrap();
        for size in [1, 2, 3, 7, 64] {
            let mut parser = LogParser::default();
            out.as_bytes().chunks(size).for_each(|c| parser.feed(c).unwrap());
            assert_eq!(parser.finish("x").unwrap(), whole, "read {size} bytes at a time");
        }
        let mut cut = LogParser::default();
        cut.feed(&out.as_bytes()[..out.len() - 3]).unwrap();
        assert!(cut.finish("x").is_err(), "an output that ends inside a record is not taken as whole");
    }

    #[test]
    fn the_log_command_is_shown_as_it_runs() {
        let line = command_line(&log_args("aaa", "bbb", 251));
        assert_eq!(
            line,
            "git log --no-show-signature --reverse --max-count=251 '--format=tformat:%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e' aaa..bbb --"
        );
    }

    #[test]
    fn shas_are_told_apart() {
        assert!(is_full_sha(&"0f".repeat(20)) && !is_full_sha("0f0f0f0"));
        assert!(is_abbreviated_sha("abc1234") && !is_abbreviated_sha("abc123") && !is_abbreviated_sha("v1.2.3-x"));
        assert!(!is_abbreviated_sha(&"a".repeat(40)));
    }
}
