//! Diagnostics are data: a stable code, a severity, a message, spans and a help line.
//! Rendering them (human, GitHub, JSON) lives in `render`.

use crate::source::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

macro_rules! codes {
    ($($variant:ident = $name:literal: $doc:literal,)*) => {
        /// Every diagnostic code Slipway emits. The names are stable: tools match on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(#[doc = $doc] $variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            pub fn description(self) -> &'static str {
                match self { $(Code::$variant => $doc,)* }
            }
        }
    };
}

codes! {
    Io = "io": "the file could not be read",
    InvalidUtf8 = "invalid-utf8": "the file is not UTF-8 text",
    EmptyFile = "empty-file": "the file holds no pipeline",
    FileTooLarge = "file-too-large": "the file is larger than Slipway reads",
    YamlSyntax = "yaml-syntax": "the text is not valid YAML",
    YamlTab = "yaml-tab": "a tab character is used for indentation",
    YamlMultipleDocuments = "yaml-multiple-documents": "a file holds more than one YAML document",
    YamlAliasLimit = "yaml-alias-limit": "YAML aliases expand past the size limit (an alias bomb)",
    YamlTooDeep = "yaml-too-deep": "nesting is deeper than Slipway reads",
    YamlTag = "yaml-tag": "an unsupported YAML tag",
    YamlUnknownAlias = "yaml-unknown-alias": "an alias names an anchor that is not defined before it",
    DuplicateKey = "duplicate-key": "a mapping has the same key twice",
    UnknownField = "unknown-field": "a field that this place does not take",
    MissingField = "missing-field": "a required field is absent",
    WrongType = "wrong-type": "a value of the wrong type",
    InvalidValue = "invalid-value": "a value outside the allowed set",
    UnsupportedVersion = "unsupported-version": "the pipeline format version is not supported",
    UnknownKind = "unknown-kind": "a stage kind Slipway does not have",
    InvalidStageId = "invalid-stage-id": "a stage id with characters outside [A-Za-z0-9_-] or a bad first character",
    InvalidName = "invalid-name": "a param, secret, role, output or pipeline name that is not a valid identifier",
    InvalidDuration = "invalid-duration": "a duration that does not parse",
    OutOfRange = "out-of-range": "a number outside its allowed range",
    ConflictingFields = "conflicting-fields": "fields that exclude each other are both set",
    NoStages = "no-stages": "the pipeline has no stages",
    UnknownStage = "unknown-stage": "`needs` or a template names a stage that does not exist",
    SelfDependency = "self-dependency": "a stage needs itself",
    DependencyCycle = "dependency-cycle": "stages depend on each other in a cycle",
    TemplateSyntax = "template-syntax": "a Handlebars template does not parse",
    UnknownVariable = "unknown-variable": "a template names a variable that does not exist",
    UnknownHelper = "unknown-helper": "a template calls a helper that does not exist",
    UndeclaredParam = "undeclared-param": "a template uses a param not declared under `params`",
    UndeclaredSecret = "undeclared-secret": "a template uses a secret not declared under `secrets`",
    UnknownOutput = "unknown-output": "a template uses an output the stage does not declare",
    UnknownHostRole = "unknown-host-role": "a stage targets a host role not declared under `hosts`",
    DuplicateHost = "duplicate-host": "a host name appears twice in one role",
    InvalidUrl = "invalid-url": "a URL that is not absolute http(s)",
    InvalidPointer = "invalid-json-pointer": "a JSON pointer that does not start with `/`",
    UnusedParam = "unused-param": "a declared param that no template uses",
    UnusedSecret = "unused-secret": "a declared secret that no template uses",
    TemplateInjection = "template-injection": "untrusted text rendered straight into a shell command",
    HostOutsideHostStage = "host-outside-host-stage": "`host.*` used in a stage that does not run per host",
    RedundantNeed = "redundant-need": "a stage lists the same dependency twice",
    HostKeysUnchecked = "host-keys-unchecked": "`ssh.strict_host_key_checking: no` accepts any host key, so a machine in the middle goes unnoticed",
    NulCharacter = "nul-character": "a NUL character, in the file or from a `\\0` escape, which no command or header can carry",
    TemplateTooLarge = "template-too-large": "a template too large for its expressions to be checked in bounded time",
    HelperArguments = "helper-arguments": "a template helper is called with fewer or more arguments than it takes",
    NotAPipeline = "not-a-pipeline": "the file belongs to another tool (GitHub Actions, GitLab CI, Docker Compose), not Slipway",
    TooManyDiagnostics = "too-many-diagnostics": "more problems of one kind than are shown; the rest are counted",
    RetryNeverFires = "retry-never-fires": "a shell stage's own `retry` can never fire for a failing command: it retries only timeouts and `retry_on_exit_codes`",
    UnknownAlias = "unknown-alias": "a chat-ops `allow` or `confirm` rule names an alias the config does not define",
    UnknownEnvironment = "unknown-environment": "a chat-ops rule names an environment none of its aliases deploys to",
    AliasPipeline = "alias-pipeline": "a chat-ops alias names a pipeline file that is missing or invalid",
}

/// A secondary place that explains the primary one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// The offending node; `None` only for problems with the file as a whole.
    pub span: Option<Span>,
    /// Short text under the caret.
    pub label: Option<String>,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, span: impl Into<Option<Span>>, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span: span.into(),
            label: None,
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: Code, span: impl Into<Option<Span>>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, span, message) }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label { span, message: message.into() });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// "did you mean `x`?" for the closest candidate, when one is close enough.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Names longer than this are no typo of a field, kind or helper; comparing them
/// would cost their length times each candidate's (a file can hold megabytes).
pub const MAX_SUGGESTED_NAME: usize = 64;

/// The candidate nearest to `name`, if it is plausibly a typo of it.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if name.len() > MAX_SUGGESTED_NAME {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| c.len() <= MAX_SUGGESTED_NAME)
        .map(|c| {
            let c_lower = c.to_ascii_lowercase();
            // `uppercase` for `upper`, `env` for `environment`: one is the other's start
            let prefix = c.len() >= 3 && lower.len() >= 3 && (lower.starts_with(&c_lower) || c_lower.starts_with(&lower));
            (if prefix { 1 } else { strsim::damerau_levenshtein(&lower, &c_lower) }, c)
        })
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {}", code.as_str());
            assert!(code.as_str().chars().all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()));
        }
    }

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(closest("deplyo", ["deploy", "shell", "http"]), Some("deploy"));
        assert_eq!(closest("Shell", ["deploy", "shell"]), Some("shell"));
        assert_eq!(closest("zzzzzz", ["deploy", "shell"]), None);
        assert_eq!(closest("uppercase", ["upper", "lower"]), Some("upper"));
        // a megabyte-long name is compared with nothing (it would cost seconds)
        assert_eq!(closest(&"k".repeat(1 << 20), ["kind", "k"]), None);
    }
}
