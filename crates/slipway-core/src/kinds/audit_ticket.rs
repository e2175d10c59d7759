//! `audit_ticket`: a JIRA change ticket, created exactly once per run.

use super::checks;
use super::{CheckContext, KindSpec, OutputDecl, OutputType};
use crate::config_struct;
use crate::decode::{Bounded, Spanned};
use crate::template::Template;

config_struct! {
    /// The JIRA site and credentials.
    pub struct JiraTarget {
        /// `https://SITE.atlassian.net`, or a Data Center base URL with its context path.
        pub url: Template,
        /// REST API version: 2 (Cloud and Data Center, the default) or 3 (Cloud, ADF descriptions).
        pub api_version: Option<Bounded<2, 3>>,
        /// With `email`: Cloud basic auth (email + API token). Without: a Data Center bearer token.
        pub email: Option<Template>,
        /// Cloud: an API token (with `email`). Data Center: a personal access token.
        pub token: Template,
    }
}

config_struct! {
    /// Creates a change ticket holding the changelog. The run's idempotency key goes
    /// into a label, so a retried or resumed run finds its ticket instead of making another.
    pub struct AuditTicketConfig {
        /// The JIRA site and the credentials to create the ticket with.
        pub jira: JiraTarget,
        /// Project key, e.g. `OPS`.
        pub project: Spanned<String>,
        /// Issue type (default `Task`).
        pub issue_type: Option<String>,
        /// The ticket's title, e.g. `Deploy {{ params.version }} to production`.
        pub summary: Template,
        /// The ticket's description (JIRA's `description` field); `description` on a
        /// stage is the stage's own.
        pub body: Option<Template>,
        /// Labels for the ticket. Slipway adds `slipway-<run id>-<stage id>`, which a
        /// retry or a resume searches for before creating anything.
        #[serde(default)]
        pub labels: Vec<Template>,
        /// A workflow transition to apply once created, by name (e.g. `Approved`).
        pub transition: Option<Template>,
    }
}

impl KindSpec for AuditTicketConfig {
    fn outputs(&self) -> Vec<OutputDecl> {
        vec![
            OutputDecl::new("key", OutputType::String, "the ticket key, e.g. OPS-24"),
            OutputDecl::new("id", OutputType::String, "the ticket id"),
            OutputDecl::new("url", OutputType::String, "a browser link to the ticket"),
        ]
    }

    fn check(&self, cx: &mut CheckContext<'_>) {
        checks::url(cx, &self.jira.url, &["http", "https"]);
    }
}
