//! Host entries of a role: a bare hostname, or a mapping with details.

use crate::config_struct;
use crate::decode::{Bounded, Decode, Decoder, Spanned};
use crate::template::{TemplateField, Templates};
use crate::yaml::{Node, Value};

/// A host: `web-1.internal`, or `{ name: web-2, address: 10.0.0.12, user: deploy }`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum HostEntry {
    /// A hostname that is both the host's name and its address.
    Name(Spanned<String>),
    Spec(HostSpec),
}

config_struct! {
    /// A host with a name distinct from how it is reached.
    pub struct HostSpec {
        /// The name shown in output and available as `{{ host.name }}`.
        pub name: Spanned<String>,
        /// Address or hostname to connect to (default: the name).
        pub address: Option<String>,
        /// SSH user (default: the current user).
        pub user: Option<String>,
        /// SSH port (default 22).
        pub port: Option<Bounded<1, 65535>>,
    }
}

impl HostEntry {
    pub fn name(&self) -> &Spanned<String> {
        match self {
            HostEntry::Name(n) => n,
            HostEntry::Spec(s) => &s.name,
        }
    }

    pub fn address(&self) -> &str {
        match self {
            HostEntry::Name(n) => n,
            HostEntry::Spec(s) => s.address.as_deref().unwrap_or(&s.name),
        }
    }
}

impl Decode for HostEntry {
    fn expected() -> String {
        "a hostname or a mapping with `name`".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        match &node.value {
            Value::Map(_) => HostSpec::decode(node, cx).map(HostEntry::Spec),
            _ => Spanned::<String>::decode(node, cx).map(HostEntry::Name),
        }
    }
}

impl Templates for HostEntry {
    fn each_template<'a>(&'a self, _: &mut Vec<TemplateField<'a>>) {}
}
