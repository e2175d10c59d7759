//! The format reference (`docs/reference.md`), generated from the JSON Schema so it
//! cannot drift from the code: one table per section and per stage kind.

use serde_json::Value;

pub fn reference_markdown() -> String {
    let schema: Value = serde_json::from_str(&crate::schema::pipeline_schema_json()).unwrap_or_default();
    let defs = schema.get("definitions").cloned().unwrap_or_default();
    let mut out = String::from(
        "# Pipeline format reference\n\n\
         Generated from the Rust types by `cargo xtask schema`; do not edit. \
         The prose guide is [format.md](format.md).\n\n## Top level\n\n",
    );
    table(&mut out, &schema, &defs);
    for (name, title) in [
        ("Param", "params.NAME"),
        ("Secret", "secrets.NAME"),
        ("HostSpec", "hosts.ROLE[] (mapping form)"),
        ("SshSettings", "ssh"),
        ("Defaults", "defaults"),
        ("Retry", "retry"),
    ] {
        if let Some(def) = defs.get(name) {
            out.push_str(&format!("\n## `{title}`\n\n"));
            table(&mut out, def, &defs);
        }
    }
    let variants = defs.pointer("/Stage/oneOf").and_then(Value::as_array).cloned().unwrap_or_default();
    out.push_str(
        "\n## Stages\n\nEvery stage takes `kind` and the common fields `needs`, `when`, `if`, `retry`, `timeout` and `description`.\n",
    );
    for v in &variants {
        let kind = v.get("title").and_then(Value::as_str).unwrap_or("?");
        out.push_str(&format!("\n### `kind: {kind}`\n\n"));
        if let Some(d) = v.get("description").and_then(Value::as_str) {
            out.push_str(&format!("{}\n\n", d.replace('\n', " ")));
        }
        table(&mut out, v, &defs);
    }
    out
}

fn table(out: &mut String, object: &Value, defs: &Value) {
    let required: Vec<&str> =
        object.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    out.push_str("| field | type | required | description |\n|---|---|---|---|\n");
    let Some(props) = object.get("properties").and_then(Value::as_object) else { return };
    for (name, prop) in props {
        let desc = description(prop, defs).replace('\n', " ").replace('|', "\\|");
        let req = if required.contains(&name.as_str()) { "yes" } else { "" };
        out.push_str(&format!("| `{name}` | {} | {req} | {desc} |\n", type_name(prop)));
    }
}

fn type_name(prop: &Value) -> String {
    if let Some(r) = prop.get("$ref").and_then(Value::as_str) {
        return format!("`{}`", r.rsplit('/').next().unwrap_or(r));
    }
    if let Some(c) = prop.get("const") {
        return format!("`{c}`");
    }
    if let Some(e) = prop.get("enum").and_then(Value::as_array) {
        return e.iter().map(|v| format!("`{}`", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(" \\| ");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = prop.get(key).and_then(Value::as_array) {
            let names: Vec<String> = alts.iter().filter(|a| a.get("type") != Some(&Value::from("null"))).map(type_name).collect();
            return names.join(" or ");
        }
    }
    match prop.get("type") {
        Some(Value::String(t)) if t == "array" => format!("list of {}", prop.get("items").map(type_name).unwrap_or_default()),
        Some(Value::String(t)) if t == "object" => match prop.get("additionalProperties") {
            Some(v @ Value::Object(_)) => format!("map of {}", type_name(v)),
            _ => "mapping".into(),
        },
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect::<Vec<_>>().join(" or "),
        _ => "any".into(),
    }
}

fn description(prop: &Value, defs: &Value) -> String {
    if let Some(d) = prop.get("description").and_then(Value::as_str) {
        return d.to_owned();
    }
    let target = prop.get("$ref").or_else(|| prop.get("anyOf").and_then(|a| a.get(0)).and_then(|a| a.get("$ref")));
    target
        .and_then(Value::as_str)
        .and_then(|r| defs.get(r.rsplit('/').next()?))
        .and_then(|d| d.get("description"))
        .and_then(Value::as_str)
        .map(|d| d.lines().next().unwrap_or(d).to_owned())
        .unwrap_or_default()
}
