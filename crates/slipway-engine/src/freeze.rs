//! A deploy freeze: `/deploy lock ALIAS reason…` in chat stops every run of a
//! pipeline, from chat and from the CLI, until `/deploy unlock` or `slipway
//! unlock`. It is a record beside the deploy lock (`<state>/locks/<name>.freeze`),
//! one per pipeline whatever the environment: a freeze is a person's decision
//! that holds until a person lifts it, not a lock a process holds.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who froze a pipeline, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    pub by: String,
    pub reason: String,
    pub since: String,
}

impl std::fmt::Display for Freeze {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "frozen by {} since {}: {}", self.by, self.since, self.reason)
    }
}

fn path(state_dir: &Path, pipeline: &str) -> PathBuf {
    state_dir.join("locks").join(format!("{}.freeze", crate::lock::lock_name(pipeline, None)))
}

/// Freezes a pipeline (a freeze already there is replaced: the newest reason is the one said).
pub fn freeze(state_dir: &Path, pipeline: &str, record: &Freeze) -> io::Result<()> {
    let target = path(state_dir, pipeline);
    fs::create_dir_all(target.parent().expect("freeze path has a folder"))?;
    // Written aside and renamed: a reader never sees half a record.
    let tmp = target.with_extension(format!("freeze.{}", std::process::id()));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(record).map_err(io::Error::other)?)?;
    f.sync_all()?;
    fs::rename(&tmp, &target)
}

/// Lifts a freeze; returns it, or `None` when the pipeline was not frozen.
pub fn thaw(state_dir: &Path, pipeline: &str) -> io::Result<Option<Freeze>> {
    let target = path(state_dir, pipeline);
    let record = current(state_dir, pipeline);
    match fs::remove_file(&target) {
        Ok(()) => Ok(Some(record.unwrap_or_else(|| Freeze { by: "?".into(), reason: "?".into(), since: "?".into() }))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The freeze on a pipeline, if any. A record that cannot be read still
/// freezes: a freeze must never be lost to a torn or hand-edited file.
pub fn current(state_dir: &Path, pipeline: &str) -> Option<Freeze> {
    let text = match fs::read(path(state_dir, pipeline)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(_) => Vec::new(),
    };
    Some(serde_json::from_slice(&text).unwrap_or_else(|_| Freeze {
        by: "?".into(),
        reason: "(unreadable freeze record)".into(),
        since: "?".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freeze_holds_until_thawed() {
        let dir = std::env::temp_dir().join(format!("slipway-freeze-{}", std::process::id()));
        let record = Freeze { by: "slack:U1 (alice)".into(), reason: "black friday".into(), since: "2026-11-27T00:00:00Z".into() };
        assert_eq!(current(&dir, "api"), None);
        freeze(&dir, "api", &record).unwrap();
        assert_eq!(current(&dir, "api"), Some(record.clone()));
        assert_eq!(current(&dir, "other"), None);
        assert_eq!(thaw(&dir, "api").unwrap(), Some(record));
        assert_eq!(thaw(&dir, "api").unwrap(), None);
        let _ = fs::remove_dir_all(dir);
    }
}
