//! Rendering templates: Handlebars in strict mode (a missing variable is an
//! error, not an empty string), HTML escaping off, and Slipway's helpers.

use handlebars::{Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason, no_escape};
use serde_json::Value;

/// A configured Handlebars registry. Build once per run.
pub struct Renderer {
    strict: Handlebars<'static>,
    lenient: Handlebars<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    pub fn new() -> Self {
        Renderer { strict: registry(true), lenient: registry(false) }
    }

    /// Renders in strict mode: reading a variable that does not exist fails.
    pub fn render(&self, template: &str, context: &Value) -> Result<String, String> {
        render_with(&self.strict, template, context)
    }

    /// Renders with missing variables as empty text (dry runs over placeholders).
    pub fn render_lenient(&self, template: &str, context: &Value) -> Result<String, String> {
        render_with(&self.lenient, template, context)
    }
}

fn render_with(hb: &Handlebars<'static>, template: &str, context: &Value) -> Result<String, String> {
    if !template.contains("{{") {
        return Ok(template.to_owned());
    }
    hb.render_template(template, context).map_err(|e| {
        let reason = e.reason().to_string();
        match e.reason() {
            RenderErrorReason::MissingVariable(Some(path)) => format!("template reads `{path}`, which has no value"),
            _ => reason,
        }
    })
}

fn registry(strict: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(strict);
    hb.register_escape_fn(no_escape);
    hb.register_helper("json", Box::new(json));
    hb.register_helper("shell_quote", Box::new(shell_quote_helper));
    hb.register_helper("default", Box::new(default));
    hb.register_helper("join", Box::new(join));
    hb.register_helper("truncate", Box::new(truncate));
    hb.register_helper("upper", Box::new(upper));
    hb.register_helper("lower", Box::new(lower));
    hb.register_helper("trim", Box::new(trim));
    hb.register_helper("replace", Box::new(replace));
    hb.register_helper("abbrev", Box::new(abbrev));
    hb.register_helper("concat", Box::new(concat));
    hb.register_helper("url_encode", Box::new(url_encode));
    hb
}

/// `'…'` with embedded quotes closed, escaped and reopened: safe as one shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The text a value renders as (strings bare, everything else as JSON).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Argument `i` of a helper. In strict mode a variable that has no value is an
/// error here too, as it is in `{{ x }}`: a typo in `{{ shell_quote this.versoin }}`
/// must fail the stage, not pass an empty word to the command.
fn param<'a>(h: &'a Helper<'_>, strict: bool, i: usize, name: &'static str) -> Result<&'a Value, RenderErrorReason> {
    let p = h.param(i).ok_or(RenderErrorReason::ParamNotFoundForIndex(name, i))?;
    if strict && p.is_value_missing() {
        return Err(RenderErrorReason::MissingVariable(p.relative_path().cloned()));
    }
    Ok(p.value())
}

/// A helper's body: its arguments, and whether the registry is strict.
type HelperFn = fn(&Helper<'_>, bool) -> Result<String, RenderErrorReason>;

macro_rules! helper {
    ($name:ident, $body:expr) => {
        fn $name(h: &Helper<'_>, hb: &Handlebars<'_>, _: &Context, _: &mut RenderContext<'_, '_>, out: &mut dyn Output) -> HelperResult {
            let f: HelperFn = $body;
            out.write(&f(h, hb.strict_mode())?)?;
            Ok(())
        }
    };
}

helper!(json, |h, s| Ok(serde_json::to_string(param(h, s, 0, "json")?).unwrap_or_default()));
helper!(shell_quote_helper, |h, s| Ok(shell_quote(&text(param(h, s, 0, "shell_quote")?))));
helper!(default, |h, s| {
    let v = h.param(0).map(|p| p.value()).unwrap_or(&Value::Null);
    let empty = matches!(v, Value::Null) || v.as_str() == Some("");
    Ok(if empty { text(param(h, s, 1, "default")?) } else { text(v) })
});
helper!(join, |h, s| {
    let sep = if h.param(1).is_some() { text(param(h, s, 1, "join")?) } else { ", ".into() };
    Ok(match param(h, s, 0, "join")? {
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(&sep),
        other => text(other),
    })
});
helper!(truncate, |h, strict| {
    let s = text(param(h, strict, 0, "truncate")?);
    let n = match param(h, strict, 1, "truncate")? {
        Value::String(n) => n.trim().parse::<u64>().ok(),
        other => other.as_u64(),
    }
    .ok_or(RenderErrorReason::InvalidParamType("truncate: a number of characters"))? as usize;
    Ok(if s.chars().count() > n { s.chars().take(n.saturating_sub(1)).chain(std::iter::once('…')).collect() } else { s })
});
helper!(upper, |h, s| Ok(text(param(h, s, 0, "upper")?).to_uppercase()));
helper!(lower, |h, s| Ok(text(param(h, s, 0, "lower")?).to_lowercase()));
helper!(trim, |h, s| Ok(text(param(h, s, 0, "trim")?).trim().to_owned()));
helper!(replace, |h, s| Ok(text(param(h, s, 0, "replace")?).replace(&text(param(h, s, 1, "replace")?), &text(param(h, s, 2, "replace")?))));
helper!(abbrev, |h, s| Ok(text(param(h, s, 0, "abbrev")?).chars().take(7).collect()));
helper!(concat, |h, s| (0..h.params().len()).map(|i| param(h, s, i, "concat").map(text)).collect());
helper!(url_encode, |h, s| Ok(crate::secrets::url_encode(&text(param(h, s, 0, "url_encode")?))));

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, cx: Value) -> Result<String, String> {
        Renderer::new().render(t, &cx)
    }

    #[test]
    fn every_helper_validation_allows_is_registered() {
        let r = Renderer::new();
        let cx = json!({"x": ["a"], "y": "b"});
        for name in slipway_core::template::HELPERS {
            let call = if ["if", "unless", "each", "with"].contains(name) {
                format!("{{{{#{name} x}}}}{{{{/{name}}}}}")
            } else {
                format!("{{{{ {name} x y 1 }}}}")
            };
            if let Err(e) = r.render_lenient(&call, &cx) {
                assert!(!e.contains("Helper not found"), "helper `{name}` is allowed by validation but not registered: {e}");
            }
        }
    }

    #[test]
    fn strict_mode_fails_on_missing_variables() {
        let e = render("{{ params.nope }}", json!({"params": {}})).unwrap_err();
        assert!(e.contains("params.nope"), "{e}");
    }

    #[test]
    fn html_is_not_escaped() {
        assert_eq!(render("{{ x }}", json!({"x": "<a & 'b'>"})).unwrap(), "<a & 'b'>");
    }

    #[test]
    fn a_missing_value_inside_a_helper_fails_as_it_does_alone() {
        let cx = json!({ "release": { "version": "1.2" }, "items": [{ "sha": "abc" }] });
        for t in [
            "{{ shell_quote release.versoin }}",
            "{{ upper release.nope }}",
            "{{ join release.nope }}",
            "{{ concat \"a\" release.nope }}",
            "{{#each items}}{{ shell_quote this.shaa }}{{/each}}",
        ] {
            let e = render(t, cx.clone()).unwrap_err();
            assert!(e.contains("which has no value"), "{t}: {e}");
        }
        // `default` is there for values that may be missing; lenient rendering (plans) allows them
        assert_eq!(render("{{ default release.nope \"none\" }}", cx.clone()).unwrap(), "none");
        assert_eq!(Renderer::new().render_lenient("{{ upper release.nope }}", &cx).unwrap(), "");
        assert_eq!(render("{{ truncate \"abcdef\" \"4\" }}", cx.clone()).unwrap(), "abc…");
    }

    #[test]
    fn helpers_work() {
        let cx = json!({"s": "it's", "l": ["a", "b"], "sha": "0123456789abcdef", "n": 3, "e": ""});
        assert_eq!(render("{{ shell_quote s }}", cx.clone()).unwrap(), "'it'\\''s'");
        assert_eq!(render("{{ join l \"-\" }}", cx.clone()).unwrap(), "a-b");
        assert_eq!(render("{{ json l }}", cx.clone()).unwrap(), "[\"a\",\"b\"]");
        assert_eq!(render("{{ abbrev sha }}", cx.clone()).unwrap(), "0123456");
        assert_eq!(render("{{ default e \"x\" }}", cx.clone()).unwrap(), "x");
        assert_eq!(render("{{ truncate sha 5 }}", cx.clone()).unwrap(), "0123…");
        assert_eq!(render("{{#if (eq n 3)}}yes{{/if}}", cx.clone()).unwrap(), "yes");
        assert_eq!(render("{{ upper (concat s \"!\") }}", cx.clone()).unwrap(), "IT'S!");
        assert_eq!(render("{{ url_encode \"a b/c\" }}", cx).unwrap(), "a%20b%2Fc");
    }
}
