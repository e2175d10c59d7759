//! JIRA's REST API (Cloud and Data Center): the requests a change ticket
//! needs, what their answers hold, and how their errors read.
//!
//! Searching is where the two deployments part: Cloud retired `/rest/api/{2,3}/search`
//! (it answers 410) for `POST /rest/api/3/search/jql`, and Data Center has only
//! `GET /rest/api/2/search` (`/search/jql` is a 404 there). [`Search`] names the
//! two; a caller starts with the one the API version suggests and switches on
//! the answer, never on the host name.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use slipway_engine::runtime::StageError;
use slipway_engine::secrets::{Masker, url_encode};

use super::request::{Reply, Request};

/// One JIRA site, as a stage reaches it.
pub struct Site {
    /// Without a trailing `/`; on Data Center it may end in a context path.
    pub base: String,
    /// 2 or 3.
    pub version: u8,
    authorization: String,
}

/// The two issue searches JIRA has had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// `POST /rest/api/3/search/jql`: Cloud only.
    Jql,
    /// `GET /rest/api/2/search`: Data Center (gone from Cloud: 410).
    Classic,
}

impl Search {
    /// The search to try first for an API version: 3 exists only on Cloud.
    pub fn first(version: u8) -> Self {
        if version == 3 { Search::Jql } else { Search::Classic }
    }

    pub fn other(self) -> Self {
        match self {
            Search::Jql => Search::Classic,
            Search::Classic => Search::Jql,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Search::Jql => "/rest/api/3/search/jql",
            Search::Classic => "/rest/api/2/search",
        }
    }
}

/// The issue fields a search asks for: enough to name the ticket and, on a
/// repeat, to tell whether its transition was already applied.
const SEARCH_FIELDS: &[&str] = &["key", "status"];

impl Site {
    /// With `email`, Cloud's basic auth (email and API token); without, a Data
    /// Center personal access token as a bearer token.
    pub fn new(base: &str, version: u8, email: Option<&str>, token: &str) -> Self {
        let authorization = match email {
            Some(email) => format!("Basic {}", STANDARD.encode(format!("{email}:{token}"))),
            None => format!("Bearer {token}"),
        };
        Site { base: base.trim_end_matches('/').to_owned(), version, authorization }
    }

    fn request(&self, req: Request) -> Request {
        req.header("Authorization", self.authorization.clone()).header("Accept", "application/json")
    }

    /// The search for `jql`, asking for at most `max` issues.
    pub fn search(&self, how: Search, jql: &str, max: u32) -> Request {
        let url = format!("{}{}", self.base, how.path());
        match how {
            Search::Jql => self.request(Request::post(url)).json(json!({"jql": jql, "fields": SEARCH_FIELDS, "maxResults": max})),
            Search::Classic => self.request(Request::get(format!(
                "{url}?jql={}&fields={}&maxResults={max}",
                url_encode(jql),
                url_encode(&SEARCH_FIELDS.join(","))
            ))),
        }
    }

    /// Creating an issue. Not idempotent: search for its label first.
    pub fn create(&self, fields: Value) -> Request {
        self.request(Request::post(format!("{}/rest/api/{}/issue", self.base, self.version))).json(json!({"fields": fields}))
    }

    /// The transitions the issue's workflow offers from where it stands.
    pub fn transitions(&self, key: &str) -> Request {
        self.request(Request::get(format!("{}/rest/api/{}/issue/{key}/transitions", self.base, self.version)))
    }

    /// Applying transition `id`.
    pub fn transition(&self, key: &str, id: &str) -> Request {
        self.request(Request::post(format!("{}/rest/api/{}/issue/{key}/transitions", self.base, self.version)))
            .json(json!({"transition": {"id": id}}))
    }

    /// Where people open the ticket.
    pub fn browse_url(&self, key: &str) -> String {
        format!("{}/browse/{key}", self.base)
    }
}

/// `value` as a JQL string literal: quoted, with `"` and `\` escaped.
pub fn jql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The search for the ticket carrying `label` in `project`, oldest first.
pub fn label_jql(project: &str, label: &str) -> String {
    format!("project = {} AND labels = {} ORDER BY created ASC", jql_string(project), jql_string(label))
}

/// An issue as JIRA names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub id: String,
    pub key: String,
    /// Its workflow status, when the answer said.
    pub status: Option<String>,
}

/// The issues of a search answer (both searches share this shape).
pub fn found(answer: &Value) -> Result<Vec<Issue>, StageError> {
    let Some(issues) = answer.get("issues").and_then(Value::as_array) else {
        return Err(StageError::permanent("the JIRA search answered without `issues`: is `jira.url` a JIRA site?"));
    };
    issues.iter().map(issue).collect()
}

/// An issue from a create or search answer: `id` and `key` are required, and
/// a key or id that could not be one (a `/`, a `?`) is refused, since both go
/// into later URLs.
pub fn issue(v: &Value) -> Result<Issue, StageError> {
    let text = |name: &str| match v.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let plain =
        |s: &String| !s.is_empty() && s.len() <= 255 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    match (text("id"), text("key")) {
        (Some(id), Some(key)) if plain(&id) && plain(&key) => {
            let status = v.pointer("/fields/status/name").and_then(Value::as_str).map(str::to_owned);
            Ok(Issue { id, key, status })
        }
        _ => {
            let start: String = v.to_string().chars().take(120).collect();
            Err(StageError::permanent(format!("JIRA answered with an issue without a usable `id` and `key`: {start}")))
        }
    }
}

/// A workflow transition on offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub id: String,
    pub name: String,
    /// The status it leads to.
    pub to: Option<String>,
}

/// The transitions of a `…/transitions` answer.
pub fn transitions(answer: &Value) -> Vec<Transition> {
    let list = answer.get("transitions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .filter_map(|t| {
            let id = match t.get("id")? {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let name = t.get("name")?.as_str()?.to_owned();
            let to = t.pointer("/to/name").and_then(Value::as_str).map(str::to_owned);
            Some(Transition { id, name, to })
        })
        .collect()
}

/// Whether a search answered that it does not exist here (Cloud's 410 for
/// the retired search, a 404 for the one a deployment never had).
pub fn search_missing(reply: &Reply) -> bool {
    matches!(reply.status.as_u16(), 404 | 410)
}

/// What [`Reply::expect`] decides, with JIRA's own words (`errorMessages` and
/// `errors`, masked, on one line) in place of the raw body, and a hint for
/// credentials and addresses.
pub fn check(reply: &Reply, expected: &[u16], masker: &Masker, hints: &Hints) -> Result<(), StageError> {
    let Err(mut e) = reply.expect(expected, masker) else { return Ok(()) };
    if let Some(said) = error_text(&reply.body) {
        let said: String = masker.mask(&said).split_whitespace().collect::<Vec<_>>().join(" ");
        let said: String = said.chars().take(400).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
        e.message = format!("{}: HTTP {}: {said}", reply.url, reply.status);
    }
    let hint = match reply.status.as_u16() {
        401 => Some(format!("JIRA did not accept the credentials: check {}", hints.credentials)),
        403 => Some(format!("JIRA refused: check {} and that this account may do this in project `{}`", hints.credentials, hints.project)),
        404 => Some(format!(
            "check `jira.url` (a Data Center URL includes its context path, e.g. /jira) and `jira.api_version` ({})",
            if hints.version == 3 { "version 3 exists on Cloud only" } else { "2 works on Cloud and Data Center" }
        )),
        _ => None,
    };
    if let Some(hint) = hint {
        e.message = format!("{}; {hint}", e.message);
    }
    Err(e)
}

/// What an error message names to help.
pub struct Hints {
    /// e.g. "the secrets `JIRA_EMAIL`, `JIRA_TOKEN` (`jira.email`, `jira.token`)".
    pub credentials: String,
    pub project: String,
    pub version: u8,
}

/// JIRA's error body, `{"errorMessages": [...], "errors": {"field": "msg"}}`, as text.
fn error_text(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let mut parts: Vec<String> =
        v.get("errorMessages").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
    if let Some(errors) = v.get("errors").and_then(Value::as_object) {
        parts.extend(errors.iter().map(|(field, msg)| format!("{field}: {}", msg.as_str().map_or_else(|| msg.to_string(), str::to_owned))));
    }
    parts.retain(|p| !p.trim().is_empty());
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_strings_are_quoted_safely() {
        assert_eq!(jql_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(label_jql("OPS", "slipway-x"), r#"project = "OPS" AND labels = "slipway-x" ORDER BY created ASC"#);
    }

    #[test]
    fn auth_is_basic_with_an_email_else_bearer() {
        // base64 of `a@b.c:tok`, by coreutils.
        assert_eq!(Site::new("https://x/", 2, Some("a@b.c"), "tok").authorization, "Basic YUBiLmM6dG9r");
        let dc = Site::new("https://x/jira/", 2, None, "pat");
        assert_eq!((dc.authorization.as_str(), dc.base.as_str()), ("Bearer pat", "https://x/jira"));
    }

    #[test]
    fn searches_differ_in_method_and_shape() {
        let site = Site::new("https://x", 3, None, "t");
        let jql = site.search(Search::Jql, "labels = \"a b\"", 2);
        assert_eq!((jql.method.as_str(), jql.url.as_str()), ("POST", "https://x/rest/api/3/search/jql"));
        assert_eq!(jql.body.as_deref(), Some(r#"{"jql":"labels = \"a b\"","fields":["key","status"],"maxResults":2}"#));
        let classic = site.search(Search::Classic, "labels = \"a b\"", 2);
        assert_eq!(classic.url, "https://x/rest/api/2/search?jql=labels%20%3D%20%22a%20b%22&fields=key%2Cstatus&maxResults=2");
        assert!(classic.body.is_none() && !classic.has_header("content-type"));
        assert_eq!(Search::first(2).other(), Search::Jql);
    }

    #[test]
    fn issues_need_a_plain_id_and_key() {
        let ok = issue(&json!({"id": 10001, "key": "OPS-7", "fields": {"status": {"name": "Done"}}})).unwrap();
        assert_eq!(ok, Issue { id: "10001".into(), key: "OPS-7".into(), status: Some("Done".into()) });
        assert!(issue(&json!({"id": "1", "key": "../../admin"})).is_err());
        assert!(issue(&json!({"key": "OPS-1"})).is_err());
        assert!(found(&json!({"total": 0})).is_err());
        assert_eq!(found(&json!({"issues": []})).unwrap(), []);
    }

    #[test]
    fn error_bodies_read_as_jira_said_them() {
        let body =
            r#"{"errorMessages":["Field errors"],"errors":{"project":"valid project is required","summary":"You must specify a summary"}}"#;
        assert_eq!(error_text(body).unwrap(), "Field errors; project: valid project is required; summary: You must specify a summary");
        assert_eq!(error_text(r#"{"errorMessages":[],"errors":{}}"#), None);
        assert_eq!(error_text("<html>"), None);
    }

    #[test]
    fn transitions_are_read_with_numeric_or_string_ids() {
        let t = transitions(
            &json!({"transitions": [{"id": "31", "name": "Done", "to": {"name": "Closed"}}, {"id": 5, "name": "Reopen"}, {"name": "broken"}]}),
        );
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].id.as_str(), t[0].to.as_deref()), ("31", Some("Closed")));
        assert_eq!(t[1].id, "5");
    }
}
