//! Builds a [`Node`] tree from the event parser, with spans, and with every limit
//! that keeps hostile input cheap: file size, nesting depth, alias expansion (in
//! nodes and in bytes), and NUL characters, which no command or header can carry.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle as PStyle, ScanError, Span as PSpan, Tag};

use super::node::{Node, Scalar, ScalarStyle, Value};
use crate::diagnostic::{Code, Diagnostic};
use crate::source::{CharIndex, Span};

/// Bounds on what one file may cost to read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    /// Nodes that aliases may add by expansion, over the whole document.
    pub max_alias_nodes: usize,
    /// Scalar bytes that aliases may add by expansion, over the whole document: a
    /// count of nodes alone lets one huge scalar, aliased a few thousand times,
    /// take gigabytes.
    pub max_alias_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        const MAX_BYTES: usize = 8 << 20;
        // Expansion may cost a few times what the file itself may cost, no more.
        Limits { max_bytes: MAX_BYTES, max_depth: 64, max_alias_nodes: 1_000_000, max_alias_bytes: 4 * MAX_BYTES }
    }
}

/// Parses one YAML document. Returns the root node (if any) and the problems found.
/// Syntax errors stop the parse: YAML cannot be read past them reliably.
pub fn load(text: &str, limits: Limits) -> (Option<Node>, Vec<Diagnostic>) {
    let mut loader = Loader { chars: CharIndex::new(text), text, limits, ..Loader::default_for(text) };
    match loader.run() {
        Ok(root) => (root, loader.diagnostics),
        Err(d) => {
            loader.diagnostics.push(*d);
            (None, loader.diagnostics)
        }
    }
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        /// Keys seen so far, by [`key_id`]: duplicate checks stay O(1) per key
        /// on mappings with thousands of entries (a pipeline's `stages`).
        seen: HashMap<String, usize>,
    },
}

struct Loader<'t> {
    text: &'t str,
    chars: CharIndex,
    limits: Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    alias_nodes: usize,
    alias_bytes: usize,
    diagnostics: Vec<Diagnostic>,
    root: Option<Node>,
    documents: usize,
}

type Fatal = Box<Diagnostic>;

/// An anchored node and what one alias to it costs.
struct Anchored {
    node: Node,
    nodes: usize,
    bytes: usize,
}

impl<'t> Loader<'t> {
    fn default_for(text: &'t str) -> Self {
        Loader {
            text,
            chars: CharIndex::new(""),
            limits: Limits::default(),
            stack: Vec::new(),
            anchors: HashMap::new(),
            alias_nodes: 0,
            alias_bytes: 0,
            diagnostics: Vec::new(),
            root: None,
            documents: 0,
        }
    }

    fn run(&mut self) -> Result<Option<Node>, Fatal> {
        if self.text.len() > self.limits.max_bytes {
            return Err(Box::new(
                Diagnostic::error(
                    Code::FileTooLarge,
                    None,
                    format!("file is {} bytes, more than the {} bytes Slipway reads", self.text.len(), self.limits.max_bytes),
                )
                .with_help("split the pipeline into several files"),
            ));
        }
        self.refuse_nul_bytes()?;
        let mut parser = Parser::new_from_str(self.text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| self.scan_error(&e))?;
            let span = self.span(span);
            match event {
                Event::DocumentStart(_) => {
                    self.documents += 1;
                    if self.documents > 1 {
                        return Err(Box::new(
                            Diagnostic::error(
                                Code::YamlMultipleDocuments,
                                Span::new(span.start, span.start + 3),
                                "a pipeline file holds one YAML document",
                            )
                            .with_help("move each further document into a file of its own"),
                        ));
                    }
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let style = self.scalar_style(style, tag.as_deref(), span);
                    if text.contains('\0') {
                        self.diagnostics.push(
                            Diagnostic::error(Code::NulCharacter, span, "this string holds a NUL character (`\\0`)")
                                .with_label("a command, an environment variable or a header cannot carry it")
                                .with_help("remove the `\\0` (or `\\x00`, `\\u0000`) escape"),
                        );
                    }
                    let node = Node { value: Value::Scalar(Scalar { text: text.into_owned(), style }), span };
                    self.finish(node, anchor)?;
                }
                Event::Alias(id) => {
                    let Some(target) = self.anchors.get(&id) else {
                        return Err(Box::new(
                            Diagnostic::error(Code::YamlUnknownAlias, span, "this alias names no anchor defined before it")
                                .with_help("define the anchor (`&name`) on an earlier node"),
                        ));
                    };
                    // Charged before the copy is made: over the budget, nothing is copied.
                    self.alias_nodes = self.alias_nodes.saturating_add(target.nodes);
                    self.alias_bytes = self.alias_bytes.saturating_add(target.bytes);
                    let over = if self.alias_nodes > self.limits.max_alias_nodes {
                        Some(plural(self.limits.max_alias_nodes, "node"))
                    } else if self.alias_bytes > self.limits.max_alias_bytes {
                        Some(plural(self.limits.max_alias_bytes, "byte"))
                    } else {
                        None
                    };
                    if let Some(limit) = over {
                        let copies = format!("this alias copies {} and {}", plural(target.nodes, "node"), plural(target.bytes, "byte"));
                        return Err(Box::new(
                            Diagnostic::error(Code::YamlAliasLimit, span, format!("aliases expand to more than {limit} in this file"))
                                .with_label(copies)
                                .with_help("write the repeated values out, or alias smaller or fewer nodes; large repeated aliases look like an alias bomb"),
                        ));
                    }
                    let node = Node { value: target.node.value.clone(), span };
                    self.finish(node, 0)?;
                }
                Event::SequenceStart(anchor, tag) => {
                    self.check_collection_tag(tag.as_deref(), "seq", span);
                    self.push(Frame::Seq { start: span.start, anchor, items: Vec::new() }, span)?;
                }
                Event::MappingStart(anchor, tag) => {
                    self.check_collection_tag(tag.as_deref(), "map", span);
                    self.push(Frame::Map { start: span.start, anchor, entries: Vec::new(), key: None, seen: HashMap::new() }, span)?;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (node, anchor) = match self.stack.pop() {
                        Some(Frame::Seq { start, anchor, items }) => {
                            let end = self.collection_end(span, items.last().map(|n| n.span.end));
                            (Node { value: Value::Seq(items), span: Span::new(start, end) }, anchor)
                        }
                        Some(Frame::Map { start, anchor, entries, .. }) => {
                            let end = self.collection_end(span, entries.last().map(|(_, v)| v.span.end));
                            let entries = self.apply_merge_keys(entries);
                            (Node { value: Value::Map(entries), span: Span::new(start, end) }, anchor)
                        }
                        None => continue,
                    };
                    self.finish(node, anchor)?;
                }
                Event::StreamEnd => break,
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            }
        }
        Ok(self.root.take())
    }

    /// A flow collection ends at its bracket; a block one at its last item (its end
    /// event sits on the next token, possibly lines later).
    fn collection_end(&self, end_event: Span, last_item: Option<usize>) -> usize {
        let closes_flow = matches!(self.text.as_bytes().get(end_event.start), Some(b']' | b'}'));
        match last_item {
            Some(end) if !closes_flow => end,
            _ => end_event.end,
        }
    }

    fn push(&mut self, frame: Frame, span: Span) -> Result<(), Fatal> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(Box::new(
                Diagnostic::error(Code::YamlTooDeep, span, format!("nesting is deeper than {} levels", self.limits.max_depth))
                    .with_help("flatten the structure"),
            ));
        }
        self.stack.push(frame);
        Ok(())
    }

    /// Attaches a completed node to its parent, registering its anchor.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), Fatal> {
        if anchor != 0 {
            let (nodes, bytes) = node.weight();
            self.anchors.insert(anchor, Anchored { node: node.clone(), nodes, bytes });
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, seen, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    let id = key_id(&k);
                    if let Some((first, _)) = seen.get(id.as_ref()).map(|&i| &entries[i]) {
                        let name = k.scalar().map_or("?", |s| s.text.as_str());
                        let d = Diagnostic::error(Code::DuplicateKey, k.span, format!("duplicate key `{name}`"))
                            .with_label("defined again here")
                            .with_secondary(first.span, "first defined here")
                            .with_help("remove one of the two, or merge them");
                        self.diagnostics.push(d);
                    } else {
                        seen.insert(id.into_owned(), entries.len());
                        entries.push((k, node));
                    }
                }
            },
        }
        Ok(())
    }

    /// `<<: *base` (and `<<: [*a, *b]`) copies the keys the mapping does not set itself.
    fn apply_merge_keys(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        if !entries.iter().any(|(k, _)| is_merge_key(k)) {
            return entries;
        }
        let (merges, mut own): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(k, _)| is_merge_key(k));
        // By key identity, so that merging a large mapping into another is linear.
        let mut present: HashSet<String> = own.iter().map(|(k, _)| key_id(k).into_owned()).collect();
        for (_, source) in merges {
            let sources = match source.value {
                Value::Seq(items) => items,
                _ => vec![source],
            };
            for src in sources {
                match src.value {
                    Value::Map(src_entries) => {
                        for (k, v) in src_entries {
                            if present.insert(key_id(&k).into_owned()) {
                                own.push((k, v));
                            }
                        }
                    }
                    _ => self.diagnostics.push(
                        Diagnostic::error(Code::WrongType, src.span, "a merge key (`<<`) takes a mapping or a list of mappings")
                            .with_help("point `<<` at an anchored mapping, e.g. `<<: *defaults`"),
                    ),
                }
            }
        }
        own
    }

    fn scalar_style(&mut self, style: PStyle, tag: Option<&Tag>, span: Span) -> ScalarStyle {
        let base = match style {
            PStyle::Plain => ScalarStyle::Plain,
            PStyle::SingleQuoted | PStyle::DoubleQuoted => ScalarStyle::Quoted,
            PStyle::Literal | PStyle::Folded => ScalarStyle::Block,
        };
        match tag {
            None => base,
            Some(t) if t.is_yaml_core_schema() && t.suffix == "str" => ScalarStyle::Quoted,
            Some(t) if t.is_yaml_core_schema() && matches!(t.suffix.as_str(), "int" | "float" | "bool" | "null") => ScalarStyle::Plain,
            Some(t) => {
                self.unsupported_tag(t, span);
                base
            }
        }
    }

    fn check_collection_tag(&mut self, tag: Option<&Tag>, expected: &str, span: Span) {
        if let Some(t) = tag
            && !(t.is_yaml_core_schema() && t.suffix == expected)
        {
            self.unsupported_tag(t, span);
        }
    }

    fn unsupported_tag(&mut self, tag: &Tag, span: Span) {
        self.diagnostics.push(
            Diagnostic::error(Code::YamlTag, span, format!("YAML tag `{tag}` is not supported"))
                .with_help("remove the tag; write the value as plain YAML"),
        );
    }

    /// The parser reads a NUL byte as the end of the input (and then complains of
    /// a tab), so NUL bytes are found first, and each is reported as what it is.
    fn refuse_nul_bytes(&self) -> Result<(), Fatal> {
        let mut at = self.text.match_indices('\0').map(|(i, _)| i);
        let Some(first) = at.next() else {
            return Ok(());
        };
        let more = at.count();
        let message = match more {
            0 => "the file holds a NUL byte".to_string(),
            n => format!("the file holds a NUL byte here and {n} more after it"),
        };
        Err(Box::new(
            Diagnostic::error(Code::NulCharacter, Span::new(first, first + 1), message)
                .with_help("remove the NUL bytes; a pipeline file is UTF-8 text without control characters"),
        ))
    }

    fn span(&self, span: PSpan) -> Span {
        Span::new(self.chars.byte(span.start.index()), self.chars.byte(span.end.index()))
    }

    fn scan_error(&self, e: &ScanError) -> Fatal {
        let mut at = self.chars.byte(e.marker().index()).min(self.text.len());
        let info = e.info();
        if info.contains("tab") {
            // the scanner stops after the tab: point at the tab itself
            let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = self.text[at..].find('\n').map_or(self.text.len(), |i| at + i);
            if let Some(i) = self.text[line_start..line_end].find('\t') {
                at = line_start + i;
            }
        }
        let (code, help) = if info.contains("unknown anchor") {
            (Code::YamlUnknownAlias, "define the anchor (`&name`) on an earlier node, or fix the alias's name")
        } else if info.contains("tab") {
            (Code::YamlTab, "indent with spaces; YAML does not allow tabs for indentation")
        } else if info.contains("quoted scalar") {
            (Code::YamlSyntax, "close the quote: a string that opens with a quote must end with the same quote")
        } else if info.contains("mapping values are not allowed") {
            (Code::YamlSyntax, "quote the value if it contains `: `, or fix the indentation")
        } else if info.contains("did not find expected") || info.contains("block") {
            (Code::YamlSyntax, "check the indentation: items of one mapping or list line up in the same column")
        } else {
            (Code::YamlSyntax, "fix the YAML syntax at this point")
        };
        let span = Span::new(at, next_char_boundary(self.text, at));
        let message = match code {
            Code::YamlUnknownAlias => "this alias names no anchor defined before it".to_string(),
            Code::YamlTab => "a tab is used for indentation".to_string(),
            _ if info.contains("quoted scalar") => "a quoted string is never closed".to_string(),
            _ => format!("invalid YAML: {info}"),
        };
        Box::new(Diagnostic::error(code, span, message).with_help(help))
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn next_char_boundary(text: &str, at: usize) -> usize {
    text[at.min(text.len())..].chars().next().map_or(at, |c| at + c.len_utf8())
}

fn is_merge_key(k: &Node) -> bool {
    k.scalar().is_some_and(|s| s.style == ScalarStyle::Plain && s.text == "<<")
}

/// What makes two keys the same key: a scalar's text (`1` and `'1'` clash, as
/// before), or a collection's value regardless of where it is written. Hashable,
/// so that duplicate and merge checks cost O(1) per key.
fn key_id(k: &Node) -> Cow<'_, str> {
    match k.scalar() {
        Some(s) => Cow::Borrowed(s.text.as_str()),
        // the NUL keeps collection keys apart from scalar ones (a scalar with a
        // NUL is reported anyway)
        None => Cow::Owned(format!("\0{}", k.to_json())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
        load(text, Limits::default())
    }

    #[test]
    fn spans_point_at_scalars() {
        let text = "a: hello\nb: [1, 'two']\n";
        let (root, d) = parse(text);
        assert!(d.is_empty(), "{d:?}");
        let Value::Map(entries) = root.unwrap().value else { panic!() };
        assert_eq!(&text[entries[0].1.span.start..entries[0].1.span.end], "hello");
        let Value::Seq(items) = &entries[1].1.value else { panic!() };
        assert_eq!(items[1].scalar().unwrap().style, ScalarStyle::Quoted);
        assert_eq!(&text[items[0].span.start..items[0].span.end], "1");
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_places() {
        let (_, d) = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::DuplicateKey);
        assert_eq!(d[0].span, Some(Span::new(10, 11)));
        assert_eq!(d[0].secondary[0].span, Span::new(0, 1));
    }

    #[test]
    fn alias_bomb_stops_at_the_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let (root, d) = parse(&text);
        assert!(root.is_none());
        assert_eq!(d[0].code, Code::YamlAliasLimit);
    }

    #[test]
    fn aliases_are_charged_by_the_bytes_they_copy() {
        // 40 copies of one 1 MiB scalar: few nodes, 40 MiB
        let text = format!("a: &a \"{}\"\nb: [{}]\n", "x".repeat(1 << 20), vec!["*a"; 40].join(", "));
        let (root, d) = parse(&text);
        assert!(root.is_none());
        assert_eq!(d[0].code, Code::YamlAliasLimit);
        // the 33rd copy goes past 32 MiB
        let at = text.match_indices("*a").nth(32).unwrap().0;
        assert_eq!(d[0].span, Some(Span::new(at, at + 2)));
    }

    #[test]
    fn collection_keys_are_compared_by_value() {
        let (_, d) = parse("? [a, b]\n: 1\n? [a, b]\n: 2\n? [a, c]\n: 3\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, Code::DuplicateKey);
    }

    #[test]
    fn nul_is_reported_as_nul() {
        let (root, d) = parse("a: x\0y\n");
        assert!(root.is_none());
        assert_eq!((d[0].code, d[0].span), (Code::NulCharacter, Some(Span::new(4, 5))));
        let (root, d) = parse("a: \"x\\0y\"\nb: '\\0'\n");
        assert!(root.is_some(), "an escape is reported, and the rest still read");
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].code, d[0].span), (Code::NulCharacter, Some(Span::new(3, 9))));
    }

    #[test]
    fn merge_keys_copy_missing_entries() {
        let (root, d) = parse("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n");
        assert!(d.is_empty(), "{d:?}");
        let json = root.unwrap().to_json();
        assert_eq!(json["c"], serde_json::json!({"y": 3, "x": 1}));
    }

    #[test]
    fn tabs_and_unclosed_quotes_are_syntax_errors() {
        let (_, d) = parse("a:\n\tb: 1\n");
        assert_eq!(d[0].code, Code::YamlTab);
        let (_, d) = parse("a: \"open\nb: 1\n");
        assert_eq!(d[0].code, Code::YamlSyntax);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(200);
        let (_, d) = parse(&text);
        assert_eq!(d[0].code, Code::YamlTooDeep);
    }

    #[test]
    fn second_document_is_refused() {
        let (_, d) = parse("a: 1\n---\nb: 2\n");
        assert_eq!(d[0].code, Code::YamlMultipleDocuments);
    }
}
