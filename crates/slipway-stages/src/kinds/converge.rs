//! `converge`: config management on every host of a role (planned here; run
//! with the SSH transport).

use slipway_core::kinds::{ConvergeConfig, ConvergeTool, StageConfig};
use slipway_engine::runtime::{Effect, Planner, StageEnv, StageError, StagePlan};

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let StageConfig::Converge(c) = &env.stage.config else { unreachable!("registry maps kinds to files") };
        let c: &ConvergeConfig = c;
        let hosts = env.hosts(&c.hosts);
        let on: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
        let reading = match c.tool {
            ConvergeTool::Chef => "chef-client exit codes: 0 ok, 35/37 ok with a reboot pending, 213 run again, others fail",
            ConvergeTool::Puppet => "puppet detailed exit codes: 0 no change, 2 changed, 4/6 failures",
            ConvergeTool::Ansible | ConvergeTool::Command => "exit code 0 is success",
        };
        let env_vars = env.render_map(&c.env)?;
        let mut effects = vec![Effect::Note {
            text: format!(
                "{} hosts of `{}`, {} at a time; stops after {} failed host(s); {reading}",
                on.len(),
                c.hosts.value,
                c.concurrency.map_or(1, |n| n.0),
                c.max_failures.map_or(0, |n| n.0) + 1
            ),
        }];
        for host in &hosts {
            effects.push(Effect::Command {
                command: env.render_for_host(&c.command.source, host)?,
                on: vec![host.name.clone()],
                env: env_vars.clone(),
                workdir: None,
            });
        }
        Ok(StagePlan { effects })
    }
}
