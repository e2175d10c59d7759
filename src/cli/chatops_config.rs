//! Reading a chat-ops config: the file's own checks come from the core; the
//! checks across files need the aliases' pipelines, which are read here (the
//! core does no IO), relative to the config file.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use slipway_core::chatops::{ChatOps, PipelineFacts, cross_check};
use slipway_core::{Checked, check_bytes};

use super::failure::{Failure, Why};
use super::files::{self, Contents};

/// Adds the checks across files to a checked chat-ops config (nothing for a pipeline).
pub fn check_references(checked: &mut Checked, path: &Path) {
    let Some(config) = &checked.chatops else { return };
    let mut facts = IndexMap::new();
    for (name, alias) in &config.aliases {
        facts.insert(name.value.clone(), pipeline_facts(&pipeline_path(path, &alias.pipeline.value)));
    }
    let found = cross_check(config, &facts);
    checked.diagnostics.extend(found);
}

/// An alias's pipeline file: relative paths start at the config's folder.
pub fn pipeline_path(config: &Path, pipeline: &str) -> PathBuf {
    let base = super::load::base_dir(config);
    base.join(pipeline)
}

fn pipeline_facts(path: &Path) -> Result<PipelineFacts, String> {
    let bytes = match files::read(path) {
        Ok(Contents::Bytes(b)) => b,
        Ok(Contents::TooLarge) => return Err(format!("{} is larger than Slipway reads", path.display())),
        Err(e) => return Err(e),
    };
    let checked = check_bytes(&path.display().to_string(), &bytes);
    let Some(pipeline) = checked.pipeline.as_ref().filter(|_| checked.is_valid()) else {
        return Err(format!("its pipeline {} is not a valid pipeline ({} error(s))", path.display(), checked.errors()));
    };
    let params = pipeline.params.iter().map(|(k, p)| (k.value.clone(), p.choices.iter().map(|c| c.value.clone()).collect())).collect();
    Ok(PipelineFacts { params })
}

/// A valid chat-ops config, or why not (its problems are printed as `validate` prints them).
pub fn load(path: &Path) -> Result<ChatOps, Failure> {
    let bytes = files::read(path).map_err(|e| Failure::new(Why::Io, e).file(path))?;
    let name = path.display().to_string();
    let mut checked = match bytes {
        Contents::Bytes(bytes) => check_bytes(&name, &bytes),
        Contents::TooLarge => Checked::too_large(&name),
    };
    if checked.pipeline.is_some() {
        return Err(Failure::new(Why::InvalidArgument, format!("{name} is a pipeline, not a chat-ops config"))
            .help("`--config` takes the chat-ops file with `aliases` (docs/chatops.md)"));
    }
    check_references(&mut checked, path);
    if !checked.is_valid_chatops() {
        return Err(Failure::invalid(checked));
    }
    Ok(checked.chatops.expect("a valid chat-ops config decodes"))
}
