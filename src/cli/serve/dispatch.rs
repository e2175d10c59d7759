//! From a verified command to an answer: each refusal says why and runs
//! nothing; an allowed deploy is queued (or waits for a confirmation).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use slipway_core::chatops::Request;

use super::command::{self, Command, Target};
use super::deploy;
use super::server::{Pending, Server, Who, locked};

/// What the HTTP answer says.
#[derive(Debug, Default)]
pub struct Reply {
    pub text: String,
    /// `in_channel` (everyone sees it) rather than ephemeral.
    pub public: bool,
    pub blocks: Option<Value>,
    /// Replaces the message whose button was pressed.
    pub replace: bool,
    /// The command was refused (counted in `/metrics`).
    pub refused: bool,
}

impl Reply {
    /// An answer only the sender sees.
    pub fn private(text: impl Into<String>) -> Reply {
        Reply { text: text.into(), ..Reply::default() }
    }

    /// A refusal: only the sender sees it, and nothing ran.
    pub fn refusal(text: impl Into<String>) -> Reply {
        Reply { text: text.into(), refused: true, ..Reply::default() }
    }
}

pub async fn command(server: &Arc<Server>, who: Who, text: &str) -> Reply {
    let (user, channel) = (who.label(), who.channel.clone());
    let reply = match command::parse(text) {
        Err(why) => Reply::refusal(why),
        Ok(Command::Help) => Reply::private(command::USAGE),
        Ok(Command::Deploy(t)) => deploy_request(server, who, t),
        Ok(Command::Plan(t)) => match allowed_target(server, &who, &t) {
            Ok((env, params)) => Reply::private(deploy::plan(server, &t.alias, env.as_deref(), &params).await),
            Err(r) => r,
        },
        Ok(Command::Status) => Reply::private(deploy::status(server)),
        Ok(Command::Cancel { run }) => Reply::private(deploy::cancel(server, &who, &run)),
        Ok(Command::Lock { alias, reason }) => {
            may_touch(server, &who, &alias).map_or_else(|r| r, |()| deploy::freeze(server, &who, &alias, &reason))
        }
        Ok(Command::Unlock { alias }) => may_touch(server, &who, &alias).map_or_else(|r| r, |()| deploy::thaw(server, &who, &alias)),
        Ok(Command::History { alias }) => Reply::private(deploy::history(server, &alias)),
    };
    if reply.refused {
        server.metrics.refused();
    }
    tracing::info!(user, channel, command = text, refused = reply.refused, answer = reply.text, "chat command");
    reply
}

/// The environment a command deploys to and every param of its run.
type Allowed = (Option<String>, Vec<(String, String)>);

/// The environment and params of an allowed command, or the refusal.
fn allowed_target(server: &Server, who: &Who, t: &Target) -> Result<Allowed, Reply> {
    let req = Request { user: &who.user_id, channel: &who.channel, alias: &t.alias, environment: t.environment.as_deref() };
    let (alias, env) = server.config.decide(&req).map_err(|r| Reply::refusal(r.to_string()))?;
    for (k, _) in &t.params {
        if !alias.chat_params.iter().any(|p| p.value == *k) {
            let may: Vec<&str> = alias.chat_params.iter().map(|p| p.value.as_str()).collect();
            let may = if may.is_empty() { "none".to_owned() } else { may.join(", ") };
            return Err(Reply::refusal(format!("`{k}` cannot be set from chat for `{}`; chat may set: {may}", t.alias)));
        }
    }
    let mut params: Vec<(String, String)> = alias.params.iter().map(|(k, v)| (k.value.clone(), v.value.clone())).collect();
    params.retain(|(k, _)| !t.params.iter().any(|(given, _)| given == k));
    params.extend(t.params.iter().cloned());
    Ok((env, params))
}

/// Freezing and lifting need the right to deploy the alias somewhere.
fn may_touch(server: &Server, who: &Who, alias: &str) -> Result<(), Reply> {
    let Some(a) = server.config.alias(alias) else {
        let req = Request { user: &who.user_id, channel: &who.channel, alias, environment: None };
        return Err(Reply::refusal(server.config.decide(&req).err().map(|r| r.to_string()).unwrap_or_default()));
    };
    let envs: Vec<Option<&str>> =
        if a.environments.is_empty() { vec![None] } else { a.environment_names().into_iter().map(Some).collect() };
    let mut last = None;
    for environment in envs {
        match server.config.decide(&Request { user: &who.user_id, channel: &who.channel, alias, environment }) {
            Ok(_) => return Ok(()),
            Err(r) => last = Some(r),
        }
    }
    Err(Reply::refusal(last.map(|r| r.to_string()).unwrap_or_default()))
}

fn deploy_request(server: &Arc<Server>, who: Who, t: Target) -> Reply {
    let (env, params) = match allowed_target(server, &who, &t) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(why) = deploy::can_start(server, &t.alias, env.as_deref()) {
        return Reply::refusal(why);
    }
    let what = describe(&t.alias, env.as_deref());
    if server.config.needs_confirmation(&t.alias, env.as_deref()) {
        if who.platform != "slack" {
            return Reply::refusal(format!("{what} needs a second person's confirmation, which takes Slack's buttons: ask from Slack"));
        }
        let id = slipway_engine::runid::new_run_id();
        let pending = Pending { who: who.clone(), alias: t.alias.clone(), environment: env, params, at: Instant::now() };
        locked(&server.pending).insert(id.clone(), pending);
        let text = format!("{} asks to deploy {what}: someone else must confirm", who.label());
        let blocks = json!([
            { "type": "section", "text": { "type": "mrkdwn", "text": super::post::escape(&text) } },
            { "type": "actions", "elements": [
                { "type": "button", "action_id": "confirm", "value": id, "style": "primary", "text": { "type": "plain_text", "text": "Confirm" } },
                { "type": "button", "action_id": "cancel", "value": id, "text": { "type": "plain_text", "text": "Cancel" } }
            ] }
        ]);
        return Reply { text, public: true, blocks: Some(blocks), ..Reply::default() };
    }
    match deploy::start(server, who, &t.alias, env, params) {
        Ok(run_id) => Reply { text: format!("queued as run {run_id}: {what}"), public: true, ..Reply::default() },
        Err(why) => Reply::refusal(why),
    }
}

/// A press of a confirmation's button. The requester's own press of
/// `confirm` runs nothing; `cancel` is theirs or anyone's.
pub async fn button(server: &Arc<Server>, who: Who, action: &str, id: &str) -> Reply {
    let (pending, own) = {
        let mut map = locked(&server.pending);
        // Slack's buttons outlive their use: an hour-old request is not confirmed.
        map.retain(|_, p| p.at.elapsed() < std::time::Duration::from_secs(3600));
        let own = map.get(id).map(|p| p.who.user_id == who.user_id && p.who.platform == who.platform);
        match own {
            Some(true) if action == "confirm" => return Reply::refusal("you asked for this deploy: someone else must confirm it"),
            _ => match map.remove(id) {
                Some(p) => (p, own == Some(true)),
                None => return Reply::private("this request is no longer pending (confirmed, cancelled or expired)"),
            },
        }
    };
    let what = describe(&pending.alias, pending.environment.as_deref());
    // Whoever presses must be allowed to deploy it: a button is no way around the
    // rules. The requester may always withdraw their own request.
    let req = Request { user: &who.user_id, channel: &who.channel, alias: &pending.alias, environment: pending.environment.as_deref() };
    if let (Err(r), false) = (server.config.decide(&req), own && action != "confirm") {
        locked(&server.pending).insert(id.to_owned(), pending);
        let verb = if action == "confirm" { "confirm" } else { "cancel" };
        return Reply::refusal(format!("you cannot {verb} this: {r}"));
    }
    if action != "confirm" {
        return Reply { text: format!("{} cancelled the deploy of {what}", who.label()), public: true, replace: true, ..Reply::default() };
    }
    // A freeze or a run may have come since the request.
    if let Err(why) = deploy::can_start(server, &pending.alias, pending.environment.as_deref()) {
        return Reply::refusal(why);
    }
    // Report to the requester's command, in the thread or through its response_url.
    let requester = Who { response_url: pending.who.response_url.clone().or(who.response_url.clone()), ..pending.who.clone() };
    match deploy::start(server, requester, &pending.alias, pending.environment.clone(), pending.params.clone()) {
        Ok(run_id) => Reply {
            text: format!("{} confirmed: queued as run {run_id}: {what} (asked by {})", who.label(), pending.who.label()),
            public: true,
            replace: true,
            ..Reply::default()
        },
        Err(why) => Reply::refusal(why),
    }
}

pub fn describe(alias: &str, env: Option<&str>) -> String {
    match env {
        Some(e) => format!("`{alias}` to {e}"),
        None => format!("`{alias}`"),
    }
}
