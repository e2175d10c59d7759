//! GitLab's Code Quality report: a JSON array of issues that GitLab shows in
//! the merge request (`artifacts: reports: codequality:`), GitLab's nearest
//! equivalent of GitHub's annotations.

use super::range;
use crate::diagnostic::{Diagnostic, Severity};
use crate::source::SourceFile;

/// The whole report for several files.
pub fn gitlab_report<'a>(items: impl IntoIterator<Item = (&'a SourceFile, &'a Diagnostic)>) -> String {
    let issues: Vec<serde_json::Value> = items.into_iter().map(|(f, d)| issue(f, d)).collect();
    serde_json::to_string_pretty(&issues).unwrap_or_default()
}

fn issue(file: &SourceFile, d: &Diagnostic) -> serde_json::Value {
    let (start, end) = range(file, d);
    let mut description = d.message.clone();
    if let Some(help) = &d.help {
        description.push_str(" (help: ");
        description.push_str(help);
        description.push(')');
    }
    let path = file.path.strip_prefix("./").unwrap_or(&*file.path);
    // GitLab shows one issue per fingerprint: the place and the message make it unique.
    let identity = format!("{path}\0{}\0{}:{}\0{}", d.code.as_str(), start.line, start.column, d.message);
    serde_json::json!({
        "description": description,
        "check_name": format!("slipway/{}", d.code.as_str()),
        "fingerprint": fingerprint(&identity),
        "severity": match d.severity {
            Severity::Error => "major",
            Severity::Warning => "minor",
        },
        "location": { "path": path, "lines": { "begin": start.line, "end": end.line } },
    })
}

/// 32 hex digits from two FNV-1a passes: stable across Rust versions and
/// machines (a fingerprint that changed between runs would show every issue
/// as new), with no hashing crate in core.
fn fingerprint(text: &str) -> String {
    let fnv = |seed: u64| text.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325), fnv(0x6c62_272e_07bb_0142))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_tell_issues_apart() {
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("a\0x\u{0}1:1"), fingerprint("a\0x\u{0}2:1"));
        assert_eq!(fingerprint("").len(), 32);
    }
}
