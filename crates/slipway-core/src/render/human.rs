//! The human format: a code frame with ` --> file:line:col`, a caret under the
//! offending text, secondary labels and a help line.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{SourceFile, Span};

pub fn human(file: &SourceFile, d: &Diagnostic, color: bool) -> String {
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let title = level.primary_title(d.message.as_str()).id(d.code.as_str());
    let mut group = match d.span.map(|s| file.snap(s)) {
        Some(span) => {
            let spans: Vec<Span> = std::iter::once(span).chain(d.secondary.iter().map(|l| file.snap(l.span))).collect();
            let first_line = spans.iter().map(|s| file.line_col(s.start).line).min().unwrap_or(1);
            let last_line = spans.iter().map(|s| file.line_col(s.end.max(s.start)).line).max().unwrap_or(first_line);
            let base = file.line_start(first_line);
            let end = file.line_start(last_line + 1).min(file.text.len());
            let source = file.text[base..end].trim_end_matches(['\n', '\r']);
            let clamp = |s: Span| {
                let s = file.snap(s);
                let start = s.start.clamp(base, base + source.len()) - base;
                let end = s.end.clamp(base + start, base + source.len()) - base;
                start..end
            };
            let mut primary = AnnotationKind::Primary.span(clamp(span));
            if let Some(label) = &d.label {
                primary = primary.label(label.as_str());
            }
            let mut snippet = Snippet::source(source).line_start(first_line).path(&*file.path).fold(true).annotation(primary);
            for l in &d.secondary {
                snippet = snippet.annotation(AnnotationKind::Context.span(clamp(l.span)).label(l.message.as_str()));
            }
            title.element(snippet)
        }
        None => Group::with_title(title).element(annotate_snippets::Origin::path(&*file.path)),
    };
    if let Some(help) = &d.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    renderer.render(&[group])
}

/// "2 errors, 1 warning in 3 files" (or that everything is valid).
pub fn summary(errors: usize, warnings: usize, files: usize) -> String {
    let plural = |n: usize, w: &str| {
        if n == 1 { format!("{n} {w}") } else { format!("{n} {w}s") }
    };
    let files = plural(files, "file");
    match (errors, warnings) {
        (0, 0) => format!("{files} checked: no problems"),
        (0, w) => format!("{files} checked: {}", plural(w, "warning")),
        (e, 0) => format!("{files} checked: {}", plural(e, "error")),
        (e, w) => format!("{files} checked: {}, {}", plural(e, "error"), plural(w, "warning")),
    }
}
