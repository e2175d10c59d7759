//! What Slipway writes under its state folder is for this user only: journals
//! hold outputs and command output, lock records name who deploys. Folders it
//! creates are 0700 and files 0600, whatever the umask.

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// `fs::create_dir_all`, each folder it creates 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// `OpenOptions` whose files, when created, are 0600.
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}
