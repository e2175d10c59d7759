//! Turning path arguments into pipeline files.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A file to check, and how it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub path: PathBuf,
    /// Found inside a named folder (checked only if it is a pipeline), rather
    /// than named itself (always checked).
    pub found: bool,
}

/// Folders a search never enters besides hidden ones: build output and
/// installed packages, which hold YAML that is never a pipeline.
const SKIPPED_FOLDERS: &[&str] = &["target", "node_modules"];

/// Files named directly, plus every `*.yaml`/`*.yml` inside named folders and
/// their subfolders, as linters search: hidden files and folders (`.git`,
/// `.github`, `.slipway`) and [`SKIPPED_FOLDERS`] are left out, and symlinked
/// folders are not followed (no loops). Sorted per folder. Errors name the path
/// that could not be read.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<Target>, String> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = out.len();
            search(path, &mut out)?;
            if out.len() == before {
                return Err(format!("no *.yaml or *.yml files in {} or its subfolders", path.display()));
            }
        } else {
            out.push(Target { path: path.clone(), found: false });
        }
    }
    Ok(out)
}

/// Walks a folder tree without recursion (a deep tree cannot overflow the stack).
fn search(root: &Path, out: &mut Vec<Target>) -> Result<(), String> {
    let mut folders = vec![root.to_path_buf()];
    while let Some(dir) = folders.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?;
        let mut files = Vec::new();
        let mut subfolders = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else { continue };
            let path = entry.path();
            if kind.is_dir() {
                if !SKIPPED_FOLDERS.contains(&name.as_ref()) {
                    subfolders.push(path);
                }
            } else if is_yaml(&path) && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        out.extend(files.into_iter().map(|path| Target { path, found: true }));
        // popped last first: subfolders are searched in name order
        subfolders.sort_by(|a, b| b.cmp(a));
        folders.extend(subfolders);
    }
    Ok(())
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// The first `n` bytes of a file (for a look at a file too large to read).
pub fn head(path: &Path, n: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(n);
    if let Ok(file) = File::open(path) {
        let _ = file.take(n as u64).read_to_end(&mut bytes);
    }
    bytes
}

/// What reading a pipeline file gave.
pub enum Contents {
    Bytes(Vec<u8>),
    /// More than the limit: reading stopped one byte past it.
    TooLarge,
}

/// How long a pipe, FIFO or device may take to deliver a pipeline: a FIFO
/// nobody writes to would otherwise hold `validate` (and CI) forever.
const STREAM_DEADLINE: Duration = Duration::from_secs(30);

/// Reads a pipeline file, never more than the size limit plus one byte, so that
/// `/dev/zero` or a huge file costs no more than a file at the limit. A FIFO is
/// opened without waiting for a writer and read under [`STREAM_DEADLINE`].
pub fn read(path: &Path) -> Result<Contents, String> {
    let limit = slipway_core::yaml::Limits::default().max_bytes;
    let fail = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    // O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if meta.is_dir() {
        return Err(format!("{} is a directory; name a pipeline file, or a folder to read its *.yaml files", path.display()));
    }
    if meta.is_file() && meta.len() > limit as u64 {
        return Ok(Contents::TooLarge);
    }
    let mut bytes = Vec::with_capacity(if meta.is_file() { meta.len() as usize } else { 64 << 10 });
    if meta.is_file() {
        // a regular file never blocks; it may still grow while it is read
        (&file).take(limit as u64 + 1).read_to_end(&mut bytes).map_err(fail)?;
    } else {
        read_stream(&file, limit + 1, &mut bytes).map_err(|e| match e.kind() {
            ErrorKind::TimedOut => format!(
                "{} delivered no end of file within {} s (a FIFO without a writer?); pass a regular file",
                path.display(),
                STREAM_DEADLINE.as_secs()
            ),
            _ => fail(e),
        })?;
    }
    Ok(if bytes.len() > limit { Contents::TooLarge } else { Contents::Bytes(bytes) })
}

/// Reads a non-blocking pipe, FIFO or device until end of file, `max` bytes, or
/// the deadline, waiting in `poll` rather than spinning.
fn read_stream(mut file: &File, max: usize, bytes: &mut Vec<u8>) -> std::io::Result<()> {
    let deadline = Instant::now() + STREAM_DEADLINE;
    let mut chunk = vec![0u8; 64 << 10];
    while bytes.len() < max {
        let want = chunk.len().min(max - bytes.len());
        match file.read(&mut chunk[..want]) {
            Ok(0) => return Ok(()),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ErrorKind::TimedOut.into());
                }
                let mut fds = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
                // SAFETY: one valid pollfd for the duration of the call.
                if unsafe { libc::poll(&mut fds, 1, ms) } < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
