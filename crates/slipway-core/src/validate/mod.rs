//! From bytes to a checked pipeline: every problem at once, each a diagnostic.

mod foreign;
mod names;
mod references;
mod semantic;
mod suggest;

pub(crate) use references::untrusted_output;

use crate::dag::Dag;
use crate::decode::Decoder;
use std::collections::{BTreeMap, HashMap};

use crate::chatops::ChatOps;
use crate::decode::Decode;
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::model::Pipeline;
use crate::source::{SourceFile, Span};
use crate::yaml::{self, Limits};

/// The outcome of checking one file.
#[derive(Debug)]
pub struct Checked {
    pub file: SourceFile,
    /// The decoded model. Trust it only when [`Checked::is_valid`].
    pub pipeline: Option<Pipeline>,
    /// The decoded chat-ops config, when the file is one (a top-level `aliases`
    /// key): `slipway serve` reads it, `validate` checks it like a pipeline.
    pub chatops: Option<ChatOps>,
    pub dag: Dag,
    pub diagnostics: Vec<Diagnostic>,
    /// Problems found but not listed (past [`MAX_PER_CODE`] of one code); each such
    /// code has one `too-many-diagnostics` entry in `diagnostics` that says how many.
    pub omitted_errors: usize,
    pub omitted_warnings: usize,
}

/// Diagnostics of one code listed per file. Past it they are counted, not listed:
/// a hostile file could otherwise ask for millions of code frames, and nobody
/// reads the hundred-and-first `duplicate-key` before fixing the first.
pub const MAX_PER_CODE: usize = 100;

impl Checked {
    fn new(file: SourceFile, pipeline: Option<Pipeline>, dag: Dag, diagnostics: Vec<Diagnostic>) -> Self {
        Checked::tallied(file, pipeline, dag, diagnostics, Tally::default())
    }

    fn tallied(file: SourceFile, pipeline: Option<Pipeline>, dag: Dag, mut diagnostics: Vec<Diagnostic>, tally: Tally) -> Self {
        let (omitted_errors, omitted_warnings) = tally.finish(&mut diagnostics);
        Checked { file, pipeline, chatops: None, dag, diagnostics, omitted_errors, omitted_warnings }
    }

    /// A file that is larger than Slipway reads, known from its first bytes.
    pub fn too_large(path: &str) -> Self {
        let limit = Limits::default().max_bytes;
        let d = Diagnostic::error(
            Code::FileTooLarge,
            None,
            format!("the file is larger than {limit} bytes ({} MiB), the most Slipway reads", limit >> 20),
        )
        .with_help("split the pipeline into several files, or check that the path names a pipeline file");
        Checked::new(SourceFile::new(path, ""), None, Dag::default(), vec![d])
    }

    /// A file that could not be read (`io`), for the formats machines read:
    /// there the failure is a diagnostic like any other.
    pub fn unreadable(path: &str, message: impl Into<String>) -> Self {
        let d = Diagnostic::error(Code::Io, None, message).with_help("check that the path exists and can be read");
        Checked::new(SourceFile::new(path, ""), None, Dag::default(), vec![d])
    }

    pub fn is_valid(&self) -> bool {
        self.pipeline.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Whether the file is a chat-ops config without errors.
    pub fn is_valid_chatops(&self) -> bool {
        self.chatops.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> usize {
        self.listed(true) + self.omitted_errors
    }

    pub fn warnings(&self) -> usize {
        self.listed(false) + self.omitted_warnings
    }

    fn listed(&self, errors: bool) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error() == errors && d.code != Code::TooManyDiagnostics).count()
    }
}

/// Checks a file's raw bytes (non-UTF-8 is a diagnostic, not a failure).
pub fn check_bytes(path: &str, bytes: &[u8]) -> Checked {
    check_any(path, bytes, Origin::Named).unwrap_or_else(|| never_skipped(path))
}

/// Checks pipeline text.
pub fn check_str(path: &str, text: &str) -> Checked {
    check_text(path, text, Origin::Named).unwrap_or_else(|| never_skipped(path))
}

/// Checks a file found in a folder, or `None` when it is not a pipeline: YAML
/// with neither `version` nor `stages` at the top, or another tool's file
/// (GitHub Actions, GitLab CI, Compose). A file named on its own is always
/// checked ([`check_bytes`]).
pub fn check_found(path: &str, bytes: &[u8]) -> Option<Checked> {
    check_any(path, bytes, Origin::Found)
}

/// For text too large to read whole: whether its first bytes look like a
/// pipeline's, so that a large file found in a folder is reported only then.
pub fn found_looks_like_pipeline(head: &[u8]) -> bool {
    foreign::mentions_pipeline_keys(&String::from_utf8_lossy(head))
}

/// How a file came to be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Named on the command line: always checked.
    Named,
    /// Found in a folder: checked when it is a pipeline.
    Found,
}

/// What a named check would give if it skipped a file, which it never does
/// (only [`Origin::Found`] files are skipped).
fn never_skipped(path: &str) -> Checked {
    Checked::new(SourceFile::new(path, ""), None, Dag::default(), Vec::new())
}

fn check_any(path: &str, bytes: &[u8], origin: Origin) -> Option<Checked> {
    match std::str::from_utf8(bytes) {
        Ok(text) => check_text(path, text, origin),
        Err(e) => {
            let lossy = String::from_utf8_lossy(bytes).into_owned();
            if origin == Origin::Found && !foreign::mentions_pipeline_keys(&lossy) {
                return None;
            }
            let file = SourceFile::new(path, lossy);
            let at = e.valid_up_to();
            let d = Diagnostic::error(
                Code::InvalidUtf8,
                Span::new(at, at + 1),
                format!("the file is not UTF-8: invalid byte 0x{:02x}", bytes[at]),
            )
            .with_help("save the file as UTF-8");
            Some(Checked::new(file, None, Dag::default(), vec![d]))
        }
    }
}

fn check_text(path: &str, text: &str, origin: Origin) -> Option<Checked> {
    let file = SourceFile::new(path, text);
    let (root, mut diagnostics) = yaml::load(text, Limits::default());
    let root = match root {
        Some(r) if !r.is_null() => r,
        _ => {
            // no document: empty, or YAML that does not parse
            let broken_pipeline = !diagnostics.is_empty() && foreign::mentions_pipeline_keys(text);
            if origin == Origin::Found && !broken_pipeline {
                return None;
            }
            if diagnostics.is_empty() {
                diagnostics.push(
                    Diagnostic::error(Code::EmptyFile, None, "the file holds no pipeline")
                        .with_help("start with `version: 1`, a `name:` and a `stages:` mapping"),
                );
            }
            return Some(Checked::new(file, None, Dag::default(), diagnostics));
        }
    };
    if foreign::is_chatops(&root) {
        let mut cx = Decoder::new();
        let chatops = ChatOps::decode(&root, &mut cx);
        diagnostics.append(&mut cx.diagnostics);
        if let Some(c) = &chatops {
            crate::chatops::check(c, root.span, &mut diagnostics);
        }
        let checked = Checked::new(file, None, Dag::default(), diagnostics);
        return Some(Checked { chatops, ..checked });
    }
    if let Some((tool, span)) = foreign::recognise(&root) {
        if origin == Origin::Found {
            return None;
        }
        // one finding in place of a list of unknown fields
        return Some(Checked::new(file, None, Dag::default(), vec![foreign::diagnostic(tool, span)]));
    }
    if origin == Origin::Found && !foreign::is_pipeline(&root) {
        return None;
    }
    let mut cx = Decoder::new();
    let pipeline = Pipeline::decode(&root, &mut cx);
    diagnostics.append(&mut cx.diagnostics);
    let mut dag = Dag::default();
    let mut tally = Tally::default();
    if let Some(p) = &pipeline {
        let declared = names::Declared::from_root(&root);
        tally = semantic::check(p, &declared, &file, &mut dag, &mut diagnostics);
    }
    Some(Checked::tallied(file, pipeline, dag, diagnostics, tally))
}

/// Diagnostics found but not kept: past [`MAX_PER_CODE`] of one code they are
/// counted here instead, so that what a file makes Slipway hold stays small
/// however many problems it has.
#[derive(Debug, Default)]
pub struct Tally {
    omitted: BTreeMap<(Code, Severity), usize>,
    /// `compact` works once the list is longer than this.
    next: usize,
}

/// Diagnostics held before the list is cut back to [`MAX_PER_CODE`] per code.
const COMPACT_AT: usize = 10_000;

impl Tally {
    /// Cuts `out` back once it has grown long (amortised: the threshold doubles
    /// with what is kept), so checks that find millions of problems hold
    /// thousands.
    pub fn compact(&mut self, out: &mut Vec<Diagnostic>) {
        if out.len() > self.next.max(COMPACT_AT) {
            self.cap(out);
            self.next = 2 * out.len();
        }
    }

    /// Source order, a file-wide problem first; the same problem found twice
    /// (through an alias, say) once; the first [`MAX_PER_CODE`] of each code.
    fn cap(&mut self, out: &mut Vec<Diagnostic>) {
        out.sort_by(|a, b| (a.span, a.code, &a.message).cmp(&(b.span, b.code, &b.message)));
        out.dedup();
        let mut listed: HashMap<Code, usize> = HashMap::new();
        out.retain(|d| {
            let n = listed.entry(d.code).or_default();
            *n += 1;
            if *n <= MAX_PER_CODE {
                return true;
            }
            *self.omitted.entry((d.code, d.severity)).or_default() += 1;
            false
        });
    }

    /// The final list: capped, then one line per code that says how many more
    /// there are. Returns the omitted errors and warnings.
    fn finish(mut self, out: &mut Vec<Diagnostic>) -> (usize, usize) {
        self.cap(out);
        let (mut errors, mut warnings) = (0, 0);
        for ((code, severity), n) in self.omitted {
            let what = if severity == Severity::Error { &mut errors } else { &mut warnings };
            *what += n;
            let message = format!("{n} more `{}` {}s are not shown", code.as_str(), severity.as_str());
            let help = format!("only the first {MAX_PER_CODE} of each kind are listed; fix those and validate again");
            out.push(Diagnostic { severity, ..Diagnostic::error(Code::TooManyDiagnostics, None, message).with_help(help) });
        }
        (errors, warnings)
    }
}
