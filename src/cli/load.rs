//! Reading and validating a pipeline before anything acts on it.

use std::path::{Path, PathBuf};

use slipway_core::Checked;
use slipway_core::check_bytes;

use super::exit;
use super::files::{self, Contents};
use super::validate::{Format, render_all};

/// A valid pipeline, or the exit code after its problems were printed to stderr.
pub fn valid_pipeline(path: &Path) -> Result<Checked, i32> {
    let bytes = files::read(path).map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })?;
    let name = path.display().to_string();
    let checked = match bytes {
        Contents::Bytes(bytes) => check_bytes(&name, &bytes),
        Contents::TooLarge => Checked::too_large(&name),
    };
    if !checked.is_valid() {
        eprint!("{}", render_all(std::slice::from_ref(&checked), Format::Human, false));
        return Err(exit::INVALID);
    }
    Ok(checked)
}

/// The folder relative paths in a pipeline start from.
pub fn base_dir(path: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    abs.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}
