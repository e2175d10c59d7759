//! The top-level `ssh:` block: how the system's OpenSSH client reaches hosts.
//! Slipway passes only what is set here; ssh_config decides everything else.

use std::borrow::Cow;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::decode::{Decode, Decoder, Key, Spanned};
use crate::diagnostic::{Code, Diagnostic};
use crate::template::{TemplateField, Templates};
use crate::yaml::Node;
use crate::{config_struct, string_enum};

string_enum! {
    default Yes;
    /// Whether `ssh` checks host keys (`-o StrictHostKeyChecking=…`).
    pub enum HostKeyChecking {
        /// Only hosts whose key is in known_hosts (the default).
        Yes = "yes",
        /// A host never seen before is added to known_hosts; a changed key is refused.
        AcceptNew = "accept-new",
        /// Any key is accepted, a changed one too: `validate` warns (`host-keys-unchecked`).
        No = "no",
    }
}

config_struct! {
    /// How Slipway reaches `ssh` hosts. Connections are multiplexed (one master
    /// per host, under the state folder) and persist for a minute after a run,
    /// so the next run starts warm. `ssh` runs with `BatchMode=yes`: it never asks.
    pub struct SshSettings {
        /// An ssh_config file, passed as `-F`, relative to the pipeline file.
        pub config: Option<String>,
        /// A private key, passed as `-i`, relative to the pipeline file.
        pub identity_file: Option<String>,
        /// A known_hosts file (`UserKnownHostsFile`), relative to the pipeline file.
        pub known_hosts: Option<String>,
        /// `yes` (default), `accept-new`, or `no` (warned about).
        pub strict_host_key_checking: Option<Spanned<HostKeyChecking>>,
        /// More `-o` settings, e.g. `{ ServerAliveInterval: 15, ProxyJump: bastion }`.
        /// They come before Slipway's own, so they win where both set one.
        #[serde(default)]
        pub options: IndexMap<Key, OptionValue>,
    }
}

impl SshSettings {
    pub fn host_key_checking(&self) -> HostKeyChecking {
        self.strict_host_key_checking.as_ref().map_or(HostKeyChecking::Yes, |s| s.value)
    }

    /// Problems decoding cannot see: settings that are valid but unsafe.
    pub fn check(&self, cx: &mut Decoder) {
        if let Some(s) = self.strict_host_key_checking.as_ref().filter(|s| s.value == HostKeyChecking::No) {
            cx.push(
                Diagnostic::warning(Code::HostKeysUnchecked, s.span, "host keys are not checked: any machine can pose as a host")
                    .with_help("use `accept-new` (trust a host the first time, refuse a changed key) or list the keys in `known_hosts`"),
            );
        }
        for (name, value) in &self.options {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                cx.push(
                    Diagnostic::error(Code::InvalidValue, name.span, format!("`{}` is not an ssh option name", name.value))
                        .with_help("ssh option names are letters and digits, as in `ssh_config(5)`: `ServerAliveInterval`"),
                );
            } else if value.0.contains(['\n', '\r', '\0']) {
                cx.push(
                    Diagnostic::error(Code::InvalidValue, name.span, format!("the value of ssh option `{}` spans lines", name.value))
                        .with_help("write the option's value on one line"),
                );
            }
        }
    }
}

/// An ssh option's value: text or a number (`ServerAliveInterval: 15`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct OptionValue(pub String);

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for OptionValue {
    fn schema_name() -> Cow<'static, str> {
        "SshOptionValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "description": "The option's value, as in ssh_config(5): `15`, `yes`, `bastion.internal`.", "type": ["string", "integer"] })
    }
}

impl Decode for OptionValue {
    fn expected() -> String {
        "an ssh option's value".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        cx.string(node, "text or a number, as ssh_config(5) writes it").map(|s| OptionValue(s.to_owned()))
    }
}

impl Templates for OptionValue {
    fn each_template<'a>(&'a self, _: &mut Vec<TemplateField<'a>>) {}
}
