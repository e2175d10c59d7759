//! `changelog` run for real: the `git` source on real repositories made with
//! the git CLI (merges, over a thousand commits), the `github` source against
//! the GitHub stand-in, `from` read from a service or the journal, and plans.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::github_standin::{self, GitHub, sha};
use crate::sandbox::{Sandbox, events, of};
use crate::standin::{Fault, Reply, StandIn, json};
use crate::support::stdout;

/// A secret the pipelines hold: it must never show.
const TOKEN: &str = "s3cr3t-t0ken-value-42";

/// A repository made with `git fast-import` (identities and dates fixed in the
/// stream, so every run makes the same SHAs): `n` commits on `main`; every
/// 100th merges a branch `feature-K` of three commits forked from the commit
/// before it; `wip` holds two commits off main commit 5, never merged; tag
/// `v1` is main commit 10. Main commit 650's subject is hostile.
struct Repo {
    dir: std::path::PathBuf,
    /// SHAs of the main commits, by number.
    main: Vec<String>,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@acme.test")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@acme.test")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn make_repo(sb: &Sandbox, n: usize) -> Repo {
    let dir = sb.path("repo");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "--initial-branch=main"]);
    let mut stream = String::new();
    let mut mark = 0;
    let mut commit = |stream: &mut String, branch: &str, msg: &str, parents: &[usize]| -> usize {
        mark += 1;
        let who = format!("Dev {} <dev{}@acme.test> {} +0000", mark % 5, mark % 5, 1_700_000_000 + mark * 60);
        stream.push_str(&format!("commit refs/heads/{branch}\nmark :{mark}\nauthor {who}\ncommitter {who}\ndata {}\n{msg}\n", msg.len()));
        if let Some(first) = parents.first() {
            stream.push_str(&format!("from :{first}\n"));
        }
        for p in &parents[1.min(parents.len())..] {
            stream.push_str(&format!("merge :{p}\n"));
        }
        mark
    };
    let mut main_marks: Vec<usize> = Vec::new();
    for i in 0..n {
        let prev: Vec<usize> = main_marks.last().copied().into_iter().collect();
        let m = if i > 0 && i % 100 == 0 {
            let mut tip = prev[0];
            for k in 0..3 {
                tip = commit(&mut stream, &format!("feature-{}", i / 100), &format!("feature {} part {k}", i / 100), &[tip]);
            }
            commit(&mut stream, "main", &format!("Merge branch 'feature-{}'", i / 100), &[prev[0], tip])
        } else {
            let msg = match i {
                650 => "Hostile $(touch pwned) `id` <!channel> {{ secrets.TOKEN }}".to_owned(),
                651 => "A subject\nover two lines\n\nand a body".to_owned(),
                _ => format!("change {i}"),
            };
            commit(&mut stream, "main", &msg, &prev)
        };
        main_marks.push(m);
        if i == 5 {
            let w = commit(&mut stream, "wip", "wip 1", &[m]);
            commit(&mut stream, "wip", "wip 2", &[w]);
        }
    }
    let marks = sb.path("marks");
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet", &format!("--export-marks={}", marks.display())])
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), stream.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let by_mark: std::collections::BTreeMap<usize, String> = std::fs::read_to_string(marks)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(':')?.split_once(' ').map(|(m, s)| (m.parse().unwrap(), s.to_owned())))
        .collect();
    let main: Vec<String> = main_marks.iter().map(|m| by_mark[m].clone()).collect();
    git(&dir, &["tag", "v1", &main[10]]);
    Repo { dir, main }
}

/// `git rev-list --reverse RANGE`: what the changelog must list, oldest first.
fn rev_list(repo: &Repo, range: &str) -> Vec<String> {
    git(&repo.dir, &["rev-list", "--reverse", range]).lines().map(str::to_owned).collect()
}

fn pipeline(fields: &str) -> String {
    format!(
        "version: 1\nname: web\nparams:\n  environment: {{ default: prod }}\nsecrets:\n  TOKEN: {{ env: CHANGELOG_TEST_TOKEN }}\n\
         stages:\n  changes:\n    kind: changelog\n    retry: {{ attempts: 3, backoff: 10ms }}\n{fields}"
    )
}

/// Runs `slipway ARGS --format json` with the secret set.
fn run(sb: &Sandbox, args: &[&str]) -> (Output, Vec<Value>) {
    let out = sb.command(&[args, &["--format", "json"]].concat()).env("CHANGELOG_TEST_TOKEN", TOKEN).output().unwrap();
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains(TOKEN), "the secret leaked: {text}");
    assert!(!sb.path("pwned").exists() && !sb.path("repo/pwned").exists(), "a commit subject was executed");
    let evs = events(&out.stdout);
    (out, evs)
}

fn finished(evs: &[Value]) -> Value {
    of(evs, "stage_finished", "changes").first().map(|e| (*e).clone()).unwrap_or(Value::Null)
}

fn succeeded(out: &Output, evs: &[Value]) -> Value {
    let end = finished(evs);
    assert_eq!(end["status"], "succeeded", "{}{}", stdout(out), String::from_utf8_lossy(&out.stderr));
    end["outputs"].clone()
}

fn log_lines(evs: &[Value], stream: &str) -> Vec<String> {
    of(evs, "log", "changes").iter().filter(|e| e["stream"] == stream).map(|e| e["line"].as_str().unwrap_or_default().to_owned()).collect()
}

fn shas(outputs: &Value) -> Vec<String> {
    outputs["commits"].as_array().unwrap().iter().map(|c| c["sha"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn git_lists_over_a_thousand_commits_with_merges_oldest_first() {
    let sb = Sandbox::new("changelog-git-all");
    let repo = make_repo(&sb, 1200);
    sb.write("p.yaml", &pipeline("    from: v1\n    to: main\n    max_commits: 2000\n    git: { path: repo }\n"));
    let (out, evs) = run(&sb, &["run", "p.yaml"]);
    let o = succeeded(&out, &evs);
    let expected = rev_list(&repo, "v1..main");
    assert!(expected.len() > 1000, "{}", expected.len());
    assert_eq!(shas(&o), expected);
    assert_eq!(
        (o["count"].as_u64(), &o["truncated"], &o["from_source"]),
        (Some(expected.len() as u64), &Value::Bool(false), &"from".into())
    );
    assert_eq!(
        (o["from"].as_str(), o["to"].as_str(), o["compare_url"].as_str()),
        (Some(&*repo.main[10]), Some(&*repo.main[1199]), Some(""))
    );
    let commits = o["commits"].as_array().unwrap();
    let subject = |s: &str| commits.iter().find(|c| c["subject"] == s).cloned();
    assert!(subject("Merge branch 'feature-3'").is_some() && subject("feature 3 part 1").is_some(), "merges and what they bring");
    let hostile = subject("Hostile $(touch pwned) `id` <!channel> {{ secrets.TOKEN }}").expect("the subject, as written");
    assert_eq!(hostile["short_sha"].as_str(), Some(&repo.main[650][..7]));
    assert!(hostile["email"].as_str().unwrap().ends_with("@acme.test") && hostile["author"].as_str().unwrap().starts_with("Dev "));
    assert!(subject("A subject over two lines").is_some(), "a subject is the first paragraph on one line");
    let text = o["text"].as_str().unwrap();
    assert_eq!(text.lines().count(), expected.len());
    let line = format!(
        "{} Hostile $(touch pwned) `id` <!channel> {{{{ secrets.TOKEN }}}} ({})",
        &repo.main[650][..7],
        hostile["author"].as_str().unwrap()
    );
    assert!(text.lines().any(|l| l == line), "{line}");
    assert!(commits[0]["date"].as_str().unwrap().starts_with("2023-11-14T22:"), "{}", commits[0]["date"]);
}

#[test]
fn git_keeps_the_newest_max_commits_and_says_so() {
    let sb = Sandbox::new("changelog-git-max");
    let repo = make_repo(&sb, 1200);
    sb.write("p.yaml", &pipeline("    from: v1\n    to: main\n    git: { path: repo }\n"));
    let (out, evs) = run(&sb, &["run", "p.yaml"]);
    let o = succeeded(&out, &evs);
    let expected = rev_list(&repo, "v1..main");
    assert_eq!(shas(&o), expected[expected.len() - 250..], "the newest 250, oldest first");
    assert_eq!((o["count"].as_u64(), &o["truncated"]), (Some(expected.len() as u64), &Value::Bool(true)));
    // From == to, named two ways: nothing to list.
    sb.write("q.yaml", &pipeline(&format!("    from: main\n    to: {}\n    git: {{ path: repo }}\n", repo.main[1199])));
    let (out, evs) = run(&sb, &["run", "q.yaml"]);
    let o = succeeded(&out, &evs);
    assert_eq!((o["count"].as_u64(), o["commits"].as_array().map(Vec::len)), (Some(0), Some(0)));
    assert_eq!(
        (o["from"].as_str(), o["to"].as_str(), &o["truncated"]),
        (Some(&*repo.main[1199]), Some(&*repo.main[1199]), &Value::Bool(false))
    );
}

#[test]
fn git_unknown_shas_fail_at_once_and_rewritten_history_warns() {
    let sb = Sandbox::new("changelog-git-errors");
    let repo = make_repo(&sb, 120);
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    sb.write("p.yaml", &pipeline(&format!("    from: {unknown}\n    to: main\n    git: {{ path: repo }}\n")));
    let (out, evs) = run(&sb, &["run", "p.yaml"]);
    let end = finished(&evs);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!((&end["status"], &end["attempts"]), (&Value::from("failed"), &Value::from(1)), "permanent: not retried");
    assert!(end["reason"].as_str().unwrap().contains(&format!("unknown revision `{unknown}` (`from`)")), "{}", end["reason"]);
    // `wip` forked before and was never merged: a warning, and the commits `main` has that `wip` lacks.
    sb.write("q.yaml", &pipeline("    from: wip\n    to: main\n    max_commits: 1000\n    git: { path: repo }\n"));
    let (out, evs) = run(&sb, &["run", "q.yaml"]);
    let o = succeeded(&out, &evs);
    assert_eq!(shas(&o), rev_list(&repo, "wip..main"));
    let warned = log_lines(&evs, "stderr");
    assert!(
        warned.iter().any(|l| l.starts_with("warning: ") && l.contains("is not an ancestor of") && l.contains("rollback")),
        "{warned:?}"
    );
    // No repository there: said, with the field to fix.
    sb.write("r.yaml", &pipeline("    from: v1\n    to: main\n    git: { path: . }\n"));
    let (_, evs) = run(&sb, &["run", "r.yaml"]);
    assert!(finished(&evs)["reason"].as_str().unwrap().contains("`git.path`"), "{}", finished(&evs)["reason"]);
}

/// A service's deployment-info endpoint that reports `sha` and wants its key.
fn deployment_info(sha: String) -> StandIn<String> {
    StandIn::start(sha, |req, sha| {
        if req.method != "GET" || req.route() != "/deployment-info" {
            return Reply::new(404, "no such endpoint");
        }
        if req.header("x-api-key") != Some(TOKEN) || req.header("accept") != Some("application/json") {
            return Reply::new(401, "missing X-Api-Key or Accept");
        }
        json(200, serde_json::json!({ "git": { "commit": { "id": sha.clone(), "time": "2026-01-01" } }, "build": { "version": "1.2" } }))
    })
}

#[test]
fn git_from_an_abbreviated_sha_the_service_reports() {
    let sb = Sandbox::new("changelog-git-info");
    let repo = make_repo(&sb, 400);
    let service = deployment_info(repo.main[300][..9].to_owned());
    let info = format!(
        "    deployment_info:\n      url: {}\n      pointer: /git/commit/id\n      headers: {{ X-Api-Key: '{{{{ secrets.TOKEN }}}}', Accept: application/json }}\n",
        service.url("/deployment-info")
    );
    sb.write("p.yaml", &pipeline(&format!("{info}    to: main\n    git: {{ path: repo }}\n")));
    let (out, evs) = run(&sb, &["run", "p.yaml"]);
    let o = succeeded(&out, &evs);
    assert_eq!(
        (o["from"].as_str(), &o["from_source"]),
        (Some(&*repo.main[300]), &Value::from("deployment_info")),
        "resolved to the full SHA"
    );
    assert_eq!(shas(&o), rev_list(&repo, &format!("{}..main", repo.main[300])));
    assert_eq!(service.requests("GET", "/deployment-info").len(), 1);
    let said = log_lines(&evs, "stdout");
    assert!(said.iter().any(|l| l.contains("deployed, says") && l.contains("/deployment-info")), "{said:?}");
}

#[test]
fn git_from_the_journal_of_the_last_good_run_of_the_same_environment() {
    let sb = Sandbox::new("changelog-git-journal");
    let repo = make_repo(&sb, 300);
    let no_from = pipeline("    to: main\n    git: { path: repo }\n");
    // No `from`, no `deployment_info`, no earlier run: all three named.
    sb.write("p.yaml", &no_from);
    let (out, evs) = run(&sb, &["run", "p.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    let reason = finished(&evs)["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("`from`") && reason.contains("`deployment_info`") && reason.contains("journal"), "{reason}");
    // The first deploy names its start; it deploys main commit 200.
    sb.write("first.yaml", &pipeline(&format!("    from: v1\n    to: {}\n    git: {{ path: repo }}\n", repo.main[200])));
    let (out, evs) = run(&sb, &["run", "first.yaml"]);
    succeeded(&out, &evs);
    // The same pipeline, later, without `from`: it starts where that run ended.
    let (out, evs) = run(&sb, &["run", "p.yaml"]);
    let o = succeeded(&out, &evs);
    assert_eq!((o["from"].as_str(), &o["from_source"]), (Some(&*repo.main[200]), &Value::from("journal")));
    assert_eq!(shas(&o), rev_list(&repo, &format!("{}..main", repo.main[200])));
    assert!(log_lines(&evs, "stdout").iter().any(|l| l.contains("last run that succeeded (journal)")));
    // A plan reading live sees the same.
    let out = sb.command(&["plan", "--live-reads", "p.yaml", "--format", "json"]).env("CHANGELOG_TEST_TOKEN", TOKEN).output().unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).expect("a JSON plan");
    assert_eq!(plan["stages"][0]["live"], true);
    assert_eq!(plan["stages"][0]["outputs"]["from"].as_str(), Some(&*repo.main[299]));
    // Another environment has its own history: none yet.
    let (_, evs) = run(&sb, &["run", "p.yaml", "--param", "environment=staging"]);
    assert_eq!(finished(&evs)["status"], "failed");
}

fn github_pipeline(gh: &StandIn<GitHub>, fields: &str) -> String {
    pipeline(&format!(
        "{fields}    github: {{ repo: acme/web, api_base: '{}', token: '{{{{ secrets.TOKEN }}}}' }}\n",
        gh.url(&gh.with_state(|s| s.prefix.clone()))
    ))
}

fn standin(commits: usize) -> StandIn<GitHub> {
    github_standin::start(GitHub { token: TOKEN.into(), prefix: "/api/v3".into(), ..GitHub::linear(commits) })
}

/// The `page` of each compare request, in order.
fn pages(gh: &StandIn<GitHub>) -> Vec<String> {
    gh.requests("GET", "/compare/").iter().map(|r| r.query("page").unwrap_or_default()).collect()
}

#[test]
fn github_reads_600_commits_over_pages() {
    let gh = standin(601);
    let sb = Sandbox::new("changelog-gh-600");
    sb.write("p.yaml", &github_pipeline(&gh, &format!("    from: {}\n    to: main\n    max_commits: 1000\n", sha(0))));
    let (out, evs) = run(&sb, &["run", "p.yaml"]);
    let o = succeeded(&out, &evs);
    assert_eq!(pages(&gh), ["1", "2", "3", "4", "5", "6"], "followed `Link: rel=next` to the end");
    assert!(gh.requests("GET", "/compare/").iter().all(|r| r.query("per_page").as_deref() == Some("100")));
    assert_eq!(shas(&o), (1..=600).map(sha).collect::<Vec<_>>());
    assert_eq!((o["count"].as_u64(), &o["truncated"], o["to"].as_str()), (Some(600), &Value::Bool(false), Some(&*sha(600))));
    assert_eq!(o["compare_url"].as_str(), Some(&*format!("https://github.com/acme/web/compare/{}...main", sha(0))));
    let hostile = &o["commits"][299];
    assert_eq!(hostile["subject"], "Hostile $(touch pwned) `id` <!channel> {{ secrets.GITHUB_TOKEN }}");
    assert_eq!((&hostile["author"], &hostile["email"]), (&Value::from("Dev 0"), &Value::from("dev0@acme.test")));
}

#[test]
fn github_keeps_the_newest_commits_without_reading_older_pages() {
    let gh = standin(601);
    let sb = Sandbox::new("changelog-gh-newest");
    // An abbreviated SHA is resolved first, through the commits endpoint.
    sb.write("p.yaml", &github_pipeline(&gh, &format!("    from: {}\n    to: main\n", &sha(0)[..10])));
    let (out, evs) = run(&sb, &["run", "p.yaml"]);
    let o = succeeded(&out, &evs);
    assert_eq!(gh.requests("GET", "/commits/").len(), 1);
    assert_eq!(pages(&gh), ["1", "4", "5", "6"], "pages 2 and 3 hold only older commits");
    assert_eq!(shas(&o), (351..=600).map(sha).collect::<Vec<_>>());
    assert_eq!((o["count"].as_u64(), &o["truncated"], o["from"].as_str()), (Some(600), &Value::Bool(true), Some(&*sha(0))));
    // Identical, and diverged (a warning).
    sb.write("q.yaml", &github_pipeline(&gh, "    from: main\n    to: main\n"));
    let (out, evs) = run(&sb, &["run", "q.yaml"]);
    let o = succeeded(&out, &evs);
    assert_eq!((o["count"].as_u64(), o["from"].as_str(), o["to"].as_str()), (Some(0), Some(&*sha(600)), Some(&*sha(600))));
    sb.write("r.yaml", &github_pipeline(&gh, "    from: side\n    to: main\n    max_commits: 1000\n"));
    let (out, evs) = run(&sb, &["run", "r.yaml"]);
    let o = succeeded(&out, &evs);
    assert_eq!(shas(&o), (11..=600).map(sha).collect::<Vec<_>>());
    assert!(log_lines(&evs, "stderr").iter().any(|l| l.contains("is not an ancestor of")));
    // Going back (a rollback): nothing to list, a warning, and `to` looked up.
    sb.write("s.yaml", &github_pipeline(&gh, &format!("    from: main\n    to: {}\n", &sha(300)[..12])));
    let (out, evs) = run(&sb, &["run", "s.yaml"]);
    let o = succeeded(&out, &evs);
    assert_eq!((o["count"].as_u64(), o["from"].as_str(), o["to"].as_str()), (Some(0), Some(&*sha(600)), Some(&*sha(300))));
    assert!(log_lines(&evs, "stderr").iter().any(|l| l.contains("rollback")));
}

#[test]
fn github_rate_limits_are_waited_out() {
    let gh = standin(150);
    let sb = Sandbox::new("changelog-gh-429");
    gh.fault("/compare/", Fault::Answer(Reply::new(429, "{\"message\": \"slow down\"}").header("Retry-After", "1")));
    let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let exhausted = Reply::new(403, "{\"message\": \"API rate limit exceeded\"}")
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset", &reset.to_string());
    gh.fault("/compare/", Fault::Answer(exhausted));
    sb.write("p.yaml", &github_pipeline(&gh, &format!("    from: {}\n    to: main\n", sha(0))));
    let (out, evs) = run(&sb, &["run", "p.yaml"]);
    let o = succeeded(&out, &evs);
    assert_eq!(o["count"].as_u64(), Some(149));
    let failed = of(&evs, "attempt_failed", "changes");
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|f| f["transient"] == true && f["retry_in_ms"].as_u64().unwrap() >= 1000), "{failed:?}");
    let reqs = gh.requests("GET", "/compare/");
    assert!(reqs[1].at.duration_since(reqs[0].at).as_millis() >= 1000, "Retry-After was not waited out");
}

#[test]
fn github_refusals_and_unknown_revisions_are_permanent() {
    let gh = standin(50);
    let sb = Sandbox::new("changelog-gh-403");
    gh.with_state(|s| s.forbid = true);
    sb.write("p.yaml", &github_pipeline(&gh, &format!("    from: {}\n    to: main\n", sha(0))));
    let (_, evs) = run(&sb, &["run", "p.yaml"]);
    let end = finished(&evs);
    assert_eq!((&end["status"], &end["attempts"]), (&Value::from("failed"), &Value::from(1)));
    assert!(end["reason"].as_str().unwrap().contains("HTTP 403") && end["reason"].as_str().unwrap().contains("`github.token`"), "{end}");
    gh.with_state(|s| s.forbid = false);
    let unknown = "feedface0123456789abcdef0123456789abcdef";
    sb.write("q.yaml", &github_pipeline(&gh, &format!("    from: {unknown}\n    to: main\n")));
    let (_, evs) = run(&sb, &["run", "q.yaml"]);
    let end = finished(&evs);
    assert_eq!(end["attempts"], 1);
    assert!(end["reason"].as_str().unwrap().contains(&format!("unknown revision `{unknown}` (`from`) in acme/web")), "{end}");
}

#[test]
fn plans_show_the_requests_a_run_sends_readably() {
    let gh = standin(20);
    let sb = Sandbox::new("changelog-plan");
    let info = "    deployment_info: { url: 'https://web.internal/deployment-info', pointer: /sha }\n";
    sb.write("p.yaml", &github_pipeline(&gh, &format!("{info}    to: '{{{{ params.environment }}}}-head'\n")));
    let out = sb.command(&["plan", "p.yaml"]).output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("GET https://web.internal/deployment-info"), "{text}");
    let compare =
        format!("{}/repos/acme/web/compare/<deployed SHA at /sha in the response>...prod-head?per_page=100&page=1", gh.url("/api/v3"));
    assert!(text.contains(&compare) && !text.contains("%3C"), "{text}");
    assert!(text.contains("Authorization: ***") && text.contains("User-Agent: slipway/"), "{text}");
    // The journal as the source; the git command as it runs.
    sb.write("q.yaml", &pipeline("    to: main\n    max_commits: 40\n    git: { path: repo }\n"));
    let text = stdout(&sb.command(&["plan", "q.yaml"]).output().unwrap());
    assert!(text.contains("the last successful run of this pipeline to `prod`, from the journal"), "{text}");
    assert!(
        text.contains("git log --no-show-signature --reverse --max-count=41")
            && text.contains("'<SHA the last successful run deployed>..main'"),
        "{text}"
    );
}

#[test]
fn from_and_deployment_info_are_both_optional_but_exclusive() {
    let out = crate::support::slipway(&["validate", "--deny-warnings", "tests/fixtures/valid/changelog-sources.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = crate::support::slipway(&["validate", "tests/fixtures/invalid/50-changelog-from-and-deployment-info.yaml"]);
    assert!(stdout(&out).contains("conflicting-fields"), "{}", stdout(&out));
}
