//! Turning path arguments into pipeline files.

use std::path::{Path, PathBuf};

/// Files named directly, plus every `*.yaml`/`*.yml` directly inside named folders,
/// sorted. Errors name the path that could not be read.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| format!("cannot read directory {}: {e}", path.display()))?;
            let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && is_yaml(p)).collect();
            if found.is_empty() {
                return Err(format!("no *.yaml or *.yml files in {}", path.display()));
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Reads a file whole, refusing anything larger than the core would parse anyway.
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    let limit = slipway_core::yaml::Limits::default().max_bytes as u64;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > limit {
        return Err(format!("{} is {} bytes, more than the {limit} bytes Slipway reads", path.display(), meta.len()));
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
