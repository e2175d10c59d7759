//! What every stage kind tells the validator (and later the executor) about itself.

use crate::decode::Key;
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::template::Templates;

/// The shape of an output value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputType {
    String,
    Number,
    Bool,
    List,
    Object,
}

/// An output a stage produces, readable as `{{ stages.ID.outputs.NAME }}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutputDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: OutputType,
    pub description: &'static str,
    /// Text from outside the team's control (commit messages, API responses): never
    /// safe to splice into a shell command.
    pub untrusted: bool,
    /// For a list of objects (or an object): the fields of each, for dry-run placeholders.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub fields: &'static [&'static str],
}

impl OutputDecl {
    pub fn new(name: impl Into<String>, ty: OutputType, description: &'static str) -> Self {
        OutputDecl { name: name.into(), ty, description, untrusted: false, fields: &[] }
    }

    pub fn with_fields(mut self, fields: &'static [&'static str]) -> Self {
        self.fields = fields;
        self
    }

    pub fn untrusted(mut self) -> Self {
        self.untrusted = true;
        self
    }
}

/// Where a kind's own checks report.
pub struct CheckContext<'a> {
    /// The stage id's key: where stage-wide problems point.
    pub stage: &'a Key,
    pub diagnostics: &'a mut Vec<Diagnostic>,
    /// The stage already has problems reported while decoding: a field that failed to
    /// decode reads as absent, so "none of X or Y is set" would be a false echo.
    pub has_decode_errors: bool,
    /// The stage's own common fields (`retry`, `timeout`, …), not those it
    /// inherits from `defaults`; `None` where no stage is checked.
    pub common: Option<&'a crate::model::StageCommon>,
}

impl CheckContext<'_> {
    pub fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    pub fn stage_span(&self) -> Span {
        self.stage.span
    }
}

pub trait KindSpec: Templates {
    /// The host role the stage runs on, when it runs per host.
    fn host_role(&self) -> Option<&Key> {
        None
    }

    /// The outputs the stage produces.
    fn outputs(&self) -> Vec<OutputDecl>;

    /// True when running it changes nothing anywhere: `plan --live-reads` may run it.
    fn read_only(&self) -> bool {
        false
    }

    /// Checks beyond field types: fields that exclude each other, URL shapes.
    fn check(&self, _cx: &mut CheckContext<'_>) {}

    /// Checks against the pipeline's host roles (a field naming one host).
    fn check_hosts(&self, _hosts: &indexmap::IndexMap<Key, Vec<crate::model::HostEntry>>, _cx: &mut CheckContext<'_>) {}
}
