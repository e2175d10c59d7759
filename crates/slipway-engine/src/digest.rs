//! Fingerprints of each stage's definition, so `resume` can tell whether the
//! pipeline changed in a way that affects what is left to run.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use slipway_core::model::{Pipeline, Stage};

/// A stage's fingerprint: its own fields, the defaults it inherits, its hosts.
pub fn stage_digest(stage: &Stage, pipeline: &Pipeline) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(stage).unwrap_or_default());
    h.update(serde_json::to_vec(&pipeline.defaults).unwrap_or_default());
    if let Some(role) = stage.config.spec().host_role() {
        h.update(serde_json::to_vec(&pipeline.hosts.get(role.as_str())).unwrap_or_default());
    }
    let bytes = h.finalize();
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

pub fn digests(pipeline: &Pipeline) -> BTreeMap<String, String> {
    pipeline.stages.iter().map(|(id, s)| (id.value.clone(), stage_digest(s, pipeline))).collect()
}

/// The SHA-256 of a file's content, in hex: how a resume elsewhere knows it has the same pipeline.
pub fn content_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
