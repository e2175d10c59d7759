//! Finding a secret's base64 inside longer base64, at any alignment, wrapped at
//! any column.
//!
//! Inside `base64(prefix + secret + suffix)` the secret starts at one of three
//! bit alignments. For each, some run of characters depends on the secret's
//! bits alone (its *form*); the one character on each side mixes in the
//! neighbours' bits. Standard and URL-safe base64 differ only in two letters,
//! so both are read as one alphabet.
//!
//! An encoder that wraps its output puts a line break anywhere in a form, and
//! output is masked line by line: so every run of at least [`FRAGMENT`]
//! characters of a form is masked wherever it stands. The index holds every
//! [`FRAGMENT`]-character window of every form, packed into 48 bits; a scan
//! looks up each window of each base64 run in a line and extends a hit as far
//! as the form goes. Eight characters are 48 bits of the secret: a chance match
//! in other text is about one in 2^48 per window, so this masks nothing else,
//! while a fragment of seven characters or fewer, left at a line's edge, shows at
//! most 42 bits (5 bytes) of the secret.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::FRAGMENT;

/// The 6-bit value of a base64 character, standard or URL-safe.
fn sextet(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    })
}

/// The forms of `secret`: for each alignment, the sextets that its bits alone
/// decide.
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    (0..3usize)
        .map(|shift| {
            let bits = |i: usize| -> u8 {
                // bit i of (shift zero bytes + secret), most significant first
                let byte = i / 8;
                if byte < shift { 0 } else { secret[byte - shift] >> (7 - i % 8) & 1 }
            };
            let (first, last) = ((8 * shift).div_ceil(6), 8 * (shift + secret.len()) / 6);
            (first..last).map(|c| (0..6).fold(0u8, |v, j| v << 1 | bits(6 * c + j))).collect()
        })
        .collect()
}

/// A hasher for keys that are already well mixed apart from their low bits.
#[derive(Default)]
struct WindowHasher(u64);

impl Hasher for WindowHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|b| self.write_u64(*b as u64));
    }
    fn write_u64(&mut self, n: u64) {
        let h = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

const WINDOW_BITS: u32 = 6 * FRAGMENT as u32;

#[derive(Clone, Default)]
pub(super) struct Base64Index {
    forms: Vec<Vec<u8>>,
    /// Each window of a form: (form, offset).
    windows: HashMap<u64, Vec<(u32, u32)>, BuildHasherDefault<WindowHasher>>,
    /// Forms shorter than a window (secrets of 4 to 6 bytes): matched whole.
    short: Vec<Vec<u8>>,
}

impl Base64Index {
    pub fn add(&mut self, secret: &[u8]) {
        for form in forms(secret) {
            if form.len() < FRAGMENT {
                // Four characters are the least that can be told from chance.
                if form.len() >= 4 && !self.short.contains(&form) {
                    self.short.push(form);
                }
                continue;
            }
            let id = self.forms.len() as u32;
            for (off, w) in form.windows(FRAGMENT).enumerate() {
                let key = w.iter().fold(0u64, |k, v| k << 6 | *v as u64);
                self.windows.entry(key).or_default().push((id, off as u32));
            }
            self.forms.push(form);
        }
    }

    /// Spans of `hay` that show a form, whole or a run of at least a window.
    pub fn find(&self, hay: &[u8], out: &mut Vec<(usize, usize)>) {
        if !self.windows.is_empty() {
            self.find_windows(hay, out);
        }
        for form in &self.short {
            let mut at = 0;
            while at + form.len() <= hay.len() {
                if hay[at..at + form.len()].iter().zip(form).all(|(h, f)| sextet(*h) == Some(*f)) {
                    out.push((at, at + form.len()));
                    at += form.len();
                } else {
                    at += 1;
                }
            }
        }
    }

    fn find_windows(&self, hay: &[u8], out: &mut Vec<(usize, usize)>) {
        let mask = (1u64 << WINDOW_BITS) - 1;
        let (mut key, mut run, mut resume) = (0u64, 0usize, 0usize);
        for (i, b) in hay.iter().enumerate() {
            let Some(v) = sextet(*b) else {
                run = 0;
                continue;
            };
            key = (key << 6 | v as u64) & mask;
            run += 1;
            let start = i + 1 - FRAGMENT.min(i + 1);
            if run < FRAGMENT || start < resume {
                continue;
            }
            let Some(hits) = self.windows.get(&key) else { continue };
            let end = hits
                .iter()
                .map(|&(form, off)| {
                    let form = &self.forms[form as usize][off as usize + FRAGMENT..];
                    i + 1 + form.iter().zip(&hay[i + 1..]).take_while(|(f, h)| sextet(**h) == Some(**f)).count()
                })
                .max()
                .unwrap_or(i + 1);
            out.push((start, end));
            // A longer match starting inside this one holds the window that
            // ends where this one ends: look again from there.
            resume = end + 1 - FRAGMENT;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::base64::Engine;
    use ::base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

    #[test]
    fn forms_are_the_characters_a_secret_decides_at_each_alignment() {
        let secret = b"s3cr3t-value";
        let f = forms(secret);
        for (shift, form) in f.iter().enumerate() {
            for prefix in [vec![0u8; shift], vec![0xFF; shift], b"abc".repeat(3)[..shift].to_vec()] {
                let mut input = prefix.clone();
                input.extend_from_slice(secret);
                input.extend_from_slice(b"\xFFtail");
                let text: Vec<u8> = STANDARD_NO_PAD.encode(&input).bytes().map(|b| sextet(b).unwrap()).collect();
                let first = (8 * shift).div_ceil(6);
                assert_eq!(&text[first..first + form.len()], &form[..], "shift {shift}");
            }
        }
        // URL-safe reads the same
        let url: Vec<u8> = URL_SAFE_NO_PAD.encode(b"\xFB\xFF\xBF").bytes().map(|b| sextet(b).unwrap()).collect();
        let std: Vec<u8> = STANDARD_NO_PAD.encode(b"\xFB\xFF\xBF").bytes().map(|b| sextet(b).unwrap()).collect();
        assert_eq!(url, std);
    }
}
