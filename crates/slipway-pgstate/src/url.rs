//! The state URL: `postgres://user:password@host:5432/db?sslmode=require`. It
//! is parsed once; what is shown of it (errors, logs, `runs`) has the password
//! replaced by `***`. `sslrootcert=PATH` (libpq's name) trusts the CA
//! certificates in that PEM file instead of the system's roots: a team's own CA.

use std::path::PathBuf;
use std::str::FromStr;

use tokio_postgres::config::{Config, SslMode};

#[derive(Clone)]
pub struct StateUrl {
    pub(crate) config: Config,
    masked: String,
    password: Option<String>,
    /// `sslrootcert`: the PEM file of the CA certificates to trust, instead of the system's.
    pub(crate) root_cert: Option<PathBuf>,
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
        // tokio-postgres knows no `sslrootcert`: it is taken out before the rest is parsed.
        let (text, root_cert) = take_root_cert(text);
        let mut config = Config::from_str(&text).map_err(|e| format!("state url `{masked}`: {}", strip(&e.to_string(), &text)))?;
        if config.get_hosts().is_empty() {
            return Err(format!("state url `{masked}`: no host; write it like postgres://user:password@host:5432/slipway"));
        }
        if config.get_application_name().is_none() {
            config.application_name("slipway");
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        config.keepalives_idle(std::time::Duration::from_secs(10));
        let password = config.get_password().map(|p| String::from_utf8_lossy(p).into_owned()).filter(|p| !p.is_empty());
        if root_cert.is_some() && !matches!(config.get_ssl_mode(), SslMode::Require) {
            return Err(format!("state url `{masked}`: sslrootcert needs sslmode=require (without it the connection is plain text)"));
        }
        Ok(StateUrl { config, masked, password, root_cert })
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

/// The URL without its `sslrootcert=PATH` parameter, and that path (percent-decoded).
fn take_root_cert(text: &str) -> (String, Option<PathBuf>) {
    let Some((head, query)) = text.split_once('?') else { return (text.to_owned(), None) };
    let mut root = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("sslrootcert=") {
            Some(path) => {
                root = Some(PathBuf::from(percent_decode(path)));
                false
            }
            None => true,
        })
        .collect();
    let text = if rest.is_empty() { head.to_owned() } else { format!("{head}?{}", rest.join("&")) };
    (text, root)
}

/// `%2F` -> `/`; a `%` not followed by two hex digits stays as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

    #[test]
    fn sslrootcert_names_the_ca_file_and_needs_sslmode_require() {
        let url = StateUrl::parse("postgres://u:s3cret@db/x?sslmode=require&sslrootcert=%2Fetc%2Fteam%20ca.pem").unwrap();
        assert!(url.tls());
        assert_eq!(url.root_cert, Some(PathBuf::from("/etc/team ca.pem")));
        let url = StateUrl::parse("postgres://u@db/x?sslrootcert=/etc/ca.pem&sslmode=require&application_name=ci").unwrap();
        assert_eq!(url.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(url.config.get_application_name(), Some("ci"));
        assert_eq!(StateUrl::parse("postgres://u@db/x?sslmode=require").unwrap().root_cert, None);
        let e = StateUrl::parse("postgres://u:s3cret@db/x?sslrootcert=/etc/ca.pem").unwrap_err();
        assert!(e.contains("sslrootcert needs sslmode=require") && !e.contains("s3cret"), "{e}");
    }
}
