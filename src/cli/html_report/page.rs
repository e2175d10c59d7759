//! The report page: one HTML file with its CSS, script and pictures inline.
//! A Content-Security-Policy allows only that CSS and that script (by hash)
//! and nothing else, so the page cannot load anything even if a value from the
//! journal slipped through; and every value from the journal is escaped
//! ([`esc`]), so a commit subject or an output is always shown as text.

use std::fmt::Write;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use slipway_engine::runid::rfc3339;

use super::model::{Run, Stage};
use super::svg::{self, clip, status_class};

const CSS: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// Text made safe for HTML content and double- or single-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline are not allowed in HTML text.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `450 ms`, `1.25 s`, `2 m 5 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.2} s", ms as f64 / 1000.0),
        _ => format!("{} m {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// `1 line`, `3 lines`.
fn lines(n: usize) -> String {
    if n == 1 { "1 line".to_owned() } else { format!("{n} lines") }
}

/// A CSP source for inline text: its SHA-256, base64.
fn hash(text: &str) -> String {
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes())))
}

pub fn render(run: &Run, run_id: &str) -> String {
    let mut out = String::new();
    let pipeline = run.meta.as_ref().map_or("?", |m| m.pipeline.as_str());
    let status = match run.status {
        Some(s) => s.as_str(),
        None => "unfinished",
    };
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src {}; script-src {}; base-uri 'none'; form-action 'none'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · run {}</title>\n<style>{CSS}</style>\n</head>\n<body>",
        hash(CSS),
        hash(SCRIPT),
        esc(pipeline),
        esc(run_id)
    );
    header(&mut out, run, run_id, pipeline, status);
    let _ = writeln!(out, "<section id=\"graph\">\n<h2>Stages</h2>\n{}\n</section>", svg::dag(run));
    let _ = writeln!(out, "<section id=\"timeline\">\n<h2>Timeline</h2>\n{}\n{}</section>", legend(), svg::gantt(run));
    out.push_str("<section id=\"details\">\n<h2>Stage by stage</h2>\n");
    for s in &run.stages {
        stage(&mut out, s, run.start);
    }
    out.push_str("</section>\n");
    let _ = writeln!(
        out,
        "<footer>Made by <code>slipway report</code> from the run's journal only.</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>"
    );
    out
}

fn header(out: &mut String, run: &Run, run_id: &str, pipeline: &str, status: &str) {
    let _ = writeln!(
        out,
        "<header>\n<h1>{} <span class=\"badge st-{}\">{}</span></h1>\n<dl class=\"facts\">\n<dt>run</dt><dd><code>{}</code></dd>",
        esc(pipeline),
        esc(status),
        esc(status),
        esc(run_id)
    );
    if let Some(m) = &run.meta {
        let when = if run.start > 0 { rfc3339(run.start / 1000) } else { m.started_at.clone() };
        let facts = [("started", when), ("took", duration(run.end.saturating_sub(run.start))), ("by", format!("{}@{}", m.user, m.host))];
        for (k, v) in facts {
            let _ = writeln!(out, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
        }
        let _ = writeln!(out, "<dt>file</dt><dd><code>{}</code></dd>", esc(&m.file));
        if run.starts > 1 {
            let times = match run.starts - 1 {
                1 => "once".to_owned(),
                n => format!("{n} times"),
            };
            let _ = writeln!(out, "<dt>resumed</dt><dd>{times}</dd>");
        }
        if !m.params.is_empty() {
            out.push_str("<dt>params</dt><dd><ul class=\"params\">");
            for (k, v) in &m.params {
                let note = if m.masked_params.contains(k) { " <em>(masked)</em>" } else { "" };
                let _ = write!(out, "<li><code>{}</code> = <code>{}</code>{note}</li>", esc(k), esc(v));
            }
            out.push_str("</ul></dd>\n");
        }
    }
    if run.unreadable_lines > 0 {
        let _ = writeln!(out, "<dt>damaged</dt><dd>{} journal lines could not be read</dd>", run.unreadable_lines);
    }
    if run.meta.as_ref().is_none_or(|m| m.needs.is_empty()) {
        out.push_str("<dt>graph</dt><dd>this run's journal records no dependencies: stages are drawn without edges</dd>\n");
    }
    out.push_str("</dl>\n<p id=\"summary\"></p>\n</header>\n");
}

fn legend() -> String {
    let mut out = String::from("<p class=\"legend\">");
    for o in svg::OUTCOMES {
        let _ = write!(out, "<span class=\"key o-{0}\">{0}</span> ", o.as_str());
    }
    out.push_str("<span class=\"key wait\">waiting to retry</span></p>\n");
    out
}

fn stage(out: &mut String, s: &Stage, t0: u64) {
    let id = esc(&s.id);
    let status = s.status.as_str();
    let _ = writeln!(
        out,
        "<article id=\"stage-{id}\" class=\"stage\" data-stage=\"{id}\" data-status=\"{status}\">\n<h3>{id} <span class=\"badge st-{status}\">{status}</span></h3>"
    );
    if s.reused {
        out.push_str("<p>reused: it succeeded in an earlier attempt of this run</p>\n");
    }
    if let Some(r) = &s.reason {
        let _ = writeln!(out, "<p class=\"reason\">{}</p>", esc(r));
    }
    if !s.attempts.is_empty() {
        out.push_str("<ol class=\"attempts\">\n");
        for a in &s.attempts {
            let took = a.end.map_or("no end recorded".to_owned(), |e| duration(e.saturating_sub(a.start)));
            let _ = write!(
                out,
                "<li data-attempt=\"{}\" class=\"o-{}\">attempt {}: <strong>{}</strong> at +{}, took {}",
                a.number,
                a.outcome.as_str(),
                a.number,
                a.outcome.as_str(),
                duration(a.start.saturating_sub(t0)),
                took
            );
            if let Some(e) = &a.error {
                let _ = write!(out, "<pre class=\"error\">{}</pre>", esc(e));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ol>\n");
    }
    if !s.hosts.is_empty() {
        out.push_str("<table class=\"hosts\"><thead><tr><th>host</th><th>status</th><th>detail</th><th>took</th></tr></thead><tbody>\n");
        for h in &s.hosts {
            let _ = writeln!(
                out,
                "<tr data-host=\"{0}\"><td>{0}</td><td class=\"h-{1}\">{2}</td><td>{3}</td><td>{4}</td></tr>",
                esc(&h.name),
                status_class(&h.status),
                esc(&h.status),
                esc(h.detail.as_deref().unwrap_or("")),
                h.duration_ms.map(duration).unwrap_or_default()
            );
        }
        out.push_str("</tbody></table>\n");
    }
    if !s.outputs.is_empty() {
        out.push_str("<dl class=\"outputs\">\n");
        for (k, v) in &s.outputs {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                v => serde_json::to_string_pretty(v).unwrap_or_default(),
            };
            let note = if s.masked.contains(k) { " <em>(masked)</em>" } else { "" };
            let _ = writeln!(out, "<dt>{}{note}</dt><dd><pre>{}</pre></dd>", esc(k), esc(&clip(&text, 20_000)));
        }
        out.push_str("</dl>\n");
    }
    if !s.log.is_empty() {
        let _ = write!(out, "<details><summary>log: {}</summary><pre class=\"log\">", lines(s.log.len() + s.log_dropped));
        for (stream, line) in &s.log {
            let class = if stream == "stderr" { "err" } else { "out" };
            let _ = writeln!(out, "<span class=\"{class}\">{}</span>", esc(line));
        }
        if s.log_dropped > 0 {
            let _ = writeln!(out, "… {} more lines in the journal", s.log_dropped);
        }
        out.push_str("</pre></details>\n");
    }
    out.push_str("</article>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(esc(r#"<img src=x onerror="alert('x')">&"#), "&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;");
        assert_eq!(esc("a\u{1b}[31mb\n"), "a\u{fffd}[31mb\n");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!((duration(450), duration(1250), duration(125_000)), ("450 ms".into(), "1.25 s".into(), "2 m 5 s".into()));
    }
}
