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

/// The chat-ops config's schema (`slipway serve --config`), as checked in.
pub fn chatops_schema_json() -> String {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft07());
    let mut schema = generator.root_schema_for::<crate::chatops::ChatOps>();
    schema.insert("$id".into(), "https://slipway.dev/schemas/chatops.schema.json".into());
    schema.insert("title".into(), "Slipway chat-ops config".into());
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

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;

    use crate::kinds::*;
    use crate::model::*;

    fn schema_required<T: JsonSchema>() -> Vec<String> {
        let schema = schemars::SchemaGenerator::default().root_schema_for::<T>();
        let mut r: Vec<String> = schema
            .get("required")
            .and_then(|r| r.as_array())
            .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        r.sort();
        r
    }

    macro_rules! same_required {
        ($($t:ty),* $(,)?) => {$({
            let mut decoder: Vec<String> = <$t>::decoder_required_fields().into_iter().map(str::to_owned).collect();
            decoder.sort();
            assert_eq!(decoder, schema_required::<$t>(), "{}: decoder and schema disagree on required fields (add #[serde(default)]?)", stringify!($t));
        })*};
    }

    /// The decoder decides optionality by type; the schema by serde attributes.
    #[test]
    fn decoder_and_schema_agree_on_required_fields() {
        same_required!(
            StageCommon,
            Param,
            Secret,
            Defaults,
            Retry,
            HostSpec,
            SshSettings,
            ShellConfig,
            HttpConfig,
            ConvergeConfig,
            DeployConfig,
            GitCheckout,
            ArtifactSource,
            DeploySource,
            SharedPaths,
            HealthCheck,
            HaproxyDrain,
            LoadBalancer,
            BalancerCommands,
            MigrateConfig,
            ChangelogConfig,
            DeploymentInfo,
            GithubSource,
            GitSource,
            AuditTicketConfig,
            JiraTarget,
            MarkerConfig,
            DatadogSink,
            GrafanaSink,
            ElasticsearchSink,
            RedisSink,
            WebhookSink,
            NotifyConfig,
            SlackSink,
            TeamsSink,
            MattermostSink,
            crate::chatops::ChatOps,
            crate::chatops::SlackSettings,
            crate::chatops::MattermostSettings,
            crate::chatops::Alias,
            crate::chatops::AllowRule,
            crate::chatops::ConfirmRule,
        );
    }

    #[test]
    fn every_kind_has_a_schema_variant() {
        let schema: serde_json::Value = serde_json::from_str(&super::pipeline_schema_json()).unwrap();
        let variants = schema.pointer("/definitions/Stage/oneOf").and_then(|v| v.as_array()).unwrap();
        let titles: Vec<&str> = variants.iter().filter_map(|v| v["title"].as_str()).collect();
        assert_eq!(titles, Kind::NAMES);
    }
}
