//! The format reference (`docs/reference.md`), generated from the JSON Schema and
//! the kinds' declared outputs, so it cannot drift from the code: a table per
//! section and per stage kind, each kind's outputs, and a section for every type
//! a field can have. Every field's description is its own doc comment, whole.

mod chatops;
pub(crate) mod examples;

use serde_json::{Map, Value};

use crate::kinds::{Kind, OutputDecl};

/// Sections with a place in the pipeline of their own, before the stages; every
/// other named type goes under "Types".
const SECTIONS: &[(&str, &str)] = &[
    ("Param", "params.NAME"),
    ("Secret", "secrets.NAME"),
    ("HostSpec", "hosts.ROLE[] (mapping form)"),
    ("SshSettings", "ssh"),
    ("Defaults", "defaults"),
    ("Retry", "retry"),
];

pub fn reference_markdown() -> String {
    let schema: Value = serde_json::from_str(&crate::schema::pipeline_schema_json()).unwrap_or_default();
    let defs = schema.get("definitions").and_then(Value::as_object).cloned().unwrap_or_default();
    let doc = Doc { defs: &defs };
    let mut out = String::from(
        "# Pipeline format reference\n\n\
         Generated from the Rust types by `cargo xtask schema`; do not edit. \
         The prose guide is [format.md](format.md).\n\n## Top level\n\n",
    );
    doc.table(&mut out, &schema);
    for (name, title) in SECTIONS {
        if let Some(def) = defs.get(*name) {
            out.push_str(&format!("\n{}\n## `{title}`\n\n", anchor(name)));
            doc.paragraph(&mut out, def);
            doc.table(&mut out, def);
        }
    }
    out.push_str(
        "\n## Stages\n\nEvery stage takes `kind` and the common fields `needs`, `when`, `if`, `retry`, `timeout` and `description`.\n\
         A stage's outputs are read by later stages as `{{ stages.ID.outputs.NAME }}`. An output marked untrusted carries \
         text from outside the pipeline file (a command's output, a service's answer, a commit): `validate` warns \
         (`template-injection`) when a command splices one in, and it belongs in `env:` instead.\n",
    );
    let variants = defs.get("Stage").and_then(|s| s.get("oneOf")).and_then(Value::as_array).cloned().unwrap_or_default();
    for v in &variants {
        let kind = v.get("title").and_then(Value::as_str).unwrap_or("?");
        out.push_str(&format!("\n### `kind: {kind}`\n\n"));
        doc.paragraph(&mut out, v);
        doc.table(&mut out, v);
        if let Some(kind) = Kind::from_name(kind) {
            outputs(&mut out, kind);
        }
    }
    out.push_str("\n## Types\n\nThe types fields take, besides text, numbers, booleans, lists and mappings.\n");
    for (name, def) in &defs {
        if name != "Stage" && !SECTIONS.iter().any(|(s, _)| s == name) {
            out.push_str(&format!("\n{}\n### `{name}`\n\n", anchor(name)));
            doc.paragraph(&mut out, def);
            doc.type_body(&mut out, def);
        }
    }
    chatops::section(&mut out);
    out
}

/// Where links to a named type land.
fn anchor(name: &str) -> String {
    format!("<a id=\"{}\"></a>", anchor_id(name))
}

fn anchor_id(name: &str) -> String {
    format!("type-{}", name.to_ascii_lowercase())
}

/// Text for one table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// The schema's text for a value (`1`, `success`).
fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The named type a property refers to, directly or through `allOf` (which is
/// how a field with its own description refers to one).
fn ref_name(prop: &Value) -> Option<&str> {
    let r = prop.get("$ref").or_else(|| prop.get("allOf")?.as_array()?.first()?.get("$ref"))?;
    r.as_str()?.rsplit('/').next()
}

/// The values of an enum and their descriptions, whichever way schemars wrote
/// it (`enum`, or `oneOf` of `const`s when the values have doc comments).
fn enum_values(v: &Value) -> Option<Vec<(String, String)>> {
    if let Some(values) = v.get("enum").and_then(Value::as_array) {
        return Some(values.iter().map(|e| (literal(e), String::new())).collect());
    }
    let alternatives = v.get("oneOf")?.as_array()?;
    let mut out = Vec::new();
    for a in alternatives {
        let description = a.get("description").and_then(Value::as_str).unwrap_or_default().to_owned();
        match (a.get("const"), a.get("enum").and_then(Value::as_array)) {
            (Some(c), _) => out.push((literal(c), description)),
            (None, Some(values)) => out.extend(values.iter().map(|e| (literal(e), description.clone()))),
            _ => return None,
        }
    }
    Some(out)
}

struct Doc<'a> {
    defs: &'a Map<String, Value>,
}

impl Doc<'_> {
    fn paragraph(&self, out: &mut String, v: &Value) {
        if let Some(d) = v.get("description").and_then(Value::as_str) {
            out.push_str(&format!("{}\n\n", cell(d).replace("\\|", "|")));
        }
    }

    /// A field table: name, type, whether it is required, its own description.
    fn table(&self, out: &mut String, object: &Value) {
        let required: Vec<&str> =
            object.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        out.push_str("| field | type | required | description |\n|---|---|---|---|\n");
        let Some(props) = object.get("properties").and_then(Value::as_object) else { return };
        for (name, prop) in props {
            let desc = prop.get("description").and_then(Value::as_str).unwrap_or_default();
            let req = if required.contains(&name.as_str()) { "yes" } else { "no" };
            out.push_str(&format!("| `{name}` | {} | {req} | {} |\n", self.type_cell(prop), cell(desc)));
        }
    }

    /// What a value of a named type looks like: its fields, its values, or its shape.
    fn type_body(&self, out: &mut String, def: &Value) {
        if def.get("properties").is_some() {
            self.table(out, def);
        } else if let Some(values) = enum_values(def) {
            out.push_str("| value | description |\n|---|---|\n");
            for (value, description) in values {
                out.push_str(&format!("| `{value}` | {} |\n", cell(&description)));
            }
        } else {
            out.push_str(&format!("Written as: {}.\n", self.type_cell(def)));
        }
    }

    fn type_cell(&self, prop: &Value) -> String {
        if let Some(name) = ref_name(prop) {
            return self.named(name);
        }
        if let Some(c) = prop.get("const") {
            return format!("`{}`", literal(c));
        }
        if let Some(values) = enum_values(prop) {
            return values.iter().map(|(v, _)| format!("`{v}`")).collect::<Vec<_>>().join(" \\| ");
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(alts) = prop.get(key).and_then(Value::as_array) {
                let names: Vec<String> =
                    alts.iter().filter(|a| a.get("type") != Some(&Value::from("null"))).map(|a| self.type_cell(a)).collect();
                return names.join(" or ");
            }
        }
        let range = |t: &str| match (prop.get("minimum"), prop.get("maximum")) {
            (Some(min), Some(max)) => format!("{t}, {min} to {max}"),
            _ => t.to_owned(),
        };
        match prop.get("type") {
            Some(Value::String(t)) if t == "array" => {
                format!("list of {}", prop.get("items").map(|i| self.type_cell(i)).unwrap_or_default())
            }
            Some(Value::String(t)) if t == "object" => match prop.get("additionalProperties") {
                Some(v @ Value::Object(_)) => format!("map of {}", self.type_cell(v)),
                _ => "mapping".into(),
            },
            Some(Value::String(t)) if t == "integer" || t == "number" => range(t),
            Some(Value::String(t)) => t.clone(),
            // an optional value: `["integer", "null"]`
            Some(Value::Array(ts)) => range(&ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect::<Vec<_>>().join(" or ")),
            _ => "any YAML value".into(),
        }
    }

    /// A named type: its values for an enum or a constant, else a link to its section.
    fn named(&self, name: &str) -> String {
        if name == "Stage" {
            return "[`Stage`](#stages)".into();
        }
        let def = self.defs.get(name).cloned().unwrap_or_default();
        if let Some(c) = def.get("const") {
            return format!("`{}`", literal(c));
        }
        if let Some(values) = enum_values(&def) {
            let values = values.iter().map(|(v, _)| format!("`{v}`")).collect::<Vec<_>>().join(" \\| ");
            return format!("{values} ([`{name}`](#{}))", anchor_id(name));
        }
        format!("[`{name}`](#{})", anchor_id(name))
    }
}

/// A kind's outputs, from its example stage.
fn outputs(out: &mut String, kind: Kind) {
    let Ok(decls) = examples::outputs(kind) else { return };
    out.push_str("\n**Outputs**\n\n| output | type | untrusted | description |\n|---|---|---|---|\n");
    for d in &decls {
        let name = if d.name == examples::DECLARED { "each name in `outputs`".to_owned() } else { format!("`{}`", d.name) };
        let untrusted = if crate::validate::untrusted_output(kind, d) { "yes" } else { "no" };
        out.push_str(&format!("| {name} | {} | {untrusted} | {} |\n", output_type(d), cell(d.description)));
    }
}

fn output_type(d: &OutputDecl) -> String {
    let ty = serde_json::to_value(d.ty).ok().as_ref().map(literal).unwrap_or_default();
    if d.fields.is_empty() {
        return ty;
    }
    let fields = d.fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
    format!("{ty} of objects: {fields}")
}

#[cfg(test)]
mod tests;
