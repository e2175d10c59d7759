//! The chat-ops config's checks: those within the file (rules name known
//! aliases and environments, secrets have one source), and, given what the
//! caller read of each alias's pipeline, those across files (the pipeline is
//! valid, the params an alias sets or lets chat set are its params). Reading
//! the pipelines is the caller's: the core does no IO.

use indexmap::IndexMap;

use super::model::{Alias, ChatOps};
use crate::decode::Spanned;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::model::Secret;
use crate::source::Span;

/// The checks within the file.
pub(crate) fn check(c: &ChatOps, root: Span, out: &mut Vec<Diagnostic>) {
    if c.slack.is_none() && c.mattermost.is_none() {
        out.push(
            Diagnostic::error(Code::MissingField, root, "the config takes commands from nowhere: it has neither `slack` nor `mattermost`")
                .with_help("add `slack: { signing_secret: { env: SLACK_SIGNING_SECRET } }` or `mattermost: { token: { env: … } }`"),
        );
    }
    if c.aliases.is_empty() {
        out.push(
            Diagnostic::error(Code::MissingField, root, "the config has no aliases: `/deploy` would have nothing to run")
                .with_help("add `aliases: { NAME: { pipeline: pipelines/NAME.yaml } }`"),
        );
    }
    if let Some(slack) = &c.slack {
        one_source(&slack.signing_secret, "slack.signing_secret", out);
        if let Some(token) = &slack.token {
            one_source(token, "slack.token", out);
        }
        if let Some(base) = &slack.api_base
            && !(base.value.starts_with("https://") || base.value.starts_with("http://"))
        {
            out.push(
                Diagnostic::error(Code::InvalidUrl, base.span, format!("`{}` is not an absolute URL", base.value))
                    .with_help("start it with `https://` (Slack's is https://slack.com/api)"),
            );
        }
    }
    if let Some(mm) = &c.mattermost {
        one_source(&mm.token, "mattermost.token", out);
    }
    for (name, alias) in &c.aliases {
        check_alias(&name.value, alias, out);
    }
    for rule in &c.allow {
        if rule.users.is_empty() {
            out.push(
                Diagnostic::error(Code::MissingField, rule.span, "this `allow` rule names no users, so it allows nothing")
                    .with_help("add `users: [U024BE7LH]` (Slack user ids or Mattermost user names)"),
            );
        }
        if rule.aliases.is_empty() {
            out.push(
                Diagnostic::error(Code::MissingField, rule.span, "this `allow` rule names no aliases, so it allows nothing")
                    .with_help("add `aliases: [NAME]` with the aliases these users may deploy"),
            );
        }
        known_names(c, &rule.aliases, rule.environments.as_deref(), "allow", out);
    }
    for rule in &c.confirm {
        known_names(c, &rule.aliases, rule.environments.as_deref(), "confirm", out);
    }
}

fn one_source(secret: &Spanned<Secret>, what: &str, out: &mut Vec<Diagnostic>) {
    match (&secret.env, &secret.file) {
        (Some(_), Some(file)) => out.push(
            Diagnostic::error(Code::ConflictingFields, file.span, format!("`{what}` sets both `env` and `file`"))
                .with_help("keep only one of `env` or `file`"),
        ),
        (None, None) => out.push(
            Diagnostic::error(Code::MissingField, secret.span, format!("`{what}` needs one of `env` or `file`"))
                .with_help("write `{ env: VARIABLE }` or `{ file: path }`"),
        ),
        _ => {}
    }
}

fn check_alias(name: &str, alias: &Alias, out: &mut Vec<Diagnostic>) {
    if let Some(p) = alias.chat_params.iter().find(|p| p.value == "environment") {
        out.push(
            Diagnostic::error(
                Code::ConflictingFields,
                p.span,
                format!("alias `{name}`: `environment` is chosen by the command, not a chat param"),
            )
            .with_help("list the environments under `environments`; chat picks one with `/deploy ALIAS ENV`"),
        );
    }
    if let (Some((k, _)), Some(first)) = (alias.params.iter().find(|(k, _)| k.value == "environment"), alias.environments.first()) {
        out.push(
            Diagnostic::error(
                Code::ConflictingFields,
                k.span,
                format!("alias `{name}` sets `environment` in `params` and lists `environments`"),
            )
            .with_secondary(first.span, "the environments are listed here")
            .with_help("keep one: a fixed `params.environment`, or `environments` for chat to choose from"),
        );
    }
}

/// Rule entries name defined aliases, and environments one of those aliases deploys to.
fn known_names(c: &ChatOps, aliases: &[Spanned<String>], environments: Option<&[Spanned<String>]>, what: &str, out: &mut Vec<Diagnostic>) {
    let names: Vec<&str> = c.aliases.keys().map(|k| k.value.as_str()).collect();
    for a in aliases.iter().filter(|a| c.alias(&a.value).is_none()) {
        let help = did_you_mean(&a.value, names.iter().copied())
            .unwrap_or_else(|| format!("define it under `aliases`; aliases: {}", names.join(", ")));
        out.push(
            Diagnostic::error(Code::UnknownAlias, a.span, format!("`{what}` names alias `{}`, which is not defined", a.value))
                .with_help(help),
        );
    }
    let covered: Vec<&Alias> = match aliases.is_empty() {
        true => c.aliases.values().collect(),
        false => aliases.iter().filter_map(|a| c.alias(&a.value)).collect(),
    };
    if covered.len() < aliases.len() {
        return; // an unknown alias is reported above; its environments are unknown too
    }
    let envs: Vec<&str> = covered.iter().flat_map(|a| a.environment_names()).collect();
    for e in environments.unwrap_or_default().iter().filter(|e| !envs.contains(&e.value.as_str())) {
        let help = did_you_mean(&e.value, envs.iter().copied()).unwrap_or_else(|| {
            format!("list it under the alias's `environments`; they are: {}", if envs.is_empty() { "none".into() } else { envs.join(", ") })
        });
        out.push(
            Diagnostic::error(
                Code::UnknownEnvironment,
                e.span,
                format!("`{what}` names environment `{}`, which none of its aliases deploys to", e.value),
            )
            .with_help(help),
        );
    }
}

/// What the caller learnt of an alias's pipeline file.
#[derive(Debug, Clone, Default)]
pub struct PipelineFacts {
    /// Its declared params, and for each the values it allows (`choices`; empty: any).
    pub params: IndexMap<String, Vec<String>>,
}

/// The checks across files. `pipelines` holds, per alias name, the facts of its
/// pipeline, or why it could not be used (missing, unreadable, invalid).
pub fn cross_check(c: &ChatOps, pipelines: &IndexMap<String, Result<PipelineFacts, String>>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (name, alias) in &c.aliases {
        let facts = match pipelines.get(&name.value) {
            Some(Ok(facts)) => facts,
            Some(Err(why)) => {
                out.push(
                    Diagnostic::error(Code::AliasPipeline, alias.pipeline.span, format!("alias `{}`: {why}", name.value))
                        .with_help("the path is relative to this config file; `slipway validate` the pipeline to see its problems"),
                );
                continue;
            }
            None => continue,
        };
        let declared: Vec<&str> = facts.params.keys().map(String::as_str).collect();
        let undeclared = |p: &Spanned<String>, what: &str| {
            let help = did_you_mean(&p.value, declared.iter().copied()).unwrap_or_else(|| {
                format!(
                    "declare it under the pipeline's `params`; it declares: {}",
                    if declared.is_empty() { "none".into() } else { declared.join(", ") }
                )
            });
            Diagnostic::error(
                Code::UndeclaredParam,
                p.span,
                format!("alias `{}` {what} `{}`, which its pipeline does not declare", name.value, p.value),
            )
            .with_help(help)
        };
        for p in alias.params.keys().filter(|p| !facts.params.contains_key(&p.value)) {
            out.push(undeclared(p, "sets param"));
        }
        for p in alias.chat_params.iter().filter(|p| p.value != "environment" && !facts.params.contains_key(&p.value)) {
            out.push(undeclared(p, "lets chat set param"));
        }
        match (facts.params.get("environment"), alias.environments.first()) {
            (None, Some(first)) => {
                let e = Spanned::new("environment".to_owned(), first.span);
                out.push(undeclared(&e, "passes its environments as param"));
            }
            (Some(choices), _) if !choices.is_empty() => {
                for e in alias.environments.iter().filter(|e| !choices.contains(&e.value)) {
                    out.push(
                        Diagnostic::error(
                            Code::UnknownEnvironment,
                            e.span,
                            format!("alias `{}`: its pipeline's `environment` does not allow `{}`", name.value, e.value),
                        )
                        .with_help(format!("the pipeline's choices: {}", choices.join(", "))),
                    );
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<(&'static str, String)> {
        let checked = crate::check_str("c.yaml", text);
        checked
            .diagnostics
            .iter()
            .map(|d| (d.code.as_str(), checked.file.text[d.span.map_or(0..0, |s| s.start..s.end)].to_owned()))
            .collect()
    }

    #[test]
    fn rules_name_known_aliases_and_environments() {
        let text = "version: 1\nslack: { signing_secret: { env: S } }\naliases:\n  api: { pipeline: p.yaml, environments: [staging] }\n\
                    allow:\n  - { users: [U1], aliases: [apj], environments: [prod] }\nconfirm:\n  - { aliases: [api], environments: [stagin] }\n";
        assert_eq!(
            codes(text),
            // `prod` is not checked: the rule's alias is unknown, and so are its environments
            vec![("unknown-alias", "apj".into()), ("unknown-environment", "stagin".into())]
        );
    }

    #[test]
    fn secrets_need_one_source_and_rules_need_users() {
        let text = "version: 1\nslack: { signing_secret: {} }\naliases:\n  api: { pipeline: p.yaml }\nallow:\n  - { aliases: [api] }\n";
        let found: Vec<_> = codes(text).into_iter().map(|(c, _)| c).collect();
        assert_eq!(found, vec!["missing-field", "missing-field"]);
    }

    #[test]
    fn unknown_fields_are_reported_with_a_suggestion() {
        let text = "version: 1\nslack: { signing_secret: { env: S } }\naliases:\n  api: { pipeline: p.yaml, chat_param: [x] }\n";
        assert_eq!(codes(text), vec![("unknown-field", "chat_param".into())]);
    }

    #[test]
    fn cross_checks_name_the_alias_and_the_param() {
        let text = "version: 1\nslack: { signing_secret: { env: S } }\naliases:\n  api:\n    pipeline: p.yaml\n    params: { buld_id: x }\n    environments: [staging, qa]\n    chat_params: [ref]\n  gone: { pipeline: g.yaml }\n";
        let checked = crate::check_str("c.yaml", text);
        let c = checked.chatops.as_ref().expect("decoded");
        let mut facts = IndexMap::new();
        let params = IndexMap::from([("build_id".to_owned(), vec![]), ("environment".to_owned(), vec!["staging".to_owned()])]);
        facts.insert("api".to_owned(), Ok(PipelineFacts { params }));
        facts.insert("gone".to_owned(), Err("cannot read g.yaml".to_owned()));
        let found: Vec<_> =
            cross_check(c, &facts).iter().map(|d| (d.code.as_str(), text[d.span.map_or(0..0, |s| s.start..s.end)].to_owned())).collect();
        assert_eq!(
            found,
            vec![
                ("undeclared-param", "buld_id".into()),
                ("undeclared-param", "ref".into()),
                ("unknown-environment", "qa".into()),
                ("alias-pipeline", "g.yaml".into())
            ]
        );
    }
}
