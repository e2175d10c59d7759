//! `notify`: one message to every destination the stage names (Slack, Teams,
//! Mattermost, a webhook), at once.
//!
//! A retry sends only to the destinations that have not taken the message yet
//! in this run, and not again to those that refused it for good. Slack, Teams
//! and Mattermost have no idempotency: a message whose answer was lost (the
//! connection dropped after the service posted it) is sent again, so they
//! are at-least-once. The webhook carries an `Idempotency-Key`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::task::Poll;

use serde_json::{Value, json};
use slipway_core::kinds::{NotifyConfig, StageConfig};
use slipway_core::template::Template;
use slipway_engine::render::Escape;
use slipway_engine::runtime::{BoxFuture, ErrorClass, Outputs, Planner, Runner, StageEnv, StageError, StagePlan};

use crate::caps::HttpCap;
use crate::clients::request::Request;
use crate::clients::{mattermost, slack, teams, webhook};

fn config<'a>(env: &'a StageEnv<'a>) -> &'a NotifyConfig {
    match &env.stage.config {
        StageConfig::Notify(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

/// How a destination answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    SlackWebhook,
    SlackApi,
    Teams,
    Mattermost,
    Webhook,
}

/// One destination and the request that reaches it.
struct Destination {
    name: &'static str,
    answer: Answer,
    request: Request,
    /// Where its URL or token comes from, for hints.
    origin: String,
}

/// Every destination's request, built once: `plan` shows these, a run sends them.
fn destinations(env: &StageEnv<'_>, c: &NotifyConfig) -> Result<Vec<Destination>, StageError> {
    let mut out = Vec::new();
    if let Some(s) = &c.slack {
        let message = slack::Message {
            text: env.render_escaped(&c.message, Escape::Slack)?,
            blocks: s.blocks.as_ref().map(|b| env.render_json_escaped(b, Escape::Slack)).transpose()?,
            channel: non_empty(env, s.channel.as_ref())?,
            // An earlier stage's `slack_ts` is empty when it posted through a webhook.
            thread_ts: non_empty(env, s.thread_ts.as_ref())?,
        };
        match (&s.webhook_url, &s.token) {
            (Some(url), _) => out.push(Destination {
                name: "slack",
                answer: Answer::SlackWebhook,
                request: slack::webhook(env.render(url)?, &message),
                origin: origin("slack.webhook_url", &url.source),
            }),
            (None, Some(token)) => {
                let base = match &s.api_base {
                    Some(b) => env.render(b)?,
                    None => slack::DEFAULT_API_BASE.to_owned(),
                };
                out.push(Destination {
                    name: "slack",
                    answer: Answer::SlackApi,
                    request: slack::post_message(&base, &env.render(token)?, &message),
                    origin: origin("slack.token", &token.source),
                });
            }
            (None, None) => return Err(StageError::permanent("`slack` needs `webhook_url` or `token`")),
        }
    }
    if let Some(t) = &c.teams {
        let card = match &t.card {
            Some(card) => env.render_json(card)?,
            None => teams::default_card(&env.render(&c.message)?),
        };
        let request = teams::request(env.render(&t.webhook_url)?, card)?;
        out.push(Destination { name: "teams", answer: Answer::Teams, request, origin: origin("teams.webhook_url", &t.webhook_url.source) });
    }
    if let Some(m) = &c.mattermost {
        let request = mattermost::request(
            env.render(&m.webhook_url)?,
            env.render_escaped(&c.message, Escape::Mattermost)?,
            non_empty(env, m.channel.as_ref())?,
            non_empty(env, m.username.as_ref())?,
        );
        out.push(Destination {
            name: "mattermost",
            answer: Answer::Mattermost,
            request,
            origin: origin("mattermost.webhook_url", &m.webhook_url.source),
        });
    }
    if let Some(w) = &c.webhook {
        let request = webhook::request(env, w, default_webhook_body(env, &env.render(&c.message)?))?;
        out.push(Destination { name: "webhook", answer: Answer::Webhook, request, origin: origin("webhook.url", &w.url.source) });
    }
    Ok(out)
}

/// What a webhook receives unless the stage gives a `body`: the message as
/// rendered (nothing escaped), and where it comes from.
fn default_webhook_body(env: &StageEnv<'_>, message: &str) -> Value {
    json!({ "text": message, "pipeline": env.pipeline.name.value, "run_id": env.run_id, "stage": env.stage.id.value })
}

/// A field rendered, or `None` when it is absent or renders empty.
fn non_empty(env: &StageEnv<'_>, t: Option<&Template>) -> Result<Option<String>, StageError> {
    Ok(t.map(|t| env.render(t)).transpose()?.filter(|s| !s.trim().is_empty()))
}

/// How an error names where a credential comes from: the secret the field
/// reads, or the field.
fn origin(field: &str, source: &str) -> String {
    let secret =
        source.split("secrets.").nth(1).map(|rest| rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>());
    match secret {
        Some(name) if !name.is_empty() => format!("the secret `{name}` (`{field}`)"),
        _ => format!("`{field}`"),
    }
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        Ok(StagePlan { effects: destinations(env, config(env))?.iter().map(|d| d.request.effect()).collect() })
    }
}

/// What a destination did with this stage's message in an earlier attempt.
#[derive(Debug, Clone)]
enum Delivery {
    /// It took it (with the outputs it gave).
    Sent(Outputs),
    /// It answered with a refusal that will not change.
    Refused(StageError),
}

pub struct Run {
    pub http: HttpCap,
    /// By idempotency key (run and stage) and destination name.
    deliveries: Mutex<HashMap<(String, &'static str), Delivery>>,
}

impl Run {
    pub fn new(http: HttpCap) -> Self {
        Run { http, deliveries: Mutex::new(HashMap::new()) }
    }

    fn earlier(&self, key: &(String, &'static str)) -> Option<Delivery> {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    fn remember(&self, key: (String, &'static str), delivery: Delivery) {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner()).insert(key, delivery);
    }

    /// Sends to one destination, unless an earlier attempt settled it, and
    /// remembers the outcome as soon as it is known (a timed-out attempt
    /// keeps what its other destinations did).
    async fn deliver(&self, env: &StageEnv<'_>, d: &Destination) -> Result<Outputs, StageError> {
        let key = (env.idempotency_key.clone(), d.name);
        match self.earlier(&key) {
            Some(Delivery::Sent(outputs)) => {
                env.log("stdout", &format!("{}: took the message in an earlier attempt, not sent again", d.name));
                return Ok(outputs);
            }
            Some(Delivery::Refused(e)) => return Err(e),
            None => {}
        }
        let reply = self.http.exchange(env, &d.request).await?;
        let outcome = match d.answer {
            Answer::SlackWebhook => slack::webhook_reply(&reply, env.masker, &d.origin).map(|()| Outputs::new()),
            Answer::SlackApi => slack::post_message_reply(&reply, env.masker, &d.origin).map(|p| {
                env.log("stdout", &format!("slack: posted to {} (ts {})", p.channel, p.ts));
                let mut out = Outputs::new();
                out.insert("slack_ts".into(), Value::String(p.ts));
                out.insert("slack_channel".into(), Value::String(p.channel));
                out
            }),
            Answer::Teams => teams::reply(&reply, env.masker, &d.origin).map(|()| Outputs::new()),
            Answer::Mattermost => mattermost::reply(&reply, env.masker, &d.origin).map(|()| Outputs::new()),
            Answer::Webhook => reply.check(env.masker).map(|_| Outputs::new()),
        };
        match &outcome {
            Ok(outputs) => {
                if d.answer != Answer::SlackApi {
                    env.log("stdout", &format!("{}: took the message (HTTP {})", d.name, reply.status.as_u16()));
                }
                self.remember(key, Delivery::Sent(outputs.clone()));
            }
            Err(e) if e.class == ErrorClass::Permanent => self.remember(key, Delivery::Refused(e.clone())),
            Err(_) => {}
        }
        outcome
    }
}

impl Runner for Run {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            let destinations = destinations(env, config(env))?;
            let results = all(destinations.iter().map(|d| Box::pin(self.deliver(env, d)) as BoxFuture<'_, _>).collect()).await;
            // Declared outputs always exist: empty unless chat.postMessage gave them.
            let mut outputs = Outputs::new();
            outputs.insert("slack_ts".into(), Value::String(String::new()));
            outputs.insert("slack_channel".into(), Value::String(String::new()));
            let (mut sent, mut failed) = (Vec::new(), Vec::new());
            for (d, result) in destinations.iter().zip(results) {
                match result {
                    Ok(out) => {
                        outputs.extend(out);
                        sent.push(d.name);
                    }
                    Err(e) => failed.push((d.name, e)),
                }
            }
            if failed.is_empty() {
                return Ok(outputs);
            }
            Err(combined(&failed, &sent))
        })
    }
}

/// One error for every destination that failed, each named. Transient while
/// any of them may still take the message on a retry (a retry sends to those
/// only), with the longest wait a service asked for.
fn combined(failed: &[(&str, StageError)], sent: &[&str]) -> StageError {
    let mut message = failed.iter().map(|(name, e)| format!("{name}: {}", e.message)).collect::<Vec<_>>().join("; ");
    if !sent.is_empty() {
        message.push_str(&format!(" ({} took the message)", sent.join(", ")));
    }
    let transient: Vec<&StageError> = failed.iter().map(|(_, e)| e).filter(|e| e.class == ErrorClass::Transient).collect();
    if transient.is_empty() {
        StageError::permanent(message)
    } else {
        StageError::transient(message).retry_after(transient.iter().filter_map(|e| e.retry_after).max())
    }
}

/// Runs the futures together; their results in order.
async fn all<T>(mut futures: Vec<BoxFuture<'_, T>>) -> Vec<T> {
    let mut results: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, result) in futures.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *result = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_failure_names_its_destination_and_is_retried_while_one_may_still_succeed() {
        let refused = StageError::permanent("HTTP 404: no_service");
        let busy = StageError::transient("HTTP 503").retry_after(Some(Duration::from_secs(4)));
        let e = combined(&[("slack", refused.clone())], &["teams"]);
        assert_eq!(e.class, ErrorClass::Permanent);
        assert_eq!(e.message, "slack: HTTP 404: no_service (teams took the message)");
        let e = combined(&[("slack", refused), ("mattermost", busy), ("webhook", StageError::transient("reset"))], &[]);
        assert_eq!((e.class, e.retry_after), (ErrorClass::Transient, Some(Duration::from_secs(4))));
        assert!(e.message.starts_with("slack: ") && e.message.contains("; mattermost: HTTP 503; webhook: reset"), "{}", e.message);
    }

    #[test]
    fn a_hint_names_the_secret_a_field_reads() {
        assert_eq!(origin("slack.token", "{{ secrets.SLACK_BOT }}"), "the secret `SLACK_BOT` (`slack.token`)");
        assert_eq!(origin("teams.webhook_url", "https://x"), "`teams.webhook_url`");
    }

    #[tokio::test]
    async fn all_runs_futures_together_and_keeps_their_order() {
        let slow: BoxFuture<'_, u32> = Box::pin(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            1
        });
        let fast: BoxFuture<'_, u32> = Box::pin(async { 2 });
        let start = std::time::Instant::now();
        assert_eq!(all(vec![slow, fast, Box::pin(async { 3 })]).await, [1, 2, 3]);
        assert!(start.elapsed() < Duration::from_millis(500));
    }
}
