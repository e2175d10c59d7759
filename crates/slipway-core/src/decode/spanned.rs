//! `Spanned<T>`: a value with the place it was written, so later passes can point at it.

use std::borrow::{Borrow, Cow};
use std::hash::{Hash, Hasher};

use super::{Decode, Decoder};
use crate::source::Span;
use crate::template::{TemplateField, Templates};
use crate::yaml::{Node, Value};

/// A value and its source span. Equality and hashing look at the value only.
#[derive(Debug, Clone, Default)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// A mapping key with its place: what model maps are keyed by.
pub type Key = Spanned<String>;

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Spanned<T> {}

impl<T: Hash> Hash for Spanned<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}

impl Borrow<str> for Spanned<String> {
    fn borrow(&self) -> &str {
        &self.value
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: serde::Serialize> serde::Serialize for Spanned<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

impl<T: Decode> Decode for Spanned<T> {
    fn expected() -> String {
        T::expected()
    }

    /// A mapping or list is placed at the key that holds it (its own span starts
    /// at its first inner key, which is not what a reader points at).
    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        let span = match (&node.value, cx.owner_span()) {
            (Value::Map(_) | Value::Seq(_), Some(key)) => key,
            _ => node.span,
        };
        T::decode(node, cx).map(|value| Spanned { value, span })
    }

    fn missing() -> Option<Self> {
        T::missing().map(|value| Spanned { value, span: Span::default() })
    }
}

impl<T: Templates> Templates for Spanned<T> {
    fn each_template<'a>(&'a self, out: &mut Vec<TemplateField<'a>>) {
        self.value.each_template(out)
    }
}
