//! The masking promise as a property: for a random secret, written in a random
//! promised form (as itself, percent-encoded, JSON-escaped, inside longer
//! base64 wrapped at any column; or transformed by a template helper or chat
//! escaping, then encoded) inside random text cut into lines anywhere, no
//! masked line shows the secret whole, nor [`FRAGMENT`] bytes of it in a row
//! (characters of its base64). `cargo test` checks a few thousand cases;
//! `cargo xtask fuzz` checks it for minutes.

use ::base64::Engine;
use ::base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use slipway_core::fuzz::Rng;

use super::{FRAGMENT, MIN_LEN, Masker};
use crate::render::{Escape, Renderer};

/// A case that broke the promise.
#[derive(Debug)]
pub struct Leak {
    pub secret: String,
    pub form: String,
    pub lines: Vec<String>,
    pub masked: Vec<String>,
    /// What a masked line still shows.
    pub shown: String,
}

impl std::fmt::Display for Leak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "secret {:?} as {}: a masked line shows {:?}", self.secret, self.form, self.shown)?;
        for (line, masked) in self.lines.iter().zip(&self.masked) {
            writeln!(f, "  {line:?}\n    -> {masked:?}")?;
        }
        Ok(())
    }
}

const POOLS: &[&str] = &[
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    "abcdefXYZ0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "aé中🚀ßü€Zx9 /%\\\"+",
    "0123456789",
];

/// Characters no secret here is made of.
const FALLBACK: &str = "·¶§";

fn pick<'a>(rng: &mut Rng, items: &'a [&'a str]) -> &'a str {
    items[rng.below(items.len())]
}

fn random_text(rng: &mut Rng, pool: &str, len: usize) -> String {
    let chars: Vec<char> = pool.chars().collect();
    (0..len).map(|_| chars[rng.below(chars.len())]).collect()
}

fn random_secret(rng: &mut Rng) -> String {
    let len = if rng.below(8) == 0 { MIN_LEN + rng.below(200) } else { MIN_LEN + rng.below(40) };
    let pool = pick(rng, POOLS);
    random_text(rng, pool, len)
}

/// A value in an encoded form, and for each of its characters the span of the
/// encoding that writes it.
struct Encoded {
    form: String,
    text: String,
    /// Runs of the text that must not show: each [`FRAGMENT`] bytes of the
    /// value in a row, and the whole.
    forbidden: Vec<String>,
}

fn spans_forbidden(value: &str, pieces: &[String]) -> Vec<String> {
    let mut forbidden = vec![pieces.concat()];
    let sizes: Vec<usize> = value.chars().map(char::len_utf8).collect();
    for start in 0..pieces.len() {
        let (mut bytes, mut end) = (0, start);
        while end < pieces.len() && bytes < FRAGMENT {
            bytes += sizes[end];
            end += 1;
        }
        if bytes >= FRAGMENT {
            forbidden.push(pieces[start..end].concat());
        }
    }
    forbidden
}

fn percent(rng: &mut Rng, value: &str) -> Encoded {
    let pieces: Vec<String> = value
        .chars()
        .map(|c| match rng.below(3) {
            0 if c == ' ' => "+".into(),
            0 => c.to_string(),
            n => {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf).bytes().map(|b| if n == 1 { format!("%{b:02X}") } else { format!("%{b:02x}") }).collect()
            }
        })
        .collect();
    Encoded { form: "percent-encoded".into(), text: pieces.concat(), forbidden: spans_forbidden(value, &pieces) }
}

fn json_escaped(rng: &mut Rng, value: &str) -> Encoded {
    let upper = rng.below(2) == 0;
    let unicode = |c: char| -> String {
        let mut pair = [0u16; 2];
        c.encode_utf16(&mut pair).iter().map(|u| if upper { format!("\\u{u:04X}") } else { format!("\\u{u:04x}") }).collect()
    };
    let pieces: Vec<String> = value
        .chars()
        .map(|c| match (c, rng.below(4)) {
            ('"' | '\\', 0) => format!("\\{c}"),
            ('"' | '\\', _) => unicode(c),
            ('/', 0) => "\\/".into(),
            (c, 1) if !c.is_ascii() => format!("\\u{{{:x}}}", c as u32),
            (c, 0 | 1) if !c.is_ascii() || "<>&'".contains(c) => unicode(c),
            (c, _) => c.to_string(),
        })
        .collect();
    Encoded { form: "JSON-escaped".into(), text: pieces.concat(), forbidden: spans_forbidden(value, &pieces) }
}

/// `base64(prefix + value + suffix)`, standard or URL-safe, maybe wrapped.
fn base64(rng: &mut Rng, value: &str) -> Encoded {
    let prefix: Vec<u8> = (0..rng.below(12)).map(|_| rng.byte()).collect();
    let suffix: Vec<u8> = (0..rng.below(6)).map(|_| rng.byte()).collect();
    let input = [&prefix[..], value.as_bytes(), &suffix[..]].concat();
    let url = rng.below(2) == 0;
    let encoded = if url { URL_SAFE_NO_PAD.encode(&input) } else { STANDARD.encode(&input) };
    // The characters the value's bits alone decide.
    let (first, last) = ((8 * prefix.len()).div_ceil(6), 8 * (prefix.len() + value.len()) / 6);
    let own = &encoded[first..last];
    let mut forbidden: Vec<String> = own.as_bytes().windows(FRAGMENT).map(|w| String::from_utf8_lossy(w).into_owned()).collect();
    if own.len() >= 4 {
        forbidden.push(own.to_owned());
    }
    let width = if rng.below(3) == 0 { 0 } else { 1 + rng.below(100) };
    let text = match width {
        0 => encoded,
        w => encoded.as_bytes().chunks(w).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\n"),
    };
    let form = format!("{} base64 after {} bytes, wrapped at {width}", if url { "URL-safe" } else { "standard" }, prefix.len());
    Encoded { form, text, forbidden }
}

fn encode(rng: &mut Rng, value: &str) -> Encoded {
    match rng.below(4) {
        0 => Encoded {
            form: "itself".into(),
            text: value.into(),
            forbidden: spans_forbidden(value, &value.chars().map(String::from).collect::<Vec<_>>()),
        },
        1 => percent(rng, value),
        2 => json_escaped(rng, value),
        _ => base64(rng, value),
    }
}

/// A helper applied to the secret, rendered by a renderer that teaches the
/// masker; `None` when the renderer refuses (too little left to mask).
fn transformed(rng: &mut Rng, secret: &str, masker: &Masker) -> Option<(String, String)> {
    let chars: Vec<char> = secret.chars().collect();
    let from: String = chars[rng.below(chars.len())..].iter().take(1 + rng.below(3)).collect();
    let n = rng.below(4);
    let to = random_text(rng, POOLS[0], n);
    let escape = match rng.below(8) {
        0 => Some(Escape::Slack),
        1 => Some(Escape::Mattermost),
        _ => None,
    };
    let template = match rng.below(8) {
        _ if escape.is_some() => "{{ secrets.s }}".to_owned(),
        0 => "{{ upper secrets.s }}".to_owned(),
        1 => "{{ lower secrets.s }}".to_owned(),
        2 => format!("{{{{ replace secrets.s {} {} }}}}", json!(from), json!(to)),
        3 => format!("{{{{ truncate secrets.s {} }}}}", 1 + rng.below(chars.len() + 2)),
        4 => "{{ abbrev secrets.s }}".to_owned(),
        5 => "{{ shell_quote secrets.s }}".to_owned(),
        6 => "{{ trim secrets.s }}".to_owned(),
        _ => "{{ upper (truncate (lower secrets.s) 12) }}".to_owned(),
    };
    let renderer = Renderer::new();
    renderer.teach(masker);
    let cx = json!({ "secrets": { "s": secret } });
    let out = match escape {
        Some(e) => renderer.render_escaped(&template, &cx, e).ok()?,
        None => renderer.render(&template, &cx).ok()?,
    };
    let template = match escape {
        Some(e) => format!("{template} escaped for {e:?}"),
        None => template,
    };
    // Nothing of the secret left (`truncate` to `…`): nothing to mask.
    (!out.trim_end_matches('…').is_empty()).then_some((template, out))
}

/// Checks one random case.
pub fn check(rng: &mut Rng) -> Result<(), Box<Leak>> {
    let secret = random_secret(rng);
    let masker = Masker::new([secret.as_str()]);
    let (value, how) = match rng.below(4) {
        0 => match transformed(rng, &secret, &masker) {
            Some((template, out)) => (out, format!("{template}, ")),
            None => return Ok(()),
        },
        _ => (secret.clone(), String::new()),
    };
    let encoded = encode(rng, &value);
    // Text around it that cannot show the secret by chance: none of its
    // characters, but for a short piece of it (fewer than FRAGMENT bytes) set
    // apart, so that near misses are tried too.
    let around: String =
        format!("{}{FALLBACK}", pick(rng, POOLS)).chars().filter(|c| !secret.contains(*c) && !value.contains(*c)).collect();
    let (n, m) = (rng.below(30), rng.below(30));
    let (mut before, after) = (random_text(rng, &around, n), random_text(rng, &around, m));
    if rng.below(4) == 0 {
        let chars: Vec<char> = secret.chars().collect();
        let start = rng.below(chars.len());
        let mut piece = String::new();
        for c in chars[start..].iter().take(1 + rng.below(3)) {
            if piece.len() + c.len_utf8() < FRAGMENT {
                piece.push(*c);
            }
        }
        before = format!("{before}{piece}{}", FALLBACK.chars().next().unwrap_or(' '));
    }
    let mut text = format!("{before}{}{after}", encoded.text);
    // Cut into lines anywhere (on characters: output is text).
    for _ in 0..rng.below(4) {
        let mut at = rng.below(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert(at, '\n');
    }
    let lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let per_line: Vec<String> = lines.iter().map(|l| masker.mask(l)).collect();
    let at_once: Vec<String> = masker.mask(&text).split('\n').map(str::to_owned).collect();
    for masked in [&per_line, &at_once] {
        for line in masked.iter() {
            if let Some(shown) = encoded.forbidden.iter().find(|f| line.contains(f.as_str())) {
                let form = format!("{how}{}", encoded.form);
                return Err(Box::new(Leak { secret, form, lines, masked: masked.clone(), shown: shown.clone() }));
            }
        }
    }
    Ok(())
}
