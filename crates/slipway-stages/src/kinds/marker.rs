//! `marker`: one deploy event, sent to every sink the stage names: Datadog,
//! Grafana, Elasticsearch, Redis (for Logstash) and a webhook.
//!
//! Sinks are sent one after the other; a failing sink does not stop the others,
//! and the stage's error names each sink that failed. Within a run the kind
//! remembers which sinks of a stage have answered, so a retry resends only the
//! failed ones (Datadog, which has no idempotency, is not posted again). A
//! resume is a new process: there each sink's own guard holds (Grafana's tag
//! search, Elasticsearch's document id, the Redis guard key, the webhook's
//! `Idempotency-Key`); only Datadog may post twice.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};
use slipway_core::kinds::{MarkerConfig, MarkerEvent, RedisDataType, StageConfig};
use slipway_engine::event::now_ms;
use slipway_engine::runtime::{BoxFuture, Effect, ErrorClass, Outputs, Planner, Runner, StageEnv, StageError, StagePlan};

use crate::caps::HttpCap;
use crate::clients::datadog;
use crate::clients::elasticsearch::{self, Auth};
use crate::clients::grafana::{self, Annotation, Grafana};
use crate::clients::redis::{Mode, Push, Sent};
use crate::clients::request::Request;
use crate::clients::webhook;

fn config<'a>(env: &'a StageEnv<'a>) -> &'a MarkerConfig {
    match &env.stage.config {
        StageConfig::Marker(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

/// When the event happened: a run knows (epoch milliseconds, the same on every
/// attempt); a plan shows placeholders.
#[derive(Clone, Copy)]
enum At {
    Planned,
    Ms(u64),
}

impl At {
    fn ms(self) -> Value {
        match self {
            At::Planned => Value::from("<epoch ms of the event>"),
            At::Ms(ms) => Value::from(ms),
        }
    }

    fn secs(self) -> Value {
        match self {
            At::Planned => Value::from("<unix seconds of the event>"),
            At::Ms(ms) => Value::from(ms / 1000),
        }
    }

    fn rfc3339(self) -> String {
        match self {
            At::Planned => "<time of the event>".to_owned(),
            At::Ms(ms) => rfc3339_ms(ms),
        }
    }
}

/// `2026-11-22T03:15:30.123Z`.
fn rfc3339_ms(ms: u64) -> String {
    let secs = slipway_engine::runid::rfc3339(ms / 1000);
    format!("{}.{:03}Z", secs.trim_end_matches('Z'), ms % 1000)
}

/// A sink's request(s), built once from the config: `plan` shows them, a run
/// sends them.
enum Send {
    Datadog(Request),
    /// Look for the annotation tagged with the event's id; create it if none.
    GrafanaCreate {
        find: Request,
        create: Request,
    },
    /// Close the region a start marker opened.
    GrafanaClose {
        patch: Request,
        id: String,
    },
    Elasticsearch {
        put: Request,
        id: String,
    },
    Redis(Push),
    Webhook(Request),
}

struct Sink {
    name: &'static str,
    send: Send,
}

impl Sink {
    fn effects(&self) -> Vec<Effect> {
        match &self.send {
            Send::Datadog(r) | Send::Webhook(r) | Send::Elasticsearch { put: r, .. } | Send::GrafanaClose { patch: r, .. } => {
                vec![r.effect()]
            }
            Send::GrafanaCreate { find, create } => vec![find.effect(), create.effect()],
            Send::Redis(p) => vec![p.effect()],
        }
    }
}

/// The name services know this stage's event by (the Grafana tag, the
/// Elasticsearch id): `slipway.<run id>.<stage id>`, the idempotency key with
/// `.` for `:`, which neither run ids nor stage ids contain, and which Grafana
/// would read as a `key:value` tag.
fn event_name(env: &StageEnv<'_>) -> String {
    format!("slipway.{}", env.idempotency_key.replace(':', "."))
}

/// The event as Slipway describes it: the default webhook body, the
/// Elasticsearch document and the Redis element.
fn document(env: &StageEnv<'_>, event: MarkerEvent, title: &str, text: &str, tags: &[String], at: At) -> Value {
    json!({
        "@timestamp": at.rfc3339(),
        "event": event.as_str(),
        "title": title,
        "text": text,
        "tags": tags,
        "pipeline": env.pipeline.name.value,
        "stage": env.stage.id.value,
        "run_id": env.run_id,
        "idempotency_key": env.idempotency_key,
        "source": "slipway",
    })
}

fn sinks(env: &StageEnv<'_>, c: &MarkerConfig, at: At) -> Result<Vec<Sink>, StageError> {
    let title = env.render(&c.title)?;
    let text = c.text.as_ref().map(|t| env.render(t)).transpose()?.unwrap_or_default();
    let tags: Vec<String> = c.tags.iter().map(|t| env.render(t)).collect::<Result<_, _>>()?;
    let event = document(env, c.event, &title, &text, &tags, at);
    let name = event_name(env);
    let invalid = |sink: &str, what: String| Err(StageError::permanent(format!("{sink}: {what}")));
    let mut out = Vec::new();
    if let Some(d) = &c.datadog {
        let alert_type = d.alert_type.as_ref().map(|a| env.render(a)).transpose()?.unwrap_or_else(|| "info".into());
        if !env.dry_run && !datadog::ALERT_TYPES.contains(&alert_type.as_str()) {
            return invalid("datadog", format!("`alert_type` is `{alert_type}`: use one of {}", datadog::ALERT_TYPES.join(", ")));
        }
        let e = datadog::Event {
            title: title.clone(),
            text: text.clone(),
            tags: tags.clone(),
            date_happened: at.secs(),
            alert_type,
            aggregation_key: d.aggregation_key.as_ref().map(|k| env.render(k)).transpose()?,
        };
        let base = datadog::base(d.site.as_str(), d.api_base.as_ref().map(|b| env.render(b)).transpose()?);
        out.push(Sink { name: "datadog", send: Send::Datadog(datadog::post_event(&base, &env.render(&d.api_key)?, &e)) });
    }
    if let Some(g) = &c.grafana {
        let grafana = Grafana { base: env.render(&g.url)?, token: env.render(&g.token)?, org_id: g.org_id.map(|o| o.0) };
        let close = match (&g.annotation_id, c.event) {
            (Some(id), MarkerEvent::End) => Some(env.render(id)?.trim().to_owned()).filter(|id| !id.is_empty()),
            _ => None,
        };
        let send = match close {
            Some(id) => {
                if !env.dry_run && !grafana::is_annotation_id(&id) {
                    return invalid(
                        "grafana",
                        format!("`annotation_id` is `{id}`, not an annotation id: pass the start marker's `grafana_annotation_id`"),
                    );
                }
                Send::GrafanaClose { patch: grafana.close(&id, at.ms()), id }
            }
            None => {
                let annotation = Annotation {
                    time: at.ms(),
                    text: format!("{title}\n{text}").trim().to_owned(),
                    tags: tags.iter().cloned().chain([name.clone()]).collect(),
                    dashboard_uid: g.dashboard_uid.as_ref().map(|u| env.render(u)).transpose()?,
                    panel_id: g.panel_id.map(|p| p.0),
                };
                Send::GrafanaCreate { find: grafana.find(&name)?, create: grafana.create(&annotation) }
            }
        };
        out.push(Sink { name: "grafana", send });
    }
    if let Some(e) = &c.elasticsearch {
        let auth = match (&e.api_key, &e.username, &e.password) {
            (Some(k), _, _) => Auth::ApiKey(env.render(k)?),
            (None, Some(u), Some(p)) => Auth::Basic { username: env.render(u)?, password: env.render(p)? },
            (None, Some(_), None) => return invalid("elasticsearch", "`username` needs `password`".into()),
            (None, None, _) => Auth::None,
        };
        let put = elasticsearch::index(&env.render(&e.url)?, &env.render(&e.index)?, &name, &auth, event.clone())?;
        out.push(Sink { name: "elasticsearch", send: Send::Elasticsearch { put, id: name.clone() } });
    }
    if let Some(r) = &c.redis {
        let mode = match r.data_type {
            RedisDataType::List => Mode::List,
            RedisDataType::Channel => Mode::Channel,
        };
        let push = Push {
            url: env.render(&r.url)?,
            mode,
            target: env.render(&r.key)?,
            event: event.to_string(),
            guard: format!("slipway:idempotency:{}", env.idempotency_key),
        };
        out.push(Sink { name: "redis", send: Send::Redis(push) });
    }
    if let Some(w) = &c.webhook {
        out.push(Sink { name: "webhook", send: Send::Webhook(webhook::request(env, w, event.clone())?) });
    }
    Ok(out)
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let sinks = sinks(env, config(env), At::Planned)?;
        Ok(StagePlan { effects: sinks.iter().flat_map(Sink::effects).collect() })
    }
}

/// What a stage's earlier attempts in this run achieved.
struct Progress {
    at: u64,
    /// The sinks that answered, with the outputs they gave.
    done: HashMap<&'static str, Outputs>,
}

pub struct Run {
    pub http: HttpCap,
    /// By idempotency key; dropped when the stage succeeds.
    progress: Mutex<HashMap<String, Progress>>,
}

impl Run {
    pub fn new(http: HttpCap) -> Self {
        Run { http, progress: Mutex::new(HashMap::new()) }
    }

    /// When the stage's event happened (its first attempt), and the sinks done.
    fn progress(&self, key: &str) -> (u64, HashMap<&'static str, Outputs>) {
        let mut all = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        let p = all.entry(key.to_owned()).or_insert_with(|| Progress { at: now_ms(), done: HashMap::new() });
        (p.at, p.done.clone())
    }

    fn record(&self, key: &str, sink: &'static str, outputs: Outputs) {
        let mut all = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = all.get_mut(key) {
            p.done.insert(sink, outputs);
        }
    }

    fn forget(&self, key: &str) {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    /// Sends one sink; its outputs.
    async fn send(&self, env: &StageEnv<'_>, sink: &Sink) -> Result<Outputs, StageError> {
        let mut out = Outputs::new();
        match &sink.send {
            Send::Datadog(req) => {
                let id = datadog::event_id(&self.http.exchange(env, req).await?, env.masker)?;
                env.log("stdout", &format!("datadog: event {id}"));
                out.insert("datadog_event_id".into(), Value::String(id));
            }
            Send::GrafanaCreate { find, create } => {
                let id = match grafana::found_id(&self.http.exchange(env, find).await?, env.masker)? {
                    Some(id) => {
                        env.log("stdout", &format!("grafana: annotation {id} exists already (an earlier attempt made it)"));
                        id
                    }
                    None => {
                        let id = grafana::created_id(&self.http.exchange(env, create).await?, env.masker)?;
                        env.log("stdout", &format!("grafana: annotation {id}"));
                        id
                    }
                };
                out.insert("grafana_annotation_id".into(), Value::String(id));
            }
            Send::GrafanaClose { patch, id } => {
                grafana::closed(&self.http.exchange(env, patch).await?, env.masker, id)?;
                env.log("stdout", &format!("grafana: annotation {id} closed (a region now)"));
                out.insert("grafana_annotation_id".into(), Value::String(id.clone()));
            }
            Send::Elasticsearch { put, id } => {
                let got = elasticsearch::indexed_id(&self.http.exchange(env, put).await?, env.masker)?;
                env.log("stdout", &format!("elasticsearch: document {id}"));
                out.insert("elasticsearch_id".into(), Value::String(if got.is_empty() { id.clone() } else { got }));
            }
            Send::Redis(push) => {
                if self.http.read_only() {
                    return Err(StageError::permanent("refused a Redis write: only reads are allowed while planning"));
                }
                let line = match push.send(env).await? {
                    Sent::Pushed(n) => format!("redis: pushed onto `{}` ({n} waiting)", push.target),
                    Sent::Published(0) => {
                        format!("redis: published on `{}`, but no subscriber was listening: the event is lost", push.target)
                    }
                    Sent::Published(n) => format!("redis: published on `{}` to {n} subscriber(s)", push.target),
                    Sent::Repeat => format!("redis: an earlier attempt sent this event to `{}`; not sent again", push.target),
                };
                env.log("stdout", &line);
            }
            Send::Webhook(req) => {
                self.http.exchange(env, req).await?.check(env.masker)?;
                env.log("stdout", "webhook: delivered");
            }
        }
        Ok(out)
    }
}

impl Runner for Run {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            let c = config(env);
            let key = env.idempotency_key.as_str();
            let (at, mut done) = self.progress(key);
            let sinks = sinks(env, c, At::Ms(at))?;
            let mut failures = Vec::new();
            for sink in &sinks {
                if done.contains_key(sink.name) {
                    env.log("stdout", &format!("{}: sent by an earlier attempt", sink.name));
                    continue;
                }
                match self.send(env, sink).await {
                    Ok(outputs) => {
                        self.record(key, sink.name, outputs.clone());
                        done.insert(sink.name, outputs);
                    }
                    Err(e) => failures.push((sink.name, e)),
                }
            }
            if !failures.is_empty() {
                let error = combined(failures);
                if error.class == ErrorClass::Permanent {
                    self.forget(key);
                }
                return Err(error);
            }
            self.forget(key);
            let mut outputs = Outputs::new();
            for name in ["datadog_event_id", "grafana_annotation_id", "elasticsearch_id"] {
                outputs.insert(name.into(), Value::String(String::new()));
            }
            for sink in &sinks {
                outputs.extend(done.remove(sink.name).unwrap_or_default());
            }
            outputs.insert("timestamp".into(), Value::String(rfc3339_ms(at)));
            Ok(outputs)
        })
    }
}

/// One error for the sinks that failed, each named. Permanent if any is: a
/// retry cannot help that one. Otherwise the longest `Retry-After` asked.
fn combined(failures: Vec<(&'static str, StageError)>) -> StageError {
    let class = if failures.iter().any(|(_, e)| e.class == ErrorClass::Permanent) { ErrorClass::Permanent } else { ErrorClass::Transient };
    let retry_after = failures.iter().filter_map(|(_, e)| e.retry_after).max();
    let message = failures.iter().map(|(name, e)| format!("{name}: {}", e.message)).collect::<Vec<_>>().join("; ");
    StageError { class, message, retry_after, outputs: Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_rfc3339_with_milliseconds() {
        assert_eq!(rfc3339_ms(1_795_000_000_042), "2026-11-18T11:06:40.042Z");
        assert_eq!(At::Ms(1_795_000_000_042).secs(), Value::from(1_795_000_000u64));
    }

    #[test]
    fn a_failure_names_each_sink_and_a_permanent_one_wins() {
        let slow = StageError::transient("HTTP 429").retry_after(Some(Duration::from_secs(3)));
        let e = combined(vec![("grafana", StageError::transient("HTTP 503")), ("redis", slow.clone())]);
        assert_eq!((e.class, e.retry_after), (ErrorClass::Transient, Some(Duration::from_secs(3))));
        assert_eq!(e.message, "grafana: HTTP 503; redis: HTTP 429");
        let e = combined(vec![("datadog", StageError::permanent("HTTP 403")), ("redis", slow)]);
        assert_eq!(e.class, ErrorClass::Permanent);
    }
}
