//! `audit_ticket`: a JIRA change ticket, exactly once per run: the run's
//! idempotency key becomes a label, looked up before anything is created, so
//! a retry after a lost answer, or a resume after a crash, finds the ticket
//! instead of making a second one.

use serde_json::{Value, json};
use slipway_core::kinds::{AuditTicketConfig, StageConfig};
use slipway_core::template::read_paths;
use slipway_engine::runtime::{BoxFuture, Effect, Outputs, Planner, Runner, StageEnv, StageError, StagePlan};

use crate::caps::HttpCap;
use crate::clients::adf;
use crate::clients::jira::{self, Hints, Issue, Search, Site};

/// The label that marks the ticket of one stage of one run.
pub fn idempotency_label(key: &str) -> String {
    let safe: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    format!("slipway-{safe}")
}

/// JIRA refuses a longer summary.
const MAX_SUMMARY: usize = 255;

/// More than one ticket with the label is a sign of trouble worth a log line;
/// asking for two is enough to see it.
const SEARCH_MAX: u32 = 2;

fn config<'a>(env: &'a StageEnv<'a>) -> &'a AuditTicketConfig {
    match &env.stage.config {
        StageConfig::AuditTicket(c) => c,
        _ => unreachable!("the registry maps each kind to its own file"),
    }
}

/// Everything the stage sends, rendered once: a plan shows it, a run sends it.
struct Ticket {
    site: Site,
    project: String,
    label: String,
    fields: Value,
    transition: Option<String>,
    hints: Hints,
}

impl Ticket {
    fn new(env: &StageEnv<'_>, c: &AuditTicketConfig) -> Result<Self, StageError> {
        let version = c.jira.api_version.map_or(2, |v| if v.0 == 3 { 3 } else { 2 });
        let email = c.jira.email.as_ref().map(|e| env.render(e)).transpose()?;
        let site = Site::new(&env.render(&c.jira.url)?, version, email.as_deref(), &env.render(&c.jira.token)?);
        let project = c.project.value.clone();
        // A plan does not know the run id: its label says so rather than
        // showing one made from the placeholder, which would look real.
        let label = if env.dry_run { format!("slipway-<run id>-{}", env.stage.id.value) } else { idempotency_label(&env.idempotency_key) };
        let mut labels: Vec<String> = Vec::new();
        for l in &c.labels {
            let l = env.render(l)?;
            if !l.is_empty() && !labels.contains(&l) {
                labels.push(l);
            }
        }
        labels.push(label.clone());
        // A summary is one line of at most 255 characters, or JIRA refuses the ticket.
        let summary = env.render(&c.summary)?.split(['\r', '\n']).filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join(" ");
        let summary = if summary.chars().count() > MAX_SUMMARY {
            format!("{}…", summary.chars().take(MAX_SUMMARY - 1).collect::<String>())
        } else {
            summary
        };
        let mut fields = json!({
            "project": {"key": project},
            "issuetype": {"name": c.issue_type.clone().unwrap_or_else(|| "Task".into())},
            "summary": summary,
        });
        let body = c.body.as_ref().map(|b| env.render(b)).transpose()?.filter(|b| !b.trim().is_empty());
        let description = match body {
            Some(text) if version == 3 => adf::from_text(&text),
            Some(text) => Some(Value::String(text)),
            None => None,
        };
        if let Some(d) = description {
            fields["description"] = d;
        }
        fields["labels"] = json!(labels);
        let transition = c.transition.as_ref().map(|t| env.render(t)).transpose()?.filter(|t| !t.trim().is_empty());
        let hints = Hints {
            credentials: credentials_hint(c.jira.email.as_ref().map(|e| e.source.as_str()), &c.jira.token.source),
            project: project.clone(),
            version,
        };
        Ok(Ticket { site, project, label, fields, transition, hints })
    }

    fn jql(&self) -> String {
        jira::label_jql(&self.project, &self.label)
    }
}

/// The fields, and the secrets they read, to check when JIRA refuses the credentials.
fn credentials_hint(email: Option<&str>, token: &str) -> String {
    let secrets: Vec<String> = email
        .into_iter()
        .chain([token])
        .flat_map(read_paths)
        .filter_map(|p| p.strip_prefix("secrets.").map(|s| format!("`{s}`")))
        .collect();
    let fields = match email {
        Some(_) => "`jira.email` and `jira.token` (Cloud: the account's email and an API token)",
        None => "`jira.token` (Data Center: a personal access token; Cloud also needs `jira.email`)",
    };
    if secrets.is_empty() { fields.to_owned() } else { format!("{fields}, set from the secrets {}", secrets.join(", ")) }
}

pub struct Plan;

impl Planner for Plan {
    fn plan(&self, env: &StageEnv<'_>) -> Result<StagePlan, StageError> {
        let t = Ticket::new(env, config(env))?;
        let first = Search::first(t.site.version);
        let mut effects = vec![
            t.site.search(first, &t.jql(), SEARCH_MAX).effect(),
            Effect::Note {
                text: format!(
                    "creates the ticket only if none carries the label `{}` (a retry or resume finds its own); a 404 or 410 searches with {} instead",
                    t.label,
                    first.other().path()
                ),
            },
            t.site.create(t.fields.clone()).effect(),
        ];
        if let Some(name) = &t.transition {
            effects.push(t.site.transitions("<key>").effect());
            effects.push(t.site.transition("<key>", &format!("<id of transition `{name}`>")).effect());
        }
        Ok(StagePlan { effects })
    }
}

pub struct Run {
    pub http: HttpCap,
}

impl Runner for Run {
    fn run<'a>(&'a self, env: &'a StageEnv<'a>) -> BoxFuture<'a, Result<Outputs, StageError>> {
        Box::pin(async move {
            let t = Ticket::new(env, config(env))?;
            let (issue, repeat) = match self.search(env, &t).await? {
                Some(issue) => {
                    env.log(
                        "stdout",
                        &format!("found {}, created earlier in this run (label `{}`): not creating another", issue.key, t.label),
                    );
                    (issue, true)
                }
                None => {
                    let issue = self.create(env, &t).await?;
                    env.log("stdout", &format!("created {} ({})", issue.key, t.site.browse_url(&issue.key)));
                    (issue, false)
                }
            };
            if let Some(name) = &t.transition {
                self.transition(env, &t, &issue, name, repeat).await?;
            }
            let mut outputs = Outputs::new();
            outputs.insert("url".into(), Value::String(t.site.browse_url(&issue.key)));
            outputs.insert("key".into(), Value::String(issue.key));
            outputs.insert("id".into(), Value::String(issue.id));
            Ok(outputs)
        })
    }
}

impl Run {
    /// The ticket an earlier attempt of this run made, if any. Starts with the
    /// search the API version suggests; a 404 or 410 means this deployment has
    /// the other one.
    async fn search(&self, env: &StageEnv<'_>, t: &Ticket) -> Result<Option<Issue>, StageError> {
        let jql = t.jql();
        let mut how = Search::first(t.site.version);
        let mut reply = self.http.exchange(env, &t.site.search(how, &jql, SEARCH_MAX)).await?;
        if jira::search_missing(&reply) {
            let status = reply.status.as_u16();
            env.log("stdout", &format!("{} answered {status}: searching with {} instead", how.path(), how.other().path()));
            how = how.other();
            reply = self.http.exchange(env, &t.site.search(how, &jql, SEARCH_MAX)).await?;
            if jira::search_missing(&reply) {
                return Err(StageError::permanent(format!(
                    "{}: neither JIRA search exists ({} answered {status}, {} answered {}): check `jira.url` (a Data Center URL includes its context path, e.g. /jira)",
                    t.site.base,
                    how.other().path(),
                    how.path(),
                    reply.status.as_u16()
                )));
            }
        }
        jira::check(&reply, &[], env.masker, &t.hints)?;
        let issues = jira::found(&reply.json()?)?;
        if issues.len() > 1 {
            let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
            env.log("stderr", &format!("several tickets carry the label `{}` ({}): using the oldest", t.label, keys.join(", ")));
        }
        Ok(issues.into_iter().next())
    }

    async fn create(&self, env: &StageEnv<'_>, t: &Ticket) -> Result<Issue, StageError> {
        let reply = self.http.exchange(env, &t.site.create(t.fields.clone())).await?;
        jira::check(&reply, &[], env.masker, &t.hints)?;
        jira::issue(&reply.json()?)
    }

    /// Applies the transition named `name` (any case). On a repeat, the
    /// earlier attempt may have applied it already: a transition no longer
    /// offered, or one leading to the status the ticket is in, counts as done.
    async fn transition(&self, env: &StageEnv<'_>, t: &Ticket, issue: &Issue, name: &str, repeat: bool) -> Result<(), StageError> {
        let reply = self.http.exchange(env, &t.site.transitions(&issue.key)).await?;
        jira::check(&reply, &[], env.masker, &t.hints)?;
        let offered = jira::transitions(&reply.json()?);
        let same = |a: &str, b: &str| a.trim().to_lowercase() == b.trim().to_lowercase();
        let status = issue.status.as_deref().unwrap_or("unknown");
        match offered.iter().find(|tr| same(&tr.name, name)) {
            Some(tr) if repeat && tr.to.as_deref().zip(issue.status.as_deref()).is_some_and(|(to, now)| same(to, now)) => {
                env.log("stdout", &format!("{} is already in status `{status}`: transition `{name}` was applied before", issue.key));
            }
            Some(tr) => {
                let reply = self.http.exchange(env, &t.site.transition(&issue.key, &tr.id)).await?;
                jira::check(&reply, &[], env.masker, &t.hints)?;
                let to = tr.to.as_deref().map(|s| format!(" to `{s}`")).unwrap_or_default();
                env.log("stdout", &format!("moved {}{to} (transition `{}`)", issue.key, tr.name));
            }
            None if repeat => {
                env.log(
                    "stdout",
                    &format!(
                        "transition `{name}` is no longer offered for {} (status `{status}`): taken as applied by the earlier attempt",
                        issue.key
                    ),
                );
            }
            None => {
                let names: Vec<String> = offered.iter().map(|tr| format!("`{}`", tr.name)).collect();
                let offers = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
                return Err(StageError::permanent(format!(
                    "transition `{name}` is not offered for {} (created; its workflow offers {offers} from where it stands): set `transition` to one of them",
                    issue.key
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_plain_and_stable() {
        assert_eq!(idempotency_label("20261122T031530Z-3f9a1c:ticket"), "slipway-20261122T031530Z-3f9a1c-ticket");
        assert_eq!(idempotency_label("r:a b\"c"), "slipway-r-a-b-c");
    }

    #[test]
    fn the_credentials_hint_names_the_secrets() {
        let hint = credentials_hint(Some("{{ secrets.JIRA_EMAIL }}"), "{{ secrets.JIRA_TOKEN }}");
        assert!(hint.contains("`jira.email` and `jira.token`") && hint.contains("`JIRA_EMAIL`, `JIRA_TOKEN`"), "{hint}");
        let hint = credentials_hint(None, "literal");
        assert!(hint.starts_with("`jira.token` (Data Center") && !hint.contains("secrets"), "{hint}");
    }
}
