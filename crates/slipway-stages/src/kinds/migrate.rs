//! `migrate`: the migration command once, on one host, under a lock (planned here).

use slipway_core::kinds::StageConfig;
use slipway_engine::runtime::{Effect, Planner, StageEnv, StageError, StagePlan};

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let StageConfig::Migrate(c) = &env.stage.config else { unreachable!("registry maps kinds to files") };
        let hosts = env.hosts(&c.hosts);
        let wanted = c.host.as_ref().map(|h| env.render(h)).transpose()?;
        let host = match &wanted {
            Some(name) => hosts.iter().find(|h| h.name == *name || h.address == *name),
            None => hosts.first(),
        };
        let Some(host) = host else {
            return Err(StageError::permanent(format!("no host {} in role `{}`", wanted.unwrap_or_default(), c.hosts.value)));
        };
        let env_vars = env.render_map(&c.env)?;
        Ok(StagePlan {
            effects: vec![
                Effect::Note {
                    text: format!(
                        "once per run ({}), on {} only, holding the lock `{}-migrate` (waits up to {})",
                        env.idempotency_key,
                        host.name,
                        env.pipeline.name.value,
                        c.lock_timeout.map_or("5m".to_owned(), |t| humantime_short(t.0))
                    ),
                },
                Effect::Command {
                    command: env.render_for_host(&c.command.source, host)?,
                    on: vec![host.name.clone()],
                    env: env_vars,
                    workdir: c.workdir.as_ref().map(|w| env.render_for_host(&w.source, host)).transpose()?,
                },
            ],
        })
    }
}

fn humantime_short(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs())
}
