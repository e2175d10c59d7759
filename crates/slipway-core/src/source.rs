//! Source text and positions: byte spans, and their 1-based line/column form.

use std::sync::Arc;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end: end.max(start) }
    }

    pub fn point(at: usize) -> Self {
        Span { start: at, end: at }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

/// One pipeline file: its display path, its text and an index of line starts.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: Arc<str>,
    pub text: Arc<str>,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile { path: path.into(), text, line_starts }
    }

    /// 1-based line and character column of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = self.floor_char_boundary(offset.min(self.text.len()));
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let column = self.text[self.line_starts[line]..offset].chars().count() + 1;
        LineCol { line: line + 1, column }
    }

    /// Byte offset of a 1-based line's first character.
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts.get(line.saturating_sub(1)).copied().unwrap_or(self.text.len())
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_start(line);
        let end = self.line_starts.get(line).copied().unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// The span widened to whole characters and clamped to the text: renderers slice
    /// with it, so it must never split a character.
    pub fn snap(&self, span: Span) -> Span {
        let start = self.floor_char_boundary(span.start.min(self.text.len()));
        let mut end = span.end.clamp(start, self.text.len());
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        Span { start, end }
    }

    /// A span covering the one character at `offset` (empty at the end of the text).
    pub fn char_at(&self, offset: usize) -> Span {
        let start = self.floor_char_boundary(offset.min(self.text.len()));
        let len = self.text[start..].chars().next().map_or(0, char::len_utf8);
        Span { start, end: start + len }
    }

    fn floor_char_boundary(&self, mut offset: usize) -> usize {
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }
}

/// Maps the parser's character indices to byte offsets.
pub(crate) struct CharIndex {
    /// Byte offset of every character, or empty when the text is ASCII.
    offsets: Vec<usize>,
    len: usize,
}

impl CharIndex {
    pub(crate) fn new(text: &str) -> Self {
        let offsets = if text.is_ascii() { Vec::new() } else { text.char_indices().map(|(i, _)| i).collect() };
        CharIndex { offsets, len: text.len() }
    }

    pub(crate) fn byte(&self, char_index: usize) -> usize {
        if self.offsets.is_empty() { char_index.min(self.len) } else { self.offsets.get(char_index).copied().unwrap_or(self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let f = SourceFile::new("p.yaml", "a: 1\nnäme: x\n");
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(5), LineCol { line: 2, column: 1 });
        // "x" sits after the two-byte "ä": byte 12, character column 7
        assert_eq!(f.line_col(12), LineCol { line: 2, column: 7 });
        assert_eq!(f.line_text(2), "näme: x");
    }

    #[test]
    fn snap_never_splits_a_character() {
        let f = SourceFile::new("p.yaml", "a: é\u{1F680}");
        assert_eq!(f.snap(Span::new(4, 5)), Span::new(3, 5));
        assert_eq!(f.snap(Span::new(6, 7)), Span::new(5, 9));
        assert_eq!(f.char_at(5), Span::new(5, 9));
        assert_eq!(f.snap(Span::new(99, 120)), Span::new(9, 9));
    }

    #[test]
    fn char_index_maps_non_ascii() {
        let idx = CharIndex::new("ä: b");
        assert_eq!(idx.byte(1), 2);
        assert_eq!(idx.byte(99), 5);
    }
}
