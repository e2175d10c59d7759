//! A pipeline diff for people (terminal text) and for pull requests
//! (Markdown). Both say the same things in the same order; only the markup
//! differs. JSON is the diff's own serialization.

use std::fmt::Write;

use serde_json::Value;

use super::{FieldChange, PipelineDiff};

/// A value longer than this (in characters, as compact JSON) is cut.
const VALUE_CHARS: usize = 120;

/// One line of a section: `+` added, `-` removed, `~` changed; changed things
/// carry their fields.
struct Item {
    sign: char,
    text: String,
    fields: Vec<FieldChange>,
}

/// The diff as terminal text.
pub fn human(d: &PipelineDiff) -> String {
    let mut out = headline(d, &|s| format!("`{s}`"));
    for (title, items) in sections(d, &|s| format!("`{s}`")) {
        let _ = writeln!(out, "\n{title}:");
        for item in items {
            let _ = writeln!(out, "  {} {}", item.sign, item.text);
            for f in &item.fields {
                let _ = writeln!(out, "      {}: {} -> {}", f.field, value(&f.before), value(&f.after));
            }
        }
    }
    out
}

/// GitHub's limit on a comment's length, in characters.
const COMMENT_LIMIT: usize = 65_536;

/// The diff as a pull-request comment, cut at a whole line to stay under
/// GitHub's comment limit (saying so).
pub fn markdown(d: &PipelineDiff) -> String {
    markdown_within(d, COMMENT_LIMIT)
}

/// The diff as Markdown of at most `limit` bytes (so at most as many characters).
pub fn markdown_within(d: &PipelineDiff, limit: usize) -> String {
    let full = markdown_full(d);
    if full.len() <= limit {
        return full;
    }
    let note = "\n**Truncated** to stay under the comment limit: `slipway diff` prints the whole diff.\n";
    let mut room = limit.saturating_sub(note.len());
    while !full.is_char_boundary(room) {
        room -= 1;
    }
    let cut = full[..room].rfind('\n').map_or(0, |n| n + 1);
    format!("{}{note}", &full[..cut])
}

fn markdown_full(d: &PipelineDiff) -> String {
    let mut out = format!("### Pipeline diff\n\n{}", headline(d, &code_span));
    for (title, items) in sections(d, &code_span) {
        let _ = writeln!(out, "\n#### {}\n", capitalised(&title));
        for item in items {
            let word = match item.sign {
                '+' => "added",
                '-' => "removed",
                _ => "changed",
            };
            let _ = writeln!(out, "- **{word}** {}", item.text);
            for f in &item.fields {
                let _ = writeln!(out, "  - {}: {} → {}", code_span(&f.field), code_span(&value(&f.before)), code_span(&value(&f.after)));
            }
        }
    }
    out
}

fn headline(d: &PipelineDiff, code: &dyn Fn(&str) -> String) -> String {
    let name = match d.base_name == d.head_name {
        true => code(&d.head_name),
        false => format!("{} (was {})", code(&d.head_name), code(&d.base_name)),
    };
    if d.is_empty() {
        return format!("pipeline {name}: no changes\n");
    }
    let counts = [(d.stages_added.len(), "added"), (d.stages_removed.len(), "removed"), (d.stages_changed.len(), "changed")];
    let said: Vec<String> = counts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
    let stages = if said.is_empty() { "no stage changed".to_owned() } else { format!("stages: {}", said.join(", ")) };
    format!("pipeline {name}: {stages}\n")
}

fn sections(d: &PipelineDiff, code: &dyn Fn(&str) -> String) -> Vec<(String, Vec<Item>)> {
    let item = |sign, text: String| Item { sign, text, fields: Vec::new() };
    let mut out: Vec<(String, Vec<Item>)> = Vec::new();
    let mut push = |title: &str, items: Vec<Item>| {
        if !items.is_empty() {
            out.push((title.to_owned(), items));
        }
    };
    push(
        "pipeline",
        vec![Item { sign: '~', text: "pipeline settings".to_owned(), fields: d.pipeline.clone() }]
            .into_iter()
            .filter(|i| !i.fields.is_empty())
            .collect(),
    );
    let mut stages: Vec<Item> = Vec::new();
    for s in &d.stages_added {
        let after = match s.after.is_empty() {
            true => String::new(),
            false => format!(", after {}", s.after.iter().map(|a| code(a)).collect::<Vec<_>>().join(", ")),
        };
        stages.push(item('+', format!("{} ({}){after}", code(&s.id), s.kind)));
    }
    stages.extend(d.stages_removed.iter().map(|s| item('-', format!("{} ({})", code(&s.id), s.kind))));
    stages.extend(d.stages_changed.iter().map(|s| Item {
        sign: '~',
        text: format!("{} ({})", code(&s.id), s.kind),
        fields: s.fields.clone(),
    }));
    push("stages", stages);
    let edge = |e: &super::EdgeRef| {
        let how = if e.implicit { "reads" } else { "needs" };
        format!("{} {how} {}", code(&e.to), code(&e.from))
    };
    let mut edges: Vec<Item> = d.edges_added.iter().map(|e| item('+', edge(e))).collect();
    edges.extend(d.edges_removed.iter().map(|e| item('-', edge(e))));
    push("edges", edges);
    for (title, added, removed, changed) in [
        ("params", &d.params_added, &d.params_removed, &d.params_changed),
        ("secrets", &d.secrets_added, &d.secrets_removed, &d.secrets_changed),
    ] {
        let mut items: Vec<Item> = added.iter().map(|n| item('+', code(n))).collect();
        items.extend(removed.iter().map(|n| item('-', code(n))));
        items.extend(changed.iter().map(|c| Item { sign: '~', text: code(&c.name), fields: c.fields.clone() }));
        push(title, items);
    }
    let hosts = d
        .hosts_changed
        .iter()
        .map(|r| {
            let mut parts = Vec::new();
            for (word, names) in [("added", &r.added), ("removed", &r.removed), ("changed", &r.changed)] {
                if !names.is_empty() {
                    parts.push(format!("{word} {}", names.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")));
                }
            }
            item('~', format!("role {}: {}", code(&r.role), parts.join("; ")))
        })
        .collect();
    push("hosts", hosts);
    out
}

/// A value as compact JSON on one line (`unset` for null), cut to [`VALUE_CHARS`].
fn value(v: &Value) -> String {
    let text = match v {
        Value::Null => return "unset".to_owned(),
        other => other.to_string(),
    };
    match text.char_indices().nth(VALUE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Inline code holding any text on one line: more backticks than it holds.
pub(crate) fn code_span(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let run = flat.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(run + 1);
    let pad = if flat.starts_with('`') || flat.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{flat}{pad}{ticks}")
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
