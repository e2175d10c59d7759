//! Handlebars templates in pipeline fields: their types, and their static analysis
//! (syntax errors with positions, the variables they read, the helpers they call).

use std::borrow::Cow;

use handlebars::template::{HelperTemplate, Parameter, Template as HbTemplate, TemplateElement};
use handlebars::{Path, PathSeg};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::decode::{Decode, Decoder};
use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use crate::yaml::{Node, ScalarStyle};

/// Helpers the engine registers. Validation rejects any other helper name.
pub const HELPERS: &[&str] = &[
    // built into handlebars
    "if",
    "unless",
    "each",
    "with",
    "lookup",
    "log",
    "len",
    // Slipway's own
    "json",
    "shell_quote",
    "default",
    "eq",
    "ne",
    "lt",
    "gt",
    "and",
    "or",
    "not",
    "join",
    "truncate",
    "upper",
    "lower",
    "trim",
    "replace",
    "abbrev",
    "concat",
    "url_encode",
];

/// The positional arguments a helper takes (hash arguments such as `level=` are
/// not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    pub name: &'static str,
    /// How a call is written, for help lines: `replace TEXT FROM TO`.
    pub usage: &'static str,
    /// The arguments it needs: with fewer it fails at run time, or means nothing.
    pub min: usize,
    /// The arguments it reads; `None` when it reads any number. More are ignored
    /// at run time, which is never what the author meant.
    pub max: Option<usize>,
    /// A block helper, written `{{#name …}}…{{/name}}`.
    pub block: bool,
}

const fn sig(name: &'static str, usage: &'static str, min: usize, max: Option<usize>, block: bool) -> Signature {
    Signature { name, usage, min, max, block }
}

/// Every helper in [`HELPERS`] with its arguments. The engine registers the
/// helpers (core cannot see them), and a test there holds each one to this table.
pub const SIGNATURES: &[Signature] = &[
    sig("if", "#if CONDITION", 1, Some(1), true),
    sig("unless", "#unless CONDITION", 1, Some(1), true),
    sig("each", "#each LIST", 1, Some(1), true),
    sig("with", "#with VALUE", 1, Some(1), true),
    sig("lookup", "lookup VALUE KEY", 2, Some(2), false),
    sig("log", "log VALUE…", 1, None, false),
    sig("len", "len VALUE", 1, Some(1), false),
    sig("json", "json VALUE", 1, Some(1), false),
    sig("shell_quote", "shell_quote TEXT", 1, Some(1), false),
    sig("default", "default VALUE FALLBACK", 2, Some(2), false),
    sig("eq", "eq A B", 2, Some(2), false),
    sig("ne", "ne A B", 2, Some(2), false),
    sig("lt", "lt A B", 2, Some(2), false),
    sig("gt", "gt A B", 2, Some(2), false),
    sig("and", "and A B…", 2, None, false),
    sig("or", "or A B…", 2, None, false),
    sig("not", "not VALUE", 1, Some(1), false),
    sig("join", "join LIST [SEPARATOR]", 1, Some(2), false),
    sig("truncate", "truncate TEXT LENGTH", 2, Some(2), false),
    sig("upper", "upper TEXT", 1, Some(1), false),
    sig("lower", "lower TEXT", 1, Some(1), false),
    sig("trim", "trim TEXT", 1, Some(1), false),
    sig("replace", "replace TEXT FROM TO", 3, Some(3), false),
    sig("abbrev", "abbrev SHA", 1, Some(1), false),
    sig("concat", "concat A B…", 2, None, false),
    sig("url_encode", "url_encode TEXT", 1, Some(1), false),
];

/// The arguments of helper `name`, if it is one of [`HELPERS`].
pub fn signature(name: &str) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| s.name == name)
}

/// Names other template languages give Slipway's helpers (Liquid, Ruby, Jinja),
/// too far from ours for "did you mean" to find by spelling.
pub const HELPER_ALIASES: &[(&str, &str)] = &[("upcase", "upper"), ("downcase", "lower"), ("strip", "trim")];

/// Helpers whose output is safe to place in a shell command.
const SHELL_SAFE_HELPERS: &[&str] = &["shell_quote", "len", "eq", "ne", "lt", "gt", "and", "or", "not", "abbrev"];

/// Block helpers that open a scope: paths inside are relative to the item.
const SCOPE_HELPERS: &[&str] = &["each", "with"];

/// Where a template's output goes, which decides what is safe to render into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Text,
    Shell,
}

/// A field rendered before its stage runs.
#[derive(Debug, Clone, Copy)]
pub struct TemplateField<'a> {
    pub source: &'a str,
    pub span: Span,
    pub sink: Sink,
    pub style: ScalarStyle,
}

/// Visits every template inside a config value.
pub trait Templates {
    fn each_template<'a>(&'a self, out: &mut Vec<TemplateField<'a>>);
}

macro_rules! template_type {
    ($(#[$meta:meta])* $name:ident, $sink:expr, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            pub source: String,
            pub span: Span,
            pub style: ScalarStyle,
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.source
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.source)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "description": $what })
            }
        }

        impl Decode for $name {
            fn expected() -> String {
                "a string".into()
            }

            fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
                let source = cx.string(node, "a string")?.to_owned();
                let style = node.scalar().map_or(ScalarStyle::Plain, |s| s.style);
                Some($name { source, span: node.span, style })
            }
        }

        impl Templates for $name {
            fn each_template<'a>(&'a self, out: &mut Vec<TemplateField<'a>>) {
                out.push(TemplateField { source: &self.source, span: self.span, sink: $sink, style: self.style });
            }
        }
    };
}

template_type!(
    /// Text rendered with Handlebars right before the stage runs.
    Template,
    Sink::Text,
    "Text rendered with Handlebars right before the stage runs: `{{ params.X }}`, `{{ secrets.X }}`, `{{ stages.ID.outputs.NAME }}`."
);
template_type!(
    /// A shell command rendered with Handlebars. Untrusted values belong in `env:`
    /// (or behind `shell_quote`), never spliced into the command text.
    Command,
    Sink::Shell,
    "A shell command rendered with Handlebars. Pass untrusted values (params, commit messages, API responses) through `env:` or `{{ shell_quote X }}`, not straight into the command."
);

/// A variable a template reads, such as `stages.build.outputs.artifact`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub segments: Vec<String>,
    pub span: Span,
    /// Rendered straight into the output rather than only tested or quoted.
    pub emitted: bool,
    /// For a path read inside `#each X`/`#with X`: the index of the reference to X.
    pub scope: Option<usize>,
}

impl Reference {
    pub fn path(&self) -> String {
        self.segments.join(".")
    }
}

/// What static analysis learns from one template.
#[derive(Debug, Default)]
pub struct Analysis {
    /// Root-scope references, in source order.
    pub references: Vec<Reference>,
    /// Output inside `#each`/`#with` blocks: the index of the block's reference, and
    /// the item path rendered (`subject`, `this.sha`).
    pub scoped_emits: Vec<(usize, Span, String)>,
    pub helpers: Vec<(String, Span)>,
    /// Each helper call and how many positional arguments it has, for the
    /// arity check against [`SIGNATURES`].
    pub calls: Vec<Call>,
}

/// One helper call in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub name: String,
    pub span: Span,
    pub args: usize,
}

/// The variables a template reads (`stages.build.outputs.artifact`), at the root
/// scope; empty when it does not parse (validation reports that).
pub fn read_paths(source: &str) -> Vec<String> {
    let field = TemplateField { source, span: Span::new(0, source.len()), sink: Sink::Text, style: ScalarStyle::Plain };
    analyze(&field, source).map(|a| a.references.iter().map(Reference::path).collect()).unwrap_or_default()
}

/// What a template outside a file reads and which helpers it calls (for plans);
/// `None` when it does not parse.
pub fn analyze_source(source: &str) -> Option<Analysis> {
    let field = TemplateField { source, span: Span::new(0, source.len()), sink: Sink::Text, style: ScalarStyle::Plain };
    analyze(&field, source).ok()
}

/// Helpers whose result depends on the value they are given, not just its
/// shape: branches (`if`, `unless`), loops (`each`, `with`), comparisons and
/// lookups. Fed a value only the run knows, what they render in a plan is a
/// guess.
pub const DECIDING_HELPERS: &[&str] = &["if", "unless", "each", "with", "eq", "ne", "lt", "gt", "and", "or", "not", "len", "lookup"];

/// Parses a template and lists what it reads. `file_text` is the whole source file,
/// used to place each finding at its exact column.
pub fn analyze(field: &TemplateField<'_>, file_text: &str) -> Result<Analysis, Box<Diagnostic>> {
    if !field.source.contains("{{") {
        return Ok(Analysis::default());
    }
    let locator = Locator::new(field, file_text);
    if let Some(paths) = simple_paths(field.source) {
        // Only `{{ a.b.c }}` substitutions: read them without the full parser.
        let references = paths
            .into_iter()
            .map(|raw| Reference {
                segments: raw.split('.').map(str::to_owned).collect(),
                span: locator.find(raw),
                emitted: true,
                scope: None,
            })
            .collect();
        return Ok(Analysis { references, ..Analysis::default() });
    }
    let tpl = HbTemplate::compile(field.source).map_err(|e| {
        // An unclosed block is reported by handlebars at the end of the text; the
        // opening `{{#…` is what the reader needs to see.
        let at = match unclosed_block(field.source) {
            Some(open) => locator.file_offset(open),
            None => e.pos().map_or(field.span.start, |(line, col)| locator.position(line, col)),
        };
        let width = file_text.get(at..).and_then(|t| t.chars().next()).map_or(0, char::len_utf8);
        Box::new(
            Diagnostic::error(Code::TemplateSyntax, Span::new(at, at + width), format!("template syntax error: {}", describe(e.reason())))
                .with_help("check the `{{ … }}` expressions: every `{{` needs `}}`, every `{{#if}}` its `{{/if}}`"),
        )
    })?;
    let mut walker = Walker { locator, out: Analysis::default() };
    walker.template(&tpl, None);
    Ok(walker.out)
}

/// What compiling `source` with the Handlebars parser costs, in bytes scanned, or
/// 0 when it does not go through the parser. The parser finds the line and column
/// of every token by scanning from the start of the text, so its cost grows with
/// the tokens times the length: a megabyte of `{{#if}}` takes a minute.
pub fn parse_cost(source: &str) -> usize {
    if !source.contains("{{") || simple_paths(source).is_some() {
        return 0;
    }
    source.matches("{{").count().saturating_mul(source.len())
}

/// The paths of a template whose every `{{ … }}` is a plain dotted path such as
/// `stages.build.outputs.artifact` (two or more segments; no helpers, blocks,
/// comments, triple braces or whitespace control). `None` for anything else,
/// which goes through the Handlebars parser. Most templates are this simple, and
/// the parser costs two-fifths of validating a large pipeline.
fn simple_paths(source: &str) -> Option<Vec<&str>> {
    if source.contains("\\{{") {
        return None; // an escaped `\{{` is literal text
    }
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after.find("}}")?;
        let inner = after[..close].trim_matches(|c: char| c == ' ');
        let segment_ok = |seg: &str| {
            let mut chars = seg.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        let mut segments = inner.split('.');
        let first = segments.next()?;
        if inner.contains(char::is_whitespace) || first == "this" || !inner.contains('.') || !inner.split('.').all(segment_ok) {
            return None;
        }
        out.push(inner);
        rest = &after[close + 2..];
        if rest.starts_with('}') {
            return None; // `{{{ … }}}`
        }
    }
    if rest.contains("}}") && out.is_empty() {
        return None;
    }
    Some(out)
}

/// The offset of the innermost `{{#block` that is never closed, if any.
fn unclosed_block(source: &str) -> Option<usize> {
    fn name(s: &str) -> String {
        s.split(|c: char| c.is_whitespace() || c == '}' || c == '~').next().unwrap_or("").to_owned()
    }
    let mut open: Vec<(usize, String)> = Vec::new();
    let mut from = 0;
    while let Some(i) = source[from..].find("{{") {
        let at = from + i;
        let inner = source[at + 2..].trim_start_matches(['~', ' ']);
        if let Some(rest) = inner.strip_prefix('#') {
            open.push((at, name(rest)));
        } else if let Some(rest) = inner.strip_prefix('/') {
            let closing = name(rest);
            if let Some(pos) = open.iter().rposition(|(_, n)| *n == closing) {
                open.truncate(pos);
            }
        }
        from = at + 2;
    }
    open.last().map(|(at, _)| *at)
}

/// handlebars' reason, minus the parser's list of expected tokens.
fn describe(reason: &handlebars::TemplateErrorReason) -> String {
    let text = reason.to_string();
    if text.starts_with("invalid handlebars syntax") {
        "a `{{` expression is malformed or a `{{#block}}` is never closed".to_string()
    } else {
        text.lines().next().unwrap_or_default().trim().to_string()
    }
}

/// Places text found in the template source at a byte span in the file.
struct Locator<'a> {
    source: &'a str,
    span: Span,
    /// The node's text in the file, if the template appears in it verbatim.
    verbatim: Option<usize>,
    slice: &'a str,
    style: ScalarStyle,
    /// Columns before the node's first character on its line (a block scalar's indent).
    indent: usize,
    cursor: std::cell::Cell<usize>,
}

impl<'a> Locator<'a> {
    fn new(field: &TemplateField<'a>, file_text: &'a str) -> Self {
        let slice = file_text.get(field.span.start..field.span.end).unwrap_or("");
        let verbatim = slice.find(field.source).map(|i| field.span.start + i);
        let line_start = file_text.get(..field.span.start).and_then(|t| t.rfind('\n')).map_or(0, |i| i + 1);
        let indent = field.span.start.saturating_sub(line_start);
        Locator { source: field.source, span: field.span, verbatim, slice, style: field.style, indent, cursor: std::cell::Cell::new(0) }
    }

    /// File offset of a 1-based line and column inside the template source.
    fn position(&self, line: usize, col: usize) -> usize {
        let line_start: usize = self.source.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
        let line_start = line_start.min(self.source.len());
        let in_line: usize = self.source[line_start..].chars().take(col.saturating_sub(1)).map(char::len_utf8).sum();
        self.file_offset(line_start + in_line)
    }

    /// File offset of a byte offset inside the template source: exact when the text
    /// stands verbatim in the file or in a block scalar, else the node's start.
    fn file_offset(&self, offset: usize) -> usize {
        let offset = offset.min(self.source.len());
        if let Some(base) = self.verbatim {
            return base + offset;
        }
        if self.style == ScalarStyle::Block {
            // `|`/`>` text starts at the first content character; every later line
            // of the value sits one file line further down, at the same indent.
            let line = self.source[..offset].matches('\n').count();
            let col = offset - self.source[..offset].rfind('\n').map_or(0, |i| i + 1);
            if line == 0 {
                return self.span.start + col;
            }
            if let Some((nl, _)) = self.slice.match_indices('\n').nth(line - 1) {
                return (self.span.start + nl + 1 + self.indent + col).min(self.span.end);
            }
        }
        self.span.start
    }

    /// The next occurrence of `needle` in the node's text, in order of appearance.
    fn find(&self, needle: &str) -> Span {
        let from = self.cursor.get();
        match self.slice.get(from..).and_then(|rest| rest.find(needle)) {
            Some(i) => {
                let start = from + i;
                self.cursor.set(start + needle.len());
                Span::new(self.span.start + start, self.span.start + start + needle.len())
            }
            None => self.span,
        }
    }
}

struct Walker<'a> {
    locator: Locator<'a>,
    out: Analysis,
}

impl Walker<'_> {
    /// `scope` is the reference a surrounding `#each`/`#with` iterates over.
    fn template(&mut self, tpl: &HbTemplate, scope: Option<usize>) {
        for element in &tpl.elements {
            match element {
                TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => self.expression(h, scope, true),
                TemplateElement::HelperBlock(h) => self.block(h, scope),
                TemplateElement::DecoratorExpression(_)
                | TemplateElement::DecoratorBlock(_)
                | TemplateElement::PartialExpression(_)
                | TemplateElement::PartialBlock(_) => {
                    let span = self.locator.find("{{");
                    self.out.helpers.push(("partial or decorator".into(), span));
                }
                _ => {} // raw text and comments
            }
        }
    }

    fn expression(&mut self, h: &HelperTemplate, scope: Option<usize>, emitted: bool) {
        // `{{ upper }}` names a helper, not a variable: Handlebars calls it, with no arguments
        let bare_helper = matches!(&h.name, Parameter::Path(Path::Relative((_, raw))) if signature(raw).is_some());
        let is_helper_call = !h.params.is_empty() || !h.hash.is_empty() || matches!(h.name, Parameter::Name(_)) || bare_helper;
        match &h.name {
            Parameter::Path(path) if !is_helper_call => self.path(path, scope, emitted),
            Parameter::Name(name) | Parameter::Path(Path::Relative((_, name))) => {
                let span = self.locator.find(name);
                self.out.helpers.push((name.clone(), span));
                self.out.calls.push(Call { name: name.clone(), span, args: h.params.len() });
                let safe = SHELL_SAFE_HELPERS.contains(&name.as_str());
                for p in h.params.iter().chain(h.hash.values()) {
                    self.parameter(p, scope, emitted && !safe);
                }
            }
            other => self.parameter(other, scope, emitted),
        }
    }

    fn block(&mut self, h: &HelperTemplate, scope: Option<usize>) {
        let name = match &h.name {
            Parameter::Name(n) | Parameter::Path(Path::Relative((_, n))) => n.clone(),
            _ => String::new(),
        };
        let span = self.locator.find(&name);
        self.out.helpers.push((name.clone(), span));
        self.out.calls.push(Call { name: name.clone(), span, args: h.params.len() });
        let first = self.out.references.len();
        for p in h.params.iter().chain(h.hash.values()) {
            self.parameter(p, scope, false);
        }
        let inner = if SCOPE_HELPERS.contains(&name.as_str()) {
            // Inside `#each X`, bare paths read the item: tie them to X.
            (self.out.references.len() > first).then_some(first).or(scope)
        } else {
            scope
        };
        if let Some(t) = &h.template {
            self.template(t, inner);
        }
        if let Some(t) = &h.inverse {
            self.template(t, scope);
        }
    }

    fn parameter(&mut self, p: &Parameter, scope: Option<usize>, emitted: bool) {
        match p {
            Parameter::Path(path) => self.path(path, scope, emitted),
            Parameter::Subexpression(sub) => {
                if let TemplateElement::Expression(h) = sub.element.as_ref() {
                    self.expression(h, scope, emitted);
                }
            }
            _ => {} // helper names and literals read nothing
        }
    }

    fn path(&mut self, path: &Path, scope: Option<usize>, emitted: bool) {
        let Path::Relative((segs, raw)) = path else {
            return; // `@index`, `@root`-local and similar block-local names
        };
        let names: Vec<String> = segs
            .iter()
            .filter_map(|s| match s {
                PathSeg::Named(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        let rooted = raw.starts_with("@root");
        let span = self.locator.find(raw);
        match scope {
            Some(index) if !rooted => {
                if emitted {
                    self.out.scoped_emits.push((index, span, raw.clone()));
                }
            }
            _ => {
                let segments = if rooted { names.into_iter().skip_while(|n| n == "@root" || n == "root").collect() } else { names };
                if raw.starts_with("this") || raw.starts_with("../") || segments.is_empty() {
                    return;
                }
                self.out.references.push(Reference { segments, span, emitted, scope: None });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(src: &str) -> (String, TemplateField<'_>) {
        let file = format!("x: {src}\n");
        let f = TemplateField { source: src, span: Span::new(3, 3 + src.len()), sink: Sink::Text, style: ScalarStyle::Plain };
        (file, f)
    }

    fn refs(src: &str) -> Vec<(String, bool)> {
        let (file, f) = field(src);
        analyze(&f, &file).unwrap().references.into_iter().map(|r| (r.path(), r.emitted)).collect()
    }

    #[test]
    fn finds_root_paths_and_whether_they_are_emitted() {
        assert_eq!(refs("{{ params.version }}"), vec![("params.version".into(), true)]);
        assert_eq!(
            refs("{{#if (eq params.env 'production') }}{{ stages.build-1.outputs.artifact }}{{/if}}"),
            vec![("params.env".into(), false), ("stages.build-1.outputs.artifact".into(), true)]
        );
        assert_eq!(refs("{{ shell_quote params.msg }}"), vec![("params.msg".into(), false)]);
        assert_eq!(refs("{{ upper params.msg }}"), vec![("params.msg".into(), true)]);
    }

    #[test]
    fn paths_inside_each_belong_to_the_item() {
        let (file, f) = field("{{#each stages.log.outputs.commits}}{{ this.subject }} {{ sha }}{{/each}}");
        let a = analyze(&f, &file).unwrap();
        assert_eq!(a.references.len(), 1);
        assert_eq!(a.references[0].path(), "stages.log.outputs.commits");
        assert_eq!(a.scoped_emits.len(), 2);
        assert!(a.helpers.iter().any(|(h, _)| h == "each"));
    }

    #[test]
    fn reference_spans_are_exact() {
        let (file, f) = field("a {{ params.x }} b {{ params.x }}");
        let a = analyze(&f, &file).unwrap();
        assert_eq!(&file[a.references[0].span.start..a.references[0].span.end], "params.x");
        assert_eq!(a.references[1].span.start, file.rfind("params.x").unwrap());
    }

    #[test]
    fn the_fast_path_agrees_with_the_parser() {
        let simple = [
            "{{ params.version }}",
            "https://ci/{{stages.build-1.outputs.artifact}}/x",
            "a {{ params.x }} b {{ secrets.TOKEN }} c",
            "Bearer {{ secrets.TOKEN }}",
        ];
        for src in simple {
            let (file, f) = field(src);
            assert!(simple_paths(src).is_some(), "{src} should take the fast path");
            let fast = analyze(&f, &file).unwrap().references;
            let mut walker = Walker { locator: Locator::new(&f, &file), out: Analysis::default() };
            walker.template(&HbTemplate::compile(src).unwrap(), None);
            assert_eq!(fast, walker.out.references, "{src}");
        }
        for complex in [
            "\\{{ params.x }}",
            "{{ upper params.x }}",
            "{{#if x}}y{{/if}}",
            "{{{ params.x }}}",
            "{{ x }}",
            "{{! note }}",
            "{{ params.x",
            "{{~ params.x }}",
            "{{ this.x }}",
        ] {
            assert!(simple_paths(complex).is_none(), "{complex} must use the parser");
        }
    }

    #[test]
    fn every_helper_has_a_signature() {
        let named: Vec<&str> = SIGNATURES.iter().map(|s| s.name).collect();
        assert_eq!(named, HELPERS, "SIGNATURES and HELPERS list the same helpers, in the same order");
        for s in SIGNATURES {
            assert!(s.max.is_none_or(|max| max >= s.min), "{}", s.name);
            assert!(s.usage.trim_start_matches('#').starts_with(s.name), "{}", s.name);
            assert_eq!(s.block, ["if", "unless", "each", "with"].contains(&s.name), "{}", s.name);
        }
        for (theirs, ours) in HELPER_ALIASES {
            assert!(HELPERS.contains(ours) && !HELPERS.contains(theirs), "{theirs} -> {ours}");
        }
    }

    #[test]
    fn calls_count_their_positional_arguments() {
        let calls = |src: &str| {
            let (file, f) = field(src);
            analyze(&f, &file).unwrap().calls.into_iter().map(|c| (c.name, c.args)).collect::<Vec<_>>()
        };
        assert_eq!(calls("{{ replace params.x 'a' 'b' }}"), [("replace".to_owned(), 3)]);
        assert_eq!(calls("{{#if (eq a)}}x{{/if}}"), [("if".to_owned(), 1), ("eq".to_owned(), 1)]);
        assert_eq!(calls("{{ log 'x' level='warn' }}"), [("log".to_owned(), 1)], "hash arguments are not counted");
        // `{{ upper }}` calls the helper with nothing; `{{ version }}` reads a variable
        assert_eq!(calls("{{ upper }}"), [("upper".to_owned(), 0)]);
        assert_eq!(calls("{{ version }}"), []);
    }

    #[test]
    fn syntax_errors_point_into_the_template() {
        let (file, f) = field("hello {{#if x}} never closed");
        let e = analyze(&f, &file).unwrap_err();
        assert_eq!(e.code, Code::TemplateSyntax);
        assert!(e.span.unwrap().start >= 3);
    }
}
