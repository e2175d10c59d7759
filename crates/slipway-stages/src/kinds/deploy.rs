//! `deploy`: a zero-downtime rolling deploy in the Capistrano layout (planned
//! here, step by step; run with the SSH transport in a later version).

use slipway_core::kinds::{OnFailure, StageConfig};
use slipway_engine::render::shell_quote;
use slipway_engine::runtime::{Effect, HostInfo, Planner, StageEnv, StageError, StagePlan};

use crate::clients::request::http_effect;

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let StageConfig::Deploy(c) = &env.stage.config else { unreachable!("registry maps kinds to files") };
        let hosts = env.hosts(&c.hosts);
        let batch = c.batch_size.map_or(1, |b| b.0 as usize).max(1);
        let batches: Vec<String> = hosts.chunks(batch).map(|b| b.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")).collect();
        let mut effects = vec![Effect::Note {
            text: format!(
                "{} hosts in {} batch(es): [{}]; on failure: {}",
                hosts.len(),
                batches.len(),
                batches.join("], ["),
                match c.on_failure {
                    OnFailure::Rollback => "switch updated hosts back to their previous release",
                    OnFailure::Halt => "stop and leave hosts as they are",
                }
            ),
        }];
        for host in &hosts {
            effects.extend(host_steps(env, c, host)?);
        }
        Ok(StagePlan { effects })
    }
}

fn host_steps(env: &StageEnv<'_>, c: &slipway_core::kinds::DeployConfig, host: &HostInfo) -> Result<Vec<Effect>, StageError> {
    let r = |t: &str| env.render_for_host(t, host);
    let root = r(&c.deploy_to.source)?;
    let release = format!("{root}/releases/<UTC timestamp>");
    let revision = r(&c.revision.source)?;
    let on = vec![host.name.clone()];
    let cmd = |command: String| Effect::Command { command, on: on.clone(), env: Vec::new(), workdir: None };
    let mut steps = Vec::new();
    let fetch = match (&c.source.git, &c.source.artifact, &c.source.command) {
        (Some(g), _, _) => {
            let reference = g.r#ref.as_ref().map(|x| r(&x.source)).transpose()?.unwrap_or_else(|| revision.clone());
            format!(
                "git clone --quiet {} {release} && git -C {release} checkout --quiet {}",
                shell_quote(&r(&g.repo.source)?),
                shell_quote(&reference)
            )
        }
        (_, Some(a), _) => format!("mkdir -p {release} && curl -fsSL {} | tar -xz -C {release}", shell_quote(&r(&a.url.source)?)),
        (_, _, Some(command)) => format!("mkdir -p {release} && SLIPWAY_RELEASE_DIR={release} {}", r(&command.source)?),
        _ => String::new(),
    };
    steps.push(cmd(format!("{fetch} && echo {} > {release}/REVISION", shell_quote(&revision))));
    if let Some(shared) = &c.shared {
        for path in shared.files.iter().chain(&shared.dirs) {
            steps.push(cmd(format!("ln -sfn {root}/shared/{path} {release}/{path}")));
        }
    }
    if let Some(b) = &c.build {
        steps.push(cmd(format!("cd {release} && {}", r(&b.source)?)));
    }
    if let Some(lb) = &c.load_balancer {
        let server = lb.haproxy.server.as_ref().map(|s| r(&s.source)).transpose()?.unwrap_or_else(|| host.name.clone());
        let backend = r(&lb.haproxy.backend.source)?;
        steps.push(Effect::Note {
            text: format!(
                "HAProxy {}: `set server {backend}/{server} state drain`, wait until no sessions (up to {}s), then `state maint`",
                r(&lb.haproxy.socket.source)?,
                lb.haproxy.drain_timeout.map_or(30, |d| d.0.as_secs())
            ),
        });
    }
    steps.push(cmd(format!("ln -s {release} {root}/current.tmp && mv -T {root}/current.tmp {root}/current")));
    if let Some(restart) = &c.restart {
        steps.push(cmd(format!("cd {root}/current && {}", r(&restart.source)?)));
    }
    if let Some(h) = &c.health_check {
        let url = r(&h.url.source)?;
        steps.push(http_effect("GET", url, Vec::new(), None));
        let check = match &h.revision_pointer {
            Some(p) => format!("status {} and `{}` matching {revision}", h.expect_status.map_or(200, |s| s.0), p.value),
            None => format!("status {}", h.expect_status.map_or(200, |s| s.0)),
        };
        steps.push(Effect::Note {
            text: format!("{}: health check until {check}, up to {}s", host.name, h.timeout.map_or(60, |t| t.0.as_secs())),
        });
    }
    if let Some(lb) = &c.load_balancer {
        let server = lb.haproxy.server.as_ref().map(|s| r(&s.source)).transpose()?.unwrap_or_else(|| host.name.clone());
        steps.push(Effect::Note {
            text: format!("HAProxy: `set server {}/{server} state ready`, wait for UP", r(&lb.haproxy.backend.source)?),
        });
    }
    let keep = c.keep_releases.map_or(5, |k| k.0);
    steps.push(cmd(format!(
        "cd {root}/releases && ls -1d [0-9]* | sort | head -n -{keep} | grep -vxF \"$(basename \"$(readlink {root}/current)\")\" | xargs -r rm -rf"
    )));
    Ok(steps)
}
