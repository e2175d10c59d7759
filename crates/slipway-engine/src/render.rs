//! Rendering templates: Handlebars in strict mode (a missing variable is an
//! error, not an empty string), HTML escaping off, and Slipway's helpers.
//!
//! Chat text is the exception: there a value written by `{{ … }}` is escaped
//! for the service's markup ([`Escape`]), so a commit subject cannot ping a
//! channel or forge a link, while the author's own literal text is kept.
//!
//! A renderer taught a [`Masker`] ([`Renderer::teach`]) tells it what its
//! helpers make of secret text: `{{ upper secrets.token }}` no longer reads as
//! the token, so the masker learns the upper-cased value as the run renders it.

use std::sync::{Arc, OnceLock};

use handlebars::{Handlebars, RenderErrorReason};
use serde_json::Value;

use crate::secrets::Masker;

mod helpers;

use helpers::registry;
pub use helpers::shell_quote;

/// How values are escaped where a template writes them (`{{ x }}`, helpers
/// included); `{{{ x }}}` writes a value as it is. Text the author wrote in
/// the template itself is never changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Slack's three control characters: `&` `<` `>` become `&amp;` `&lt;`
    /// `&gt;`, so `<!channel>` and `<https://…|text>` arrive as plain text.
    Slack,
    /// Mattermost's channel-wide mentions (`@channel`, `@all`, `@here`) and
    /// its Slack-compatible `<!channel>` and `<@user>` get a zero-width joiner
    /// after the `@` or `<`: they read the same and notify no one.
    Mattermost,
}

/// A configured Handlebars registry. Build once per run.
pub struct Renderer {
    strict: Handlebars<'static>,
    lenient: Handlebars<'static>,
    /// Per [`Escape`] (in its order): strict and lenient, built on first use.
    escaped: [OnceLock<(Handlebars<'static>, Handlebars<'static>)>; 2],
    /// Learns what helpers make of secret text, once taught.
    masker: Taught,
}

/// The masker a renderer's helpers teach, shared with them.
pub(crate) type Taught = Arc<OnceLock<Masker>>;

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    pub fn new() -> Self {
        let masker = Taught::default();
        Renderer { strict: registry(true, &masker), lenient: registry(false, &masker), escaped: [OnceLock::new(), OnceLock::new()], masker }
    }

    /// From now on, a helper that turns secret text into something else
    /// (`upper`, `lower`, `replace`, `trim`, `truncate`, `abbrev`,
    /// `shell_quote`, chat escaping) teaches its output to `masker`, and every
    /// clone of it masks that too. One that would show fewer than
    /// [`crate::secrets::MIN_LEN`] characters of a secret fails the render.
    /// Helpers that keep their input's text whole (`concat`, `join`,
    /// `default`, `json`, `url_encode`) need not: the masker finds it.
    pub fn teach(&self, masker: &Masker) {
        let _ = self.masker.set(masker.clone());
    }

    /// Renders in strict mode: reading a variable that does not exist fails.
    pub fn render(&self, template: &str, context: &Value) -> Result<String, String> {
        render_with(&self.strict, template, context)
    }

    /// Renders with missing variables as empty text (dry runs over placeholders).
    pub fn render_lenient(&self, template: &str, context: &Value) -> Result<String, String> {
        render_with(&self.lenient, template, context)
    }

    /// As [`Renderer::render`], with values escaped for a chat service.
    pub fn render_escaped(&self, template: &str, context: &Value, escape: Escape) -> Result<String, String> {
        render_with(&self.escaping(escape).0, template, context)
    }

    /// As [`Renderer::render_lenient`], with values escaped for a chat service;
    /// a dry run's placeholder for a value not known yet is shown as it is.
    pub fn render_lenient_escaped(&self, template: &str, context: &Value, escape: Escape) -> Result<String, String> {
        render_with(&self.escaping(escape).1, template, context)
    }

    fn escaping(&self, escape: Escape) -> &(Handlebars<'static>, Handlebars<'static>) {
        let (i, f): (usize, fn(&str) -> String) = match escape {
            Escape::Slack => (0, slack_escape),
            Escape::Mattermost => (1, mattermost_escape),
        };
        self.escaped[i].get_or_init(|| {
            // Escaping changes a secret's text too (`&` becomes `&amp;`): once
            // it has, the masker learns every secret as escaped.
            let learning = |masker: Taught| {
                move |s: &str| {
                    let out = f(s);
                    if out != s
                        && let Some(m) = masker.get()
                        && m.touches(s)
                    {
                        m.learn_mapped(f);
                    }
                    out
                }
            };
            let mut strict = registry(true, &self.masker);
            strict.register_escape_fn(learning(self.masker.clone()));
            let mut lenient = registry(false, &self.masker);
            let escape = learning(self.masker.clone());
            lenient.register_escape_fn(move |s: &str| if is_placeholder(s) { s.to_owned() } else { escape(s) });
            (strict, lenient)
        })
    }
}

/// `&`, `<` and `>` as Slack's entities: the only characters Slack reads as
/// control sequences (mentions, links, dates).
pub fn slack_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A zero-width joiner: invisible, and not part of a mention.
const ZWJ: char = '\u{200D}';

/// Mentions that notify a whole channel on Mattermost, and the Slack-style
/// forms it translates (`<!channel>`, `<!here>`, `<!all>`, `<@user-id>`),
/// broken with a zero-width joiner. Other text is unchanged: Mattermost
/// renders Markdown, which the author may want from a value.
pub fn mattermost_escape(s: &str) -> String {
    const WIDE: &[&str] = &["channel", "all", "here"];
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        out.push(c);
        let rest = &s[i + c.len_utf8()..];
        let breaks = match c {
            '<' => rest.starts_with(['!', '@']),
            '@' => WIDE.iter().any(|w| rest.get(..w.len()).is_some_and(|r| r.eq_ignore_ascii_case(w))),
            _ => false,
        };
        if breaks {
            out.push(ZWJ);
        }
    }
    out
}

/// Whether `s` is a dry run's stand-in for a value not known yet, such as
/// `<stages.build.outputs.tag: known after run>` (see `placeholder_outputs`):
/// a plan shows it as it is rather than escaped. Only a whole value of that
/// exact shape is kept, and that shape holds nothing a chat service acts on.
fn is_placeholder(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('<').and_then(|r| r.strip_suffix(": known after run>")) else { return false };
    !inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']'))
}

/// The mark a plan puts after a template it shows unrendered.
pub const DECIDED_AT_RUN: &str = "(decided at run time)";

/// Whether a plan must show `template` as written rather than rendered: it
/// feeds a value only the run knows (a placeholder such as
/// `<stages.deploy.status: known after run>`) to a helper that decides
/// something with it (`#if`, `eq`, `#each`, …), so any rendering would be a
/// guess.
pub fn decided_at_run(template: &str, context: &Value) -> bool {
    if !template.contains("{{") {
        return false;
    }
    let Some(analysis) = slipway_core::template::analyze_source(template) else { return false };
    let deciding = analysis.helpers.iter().any(|(h, _)| slipway_core::template::DECIDING_HELPERS.contains(&h.as_str()));
    deciding
        && analysis.references.iter().any(|r| {
            let mut v = context;
            for seg in &r.segments {
                v = match v {
                    Value::Object(m) => match m.get(seg) {
                        Some(next) => next,
                        None => return false,
                    },
                    Value::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get(i)) {
                        Some(next) => next,
                        None => return false,
                    },
                    _ => return false,
                };
            }
            holds_placeholder(v)
        })
}

/// Whether a value is, or holds, a dry run's placeholder.
fn holds_placeholder(v: &Value) -> bool {
    match v {
        Value::String(s) => s.starts_with('<') && s.ends_with(": known after run>"),
        Value::Array(a) => a.iter().any(holds_placeholder),
        Value::Object(m) => m.values().any(holds_placeholder),
        _ => false,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, cx: Value) -> Result<String, String> {
        Renderer::new().render(t, &cx)
    }

    #[test]
    fn a_plan_never_decides_on_a_value_only_the_run_knows() {
        let unknown = json!({
            "stages": {"d": {"status": "<stages.d.status: known after run>",
                             "outputs": {"list": ["<stages.d.outputs.list[0]: known after run>"], "n": "<stages.d.outputs.n: known after run>"}}},
            "params": {"env": "prod", "list": ["a"]},
        });
        // Every helper that decides something, fed a run-time value.
        let deciding = [
            "{{#if (eq stages.d.status 'succeeded')}}success{{else}}error{{/if}}",
            "{{#unless stages.d.outputs.n}}none{{/unless}}",
            "{{#each stages.d.outputs.list}}{{this}},{{/each}}",
            "{{#with stages.d.outputs}}{{n}}{{/with}}",
            "{{ eq stages.d.status 'failed' }}",
            "{{ ne stages.d.outputs.n '3' }}",
            "{{ lt stages.d.outputs.n 3 }}",
            "{{ gt stages.d.outputs.n 3 }}",
            "{{ and stages.d.outputs.n true }}",
            "{{ or stages.d.outputs.n false }}",
            "{{ not stages.d.outputs.n }}",
            "{{ len stages.d.outputs.list }}",
            "{{ lookup stages.d.outputs 'n' }}",
        ];
        for t in deciding {
            assert!(decided_at_run(t, &unknown), "{t} would be guessed");
        }
        for name in slipway_core::template::DECIDING_HELPERS {
            assert!(
                deciding.iter().any(|t| t.contains(&format!("{{{{#{name} ")) || t.contains(&format!("{{{{ {name} "))),
                "no case for `{name}`"
            );
        }
        // Known values are decided now; placeholders passed through unchanged stay readable.
        for t in [
            "{{#if (eq params.env 'prod')}}yes{{/if}}",
            "{{#each params.list}}{{this}}{{/each}}",
            "{{ stages.d.status }}",
            "{{ default stages.d.outputs.n '' }}",
            "plain",
        ] {
            assert!(!decided_at_run(t, &unknown), "{t} is knowable");
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
    fn slack_escaping_covers_values_and_helpers_but_not_the_authors_text() {
        let r = Renderer::new();
        let cx = json!({"c": "<!channel> & <https://evil|click>", "l": ["<!here>", "a&b"]});
        let t = "<https://ok|link> :rocket: {{ c }}";
        let sent = "<https://ok|link> :rocket: &lt;!channel&gt; &amp; &lt;https://evil|click&gt;";
        assert_eq!(r.render_escaped(t, &cx, Escape::Slack).unwrap(), sent);
        // helpers, subexpressions and blocks escape once; `{{{ }}}` opts out
        assert_eq!(
            r.render_escaped("{{ upper (concat c \"!\") }}", &cx, Escape::Slack).unwrap(),
            "&lt;!CHANNEL&gt; &amp; &lt;HTTPS://EVIL|CLICK&gt;!"
        );
        assert_eq!(
            r.render_escaped("{{ join l }}|{{#each l}}{{ this }};{{/each}}", &cx, Escape::Slack).unwrap(),
            "&lt;!here&gt;, a&amp;b|&lt;!here&gt;;a&amp;b;"
        );
        assert_eq!(r.render_escaped("{{{ c }}}", &cx, Escape::Slack).unwrap(), "<!channel> & <https://evil|click>");
        assert_eq!(r.render_escaped("{{{ upper c }}}", &cx, Escape::Slack).unwrap(), "<!CHANNEL> & <HTTPS://EVIL|CLICK>");
        // strict as ever; the unescaped registries are untouched
        assert!(r.render_escaped("{{ nope }}", &cx, Escape::Slack).unwrap_err().contains("nope"));
        assert_eq!(r.render("{{ c }}", &cx).unwrap(), "<!channel> & <https://evil|click>");
        assert_eq!(r.render("{{ upper c }}", &cx).unwrap(), "<!CHANNEL> & <HTTPS://EVIL|CLICK>");
    }

    #[test]
    fn mattermost_escaping_breaks_channel_wide_mentions_only() {
        let r = Renderer::new();
        let cx = json!({"c": "@channel @ALL @here: <!channel> <@U123> @alice a<b [x](y)"});
        let out = r.render_escaped("@here {{ c }}", &cx, Escape::Mattermost).unwrap();
        assert_eq!(out, "@here @\u{200D}channel @\u{200D}ALL @\u{200D}here: <\u{200D}!channel> <\u{200D}@U123> @alice a<b [x](y)");
        assert_eq!(out.replace('\u{200D}', ""), format!("@here {}", cx["c"].as_str().unwrap()), "it reads the same");
    }

    #[test]
    fn a_plan_shows_placeholders_as_they_are() {
        let r = Renderer::new();
        let cx = json!({"p": "<stages.build.outputs.commits[0].subject: known after run>", "s": "<stages.x|<!channel>: known after run>"});
        assert_eq!(r.render_lenient_escaped("{{ p }}", &cx, Escape::Slack).unwrap(), cx["p"]);
        assert_eq!(r.render_lenient_escaped("{{ s }}", &cx, Escape::Slack).unwrap(), "&lt;stages.x|&lt;!channel&gt;: known after run&gt;");
        assert_eq!(
            r.render_escaped("{{ p }}", &cx, Escape::Slack).unwrap(),
            "&lt;stages.build.outputs.commits[0].subject: known after run&gt;"
        );
    }

    /// `validate` checks each helper call against `slipway_core::template::SIGNATURES`
    /// (core cannot see the helpers registered here): each entry must say what the
    /// helper really needs and reads.
    #[test]
    fn helper_signatures_in_core_match_the_registered_helpers() {
        let r = Renderer::new();
        let cx = json!({"l": ["a", "b"], "o": {"k": "v"}, "s": " AbC def ", "e": "", "sha": "0123456789abcdef"});
        // arguments for each helper, one more than it reads (or than it needs, when it reads any number)
        let samples: &[(&str, &[&str])] = &[
            ("if", &["l", "s"]),
            ("unless", &["e", "l"]),
            ("each", &["l", "o"]),
            ("with", &["o", "l"]),
            ("lookup", &["o", "'k'", "'z'"]),
            ("log", &["'a'", "'b'"]),
            ("len", &["l", "s"]),
            ("json", &["l", "s"]),
            ("shell_quote", &["s", "l"]),
            ("default", &["e", "'f'", "'g'"]),
            ("eq", &["'a'", "'a'", "'b'"]),
            ("ne", &["'a'", "'b'", "'b'"]),
            ("lt", &["1", "2", "0"]),
            ("gt", &["2", "1", "3"]),
            ("and", &["true", "true", "false"]),
            ("or", &["false", "false", "true"]),
            ("not", &["e", "s"]),
            ("join", &["l", "'-'", "'+'"]),
            ("truncate", &["s", "4", "9"]),
            ("upper", &["s", "sha"]),
            ("lower", &["s", "sha"]),
            ("trim", &["s", "sha"]),
            ("replace", &["s", "'d'", "'x'", "'y'"]),
            ("abbrev", &["sha", "s"]),
            ("concat", &["'a'", "'b'", "'c'"]),
            ("url_encode", &["s", "sha"]),
        ];
        // these run with fewer arguments than they need, to no purpose (`and` of one value)
        let run_with_fewer = ["log", "and", "or", "concat"];
        let call = |sig: &slipway_core::template::Signature, args: &[&str]| {
            let args = args.join(" ");
            let t = if sig.block {
                format!("{{{{#{} {args}}}}}[{{{{this}}}}]{{{{else}}}}-{{{{/{}}}}}", sig.name, sig.name)
            } else {
                format!("{{{{ {} {args} }}}}", sig.name)
            };
            r.render(&t, &cx)
        };
        assert_eq!(samples.len(), slipway_core::template::SIGNATURES.len());
        for (sig, (name, args)) in slipway_core::template::SIGNATURES.iter().zip(samples) {
            assert_eq!(sig.name, *name);
            let needed = call(sig, &args[..sig.min]);
            assert!(needed.is_ok(), "`{name}` with {} arguments: {needed:?}", sig.min);
            if sig.min > 0 {
                let fewer = call(sig, &args[..sig.min - 1]);
                assert_eq!(fewer.is_ok(), run_with_fewer.contains(name), "`{name}` with {} arguments: {fewer:?}", sig.min - 1);
            }
            match sig.max {
                Some(max) => {
                    assert_eq!(call(sig, &args[..max + 1]), call(sig, &args[..max]), "`{name}` reads argument {}", max + 1);
                    if max > sig.min {
                        assert_ne!(call(sig, &args[..max]), call(sig, &args[..sig.min]), "`{name}` ignores argument {max}");
                    }
                }
                None if *name == "log" => {} // its output goes to the log
                None => assert_ne!(call(sig, &args[..sig.min + 1]), needed, "`{name}` ignores argument {}", sig.min + 1),
            }
        }
    }
}
