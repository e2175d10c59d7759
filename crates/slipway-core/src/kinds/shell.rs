//! `shell`: a command run with bash, locally or on every host of a role.

use std::borrow::Cow;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::{KindSpec, OutputDecl, OutputType};
use crate::config_struct;
use crate::decode::{Bounded, Decode, Decoder, Key};
use crate::diagnostic::{Code, Diagnostic};
use crate::template::{Command, Template, TemplateField, Templates};
use crate::yaml::Node;

config_struct! {
    /// Runs a command with `bash -euo pipefail -c`.
    pub struct ShellConfig {
        /// The command. Pass untrusted values through `env:` and quote them: `"$VERSION"`.
        pub run: Command,
        /// Environment variables for the command, rendered first.
        #[serde(default)]
        pub env: IndexMap<Key, Template>,
        /// Working folder. A local command (or one on a `transport: local` host)
        /// runs at the project's root, the nearest folder at or above the
        /// pipeline file holding `.git` or `.slipway` (without one, the pipeline
        /// file's folder), as in GitHub Actions, and a relative `workdir` starts
        /// there. Over SSH it starts at the login user's home.
        pub workdir: Option<Template>,
        /// Run on every host of this role (over SSH, or locally for `transport: local`
        /// hosts) instead of here. `run`, `env` and `workdir` render per host
        /// (`{{ host.name }}`); output lines carry the host's name.
        pub hosts: Option<Key>,
        /// With `hosts`: how many hosts run the command at once (default: all).
        pub concurrency: Option<Bounded<1, 1000>>,
        /// Outputs the command writes to the file at `$SLIPWAY_OUTPUT`, as
        /// `name=value` lines or `name<<EOF` … `EOF` blocks (text), or to the file
        /// at `$SLIPWAY_OUTPUT_JSON` as members of a JSON object (typed: a list, a
        /// number; local commands only). Every name either file holds must be
        /// declared here. A failed command keeps what it wrote, for the stages
        /// that run after a failure.
        #[serde(default)]
        pub outputs: Vec<Key>,
        /// Exit codes that mean "try again" (retried like timeouts, as `retry`
        /// allows): a list (`[75]`), or `any` for every non-zero exit. Others fail
        /// the stage at once.
        #[serde(default)]
        pub retry_on_exit_codes: ExitCodes,
    }
}

/// The fields of each entry of a per-host stage's `hosts` output.
pub const HOST_RESULT_FIELDS: &[&str] = &["name", "status", "exit_code", "duration_ms"];

impl KindSpec for ShellConfig {
    fn check(&self, cx: &mut super::CheckContext<'_>) {
        for name in &self.outputs {
            super::checks::output_name(cx, name);
        }
        self.check_retry(cx);
    }

    fn host_role(&self) -> Option<&Key> {
        self.hosts.as_ref()
    }

    fn outputs(&self) -> Vec<OutputDecl> {
        let mut out: Vec<OutputDecl> = self
            .outputs
            .iter()
            .map(|o| OutputDecl::new(o.value.clone(), OutputType::String, "declared under `outputs` (typed when written as JSON)"))
            .collect();
        out.push(OutputDecl::new("exit_code", OutputType::Number, "the command's exit code (128 + N when killed by signal N)"));
        if self.hosts.is_some() {
            out.push(
                OutputDecl::new("hosts", OutputType::List, "with `hosts`: each host's name, status, exit code and duration")
                    .with_fields(HOST_RESULT_FIELDS),
            );
        }
        out
    }
}

impl ShellConfig {
    /// A `retry` of the stage's own fires only for timeouts and the exit codes
    /// `retry_on_exit_codes` lists: without either, a failing command fails at
    /// once, which users of other tools do not expect. (A retry inherited from
    /// `defaults` is meant for other kinds too, and a command on hosts is
    /// retried when a host cannot be reached.)
    fn check_retry(&self, cx: &mut super::CheckContext<'_>) {
        let Some(common) = cx.common else { return };
        let tries = common.retry.as_ref().and_then(|r| r.attempts).map_or(1, |a| a.0);
        if tries < 2 || common.timeout.is_some() || !self.retry_on_exit_codes.is_empty() || self.hosts.is_some() {
            return;
        }
        let id = &cx.stage.value;
        cx.push(
            Diagnostic::warning(
                Code::RetryNeverFires,
                cx.stage_span(),
                format!(
                    "stage `{id}`: `retry` never fires for a failing command: a shell stage retries only timeouts and `retry_on_exit_codes`"
                ),
            )
            .with_label("a failing command is not retried")
            .with_help("add `retry_on_exit_codes: any` to retry every failure, or list the codes that mean \"try again\" (`[75]`)"),
        );
    }
}

/// Exit codes a command may be retried for: listed, or any non-zero one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitCodes {
    /// These codes (none: never).
    Listed(Vec<u32>),
    /// Every non-zero exit.
    Any,
}

impl Default for ExitCodes {
    fn default() -> Self {
        ExitCodes::Listed(Vec::new())
    }
}

impl ExitCodes {
    /// Whether a command that exited with `code` may be tried again.
    pub fn matches(&self, code: i32) -> bool {
        match self {
            ExitCodes::Listed(codes) => u32::try_from(code).is_ok_and(|c| codes.contains(&c)),
            ExitCodes::Any => code != 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            ExitCodes::Listed(codes) => codes.is_empty(),
            ExitCodes::Any => false,
        }
    }
}

impl serde::Serialize for ExitCodes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExitCodes::Listed(codes) => s.collect_seq(codes),
            ExitCodes::Any => s.serialize_str("any"),
        }
    }
}

impl JsonSchema for ExitCodes {
    fn schema_name() -> Cow<'static, str> {
        "ExitCodes".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Exit codes that mean \"try again\": a list of codes (`[75]`), or `any` for every non-zero exit.",
            "oneOf": [
                { "type": "array", "items": { "type": "integer", "minimum": 0, "maximum": 4294967295u64 } },
                { "const": "any" }
            ]
        })
    }
}

impl Decode for ExitCodes {
    fn expected() -> String {
        "a list of exit codes, or `any`".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        if node.scalar().is_some() && !node.is_null() {
            let text = node.as_str().unwrap_or_default();
            if text == "any" {
                return Some(ExitCodes::Any);
            }
            if node.as_i64().is_some() {
                cx.push(
                    Diagnostic::error(Code::WrongType, node.span, format!("expected {}, found an integer", Self::expected()))
                        .with_help(format!("write a list, even of one code: `[{text}]`")),
                );
            } else {
                cx.invalid_value(node, text, &["any"]);
            }
            return None;
        }
        Vec::<u32>::decode(node, cx).map(ExitCodes::Listed)
    }

    fn missing() -> Option<Self> {
        Some(ExitCodes::default())
    }
}

impl Templates for ExitCodes {
    fn each_template<'a>(&'a self, _: &mut Vec<TemplateField<'a>>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(yaml: &str) -> (Option<ExitCodes>, Vec<String>) {
        let (root, _) = crate::yaml::load(&format!("v: {yaml}"), crate::yaml::Limits::default());
        let root = root.unwrap();
        let crate::yaml::Value::Map(entries) = &root.value else { panic!("a mapping") };
        let mut cx = Decoder::new();
        let got = ExitCodes::decode(&entries[0].1, &mut cx);
        (got, cx.diagnostics.iter().map(|d| d.code.as_str().to_owned()).collect())
    }

    #[test]
    fn exit_codes_are_a_list_or_any() {
        assert_eq!(decode("[75, 3]").0, Some(ExitCodes::Listed(vec![75, 3])));
        assert_eq!(decode("any").0, Some(ExitCodes::Any));
        assert_eq!(decode("'any'").0, Some(ExitCodes::Any));
        assert_eq!(decode("anything"), (None, vec!["invalid-value".to_owned()]));
        assert_eq!(decode("75"), (None, vec!["wrong-type".to_owned()]));
        assert_eq!(decode("[-1]"), (None, vec!["out-of-range".to_owned()]));
        assert!(ExitCodes::Any.matches(1) && ExitCodes::Any.matches(-1) && !ExitCodes::Any.matches(0));
        assert!(ExitCodes::Listed(vec![75]).matches(75) && !ExitCodes::Listed(vec![75]).matches(1));
        assert!(!ExitCodes::default().matches(1) && ExitCodes::default().is_empty());
        assert_eq!(serde_json::to_string(&ExitCodes::Listed(vec![75])).unwrap(), "[75]");
        assert_eq!(serde_json::to_string(&ExitCodes::default()).unwrap(), "[]");
        assert_eq!(serde_json::to_string(&ExitCodes::Any).unwrap(), "\"any\"");
    }
}
