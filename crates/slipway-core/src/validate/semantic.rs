//! Checks across the decoded model: names, params, secrets, hosts, `needs`, and the
//! stage graph.

use std::collections::{HashMap, HashSet};

use super::Tally;
use super::names::{Declared, is_identifier, suggest_identifier};
use super::references::{self, Usage};
use super::suggest::{Names, Set, list};
use crate::dag::{Dag, EdgeKind};
use crate::decode::{Decoder, DurationValue, Key, Spanned};
use crate::diagnostic::{Code, Diagnostic};
use crate::kinds::{CheckContext, StageConfig};
use crate::model::{Pipeline, Retry, StageCommon};
use crate::source::SourceFile;
use crate::source::Span;
use crate::yaml::Node;

/// Returns what it counted but did not keep (see [`Tally`]).
pub fn check(p: &Pipeline, declared: &Declared, file: &SourceFile, dag: &mut Dag, out: &mut Vec<Diagnostic>) -> Tally {
    let mut names = Names::new(p, declared);
    check_names(p, declared, out);
    check_params_and_secrets(p, &mut names, out);
    check_hosts(p, out);
    if let Some(key) = declared.empty_stages {
        out.push(
            Diagnostic::error(Code::NoStages, key, format!("pipeline `{}` has no stages", p.name.value))
                .with_help("add at least one stage under `stages:`, e.g. `build: { kind: shell, run: make }`"),
        );
    }
    if let Some(d) = &p.defaults {
        check_retry(d.retry.as_ref(), out);
        check_timeout(d.timeout.as_ref(), out);
    }
    for id in &declared.stages {
        dag.add_stage(id, p.stage(id).map(|s| s.kind.as_str()));
    }
    let decode_errors = ErrorSpans::new(out);
    for (id, node) in declared.stages.iter().zip(&declared.stage_nodes) {
        let recovered;
        let parts = match p.stage(id) {
            Some(stage) => StageParts { id: &stage.id, node, common: &stage.common, config: Some(&stage.config) },
            None => {
                // The stage did not decode (its problems are reported): still check
                // what its common fields say, so its `needs` and `if` are not lost.
                names.usage.scan_text(&node.to_json().to_string());
                let Some(common) = recover_common(node) else {
                    continue;
                };
                recovered = common;
                StageParts { id, node, common: &recovered, config: None }
            }
        };
        check_stage(&parts, declared, &decode_errors, &mut names, dag, out);
        if let Some(config) = parts.config {
            config.spec().check_hosts(
                &p.hosts,
                &mut CheckContext { stage: parts.id, diagnostics: out, has_decode_errors: false, common: Some(parts.common) },
            );
        }
        references::check_stage(&parts, p, declared, file, dag, &mut names, out);
    }
    out.extend(dag.cycles());
    check_unused(p, &names.usage, out);
    names.tally
}

fn check_names(p: &Pipeline, declared: &Declared, out: &mut Vec<Diagnostic>) {
    let name_ok = p.name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && p.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !name_ok && p.name.span != Default::default() {
        let fixed: String =
            p.name.trim().chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '-' }).collect();
        out.push(
            Diagnostic::error(Code::InvalidName, p.name.span, format!("`{}` is not a valid pipeline name", p.name.value))
                .with_help(format!("the name names the deploy lock and run folders: letters, digits, `-`, `_`, `.`; try `{fixed}`")),
        );
    }
    for id in &declared.stages {
        if !is_identifier(id) {
            out.push(
                Diagnostic::error(Code::InvalidStageId, id.span, format!("`{}` is not a valid stage id", id.value))
                    .with_help(format!("stage ids match `[A-Za-z_][A-Za-z0-9_-]*`; try `{}`", suggest_identifier(id))),
            );
        }
    }
    let groups = [("param", &declared.params), ("secret", &declared.secrets), ("host role", &declared.roles)];
    for (what, keys) in groups {
        for key in keys.iter().filter(|k| !is_identifier(k)) {
            out.push(
                Diagnostic::error(Code::InvalidName, key.span, format!("`{}` is not a valid {what} name", key.value))
                    .with_help(format!("names match `[A-Za-z_][A-Za-z0-9_-]*`; try `{}`", suggest_identifier(key))),
            );
        }
    }
}

fn check_params_and_secrets(p: &Pipeline, names: &mut Names, out: &mut Vec<Diagnostic>) {
    for (name, param) in &p.params {
        if let (true, Some(default)) = (param.required, &param.default) {
            out.push(
                Diagnostic::error(Code::ConflictingFields, default.span, format!("param `{}` is required and has a default", name.value))
                    .with_help("a default makes the param optional: drop `required: true` or the default"),
            );
        }
        if let Some(default) = param.default.as_ref().filter(|d| !param.choices.is_empty() && !param.choices.contains(d)) {
            let choices = param.choices.iter().map(|c| c.as_str());
            let help = names.did_you_mean(Set::Choices(name.value.clone()), default, choices.clone());
            out.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    default.span,
                    format!("default `{}` is not one of the param's choices", default.value),
                )
                .with_help(help.unwrap_or_else(|| format!("use one of: {}", list(choices)))),
            );
        }
    }
    for (name, secret) in &p.secrets {
        let cx = &mut CheckContext { stage: name, diagnostics: out, has_decode_errors: false, common: None };
        crate::kinds::exactly_one_source(
            cx,
            &[("env", secret.env.as_ref().map(|s| s.span)), ("file", secret.file.as_ref().map(|s| s.span))],
            "secret",
        );
    }
}

fn check_hosts(p: &Pipeline, out: &mut Vec<Diagnostic>) {
    for (role, hosts) in &p.hosts {
        let mut seen: HashMap<&str, &Spanned<String>> = HashMap::new();
        for host in hosts {
            let name = host.name();
            if let Some(first) = seen.get(name.value.as_str()) {
                out.push(
                    Diagnostic::error(
                        Code::DuplicateHost,
                        name.span,
                        format!("host `{}` appears twice in role `{}`", name.value, role.value),
                    )
                    .with_secondary(first.span, "first listed here")
                    .with_help("remove the repeated entry"),
                );
            } else {
                seen.insert(&name.value, name);
            }
        }
        if hosts.is_empty() {
            out.push(
                Diagnostic::warning(Code::InvalidValue, role.span, format!("host role `{}` lists no hosts", role.value))
                    .with_help("stages on this role will do nothing; list its hosts or remove the role"),
            );
        }
    }
}

/// What validation needs of a stage; `config` is absent when the stage's kind or
/// kind-specific fields did not decode.
pub struct StageParts<'a> {
    pub id: &'a Key,
    pub node: &'a Node,
    pub common: &'a StageCommon,
    pub config: Option<&'a StageConfig>,
}

fn recover_common(node: &Node) -> Option<StageCommon> {
    let mut scratch = Decoder::scratch();
    let fields = scratch.mapping(node)?;
    StageCommon::decode_fields(&fields, &mut scratch)
}

/// Where the errors found before the semantic checks are, sorted, so that "does
/// this stage have decode errors" is a binary search, not a scan of every error.
struct ErrorSpans(Vec<Span>);

impl ErrorSpans {
    fn new(found: &[Diagnostic]) -> Self {
        let mut spans: Vec<Span> = found.iter().filter(|d| d.is_error()).filter_map(|d| d.span).collect();
        spans.sort();
        ErrorSpans(spans)
    }

    /// Whether an error lies wholly inside `outer`.
    fn any_within(&self, outer: Span) -> bool {
        let from = self.0.partition_point(|s| s.start < outer.start);
        self.0[from..].iter().take_while(|s| s.start <= outer.end).any(|s| s.end <= outer.end)
    }
}

fn check_stage(
    stage: &StageParts<'_>,
    declared: &Declared,
    decode_errors: &ErrorSpans,
    names: &mut Names,
    dag: &mut Dag,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(spec) = stage.config.map(StageConfig::spec) {
        let has_decode_errors = decode_errors.any_within(stage.node.span);
        spec.check(&mut CheckContext { stage: stage.id, diagnostics: out, has_decode_errors, common: Some(stage.common) });
        if let Some(role) = spec.host_role() {
            check_role(role, declared, names, out);
        }
    }
    check_retry(stage.common.retry.as_ref(), out);
    check_timeout(stage.common.timeout.as_ref(), out);
    let Some(me) = dag.index(stage.id) else {
        return;
    };
    let mut listed = HashSet::new();
    for need in &stage.common.needs {
        if !listed.insert(need.as_str()) {
            out.push(
                Diagnostic::warning(Code::RedundantNeed, need.span, format!("`{}` is listed twice in `needs`", need.value))
                    .with_help("remove the repeated entry"),
            );
            continue;
        }
        if need.value == stage.id.value {
            out.push(
                Diagnostic::error(Code::SelfDependency, need.span, format!("stage `{}` needs itself", need.value))
                    .with_help("remove it from `needs`"),
            );
            continue;
        }
        match dag.index(need) {
            Some(target) => {
                dag.add_dependency(me, target, EdgeKind::Explicit, need.span);
            }
            None => out.push(unknown_stage(need, &declared.stages, names)),
        }
    }
}

pub fn unknown_stage(name: &Key, stages: &[Key], names: &mut Names) -> Diagnostic {
    let help = names
        .did_you_mean(Set::Stages, name, stages.iter().map(|s| s.as_str()))
        .unwrap_or_else(|| format!("declared stages: {}", list(stages.iter().map(|s| s.as_str()))));
    Diagnostic::error(Code::UnknownStage, name.span, format!("no stage named `{}`", name.value)).with_help(help)
}

fn check_role(role: &Key, declared: &Declared, names: &mut Names, out: &mut Vec<Diagnostic>) {
    if names.has_role(role) {
        return;
    }
    let help = names.did_you_mean(Set::Roles, role, declared.roles.iter().map(|r| r.as_str())).unwrap_or_else(|| {
        if declared.roles.is_empty() {
            format!("declare it under `hosts:`, e.g. `hosts: {{ {}: [host-1.internal] }}`", role.value)
        } else {
            format!("declared roles: {}", list(declared.roles.iter().map(|r| r.as_str())))
        }
    });
    out.push(Diagnostic::error(Code::UnknownHostRole, role.span, format!("no host role named `{}`", role.value)).with_help(help));
}

fn check_retry(retry: Option<&Retry>, out: &mut Vec<Diagnostic>) {
    let Some(r) = retry else { return };
    if let (Some(backoff), Some(max)) = (&r.backoff, &r.max_backoff)
        && backoff.value > max.value
    {
        out.push(
            Diagnostic::error(Code::InvalidValue, backoff.span, "`backoff` is longer than `max_backoff`")
                .with_secondary(max.span, "the cap is here")
                .with_help("make `max_backoff` at least as long as `backoff`"),
        );
    }
}

fn check_timeout(timeout: Option<&Spanned<DurationValue>>, out: &mut Vec<Diagnostic>) {
    if let Some(t) = timeout.filter(|t| t.value.0.is_zero()) {
        out.push(
            Diagnostic::error(Code::OutOfRange, t.span, "a timeout of zero")
                .with_help("use a positive duration, or remove `timeout` to inherit the default"),
        );
    }
}

fn check_unused(p: &Pipeline, usage: &Usage, out: &mut Vec<Diagnostic>) {
    for name in p.params.keys().filter(|k| !usage.params.contains(k.as_str())) {
        out.push(
            Diagnostic::warning(Code::UnusedParam, name.span, format!("param `{}` is never used", name.value))
                .with_help(format!("use it as `{{{{ params.{} }}}}` or remove it", name.value)),
        );
    }
    for name in p.secrets.keys().filter(|k| !usage.secrets.contains(k.as_str())) {
        out.push(
            Diagnostic::warning(Code::UnusedSecret, name.span, format!("secret `{}` is never used", name.value))
                .with_help(format!("use it as `{{{{ secrets.{} }}}}` or remove it", name.value)),
        );
    }
}
