//! Fuzz targets of the engine, shared by `cargo xtask fuzz` (long runs) and
//! the test suite (short runs): each takes one input and panics only on a bug.
//! - [`Templates::check`]: a template through static analysis (`slipway-core`)
//!   and every render mode, against a context shaped like a run's.
//! - [`check_journal`]: an events file through the reader `resume` and `runs`
//!   trust, and what they derive from it.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::journal::replay_dir;
use crate::render::{Escape, Renderer};
use crate::secrets::Masker;

/// The secret the template context holds.
pub const SECRET: &str = "s3cr3t-T0ken/with+base64=";

/// A run's context: params, secrets, finished stages with typed outputs, a host.
pub fn context() -> Value {
    json!({
        "params": { "revision": "v1.2.3", "environment": "production", "empty": "", "count": "3" },
        "secrets": { "TOKEN": SECRET },
        "stages": {
            "build": { "status": "succeeded", "outputs": { "sha": "0123abcd", "n": 3, "ok": true, "hosts": ["web-1", "web-2"],
                       "nested": { "a": [1, { "b": null }] } } },
            "changelog": { "status": "failed", "outputs": { "commits": [{ "sha": "abc", "subject": "Fix {{ x }} <!channel>" }], "count": 1 } },
            "skipped": { "status": "skipped", "outputs": {} },
        },
        "host": { "name": "web-1", "address": "10.0.0.1" },
        "run": { "id": "20260101T000000Z-abcdef" },
    })
}

/// What the template target renders with: a run's context.
pub struct Templates {
    context: Value,
}

impl Default for Templates {
    fn default() -> Self {
        Templates { context: context() }
    }
}

impl Templates {
    /// Analyses and renders `input` every way a run or a plan does, with a
    /// renderer and masker as a run sets them up (helpers applied to secrets
    /// teach the masker their output). Fresh for each input: what one input
    /// teaches the masker would slow every later one. Errors are fine (most
    /// mutated templates are invalid); a panic is the bug.
    pub fn check(&self, input: &[u8]) {
        let source = String::from_utf8_lossy(input);
        let _ = slipway_core::template::analyze_source(&source);
        let masker = Masker::new([SECRET]);
        let renderer = Renderer::new();
        renderer.teach(&masker);
        let (r, cx) = (&renderer, &self.context);
        let rendered = [
            r.render(&source, cx),
            r.render_lenient(&source, cx),
            r.render_escaped(&source, cx, Escape::Slack),
            r.render_lenient_escaped(&source, cx, Escape::Mattermost),
        ];
        for text in rendered.into_iter().flatten() {
            let _ = masker.mask(&text);
        }
    }

    pub fn renders(&self, source: &str) -> Result<String, String> {
        Renderer::new().render(source, &self.context)
    }
}

/// Templates to start mutating from: every helper, block and form.
pub const TEMPLATE_SEEDS: &[&str] = &[
    "{{ params.revision }} to {{ params.environment }}",
    "{{#if (eq stages.build.status 'succeeded')}}ok{{else if (gt stages.build.outputs.n 2)}}many{{else}}no{{/if}}",
    "{{#each stages.changelog.outputs.commits}}{{ this.sha }} {{ truncate this.subject 50 }}\n{{/each}}",
    "{{ default stages.skipped.outputs.v '?' }} {{ default params.empty 'none' }}",
    "{{ upper secrets.TOKEN }} {{ lower (replace secrets.TOKEN 'T' 't') }} {{ abbrev secrets.TOKEN 6 }}",
    "{{ json stages.build.outputs }} {{ url_encode params.revision }} {{ shell_quote secrets.TOKEN }}",
    "{{ join stages.build.outputs.hosts ', ' }} {{ concat 'a' params.revision 'b' }} {{ trim ' x ' }}",
    "{{{ params.revision }}}{{!-- a comment --}}{{#unless stages.build.outputs.ok}}x{{/unless}}",
    "{{#with stages.build.outputs}}{{ sha }}{{#each hosts}}{{ @index }}={{ this }}{{/each}}{{/with}}",
    "{{ lookup stages.build.outputs 'sha' }} {{ stages.build.outputs.nested.a.[1].b }} {{ host.name }}@{{ host.address }}",
    "{{#if (and (ne params.environment 'staging') (or stages.build.outputs.ok false))}}{{ not true }}{{/if}}",
    "{{ lt 1 2 }} {{ gte params.count 3 }} {{ len stages.build.outputs.hosts }}",
];

/// Replays `input` as a run's `events.jsonl` in `scratch` (a folder of the
/// caller's, reused between inputs), as `resume` and `runs` read it.
pub fn check_journal(scratch: &Path, input: &[u8]) {
    let dir = run_dir(scratch);
    if std::fs::write(dir.join("events.jsonl"), input).is_err() {
        return;
    }
    if let Ok(replay) = replay_dir(&dir) {
        let dag = slipway_core::dag::Dag::default();
        let reuse = replay.reusable(&dag);
        let _ = replay.missing_reads(&dag, &reuse);
        let _ = replay.commands_still_running();
    }
    let _ = crate::journal::list_runs(scratch);
}

fn run_dir(scratch: &Path) -> PathBuf {
    let dir = crate::journal::Journal::runs_dir(scratch).join("20260101T000000Z-abcdef");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A journal to start mutating from: one of each event a run writes.
pub const JOURNAL_SEED: &str = concat!(
    r#"{"event":"run_started","run_id":"20260101T000000Z-abcdef","pipeline":"p","params":{"a":"1"},"resumed":false,"at":1}"#,
    "\n",
    r#"{"event":"stage_started","stage":"a","at":2}"#,
    "\n",
    r#"{"event":"attempt_started","stage":"a","attempt":1,"at":3}"#,
    "\n",
    r#"{"event":"command_started","stage":"a","pgid":4242,"boot_id":"b","at":4}"#,
    "\n",
    r#"{"event":"log","stage":"a","stream":"stdout","line":"hello","at":5}"#,
    "\n",
    r#"{"event":"attempt_failed","stage":"a","attempt":1,"error":"boom","transient":true,"retry_in_ms":50,"at":6}"#,
    "\n",
    r#"{"event":"stage_finished","stage":"a","status":"succeeded","attempts":2,"duration_ms":7,"outputs":{"v":"x","n":1},"masked":["s"],"at":8}"#,
    "\n",
    r#"{"event":"stage_finished","stage":"b","status":"skipped","attempts":0,"duration_ms":0,"reason":"skipped: its `if` is false","at":9}"#,
    "\n",
    r#"{"event":"stage_reused","stage":"c","at":10}"#,
    "\n",
    r#"{"event":"run_finished","status":"failed","duration_ms":11,"at":12}"#,
    "\n",
    r#"{"event":"run_started","run_id":"20260101T000000Z-abcdef","pipeline":"p","params":{},"resumed":true,"at":13}"#,
    "\n",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_are_what_a_run_reads() {
        let t = Templates::default();
        for seed in TEMPLATE_SEEDS {
            assert!(t.renders(seed).is_ok(), "seed does not render: {seed}: {:?}", t.renders(seed));
        }
        let scratch = std::env::temp_dir().join(format!("slipway-fuzz-seed-{}", crate::runid::new_run_id()));
        check_journal(&scratch, JOURNAL_SEED.as_bytes());
        let replay = replay_dir(&run_dir(&scratch)).unwrap();
        assert_eq!((replay.unreadable_lines, replay.damage.as_deref()), (0, None), "the journal seed does not read cleanly");
        assert!(replay.succeeded.contains_key("a"));
        std::fs::remove_dir_all(scratch).unwrap();
    }
}
