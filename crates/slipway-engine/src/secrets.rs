//! Secrets: resolved before any stage runs, and masked in everything Slipway
//! writes, in their plain, URL-encoded and base64-encoded forms.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use slipway_core::model::Pipeline;

pub const MASK: &str = "***";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret `{name}` is not set: environment variable `{var}` is missing or empty")]
    MissingEnv { name: String, var: String },
    #[error("secret `{name}` cannot be read from `{path}`: {error}")]
    File { name: String, path: String, error: std::io::Error },
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
            text.trim_end_matches(['\n', '\r']).to_owned()
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
    /// Longest first, so a secret containing another is masked whole.
    needles: Vec<String>,
}

impl Masker {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles = Vec::new();
        for s in secrets {
            // Very short values would mask ordinary text everywhere.
            if s.len() < 3 {
                continue;
            }
            let mut forms = vec![s.to_owned(), s.trim_end_matches(['\n', '\r']).to_owned()];
            // Output is masked line by line: each line of a multi-line secret (a PEM key) on its own.
            forms.extend(s.lines().map(str::trim).filter(|l| l.len() >= 6).map(str::to_owned));
            // Percent-encoded with upper- or lower-case escapes, spaces as `%20` or `+`.
            let encoded = url_encode(s);
            for e in [encoded.to_lowercase_escapes(), encoded] {
                forms.push(e.replace("%20", "+"));
                forms.push(e);
            }
            // As a JSON string shows it (`\/`, `\"`, `\n` escapes).
            if let Ok(json) = serde_json::to_string(s) {
                forms.push(json[1..json.len() - 1].to_owned());
                forms.push(json[1..json.len() - 1].replace('/', "\\/"));
            }
            forms.extend(base64_forms(s.as_bytes()));
            needles.extend(forms.into_iter().filter(|f| f.len() >= 3));
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Masker { needles }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), MASK);
            }
        }
        out
    }

    /// Masks every string inside a JSON value.
    pub fn mask_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        if self.needles.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.mask(s)),
            Value::Array(a) => a.iter().map(|v| self.mask_json(v)).collect(),
            Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), self.mask_json(v))).collect(),
            other => other.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }
}

trait LowercaseEscapes {
    fn to_lowercase_escapes(&self) -> String;
}

impl LowercaseEscapes for String {
    /// `%2F` written `%2f`, as some encoders do.
    fn to_lowercase_escapes(&self) -> String {
        let mut out = String::with_capacity(self.len());
        let mut chars = self.chars();
        while let Some(c) = chars.next() {
            out.push(c);
            if c == '%' {
                out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
            }
        }
        out
    }
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
    use base64::engine::general_purpose::STANDARD;

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
    fn ignores_tiny_values() {
        assert!(Masker::new(["ab"]).is_empty());
    }
}
