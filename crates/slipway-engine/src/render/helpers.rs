//! Slipway's template helpers. Each is a function of its arguments; the
//! helpers that transform text also tell the renderer's masker what they made
//! of secret text (see [`super::Renderer::teach`]).

use handlebars::{Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderErrorReason, no_escape};
use serde_json::Value;

use super::Taught;

pub(super) fn registry(strict: bool, masker: &Taught) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(strict);
    hb.register_escape_fn(no_escape);
    let helpers: [(&str, HelperFn, bool); 12] = [
        ("json", json, false),
        ("shell_quote", shell_quote_helper, true),
        ("default", default, false),
        ("join", join, false),
        ("truncate", truncate, true),
        ("upper", upper, true),
        ("lower", lower, true),
        ("trim", trim, true),
        ("replace", replace, true),
        ("abbrev", abbrev, true),
        ("concat", concat, false),
        ("url_encode", url_encode, false),
    ];
    for (name, body, transforms) in helpers {
        hb.register_helper(name, Box::new(SlipwayHelper { body, masker: transforms.then(|| masker.clone()) }));
    }
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

/// One of Slipway's helpers. Its output is a value like any other: escaped as
/// the registry says, unless it is written by `{{{ … }}}` or feeds another
/// helper (Handlebars turns escaping off for both). A helper that transforms
/// its input teaches the masker (when there is one) what it made of a secret.
struct SlipwayHelper {
    body: HelperFn,
    masker: Option<Taught>,
}

impl HelperDef for SlipwayHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        hb: &'reg Handlebars<'reg>,
        _: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let output = (self.body)(h, hb.strict_mode())?;
        if let Some(masker) = self.masker.as_ref().and_then(|m| m.get()) {
            let inputs: Vec<String> = h.params().iter().map(|p| text(p.value())).collect();
            masker
                .learn_derived(inputs.iter().map(String::as_str), &output)
                .map_err(|e| RenderErrorReason::Other(format!("`{}`: {e}", h.name())))?;
        }
        if rc.is_disable_escape() {
            out.write(&output)?;
        } else {
            out.write(&hb.get_escape_fn()(&output))?;
        }
        Ok(())
    }
}

fn json(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    Ok(serde_json::to_string(param(h, s, 0, "json")?).unwrap_or_default())
}

fn shell_quote_helper(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    Ok(shell_quote(&text(param(h, s, 0, "shell_quote")?)))
}

fn default(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    let v = h.param(0).map(|p| p.value()).unwrap_or(&Value::Null);
    let empty = matches!(v, Value::Null) || v.as_str() == Some("");
    Ok(if empty { text(param(h, s, 1, "default")?) } else { text(v) })
}

fn join(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    let sep = if h.param(1).is_some() { text(param(h, s, 1, "join")?) } else { ", ".into() };
    Ok(match param(h, s, 0, "join")? {
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(&sep),
        other => text(other),
    })
}

fn truncate(h: &Helper<'_>, strict: bool) -> Result<String, RenderErrorReason> {
    let s = text(param(h, strict, 0, "truncate")?);
    let n = match param(h, strict, 1, "truncate")? {
        Value::String(n) => n.trim().parse::<u64>().ok(),
        other => other.as_u64(),
    }
    .ok_or(RenderErrorReason::InvalidParamType("truncate: a number of characters"))? as usize;
    Ok(if s.chars().count() > n { s.chars().take(n.saturating_sub(1)).chain(std::iter::once('…')).collect() } else { s })
}

fn upper(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    Ok(text(param(h, s, 0, "upper")?).to_uppercase())
}

fn lower(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    Ok(text(param(h, s, 0, "lower")?).to_lowercase())
}

fn trim(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    Ok(text(param(h, s, 0, "trim")?).trim().to_owned())
}

fn replace(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    Ok(text(param(h, s, 0, "replace")?).replace(&text(param(h, s, 1, "replace")?), &text(param(h, s, 2, "replace")?)))
}

fn abbrev(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    Ok(text(param(h, s, 0, "abbrev")?).chars().take(7).collect())
}

fn concat(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    (0..h.params().len()).map(|i| param(h, s, i, "concat").map(text)).collect()
}

fn url_encode(h: &Helper<'_>, s: bool) -> Result<String, RenderErrorReason> {
    Ok(crate::secrets::url_encode(&text(param(h, s, 0, "url_encode")?)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Renderer;
    use super::*;
    use crate::secrets::Masker;

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

    #[test]
    fn a_helper_that_transforms_secret_text_teaches_the_masker() {
        let secret = "ghp_Zq81xvR7t0ken'W4lue";
        let masker = Masker::new([secret]);
        let r = Renderer::new();
        r.teach(&masker);
        let cx = json!({ "secrets": { "t": secret }, "params": { "p": "plain-value" }, "list": [secret, "x"] });
        for t in [
            "{{ upper secrets.t }}",
            "{{ lower secrets.t }}",
            "{{ replace secrets.t \"k\" \"K\" }}",
            "{{ truncate secrets.t 10 }}",
            "{{ abbrev secrets.t }}",
            "{{ shell_quote secrets.t }}",
            "{{ upper (truncate (lower secrets.t) 12) }}",
            "{{ trim (concat \"  \" (upper secrets.t)) }}",
            "{{ upper (join list \"-\") }}",
        ] {
            let out = r.render(t, &cx).unwrap();
            assert_eq!(masker.mask(&format!("a {out} b")), "a *** b", "{t} -> {out}");
        }
        // what is not made from a secret stays readable
        assert_eq!(masker.mask(&r.render("{{ upper params.p }}", &cx).unwrap()), "PLAIN-VALUE");
        // too little of a secret to mask: the render fails naming the helper, not the value
        let e = r.render("{{ truncate secrets.t 3 }}", &cx).unwrap_err();
        assert!(e.starts_with("`truncate`: it would show 2 characters of a secret, too few to mask"), "{e}");
        assert!(!e.contains("gh"), "{e}");
        // chat escaping turns `&` into `&amp;`: that is secret text too
        let masker = Masker::new(["p&ss<w0rd>xyz"]);
        let r = Renderer::new();
        r.teach(&masker);
        let cx = json!({ "secrets": { "t": "p&ss<w0rd>xyz" }, "body": "a commit & its <b>: p&ss<w0rd>xyz, again" });
        let out = r.render_escaped("said {{ secrets.t }}", &cx, super::super::Escape::Slack).unwrap();
        assert_eq!(masker.mask(&out), "said ***", "{out}");
        let out = r.render_escaped("{{ body }}", &cx, super::super::Escape::Slack).unwrap();
        assert_eq!(masker.mask(&out), "a commit &amp; its &lt;b&gt;: ***, again", "{out}");
    }
}
