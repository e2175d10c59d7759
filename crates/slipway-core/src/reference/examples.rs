//! One small stage per kind, decoded with the core's own decoder, so that the
//! reference lists the outputs each kind really declares. A kind's outputs
//! depend on its config (a `shell` stage declares its own; `hosts` adds one),
//! so each example sets whatever adds an output.

use crate::decode::{Decoder, Key};
use crate::kinds::{Kind, OutputDecl};
use crate::model::Stage;
use crate::source::Span;
use crate::yaml::{Limits, load};

/// The name the examples give the outputs a stage declares itself.
pub const DECLARED: &str = "NAME";

/// A stage of `kind` (its body, as YAML) that declares every output the kind can have.
pub fn example(kind: Kind) -> &'static str {
    match kind {
        Kind::Converge => "kind: converge\nhosts: web\ncommand: sudo chef-client\n",
        Kind::Deploy => "kind: deploy\nhosts: web\ndeploy_to: /srv/app\nrevision: v1\nsource: { command: make }\n",
        Kind::Migrate => "kind: migrate\nhosts: db\ncommand: make migrate\n",
        Kind::Changelog => "kind: changelog\nto: main\ngit: {}\n",
        Kind::AuditTicket => "kind: audit_ticket\njira: { url: https://x.atlassian.net, token: t }\nproject: OPS\nsummary: s\n",
        Kind::Marker => "kind: marker\ntitle: t\nwebhook: { url: https://x }\n",
        Kind::Notify => "kind: notify\nmessage: m\nwebhook: { url: https://x }\n",
        Kind::Shell => "kind: shell\nrun: make\nhosts: web\noutputs: [NAME]\n",
        Kind::Http => "kind: http\nurl: https://x\noutputs: { NAME: /id }\n",
    }
}

/// The outputs of [`example`]`(kind)`, or the problems decoding it (a test
/// keeps the examples decodable).
pub fn outputs(kind: Kind) -> Result<Vec<OutputDecl>, Vec<String>> {
    let (root, problems) = load(example(kind), Limits::default());
    let mut cx = Decoder::new();
    let stage = root.and_then(|root| Stage::decode_with_id(Key::new("example".into(), Span::default()), &root, &mut cx));
    let problems: Vec<String> = problems.into_iter().chain(cx.diagnostics).map(|d| d.message).collect();
    match stage {
        Some(stage) if problems.is_empty() => Ok(stage.config.spec().outputs()),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_decodes_as_its_kind() {
        for name in Kind::NAMES {
            let kind = Kind::from_name(name).unwrap();
            let outputs = outputs(kind).unwrap_or_else(|e| panic!("the `{name}` example does not decode: {e:?}"));
            assert!(!outputs.is_empty(), "{name}");
            assert!(example(kind).starts_with(&format!("kind: {name}\n")));
        }
    }
}
