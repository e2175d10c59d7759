//! A YAML document as a tree of spanned nodes. Scalars keep their text and style;
//! their type (null, bool, number, string) is resolved by whoever reads them,
//! following the YAML 1.2 core schema.

use crate::source::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    /// Single- or double-quoted, or tagged `!!str`: always a string.
    Quoted,
    /// Literal `|` or folded `>`: always a string.
    Block,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub style: ScalarStyle,
}

impl Node {
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        self.scalar().is_some_and(|s| s.style == ScalarStyle::Plain && matches!(s.text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn as_bool(&self) -> Option<bool> {
        let s = self.scalar().filter(|s| s.style == ScalarStyle::Plain)?;
        match s.text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        let s = self.scalar().filter(|s| s.style == ScalarStyle::Plain)?;
        let t = s.text.as_str();
        if let Some(hex) = t.strip_prefix("0x") {
            return i64::from_str_radix(hex, 16).ok();
        }
        if let Some(oct) = t.strip_prefix("0o") {
            return i64::from_str_radix(oct, 8).ok();
        }
        t.parse().ok()
    }

    pub fn as_f64(&self) -> Option<f64> {
        if let Some(i) = self.as_i64() {
            return Some(i as f64);
        }
        let s = self.scalar().filter(|s| s.style == ScalarStyle::Plain)?;
        let t = s.text.as_str();
        let looks_numeric = t.chars().next().is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'));
        if looks_numeric { t.parse().ok().filter(|f: &f64| f.is_finite()) } else { None }
    }

    /// The scalar's text when it reads as a string. Plain numbers and booleans count
    /// (`version: 1.2.3`, `tag: 2024`); null does not.
    pub fn as_str(&self) -> Option<&str> {
        if self.is_null() {
            return None;
        }
        self.scalar().map(|s| s.text.as_str())
    }

    /// What a reader would call this node's type, for "expected X, found Y".
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Scalar(s) if s.style != ScalarStyle::Plain => "a string",
            Value::Scalar(_) if self.is_null() => "nothing (null)",
            Value::Scalar(_) if self.as_bool().is_some() => "a boolean",
            Value::Scalar(_) if self.as_i64().is_some() => "an integer",
            Value::Scalar(_) if self.as_f64().is_some() => "a number",
            Value::Scalar(_) => "a string",
        }
    }

    /// The value as JSON, following the core schema (for schema checks and oracles).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => {
                J::Object(entries.iter().map(|(k, v)| (k.scalar().map(|s| s.text.clone()).unwrap_or_default(), v.to_json())).collect())
            }
            Value::Scalar(s) => {
                if self.is_null() {
                    J::Null
                } else if let Some(b) = self.as_bool() {
                    J::Bool(b)
                } else if let Some(i) = self.as_i64() {
                    J::from(i)
                } else if let Some(f) = self.as_f64().and_then(serde_json::Number::from_f64) {
                    J::Number(f)
                } else {
                    J::String(s.text.clone())
                }
            }
        }
    }

    /// Nodes in this subtree, and the bytes of all its scalars: what one alias to
    /// it costs (for the alias budget).
    pub(crate) fn weight(&self) -> (usize, usize) {
        let add = |(n, b): (usize, usize), (n2, b2): (usize, usize)| (n.saturating_add(n2), b.saturating_add(b2));
        match &self.value {
            Value::Scalar(s) => (1, s.text.len()),
            Value::Seq(items) => items.iter().map(Node::weight).fold((1, 0), add),
            Value::Map(entries) => entries.iter().map(|(k, v)| add(k.weight(), v.weight())).fold((1, 0), add),
        }
    }
}
