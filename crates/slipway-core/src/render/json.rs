//! The JSON format, fixed for machines:
//! `{"diagnostics":[{"file","line","column","end_line","end_column","severity","code","message","help"}]}`.

use super::range;
use crate::diagnostic::{Diagnostic, Severity};
use crate::source::SourceFile;

#[derive(Debug, serde::Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
}

pub fn json_diagnostic(file: &SourceFile, d: &Diagnostic) -> JsonDiagnostic {
    let (start, end) = range(file, d);
    JsonDiagnostic {
        file: file.path.to_string(),
        line: start.line,
        column: start.column,
        end_line: end.line,
        end_column: end.column,
        severity: d.severity,
        code: d.code.as_str(),
        message: d.message.clone(),
        help: d.help.clone(),
    }
}

/// The whole report for several files.
pub fn json_report<'a>(items: impl IntoIterator<Item = (&'a SourceFile, &'a Diagnostic)>) -> String {
    let diagnostics: Vec<JsonDiagnostic> = items.into_iter().map(|(f, d)| json_diagnostic(f, d)).collect();
    serde_json::to_string_pretty(&serde_json::json!({ "diagnostics": diagnostics })).unwrap_or_default()
}
