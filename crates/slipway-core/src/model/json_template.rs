//! A JSON value written in YAML whose strings are templates (request bodies, Slack
//! blocks, Teams cards).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::decode::{Decode, Decoder};
use crate::template::{Template, TemplateField, Templates};
use crate::yaml::{Node, ScalarStyle, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    /// null, booleans and numbers: copied as they are.
    Literal(serde_json::Value),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// The value with every template left unrendered.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            JsonTemplate::Literal(v) => v.clone(),
            JsonTemplate::String(t) => serde_json::Value::String(t.source.clone()),
            JsonTemplate::Array(items) => items.iter().map(Self::to_json).collect(),
            JsonTemplate::Object(entries) => entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
        }
    }
}

impl serde::Serialize for JsonTemplate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl JsonSchema for JsonTemplate {
    fn schema_name() -> Cow<'static, str> {
        "JsonTemplate".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "description": "Any JSON value, written in YAML; its strings are Handlebars templates." })
    }
}

impl Decode for JsonTemplate {
    fn expected() -> String {
        "any value".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        Some(match &node.value {
            Value::Seq(items) => JsonTemplate::Array(items.iter().map(|n| Self::decode(n, cx)).collect::<Option<_>>()?),
            Value::Map(entries) => JsonTemplate::Object(
                entries.iter().map(|(k, v)| Some((cx.string(k, "a text key")?.to_owned(), Self::decode(v, cx)?))).collect::<Option<_>>()?,
            ),
            Value::Scalar(s) => match node.to_json() {
                serde_json::Value::String(_) => JsonTemplate::String(Template::decode(node, cx)?),
                other if s.style == ScalarStyle::Plain => JsonTemplate::Literal(other),
                _ => JsonTemplate::String(Template::decode(node, cx)?),
            },
        })
    }
}

impl Templates for JsonTemplate {
    fn each_template<'a>(&'a self, out: &mut Vec<TemplateField<'a>>) {
        match self {
            JsonTemplate::Literal(_) => {}
            JsonTemplate::String(t) => t.each_template(out),
            JsonTemplate::Array(items) => items.iter().for_each(|i| i.each_template(out)),
            JsonTemplate::Object(entries) => entries.iter().for_each(|(_, v)| v.each_template(out)),
        }
    }
}
