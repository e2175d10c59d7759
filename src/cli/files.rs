//! Turning path arguments into pipeline files.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
