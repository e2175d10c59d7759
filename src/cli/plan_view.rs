//! `slipway plan` for people: each stage in order, with every request and
//! command it would make.

use std::fmt::Write;

use slipway_engine::{Effect, PlannedStage};

use super::report::OutputFormat;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlanFormat {
    /// Lines for people.
    #[default]
    Human,
    /// One JSON object: the pipeline's name and every stage's effects.
    Json,
    /// A pull-request comment: a Mermaid graph and every stage, long ones folded.
    Markdown,
}

impl PlanFormat {
    /// How problems that stop the plan are shown: JSON for JSON, else text on stderr.
    pub fn failures(self) -> OutputFormat {
        match self {
            PlanFormat::Json => OutputFormat::Json,
            PlanFormat::Human | PlanFormat::Markdown => OutputFormat::Human,
        }
    }
}

impl From<OutputFormat> for PlanFormat {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Human => PlanFormat::Human,
            OutputFormat::Json => PlanFormat::Json,
        }
    }
}

pub fn human(pipeline: &str, stages: &[PlannedStage]) -> String {
    let mut out = format!("plan for {pipeline}: {} stages, nothing is changed\n", stages.len());
    for (n, s) in stages.iter().enumerate() {
        let _ = write!(out, "\n{}. {} ({})", n + 1, s.id, s.kind);
        if !s.needs.is_empty() {
            let _ = write!(out, " after {}", s.needs.join(", "));
        }
        if s.when != "success" {
            let _ = write!(out, " [when: {}]", s.when);
        }
        if s.live {
            out.push_str(" [read live]");
        }
        out.push('\n');
        match &s.condition {
            Some(c) if s.decided_at_run => {
                let _ = writeln!(out, "   only if: {c} (decided at run time)");
            }
            Some(c) => {
                let _ = writeln!(out, "   only if: {c}");
            }
            None => {}
        }
        for e in &s.effects {
            effect(&mut out, e);
        }
        if let Some(err) = &s.error {
            let _ = writeln!(out, "   error: {err}");
        }
        if s.live && s.error.is_none() {
            // Read for real: show what was read (masked like everything else).
            for (name, value) in &s.outputs {
                let text = match value {
                    serde_json::Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                let _ = writeln!(out, "   output {name} = {}", one_line(&text, 120));
            }
        } else if !s.outputs.is_empty() {
            let names: Vec<&str> = s.outputs.keys().map(String::as_str).collect();
            let _ = writeln!(out, "   outputs: {}", names.join(", "));
        }
    }
    out
}

fn effect(out: &mut String, e: &Effect) {
    match e {
        Effect::Http { method, url, headers, body } => {
            let _ = writeln!(out, "   {method} {url}");
            for (k, v) in headers {
                let _ = writeln!(out, "     {k}: {v}");
            }
            if let Some(b) = body {
                for line in b.lines() {
                    let _ = writeln!(out, "     | {line}");
                }
            }
        }
        Effect::Command { command, on, env, workdir } => {
            let _ = writeln!(out, "   $ on {}:", on.join(", "));
            for line in command.lines() {
                let _ = writeln!(out, "     | {line}");
            }
            for (k, v) in env {
                let _ = writeln!(out, "     env {k}={v}");
            }
            if let Some(w) = workdir {
                let _ = writeln!(out, "     in {w}");
            }
        }
        Effect::Redis { url, command } => {
            let _ = writeln!(out, "   redis {url}: {command}");
        }
        Effect::Note { text } => {
            let _ = writeln!(out, "   note: {text}");
        }
    }
}

/// `text` on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}
