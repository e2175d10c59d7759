//! The pipeline document: name, params, secrets, hosts, defaults and stages.

use indexmap::IndexMap;

use super::{HostEntry, SshSettings, Stage};
use crate::decode::{Bounded, Decode, Decoder, DurationValue, Fraction, Key, Multiplier, Spanned, Version};
use crate::yaml::Node;
use crate::{config_struct, decode::Fields};

/// A Slipway pipeline, format version 1.
///
/// Decoding is tolerant: a broken stage or param is reported and left out, and the
/// rest is still decoded so that validation can report every other problem too.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// The format version. Only `1` exists.
    pub version: Version,
    /// The pipeline's name: it names the deploy lock, the runs and the markers.
    pub name: Spanned<String>,
    /// What the pipeline does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Values given at run time with `--param name=value`, read as `{{ params.name }}`.
    #[serde(default)]
    pub params: IndexMap<Key, Param>,
    /// Secrets resolved at run time, read as `{{ secrets.NAME }}`, masked in all output.
    #[serde(default)]
    pub secrets: IndexMap<Key, Secret>,
    /// Host roles: each role names the hosts that stages with `hosts: <role>` run on.
    #[serde(default)]
    pub hosts: IndexMap<Key, Vec<HostEntry>>,
    /// How `ssh` reaches hosts: its config file, key, known_hosts, host key checking, options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshSettings>,
    /// Retry and timeout settings for stages that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Defaults>,
    /// The stages, by id (`[A-Za-z_][A-Za-z0-9_-]*`). Order does not matter: `needs`
    /// and template references decide it.
    #[schemars(with = "IndexMap<String, Stage>")]
    pub stages: IndexMap<Key, Stage>,
}

pub(crate) const PIPELINE_FIELDS: &[&str] = &["version", "name", "description", "params", "secrets", "hosts", "ssh", "defaults", "stages"];

impl Pipeline {
    /// Decodes what can be decoded; every problem is in `cx`.
    pub fn decode(root: &Node, cx: &mut Decoder) -> Option<Pipeline> {
        let fields = cx.mapping(root)?;
        fields.finish(cx, PIPELINE_FIELDS, "the pipeline");
        let version = fields.get::<Version>(cx, "version");
        let name = fields.get::<Spanned<String>>(cx, "name");
        Some(Pipeline {
            version: version.unwrap_or(Version(1)),
            name: name.unwrap_or_default(),
            description: fields.get(cx, "description").flatten(),
            params: tolerant_map(&fields, cx, "params"),
            secrets: tolerant_map(&fields, cx, "secrets"),
            hosts: tolerant_map(&fields, cx, "hosts"),
            ssh: fields.get::<Option<SshSettings>>(cx, "ssh").flatten().inspect(|s| s.check(cx)),
            defaults: fields.get(cx, "defaults").flatten(),
            stages: tolerant_stages(&fields, cx),
        })
    }

    pub fn stage(&self, id: &str) -> Option<&Stage> {
        self.stages.get(id)
    }
}

/// A map whose broken entries are reported and dropped, keeping the rest.
fn tolerant_map<T: Decode>(fields: &Fields<'_>, cx: &mut Decoder, name: &str) -> IndexMap<Key, T> {
    let Some((key, node)) = fields.find(name) else {
        return IndexMap::new();
    };
    let Some(map) = cx.with_owner(key, |cx| cx.mapping(node)) else {
        return IndexMap::new();
    };
    let mut out = IndexMap::with_capacity(map.entries.len());
    for (k, v) in map.entries {
        let Some(name) = cx.string(k, "a text key") else {
            continue;
        };
        if let Some(value) = cx.with_owner(k, |cx| T::decode(v, cx)) {
            out.insert(Key::new(name.to_owned(), k.span), value);
        }
    }
    out
}

fn tolerant_stages(fields: &Fields<'_>, cx: &mut Decoder) -> IndexMap<Key, Stage> {
    let Some((key, node)) = fields.find("stages") else {
        fields.report_missing(cx, "stages", "a mapping of stage ids to stages");
        return IndexMap::new();
    };
    let Some(map) = cx.with_owner(key, |cx| cx.mapping(node)) else {
        return IndexMap::new();
    };
    let mut out = IndexMap::with_capacity(map.entries.len());
    for (k, v) in map.entries {
        let Some(id) = cx.string(k, "a stage id") else {
            continue;
        };
        let id = Key::new(id.to_owned(), k.span);
        if let Some(stage) = cx.with_owner(k, |cx| Stage::decode_with_id(id.clone(), v, cx)) {
            out.insert(id, stage);
        }
    }
    out
}

config_struct! {
    /// A run-time value.
    pub struct Param {
        /// What the value means, shown by `slipway plan` and in errors.
        pub description: Option<String>,
        /// The run fails to start unless `--param name=value` gives it.
        #[serde(default)]
        pub required: bool,
        /// The value when none is given.
        pub default: Option<Spanned<String>>,
        /// The only values allowed, when set.
        #[serde(default)]
        pub choices: Vec<Spanned<String>>,
    }
}

config_struct! {
    /// Where a secret's value comes from at run time: exactly one of `env` or `file`.
    pub struct Secret {
        /// An environment variable holding the value.
        pub env: Option<Spanned<String>>,
        /// A file holding the value (trailing newline trimmed), relative to the pipeline file.
        pub file: Option<Spanned<String>>,
    }
}

config_struct! {
    /// Settings every stage inherits unless it sets its own.
    pub struct Defaults {
        /// How stages that set no `retry` of their own retry transient failures.
        pub retry: Option<Retry>,
        /// How long one attempt of a stage may take.
        pub timeout: Option<Spanned<DurationValue>>,
    }
}

config_struct! {
    /// How a stage retries transient failures; permanent ones are never retried.
    /// Transient: timeouts, refused connections, HTTP 408, 429 and 5xx.
    pub struct Retry {
        /// Total tries, the first one included (1 means no retry).
        pub attempts: Option<Bounded<1, 100>>,
        /// The wait before the second try.
        pub backoff: Option<Spanned<DurationValue>>,
        /// Each further wait is the last one times this.
        pub factor: Option<Multiplier>,
        /// No wait is longer than this.
        pub max_backoff: Option<Spanned<DurationValue>>,
        /// The share of each wait that is randomised, from 0 to 1.
        pub jitter: Option<Fraction>,
    }
}
