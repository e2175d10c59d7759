//! `shell`: a command run with bash. Outputs are `name=value` lines (and
//! `name<<EOF` … `EOF` blocks) written to the file at `$SLIPWAY_OUTPUT`.

use std::path::PathBuf;

use serde_json::Value;
use slipway_core::kinds::{ShellConfig, StageConfig};
use slipway_engine::runtime::{BoxFuture, Effect, Outputs, Planner, Runner, StageEnv, StageError, StagePlan};

use crate::process::{Exit, run_bash};

fn config<'a>(env: &'a StageEnv<'a>) -> &'a ShellConfig {
    match &env.stage.config {
        StageConfig::Shell(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

fn rendered_env(env: &StageEnv<'_>, c: &ShellConfig) -> Result<Vec<(String, String)>, StageError> {
    env.render_map(&c.env)
}

fn workdir(env: &StageEnv<'_>, c: &ShellConfig) -> Result<PathBuf, StageError> {
    Ok(match &c.workdir {
        Some(w) => env.base_dir.join(env.render(w)?),
        None => env.base_dir.to_path_buf(),
    })
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let c = config(env);
        let on = match &c.hosts {
            Some(role) => env.hosts(role).into_iter().map(|h| h.name).collect(),
            None => vec!["local".to_owned()],
        };
        Ok(StagePlan {
            effects: vec![Effect::Command {
                command: env.render_command(&c.run)?,
                on,
                env: rendered_env(env, c)?,
                workdir: Some(workdir(env, c)?.display().to_string()),
            }],
        })
    }
}

pub struct Run {
    /// False under `plan --live-reads`: no process may start.
    pub allowed: bool,
}

impl Runner for Run {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            if !self.allowed {
                return Err(StageError::permanent("refused to start a process while planning"));
            }
            let c = config(env);
            let script = env.render_command(&c.run)?;
            let mut vars = rendered_env(env, c)?;
            let dir = workdir(env, c)?;
            // In a folder only this user can read: outputs may hold what others must not see.
            // The file itself is created by the command, if it writes outputs at all.
            let private = crate::private_scratch_dir().map_err(StageError::permanent)?;
            let output_file = private.join(format!("{}-{:x}.out", env.stage.id.value, slipway_engine::runid::random_u64()));
            vars.extend([
                ("SLIPWAY_OUTPUT".to_owned(), output_file.display().to_string()),
                ("SLIPWAY_RUN_ID".to_owned(), env.run_id.to_owned()),
                ("SLIPWAY_STAGE".to_owned(), env.stage.id.value.clone()),
                ("SLIPWAY_IDEMPOTENCY_KEY".to_owned(), env.idempotency_key.clone()),
            ]);
            let exit = run_bash(env, &script, &vars, &dir).await;
            // Written only if the command wrote outputs.
            let written = match std::fs::read(&output_file) {
                Ok(bytes) => {
                    let _ = std::fs::remove_file(&output_file);
                    String::from_utf8(bytes).map_err(|e| {
                        StageError::permanent(format!(
                            "`$SLIPWAY_OUTPUT` holds bytes that are not UTF-8 text (at byte {}): encode binary values, e.g. with base64",
                            e.utf8_error().valid_up_to()
                        ))
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                Err(e) => Err(StageError::permanent(format!("cannot read `$SLIPWAY_OUTPUT` ({}): {e}", output_file.display()))),
            };
            match exit? {
                Exit::Code(0) => {}
                Exit::Code(code) if c.retry_on_exit_codes.contains(&(code as u32)) => {
                    return Err(StageError::transient(format!("command exited with status {code} (listed in `retry_on_exit_codes`)")));
                }
                Exit::Code(code) => return Err(StageError::permanent(format!("command exited with status {code}"))),
                Exit::Signal(sig) => return Err(StageError::permanent(format!("command was killed by signal {sig}"))),
            }
            let values = parse_output_file(&written?).map_err(StageError::permanent)?;
            let mut outputs = Outputs::new();
            for name in &c.outputs {
                match values.iter().rev().find(|(k, _)| k == name.as_str()) {
                    Some((_, v)) => {
                        outputs.insert(name.value.clone(), Value::String(v.clone()));
                    }
                    None => {
                        return Err(StageError::permanent(format!(
                            "declared output `{}` was not written: add `echo \"{}=…\" >> \"$SLIPWAY_OUTPUT\"` to the command",
                            name.value, name.value
                        )));
                    }
                }
            }
            for (k, _) in values.iter().filter(|(k, _)| !c.outputs.iter().any(|o| o.as_str() == k)) {
                env.log("stderr", &format!("slipway: output `{k}` is not declared under `outputs:` and is ignored"));
            }
            outputs.insert("exit_code".into(), Value::from(0));
            Ok(outputs)
        })
    }
}

/// `name=value` lines and `name<<DELIM` … `DELIM` blocks.
pub fn parse_output_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some((name, delim)) = line.split_once("<<").filter(|(n, _)| !n.contains('=')) {
            let mut value = Vec::new();
            loop {
                match lines.next() {
                    Some(l) if l == delim => break,
                    Some(l) => value.push(l),
                    None => return Err(format!("output `{name}` opens `<<{delim}` but never closes it")),
                }
            }
            out.push((name.to_owned(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            out.push((name.to_owned(), value.to_owned()));
        } else {
            return Err(format!("`$SLIPWAY_OUTPUT` holds `{line}`, which is neither `name=value` nor `name<<DELIMITER`"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_multi_line_outputs() {
        let got = parse_output_file("a=1\nnotes<<EOF\nline one\nline=two\nEOF\nb=x=y\n").unwrap();
        assert_eq!(got, vec![("a".into(), "1".into()), ("notes".into(), "line one\nline=two".into()), ("b".into(), "x=y".into())]);
        assert!(parse_output_file("x<<END\nnever closed").is_err());
        assert!(parse_output_file("just text").is_err());
    }
}
