//! `changelog`: commits between the deployed revision and the one going out
//! (planned here; read for real under `plan --live-reads` once it runs).

use slipway_core::kinds::StageConfig;
use slipway_engine::runtime::{Effect, Planner, StageEnv, StageError, StagePlan};
use slipway_engine::secrets::url_encode;

use crate::clients::request::http_effect;

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let StageConfig::Changelog(c) = &env.stage.config else { unreachable!("registry maps kinds to files") };
        let mut effects = Vec::new();
        let from = match (&c.from, &c.deployment_info) {
            (Some(f), _) => env.render(f)?,
            (None, Some(info)) => {
                let headers = env.render_map(&info.headers)?;
                effects.push(http_effect("GET", env.render(&info.url)?, headers, None));
                format!("<deployed SHA at {} in the response>", info.pointer.value)
            }
            (None, None) => String::new(),
        };
        let to = env.render(&c.to)?;
        let max = c.max_commits.map_or(250, |m| m.0);
        if let Some(gh) = &c.github {
            let base = gh.api_base.as_ref().map(|b| env.render(b)).transpose()?.unwrap_or_else(|| "https://api.github.com".into());
            let mut headers =
                vec![("Accept".into(), "application/vnd.github+json".into()), ("X-GitHub-Api-Version".into(), "2022-11-28".into())];
            if let Some(t) = &gh.token {
                headers.push(("Authorization".into(), format!("Bearer {}", env.render(t)?)));
            }
            let url = format!(
                "{}/repos/{}/compare/{}...{}?per_page=100&page=1",
                base.trim_end_matches('/'),
                gh.repo.value,
                url_encode(&from),
                url_encode(&to)
            );
            effects.push(http_effect("GET", url, headers, None));
            effects.push(Effect::Note { text: format!("follows `Link: rel=\"next\"` pages, at most {max} commits") });
        }
        if let Some(git) = &c.git {
            let path = git.path.as_ref().map(|p| env.render(p)).transpose()?.unwrap_or_else(|| ".".into());
            effects.push(Effect::Command {
                command: format!("git log --reverse --max-count={max} --format='%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e' {from}..{to}"),
                on: vec!["local".into()],
                env: Vec::new(),
                workdir: Some(env.base_dir.join(path).display().to_string()),
            });
        }
        Ok(StagePlan { effects })
    }
}

/// Whether this version runs the kind (false: it only plans).
pub const RUNS: bool = false;

pub struct Run {
    pub http: crate::caps::HttpCap,
}

impl slipway_engine::runtime::Runner for Run {
    fn run<'a>(
        &'a self,
        env: &'a StageEnv<'a>,
    ) -> slipway_engine::runtime::BoxFuture<'a, Result<slipway_engine::runtime::Outputs, StageError>> {
        Box::pin(async move { Err(StageError::permanent(format!("kind `{}`: not written yet", env.stage.kind.value))) })
    }
}
