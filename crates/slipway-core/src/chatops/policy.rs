//! Who may run what: the decisions `slipway serve` takes before anything runs.
//! Pure functions of the config, so they are tested here and not over HTTP.

use super::model::{Alias, ChatOps};

/// One chat command, as far as the rules care.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// A Slack user id or a Mattermost user name.
    pub user: &'a str,
    pub channel: &'a str,
    pub alias: &'a str,
    /// As typed; `None` when the command named none.
    pub environment: Option<&'a str>,
}

/// Why a command runs nothing. Each says so in words the chat user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownAlias {
        alias: String,
        known: Vec<String>,
    },
    /// The alias deploys to several environments and the command named none.
    NeedsEnvironment {
        alias: String,
        environments: Vec<String>,
    },
    UnknownEnvironment {
        alias: String,
        environment: String,
        environments: Vec<String>,
    },
    UserNotAllowed {
        user: String,
    },
    AliasNotAllowed {
        user: String,
        alias: String,
    },
    ChannelNotAllowed {
        user: String,
        channel: String,
    },
    EnvironmentNotAllowed {
        user: String,
        alias: String,
        environment: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::UnknownAlias { alias, known } => {
                write!(f, "there is no alias `{alias}`; aliases: {}", list(known))
            }
            Refusal::NeedsEnvironment { alias, environments } => {
                write!(f, "`{alias}` deploys to several environments: name one of {} (`/deploy {alias} ENV`)", list(environments))
            }
            Refusal::UnknownEnvironment { alias, environment, environments } => {
                write!(f, "`{alias}` does not deploy to `{environment}`; its environments: {}", list(environments))
            }
            Refusal::UserNotAllowed { user } => write!(f, "{user} may not deploy from chat: no `allow` rule names this user"),
            Refusal::AliasNotAllowed { user, alias } => write!(f, "{user} may not deploy `{alias}`: no `allow` rule gives it to this user"),
            Refusal::ChannelNotAllowed { user, channel } => {
                write!(f, "{user} may not deploy from this channel ({channel}): the `allow` rules name other channels")
            }
            Refusal::EnvironmentNotAllowed { user, alias, environment } => {
                write!(f, "{user} may not deploy `{alias}` to `{environment}`: no `allow` rule gives that environment")
            }
        }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "none".to_owned() } else { items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ") }
}

impl ChatOps {
    /// The alias and the environment a command deploys to, or why it runs nothing.
    /// An alias without environments deploys without an `environment` param.
    pub fn decide<'c>(&'c self, req: &Request<'_>) -> Result<(&'c Alias, Option<String>), Refusal> {
        let Some(alias) = self.alias(req.alias) else {
            let known = self.aliases.keys().map(|k| k.value.clone()).collect();
            return Err(Refusal::UnknownAlias { alias: req.alias.to_owned(), known });
        };
        let names: Vec<String> = alias.environments.iter().map(|e| e.value.clone()).collect();
        let environment = match (req.environment, names.as_slice()) {
            (Some(e), _) if names.iter().any(|n| n == e) => Some(e.to_owned()),
            (Some(e), _) => {
                let (alias, environment) = (req.alias.to_owned(), e.to_owned());
                return Err(Refusal::UnknownEnvironment { alias, environment, environments: names });
            }
            (None, []) => None,
            (None, [only]) => Some(only.clone()),
            (None, _) => return Err(Refusal::NeedsEnvironment { alias: req.alias.to_owned(), environments: names }),
        };
        self.allowed(req, environment.as_deref())?;
        Ok((alias, environment))
    }

    /// Whether one `allow` rule matches user, alias, channel and environment;
    /// the refusal names the first of those that no rule matches.
    fn allowed(&self, req: &Request<'_>, environment: Option<&str>) -> Result<(), Refusal> {
        let user = req.user.to_owned();
        let has = |items: &[crate::decode::Spanned<String>], v: &str| items.iter().any(|i| i.value == v);
        let rules: Vec<_> = self.allow.iter().filter(|r| has(&r.users, req.user)).collect();
        if rules.is_empty() {
            return Err(Refusal::UserNotAllowed { user });
        }
        let rules: Vec<_> = rules.into_iter().filter(|r| has(&r.aliases, req.alias)).collect();
        if rules.is_empty() {
            return Err(Refusal::AliasNotAllowed { user, alias: req.alias.to_owned() });
        }
        let rules: Vec<_> = rules.into_iter().filter(|r| r.channels.as_ref().is_none_or(|c| has(c, req.channel))).collect();
        if rules.is_empty() {
            return Err(Refusal::ChannelNotAllowed { user, channel: req.channel.to_owned() });
        }
        let env_ok = |r: &&&crate::decode::Spanned<super::AllowRule>| match (&r.environments, environment) {
            (None, _) | (Some(_), None) => true,
            (Some(envs), Some(e)) => has(envs, e),
        };
        if !rules.iter().any(|r| env_ok(&r)) {
            let environment = environment.unwrap_or_default().to_owned();
            return Err(Refusal::EnvironmentNotAllowed { user, alias: req.alias.to_owned(), environment });
        }
        Ok(())
    }

    /// Whether a deploy of `alias` to `environment` waits for a second person.
    /// A rule without `aliases` covers every alias; without `environments`, every environment.
    pub fn needs_confirmation(&self, alias: &str, environment: Option<&str>) -> bool {
        self.confirm.iter().any(|r| {
            let alias_ok = r.aliases.is_empty() || r.aliases.iter().any(|a| a.value == alias);
            let env_ok = match (&r.environments, environment) {
                (None, _) => true,
                (Some(envs), Some(e)) => envs.iter().any(|x| x.value == e),
                (Some(envs), None) => envs.is_empty(),
            };
            alias_ok && env_ok
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "version: 1\nslack: { signing_secret: { env: S } }\naliases:\n  api:\n    pipeline: p.yaml\n    environments: [staging, production]\n  docs:\n    pipeline: d.yaml\nallow:\n  - users: [U1]\n    channels: [C1]\n    aliases: [api]\n    environments: [staging]\n  - users: [U2]\n    aliases: [api, docs]\nconfirm:\n  - aliases: [api]\n    environments: [production]\n";

    fn config() -> ChatOps {
        let checked = crate::check_str("c.yaml", CONFIG);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        checked.chatops.expect("a chat-ops config")
    }

    fn decide(user: &str, channel: &str, alias: &str, env: Option<&str>) -> Result<Option<String>, Refusal> {
        config().decide(&Request { user, channel, alias, environment: env }).map(|(_, e)| e)
    }

    #[test]
    fn allowed_commands_get_their_environment() {
        assert_eq!(decide("U1", "C1", "api", Some("staging")), Ok(Some("staging".into())));
        assert_eq!(decide("U2", "C9", "api", Some("production")), Ok(Some("production".into())));
        assert_eq!(decide("U2", "C9", "docs", None), Ok(None));
    }

    #[test]
    fn each_refusal_names_what_no_rule_allows() {
        assert!(matches!(decide("U1", "C1", "apx", None), Err(Refusal::UnknownAlias { .. })));
        assert!(matches!(decide("U1", "C1", "api", None), Err(Refusal::NeedsEnvironment { .. })));
        assert!(matches!(decide("U1", "C1", "api", Some("qa")), Err(Refusal::UnknownEnvironment { .. })));
        assert!(matches!(decide("U9", "C1", "api", Some("staging")), Err(Refusal::UserNotAllowed { .. })));
        assert!(matches!(decide("U1", "C1", "docs", None), Err(Refusal::AliasNotAllowed { .. })));
        assert!(matches!(decide("U1", "C2", "api", Some("staging")), Err(Refusal::ChannelNotAllowed { .. })));
        assert!(matches!(decide("U1", "C1", "api", Some("production")), Err(Refusal::EnvironmentNotAllowed { .. })));
    }

    #[test]
    fn confirmation_follows_the_rules() {
        let c = config();
        assert!(c.needs_confirmation("api", Some("production")));
        assert!(!c.needs_confirmation("api", Some("staging")));
        assert!(!c.needs_confirmation("docs", None));
    }
}
