//! Host entries of a role: a bare hostname, or a mapping with details.

use crate::decode::{Bounded, Decode, Decoder, Spanned};
use crate::template::{TemplateField, Templates};
use crate::yaml::{Node, Value};
use crate::{config_struct, string_enum};

/// A host: `web-1.internal`, or `{ name: web-2, address: 10.0.0.12, user: deploy }`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum HostEntry {
    /// A hostname that is both the host's name and its address.
    Name(Spanned<String>),
    Spec(HostSpec),
}

string_enum! {
    default Ssh;
    /// How a host's commands reach it.
    pub enum Transport {
        /// Over SSH, with the system's OpenSSH client (the default).
        Ssh = "ssh",
        /// On the machine Slipway runs on, as the user running it: for demos,
        /// tests, and deploying to this machine.
        Local = "local",
    }
}

config_struct! {
    /// A host with a name distinct from how it is reached.
    pub struct HostSpec {
        /// The name shown in output and available as `{{ host.name }}`.
        pub name: Spanned<String>,
        /// Address or hostname to connect to (default: the name).
        pub address: Option<String>,
        /// SSH user (default: as ssh_config says, else the current user). Given
        /// to `ssh` as `-l` only when set.
        pub user: Option<String>,
        /// SSH port (default: as ssh_config says, else 22). Given to `ssh` as `-p`
        /// only when set.
        pub port: Option<Bounded<1, 65535>>,
        /// `ssh` (default) or `local`: run this host's commands on this machine.
        #[serde(default)]
        pub transport: Transport,
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

impl HostEntry {
    pub fn transport(&self) -> Transport {
        match self {
            HostEntry::Name(_) => Transport::Ssh,
            HostEntry::Spec(s) => s.transport,
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

/// `--limit`: comma-separated host names or roles, each with `*` globs
/// (`web-1,worker*`). A host is kept when any pattern matches its name or its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLimit {
    patterns: Vec<String>,
}

impl HostLimit {
    pub fn parse(text: &str) -> Result<HostLimit, String> {
        let patterns: Vec<String> = text.split(',').map(|p| p.trim().to_owned()).collect();
        if patterns.iter().any(String::is_empty) {
            return Err(format!("--limit `{text}` has an empty pattern: write host names or roles separated by commas"));
        }
        Ok(HostLimit { patterns })
    }

    pub fn matches(&self, role: &str, host: &str) -> bool {
        self.patterns.iter().any(|p| glob(p, role) || glob(p, host))
    }

    /// Keeps the hosts the limit selects, in order (a role may end up empty).
    /// Returns the patterns that matched no host and no role: most likely typos.
    pub fn apply(&self, roles: &mut indexmap::IndexMap<crate::decode::Key, Vec<HostEntry>>) -> Vec<String> {
        let unmatched = self
            .patterns
            .iter()
            .filter(|p| !roles.iter().any(|(role, hosts)| glob(p, role) || hosts.iter().any(|h| glob(p, h.name()))))
            .cloned()
            .collect();
        for (role, hosts) in roles.iter_mut() {
            hosts.retain(|h| self.matches(role, h.name()));
        }
        unmatched
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else { return rest.is_empty() };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("web-1", "web-1"));
        assert!(!glob("web-1", "web-10"));
        assert!(glob("web*", "web-10"));
        assert!(glob("*-1", "web-1"));
        assert!(glob("w*b*1", "web-1"));
        assert!(!glob("w*b*2", "web-1"));
        assert!(glob("*", ""));
        assert!(!glob("ab*ba", "aba"), "the two ends may not overlap");
    }

    #[test]
    fn limits_by_name_or_role() {
        let limit = HostLimit::parse("web-1, worker*").unwrap();
        assert!(limit.matches("web", "web-1"));
        assert!(!limit.matches("web", "web-2"));
        assert!(limit.matches("worker", "w-9"));
        assert!(limit.matches("db", "worker-db"));
        assert!(HostLimit::parse("web-1,,x").is_err());
    }
}
