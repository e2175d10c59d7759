//! Template checks: syntax, helpers, every variable a template reads, the implicit
//! dependencies those reads create, and untrusted text spliced into shell commands.

use std::collections::HashSet;

use super::names::Declared;
use super::semantic::StageParts;
use super::semantic::unknown_stage;
use super::suggest::{Names, Set, list};
use crate::dag::Dag;
use crate::decode::Key;
use crate::diagnostic::{Code, Diagnostic};
use crate::kinds::{Kind, OutputDecl, OutputType};
use crate::model::Pipeline;
use crate::source::{SourceFile, Span};
use crate::template::{Call, HELPER_ALIASES, HELPERS, Reference, Sink, Templates, analyze, parse_cost, signature};

/// Params and secrets some template reads.
#[derive(Default)]
pub struct Usage {
    pub params: HashSet<String>,
    pub secrets: HashSet<String>,
}

impl Usage {
    /// Counts `params.X` and `secrets.X` found in text that could not be analysed
    /// (a template that does not parse, a stage that did not decode), so they are
    /// not also reported as unused.
    pub fn scan_text(&mut self, text: &str) {
        for (prefix, set) in [("params.", &mut self.params), ("secrets.", &mut self.secrets)] {
            for (i, _) in text.match_indices(prefix) {
                let name: String =
                    text[i + prefix.len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
                set.insert(name);
            }
        }
    }
}

/// Outputs of text that Slipway makes itself or copies from the pipeline file:
/// host names and roles, the release's timestamp, where `from` came from. Every
/// other text output comes from outside the file (a command's output, a
/// service's answer, a commit, a file on a host, a rendered param) and is
/// untrusted in a shell command, so an output a kind adds is untrusted until it
/// is listed here.
const FROM_THE_FILE: &[(Kind, &str, OutputType)] = &[
    // a declared output of the same name is text the command wrote: the type tells them apart
    (Kind::Shell, "hosts", OutputType::List),
    (Kind::Converge, "succeeded", OutputType::List),
    (Kind::Converge, "failed", OutputType::List),
    (Kind::Converge, "changed", OutputType::List),
    (Kind::Converge, "reboot_pending", OutputType::List),
    (Kind::Converge, "hosts", OutputType::List),
    (Kind::Deploy, "release", OutputType::String),
    (Kind::Deploy, "hosts", OutputType::List),
    (Kind::Migrate, "host", OutputType::String),
    (Kind::Marker, "timestamp", OutputType::String),
    (Kind::Changelog, "from_source", OutputType::String),
];

/// Whether an output of a `kind` stage can carry text from outside the pipeline
/// file, which must never be spliced into a shell command: what the kind marks
/// [`OutputDecl::untrusted`], and any text not in [`FROM_THE_FILE`]. Numbers
/// and booleans are Slipway's own values and carry no shell syntax.
pub(crate) fn untrusted_output(kind: Kind, decl: &OutputDecl) -> bool {
    if decl.untrusted {
        return true;
    }
    if matches!(decl.ty, OutputType::Number | OutputType::Bool) {
        return false;
    }
    !FROM_THE_FILE.contains(&(kind, decl.name.as_str(), decl.ty))
}

const ROOTS: &[&str] = &["params", "secrets", "pipeline", "run", "stages", "host"];
const PIPELINE_FIELDS: &[&str] = &["name", "description"];
const RUN_FIELDS: &[&str] = &["id", "status", "started_at", "user", "trigger", "dry_run"];
const STAGE_FIELDS: &[&str] = &["status", "outputs", "attempts", "started_at", "finished_at"];
const HOST_FIELDS: &[&str] = &["name", "address", "user", "port", "role"];

struct StageScope<'a> {
    stage: &'a StageParts<'a>,
    pipeline: &'a Pipeline,
    declared: &'a Declared<'a>,
    names: &'a mut Names,
    dag: &'a mut Dag,
    out: &'a mut Vec<Diagnostic>,
}

pub fn check_stage(
    stage: &StageParts<'_>,
    pipeline: &Pipeline,
    declared: &Declared,
    file: &SourceFile,
    dag: &mut Dag,
    names: &mut Names,
    out: &mut Vec<Diagnostic>,
) {
    let mut fields = Vec::new();
    stage.common.each_template(&mut fields);
    if let Some(config) = stage.config {
        config.each_template(&mut fields);
    }
    let mut scope = StageScope { stage, pipeline, declared, names, dag, out };
    for field in &fields {
        if !scope.names.afford_parse(parse_cost(field.source)) {
            scope.out.push(too_costly(field));
            scope.names.usage.scan_text(field.source);
            continue;
        }
        match analyze(field, &file.text) {
            Ok(analysis) => {
                for (helper, span) in &analysis.helpers {
                    scope.check_helper(helper, *span);
                }
                for call in &analysis.calls {
                    scope.check_arguments(call);
                }
                let untrusted: Vec<bool> = analysis.references.iter().map(|r| scope.resolve(r)).collect();
                if field.sink == Sink::Shell {
                    scope.check_injection(&analysis.references, &untrusted, &analysis.scoped_emits);
                }
            }
            Err(d) => {
                scope.out.push(*d);
                scope.names.usage.scan_text(field.source);
            }
        }
        // one field may hold millions of references (a large template, aliased)
        scope.names.tally.compact(scope.out);
    }
}

impl StageScope<'_> {
    fn check_helper(&mut self, name: &str, span: Span) {
        if HELPERS.contains(&name) {
            return;
        }
        let alias = HELPER_ALIASES.iter().find(|(other, _)| *other == name).map(|(_, ours)| format!("did you mean `{ours}`?"));
        let help = alias
            .or_else(|| self.names.did_you_mean(Set::Fixed(HELPERS), name, HELPERS.iter().copied()))
            .unwrap_or_else(|| format!("available helpers: {}", HELPERS.join(", ")));
        self.out.push(Diagnostic::error(Code::UnknownHelper, span, format!("unknown template helper `{name}`")).with_help(help));
    }

    /// A helper given too few arguments fails at run time; one given too many
    /// ignores the rest, which is never what was meant.
    fn check_arguments(&mut self, call: &Call) {
        let Some(sig) = signature(&call.name) else {
            return; // unknown: reported by `check_helper`
        };
        let (few, many) = (call.args < sig.min, sig.max.is_some_and(|max| call.args > max));
        if !few && !many {
            return;
        }
        let takes = match sig.max {
            Some(max) if max == sig.min => plural(max, "argument"),
            Some(max) => format!("{} to {max} arguments", sig.min),
            None => format!("at least {}", plural(sig.min, "argument")),
        };
        let written = if sig.block { format!("{{{{{}}}}}…{{{{/{}}}}}", sig.usage, sig.name) } else { format!("{{{{ {} }}}}", sig.usage) };
        self.out.push(
            Diagnostic::error(Code::HelperArguments, call.span, format!("`{}` takes {takes}, found {}", sig.name, call.args))
                .with_label(if few { "an argument is missing here" } else { "extra arguments would be ignored" })
                .with_help(format!("write `{written}`")),
        );
    }

    /// Checks one reference; returns whether it carries untrusted text.
    fn resolve(&mut self, r: &Reference) -> bool {
        let segs: Vec<&str> = r.segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["params", name, ..] => {
                self.names.usage.params.insert((*name).to_owned());
                if self.names.has_param(name) {
                    // given on the command line, unless `choices` keeps it to text of the file
                    return !self.names.param_has_choices(name);
                }
                let help = self
                    .names
                    .did_you_mean(Set::Params, name, self.declared.params.iter().map(|p| p.as_str()))
                    .unwrap_or_else(|| format!("declare it under `params:`, e.g. `params: {{ {name}: {{ required: true }} }}`"));
                self.out.push(Diagnostic::error(Code::UndeclaredParam, r.span, format!("param `{name}` is not declared")).with_help(help));
                // reported once, as undeclared: a `template-injection` on the same text would only repeat it
                false
            }
            ["secrets", name, ..] => {
                self.names.usage.secrets.insert((*name).to_owned());
                if !self.names.has_secret(name) {
                    let help = self
                        .names
                        .did_you_mean(Set::Secrets, name, self.declared.secrets.iter().map(|p| p.as_str()))
                        .unwrap_or_else(|| format!("declare it under `secrets:`, e.g. `secrets: {{ {name}: {{ env: {name} }} }}`"));
                    self.out.push(
                        Diagnostic::error(Code::UndeclaredSecret, r.span, format!("secret `{name}` is not declared")).with_help(help),
                    );
                }
                false
            }
            ["pipeline", field, ..] => self.field_of("pipeline", field, PIPELINE_FIELDS, r.span, false),
            ["run", field, ..] => self.field_of("run", field, RUN_FIELDS, r.span, *field == "user"),
            ["host", field, ..] => {
                let Some(config) = self.stage.config else {
                    return false;
                };
                if config.spec().host_role().is_none() {
                    self.out.push(
                        Diagnostic::error(
                            Code::HostOutsideHostStage,
                            r.span,
                            format!("`host.{field}` is only known in a stage that runs per host"),
                        )
                        .with_help("set `hosts: <role>` on this stage, or use a fixed value"),
                    );
                    return false;
                }
                self.field_of("host", field, HOST_FIELDS, r.span, false)
            }
            ["stages", id, rest @ ..] => self.stage_reference(id, rest, r.span),
            [root] if ROOTS.contains(root) => {
                self.out.push(
                    Diagnostic::error(Code::UnknownVariable, r.span, format!("`{root}` is a namespace, not a value"))
                        .with_help(format!("name a field inside it, e.g. `{root}.…`")),
                );
                false
            }
            [root, ..] => {
                let help = self
                    .names
                    .did_you_mean(Set::Fixed(ROOTS), root, ROOTS.iter().copied())
                    .map(|s| format!("{s} templates read `params.*`, `secrets.*`, `stages.ID.outputs.*`, `pipeline.*`, `run.*`"))
                    .unwrap_or_else(|| {
                        "templates read `params.*`, `secrets.*`, `stages.ID.outputs.*`, `pipeline.*`, `run.*` (and `host.*` per host)"
                            .into()
                    });
                self.out.push(Diagnostic::error(Code::UnknownVariable, r.span, format!("unknown variable `{}`", r.path())).with_help(help));
                false
            }
            [] => false,
        }
    }

    fn field_of(&mut self, root: &str, field: &str, allowed: &'static [&'static str], span: Span, untrusted: bool) -> bool {
        if !allowed.contains(&field) {
            let help = self
                .names
                .did_you_mean(Set::Fixed(allowed), field, allowed.iter().copied())
                .unwrap_or_else(|| format!("`{root}` has: {}", allowed.join(", ")));
            self.out.push(Diagnostic::error(Code::UnknownVariable, span, format!("`{root}` has no field `{field}`")).with_help(help));
        }
        untrusted
    }

    fn stage_reference(&mut self, id: &str, rest: &[&str], span: Span) -> bool {
        let me = self.stage.id.as_str();
        if id == me {
            self.out.push(
                Diagnostic::error(Code::SelfDependency, span, format!("stage `{me}` reads its own result"))
                    .with_help("a stage's outputs exist only after it ran; read them from a later stage"),
            );
            return false;
        }
        let (Some(from), Some(to)) = (self.dag.index(me), self.dag.index(id)) else {
            let key = Key::new(id.to_owned(), span);
            self.out.push(unknown_stage(&key, &self.declared.stages, self.names));
            return false;
        };
        let what = match rest {
            ["outputs", name, ..] => format!("outputs.{name}"),
            [field, ..] => (*field).to_owned(),
            [] => String::new(),
        };
        self.dag.add_read(from, to, &what, span);
        match rest {
            [] => {
                self.out.push(
                    Diagnostic::error(Code::UnknownVariable, span, format!("`stages.{id}` is a stage, not a value"))
                        .with_help(format!("read `stages.{id}.status` or `stages.{id}.outputs.NAME`")),
                );
                false
            }
            // the whole outputs object (`json`, `#with`, `lookup`): as untrusted as its worst field
            ["outputs"] => self.names.outputs(id).is_some_and(|o| o.any_untrusted),
            ["outputs", name, ..] => self.output(id, name, span),
            [field, ..] => {
                self.field_of(&format!("stages.{id}"), field, STAGE_FIELDS, span, false);
                false
            }
        }
    }

    fn output(&mut self, id: &str, name: &str, span: Span) -> bool {
        let Some(target) = self.pipeline.stage(id) else {
            return false;
        }; // failed to decode: already reported
        let Some(outputs) = self.names.outputs(id) else {
            return false;
        };
        if let Some(untrusted) = outputs.untrusted.get(name) {
            return *untrusted;
        }
        let declared = list(outputs.names.iter().map(String::as_str));
        let help = self.names.did_you_mean_output(id, name).unwrap_or_else(|| {
            if target.kind.value == Kind::Shell {
                format!("declare it in stage `{id}` under `outputs:` and write `{name}=…` to `$SLIPWAY_OUTPUT`")
            } else {
                format!("a `{}` stage outputs: {declared}", target.kind.value)
            }
        });
        self.out.push(Diagnostic::error(Code::UnknownOutput, span, format!("stage `{id}` has no output `{name}`")).with_help(help));
        false
    }

    fn check_injection(&mut self, refs: &[Reference], untrusted: &[bool], scoped: &[(usize, Span, String)]) {
        let fix_env =
            |path: &str, var: &str| format!("pass it through `env:` (`{var}: \"{{{{ {path} }}}}\"`) and use \"${var}\" in the command");
        for (r, _) in refs.iter().zip(untrusted).filter(|(r, u)| **u && r.emitted) {
            let path = r.path();
            let var = env_name(&path);
            self.out.push(
                Diagnostic::warning(
                    Code::TemplateInjection,
                    r.span,
                    format!("`{path}` can carry untrusted text and is rendered straight into a shell command"),
                )
                .with_label("a value with `;`, `$( )` or quotes would run as shell")
                .with_help(format!("{}, or write `{{{{ shell_quote {path} }}}}`", fix_env(&path, &var))),
            );
        }
        for (index, span, item) in scoped.iter().filter(|(i, _, _)| untrusted.get(*i).copied().unwrap_or(false)) {
            let list = refs[*index].path();
            let var = env_name(&list);
            self.out.push(
                Diagnostic::warning(
                    Code::TemplateInjection,
                    *span,
                    format!("`{item}` (from `{list}`) can carry untrusted text and is rendered straight into a shell command"),
                )
                .with_label("a value with `;`, `$( )` or quotes would run as shell")
                .with_help(format!("write `{{{{ shell_quote {item} }}}}`, or pass the whole list through `env:` (`{var}: \"{{{{ json {list} }}}}\"`) and read \"${var}\"")),
            );
        }
    }
}

/// A template the parser would take too long over, in a file that already spent
/// its parse budget (see [`Names::afford_parse`]).
fn too_costly(field: &crate::template::TemplateField<'_>) -> Diagnostic {
    let expressions = field.source.matches("{{").count();
    Diagnostic::error(
        Code::TemplateTooLarge,
        field.span,
        format!("this template is too large to check: {} bytes with {expressions} `{{{{ … }}}}` expressions", field.source.len()),
    )
    .with_help("move the script into a file that the command runs, and pass values through `env:`; or split the template")
}

/// `1 argument`, `2 arguments`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("{n} {what}") } else { format!("{n} {what}s") }
}

/// An environment variable name for a template path: `stages.log.outputs.commits` -> `COMMITS`.
fn env_name(path: &str) -> String {
    path.rsplit('.').next().unwrap_or("VALUE").to_ascii_uppercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::examples;

    #[test]
    fn text_outputs_are_untrusted_unless_slipway_makes_them() {
        // every entry still names an output its kind declares (a rename would silently trust nothing)
        for (kind, name, ty) in FROM_THE_FILE {
            let outputs = examples::outputs(*kind).unwrap();
            assert!(outputs.iter().any(|o| o.name == *name && o.ty == *ty), "{kind}: no {ty:?} output `{name}`");
        }
        // a shell stage's own outputs are what its command wrote, whatever they are called
        let shell = examples::outputs(Kind::Shell).unwrap();
        let declared = shell.iter().find(|o| o.name == examples::DECLARED).unwrap();
        assert!(untrusted_output(Kind::Shell, declared));
        let mut named_hosts = declared.clone();
        named_hosts.name = "hosts".into();
        assert!(untrusted_output(Kind::Shell, &named_hosts), "a declared `hosts` is text, not the host list");
        // an output a kind adds is untrusted until listed; numbers and booleans never are
        for kind in [Kind::Deploy, Kind::Http, Kind::Notify] {
            assert!(untrusted_output(kind, &OutputDecl::new("new_text", OutputType::String, "")));
            assert!(untrusted_output(kind, &OutputDecl::new("new_list", OutputType::List, "")));
            assert!(!untrusted_output(kind, &OutputDecl::new("new_count", OutputType::Number, "")));
        }
    }
}
