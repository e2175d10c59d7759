//! Secrets: resolved before any stage runs, and masked in everything Slipway
//! writes, in their plain, URL-encoded and base64-encoded forms.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use slipway_core::model::Pipeline;

pub const MASK: &str = "***";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret `{name}` is not set: environment variable `{var}` is missing or empty")]
    MissingEnv { name: String, var: String },
    #[error("secret `{name}` cannot be read from `{path}`: {error}")]
    File { name: String, path: String, error: std::io::Error },
    #[error("secret `{name}` is empty: `{path}` holds nothing")]
    EmptyFile { name: String, path: String },
}

/// Reads every declared secret. The first missing one is an error naming it.
pub fn resolve(pipeline: &Pipeline, base_dir: &Path) -> Result<BTreeMap<String, String>, SecretError> {
    let mut out = BTreeMap::new();
    for (name, secret) in &pipeline.secrets {
        let value = if let Some(var) = &secret.env {
            std::env::var(var.as_str())
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| SecretError::MissingEnv { name: name.value.clone(), var: var.value.clone() })?
        } else if let Some(file) = &secret.file {
            let path = base_dir.join(file.as_str());
            let text = std::fs::read_to_string(&path).map_err(|error| SecretError::File {
                name: name.value.clone(),
                path: path.display().to_string(),
                error,
            })?;
            let value = text.trim_end_matches(['\n', '\r']);
            if value.is_empty() {
                return Err(SecretError::EmptyFile { name: name.value.clone(), path: path.display().to_string() });
            }
            value.to_owned()
        } else {
            continue; // validation guarantees one source
        };
        out.insert(name.value.clone(), value);
    }
    Ok(out)
}

/// Replaces secret values in text. Cheap to clone; shared by every writer.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    /// Exact forms (JSON-escaped, each line of a multi-line secret, base64),
    /// longest first, so a secret containing another is masked whole.
    needles: Vec<String>,
    /// The secrets themselves, longest first, matched in any percent-encoding:
    /// each byte as itself or as `%XX` (either case), a space also as `+`. That
    /// covers every encoder (RFC 3986, `encodeURIComponent`, Python's `quote`).
    secrets: Vec<Vec<u8>>,
}

impl Masker {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles = Vec::new();
        let mut raw = Vec::new();
        for s in secrets {
            // Very short values would mask ordinary text everywhere.
            let trimmed = s.trim_end_matches(['\n', '\r']);
            if trimmed.len() < 3 {
                continue;
            }
            raw.push(trimmed.as_bytes().to_vec());
            // Output is masked line by line: each line of a multi-line secret (a PEM key) on its own.
            needles.extend(s.lines().map(str::trim).filter(|l| l.len() >= 6 && l.len() < trimmed.len()).map(str::to_owned));
            // As a JSON string shows it (`\/`, `\"`, `\n` escapes).
            if let Ok(json) = serde_json::to_string(trimmed) {
                needles.push(json[1..json.len() - 1].to_owned());
                needles.push(json[1..json.len() - 1].replace('/', "\\/"));
            }
            needles.extend(base64_forms(trimmed.as_bytes()));
            needles.extend(wrapped_base64_forms(trimmed.as_bytes()));
        }
        needles.retain(|n| n.len() >= 3);
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        raw.sort_by_key(|r| std::cmp::Reverse(r.len()));
        raw.dedup();
        Masker { needles, secrets: raw }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if let Some(masked) = mask_encoded(&out, secret) {
                out = masked;
            }
        }
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), MASK);
            }
        }
        out
    }

    /// Masks every string inside a JSON value, object keys included.
    pub fn mask_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        if self.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.mask(s)),
            Value::Array(a) => a.iter().map(|v| self.mask_json(v)).collect(),
            Value::Object(o) => o.iter().map(|(k, v)| (self.mask(k), self.mask_json(v))).collect(),
            other => other.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// `text` with every occurrence of `secret`, in any percent-encoding, replaced
/// by the mask; `None` when there is none.
fn mask_encoded(text: &str, secret: &[u8]) -> Option<String> {
    let hay = text.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let (mut copied, mut i) = (0, 0);
    while i < hay.len() {
        match match_encoded(hay, i, secret) {
            Some(end) => {
                let buf = out.get_or_insert_with(Vec::new);
                buf.extend_from_slice(&hay[copied..i]);
                buf.extend_from_slice(MASK.as_bytes());
                (copied, i) = (end, end);
            }
            None => i += 1,
        }
    }
    let mut buf = out?;
    buf.extend_from_slice(&hay[copied..]);
    // Matches start and end on whole characters (each is a run of the secret's
    // UTF-8 or of ASCII escapes), so the rest stays valid UTF-8.
    Some(String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Where a match of `secret` starting at `start` ends, if there is one.
fn match_encoded(hay: &[u8], start: usize, secret: &[u8]) -> Option<usize> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut i = start;
    for &b in secret {
        let escaped = hay.get(i) == Some(&b'%')
            && matches!((hay.get(i + 1).and_then(|c| hex(*c)), hay.get(i + 2).and_then(|c| hex(*c))), (Some(h), Some(l)) if h * 16 + l == b);
        if escaped {
            i += 3;
        } else if hay.get(i) == Some(&b) || (b == b' ' && hay.get(i) == Some(&b'+')) {
            i += 1;
        } else {
            return None;
        }
    }
    Some(i)
}

/// The lines of the secret's own base64 when an encoder wraps it (`base64`
/// wraps at 76 characters, PEM at 64): each line on its own, the short last one
/// too unless it is too short to be told from ordinary text.
fn wrapped_base64_forms(secret: &[u8]) -> Vec<String> {
    let mut forms = Vec::new();
    for engine in [&STANDARD, &URL_SAFE] {
        let encoded = engine.encode(secret);
        for width in [64, 76] {
            if encoded.len() > width {
                let chunks = encoded.as_bytes().chunks(width).map(|c| String::from_utf8_lossy(c).into_owned());
                forms.extend(chunks.filter(|c| c.trim_end_matches('=').len() >= 8));
            }
        }
    }
    forms
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

/// The base64 text that encodes `secret` wherever it sits inside a longer encoded
/// value (e.g. `Basic base64(user:secret)`): for each of the three byte
/// alignments, the characters that depend on the secret's bytes alone.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    let mut forms = Vec::new();
    for shift in 0..3usize {
        let mut padded = vec![0u8; shift];
        padded.extend_from_slice(secret);
        let total_bits = 8 * padded.len();
        let first = (8 * shift).div_ceil(6);
        let last = total_bits / 6; // chars [first, last) lie wholly inside the secret
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&padded);
            if last > first + 3 {
                forms.push(encoded[first..last.min(encoded.len())].to_owned());
            }
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_plain_url_encoded_and_base64_forms() {
        let secret = "s3cr3t/t0ken+value";
        let m = Masker::new([secret]);
        assert_eq!(m.mask(&format!("token={secret}!")), "token=***!");
        assert!(!m.mask(&url_encode(secret)).contains("t0ken"));
        for prefix in ["", "a", "ab", "user:", "me@example.com:"] {
            let encoded = STANDARD.encode(format!("{prefix}{secret}"));
            let masked = m.mask(&format!("Authorization: Basic {encoded}"));
            assert!(masked.contains(MASK), "{prefix}: {masked}");
            // no run of the secret's own base64 survives
            let own = STANDARD_NO_PAD.encode(secret);
            assert!(!masked.contains(&own[4..own.len() - 4]), "{prefix}: {masked}");
        }
    }

    #[test]
    fn masks_other_encodings_and_lines_of_multi_line_secrets() {
        let m = Masker::new(["a b/c@d", "-----BEGIN KEY-----\nMIIEowIBAAKCAQEA\n-----END KEY-----\n"]);
        assert_eq!(m.mask("q=a+b%2fc%40d"), "q=***");
        assert_eq!(m.mask("{\"u\":\"a b\\/c@d\"}"), "{\"u\":\"***\"}");
        assert_eq!(m.mask("line: MIIEowIBAAKCAQEA"), "line: ***");
    }

    #[test]
    fn masks_every_percent_encoding_wrapped_base64_and_object_keys() {
        let secret = "ghp_s3cr3t/V4lue+42xyz!abc(d)*e f";
        let m = Masker::new([secret]);
        // Python's quote (keeps `/`), encodeURIComponent (keeps `!()*`), RFC 3986 in
        // either case, form encoding (space as `+`), and a mix of all of them.
        for form in [
            "ghp_s3cr3t/V4lue%2B42xyz%21abc%28d%29%2Ae%20f",
            "ghp_s3cr3t%2FV4lue%2B42xyz!abc(d)*e%20f",
            "ghp_s3cr3t%2fV4lue%2b42xyz%21abc%28d%29%2ae+f",
            "%67hp_s3cr3t/V4lue+42xyz!abc(d)*e f",
        ] {
            assert_eq!(m.mask(&format!("token={form}&x=1")), "token=***&x=1", "{form}");
        }
        // `base64` wraps its output at 76 characters: every line is masked.
        let long = "s3cr3t-".repeat(20);
        let m = Masker::new([long.as_str()]);
        let wrapped = STANDARD.encode(&long);
        for line in wrapped.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()) {
            assert_eq!(m.mask(line), MASK, "{line}");
        }
        let m = Masker::new(["k3y-s3cr3t"]);
        let masked = m.mask_json(&serde_json::json!({ "k3y-s3cr3t": { "x": ["a-k3y-s3cr3t"] } }));
        assert_eq!(masked, serde_json::json!({ "***": { "x": ["a-***"] } }));
    }

    #[test]
    fn masking_keeps_text_around_multi_byte_characters_intact() {
        let m = Masker::new(["clé-secrète"]);
        assert_eq!(m.mask("«clé-secrète» et cl%C3%A9-secr%C3%A8te"), "«***» et ***");
        assert_eq!(m.mask("%%%zz%"), "%%%zz%");
    }

    #[test]
    fn ignores_tiny_values() {
        assert!(Masker::new(["ab"]).is_empty());
    }
}
