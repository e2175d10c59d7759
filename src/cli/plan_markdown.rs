//! `slipway plan --format markdown`: the plan as a pull-request comment. The
//! stage graph as a Mermaid diagram (GitHub and GitLab draw it), then each
//! stage with its kind, hosts, condition and every request and command it
//! would make, long ones folded in `<details>`. GitHub refuses comments over
//! 65,536 characters, so the text stops at whole stages before that and says
//! how many it left out.

use std::fmt::Write;

use slipway_core::dag::Dag;
use slipway_core::model::Pipeline;
use slipway_core::render;
use slipway_engine::{Effect, PlannedStage};

/// GitHub's limit on a comment's length, in characters.
pub const COMMENT_LIMIT: usize = 65_536;
/// Kept free under the limit for the truncation note and whatever a CI job
/// wraps around the comment (a marker to find it again, a heading).
const SLACK: usize = 1_024;
/// An effect longer than this (in lines) is folded.
const FOLD_LINES: usize = 8;
/// An effect longer than this (in bytes) is folded.
const FOLD_BYTES: usize = 600;

/// The markdown plan, at most [`COMMENT_LIMIT`] bytes (so at most as many characters).
pub fn markdown(pipeline: &Pipeline, dag: &Dag, stages: &[PlannedStage]) -> String {
    markdown_within(pipeline, dag, stages, COMMENT_LIMIT)
}

/// The markdown plan, at most `limit` bytes.
pub fn markdown_within(pipeline: &Pipeline, dag: &Dag, stages: &[PlannedStage], limit: usize) -> String {
    let budget = limit.saturating_sub(SLACK);
    let name = &pipeline.name.value;
    let mut out = format!("### Plan for `{name}`\n\n{} stages, nothing changed yet. Secrets are shown as `***`.\n\n", stages.len());
    let graph = render::mermaid(dag);
    if out.len() + graph.len() + 32 < budget / 2 {
        let _ = write!(out, "```mermaid\n{graph}```\n\n");
    } else {
        out.push_str("_The stage graph is too large for a comment: `slipway graph` prints it._\n\n");
    }
    let mut shown = 0;
    for (n, s) in stages.iter().enumerate() {
        let section = stage(pipeline, n + 1, s);
        if out.len() + section.len() > budget {
            break;
        }
        out.push_str(&section);
        shown += 1;
    }
    if shown < stages.len() {
        let _ = writeln!(
            out,
            "---\n\n**Truncated:** {} of {} stages are not shown, to stay under the comment limit of {COMMENT_LIMIT} characters. `slipway plan` shows the whole plan.",
            stages.len() - shown,
            stages.len()
        );
    }
    out
}

fn stage(pipeline: &Pipeline, n: usize, s: &PlannedStage) -> String {
    let mut out = format!("#### {n}. `{}` ({})\n\n", s.id, s.kind);
    if let Some(role) = pipeline.stage(&s.id).and_then(|st| st.config.spec().host_role()) {
        let names: Vec<&str> = pipeline.hosts.get(role.as_str()).into_iter().flatten().map(|h| h.name().value.as_str()).collect();
        let names: Vec<String> = names.iter().map(|n| code_span(n)).collect();
        let _ =
            writeln!(out, "- hosts: {} ({})", code_span(&role.value), if names.is_empty() { "none".to_owned() } else { names.join(", ") });
    }
    if !s.needs.is_empty() {
        let after: Vec<String> = s.needs.iter().map(|n| format!("`{n}`")).collect();
        let _ = writeln!(out, "- after: {}", after.join(", "));
    }
    if s.when != "success" {
        let _ = writeln!(out, "- when: `{}`", s.when);
    }
    if let Some(c) = &s.condition {
        let decided = if s.decided_at_run { " (decided at run time)" } else { "" };
        let _ = writeln!(out, "- only if: {}{decided}", code_span(c));
    }
    if s.live {
        out.push_str("- read live\n");
    }
    if let Some(err) = &s.error {
        let _ = writeln!(out, "- **error:** {}", code_span(err));
    }
    if s.live && s.error.is_none() {
        // Read for real: what was read (masked like everything else).
        for (name, value) in &s.outputs {
            let text = match value {
                serde_json::Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "- read `{name}` = {}", code_span(&one_line(&text, 120)));
        }
    } else if !s.outputs.is_empty() {
        let names: Vec<String> = s.outputs.keys().map(|k| format!("`{k}`")).collect();
        let _ = writeln!(out, "- outputs: {}", names.join(", "));
    }
    out.push('\n');
    for e in &merged(&s.effects) {
        effect(&mut out, e);
    }
    out
}

/// The effects, with one command on many hosts said once: a converge on 40
/// hosts is one block naming them all, not 40 copies.
fn merged(effects: &[Effect]) -> Vec<Effect> {
    let mut out: Vec<Effect> = Vec::with_capacity(effects.len());
    for e in effects {
        if let (Some(Effect::Command { command, on, env, workdir }), Effect::Command { command: c, on: o, env: v, workdir: w }) =
            (out.last_mut(), e)
            && (command.as_str(), &*env, &*workdir) == (c.as_str(), v, w)
        {
            on.extend(o.iter().cloned());
            continue;
        }
        out.push(e.clone());
    }
    out
}

/// One effect: a short one in a code block, a long one folded under a summary line.
fn effect(out: &mut String, e: &Effect) {
    let (summary, lang, body) = match e {
        Effect::Http { method, url, headers, body } => {
            let mut text = format!("{method} {url}\n");
            for (k, v) in headers {
                let _ = writeln!(text, "{k}: {v}");
            }
            if let Some(b) = body {
                let _ = writeln!(text, "\n{b}");
            }
            (format!("{method} {url}"), "http", text)
        }
        Effect::Command { command, on, env, workdir } => {
            let mut text = String::new();
            for (k, v) in env {
                let _ = writeln!(text, "# env {k}={v}");
            }
            if let Some(w) = workdir {
                let _ = writeln!(text, "# in {w}");
            }
            let _ = writeln!(text, "{}", command.trim_end());
            (format!("command on {}", on.join(", ")), "sh", text)
        }
        Effect::Redis { url, command } => (format!("redis {url}"), "text", format!("{command}\n")),
        Effect::Note { text } => {
            let _ = writeln!(out, "> {}\n", html_text(&one_line(text, 2000)));
            return;
        }
    };
    let block = fenced(lang, &body);
    if body.lines().count() > FOLD_LINES || body.len() > FOLD_BYTES {
        let lines = body.lines().count();
        let _ =
            write!(out, "<details><summary>{} ({lines} lines)</summary>\n\n{block}\n</details>\n\n", html_text(&one_line(&summary, 120)));
    } else {
        if let Effect::Command { on, .. } = e {
            let _ = write!(out, "on {}:\n\n", on.iter().map(|h| code_span(h)).collect::<Vec<_>>().join(", "));
        }
        let _ = writeln!(out, "{block}");
    }
}

/// A fenced code block whose fence is longer than any run of backticks in `text`.
fn fenced(lang: &str, text: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(text).max(2) + 1);
    let text = if text.ends_with('\n') { text.to_owned() } else { format!("{text}\n") };
    format!("{fence}{lang}\n{text}{fence}\n")
}

/// Inline code holding any text: one line, delimited by more backticks than it holds.
fn code_span(text: &str) -> String {
    let flat = one_line(text, 300);
    if flat.is_empty() {
        return "_(empty)_".to_owned();
    }
    let ticks = "`".repeat(longest_backtick_run(&flat) + 1);
    let pad = if flat.starts_with('`') || flat.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{flat}{pad}{ticks}")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Text inside HTML (a `<summary>`): no tag, no entity of its own.
fn html_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `text` on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_outlasts_the_backticks_it_holds() {
        assert_eq!(fenced("sh", "echo hi"), "```sh\necho hi\n```\n");
        assert_eq!(fenced("sh", "a ```` b\n"), "`````sh\na ```` b\n`````\n");
    }

    #[test]
    fn a_code_span_holds_backticks_and_stays_on_one_line() {
        assert_eq!(code_span("a\nb"), "`a b`");
        assert_eq!(code_span("x `y` z"), "``x `y` z``");
        assert_eq!(code_span("`q"), "`` `q ``");
        assert_eq!(code_span(""), "_(empty)_");
    }

    #[test]
    fn summaries_carry_no_markup() {
        assert_eq!(html_text("GET <a>&"), "GET &lt;a&gt;&amp;");
    }
}
