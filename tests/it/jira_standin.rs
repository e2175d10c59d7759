//! A JIRA stand-in with the two personalities a stage meets:
//!
//! - Cloud: basic auth (email and API token); REST API versions 2 and 3; the
//!   retired `/rest/api/{2,3}/search` answers 410, `POST /rest/api/{2,3}/search/jql`
//!   searches; version 3 wants `description` in Atlassian Document Format.
//! - Data Center: a bearer personal access token; version 2 only (anything
//!   under `/rest/api/3` is a 404, as is `/search/jql`); `GET /rest/api/2/search`.
//!
//! Both check the method, path, auth header, content type and the fields a
//! create requires, answer with the documented shapes (201 `{id,key,self}`, 400
//! `{errorMessages, errors}`), keep what was created (labels included) so a
//! search finds it, and walk a small workflow through its transitions.

use serde_json::{Value, json};

use crate::standin::{Recorded, Reply, StandIn, json as answer, require};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Cloud,
    DataCenter,
}

pub const EMAIL: &str = "deploy@example.com";
pub const TOKEN: &str = "jira-s3cr3t-token-9f2c";
/// `Basic` and the base64 of `EMAIL:TOKEN`, made by coreutils' `base64`, not
/// by the code under test.
pub const BASIC: &str = "Basic ZGVwbG95QGV4YW1wbGUuY29tOmppcmEtczNjcjN0LXRva2VuLTlmMmM=";

/// The workflow every issue follows: (from, transition id, name, to).
const WORKFLOW: &[(&str, &str, &str, &str)] = &[
    ("To Do", "11", "Start Progress", "In Progress"),
    ("To Do", "31", "Approved", "Approved"),
    ("In Progress", "31", "Approved", "Approved"),
    ("Approved", "41", "Done", "Done"),
];

const ISSUE_TYPES: &[&str] = &["Task", "Change", "Bug"];

#[derive(Debug, Clone)]
pub struct Issue {
    pub id: String,
    pub key: String,
    /// The API version it was created through.
    pub version: u8,
    /// The `fields` as sent.
    pub fields: Value,
    pub status: String,
}

impl Issue {
    pub fn labels(&self) -> Vec<String> {
        self.fields["labels"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    }
}

pub struct Jira {
    pub flavor: Flavor,
    pub projects: Vec<String>,
    pub issues: Vec<Issue>,
    /// The site's base URL, for `self` links.
    base: String,
}

/// Data Center sites live under a context path (here `/jira`), Cloud sites at the root.
pub fn context(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Cloud => "",
        Flavor::DataCenter => "/jira",
    }
}

pub fn start(flavor: Flavor) -> StandIn<Jira> {
    let jira = StandIn::start(Jira { flavor, projects: vec!["OPS".into()], issues: Vec::new(), base: String::new() }, handle);
    let base = jira.url(context(flavor));
    jira.with_state(|j| j.base = base);
    jira
}

/// The site's base URL, as `jira.url` gives it.
pub fn site(jira: &StandIn<Jira>) -> String {
    jira.with_state(|j| j.base.clone())
}

fn errors(messages: &[&str], fields: Value) -> Reply {
    answer(400, json!({"errorMessages": messages, "errors": fields}))
}

fn not_found(what: &str) -> Reply {
    answer(404, json!({"errorMessages": [what], "errors": {}}))
}

fn handle(req: &Recorded, j: &mut Jira) -> Reply {
    let auth = match j.flavor {
        Flavor::Cloud => BASIC.to_owned(),
        Flavor::DataCenter => format!("Bearer {TOKEN}"),
    };
    if req.header("authorization") != Some(auth.as_str()) {
        return answer(
            401,
            json!({"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}}),
        );
    }
    let route = req.route().to_owned();
    let Some((version, rest)) =
        route.strip_prefix(context(j.flavor)).and_then(|r| r.strip_prefix("/rest/api/")).and_then(|r| r.split_once('/'))
    else {
        return not_found("no such resource");
    };
    let version = match (version, j.flavor) {
        ("2", _) => 2,
        ("3", Flavor::Cloud) => 3,
        _ => return not_found("no such resource"),
    };
    match (rest, j.flavor) {
        ("search", Flavor::Cloud) => answer(
            410,
            json!({"errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."], "errors": {}}),
        ),
        ("search", Flavor::DataCenter) => classic_search(req, j),
        ("search/jql", Flavor::Cloud) => jql_search(req, j),
        ("search/jql", Flavor::DataCenter) => not_found("no such resource"),
        ("issue", _) => create(req, j, version),
        _ => match rest.strip_prefix("issue/").and_then(|r| r.strip_suffix("/transitions")) {
            Some(key) => transitions(req, j, key),
            None => not_found("no such resource"),
        },
    }
}

/// `GET /rest/api/2/search?jql=…&fields=…&maxResults=…` (Data Center).
fn classic_search(req: &Recorded, j: &Jira) -> Reply {
    if let Err(r) = require(req, "GET", None, None) {
        return r;
    }
    let Some(jql) = req.query("jql") else { return errors(&["The 'jql' parameter is required."], json!({})) };
    let fields: Vec<String> = req.query("fields").unwrap_or_default().split(',').map(str::to_owned).collect();
    let max = req.query("maxResults").and_then(|m| m.parse().ok()).unwrap_or(50);
    match matching(j, &jql, &fields, max) {
        Ok((issues, total)) => {
            answer(200, json!({"expand": "schema,names", "startAt": 0, "maxResults": max, "total": total, "issues": issues}))
        }
        Err(r) => r,
    }
}

/// `POST /rest/api/3/search/jql` with `{jql, fields, maxResults}` (Cloud).
fn jql_search(req: &Recorded, j: &Jira) -> Reply {
    if let Err(r) = require(req, "POST", Some("application/json"), None) {
        return r;
    }
    let Some(body) = req.json() else {
        return errors(&["Invalid request payload. Refer to the REST API documentation and try again."], json!({}));
    };
    let Some(jql) = body["jql"].as_str() else { return errors(&["Unbounded JQL queries are not allowed here."], json!({})) };
    let fields: Vec<String> = body["fields"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
    let max = body["maxResults"].as_u64().unwrap_or(50) as usize;
    match matching(j, jql, &fields, max) {
        Ok((issues, _)) => answer(200, json!({"issues": issues, "isLast": true})),
        Err(r) => r,
    }
}

/// The issues a JQL of the form `[project = "P" AND] labels = "L" [ORDER BY created ASC]`
/// finds, oldest first, at most `max`, with the fields asked for; and how many
/// there are in all.
fn matching(j: &Jira, jql: &str, fields: &[String], max: usize) -> Result<(Vec<Value>, usize), Reply> {
    let Some(label) = clause(jql, "labels") else {
        return Err(errors(&[&format!("the stand-in understands only `labels = \"…\"` searches, not: {jql}")], json!({})));
    };
    let project = clause(jql, "project");
    if let Some(p) = &project
        && !j.projects.contains(p)
    {
        return Err(errors(&[&format!("The value '{p}' does not exist for the field 'project'.")], json!({})));
    }
    let found: Vec<&Issue> = j
        .issues
        .iter()
        .filter(|i| i.labels().contains(&label) && project.as_ref().is_none_or(|p| i.fields["project"]["key"] == p.as_str()))
        .collect();
    let shown = found
        .iter()
        .take(max)
        .map(|i| {
            let mut f = json!({});
            if fields.iter().any(|x| x == "status") {
                f["status"] = json!({"name": i.status});
            }
            json!({"id": i.id, "key": i.key, "self": format!("{}/rest/api/{}/issue/{}", j.base, i.version, i.id), "fields": f})
        })
        .collect();
    Ok((shown, found.len()))
}

/// The value of `field = "…"` in a JQL, unescaped; `None` unless it is quoted.
fn clause(jql: &str, field: &str) -> Option<String> {
    let start = jql.find(&format!("{field} = \""))? + field.len() + 4;
    let mut out = String::new();
    let mut chars = jql[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// `POST /rest/api/{2,3}/issue`.
fn create(req: &Recorded, j: &mut Jira, version: u8) -> Reply {
    if let Err(r) = require(req, "POST", Some("application/json"), None) {
        return r;
    }
    let Some(fields) = req.json().and_then(|b| b.get("fields").cloned()).filter(Value::is_object) else {
        return errors(&["Can not deserialize the request: `fields` is required."], json!({}));
    };
    let mut problems = serde_json::Map::new();
    let project = fields["project"]["key"].as_str().unwrap_or_default().to_owned();
    if !j.projects.contains(&project) {
        problems.insert("project".into(), json!("valid project is required"));
    }
    if !fields["issuetype"]["name"].as_str().is_some_and(|t| ISSUE_TYPES.contains(&t)) {
        problems.insert("issuetype".into(), json!("Specify a valid issue type"));
    }
    let summary = fields["summary"].as_str().unwrap_or_default();
    let summary_problem = if summary.trim().is_empty() {
        Some("You must specify a summary of the issue.")
    } else if summary.contains(['\n', '\r']) {
        Some("The summary is invalid because it contains newline characters.")
    } else if summary.chars().count() > 255 {
        Some("Summary must be less than 255 characters.")
    } else {
        None
    };
    if let Some(p) = summary_problem {
        problems.insert("summary".into(), json!(p));
    }
    let description_problem = match (fields.get("description"), version) {
        (None, _) | (Some(Value::String(_)), 2) => None,
        (Some(doc), 3) => {
            adf_problem(doc).map(|p| format!("Operation value must be an Atlassian Document (see the Atlassian Document Format): {p}"))
        }
        (Some(_), _) => Some("Operation value must be a string".to_owned()),
    };
    if let Some(p) = description_problem {
        problems.insert("description".into(), json!(p));
    }
    let labels_ok = fields
        .get("labels")
        .is_none_or(|l| l.as_array().is_some_and(|a| a.iter().all(|x| x.as_str().is_some_and(|s| !s.is_empty() && !s.contains(' ')))));
    if !labels_ok {
        problems.insert("labels".into(), json!("Labels must be strings without spaces"));
    }
    if !problems.is_empty() {
        return errors(&[], Value::Object(problems));
    }
    let id = (10001 + j.issues.len()).to_string();
    let key = format!("{project}-{}", 1 + j.issues.iter().filter(|i| i.fields["project"]["key"] == project.as_str()).count());
    j.issues.push(Issue { id: id.clone(), key: key.clone(), version, fields, status: "To Do".into() });
    answer(201, json!({"id": id, "key": key, "self": format!("{}/rest/api/{version}/issue/{id}", j.base)}))
}

/// What is wrong with an ADF document, if anything: a `doc` of version 1 whose
/// nodes all have a type, whose text nodes hold text, and nothing else.
pub fn adf_problem(doc: &Value) -> Option<String> {
    if !doc.is_object() {
        return Some("not an object".into());
    }
    if doc["type"] != "doc" || doc["version"] != 1 || !doc["content"].is_array() {
        return Some("the root must be {\"type\": \"doc\", \"version\": 1, \"content\": [...]}".into());
    }
    fn node(v: &Value) -> Option<String> {
        let Some(kind) = v["type"].as_str() else { return Some(format!("a node without a type: {v}")) };
        if kind == "text" && v["text"].as_str().is_none_or(str::is_empty) {
            return Some("a text node must hold non-empty text".into());
        }
        if let Some(content) = v.get("content") {
            let Some(children) = content.as_array() else { return Some(format!("`content` of a {kind} must be an array")) };
            return children.iter().find_map(node);
        }
        None
    }
    doc["content"].as_array().into_iter().flatten().find_map(node)
}

/// `GET` (the transitions on offer) and `POST` (apply one) on `…/issue/KEY/transitions`.
fn transitions(req: &Recorded, j: &mut Jira, key: &str) -> Reply {
    let Some(issue) = j.issues.iter_mut().find(|i| i.key == key || i.id == key) else {
        return not_found("Issue does not exist or you do not have permission to see it.");
    };
    let offered: Vec<_> = WORKFLOW.iter().filter(|(from, ..)| *from == issue.status).collect();
    match req.method.as_str() {
        "GET" => answer(
            200,
            json!({"expand": "transitions", "transitions": offered.iter().map(|(_, id, name, to)| json!({"id": id, "name": name, "to": {"name": to}})).collect::<Vec<_>>()}),
        ),
        "POST" => {
            if let Err(r) = require(req, "POST", Some("application/json"), None) {
                return r;
            }
            let id = req.json().and_then(|b| b["transition"]["id"].as_str().map(str::to_owned)).unwrap_or_default();
            match offered.iter().find(|(_, tid, ..)| *tid == id) {
                Some((.., to)) => {
                    issue.status = (*to).to_owned();
                    Reply::new(204, "")
                }
                None => errors(&[&format!("Transition id '{id}' is not valid for this issue.")], json!({})),
            }
        }
        m => Reply::new(405, &format!("{m} is not allowed")),
    }
}
