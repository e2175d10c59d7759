//! The text after `/deploy`, parsed. Words are split on whitespace; the text is
//! data (never rendered, never run by a shell).

/// What a chat command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Deploy(Target),
    Plan(Target),
    Status,
    Cancel { run: String },
    Lock { alias: String, reason: String },
    Unlock { alias: String },
    History { alias: String },
    Help,
}

/// An alias, maybe an environment, and `key=value` params.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    pub alias: String,
    pub environment: Option<String>,
    pub params: Vec<(String, String)>,
}

pub const USAGE: &str = "usage: `/deploy ALIAS [ENV] [key=value…]`, `/deploy plan ALIAS [ENV] [key=value…]`, `/deploy status`, \
                         `/deploy cancel RUN`, `/deploy lock ALIAS reason…`, `/deploy unlock ALIAS`, `/deploy history ALIAS`";

pub fn parse(text: &str) -> Result<Command, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let one = |verb: &str| match words.as_slice() {
        [_, arg] => Ok(arg.to_string()),
        _ => Err(format!("`/deploy {verb}` takes one word; {USAGE}")),
    };
    match words.as_slice() {
        [] | ["help"] => Ok(Command::Help),
        ["status"] => Ok(Command::Status),
        ["cancel", ..] => one("cancel").map(|run| Command::Cancel { run }),
        ["unlock", ..] => one("unlock").map(|alias| Command::Unlock { alias }),
        ["history", ..] => one("history").map(|alias| Command::History { alias }),
        ["lock", alias, reason @ ..] if !reason.is_empty() => Ok(Command::Lock { alias: alias.to_string(), reason: reason.join(" ") }),
        ["lock", ..] => Err("`/deploy lock ALIAS reason…` needs a reason: it is shown to everyone the freeze stops".to_owned()),
        ["plan", rest @ ..] => target(rest).map(Command::Plan),
        rest => target(rest).map(Command::Deploy),
    }
}

fn target(words: &[&str]) -> Result<Target, String> {
    let Some((alias, rest)) = words.split_first() else { return Err(USAGE.to_owned()) };
    let mut t = Target { alias: alias.to_string(), ..Target::default() };
    for (i, word) in rest.iter().enumerate() {
        match word.split_once('=') {
            Some((k, v)) if !k.is_empty() => t.params.push((k.to_owned(), v.to_owned())),
            None if i == 0 => t.environment = Some(word.to_string()),
            _ => return Err(format!("`{word}` is not `key=value`; {USAGE}")),
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        let t = |alias: &str, env: Option<&str>, params: &[(&str, &str)]| Target {
            alias: alias.into(),
            environment: env.map(Into::into),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        assert_eq!(parse("api"), Ok(Command::Deploy(t("api", None, &[]))));
        assert_eq!(parse("api production build_id=42"), Ok(Command::Deploy(t("api", Some("production"), &[("build_id", "42")]))));
        assert_eq!(parse("api build_id=42"), Ok(Command::Deploy(t("api", None, &[("build_id", "42")]))));
        assert_eq!(parse("plan api staging"), Ok(Command::Plan(t("api", Some("staging"), &[]))));
        assert_eq!(parse("  status "), Ok(Command::Status));
        assert_eq!(parse("cancel 20261130-1"), Ok(Command::Cancel { run: "20261130-1".into() }));
        assert_eq!(parse("lock api black friday"), Ok(Command::Lock { alias: "api".into(), reason: "black friday".into() }));
        assert_eq!(parse("unlock api"), Ok(Command::Unlock { alias: "api".into() }));
        assert_eq!(parse("history api"), Ok(Command::History { alias: "api".into() }));
        assert!(parse("lock api").is_err());
        assert!(parse("api staging extra").is_err());
        assert!(parse("cancel").is_err());
    }
}
