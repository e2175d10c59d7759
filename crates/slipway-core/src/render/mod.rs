//! Diagnostics and graphs as text: human (code frames), GitHub annotations,
//! GitLab Code Quality, JSON, Mermaid and DOT. Rendering is separate from
//! finding problems.

mod github;
mod gitlab;
mod graph;
mod human;
mod json;

pub use github::github;
pub use gitlab::gitlab_report;
pub use graph::{dot, mermaid};
pub use human::{human, summary};
pub use json::{JsonDiagnostic, json_diagnostic, json_report};

use crate::diagnostic::Diagnostic;
use crate::source::{LineCol, SourceFile};

/// Start and end of a diagnostic as 1-based line/column; file-wide problems sit at 1:1.
pub(crate) fn range(file: &SourceFile, d: &Diagnostic) -> (LineCol, LineCol) {
    match d.span {
        Some(s) => (file.line_col(s.start), file.line_col(s.end.max(s.start))),
        None => (LineCol { line: 1, column: 1 }, LineCol { line: 1, column: 1 }),
    }
}
