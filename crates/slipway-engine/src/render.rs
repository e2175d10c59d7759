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

fn param<'a>(h: &'a Helper<'_>, i: usize, name: &'static str) -> Result<&'a Value, RenderErrorReason> {
    h.param(i).map(|p| p.value()).ok_or(RenderErrorReason::ParamNotFoundForIndex(name, i))
}

type HelperFn = fn(&Helper<'_>) -> Result<String, RenderErrorReason>;

macro_rules! helper {
    ($name:ident, $body:expr) => {
        fn $name(h: &Helper<'_>, _: &Handlebars<'_>, _: &Context, _: &mut RenderContext<'_, '_>, out: &mut dyn Output) -> HelperResult {
            let f: HelperFn = $body;
            out.write(&f(h)?)?;
            Ok(())
        }
    };
}

helper!(json, |h| Ok(serde_json::to_string(param(h, 0, "json")?).unwrap_or_default()));
helper!(shell_quote_helper, |h| Ok(shell_quote(&text(param(h, 0, "shell_quote")?))));
helper!(default, |h| {
    let v = h.param(0).map(|p| p.value()).unwrap_or(&Value::Null);
    let empty = matches!(v, Value::Null) || v.as_str() == Some("");
    Ok(if empty { text(param(h, 1, "default")?) } else { text(v) })
});
helper!(join, |h| {
    let sep = h.param(1).map(|p| text(p.value())).unwrap_or_else(|| ", ".into());
    Ok(match param(h, 0, "join")? {
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(&sep),
        other => text(other),
    })
});
helper!(truncate, |h| {
    let s = text(param(h, 0, "truncate")?);
    let n = param(h, 1, "truncate")?.as_u64().unwrap_or(u64::MAX) as usize;
    Ok(if s.chars().count() > n { s.chars().take(n.saturating_sub(1)).chain(std::iter::once('…')).collect() } else { s })
});
helper!(upper, |h| Ok(text(param(h, 0, "upper")?).to_uppercase()));
helper!(lower, |h| Ok(text(param(h, 0, "lower")?).to_lowercase()));
helper!(trim, |h| Ok(text(param(h, 0, "trim")?).trim().to_owned()));
helper!(replace, |h| Ok(text(param(h, 0, "replace")?).replace(&text(param(h, 1, "replace")?), &text(param(h, 2, "replace")?))));
helper!(abbrev, |h| Ok(text(param(h, 0, "abbrev")?).chars().take(7).collect()));
helper!(concat, |h| Ok(h.params().iter().map(|p| text(p.value())).collect()));
helper!(url_encode, |h| Ok(crate::secrets::url_encode(&text(param(h, 0, "url_encode")?))));

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
