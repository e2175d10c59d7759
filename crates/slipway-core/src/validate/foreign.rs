//! Telling a Slipway pipeline from the other YAML files in a repository: a
//! folder holds GitHub Actions workflows, GitLab CI files, Compose files and
//! plain configuration beside the pipelines. A file found in a folder that is
//! not a pipeline is skipped; a file named on the command line that belongs to
//! another tool gets one diagnostic that says so, not a list of unknown fields.

use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use crate::yaml::{Node, Value};

/// A file format that shares YAML with Slipway pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    GithubActions,
    GitlabCi,
    Compose,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::GithubActions => "a GitHub Actions workflow",
            Tool::GitlabCi => "a GitLab CI file",
            Tool::Compose => "a Docker Compose file",
        }
    }
}

/// The top-level entries of a mapping document.
fn entries(root: &Node) -> &[(Node, Node)] {
    match &root.value {
        Value::Map(entries) => entries,
        _ => &[],
    }
}

fn find<'n>(entries: &'n [(Node, Node)], key: &str) -> Option<&'n (Node, Node)> {
    entries.iter().find(|(k, _)| k.scalar().is_some_and(|s| s.text == key))
}

/// Which other tool's file `root` is, and the key that tells, when it is not a
/// pipeline: a document whose `stages` is a mapping is Slipway's whatever else
/// it holds (its stray keys are then reported one by one).
pub fn recognise(root: &Node) -> Option<(Tool, Span)> {
    let top = entries(root);
    let stages = find(top, "stages");
    if stages.is_some_and(|(_, v)| matches!(v.value, Value::Map(_))) {
        return None;
    }
    if let (Some((on, _)), Some((_, jobs))) = (find(top, "on"), find(top, "jobs"))
        && matches!(jobs.value, Value::Map(_))
    {
        return Some((Tool::GithubActions, on.span));
    }
    if let Some((key, _)) = find(top, "services") {
        return Some((Tool::Compose, key.span));
    }
    if find(top, "version").is_some() {
        return None; // GitLab CI has no `version`: a broken pipeline, reported field by field
    }
    // GitLab: `stages` lists stage names, and jobs are top-level mappings with a `script`
    if let Some((key, Node { value: Value::Seq(_), .. })) = stages {
        return Some((Tool::GitlabCi, key.span));
    }
    let has = |m: &[(Node, Node)], key: &str| m.iter().any(|(k, _)| k.as_str() == Some(key));
    let job = top.iter().find(|(_, v)| matches!(&v.value, Value::Map(m) if has(m, "script") && !has(m, "kind")));
    job.map(|(key, _)| (Tool::GitlabCi, key.span))
}

/// The one diagnostic for a file named on the command line that belongs to
/// another tool.
pub fn diagnostic(tool: Tool, span: Span) -> Diagnostic {
    let telling = match tool {
        Tool::GithubActions => "`on` and `jobs` are GitHub Actions keys",
        Tool::GitlabCi => "GitLab CI lists its stages by name and gives each job a `script`",
        Tool::Compose => "`services` is a Compose key",
    };
    Diagnostic::error(Code::NotAPipeline, span, format!("this is {}, not a Slipway pipeline", tool.name())).with_label(telling).with_help(
        "a Slipway pipeline has `version: 1`, a `name` and a `stages:` mapping of stage ids to stages (docs/format.md); \
             check that the path names the pipeline file",
    )
}

/// Whether a parsed document found in a folder is a pipeline to check: a
/// mapping with `version` or `stages` at the top, and no other tool's.
pub fn is_pipeline(root: &Node) -> bool {
    let top = entries(root);
    (find(top, "version").is_some() || find(top, "stages").is_some()) && recognise(root).is_none()
}

/// Whether a document is a chat-ops config (`slipway serve`): a top-level
/// `aliases` key and no `stages`.
pub fn is_chatops(root: &Node) -> bool {
    let top = entries(root);
    find(top, "aliases").is_some() && find(top, "stages").is_none()
}

/// For text that does not parse as YAML: whether a line starts with a
/// `version:` or `stages:` key, as a pipeline's top level does. Such a file is
/// probably a broken pipeline and worth its errors; other YAML that does not
/// parse (templated Helm charts, say) is skipped.
pub fn mentions_pipeline_keys(text: &str) -> bool {
    text.lines().any(|l| ["version", "stages"].iter().any(|k| l.strip_prefix(k).is_some_and(|rest| rest.trim_start().starts_with(':'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(text: &str) -> Option<Tool> {
        let (root, _) = crate::yaml::load(text, crate::yaml::Limits::default());
        recognise(&root.unwrap()).map(|(t, _)| t)
    }

    fn found_is_pipeline(text: &str) -> bool {
        let (root, _) = crate::yaml::load(text, crate::yaml::Limits::default());
        is_pipeline(&root.unwrap())
    }

    #[test]
    fn other_tools_files_are_recognised() {
        assert_eq!(tool("on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n"), Some(Tool::GithubActions));
        assert_eq!(tool("on: { push: { branches: [main] } }\njobs: { a: { steps: [] } }\n"), Some(Tool::GithubActions));
        assert_eq!(tool("stages: [build, test]\nbuild:\n  stage: build\n  script: make\n"), Some(Tool::GitlabCi));
        assert_eq!(tool("test:\n  script:\n    - make test\n"), Some(Tool::GitlabCi));
        assert_eq!(tool("version: '3.8'\nservices:\n  web:\n    image: nginx\n"), Some(Tool::Compose));
    }

    #[test]
    fn a_pipeline_is_never_taken_for_another_tool() {
        for text in [
            "version: 1\nname: x\nstages:\n  a: { kind: shell, run: make }\n",
            // stray keys of another tool beside a `stages` mapping: reported as unknown fields
            "version: 1\nname: x\non: push\njobs: {}\nservices: {}\nstages:\n  a: { kind: shell, run: make }\n",
            "version: 1\nname: x\nstages:\n  a: { kind: shell, script: make }\n",
            // mistakes in a pipeline, not GitLab files
            "version: 1\nname: x\nstages:\n  - build: { kind: shell, run: make }\n",
            "version: 1\nname: x\nbuild:\n  kind: shell\n  script: make\n",
            "name: x\nstages:\n  a: { kind: shell, script: make }\n",
        ] {
            assert_eq!(tool(text), None, "{text}");
        }
    }

    #[test]
    fn found_files_need_version_or_stages_at_the_top() {
        assert!(found_is_pipeline("version: 1\n"));
        assert!(found_is_pipeline("stages: {}\n"));
        assert!(found_is_pipeline("name: x\nstages:\n  a: { kind: shell }\n"));
        assert!(!found_is_pipeline("name: x\nreplicas: 3\n"));
        assert!(!found_is_pipeline("- a\n- b\n"));
        assert!(!found_is_pipeline("version: '3'\nservices: { web: { image: nginx } }\n"));
        assert!(!found_is_pipeline("stages: [build]\njob: { script: make }\n"));
        assert!(mentions_pipeline_keys("# a broken pipeline\nversion: 1\nstages:\n  a: [\n"));
        assert!(mentions_pipeline_keys("stages :\n"));
        assert!(!mentions_pipeline_keys("apiVersion: v1\nkind: {{ .Values.kind }}\n  version: 2\n"));
    }
}
