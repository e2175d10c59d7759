//! The JSON Schema of pipeline files, generated from the model's types. Editors use
//! it for completion (the `# yaml-language-server: $schema=…` modeline); Slipway's
//! own validation goes further than any schema can.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};

use crate::kinds::{Kind, StageConfig};
use crate::model::{Pipeline, Stage, StageCommon};

/// The schema as pretty JSON with a trailing newline, exactly as checked in.
pub fn pipeline_schema_json() -> String {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft07());
    let mut schema = generator.root_schema_for::<Pipeline>();
    schema.insert("$id".into(), "https://slipway.dev/schemas/pipeline.schema.json".into());
    schema.insert("title".into(), "Slipway pipeline".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

impl JsonSchema for Stage {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Stage".into()
    }

    /// One alternative per kind: the common fields, `kind` fixed to the kind's name,
    /// and the kind's own fields, nothing else.
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let common = generator.root_schema_for::<StageCommon>();
        let common_props = object_field(&common, "properties");
        let mut variants = Vec::new();
        for (kind, config) in StageConfig::schemas(generator) {
            let mut props = Map::new();
            props.insert("kind".into(), json_schema!({ "const": kind.as_str(), "description": kind_doc(kind) }).to_value());
            props.extend(common_props.clone());
            props.extend(object_field(&config, "properties"));
            let mut required = vec![Value::from("kind")];
            if let Some(Value::Array(r)) = config.get("required") {
                required.extend(r.iter().cloned());
            }
            let mut variant = Map::new();
            variant.insert("title".into(), kind.as_str().into());
            if let Some(d) = config.get("description") {
                variant.insert("description".into(), d.clone());
            }
            variant.insert("type".into(), "object".into());
            variant.insert("properties".into(), Value::Object(props));
            variant.insert("required".into(), Value::Array(required));
            variant.insert("additionalProperties".into(), false.into());
            variants.push(Value::Object(variant));
        }
        let kinds: Vec<&str> = Kind::NAMES.to_vec();
        json_schema!({
            "description": "A stage. `kind` decides which other fields it takes.",
            "type": "object",
            "required": ["kind"],
            "properties": { "kind": { "enum": kinds } },
            "oneOf": variants,
        })
    }
}

fn object_field(schema: &Schema, field: &str) -> Map<String, Value> {
    match schema.get(field) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

fn kind_doc(kind: Kind) -> String {
    let mut generator = SchemaGenerator::default();
    let schema = Kind::json_schema(&mut generator);
    schema
        .get("oneOf")
        .and_then(Value::as_array)
        .and_then(|alts| alts.iter().find(|a| a.get("const").and_then(Value::as_str) == Some(kind.as_str())))
        .and_then(|a| a.get("description"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}
