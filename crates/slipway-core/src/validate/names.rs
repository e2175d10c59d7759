//! Names as the document declares them, read from the YAML itself, so a stage or
//! param that failed to decode still counts as declared (no cascade of errors).

use crate::decode::Key;
use crate::source::Span;
use crate::yaml::{Node, Value};

#[derive(Debug, Default)]
pub struct Declared<'n> {
    pub stages: Vec<Key>,
    /// Each stage's YAML, by position in `stages`.
    pub stage_nodes: Vec<&'n Node>,
    pub params: Vec<Key>,
    pub secrets: Vec<Key>,
    pub roles: Vec<Key>,
    /// The `stages` key, when its value is an empty mapping (or nothing).
    pub empty_stages: Option<Span>,
}

impl<'n> Declared<'n> {
    pub fn from_root(root: &'n Node) -> Self {
        Declared {
            stages: keys_of(root, "stages"),
            stage_nodes: section(root, "stages").map(|items| items.iter().map(|(_, v)| v).collect()).unwrap_or_default(),
            params: keys_of(root, "params"),
            secrets: keys_of(root, "secrets"),
            roles: keys_of(root, "hosts"),
            empty_stages: empty_section(root, "stages"),
        }
    }
}

fn section<'n>(root: &'n Node, field: &str) -> Option<&'n [(Node, Node)]> {
    let Value::Map(entries) = &root.value else {
        return None;
    };
    let (_, section) = entries.iter().find(|(k, _)| k.as_str() == Some(field))?;
    match &section.value {
        Value::Map(items) => Some(items),
        _ => None,
    }
}

fn empty_section(root: &Node, field: &str) -> Option<Span> {
    let Value::Map(entries) = &root.value else { return None };
    let (key, value) = entries.iter().find(|(k, _)| k.as_str() == Some(field))?;
    let empty = value.is_null() || matches!(&value.value, Value::Map(m) if m.is_empty());
    empty.then_some(key.span)
}

fn keys_of(root: &Node, field: &str) -> Vec<Key> {
    section(root, field).unwrap_or_default().iter().filter_map(|(k, _)| k.as_str().map(|s| Key::new(s.to_owned(), k.span))).collect()
}

pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A valid identifier close to `name`, for the help line.
pub fn suggest_identifier(name: &str) -> String {
    let mut s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    s
}
