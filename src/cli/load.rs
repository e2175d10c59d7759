//! Reading and validating a pipeline before anything acts on it.

use std::path::{Path, PathBuf};

use slipway_core::Checked;
use slipway_core::check_bytes;

use super::failure::{Failure, Why};
use super::files::{self, Contents};
use super::report::OutputFormat;

/// A valid pipeline, or the exit code after its problems were printed to stderr.
pub fn valid_pipeline(path: &Path) -> Result<Checked, i32> {
    pipeline(path).map_err(|f| f.report(OutputFormat::Human))
}

/// A valid pipeline, or why not (a file that cannot be read, or its problems).
pub fn pipeline(path: &Path) -> Result<Checked, Failure> {
    let bytes = files::read(path).map_err(|e| Failure::new(Why::Io, e).file(path))?;
    let name = path.display().to_string();
    let checked = match bytes {
        Contents::Bytes(bytes) => check_bytes(&name, &bytes),
        Contents::TooLarge => Checked::too_large(&name),
    };
    if checked.chatops.is_some() {
        return Err(Failure::new(Why::InvalidArgument, format!("{name} is a chat-ops config, not a pipeline"))
            .file(path)
            .help(format!("serve it with `slipway serve --config {name}`; its aliases name the pipelines it runs")));
    }
    if !checked.is_valid() {
        return Err(Failure::invalid(checked));
    }
    Ok(checked)
}

/// The folder relative paths in a pipeline start from.
pub fn base_dir(path: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    abs.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}
