//! `changelog`: commits since the last deployed revision.

use indexmap::IndexMap;

use super::checks::{self, exactly_one, span_of};
use super::{CheckContext, KindSpec, OutputDecl, OutputType};
use crate::config_struct;
use crate::decode::{Bounded, Key, Spanned};
use crate::diagnostic::{Code, Diagnostic};
use crate::template::Template;

config_struct! {
    /// The service endpoint that reports which revision is deployed.
    pub struct DeploymentInfo {
        /// e.g. `https://api.internal/actuator/info` or `/__version__`.
        pub url: Template,
        /// JSON pointer to the SHA in the response: `/git/commit/id` (Spring), `/commit` (Dockerflow).
        pub pointer: Spanned<String>,
        /// Headers for the request, e.g. `Authorization: "Bearer {{ secrets.TOKEN }}"`.
        #[serde(default)]
        pub headers: IndexMap<Key, Template>,
    }
}

config_struct! {
    /// Commits from the GitHub compare API.
    pub struct GithubSource {
        /// `owner/name`.
        pub repo: Spanned<String>,
        /// API base (default `https://api.github.com`; GitHub Enterprise: `https://HOST/api/v3`).
        pub api_base: Option<Template>,
        /// Token sent as `Authorization: Bearer`; use a secret.
        pub token: Option<Template>,
    }
}

config_struct! {
    /// Commits from a local git repository.
    pub struct GitSource {
        /// Path to the repository, relative to the pipeline file (default: the pipeline file's directory).
        pub path: Option<Template>,
    }
}

config_struct! {
    /// Lists the commits between the deployed revision and the one going out.
    pub struct ChangelogConfig {
        /// The deployed revision, given directly. Without it, `deployment_info`
        /// says; without either, the `to` of this stage in the last run that
        /// succeeded (same pipeline, same `environment` param), from the journal.
        pub from: Option<Template>,
        /// The deployed revision, read from the service. An abbreviated SHA (7 or
        /// more hex digits) is resolved to the full one.
        pub deployment_info: Option<Spanned<DeploymentInfo>>,
        /// The revision going out (SHA, tag or branch).
        pub to: Template,
        /// Read the commits from GitHub's compare API.
        pub github: Option<Spanned<GithubSource>>,
        /// Read the commits from a git repository on this machine.
        pub git: Option<Spanned<GitSource>>,
        /// Keep the newest this many commits (default 250): `count` still says
        /// how many there are, and `truncated` whether some were left out.
        pub max_commits: Option<Bounded<1, 10000>>,
    }
}

impl KindSpec for ChangelogConfig {
    fn outputs(&self) -> Vec<OutputDecl> {
        vec![
            OutputDecl::new("commits", OutputType::List, "oldest first: sha, short_sha, author, email, date, subject")
                .untrusted()
                .with_fields(&["sha", "short_sha", "author", "email", "date", "subject"]),
            OutputDecl::new("count", OutputType::Number, "how many commits"),
            OutputDecl::new("from", OutputType::String, "the deployed revision (full SHA)"),
            OutputDecl::new("to", OutputType::String, "the revision going out (full SHA)"),
            OutputDecl::new("compare_url", OutputType::String, "a link to the comparison, when known"),
            OutputDecl::new("text", OutputType::String, "one line per commit: short SHA, subject, author").untrusted(),
            OutputDecl::new(
                "truncated",
                OutputType::Bool,
                "true when there were more than `max_commits` commits: `commits` holds the newest",
            ),
            OutputDecl::new("from_source", OutputType::String, "where `from` came from: `from`, `deployment_info` or `journal`"),
        ]
    }

    fn read_only(&self) -> bool {
        true
    }

    fn check(&self, cx: &mut CheckContext<'_>) {
        // At most one: with neither, the journal says what was deployed last.
        if self.from.is_some() && self.deployment_info.is_some() {
            exactly_one(cx, &[("from", self.from.as_ref().map(|t| t.span)), ("deployment_info", span_of(&self.deployment_info))]);
        }
        exactly_one(cx, &[("github", span_of(&self.github)), ("git", span_of(&self.git))]);
        if let Some(info) = &self.deployment_info {
            checks::url(cx, &info.url, &["http", "https"]);
            checks::pointer(cx, &info.pointer);
        }
        if let Some(gh) = &self.github {
            let parts: Vec<&str> = gh.repo.split('/').collect();
            if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                cx.push(
                    Diagnostic::error(Code::InvalidValue, gh.repo.span, format!("`{}` is not `owner/name`", gh.repo.value))
                        .with_help("write the repository as `owner/name`, e.g. `opentable/restaurant-api`"),
                );
            }
            if let Some(base) = &gh.api_base {
                checks::url(cx, base, &["http", "https"]);
            }
        }
    }
}
