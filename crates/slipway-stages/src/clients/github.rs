//! GitHub's REST API (github.com or Enterprise Server at `api_base`): the
//! compare endpoint, paged, and single commits to resolve abbreviated SHAs.
//!
//! Rate limits are told apart from refusals: a 403 or 429 with `Retry-After`,
//! or with `x-ratelimit-remaining: 0`, passes (transient, with that wait); any
//! other 403 is the token's doing (permanent).

use reqwest::Url;
use serde_json::Value;
use slipway_engine::retry::parse_retry_after;
use slipway_engine::runid::now_secs;
use slipway_engine::runtime::{StageEnv, StageError};
use slipway_engine::secrets::url_encode;

use super::git::{Commit, Range};
use super::request::{Reply, Request};
use crate::caps::HttpCap;

pub const DEFAULT_API: &str = "https://api.github.com";

/// Commits per page, GitHub's maximum.
pub const PER_PAGE: u64 = 100;

/// How long a secondary rate limit (a 403 or 429 without headers saying when)
/// is waited out, as GitHub asks: at least a minute.
const SECONDARY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

pub struct Github {
    pub api_base: String,
    /// `owner/name`.
    pub repo: String,
    pub token: Option<String>,
}

impl Github {
    /// A GET with the headers every call carries.
    fn get(&self, url: String) -> Request {
        let mut req = Request::get(url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", concat!("slipway/", env!("CARGO_PKG_VERSION")));
        if let Some(token) = &self.token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        req
    }

    fn base(&self) -> &str {
        self.api_base.trim_end_matches('/')
    }

    /// `GET /repos/{owner}/{repo}/compare/{from}...{to}`, one page.
    pub fn compare_request(&self, from: &str, to: &str, page: u64) -> Request {
        let (base, repo) = (self.base(), &self.repo);
        self.get(format!("{base}/repos/{repo}/compare/{}...{}?per_page={PER_PAGE}&page={page}", encode_ref(from), encode_ref(to)))
    }

    /// `GET /repos/{owner}/{repo}/commits/{rev}`.
    pub fn commit_request(&self, rev: &str) -> Request {
        self.get(format!("{}/repos/{}/commits/{}", self.base(), self.repo, encode_ref(rev)))
    }

    /// A revision to its full SHA; an unknown one is a permanent error naming it.
    pub async fn resolve(&self, http: &HttpCap, env: &StageEnv<'_>, rev: &str, field: &str) -> Result<String, StageError> {
        let reply = http.exchange(env, &self.commit_request(rev)).await?;
        if matches!(reply.status.as_u16(), 404 | 422) {
            return Err(StageError::permanent(format!(
                "unknown revision `{rev}` (`{field}`) in {}: {}: push it, or check the SHA (and that the token can read the repository)",
                self.repo,
                message(&reply)
            )));
        }
        self.check(&reply, env)?;
        let json = reply.json()?;
        json["sha"].as_str().map(str::to_owned).ok_or_else(|| StageError::permanent(format!("{}: the commit has no `sha`", reply.url)))
    }

    /// The newest `max` commits of `from...to`, oldest first. Page 1 says how
    /// many there are; pages holding only older commits than kept are skipped,
    /// and the rest followed by `Link: rel="next"`.
    pub async fn range(&self, http: &HttpCap, env: &StageEnv<'_>, from: &str, to: &str, max: u64) -> Result<Range, StageError> {
        let mut reply = http.exchange(env, &self.compare_request(from, to, 1)).await?;
        if reply.status.as_u16() == 404 {
            // The compare call does not say which side is unknown: ask for each.
            self.resolve(http, env, from, "from").await?;
            self.resolve(http, env, to, "to").await?;
            return Err(StageError::permanent(format!("{}: {}: check `github.repo` and the token's access", reply.url, message(&reply))));
        }
        self.check(&reply, env)?;
        let first = reply.json()?;
        let total = first["total_commits"].as_u64().unwrap_or(0);
        let status = first["status"].as_str().unwrap_or_default().to_owned();
        let from_sha = first["base_commit"]["sha"].as_str().unwrap_or(from).to_owned();
        let compare_url = first["html_url"].as_str().unwrap_or_default().to_owned();
        let keep_from = total.saturating_sub(max); // index of the oldest commit kept
        let (mut commits, mut seen, mut page, mut json) = (Vec::new(), 0u64, 1u64, first);
        loop {
            let listed = json["commits"].as_array().map(Vec::as_slice).unwrap_or_default();
            for (i, c) in listed.iter().enumerate() {
                if seen + i as u64 >= keep_from {
                    commits.push(commit(c));
                }
            }
            seen += listed.len() as u64;
            if listed.is_empty() || seen >= total || page > total / PER_PAGE + 1 {
                break;
            }
            let wanted = keep_from / PER_PAGE + 1;
            let req = if page == 1 && listed.len() as u64 == PER_PAGE && wanted > 2 {
                (seen, page) = ((wanted - 1) * PER_PAGE, wanted);
                self.compare_request(from, to, page)
            } else {
                let Some(next) = next_link(&reply) else { break };
                page += 1;
                self.get(self.same_service(&next)?)
            };
            reply = http.exchange(env, &req).await?;
            self.check(&reply, env)?;
            json = reply.json()?;
        }
        // The head is the newest commit listed; with none listed it is the base
        // itself (identical) or behind it, which only a lookup can say.
        let to_sha = match (commits.last(), status.as_str()) {
            (Some(c), _) => c.sha.clone(),
            (None, "identical") => from_sha.clone(),
            (None, _) => self.resolve(http, env, to, "to").await?,
        };
        Ok(Range {
            not_ancestor: matches!(status.as_str(), "behind" | "diverged"),
            from: from_sha,
            to: to_sha,
            count: total.max(commits.len() as u64),
            commits,
            compare_url,
        })
    }

    /// A `Link` URL, only if it points at the same service: the token goes with it.
    fn same_service(&self, next: &str) -> Result<String, StageError> {
        let origin = |u: &str| Url::parse(u).ok().map(|u| u.origin());
        match origin(next).is_some_and(|o| Some(o) == origin(self.base())) {
            true => Ok(next.to_owned()),
            false => {
                Err(StageError::permanent(format!("the next page is at {next}, outside {}: refusing to send the token there", self.base())))
            }
        }
    }

    /// Success, or what went wrong, with rate limits waited out.
    fn check(&self, reply: &Reply, env: &StageEnv<'_>) -> Result<(), StageError> {
        let code = reply.status.as_u16();
        if code == 403 || code == 429 {
            let limited =
                |wait| Err(StageError::transient(format!("{}: rate limited by GitHub: {}", reply.url, message(reply))).retry_after(wait));
            if let Some(wait) = reply.header("retry-after").and_then(|v| parse_retry_after(v, now_secs())) {
                return limited(Some(wait));
            }
            if reply.header("x-ratelimit-remaining") == Some("0") {
                let reset = reply.header("x-ratelimit-reset").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
                let wait = std::time::Duration::from_secs(reset.saturating_sub(now_secs()).max(1));
                return limited(Some(wait.min(slipway_engine::retry::MAX_RETRY_AFTER)));
            }
            if code == 429 || message(reply).to_ascii_lowercase().contains("rate limit") {
                return limited(Some(SECONDARY_WAIT));
            }
            let token = if self.token.is_some() { "the token (`github.token`) cannot" } else { "without `github.token`, Slipway cannot" };
            return Err(StageError::permanent(format!(
                "{}: HTTP 403: {}: {token} read {}: give it read access to the repository's contents",
                reply.url,
                message(reply),
                self.repo
            )));
        }
        if code == 401 {
            return Err(StageError::permanent(format!(
                "{}: HTTP 401: {}: GitHub refused the credentials: check `github.token`",
                reply.url,
                message(reply)
            )));
        }
        reply.check(env.masker).map(|_| ())
    }
}

/// GitHub's `message`, else the start of the body, on one line.
fn message(reply: &Reply) -> String {
    let text = match serde_json::from_str::<Value>(&reply.body) {
        Ok(v) => v["message"].as_str().map(str::to_owned).unwrap_or_default(),
        Err(_) => reply.body.chars().take(200).collect(),
    };
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() { format!("HTTP {}", reply.status) } else { flat.chars().filter(|c| !c.is_control()).collect() }
}

/// One commit of a compare or commits response. The subject is what `git log
/// %s` gives: the first paragraph of the message on one line.
fn commit(c: &Value) -> Commit {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let message = c["commit"]["message"].as_str().unwrap_or_default();
    let paragraph = message.split("\n\n").next().unwrap_or_default();
    Commit {
        sha: text(&c["sha"]),
        author: text(&c["commit"]["author"]["name"]),
        email: text(&c["commit"]["author"]["email"]),
        date: text(&c["commit"]["author"]["date"]),
        subject: paragraph.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "),
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(reply: &Reply) -> Option<String> {
    reply.header("link")?.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let rel = |p: &str| p.trim().strip_prefix("rel=").map(|v| v.trim_matches('"').split_whitespace().any(|r| r == "next"));
        let next = params.split(';').any(|p| rel(p) == Some(true));
        next.then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

/// A revision in a URL path. A plan's placeholder (`<…>`: no revision is
/// written so) stays as it is, to be read; anything else is percent-encoded.
pub fn encode_ref(rev: &str) -> String {
    if rev.starts_with('<') && rev.ends_with('>') { rev.to_owned() } else { url_encode(rev) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(headers: &[(&str, &str)]) -> Reply {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            map.insert(reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        Reply { status: reqwest::StatusCode::OK, headers: map, body: String::new(), url: "u".into() }
    }

    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        let link = r#"<https://api.github.com/repos/a/b/compare/x...y?page=2>; rel="next", <https://api.github.com/repos/a/b/compare/x...y?page=6>; rel="last""#;
        assert_eq!(next_link(&reply(&[("link", link)])).as_deref(), Some("https://api.github.com/repos/a/b/compare/x...y?page=2"));
        let last = r#"<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=1>; rel="first""#;
        assert_eq!(next_link(&reply(&[("link", last)])), None);
        assert_eq!(next_link(&reply(&[])), None);
    }

    #[test]
    fn placeholders_stay_readable_and_revisions_are_encoded() {
        let gh = Github { api_base: "https://ghe.example/api/v3/".into(), repo: "a/b".into(), token: Some("t0k".into()) };
        let req = gh.compare_request("<deployed SHA at /sha>", "release/1.2", 3);
        assert_eq!(req.url, "https://ghe.example/api/v3/repos/a/b/compare/<deployed SHA at /sha>...release%2F1.2?per_page=100&page=3");
        assert!(req.headers.contains(&("Authorization".into(), "Bearer t0k".into())));
    }

    #[test]
    fn subjects_are_the_first_paragraph_on_one_line() {
        let c = serde_json::json!({"sha": "s", "commit": {"message": "Fix the\nthing\n\nBody <!channel>", "author": {"name": "A"}}});
        assert_eq!(commit(&c).subject, "Fix the thing");
    }

    #[test]
    fn next_pages_elsewhere_are_refused() {
        let gh = Github { api_base: "https://api.github.com".into(), repo: "a/b".into(), token: Some("t".into()) };
        assert!(gh.same_service("https://api.github.com/repos/a/b/compare/x...y?page=2").is_ok());
        assert!(gh.same_service("https://evil.example/repos/a/b?page=2").is_err());
    }
}
