//! Stage kinds: one file each, holding the kind's config, its checks and the outputs
//! it declares. Adding a kind: write its file, add one line to `kinds!` below; the
//! compiler then shows the one match arm the executor needs.

mod audit_ticket;
mod changelog;
mod checks;
mod converge;
mod deploy;
mod http;
mod marker;
mod migrate;
mod notify;
mod shell;
mod sinks;
mod spec;

pub use audit_ticket::*;
pub use changelog::*;
pub use checks::exactly_one_source;
pub use converge::*;
pub use deploy::*;
pub use http::*;
pub use marker::*;
pub use migrate::*;
pub use notify::*;
pub use shell::*;
pub use sinks::*;
pub use spec::{CheckContext, KindSpec, OutputDecl, OutputType};

use crate::decode::{Decoder, Fields};
use crate::template::{TemplateField, Templates};

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal => $config:ident, )*) => {
        crate::string_enum! {
            /// What a stage does.
            pub enum Kind { $( $(#[$doc])* $variant = $name, )* }
        }

        /// A stage's kind-specific config. (Built once per stage: the size spread
        /// between kinds costs nothing worth boxing for.)
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        #[serde(untagged)]
        pub enum StageConfig { $( $variant($config), )* }

        impl StageConfig {
            pub fn kind(&self) -> Kind {
                match self { $( StageConfig::$variant(_) => Kind::$variant, )* }
            }

            /// The fields a kind takes beyond the common ones.
            pub fn fields(kind: Kind) -> &'static [&'static str] {
                match kind { $( Kind::$variant => $config::FIELDS, )* }
            }

            pub fn decode_fields(kind: Kind, fields: &Fields<'_>, cx: &mut Decoder) -> Option<Self> {
                match kind { $( Kind::$variant => $config::decode_fields(fields, cx).map(StageConfig::$variant), )* }
            }

            pub fn spec(&self) -> &dyn KindSpec {
                match self { $( StageConfig::$variant(c) => c, )* }
            }

            /// Each kind's config schema, for the stage schema.
            pub fn schemas(generator: &mut schemars::SchemaGenerator) -> Vec<(Kind, schemars::Schema)> {
                vec![$( (Kind::$variant, generator.root_schema_for::<$config>()), )*]
            }
        }
    };
}

kinds! {
    /// Run config management (chef-client, puppet, ansible-pull, any command) on every host of a role.
    Converge = "converge" => ConvergeConfig,
    /// Zero-downtime rolling deploy of a release to every host of a role.
    Deploy = "deploy" => DeployConfig,
    /// Run the database migration command once, on one host, under a lock.
    Migrate = "migrate" => MigrateConfig,
    /// Commits since the last deployed revision, from GitHub or a local git repository.
    Changelog = "changelog" => ChangelogConfig,
    /// An auditable JIRA change ticket, created exactly once per run.
    AuditTicket = "audit_ticket" => AuditTicketConfig,
    /// A deploy event for Datadog, Grafana, Elasticsearch, Redis (Logstash) or a webhook.
    Marker = "marker" => MarkerConfig,
    /// A chat message to Slack, Microsoft Teams, Mattermost or a webhook.
    Notify = "notify" => NotifyConfig,
    /// A shell command, locally or on every host of a role.
    Shell = "shell" => ShellConfig,
    /// One HTTP request; outputs picked from its JSON response.
    Http = "http" => HttpConfig,
}

impl Templates for StageConfig {
    fn each_template<'a>(&'a self, out: &mut Vec<TemplateField<'a>>) {
        self.spec().each_template(out)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StageCommon;

    #[test]
    fn no_kind_field_shadows_a_common_field() {
        for kind in Kind::NAMES {
            let kind = Kind::from_name(kind).unwrap();
            for field in StageConfig::fields(kind) {
                assert!(!StageCommon::FIELDS.contains(field) && *field != "kind", "`{field}` of `{kind}` shadows a common stage field");
            }
        }
    }
}
