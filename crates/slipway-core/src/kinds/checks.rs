//! Checks several kinds share.

use super::CheckContext;
use crate::decode::Spanned;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::source::Span;
use crate::template::Template;

/// Exactly one of the named fields must be set. Each entry: name and, when set, its span.
pub fn exactly_one(cx: &mut CheckContext<'_>, options: &[(&str, Option<Span>)]) {
    exactly_one_source(cx, options, "stage")
}

/// `exactly_one` for a named thing other than a stage (a secret, say).
pub fn exactly_one_source(cx: &mut CheckContext<'_>, options: &[(&str, Option<Span>)], what: &str) {
    let set: Vec<_> = options.iter().filter_map(|(n, s)| s.map(|s| (*n, s))).collect();
    let names = options.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(" or ");
    match set.as_slice() {
        [] if cx.has_decode_errors => {}
        [] => cx.push(
            Diagnostic::error(Code::MissingField, cx.stage_span(), format!("{what} `{}` needs one of {names}", cx.stage.value))
                .with_help(format!("add one of {names}")),
        ),
        [_] => {}
        [(first, first_span), rest @ ..] => {
            for (name, span) in rest {
                cx.push(
                    Diagnostic::error(Code::ConflictingFields, *span, format!("`{name}` and `{first}` exclude each other"))
                        .with_secondary(*first_span, format!("`{first}` is set here"))
                        .with_help(format!("keep only one of {names}")),
                );
            }
        }
    }
}

/// At least one of the named fields must be set.
pub fn at_least_one(cx: &mut CheckContext<'_>, options: &[(&str, bool)]) {
    if !options.iter().any(|(_, set)| *set) && !cx.has_decode_errors {
        let names = options.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        cx.push(
            Diagnostic::error(Code::MissingField, cx.stage_span(), format!("stage `{}` has no destination", cx.stage.value))
                .with_help(format!("add at least one of {names}")),
        );
    }
}

/// A URL with no template in it must be absolute and use one of `schemes`.
pub fn url(cx: &mut CheckContext<'_>, t: &Template, schemes: &[&str]) {
    let text = t.source.trim();
    if text.starts_with("{{") {
        return; // the whole URL comes from a template: checked when rendered
    }
    let ok = schemes.iter().any(|s| text.strip_prefix(s).and_then(|r| r.strip_prefix("://")).is_some_and(|rest| !rest.is_empty()));
    if !ok {
        let list = schemes.iter().map(|s| format!("`{s}://`")).collect::<Vec<_>>().join(" or ");
        cx.push(
            Diagnostic::error(Code::InvalidUrl, t.span, format!("`{text}` is not an absolute URL"))
                .with_help(format!("start it with {list}")),
        );
    }
}

/// A JSON pointer: empty (the whole document) or starting with `/`.
pub fn pointer(cx: &mut CheckContext<'_>, p: &Spanned<String>) {
    if !p.is_empty() && !p.starts_with('/') {
        cx.push(
            Diagnostic::error(Code::InvalidPointer, p.span, format!("`{}` is not a JSON pointer", p.value))
                .with_help(format!("JSON pointers start with `/`: `/{}`", p.replace('.', "/"))),
        );
    }
}

/// The span of an optional value, for `exactly_one`.
pub fn span_of<T>(v: &Option<Spanned<T>>) -> Option<Span> {
    v.as_ref().map(|s| s.span)
}

/// A value with no template in it must be one of `allowed`.
pub fn one_of(cx: &mut CheckContext<'_>, t: &Template, allowed: &[&str]) {
    if t.source.contains("{{") || allowed.contains(&t.source.as_str()) {
        return;
    }
    let list = allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
    let help = did_you_mean(&t.source, allowed.iter().copied()).unwrap_or_else(|| format!("use one of {list}"));
    cx.push(Diagnostic::error(Code::InvalidValue, t.span, format!("`{}` is not one of {list}", t.source)).with_help(help));
}

/// An output name must be readable as `stages.ID.outputs.NAME`.
pub fn output_name(cx: &mut CheckContext<'_>, name: &Spanned<String>) {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        let fixed: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
        cx.push(
            Diagnostic::error(Code::InvalidName, name.span, format!("`{}` is not a valid output name", name.value))
                .with_help(format!("output names match `[A-Za-z_][A-Za-z0-9_-]*` so templates can read them; try `{fixed}`")),
        );
    }
}
