//! `changelog`: the commits between the deployed revision and the one going
//! out, from GitHub's compare API or a local clone. It only reads, so it also
//! runs for real under `plan --live-reads`.
//!
//! The deployed revision (`from`) is, in this order: the field itself, what
//! the service reports (`deployment_info`), or the `to` of this stage in the
//! last run of the pipeline and environment that succeeded (the journal).
//! Commit subjects are data: they land in outputs as text, never rendered.

use serde_json::Value;
use slipway_core::kinds::{ChangelogConfig, StageConfig};
use slipway_engine::runtime::{BoxFuture, Effect, Outputs, Planner, Runner, StageEnv, StageError, StagePlan};

use crate::caps::HttpCap;
use crate::clients::deployment_info;
use crate::clients::git::{self, Range, Repo, is_abbreviated_sha};
use crate::clients::github::{self, Github};
use crate::clients::request::Request;

fn config<'a>(env: &'a StageEnv<'a>) -> &'a ChangelogConfig {
    match &env.stage.config {
        StageConfig::Changelog(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

/// Where the deployed revision comes from.
enum Start {
    Given(String),
    /// The service's GET, and the JSON pointer to read.
    Deployed(Request, String),
    Journal,
}

impl Start {
    fn source_name(&self) -> &'static str {
        match self {
            Start::Given(_) => "from",
            Start::Deployed(..) => "deployment_info",
            Start::Journal => "journal",
        }
    }
}

fn start(env: &StageEnv<'_>, c: &ChangelogConfig) -> Result<Start, StageError> {
    Ok(match (&c.from, &c.deployment_info) {
        (Some(f), _) => Start::Given(non_empty("from", env.render(f)?)?),
        (None, Some(info)) => {
            Start::Deployed(deployment_info::request(env.render(&info.url)?, env.render_map(&info.headers)?), info.pointer.value.clone())
        }
        (None, None) => Start::Journal,
    })
}

enum Source {
    Github(Github),
    Git(Repo),
}

fn source(env: &StageEnv<'_>, c: &ChangelogConfig) -> Result<Source, StageError> {
    if let Some(gh) = &c.github {
        let api_base = gh.api_base.as_ref().map(|b| env.render(b)).transpose()?.unwrap_or_else(|| github::DEFAULT_API.into());
        let token = gh.token.as_ref().map(|t| env.render(t)).transpose()?.filter(|t| !t.is_empty());
        return Ok(Source::Github(Github { api_base, repo: gh.repo.value.clone(), token }));
    }
    let path = match c.git.as_ref().and_then(|g| g.path.as_ref()) {
        Some(p) => env.render(p)?,
        None => ".".into(),
    };
    // Relative to the pipeline file's folder, like every path in a pipeline.
    Ok(Source::Git(Repo::new(&env.base_dir.join(path))))
}

fn max_commits(c: &ChangelogConfig) -> u64 {
    c.max_commits.map_or(250, |m| m.0)
}

fn non_empty(field: &str, value: String) -> Result<String, StageError> {
    match value.trim() {
        "" => Err(StageError::permanent(format!("`{field}` is empty: give a SHA, tag or branch"))),
        v => Ok(v.to_owned()),
    }
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let c = config(env);
        let mut effects = Vec::new();
        let from = match start(env, c)? {
            Start::Given(f) => f,
            Start::Deployed(req, pointer) => {
                effects.push(req.effect());
                format!("<deployed SHA at {pointer} in the response>")
            }
            Start::Journal => {
                let env_name = env.context["params"]["environment"].as_str().map(|e| format!(" to `{e}`")).unwrap_or_default();
                effects.push(Effect::Note {
                    text: format!("`from`: the `to` of this stage in the last successful run of this pipeline{env_name}, from the journal"),
                });
                "<SHA the last successful run deployed>".to_owned()
            }
        };
        let to = env.render(&c.to)?;
        let max = max_commits(c);
        match source(env, c)? {
            Source::Github(gh) => {
                if is_abbreviated_sha(&from) {
                    effects.push(gh.commit_request(&from).effect());
                }
                effects.push(gh.compare_request(&from, &to, 1).effect());
                effects.push(Effect::Note {
                    text: format!("follows `Link: rel=\"next\"` pages (skipping pages older than the newest {max} commits)"),
                });
            }
            Source::Git(repo) => {
                effects.push(Effect::Command {
                    command: git::command_line(&git::log_args(&from, &to, max + 1)),
                    on: vec!["local".into()],
                    env: Vec::new(),
                    workdir: Some(repo.dir.display().to_string()),
                });
                effects.push(Effect::Note {
                    text: format!(
                        "beside it, `git rev-parse` resolves both revisions to full SHAs; past {max} commits, \
                         `git rev-list --count` counts them and `git merge-base --is-ancestor` checks the ancestry"
                    ),
                });
            }
        }
        Ok(StagePlan { effects })
    }
}

pub struct Run {
    /// Read-only under `plan --live-reads`: every request here is a GET. The
    /// `git` source runs read-only git subcommands only (see `clients::git`).
    pub http: HttpCap,
}

impl Runner for Run {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            let c = config(env);
            let spec = start(env, c)?;
            let source_name = spec.source_name();
            let from = match spec {
                Start::Given(f) => {
                    env.log("stdout", &format!("from {f} (given)"));
                    f
                }
                Start::Deployed(req, pointer) => {
                    let f = deployment_info::read(&self.http, env, &req, &pointer).await?;
                    env.log("stdout", &format!("from {f}: deployed, says {} at {pointer}", req.url));
                    f
                }
                Start::Journal => {
                    let f = last_deployed(env).await?;
                    env.log("stdout", &format!("from {f}: the `to` of this stage in the last run that succeeded (journal)"));
                    f
                }
            };
            let to = non_empty("to", env.render(&c.to)?)?;
            let max = max_commits(c);
            let range = match source(env, c)? {
                Source::Github(gh) => {
                    let from = if is_abbreviated_sha(&from) { gh.resolve(&self.http, env, &from, "from").await? } else { from };
                    gh.range(&self.http, env, &from, &to, max).await?
                }
                Source::Git(repo) => repo.range(env, &from, &to, max).await?,
            };
            let kept = if range.commits.len() as u64 == range.count { String::new() } else { format!(", the newest {max} kept") };
            env.log("stdout", &format!("{} commit(s) in {}..{}{kept}", range.count, range.from, range.to));
            if range.not_ancestor {
                env.log(
                    "stderr",
                    &format!(
                        "warning: {} is not an ancestor of {}: history was rewritten, or this deploy goes back (a rollback); \
                         the list holds what `to` has and `from` lacks",
                        range.from, range.to
                    ),
                );
            }
            Ok(outputs(range, source_name))
        })
    }
}

/// `from` from the journal, or an error naming the three ways to give it.
async fn last_deployed(env: &StageEnv<'_>) -> Result<String, StageError> {
    let found = match env.history {
        Some(h) => h.last_succeeded(&env.stage.id.value, "to").await,
        None => None,
    };
    match found {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        _ => Err(StageError::permanent(
            "no deployed revision to start from: set `from`, or `deployment_info` to ask the service; without them the journal \
             is read, and no run of this pipeline and environment has succeeded with this stage yet",
        )),
    }
}

/// The outputs, moving each commit's text rather than copying it: a range can
/// hold 10,000 commits.
fn outputs(range: Range, source_name: &str) -> Outputs {
    let short = |sha: &str| sha.get(..7).unwrap_or(sha).to_owned();
    let mut text = String::with_capacity(range.commits.len() * 64);
    for c in &range.commits {
        let sep = if text.is_empty() { "" } else { "\n" };
        text.extend([sep, &c.sha[..short(&c.sha).len()], " ", &c.subject, " (", &c.author, ")"]);
    }
    let truncated = (range.commits.len() as u64) < range.count;
    let commits: Vec<Value> = range
        .commits
        .into_iter()
        .map(|c| {
            let (mut m, short_sha) = (serde_json::Map::with_capacity(6), short(&c.sha));
            m.insert("sha".into(), Value::String(c.sha));
            m.insert("short_sha".into(), Value::String(short_sha));
            m.insert("author".into(), Value::String(c.author));
            m.insert("email".into(), Value::String(c.email));
            m.insert("date".into(), Value::String(c.date));
            m.insert("subject".into(), Value::String(c.subject));
            Value::Object(m)
        })
        .collect();
    let mut out = Outputs::new();
    out.insert("commits".into(), Value::Array(commits));
    out.insert("count".into(), Value::from(range.count));
    out.insert("from".into(), Value::String(range.from));
    out.insert("to".into(), Value::String(range.to));
    out.insert("compare_url".into(), Value::String(range.compare_url));
    out.insert("text".into(), Value::String(text));
    out.insert("truncated".into(), Value::Bool(truncated));
    out.insert("from_source".into(), Value::from(source_name));
    out
}
