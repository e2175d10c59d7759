//! A GitHub REST stand-in over a made-up history: `GET
//! /repos/{owner}/{repo}/compare/{base}...{head}` with real paging (`per_page`,
//! `page`, a `Link` header, `total_commits`, `status` ahead, behind, diverged or
//! identical; 404 for an unknown ref) and `GET /repos/{owner}/{repo}/commits/{ref}`
//! (422 for an unknown one, as GitHub answers). Every request must carry the
//! documented headers, or it is refused as GitHub would.

#![allow(dead_code)] // each test uses part of it

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::standin::{Recorded, Reply, StandIn, json};

pub struct Commit {
    pub sha: String,
    pub parents: Vec<usize>,
    pub message: String,
}

pub struct GitHub {
    /// `owner/name`.
    pub repo: String,
    /// The path GitHub Enterprise puts before `/repos` (`/api/v3`), or empty.
    pub prefix: String,
    pub token: String,
    /// Oldest first; parents come before their children.
    pub commits: Vec<Commit>,
    /// Branch and tag names.
    pub refs: Vec<(String, usize)>,
    /// Answer 403 as to a token without access to the repository.
    pub forbid: bool,
}

/// A 40-hex SHA made from a number, distinct for each.
pub fn sha(i: usize) -> String {
    format!("{:08x}{:032x}", 0xc0ffee00u32 as usize + i, i * 7919)
}

impl GitHub {
    /// A linear history of `n` commits (`main` at the newest), plus a branch
    /// `side` of two commits forked from commit 10, never merged.
    pub fn linear(n: usize) -> Self {
        let mut commits: Vec<Commit> = (0..n)
            .map(|i| Commit { sha: sha(i), parents: i.checked_sub(1).into_iter().collect(), message: format!("change {i}") })
            .collect();
        commits[n / 2].message = "Hostile $(touch pwned) `id` <!channel> {{ secrets.GITHUB_TOKEN }}\n\nbody line".into();
        let fork = commits.len();
        commits.push(Commit { sha: sha(fork), parents: vec![10], message: "side 1".into() });
        commits.push(Commit { sha: sha(fork + 1), parents: vec![fork], message: "side 2".into() });
        GitHub {
            repo: "acme/web".into(),
            prefix: String::new(),
            token: "ghp_standintoken0123456789".into(),
            commits,
            refs: vec![("main".into(), n - 1), ("side".into(), fork + 1)],
            forbid: false,
        }
    }

    /// A ref, full SHA or unique abbreviation (7+ characters) to its commit.
    fn find(&self, r: &str) -> Option<usize> {
        if let Some((_, i)) = self.refs.iter().find(|(name, _)| name == r) {
            return Some(*i);
        }
        let hits: Vec<usize> = (0..self.commits.len()).filter(|i| r.len() >= 7 && self.commits[*i].sha.starts_with(r)).collect();
        if hits.len() == 1 { Some(hits[0]) } else { None }
    }

    fn ancestors(&self, i: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![i];
        while let Some(c) = todo.pop() {
            if seen.insert(c) {
                todo.extend(&self.commits[c].parents);
            }
        }
        seen
    }

    fn commit_json(&self, i: usize) -> Value {
        let c = &self.commits[i];
        let date = format!("2026-01-{:02}T{:02}:{:02}:00Z", 1 + i / 1440 % 28, i / 60 % 24, i % 60);
        let who = json!({ "name": format!("Dev {}", i % 5), "email": format!("dev{}@acme.test", i % 5), "date": date });
        json!({
            "sha": c.sha,
            "node_id": format!("C_{i}"),
            "commit": { "author": who, "committer": who, "message": c.message, "tree": { "sha": sha(100_000 + i) } },
            "author": if i.is_multiple_of(2) { json!({ "login": format!("dev{}", i % 5) }) } else { Value::Null },
            "parents": c.parents.iter().map(|p| json!({ "sha": self.commits[*p].sha })).collect::<Vec<_>>(),
            "html_url": format!("https://github.com/{}/commit/{}", self.repo, c.sha),
        })
    }

    /// Answers a request, checking what GitHub requires of it.
    pub fn handle(&mut self, req: &Recorded) -> Reply {
        if let Err(refused) = self.check(req) {
            return refused;
        }
        let route = req.route().to_owned();
        let Some(rest) = route.strip_prefix(&format!("{}/repos/{}/", self.prefix, self.repo)) else {
            return not_found();
        };
        if let Some(basehead) = rest.strip_prefix("compare/") {
            return self.compare(req, basehead);
        }
        if let Some(r) = rest.strip_prefix("commits/") {
            let r = crate::standin::percent_decode(r);
            return match self.find(&r) {
                Some(i) => limited(json(200, self.commit_json(i))),
                None => limited(json(422, json!({ "message": format!("No commit found for SHA: {r}"), "status": "422" }))),
            };
        }
        not_found()
    }

    fn check(&self, req: &Recorded) -> Result<(), Reply> {
        if req.method != "GET" {
            return Err(json(404, json!({ "message": "Not Found" })));
        }
        if req.header("accept") != Some("application/vnd.github+json") {
            return Err(Reply::new(415, "expected Accept: application/vnd.github+json"));
        }
        if req.header("x-github-api-version") != Some("2022-11-28") {
            return Err(json(400, json!({ "message": "missing or unsupported X-GitHub-Api-Version" })));
        }
        if !req.header("user-agent").is_some_and(|ua| ua.starts_with("slipway/")) {
            return Err(Reply::new(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
            ));
        }
        if req.header("authorization") != Some(&format!("Bearer {}", self.token)) {
            return Err(json(401, json!({ "message": "Bad credentials", "status": "401" })));
        }
        if self.forbid {
            return Err(limited(json(403, json!({ "message": "Resource not accessible by personal access token", "status": "403" }))));
        }
        Ok(())
    }

    fn compare(&self, req: &Recorded, basehead: &str) -> Reply {
        let basehead = crate::standin::percent_decode(basehead);
        let Some((base, head)) = basehead.split_once("...") else { return not_found() };
        let (Some(b), Some(h)) = (self.find(base), self.find(head)) else { return not_found() };
        let per_page: usize = req.query("per_page").and_then(|p| p.parse().ok()).unwrap_or(30).clamp(1, 100);
        let page: usize = req.query("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
        let (from_anc, to_anc) = (self.ancestors(b), self.ancestors(h));
        let listed: Vec<usize> = to_anc.difference(&from_anc).copied().collect(); // by index: parents first
        let behind = from_anc.difference(&to_anc).count();
        let status = match (listed.len(), behind) {
            (0, 0) => "identical",
            (_, 0) => "ahead",
            (0, _) => "behind",
            _ => "diverged",
        };
        let merge_base = *from_anc.intersection(&to_anc).max().unwrap_or(&0);
        let last = listed.len().div_ceil(per_page).max(1);
        let start = (page - 1) * per_page;
        let commits: Vec<Value> = listed.iter().skip(start).take(per_page).map(|i| self.commit_json(*i)).collect();
        let mut reply = limited(json(
            200,
            json!({
                "url": format!("https://api.github.com/repos/{}/compare/{basehead}", self.repo),
                "html_url": format!("https://github.com/{}/compare/{basehead}", self.repo),
                "status": status,
                "ahead_by": listed.len(),
                "behind_by": behind,
                "total_commits": listed.len(),
                "base_commit": self.commit_json(b),
                "merge_base_commit": self.commit_json(merge_base),
                "commits": commits,
                "files": [],
            }),
        ));
        // Absolute links, as GitHub sends them.
        let host = req.header("host").unwrap_or("127.0.0.1").to_owned();
        let link = |p: usize, rel: &str| format!("<http://{host}{}?per_page={per_page}&page={p}>; rel=\"{rel}\"", req.route());
        let mut links = Vec::new();
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
            links.push(link(page - 1, "prev"));
        }
        if !links.is_empty() {
            reply = reply.header("Link", &links.join(", "));
        }
        reply
    }
}

/// The rate-limit headers GitHub sends with every answer.
fn limited(reply: Reply) -> Reply {
    reply.header("x-ratelimit-limit", "5000").header("x-ratelimit-remaining", "4999").header("x-ratelimit-resource", "core")
}

fn not_found() -> Reply {
    json(404, json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest/commits/commits#compare-two-commits" }))
}

/// Starts the stand-in.
pub fn start(gh: GitHub) -> StandIn<GitHub> {
    StandIn::start(gh, |req, gh| gh.handle(req))
}
