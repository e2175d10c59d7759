//! The [`Masker`]: replaces secret text in every byte Slipway writes.

use std::sync::{Arc, RwLock};

use super::base64_forms::Base64Index;
use super::encoded::Needle;
use super::resolve::MIN_LEN;

pub const MASK: &str = "***";

/// The shortest run of a secret (bytes of its text, characters of its base64)
/// masked on its own, where a line break cut the secret. Whole secrets are
/// masked from [`MIN_LEN`]; a fragment has to be longer, since it is found
/// without the rest of the secret to confirm it. A line that ends or starts
/// with fewer shows them: at most 7 bytes of the secret at each cut.
pub const FRAGMENT: usize = 8;

/// How many values made from secrets by template helpers a run may add, and
/// how long each may be: past this, rendering fails rather than slowing every
/// line down.
const MAX_LEARNED: usize = 4096;
const MAX_LEARNED_LEN: usize = 64 * 1024;

/// Replaces secret values in text: plain, percent-encoded, JSON- or
/// Debug-escaped, base64-encoded inside longer base64 at any alignment, and
/// fragments of each where a line break cut them (see [`FRAGMENT`]).
///
/// Cheap to clone, and clones share what they learn: a value that a template
/// helper made from a secret (`{{ upper secrets.token }}`) is taught to the
/// masker as the run renders it, and from then on every writer masks it too.
#[derive(Clone, Default)]
pub struct Masker {
    shared: Arc<RwLock<Arc<Compiled>>>,
}

/// What the masker looks for, built once per value it learns.
#[derive(Clone, Default)]
struct Compiled {
    values: Vec<String>,
    learned: usize,
    needles: Vec<Arc<Needle>>,
    /// The needles that are whole values (not lines of one): a line that
    /// starts with a piece of a value's line starts with a piece of the value.
    whole: Vec<u32>,
    /// Per byte: the needles a match can start with there (as itself, or any
    /// of them at an escape: `%`, `\`, and `+` for a space).
    first: Vec<Vec<u32>>,
    base64: Base64Index,
}

impl Compiled {
    fn add(&mut self, value: &str) {
        self.values.push(value.to_owned());
        self.whole.push(self.needles.len() as u32);
        self.add_needle(value);
        // `echo $T` and most readers drop blanks around a value.
        let trimmed = value.trim();
        if trimmed != value && trimmed.chars().count() >= MIN_LEN {
            self.add_needle(trimmed);
        }
        // Output is masked line by line: each line of a multi-line secret (a PEM key) on its own.
        if value.contains('\n') {
            for line in value.lines().map(str::trim).filter(|l| l.len() >= FRAGMENT) {
                self.add_needle(line);
            }
        }
        self.base64.add(value.as_bytes());
    }

    fn add_needle(&mut self, text: &str) {
        let id = self.needles.len() as u32;
        let needle = Needle::new(text);
        self.first.resize(256, Vec::new());
        let first = needle.first();
        for b in [first, b'%', b'\\'].into_iter().chain((first == b' ').then_some(b'+')) {
            let list = &mut self.first[b as usize];
            if list.last() != Some(&id) {
                list.push(id);
            }
        }
        self.needles.push(Arc::new(needle));
    }

    /// Byte ranges of `hay` that show secret text, unsorted and overlapping.
    fn spans(&self, hay: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        if self.needles.is_empty() {
            return out;
        }
        for (i, b) in hay.iter().enumerate() {
            for &n in &self.first[*b as usize] {
                self.needles[n as usize].find(hay, i, &mut out);
            }
        }
        let line_starts = std::iter::once(0).chain(hay.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1));
        for line in line_starts {
            for &n in &self.whole {
                self.needles[n as usize].find_at_line_start(hay, line, &mut out);
            }
        }
        self.base64.find(hay, &mut out);
        out
    }
}

impl Masker {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut compiled = Compiled::default();
        for s in secrets {
            let value = s.trim_end_matches(['\n', '\r']);
            // `resolve` refuses shorter secrets; anything else is not one.
            if value.chars().count() >= MIN_LEN && !compiled.values.iter().any(|v| v == value) {
                compiled.add(value);
            }
        }
        Masker { shared: Arc::new(RwLock::new(Arc::new(compiled))) }
    }

    fn compiled(&self) -> Arc<Compiled> {
        self.shared.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn mask(&self, text: &str) -> String {
        let mut spans = self.compiled().spans(text.as_bytes());
        if spans.is_empty() {
            return text.to_owned();
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut spans = spans.into_iter().peekable();
        while let Some((mut start, mut end)) = spans.next() {
            while let Some(&(s, e)) = spans.peek()
                && s <= end
            {
                end = end.max(e);
                spans.next();
            }
            // Spans start and end on whole characters; stay on them whatever happens.
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            while !text.is_char_boundary(end) {
                end += 1;
            }
            let start = start.max(copied);
            if end <= start {
                continue;
            }
            out.push_str(&text[copied..start]);
            out.push_str(MASK);
            copied = end;
        }
        out.push_str(&text[copied..]);
        out
    }

    /// How much of `text`, the start of a line too long to hold at once, can
    /// be shown before the rest of the line arrives. It stops short of the end
    /// by as much as the longest secret could take in any form the masker
    /// knows (six bytes per byte, `\u`-escaped), and never inside a span it
    /// masks; so a secret cut by the piece boundary arrives whole with the next
    /// piece. At least half of `text` is always shown, so pieces keep moving.
    pub fn showable_prefix(&self, text: &str) -> usize {
        let c = self.compiled();
        let Some(longest) = c.values.iter().map(String::len).max() else { return text.len() };
        let reach = longest.saturating_mul(6).saturating_add(16).min(text.len() / 2);
        let mut at = text.len() - reach;
        let mut spans = c.spans(text.as_bytes());
        spans.sort_unstable();
        // Back to the start of any span `at` falls inside, and of any span that
        // one falls inside in turn (spans overlap).
        for (start, end) in spans.into_iter().rev() {
            if start < at && at < end {
                at = start;
            }
        }
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        if at == 0 { text.len() } else { at }
    }

    /// Whether `text` shows any secret text.
    pub fn touches(&self, text: &str) -> bool {
        !self.compiled().spans(text.as_bytes()).is_empty()
    }

    /// Masks every string inside a JSON value, object keys included, and a
    /// number or boolean that reads as secret text becomes the mask.
    pub fn mask_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        if self.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.mask(s)),
            Value::Array(a) => a.iter().map(|v| self.mask_json(v)).collect(),
            Value::Object(o) => o.iter().map(|(k, v)| (self.mask(k), self.mask_json(v))).collect(),
            Value::Number(_) | Value::Bool(_) if self.touches(&value.to_string()) => Value::String(MASK.into()),
            other => other.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.compiled().needles.is_empty()
    }

    /// Masks `value` from now on, in every clone of this masker.
    pub fn learn(&self, value: &str) {
        let value = value.trim_end_matches(['\n', '\r']);
        if value.chars().count() < MIN_LEN {
            return;
        }
        let mut shared = self.shared.write().unwrap_or_else(|e| e.into_inner());
        if shared.values.iter().any(|v| v == value) {
            return;
        }
        let mut next = Compiled::clone(&shared);
        next.add(value);
        next.learned += 1;
        *shared = Arc::new(next);
    }

    /// For a template helper that transforms text (`upper`, `replace`,
    /// `truncate`, …): when an input holds secret text, the output is secret
    /// too, and is masked from now on. An output that shows part of a secret
    /// in fewer than [`MIN_LEN`] characters cannot be masked, so it is an
    /// error; the message names no value.
    pub fn learn_derived<'a>(&self, inputs: impl IntoIterator<Item = &'a str>, output: &str) -> Result<(), String> {
        if self.is_empty() || !inputs.into_iter().any(|i| self.touches(i)) {
            return Ok(());
        }
        let shown = output.trim_end_matches('…').chars().count();
        if (1..MIN_LEN).contains(&shown) {
            let s = if shown == 1 { "" } else { "s" };
            return Err(format!(
                "it would show {shown} character{s} of a secret, too few to mask (at least {MIN_LEN}): show more of it, or none"
            ));
        }
        if output.len() > MAX_LEARNED_LEN {
            return Err(format!(
                "its output holds secret text and is {} bytes long, too long to mask as a secret (at most {MAX_LEARNED_LEN}): apply it to the secret alone",
                output.len()
            ));
        }
        if self.compiled().learned >= MAX_LEARNED {
            return Err(format!(
                "more than {MAX_LEARNED} values made from secrets by helpers: each is masked in every line, so this many would slow the run down"
            ));
        }
        self.learn(output);
        Ok(())
    }

    /// For a transformation that works character by character (chat
    /// escaping: `&` to `&amp;`): masks what it makes of every value known,
    /// from now on.
    pub fn learn_mapped(&self, f: impl Fn(&str) -> String) {
        for value in self.compiled().values.iter() {
            let mapped = f(value);
            if mapped != *value {
                self.learn(&mapped);
            }
        }
    }
}

/// Shows how many values are masked, never the values.
impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.compiled();
        f.debug_struct("Masker").field("values", &c.values.len()).field("learned", &c.learned).finish()
    }
}
