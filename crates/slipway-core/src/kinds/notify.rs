//! `notify`: chat messages.

use super::checks::{self, at_least_one, exactly_one};
use super::{CheckContext, KindSpec, OutputDecl, OutputType, WebhookSink};
use crate::config_struct;
use crate::decode::Spanned;
use crate::diagnostic::{Code, Diagnostic};
use crate::model::JsonTemplate;
use crate::template::Template;

config_struct! {
    /// Slack: an incoming webhook, or `chat.postMessage` with a bot token and channel.
    pub struct SlackSink {
        /// An incoming webhook URL (`https://hooks.slack.com/services/…`); use a secret.
        pub webhook_url: Option<Template>,
        /// A bot token (`xoxb-…`, scope `chat:write`), used with `channel`.
        pub token: Option<Template>,
        /// With `token`: the channel to post in, by id (`C0123456789`) or name (`#deploys`).
        pub channel: Option<Template>,
        /// Reply in this thread (e.g. the `slack_ts` of an earlier notify stage).
        pub thread_ts: Option<Template>,
        /// Block Kit blocks; `message` becomes the notification fallback text.
        pub blocks: Option<JsonTemplate>,
        /// Overrides `https://slack.com/api` (for proxies and tests).
        pub api_base: Option<Template>,
    }
}

config_struct! {
    /// Microsoft Teams through a Workflows webhook (answers 202 Accepted).
    pub struct TeamsSink {
        /// The Workflows webhook URL; use a secret.
        pub webhook_url: Template,
        /// An Adaptive Card body (default: a card holding `message`).
        pub card: Option<JsonTemplate>,
    }
}

config_struct! {
    /// A Mattermost incoming webhook.
    pub struct MattermostSink {
        /// The incoming webhook URL; use a secret.
        pub webhook_url: Template,
        /// The channel name (`town-square`) or `@user`.
        pub channel: Option<Template>,
        /// The name the message is posted under (when the server allows overrides).
        pub username: Option<Template>,
    }
}

config_struct! {
    /// Sends a chat message to one or more destinations.
    pub struct NotifyConfig {
        /// The message (Markdown where the destination supports it). For Slack and Mattermost, what a `{{ value }}`
        /// writes is escaped so it cannot mention a channel or forge a link; the text written here is kept.
        pub message: Template,
        /// Slack: an incoming webhook, or `chat.postMessage` with a bot token and channel. At-least-once: Slack has
        /// no idempotency, so a message whose answer was lost is posted again on a retry.
        pub slack: Option<Spanned<SlackSink>>,
        /// Microsoft Teams through a Workflows webhook (answers 202 Accepted). At-least-once: Teams has no
        /// idempotency, so a message whose answer was lost is posted again on a retry.
        pub teams: Option<Spanned<TeamsSink>>,
        /// A Mattermost incoming webhook. At-least-once: Mattermost has no idempotency, so a message whose answer
        /// was lost is posted again on a retry.
        pub mattermost: Option<Spanned<MattermostSink>>,
        /// A JSON POST of the message to any URL. Exactly once where the receiver honours
        /// the `Idempotency-Key` header.
        pub webhook: Option<Spanned<WebhookSink>>,
    }
}

impl KindSpec for NotifyConfig {
    fn outputs(&self) -> Vec<OutputDecl> {
        vec![
            OutputDecl::new("slack_ts", OutputType::String, "the Slack message timestamp (chat.postMessage only), for replies in thread"),
            OutputDecl::new("slack_channel", OutputType::String, "the Slack channel id (chat.postMessage only)"),
        ]
    }

    fn check(&self, cx: &mut CheckContext<'_>) {
        at_least_one(
            cx,
            &[
                ("slack", self.slack.is_some()),
                ("teams", self.teams.is_some()),
                ("mattermost", self.mattermost.is_some()),
                ("webhook", self.webhook.is_some()),
            ],
        );
        let http = &["http", "https"];
        if let Some(s) = &self.slack {
            exactly_one(cx, &[("webhook_url", s.webhook_url.as_ref().map(|t| t.span)), ("token", s.token.as_ref().map(|t| t.span))]);
            if let Some(url) = &s.webhook_url {
                checks::url(cx, url, http);
            }
            if s.token.is_some() && s.channel.is_none() {
                cx.push(
                    Diagnostic::error(Code::MissingField, s.span, "`slack.token` posts with chat.postMessage, which needs a `channel`")
                        .with_help("add `channel: C0123456789` (or `#channel-name`), or use `webhook_url` instead of `token`"),
                );
            }
        }
        if let Some(t) = &self.teams {
            checks::url(cx, &t.webhook_url, http);
        }
        if let Some(m) = &self.mattermost {
            checks::url(cx, &m.webhook_url, http);
        }
        if let Some(w) = &self.webhook {
            checks::url(cx, &w.url, http);
        }
    }
}
