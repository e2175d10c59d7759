//! What a local command hands on: `name=value` lines (and `name<<EOF` … `EOF`
//! blocks) in the file at `$SLIPWAY_OUTPUT`, text; and JSON objects in the file
//! at `$SLIPWAY_OUTPUT_JSON`, whose values keep their type (a list a later stage
//! can `{{#each}}`). Both kinds of name must be declared under `outputs:`.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// An output file larger than this fails the stage: a run's memory stays
/// bounded whatever a command writes (the same bound as an HTTP response).
pub const MAX_OUTPUT_FILE: usize = 16 * 1024 * 1024;

/// The two files a local command may write its outputs to.
pub struct OutputFiles {
    pub text: PathBuf,
    pub json: PathBuf,
}

impl OutputFiles {
    /// Names in `dir` nobody can guess; the files themselves are created by the
    /// command, if it writes outputs at all.
    pub fn new(dir: &Path, stage: &str) -> Self {
        let tag = slipway_engine::runid::random_u64();
        OutputFiles { text: dir.join(format!("{stage}-{tag:x}.out")), json: dir.join(format!("{stage}-{tag:x}.json")) }
    }

    pub fn vars(&self) -> [(String, String); 2] {
        [
            ("SLIPWAY_OUTPUT".to_owned(), self.text.display().to_string()),
            ("SLIPWAY_OUTPUT_JSON".to_owned(), self.json.display().to_string()),
        ]
    }

    /// Every name the command wrote, with its value, in the order written; the
    /// files are removed. Text values are strings; JSON values keep their type.
    pub async fn take(&self) -> Result<Vec<(String, Value)>, String> {
        let text = read_bounded(&self.text, "$SLIPWAY_OUTPUT").await;
        let json = read_bounded(&self.json, "$SLIPWAY_OUTPUT_JSON").await;
        let mut values: Vec<(String, Value)> = match text? {
            None => Vec::new(),
            Some(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| {
                    format!(
                        "`$SLIPWAY_OUTPUT` holds bytes that are not UTF-8 text (at byte {}): encode binary values, e.g. with base64",
                        e.utf8_error().valid_up_to()
                    )
                })?;
                parse_output_file(&text)?.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
            }
        };
        if let Some(bytes) = json? {
            let typed = parse_json_outputs(&bytes)?;
            if let Some((name, _)) = typed.iter().find(|(k, _)| values.iter().any(|(t, _)| t == k)) {
                return Err(format!(
                    "output `{name}` is written to both `$SLIPWAY_OUTPUT` and `$SLIPWAY_OUTPUT_JSON`: write it to one of them"
                ));
            }
            values.extend(typed);
        }
        Ok(values)
    }
}

/// A file's bytes, or `None` when it was never written; it is removed once read.
async fn read_bounded(path: &Path, var: &str) -> Result<Option<Vec<u8>>, String> {
    use tokio::io::AsyncReadExt;
    let file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read `{var}` ({}): {e}", path.display())),
    };
    let mut bytes = Vec::new();
    let read = file.take(MAX_OUTPUT_FILE as u64 + 1).read_to_end(&mut bytes).await;
    let _ = tokio::fs::remove_file(path).await;
    read.map_err(|e| format!("cannot read `{var}` ({}): {e}", path.display()))?;
    if bytes.len() > MAX_OUTPUT_FILE {
        return Err(format!(
            "`{var}` holds more than {} MiB: write large data to a file of your own and output its path",
            MAX_OUTPUT_FILE >> 20
        ));
    }
    Ok(Some(bytes))
}

/// `name=value` lines and `name<<DELIM` … `DELIM` blocks.
pub fn parse_output_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some((name, delim)) = line.split_once("<<").filter(|(n, _)| !n.contains('=')) {
            let mut value = Vec::new();
            loop {
                match lines.next() {
                    Some(l) if l == delim => break,
                    Some(l) => value.push(l),
                    None => return Err(format!("output `{name}` opens `<<{delim}` but never closes it")),
                }
            }
            out.push((name.to_owned(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            out.push((name.to_owned(), value.to_owned()));
        } else {
            return Err(format!("`$SLIPWAY_OUTPUT` holds `{line}`, which is neither `name=value` nor `name<<DELIMITER`"));
        }
    }
    Ok(out)
}

/// One JSON object, or several one after another (each `>>` of the command
/// adds one): their members in order, a later one winning.
pub fn parse_json_outputs(bytes: &[u8]) -> Result<Vec<(String, Value)>, String> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for item in serde_json::Deserializer::from_slice(bytes).into_iter::<Value>() {
        let value = item.map_err(|e| {
            format!("`$SLIPWAY_OUTPUT_JSON` is not valid JSON ({e}): write one object, e.g. `jq -n --arg v \"$V\" '{{name: $v}}'`")
        })?;
        let Value::Object(members) = value else {
            let found = match value {
                Value::Array(_) => "a list",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            return Err(format!("`$SLIPWAY_OUTPUT_JSON` holds {found}, not an object: write `{{\"name\": value}}`, one member per output"));
        };
        for (name, value) in members {
            out.retain(|(k, _)| *k != name);
            out.push((name, value));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_single_and_multi_line_outputs() {
        let got = parse_output_file("a=1\nnotes<<EOF\nline one\nline=two\nEOF\nb=x=y\n").unwrap();
        assert_eq!(got, vec![("a".into(), "1".into()), ("notes".into(), "line one\nline=two".into()), ("b".into(), "x=y".into())]);
        assert!(parse_output_file("x<<END\nnever closed").is_err());
        assert!(parse_output_file("just text").is_err());
    }

    #[test]
    fn json_outputs_keep_their_types_and_later_objects_win() {
        let got = parse_json_outputs(b"{\"hosts\": [\"a\", \"b\"], \"n\": 2}\n{\"n\": 3, \"ok\": true}\n").unwrap();
        assert_eq!(got, vec![("hosts".into(), json!(["a", "b"])), ("n".into(), json!(3)), ("ok".into(), json!(true))]);
        assert_eq!(parse_json_outputs(b"").unwrap(), vec![]);
    }

    #[test]
    fn json_outputs_that_are_not_objects_say_what_they_are() {
        let e = parse_json_outputs(b"[1, 2]").unwrap_err();
        assert!(e.contains("holds a list, not an object"), "{e}");
        let e = parse_json_outputs(b"{\"a\": 1}\n\"text\"").unwrap_err();
        assert!(e.contains("holds a string, not an object"), "{e}");
        let e = parse_json_outputs(b"{\"a\": ").unwrap_err();
        assert!(e.contains("is not valid JSON"), "{e}");
        let e = parse_json_outputs(b"a=1").unwrap_err();
        assert!(e.contains("is not valid JSON"), "{e}");
    }
}
