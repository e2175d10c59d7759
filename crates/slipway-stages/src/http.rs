//! `http`: one request; success by status; outputs picked from the JSON response
//! by JSON pointer.

use reqwest::Method;
use serde_json::Value;
use slipway_core::kinds::{HttpConfig, HttpMethod, StageConfig};
use slipway_engine::runtime::{BoxFuture, Effect, Outputs, Planner, Runner, StageEnv, StageError, StagePlan};

use crate::caps::{HttpCap, classify, is_read};

fn config<'a>(env: &'a StageEnv<'a>) -> &'a HttpConfig {
    match &env.stage.config {
        StageConfig::Http(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

/// The request a stage sends, rendered.
struct Request {
    method: HttpMethod,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

fn request(env: &StageEnv<'_>, c: &HttpConfig) -> Result<Request, StageError> {
    let mut headers: Vec<(String, String)> = env.render_map(&c.headers)?;
    let body = match (&c.body, &c.json) {
        (Some(b), _) => Some(env.render(b)?),
        (None, Some(j)) => {
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            Some(serde_json::to_string(&env.render_json(&j.value)?).unwrap_or_default())
        }
        (None, None) => None,
    };
    let writes = !matches!(c.method, HttpMethod::Get | HttpMethod::Head);
    if writes && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("idempotency-key")) {
        headers.push(("Idempotency-Key".into(), env.idempotency_key.clone()));
    }
    Ok(Request { method: c.method, url: env.render(&c.url)?, headers, body })
}

/// An HTTP effect for a plan, with credentials in headers hidden.
pub(crate) fn http_effect(method: &str, url: String, headers: Vec<(String, String)>, body: Option<String>) -> Effect {
    let headers = headers
        .into_iter()
        .map(|(k, v)| {
            let secret = ["authorization", "dd-api-key", "x-api-key", "cookie", "private-token"].contains(&k.to_ascii_lowercase().as_str());
            (k, if secret { "***".to_owned() } else { v })
        })
        .collect();
    Effect::Http { method: method.to_owned(), url, headers, body }
}

/// The most of a response a stage keeps: it lives in memory, in the outputs and
/// in the journal.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The response body as text (invalid UTF-8 replaced), up to [`MAX_BODY`].
async fn read_body(mut response: reqwest::Response, url: &str) -> Result<String, StageError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| StageError::transient(format!("reading the response of {url}: {e}")))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(StageError::permanent(format!(
                "the response of {url} is larger than {} MiB, more than a stage keeps: ask the service for less",
                MAX_BODY / (1024 * 1024)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8(body).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// A JSON body as a plan shows it.
pub(crate) fn pretty(v: &Value) -> Option<String> {
    serde_json::to_string_pretty(v).ok()
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let r = request(env, config(env))?;
        Ok(StagePlan { effects: vec![http_effect(r.method.as_str(), r.url, r.headers, r.body)] })
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
            let method = Method::from_bytes(r.method.as_str().as_bytes()).unwrap_or(Method::GET);
            let write = !is_read(&method);
            let exchange = async {
                let response = self.http.send(method, &r.url, &r.headers, r.body.map(String::into_bytes)).await?;
                let status = response.status();
                let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                let (retry_after, location) = (header("retry-after"), header("location"));
                let text = read_body(response, &r.url).await?;
                Ok::<_, StageError>((status, retry_after, location, text))
            };
            let (status, retry_after, location, text) = tokio::select! {
                result = exchange => result?,
                () = env.interrupted() => return Err(StageError::permanent("stopped: the run was interrupted")),
            };
            let expected: Vec<u16> = c.expect_status.iter().map(|s| s.0 as u16).collect();
            if write && status.is_redirection() && !expected.contains(&status.as_u16()) {
                return Err(StageError::permanent(format!(
                    "HTTP {status}: {} redirects {} to {}; a write is not sent on to another address: put that URL in the stage",
                    r.url,
                    r.method.as_str(),
                    location.as_deref().unwrap_or("(no Location header)")
                )));
            }
            classify(status, retry_after.as_deref(), &expected, &text, env.masker)?;
            let mut outputs = Outputs::new();
            outputs.insert("status".into(), Value::from(status.as_u16()));
            if !c.outputs.is_empty() {
                let json: Value = serde_json::from_str(&text).map_err(|e| {
                    StageError::permanent(format!("the response of {} is not JSON ({e}), so outputs cannot be picked from it", r.url))
                })?;
                for (name, pointer) in &c.outputs {
                    let value = json.pointer(pointer).ok_or_else(|| {
                        StageError::permanent(format!("output `{}`: the response has nothing at `{}`", name.value, pointer.value))
                    })?;
                    outputs.insert(name.value.clone(), value.clone());
                }
            }
            outputs.insert("body".into(), Value::String(text));
            Ok(outputs)
        })
    }
}
