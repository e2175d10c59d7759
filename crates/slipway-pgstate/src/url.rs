//! The state URL: `postgres://user:password@host:5432/db?sslmode=require`. It
//! is parsed once; what is shown of it (errors, logs, `runs`) has the password
//! replaced by `***`.

use std::str::FromStr;

use tokio_postgres::config::{Config, SslMode};

#[derive(Clone)]
pub struct StateUrl {
    pub(crate) config: Config,
    masked: String,
    password: Option<String>,
}

impl std::fmt::Debug for StateUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked)
    }
}

impl StateUrl {
    /// Parses a `postgres://` or `postgresql://` URL; the error never holds the password.
    pub fn parse(text: &str) -> Result<StateUrl, String> {
        let masked = mask_url(text);
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err(format!("state url `{masked}`: not a PostgreSQL url; write it like postgres://user:password@host:5432/slipway"));
        }
        let mut config = Config::from_str(text).map_err(|e| format!("state url `{masked}`: {}", strip(&e.to_string(), text)))?;
        if config.get_hosts().is_empty() {
            return Err(format!("state url `{masked}`: no host; write it like postgres://user:password@host:5432/slipway"));
        }
        if config.get_application_name().is_none() {
            config.application_name("slipway");
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        config.keepalives_idle(std::time::Duration::from_secs(10));
        let password = config.get_password().map(|p| String::from_utf8_lossy(p).into_owned()).filter(|p| !p.is_empty());
        Ok(StateUrl { config, masked, password })
    }

    /// The URL with its password as `***`.
    pub fn masked(&self) -> &str {
        &self.masked
    }

    /// The password, for the masker of logs and output.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Whether the URL asks for TLS (`sslmode=require`, `verify-ca`, `verify-full`;
    /// `prefer`, the default, connects in plain text here: no silent fallback).
    pub(crate) fn tls(&self) -> bool {
        self.config.get_ssl_mode() == SslMode::Require
    }

    /// A word of the URL, masked, to hide it from a message of a library.
    pub(crate) fn scrub(&self, message: &str) -> String {
        match &self.password {
            Some(p) => message.replace(p.as_str(), "***"),
            None => message.to_owned(),
        }
    }
}

/// `postgres://user:secret@host/db?password=secret` -> `postgres://user:***@host/db?password=***`.
pub fn mask_url(text: &str) -> String {
    let mut out = text.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?']).map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> =
            query.split('&').map(|kv| if kv.starts_with("password=") { "password=***".to_owned() } else { kv.to_owned() }).collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// A library message with the URL's text replaced by its masked form.
fn strip(message: &str, url: &str) -> String {
    message.replace(url, &mask_url(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_masked_in_every_form() {
        assert_eq!(mask_url("postgres://u:s3cret@db:5432/x"), "postgres://u:***@db:5432/x");
        assert_eq!(mask_url("postgres://u:p%40ss@db/x?sslmode=require"), "postgres://u:***@db/x?sslmode=require");
        assert_eq!(mask_url("postgres://u@db/x?password=s3cret&sslmode=require"), "postgres://u@db/x?password=***&sslmode=require");
        assert_eq!(mask_url("postgres://db/x"), "postgres://db/x");
        let url = StateUrl::parse("postgresql://u:s3cret@db/x?sslmode=require").unwrap();
        assert!(url.tls());
        assert_eq!(url.password(), Some("s3cret"));
        assert!(!format!("{url:?}").contains("s3cret"));
        let e = StateUrl::parse("mysql://u:s3cret@db/x").unwrap_err();
        assert!(!e.contains("s3cret") && e.contains("not a PostgreSQL url"), "{e}");
        let e = StateUrl::parse("postgres://u:s3cret@db:notaport/x").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
