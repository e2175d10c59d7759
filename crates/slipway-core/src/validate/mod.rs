//! From bytes to a checked pipeline: every problem at once, each a diagnostic.

mod names;
mod references;
mod semantic;

use crate::dag::Dag;
use crate::decode::Decoder;
use crate::diagnostic::{Code, Diagnostic};
use crate::model::Pipeline;
use crate::source::{SourceFile, Span};
use crate::yaml::{self, Limits};

/// The outcome of checking one file.
#[derive(Debug)]
pub struct Checked {
    pub file: SourceFile,
    /// The decoded model. Trust it only when [`Checked::is_valid`].
    pub pipeline: Option<Pipeline>,
    pub dag: Dag,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn is_valid(&self) -> bool {
        self.pipeline.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// Checks a file's raw bytes (non-UTF-8 is a diagnostic, not a failure).
pub fn check_bytes(path: &str, bytes: &[u8]) -> Checked {
    match std::str::from_utf8(bytes) {
        Ok(text) => check_str(path, text),
        Err(e) => {
            let file = SourceFile::new(path, String::from_utf8_lossy(bytes).into_owned());
            let at = e.valid_up_to();
            let d = Diagnostic::error(
                Code::InvalidUtf8,
                Span::new(at, at + 1),
                format!("the file is not UTF-8: invalid byte 0x{:02x}", bytes[at]),
            )
            .with_help("save the file as UTF-8");
            Checked { file, pipeline: None, dag: Dag::default(), diagnostics: vec![d] }
        }
    }
}

/// Checks pipeline text.
pub fn check_str(path: &str, text: &str) -> Checked {
    let file = SourceFile::new(path, text);
    let (root, mut diagnostics) = yaml::load(text, Limits::default());
    let root = match root {
        Some(r) if !r.is_null() => r,
        _ => {
            if diagnostics.is_empty() {
                diagnostics.push(
                    Diagnostic::error(Code::EmptyFile, None, "the file holds no pipeline")
                        .with_help("start with `version: 1`, a `name:` and a `stages:` mapping"),
                );
            }
            return Checked { file, pipeline: None, dag: Dag::default(), diagnostics };
        }
    };
    let mut cx = Decoder::new();
    let pipeline = Pipeline::decode(&root, &mut cx);
    diagnostics.append(&mut cx.diagnostics);
    let mut dag = Dag::default();
    if let Some(p) = &pipeline {
        let declared = names::Declared::from_root(&root);
        semantic::check(p, &declared, &file, &mut dag, &mut diagnostics);
    }
    sort(&mut diagnostics);
    Checked { file, pipeline, dag, diagnostics }
}

/// Source order; a file-wide problem first.
fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.span.map(|s| (s.start, s.end)), d.code));
}
