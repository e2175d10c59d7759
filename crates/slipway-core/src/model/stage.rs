//! A stage: the fields every kind shares, and its kind-specific config.

use crate::decode::{Decoder, DurationValue, Key, Spanned};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::kinds::{Kind, StageConfig};
use crate::model::Retry;
use crate::template::Template;
use crate::yaml::Node;
use crate::{config_struct, string_enum};

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub id: Key,
    pub kind: Spanned<Kind>,
    pub common: StageCommon,
    pub config: StageConfig,
}

string_enum! {
    default Success;
    /// When a stage runs, given how the stages it depends on ended.
    pub enum When {
        /// Every dependency succeeded (the default).
        Success = "success",
        /// At least one stage of the run failed: rollbacks, alerts.
        Failure = "failure",
        /// Whatever happened: end markers, notifications, clean-up.
        Always = "always",
    }
}

config_struct! {
    /// Fields every stage kind takes.
    pub struct StageCommon {
        /// Stages that must settle before this one starts. A template reading
        /// `stages.ID.…` adds that dependency by itself.
        #[serde(default)]
        pub needs: Vec<Key>,
        /// `success` (default), `failure` or `always`.
        #[serde(default)]
        pub when: When,
        /// A Handlebars condition; the stage is skipped when it renders empty, zero, or `false`, `no`, `off`, `null`, `none` (any case).
        pub r#if: Option<Template>,
        /// How this stage retries transient failures (default: `defaults.retry`,
        /// else no retry).
        pub retry: Option<Retry>,
        /// How long one attempt may take.
        pub timeout: Option<Spanned<DurationValue>>,
        /// What the stage is for, for people.
        pub description: Option<String>,
    }
}

impl Stage {
    /// Decodes one stage. The kind decides which further fields are allowed.
    pub fn decode_with_id(id: Key, node: &Node, cx: &mut Decoder) -> Option<Stage> {
        let fields = cx.mapping(node)?;
        let Some((_, kind_node)) = fields.find("kind") else {
            fields.report_missing(cx, "kind", &format!("one of {}", Decoder::quoted_list(Kind::NAMES)));
            return None;
        };
        let kind_text = cx.string(kind_node, "a stage kind")?;
        let Some(kind) = Kind::from_name(kind_text) else {
            let help = did_you_mean(kind_text, Kind::NAMES.iter().copied())
                .unwrap_or_else(|| format!("use one of {}", Decoder::quoted_list(Kind::NAMES)));
            cx.push(Diagnostic::error(Code::UnknownKind, kind_node.span, format!("unknown stage kind `{kind_text}`")).with_help(help));
            return None;
        };
        let mut known = vec!["kind"];
        known.extend_from_slice(StageCommon::FIELDS);
        known.extend_from_slice(StageConfig::fields(kind));
        fields.finish(cx, &known, &format!("a `{kind_text}` stage"));
        let common = StageCommon::decode_fields(&fields, cx);
        let config = StageConfig::decode_fields(kind, &fields, cx);
        Some(Stage { id, kind: Spanned::new(kind, kind_node.span), common: common?, config: config? })
    }
}

impl serde::Serialize for Stage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Repr<'a> {
            kind: &'static str,
            #[serde(flatten)]
            common: &'a StageCommon,
            #[serde(flatten)]
            config: &'a StageConfig,
        }
        Repr { kind: self.kind.as_str(), common: &self.common, config: &self.config }.serialize(s)
    }
}
