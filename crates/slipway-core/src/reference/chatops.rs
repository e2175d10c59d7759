//! The chat-ops config's part of the reference: its top level and each of its
//! own types, from its schema. Types it shares with pipelines (`Secret`,
//! `Version`) link to their entries above.

use serde_json::{Map, Value};

use super::{Doc, anchor};

/// Its own types, in the order a reader meets them.
const TYPES: &[(&str, &str)] = &[
    ("SlackSettings", "slack"),
    ("MattermostSettings", "mattermost"),
    ("Alias", "aliases.NAME"),
    ("AllowRule", "allow[]"),
    ("ConfirmRule", "confirm[]"),
];

pub(super) fn section(out: &mut String) {
    let schema: Value = serde_json::from_str(&crate::schema::chatops_schema_json()).unwrap_or_default();
    let defs: Map<String, Value> = schema.get("definitions").and_then(Value::as_object).cloned().unwrap_or_default();
    let doc = Doc { defs: &defs };
    out.push_str(
        "\n## Chat-ops config (`slipway serve`)\n\n\
         A separate file (e.g. `deploy/chatops.yaml`), recognised by its top-level `aliases` key; \
         its schema is `schemas/chatops.schema.json`. The guide is [chatops.md](chatops.md).\n\n",
    );
    doc.paragraph(out, &schema);
    doc.table(out, &schema);
    for (name, title) in TYPES {
        if let Some(def) = defs.get(*name) {
            out.push_str(&format!("\n{}\n### `{title}`\n\n", anchor(name)));
            doc.paragraph(out, def);
            doc.table(out, def);
        }
    }
}
