//! Reading every declared secret before anything runs.

use std::collections::BTreeMap;
use std::path::Path;

use slipway_core::model::Pipeline;

/// The shortest secret Slipway accepts, in characters. A shorter value could
/// not be masked without masking ordinary words too ("abc" is in "abcd", and a
/// two-character value is in almost every line), so it would either show or
/// mangle the output: the run refuses it instead.
pub const MIN_LEN: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret `{name}` is not set: environment variable `{var}` is missing or empty")]
    MissingEnv { name: String, var: String },
    #[error("secret `{name}` cannot be read from `{path}`: {error}")]
    File { name: String, path: String, error: std::io::Error },
    #[error("secret `{name}` is empty: `{path}` holds nothing")]
    EmptyFile { name: String, path: String },
    #[error(
        "secret `{name}` is too short to mask: it has {chars} character{s}, and a secret needs at least {MIN_LEN}: \
         give it a longer value (shorter ones would show, or hide ordinary words)",
        s = if *chars == 1 { "" } else { "s" }
    )]
    TooShort { name: String, chars: usize },
}

/// Reads every declared secret. The first missing one, or one too short to
/// mask, is an error naming it (never showing its value).
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
        // What the masker looks for: the value without the newline a file or `echo` ends it with.
        let chars = value.trim_end_matches(['\n', '\r']).chars().count();
        if chars < MIN_LEN {
            return Err(SecretError::TooShort { name: name.value.clone(), chars });
        }
        out.insert(name.value.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(secrets: &str) -> Pipeline {
        let text = format!("version: 1\nname: p\nsecrets: {{ {secrets} }}\nstages:\n  a: {{ kind: shell, run: 'true' }}\n");
        let checked = slipway_core::validate::check_str("p.yaml", &text);
        checked.pipeline.expect("a valid pipeline")
    }

    #[test]
    fn a_secret_shorter_than_four_characters_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("slipway-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (value, chars) in [("ab", 2), ("abc\n", 3), ("é1\n\n", 2), ("x", 1)] {
            std::fs::write(dir.join("s"), value).unwrap();
            let e = resolve(&pipeline("PIN: { file: s }"), &dir).unwrap_err();
            assert!(matches!(&e, SecretError::TooShort { name, chars: c } if name == "PIN" && *c == chars), "{e}");
            let message = e.to_string();
            assert!(message.starts_with("secret `PIN` is too short to mask"), "{message}");
            assert!(!message.contains(value.trim_end()), "the error shows the value: {message}");
        }
        std::fs::write(dir.join("s"), "abcd\n").unwrap();
        assert_eq!(resolve(&pipeline("PIN: { file: s }"), &dir).unwrap()["PIN"], "abcd");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
