//! `http`: one request; success by status; outputs picked from the JSON response
//! by JSON pointer.

use reqwest::Method;
use serde_json::Value;
use slipway_core::kinds::{HttpConfig, StageConfig};
use slipway_engine::runtime::{BoxFuture, Outputs, Planner, Runner, StageEnv, StageError, StagePlan};

use crate::caps::{HttpCap, is_read};
use crate::clients::request::Request;

fn config<'a>(env: &'a StageEnv<'a>) -> &'a HttpConfig {
    match &env.stage.config {
        StageConfig::Http(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

fn request(env: &StageEnv<'_>, c: &HttpConfig) -> Result<Request, StageError> {
    let method = Method::from_bytes(c.method.as_str().as_bytes()).unwrap_or(Method::GET);
    let mut req = Request::new(method, env.render(&c.url)?).headers(env.render_map(&c.headers)?);
    req = match (&c.body, &c.json) {
        (Some(b), _) => req.text(env.render(b)?),
        (None, Some(j)) => req.json(env.render_json(&j.value)?),
        (None, None) => req,
    };
    if !is_read(&req.method) && !req.has_header("idempotency-key") {
        req = req.header("Idempotency-Key", env.idempotency_key.clone());
    }
    Ok(req)
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        Ok(StagePlan { effects: vec![request(env, config(env))?.effect()] })
    }
}

pub struct Run {
    pub http: HttpCap,
}

impl Runner for Run {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            let c = config(env);
            let r = request(env, c)?;
            let write = !is_read(&r.method);
            let reply = self.http.exchange(env, &r).await?;
            let status = reply.status;
            let expected: Vec<u16> = c.expect_status.iter().map(|s| s.0 as u16).collect();
            if write && status.is_redirection() && !expected.contains(&status.as_u16()) {
                return Err(StageError::permanent(format!(
                    "HTTP {status}: {} redirects {} to {}; a write is not sent on to another address: put that URL in the stage",
                    r.url,
                    r.method.as_str(),
                    reply.header("location").unwrap_or("(no Location header)")
                )));
            }
            reply.expect(&expected, env.masker)?;
            let mut outputs = Outputs::new();
            outputs.insert("status".into(), Value::from(status.as_u16()));
            if !c.outputs.is_empty() {
                let json = reply.json()?;
                for (name, pointer) in &c.outputs {
                    let value = json.pointer(pointer).ok_or_else(|| {
                        StageError::permanent(format!("output `{}`: the response has nothing at `{}`", name.value, pointer.value))
                    })?;
                    outputs.insert(name.value.clone(), value.clone());
                }
            }
            outputs.insert("body".into(), Value::String(reply.body));
            Ok(outputs)
        })
    }
}
