//! The reference documents every type, value, field and output: each test
//! fails on one way it used not to.

use serde_json::{Map, Value};

use super::*;

fn schema() -> Value {
    serde_json::from_str(&crate::schema::pipeline_schema_json()).unwrap()
}

/// Every mapping with fields in the schema, by a name for messages.
fn objects(schema: &Value) -> Vec<(String, Value)> {
    let mut out = vec![("the top level".to_owned(), schema.clone())];
    for (name, def) in schema["definitions"].as_object().unwrap() {
        if name == "Stage" {
            for v in def["oneOf"].as_array().unwrap() {
                out.push((format!("kind: {}", v["title"].as_str().unwrap()), v.clone()));
            }
        } else if def.get("properties").is_some() {
            out.push((name.clone(), def.clone()));
        }
    }
    out
}

/// The rows of every field table: (field, type, required, description).
fn field_rows(md: &str) -> Vec<[String; 4]> {
    let mut rows = Vec::new();
    let mut in_fields = false;
    for line in md.lines() {
        if line.starts_with("| field |") {
            in_fields = true;
        } else if !line.starts_with('|') {
            in_fields = false;
        } else if in_fields && !line.starts_with("|---") {
            let cells: Vec<String> = split_row(line);
            rows.push([cells[0].clone(), cells[1].clone(), cells[2].clone(), cells[3].clone()]);
        }
    }
    rows
}

/// A table row's cells, honouring `\|` inside a cell.
fn split_row(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_type_a_field_can_have_has_a_section() {
    // Before: `JiraTarget`, `DatadogSink`, `HealthCheck`, `DeploySource`, … were named and never described.
    let md = reference_markdown();
    let schema = schema();
    let mut named = Vec::new();
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    out.push(r.rsplit('/').next().unwrap().to_owned());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    refs(&schema, &mut named);
    named.sort();
    named.dedup();
    for name in ["JiraTarget", "DatadogSink", "HealthCheck", "DeploySource", "Template", "Duration"] {
        assert!(named.iter().any(|n| n == name), "{name} is no longer in the schema: pick another");
    }
    for name in named.iter().filter(|n| *n != "Stage") {
        let heading = md.find(&format!("{}\n##", anchor(name)));
        assert!(heading.is_some(), "`{name}` has no section");
        let def = &schema["definitions"][name];
        let section = &md[heading.unwrap()..];
        let section = &section[..section[4..].find("<a id=").map_or(section.len(), |i| i + 4)];
        if let Some(d) = def.get("description").and_then(Value::as_str) {
            assert!(section.contains(&one_line(d)), "`{name}`'s section lacks its description");
        } else {
            panic!("`{name}` has no description to document it with");
        }
        if def.get("properties").is_some() {
            assert!(section.contains("| field | type | required | description |"), "`{name}` lists no fields");
        }
        if let Some(values) = enum_values(def) {
            for (value, description) in values {
                assert!(!description.is_empty(), "value `{value}` of `{name}` has no doc comment");
                assert!(section.contains(&format!("| `{value}` | {} |", cell(&description))), "`{name}`: value `{value}`");
            }
        }
    }
}

#[test]
fn enum_fields_show_their_values_and_no_type_is_any() {
    // Before: `when`, `tool`, `on_failure`, `method`, `run` and `version` read `any`.
    let md = reference_markdown();
    let rows = field_rows(&md);
    assert!(rows.len() > 150, "{} rows", rows.len());
    for [field, ty, ..] in &rows {
        assert!(!ty.is_empty() && ty != "any" && !ty.starts_with("any "), "{field}: type `{ty}`");
    }
    let schema = schema();
    let defs = schema["definitions"].as_object().unwrap();
    for (owner, object) in objects(&schema) {
        for (field, prop) in object["properties"].as_object().unwrap() {
            let def = ref_name(prop).and_then(|r| defs.get(r));
            let Some(values) = def.and_then(enum_values).or_else(|| enum_values(prop)) else { continue };
            let row = rows.iter().find(|r| r[0] == format!("`{field}`") && values.iter().all(|(v, _)| r[1].contains(&format!("`{v}`"))));
            assert!(row.is_some(), "{owner}: `{field}` does not show its values {values:?}");
        }
    }
    let when = rows.iter().find(|r| r[0] == "`when`").unwrap();
    assert!(when[1].starts_with("`success` | `failure` | `always`"), "{when:?}");
}

#[test]
fn every_field_has_its_own_whole_description() {
    // Before: empty cells, the generic "Text rendered with Handlebars…" line for
    // fields without a doc comment, and type descriptions cut at their first line.
    let md = reference_markdown();
    let rows = field_rows(&md);
    let schema = schema();
    let defs: &Map<String, Value> = schema["definitions"].as_object().unwrap();
    let type_docs: Vec<String> = defs.values().filter_map(|d| d["description"].as_str()).map(one_line).collect();
    for [field, ty, required, description] in &rows {
        assert!(!description.is_empty(), "{field} ({ty}) has no description");
        assert!(required == "yes" || required == "no", "{field}: required `{required}`");
        assert!(!type_docs.contains(description), "{field}: the description of a type, not of the field: {description}");
        assert!(!description.starts_with("Text rendered with Handlebars"), "{field}: {description}");
    }
    for (owner, object) in objects(&schema) {
        for (field, prop) in object["properties"].as_object().unwrap() {
            let own = prop.get("description").and_then(Value::as_str).unwrap_or_else(|| panic!("{owner}: `{field}` has no doc comment"));
            let whole = one_line(own);
            assert!(
                rows.iter().any(|r| r[0] == format!("`{field}`") && r[3] == whole),
                "{owner}: `{field}` is not shown with its whole description: {whole}"
            );
        }
    }
}

#[test]
fn each_kind_lists_its_outputs_with_their_types() {
    // Before: a kind's section listed its fields and nothing of what it outputs.
    let md = reference_markdown();
    for name in Kind::NAMES {
        let kind = Kind::from_name(name).unwrap();
        let start = md.find(&format!("### `kind: {name}`")).unwrap_or_else(|| panic!("no section for `{name}`"));
        let section = &md[start..];
        let section = &section[..section[3..].find("\n### ").or_else(|| section.find("\n## ")).map_or(section.len(), |i| i + 3)];
        assert!(section.contains("**Outputs**\n\n| output | type | untrusted | description |"), "`{name}` lists no outputs");
        for d in examples::outputs(kind).unwrap() {
            let shown = if d.name == examples::DECLARED { "each name in `outputs`".to_owned() } else { format!("`{}`", d.name) };
            let untrusted = if crate::validate::untrusted_output(kind, &d) { "yes" } else { "no" };
            let row = format!("| {shown} | {} | {untrusted} | {} |", output_type(&d), cell(d.description));
            assert!(section.contains(&row), "`{name}`: {row}");
        }
    }
    // a list of objects says what each holds; a shell stage's own outputs are described generically
    assert!(md.contains("| `commits` | list of objects: `sha`, `short_sha`, `author`, `email`, `date`, `subject` | yes |"));
    assert!(md.contains("| each name in `outputs` | string | yes | declared under `outputs`"));
}
