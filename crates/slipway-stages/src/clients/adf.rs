//! Plain text to Atlassian Document Format, the rich-text JSON that JIRA Cloud's
//! REST API version 3 demands for `description` (a plain string gets a 400).
//!
//! Only the shapes a change ticket needs, read line by line: paragraphs
//! (separated by blank lines, their lines kept with hard breaks), bullet lists
//! (lines starting `* ` or `- `) and fenced code blocks (```` ``` ````). Nothing
//! in the text is interpreted beyond that: a commit subject holding markup
//! arrives as the same characters in a text node. ADF refuses empty text
//! nodes, so none is ever made.

use serde_json::{Value, json};

/// The document for `text`; `None` when it holds nothing but whitespace.
pub fn from_text(text: &str) -> Option<Value> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut items: Vec<&str> = Vec::new();
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            flush(&mut blocks, &mut paragraph, &mut items);
            let fence_indent = line.len() - trimmed.len();
            let mut code = Vec::new();
            for inner in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    break;
                }
                // Keep the code's own indentation, less the fence's.
                let cut = inner.len() - inner.trim_start().len();
                code.push(&inner[cut.min(fence_indent)..]);
            }
            blocks.push(code_block(info.trim(), &code.join("\n")));
        } else if let Some(item) = trimmed.strip_prefix("* ").or_else(|| trimmed.strip_prefix("- ")) {
            if !paragraph.is_empty() {
                flush(&mut blocks, &mut paragraph, &mut Vec::new());
            }
            items.push(item);
        } else if trimmed.is_empty() {
            flush(&mut blocks, &mut paragraph, &mut items);
        } else {
            if !items.is_empty() {
                flush(&mut blocks, &mut Vec::new(), &mut items);
            }
            paragraph.push(line);
        }
    }
    flush(&mut blocks, &mut paragraph, &mut items);
    (!blocks.is_empty()).then(|| json!({"type": "doc", "version": 1, "content": blocks}))
}

/// Ends the paragraph or list being gathered, if any.
fn flush(blocks: &mut Vec<Value>, paragraph: &mut Vec<&str>, items: &mut Vec<&str>) {
    if !paragraph.is_empty() {
        blocks.push(paragraph_of(paragraph));
        paragraph.clear();
    }
    if !items.is_empty() {
        let list: Vec<Value> = items.iter().map(|i| json!({"type": "listItem", "content": [paragraph_of(&[i])]})).collect();
        blocks.push(json!({"type": "bulletList", "content": list}));
        items.clear();
    }
}

/// A paragraph of lines joined by hard breaks; a blank line adds no text node.
fn paragraph_of(lines: &[&str]) -> Value {
    let mut content = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if n > 0 {
            content.push(json!({"type": "hardBreak"}));
        }
        if !line.is_empty() {
            content.push(json!({"type": "text", "text": line}));
        }
    }
    json!({"type": "paragraph", "content": content})
}

fn code_block(language: &str, code: &str) -> Value {
    let mut block = json!({"type": "codeBlock", "content": []});
    // An info string that is one plain word names the language; anything else is ignored.
    if !language.is_empty() && language.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '#')) {
        block["attrs"] = json!({"language": language});
    }
    if !code.is_empty() {
        block["content"] = json!([{"type": "text", "text": code}]);
    }
    block
}

#[cfg(test)]
mod tests {
    use super::from_text;
    use serde_json::{Value, json};

    fn text(t: &str) -> Value {
        json!({"type": "text", "text": t})
    }

    /// Every text node anywhere in the document.
    fn texts(v: &Value, out: &mut Vec<String>) {
        if v["type"] == "text" {
            out.push(v["text"].as_str().unwrap().to_owned());
        }
        for child in v["content"].as_array().into_iter().flatten() {
            texts(child, out);
        }
    }

    #[test]
    fn paragraphs_lists_and_code() {
        let doc = from_text("Deploying 2 commits\n(abc..def):\n\n* abc1234 Fix the cache (Ann)\n- def5678 Add `x` (Bo)\nAfter the list\n\n```sh\n  make deploy\nexit 0\n```\n").unwrap();
        assert_eq!(
            doc,
            json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [text("Deploying 2 commits"), {"type": "hardBreak"}, text("(abc..def):")]},
                {"type": "bulletList", "content": [
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [text("abc1234 Fix the cache (Ann)")]}]},
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [text("def5678 Add `x` (Bo)")]}]},
                ]},
                {"type": "paragraph", "content": [text("After the list")]},
                {"type": "codeBlock", "attrs": {"language": "sh"}, "content": [text("  make deploy\nexit 0")]},
            ]})
        );
    }

    #[test]
    fn no_text_node_is_ever_empty() {
        for input in ["* \n- x", "```\n```", "a\n\n\n\nb", "```\n\n```", "* \u{a0}", "  \n\t\n"] {
            let Some(doc) = from_text(input) else { continue };
            let mut all = Vec::new();
            texts(&doc, &mut all);
            assert!(all.iter().all(|t| !t.is_empty()), "{input:?}: {doc}");
        }
        assert_eq!(from_text("  \n\t\n"), None);
        assert_eq!(from_text("```\n```").unwrap()["content"][0], json!({"type": "codeBlock", "content": []}));
    }

    #[test]
    fn markup_in_the_text_stays_text() {
        let hostile = "$(touch pwned) `id` <!channel> {{ secrets.X }} [x|http://evil] *bold*";
        let doc = from_text(hostile).unwrap();
        assert_eq!(doc["content"][0]["content"][0]["text"], hostile);
        // An unclosed fence runs to the end; its info string is not a language.
        let doc = from_text("``` rm -rf /\nline").unwrap();
        assert_eq!(doc["content"][0], json!({"type": "codeBlock", "content": [text("line")]}));
    }
}
