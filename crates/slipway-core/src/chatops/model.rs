//! The typed chat-ops config. The field names are a public contract, as the
//! pipeline format's are: add fields, never rename or remove one.

use indexmap::IndexMap;

use crate::config_struct;
use crate::decode::{Key, Spanned, Version};
use crate::model::Secret;

config_struct! {
    /// A chat-ops config for `slipway serve`: chat commands in, pipeline runs out.
    /// Recognised by its top-level `aliases` key; kept outside `pipelines/`
    /// (e.g. `deploy/chatops.yaml`).
    pub struct ChatOps {
        /// The format version. Only `1` exists.
        pub version: Version,
        /// Slack's slash commands and buttons (`/slack/commands`, `/slack/interactions`).
        pub slack: Option<SlackSettings>,
        /// Mattermost's slash commands (`/mattermost/commands`).
        pub mattermost: Option<MattermostSettings>,
        /// What `/deploy ALIAS` runs, by alias name.
        #[serde(default)]
        pub aliases: IndexMap<Key, Alias>,
        /// Who may deploy what, where: a command no rule allows runs nothing.
        #[serde(default)]
        pub allow: Vec<Spanned<AllowRule>>,
        /// Deploys that need a second person's button press before they run.
        #[serde(default)]
        pub confirm: Vec<Spanned<ConfirmRule>>,
    }
}

config_struct! {
    /// How Slack requests are verified, and how Slipway answers in a thread.
    pub struct SlackSettings {
        /// The app's signing secret: every request's `X-Slack-Signature` is checked with it.
        pub signing_secret: Spanned<Secret>,
        /// A bot token (`xoxb-…`): with it, each deploy is reported in one thread through
        /// `chat.postMessage`; without it, through the command's `response_url`, which
        /// Slack accepts only for 30 minutes.
        pub token: Option<Spanned<Secret>>,
        /// Slack's Web API base URL (for a proxy or a test stand-in).
        pub api_base: Option<Spanned<String>>,
    }
}

config_struct! {
    /// How Mattermost requests are verified.
    pub struct MattermostSettings {
        /// The slash command's token, sent with every request.
        pub token: Spanned<Secret>,
    }
}

config_struct! {
    /// One deployable target: a pipeline, its fixed params, and what chat may choose.
    pub struct Alias {
        /// The pipeline file, relative to this config file.
        pub pipeline: Spanned<String>,
        /// Params every run of this alias gets.
        #[serde(default)]
        pub params: IndexMap<Key, Spanned<String>>,
        /// The environments it deploys to, passed as the `environment` param; with
        /// several, a command must name one.
        #[serde(default)]
        pub environments: Vec<Spanned<String>>,
        /// The only params a chat command may set (`key=value`).
        #[serde(default)]
        pub chat_params: Vec<Spanned<String>>,
    }
}

config_struct! {
    /// Who may deploy: a command is allowed when one rule matches its user,
    /// channel, alias and environment.
    pub struct AllowRule {
        /// Slack user ids (`U024BE7LH`) or Mattermost user names.
        #[serde(default)]
        pub users: Vec<Spanned<String>>,
        /// Channel ids the command must come from; omitted: any channel.
        pub channels: Option<Vec<Spanned<String>>>,
        /// The aliases these users may deploy.
        #[serde(default)]
        pub aliases: Vec<Spanned<String>>,
        /// The environments they may deploy to; omitted: every environment of those aliases.
        pub environments: Option<Vec<Spanned<String>>>,
    }
}

config_struct! {
    /// Deploys that wait for a second person: a Slack button that anyone but the
    /// requester presses. Mattermost refuses them (it has no buttons here).
    pub struct ConfirmRule {
        /// The aliases this rule covers.
        #[serde(default)]
        pub aliases: Vec<Spanned<String>>,
        /// The environments it covers; omitted: all of them.
        pub environments: Option<Vec<Spanned<String>>>,
    }
}

impl ChatOps {
    pub fn alias(&self, name: &str) -> Option<&Alias> {
        self.aliases.get(name)
    }
}

impl Alias {
    /// The environments, as text.
    pub fn environment_names(&self) -> Vec<&str> {
        self.environments.iter().map(|e| e.value.as_str()).collect()
    }
}
