//! The decoding context and the mapping reader.

use crate::diagnostic::{Code, Diagnostic, closest, did_you_mean};
use crate::source::Span;
use crate::yaml::{Node, Value};

/// A type that decodes from a YAML node, reporting problems into the [`Decoder`].
pub trait Decode: Sized {
    /// What a good value looks like, for "expected X, found Y".
    fn expected() -> String;

    /// `None` when the node is unusable; the reason is already reported.
    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self>;

    /// The value of an absent field; `None` makes the field required.
    fn missing() -> Option<Self> {
        None
    }
}

/// Collects diagnostics while a document is decoded.
#[derive(Default)]
pub struct Decoder {
    pub diagnostics: Vec<Diagnostic>,
    /// The key whose value is being decoded: where "missing field" points, and the
    /// place named in "unknown field … in `health_check`".
    owner: Option<Owner>,
    /// `(mapping start, field)` pairs where an unknown key is a typo of the field:
    /// the field is not then also reported missing.
    typos: Vec<(usize, String)>,
}

#[derive(Clone)]
struct Owner {
    span: Span,
    name: String,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// Creates a decoder whose diagnostics are thrown away (for re-reading parts of a
    /// document already reported on).
    pub fn scratch() -> Self {
        Self::default()
    }

    pub fn wrong_type(&mut self, node: &Node, expected: &str) {
        let found = node.type_name();
        let mut d = Diagnostic::error(Code::WrongType, node.span, format!("expected {expected}, found {found}"));
        d = d.with_help(match (&node.value, expected) {
            (_, e) if e.starts_with("a list") => "write a YAML list: `[a, b]` or one `- item` per line".to_string(),
            (Value::Scalar(_), "a mapping") => "write `key: value` pairs, indented under this key".to_string(),
            (_, e) if e.contains("integer") || e.contains("number") => "write a number without quotes".to_string(),
            (_, e) if e.contains("boolean") => "write `true` or `false` without quotes".to_string(),
            _ => format!("replace this with {expected}"),
        });
        self.push(d);
    }

    pub fn invalid_value(&mut self, node: &Node, text: &str, allowed: &[&str]) {
        let help = did_you_mean(text, allowed.iter().copied()).unwrap_or_else(|| format!("use one of {}", Self::quoted_list(allowed)));
        self.push(
            Diagnostic::error(Code::InvalidValue, node.span, format!("`{text}` is not one of {}", Self::quoted_list(allowed)))
                .with_help(help),
        );
    }

    /// A scalar read as text; reports a wrong type otherwise.
    pub fn string<'n>(&mut self, node: &'n Node, expected: &str) -> Option<&'n str> {
        let s = node.as_str().filter(|_| node.scalar().is_some());
        if s.is_none() {
            self.wrong_type(node, expected);
        }
        s
    }

    /// Opens a mapping for field-by-field reading. Null reads as an empty mapping,
    /// so its required fields are reported as missing.
    pub fn mapping<'n>(&mut self, node: &'n Node) -> Option<Fields<'n>> {
        match &node.value {
            Value::Map(entries) => Some(Fields { node, entries, owner: self.owner.clone() }),
            _ if node.is_null() => Some(Fields { node, entries: &[], owner: self.owner.clone() }),
            _ => {
                self.wrong_type(node, "a mapping");
                None
            }
        }
    }

    pub(crate) fn quoted_list(names: &[&str]) -> String {
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        match quoted.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            [rest @ .., last] => format!("{}, or {last}", rest.join(", ")),
        }
    }

    /// Runs `f` with `key` as the place a missing field inside it is reported.
    pub fn with_owner<T>(&mut self, key: &Node, f: impl FnOnce(&mut Self) -> T) -> T {
        let name = key.as_str().unwrap_or_default().to_owned();
        let saved = self.owner.replace(Owner { span: key.span, name });
        let out = f(self);
        self.owner = saved;
        out
    }

    /// The key whose value is being decoded, if any.
    pub fn owner_span(&self) -> Option<Span> {
        self.owner.as_ref().map(|o| o.span)
    }
}

/// A mapping being read field by field.
pub struct Fields<'n> {
    pub node: &'n Node,
    pub entries: &'n [(Node, Node)],
    owner: Option<Owner>,
}

impl<'n> Fields<'n> {
    pub fn find(&self, name: &str) -> Option<&'n (Node, Node)> {
        self.entries.iter().find(|(k, _)| k.scalar().is_some_and(|s| s.text == name))
    }

    /// Decodes field `name`, or its absent value, or reports it missing. An optional
    /// field whose value is broken reads as absent (its problem is already reported),
    /// so one bad field does not hide the problems of its neighbours.
    pub fn get<T: Decode>(&self, cx: &mut Decoder, name: &str) -> Option<T> {
        match self.find(name) {
            Some((key, value)) => cx.with_owner(key, |cx| T::decode(value, cx)).or_else(T::missing),
            None => {
                let missing = T::missing();
                if missing.is_none() {
                    self.report_missing(cx, name, &T::expected());
                }
                missing
            }
        }
    }

    pub fn report_missing(&self, cx: &mut Decoder, name: &str, expected: &str) {
        if cx.typos.iter().any(|(at, field)| *at == self.node.span.start && field == name) {
            return; // already reported as a misspelt key, with this field as the fix
        }
        let span = self.owner.as_ref().map_or(Span::new(self.node.span.start, self.node.span.start), |o| o.span);
        cx.push(
            Diagnostic::error(Code::MissingField, span, format!("missing field `{name}`"))
                .with_help(format!("add `{name}:` with {expected}")),
        );
    }

    /// Reports every key not in `known` (and every non-text key). `what` names the
    /// place for the message, e.g. "a `shell` stage".
    pub fn finish(&self, cx: &mut Decoder, known: &[&str], what: &str) {
        for (key, value) in self.entries {
            let Some(name) = key.scalar().map(|s| s.text.as_str()) else {
                cx.wrong_type(key, "a text key");
                continue;
            };
            if known.contains(&name) {
                continue;
            }
            let place = match (&self.owner, what.is_empty()) {
                (_, false) => format!(" in {what}"),
                (Some(owner), true) if !owner.name.is_empty() => format!(" in `{}`", owner.name),
                _ => String::new(),
            };
            if known.contains(&"kind") && matches!(name, "with" | "inputs") {
                // the fields inside are this stage's: they are not also missing
                if let Value::Map(inner) = &value.value {
                    let moved = inner.iter().filter_map(|(k, _)| k.as_str()).filter(|k| known.contains(k) && self.find(k).is_none());
                    let at = self.node.span.start;
                    cx.typos.extend(moved.map(|k| (at, k.to_owned())).collect::<Vec<_>>());
                }
                let help = format!("a stage takes its fields directly: write them beside `kind`, without the `{name}:` level");
                cx.push(Diagnostic::error(Code::UnknownField, key.span, format!("unknown field `{name}`{place}")).with_help(help));
                continue;
            }
            let alias = FIELD_ALIASES.iter().find(|(other, ours, _)| *other == name && known.contains(ours));
            let typo_of = alias.map(|(_, ours, _)| *ours).or_else(|| closest(name, known.iter().copied()));
            if let Some(field) = typo_of.filter(|f| self.find(f).is_none()) {
                cx.typos.push((self.node.span.start, field.to_owned()));
            }
            let hint = alias.map_or("", |(_, _, hint)| *hint);
            let help = typo_of.map(|f| format!("did you mean `{f}`?{hint}")).unwrap_or_else(|| {
                if known.len() <= 12 {
                    format!("remove it; this place takes {}", Decoder::quoted_list(known))
                } else {
                    "remove it, or check the format reference for this place".to_string()
                }
            });
            cx.push(Diagnostic::error(Code::UnknownField, key.span, format!("unknown field `{name}`{place}")).with_help(help));
        }
    }
}

/// Field names users bring from other tools (GitHub Actions, GitLab CI, Argo,
/// Kubernetes, Ansible), the field that means the same here, and what to know
/// when moving the value over. Suggested only where that field is taken.
const FIELD_ALIASES: &[(&str, &str, &str)] = &[
    ("depends_on", "needs", ""),
    ("dependencies", "needs", ""),
    ("depends", "needs", ""),
    ("requires", "needs", ""),
    ("retries", "retry", " (a mapping: `retry: { attempts: 3 }`)"),
    ("retryStrategy", "retry", " (a mapping: `retry: { attempts: 3 }`)"),
    ("retry_count", "retry", " (a mapping: `retry: { attempts: 3 }`)"),
    ("timeout-minutes", "timeout", " (a duration with its unit: `timeout: 10m`)"),
    ("timeout_minutes", "timeout", " (a duration with its unit: `timeout: 10m`)"),
    ("timeoutSeconds", "timeout", " (a duration with its unit: `timeout: 30s`)"),
    ("steps", "stages", " (a mapping of stage ids to stages)"),
    ("jobs", "stages", " (a mapping of stage ids to stages)"),
    ("tasks", "stages", " (a mapping of stage ids to stages)"),
    ("script", "run", ""),
    ("command", "run", ""),
];

/// The YAML name of a Rust field (`r#if` is written `if`).
pub const fn field_name(ident: &'static str) -> &'static str {
    match ident.as_bytes() {
        [b'r', b'#', ..] => ident.split_at(2).1,
        _ => ident,
    }
}
