//! Why `run`, `plan` or `resume` stopped before anything ran: bad params,
//! missing secrets, an invalid pipeline, a held lock. One type for all of them,
//! printed as `error:` lines on stderr for people or, with `--format json`, on
//! stdout in the `{"diagnostics":[…]}` shape `validate --format json` prints,
//! each with a stable code (listed in the README). The exit code is the same
//! either way.

use slipway_core::Checked;
use slipway_core::diagnostic::Severity;
use slipway_core::render::JsonDiagnostic;
use slipway_engine::context::ParamError;
use slipway_engine::secrets::SecretError;

use super::exit;
use super::report::OutputFormat;
use super::validate::{Format, render_all};

macro_rules! reasons {
    ($($variant:ident = $code:literal, $exit:expr;)*) => {
        /// What stopped a run before it started. The codes are stable: tools match on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Why {
            $($variant,)*
        }

        impl Why {
            #[cfg(test)]
            pub const ALL: &'static [Why] = &[$(Why::$variant,)*];

            pub fn code(self) -> &'static str {
                match self { $(Why::$variant => $code,)* }
            }

            pub fn exit(self) -> i32 {
                match self { $(Why::$variant => $exit,)* }
            }
        }
    };
}

reasons! {
    Io = "io", exit::USAGE;
    ParamUnknown = "param-unknown", exit::USAGE;
    ParamMissing = "param-missing", exit::USAGE;
    ParamNotAChoice = "param-not-a-choice", exit::USAGE;
    ParamMalformed = "param-malformed", exit::USAGE;
    ParamRepeated = "param-repeated", exit::USAGE;
    LimitInvalid = "limit-invalid", exit::USAGE;
    LimitNoMatch = "limit-no-match", exit::USAGE;
    InvalidArgument = "invalid-argument", exit::USAGE;
    KindNotRunnable = "kind-not-runnable", exit::INVALID;
    SecretMissing = "secret-missing", exit::INVALID;
    SecretUnreadable = "secret-unreadable", exit::INVALID;
    SecretTooShort = "secret-too-short", exit::INVALID;
    DeployLocked = "deploy-locked", exit::LOCKED;
    DeployLockTimeout = "deploy-lock-timeout", exit::LOCKED;
    LockWaitInterrupted = "lock-wait-interrupted", exit::INTERRUPTED;
    LockFailed = "lock-failed", exit::USAGE;
    CommandsStillRunning = "commands-still-running", exit::LOCKED;
    RunNotFound = "run-not-found", exit::USAGE;
    JournalUnreadable = "journal-unreadable", exit::USAGE;
    JournalUnwritable = "journal-unwritable", exit::USAGE;
    PipelineRenamed = "pipeline-renamed", exit::INVALID;
    ResumeRefused = "resume-refused", exit::INVALID;
    JournalDamaged = "journal-damaged", exit::INVALID;
    StalePlan = "stale-plan", exit::INVALID;
    DeployFrozen = "deploy-frozen", exit::LOCKED;
    StateUnavailable = "state-unavailable", exit::USAGE;
}

/// A run that stopped before it started.
#[derive(Debug)]
pub enum Failure {
    /// The pipeline's own problems, reported as `validate` reports them; `help`
    /// is said after them (to people only).
    Invalid {
        checked: Box<Checked>,
        help: Option<String>,
    },
    Stopped(Stopped),
}

#[derive(Debug)]
pub struct Stopped {
    pub why: Why,
    /// The pipeline file, when there is one.
    pub file: String,
    pub message: String,
    /// Items under the message (stages, process groups), one per line.
    pub details: Vec<String>,
    pub help: Option<String>,
}

impl Failure {
    pub fn new(why: Why, message: impl Into<String>) -> Self {
        Failure::Stopped(Stopped { why, file: String::new(), message: message.into(), details: Vec::new(), help: None })
    }

    pub fn invalid(checked: Checked) -> Self {
        Failure::Invalid { checked: Box::new(checked), help: None }
    }

    /// Names the pipeline file the problem is about.
    pub fn file(mut self, path: &std::path::Path) -> Self {
        if let Failure::Stopped(s) = &mut self {
            s.file = path.display().to_string();
        }
        self
    }

    pub fn details(mut self, details: Vec<String>) -> Self {
        if let Failure::Stopped(s) = &mut self {
            s.details = details;
        }
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            Failure::Stopped(s) => s.help = Some(text.into()),
            Failure::Invalid { help, .. } => *help = Some(text.into()),
        }
        self
    }

    /// A help line, unless the failure already has one.
    pub fn or_help(self, text: impl Into<String>) -> Self {
        match &self {
            Failure::Stopped(Stopped { help: Some(_), .. }) => self,
            _ => self.help(text),
        }
    }

    pub fn param(e: ParamError) -> Self {
        let why = match e {
            ParamError::Unknown(..) => Why::ParamUnknown,
            ParamError::Missing(_) => Why::ParamMissing,
            ParamError::NotAChoice { .. } => Why::ParamNotAChoice,
            ParamError::Malformed(_) => Why::ParamMalformed,
            ParamError::Repeated(..) => Why::ParamRepeated,
        };
        Failure::new(why, e.to_string())
    }

    pub fn secret(e: SecretError) -> Self {
        let why = match e {
            SecretError::MissingEnv { .. } | SecretError::EmptyFile { .. } => Why::SecretMissing,
            SecretError::File { .. } => Why::SecretUnreadable,
            SecretError::TooShort { .. } => Why::SecretTooShort,
        };
        Failure::new(why, e.to_string())
    }

    /// Prints the failure as `format` asks; returns the exit code.
    pub fn report(self, format: OutputFormat) -> i32 {
        match (self, format) {
            (Failure::Invalid { checked, help }, OutputFormat::Human) => {
                eprint!("{}", render_all(std::slice::from_ref(&*checked), Format::Human, false));
                if let Some(help) = help {
                    eprintln!("help: {help}");
                }
                exit::INVALID
            }
            (Failure::Invalid { checked, .. }, OutputFormat::Json) => {
                print_stdout(&render_all(std::slice::from_ref(&*checked), Format::Json, false));
                exit::INVALID
            }
            (Failure::Stopped(s), OutputFormat::Human) => {
                let mut text = format!("error: {}\n", s.message);
                for d in &s.details {
                    text.push_str(&format!("  - {d}\n"));
                }
                if let Some(help) = &s.help {
                    text.push_str(&format!("help: {help}\n"));
                }
                eprint!("{text}");
                s.why.exit()
            }
            (Failure::Stopped(s), OutputFormat::Json) => {
                let code = s.why.exit();
                let message = match s.details.is_empty() {
                    true => s.message,
                    false => format!("{}: {}", s.message.trim_end_matches(':'), s.details.join("; ")),
                };
                // A problem with no place in the file sits at 1:1, as in `validate`.
                let d = JsonDiagnostic {
                    file: s.file,
                    line: 1,
                    column: 1,
                    end_line: 1,
                    end_column: 1,
                    severity: Severity::Error,
                    code: s.why.code(),
                    message,
                    help: s.help,
                };
                let json = serde_json::json!({ "diagnostics": [d] });
                print_stdout(&format!("{}\n", serde_json::to_string_pretty(&json).unwrap_or_default()));
                code
            }
        }
    }
}

/// A reader that went away (`| head`) loses the text, nothing more.
fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_documented_in_the_readme() {
        let readme = include_str!("../../README.md");
        for why in Why::ALL {
            assert!(readme.contains(&format!("`{}`", why.code())), "README does not list `{}`", why.code());
        }
    }
}
