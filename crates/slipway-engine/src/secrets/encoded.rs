//! Finding a secret as text: as itself, percent-encoded, or escaped the way
//! JSON encoders and Rust's `Debug` write strings, each character in whichever
//! form (so every encoder's choices are covered at once: Python's `quote`
//! keeping `/`, `encodeURIComponent` keeping `!()*`, either case of hex, `\/`,
//! `ensure_ascii`'s `\u00e9` and surrogate pairs, Go's `\u003c`).
//!
//! A secret is found whole anywhere in a line, and in part where a line break
//! cut it: a line that ends in its first [`FRAGMENT`] bytes or more, or starts
//! with its last ones, or is a piece of its middle. A cut inside an escape
//! (`%2` | `F`, `\ud83d\ude` | `80`) leaves that character's remnant at the
//! line's edge: it is masked with the fragment.

use super::FRAGMENT;

/// At most this many bytes of one character's escape can be cut off at a
/// line's edge: the longest escape is a surrogate pair, `\ud83d\ude80`.
const MAX_ESCAPE: usize = 12;

/// One value to find, and where each of its bytes can start a match.
pub(super) struct Needle {
    bytes: Vec<u8>,
    /// `(byte, next byte, offset)` for every offset a fragment can start at
    /// (past the first, with [`FRAGMENT`] bytes to go), sorted: where two bytes
    /// of the haystack could begin a fragment as themselves.
    by_pair: Vec<(u8, u8, u32)>,
}

impl Needle {
    pub fn new(value: &str) -> Self {
        let bytes = value.as_bytes().to_vec();
        let last = bytes.len().saturating_sub(FRAGMENT);
        let mut by_pair: Vec<(u8, u8, u32)> = (1..=last).map(|k| (bytes[k], bytes[k + 1], k as u32)).collect();
        by_pair.sort_unstable();
        Needle { bytes, by_pair }
    }

    pub fn first(&self) -> u8 {
        self.bytes[0]
    }

    /// The span of `hay` from `at` that shows this value: whole, or its first
    /// [`FRAGMENT`] bytes or more up to the end of the line.
    pub fn find(&self, hay: &[u8], at: usize, out: &mut Vec<(usize, usize)>) {
        if let Some(end) = walk(hay, at, &self.bytes, 0) {
            out.push((at, end));
        }
    }

    /// Fragments that begin the line starting at `line`: after blanks (or
    /// among them, when the secret holds blanks), and after the remnant of an
    /// escape that the line break cut (hex digits and escape marks, or the one
    /// character after a backslash, as in `\` | `n`).
    pub fn find_at_line_start(&self, hay: &[u8], line: usize, out: &mut Vec<(usize, usize)>) {
        let text = skip_blanks(hay, line);
        let mut all_remnant = true;
        for at in line..text + MAX_ESCAPE {
            let Some(&b) = hay.get(at) else { return };
            if b == b'\n' {
                return;
            }
            let mut try_from = |k: usize| {
                if let Some(end) = walk(hay, at, &self.bytes, k) {
                    out.push((at.min(text), end));
                }
            };
            let escape = |c: Option<&u8>| matches!(c, Some(b'%' | b'\\' | b'+'));
            if escape(Some(&b)) {
                (1..=self.bytes.len().saturating_sub(FRAGMENT)).for_each(&mut try_from);
            } else {
                // the offsets where the secret holds `b`, and the next byte too
                // unless that is escaped
                let next = hay.get(at + 1).filter(|c| !escape(Some(c)));
                let from = self.by_pair.partition_point(|&(x, y, _)| (x, y) < (b, *next.unwrap_or(&0)));
                for &(_, _, k) in self.by_pair[from..].iter().take_while(|&&(x, y, _)| x == b && next.is_none_or(|n| y == *n)) {
                    try_from(k as usize);
                }
            }
            if at >= text {
                all_remnant &= b.is_ascii_hexdigit() || matches!(b, b'u' | b'{' | b'}' | b'\\' | b'%');
                if !(all_remnant || (at == text && b.is_ascii_graphic())) {
                    return;
                }
            }
        }
    }
}

fn skip_blanks(hay: &[u8], mut i: usize) -> usize {
    while hay.get(i).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        i += 1;
    }
    i
}

/// Where a match of `secret[from..]` starting at `at` ends: the whole rest of
/// the secret (when `from` is 0), or at least [`FRAGMENT`] bytes of it that
/// reach the end of the line or the secret's end. Characters may take several
/// forms, so this is a search: ambiguity is rare (a secret holding `%` or `\`),
/// and a visited set keeps it linear when it happens.
fn walk(hay: &[u8], at: usize, secret: &[u8], from: usize) -> Option<usize> {
    let fragment = |k: usize| k - from >= FRAGMENT;
    let mut best: Option<usize> = None;
    // The common case is one way on: no allocation until a second one.
    let mut current = Some((at, from));
    let mut stack = Vec::new();
    let mut seen: Option<std::collections::HashSet<(usize, usize)>> = None;
    while let Some((pos, k)) = current.take().or_else(|| stack.pop()) {
        if k == secret.len() {
            if from == 0 || fragment(k) {
                best = best.max(Some(pos));
            }
            continue;
        }
        if fragment(k)
            && let Some(end) = line_edge(hay, pos, secret, k)
        {
            best = best.max(Some(end));
        }
        let (next, n) = steps(hay, pos, secret, k);
        match (n, &mut seen) {
            (0, _) => {}
            (1, None) => current = Some(next[0]),
            (_, seen) => {
                let seen = seen.get_or_insert_with(Default::default);
                stack.extend(next[..n].iter().filter(|s| seen.insert(**s)));
            }
        }
    }
    best
}

/// Where `secret[k..]` can go on from `pos`: one step per form its next
/// character (or byte) can take there.
fn steps(hay: &[u8], pos: usize, secret: &[u8], k: usize) -> ([(usize, usize); 3], usize) {
    let mut out = [(0, 0); 3];
    let mut n = 0;
    let Some(&h) = hay.get(pos) else { return (out, 0) };
    let b = secret[k];
    let mut push = |step| {
        out[n] = step;
        n += 1;
    };
    if h == b || (b == b' ' && h == b'+') {
        push((pos + 1, k + 1));
    }
    if h == b'%' && hex(hay, pos + 1, 2) == Some(b as u32) {
        push((pos + 3, k + 1));
    }
    if h == b'\\'
        && let Some((c, len)) = char_at(secret, k)
        && let Some(end) = escaped(hay, pos, c)
    {
        push((end, k + len));
    }
    (out, n)
}

/// The character that starts at byte `k` of `s`, if one does, and its length.
fn char_at(s: &[u8], k: usize) -> Option<(char, usize)> {
    if s[k] & 0xC0 == 0x80 {
        return None;
    }
    let len = match s[k] {
        0..0x80 => 1,
        0xE0..0xF0 => 3,
        0xF0.. => 4,
        _ => 2,
    };
    let c = std::str::from_utf8(s.get(k..k + len)?).ok()?.chars().next()?;
    Some((c, len))
}

/// The short escape JSON or Rust writes for `c`, if it has one.
fn short_escape(c: char) -> Option<u8> {
    Some(match c {
        '"' => b'"',
        '\\' => b'\\',
        '/' => b'/',
        '\'' => b'\'',
        '\n' => b'n',
        '\r' => b'r',
        '\t' => b't',
        '\u{8}' => b'b',
        '\u{c}' => b'f',
        '\0' => b'0',
        _ => return None,
    })
}

/// Where a backslash escape of `c` at `pos` ends: `\n`, `\u00e9` (either
/// case), a surrogate pair for a character past U+FFFF, or Rust's `\u{e9}`.
fn escaped(hay: &[u8], pos: usize, c: char) -> Option<usize> {
    let next = *hay.get(pos + 1)?;
    if short_escape(c) == Some(next) {
        return Some(pos + 2);
    }
    if next != b'u' {
        return None;
    }
    if hay.get(pos + 2) == Some(&b'{') {
        let close = (pos + 3..(pos + 10).min(hay.len())).find(|&i| hay[i] == b'}')?;
        return (close > pos + 3 && hex(hay, pos + 3, close - pos - 3) == Some(c as u32)).then_some(close + 1);
    }
    let unit = hex(hay, pos + 2, 4)?;
    let mut pair = [0u16; 2];
    match c.encode_utf16(&mut pair) {
        [one] => (unit == *one as u32).then_some(pos + 6),
        [high, low] => {
            let second = hay.get(pos + 6..pos + 8) == Some(b"\\u") && hex(hay, pos + 8, 4) == Some(*low as u32);
            (unit == *high as u32 && second).then_some(pos + 12)
        }
        _ => None,
    }
}

/// `n` hex digits at `pos`, either case.
fn hex(hay: &[u8], pos: usize, n: usize) -> Option<u32> {
    let digits = hay.get(pos..pos + n)?;
    digits.iter().try_fold(0u32, |v, d| Some(v * 16 + (*d as char).to_digit(16)?))
}

/// If the line ends at `pos` (after blanks), or after the remnant of an escape
/// of the secret's next character that a line break cut: where the fragment
/// ends.
fn line_edge(hay: &[u8], pos: usize, secret: &[u8], k: usize) -> Option<usize> {
    let ends = |i: usize| {
        let j = skip_blanks(hay, i);
        j == hay.len() || hay[j] == b'\n'
    };
    if ends(pos) {
        return Some(pos);
    }
    let len =
        (pos..(pos + MAX_ESCAPE).min(hay.len())).find(|&i| hay[i].is_ascii_whitespace()).unwrap_or(hay.len().min(pos + MAX_ESCAPE)) - pos;
    let remnant = &hay[pos..pos + len];
    (ends(pos + len) && cut_escape(remnant, secret, k)).then_some(pos + len)
}

/// Whether `remnant` is the start of an escape of byte `k` of the secret (or
/// of the character that starts there), cut short.
fn cut_escape(remnant: &[u8], secret: &[u8], k: usize) -> bool {
    let mut forms = vec![format!("%{:02x}", secret[k])];
    if let Some((c, _)) = char_at(secret, k) {
        let mut pair = [0u16; 2];
        forms.push(c.encode_utf16(&mut pair).iter().map(|u| format!("\\u{u:04x}")).collect());
        forms.push(format!("\\u{{{:x}}}", c as u32));
        forms.extend(short_escape(c).map(|e| format!("\\{}", e as char)));
    }
    forms.iter().any(|f| remnant.len() < f.len() && f.as_bytes()[..remnant.len()].eq_ignore_ascii_case(remnant))
}

/// Percent-encoding of everything but unreserved characters (RFC 3986).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
