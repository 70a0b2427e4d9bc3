//! The data directory and the files Escale writes in it (the SQLite
//! database, the instance id, the sandbox's keys): readable by Escale's own
//! user only, from the moment they are created (a umask of 022 would leave
//! health data readable by every local account until someone noticed).

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

/// The directory (and its missing parents), `0700` where created; an
/// existing one is left as its owner set it.
pub fn create(dir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)
}

/// Creates the file empty and `0600` if it does not exist yet (SQLite then
/// opens it, and gives its `-wal` and `-shm` files the same permissions).
pub fn create_private_file(path: &Path) -> io::Result<()> {
    match private(OpenOptions::new().write(true).create_new(true)).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes the file, created `0600` (an existing file keeps its permissions).
pub fn write_private(path: &Path, content: &[u8]) -> io::Result<()> {
    private(OpenOptions::new().write(true).create(true).truncate(true))
        .open(path)?
        .write_all(content)
}

fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    options.mode(0o600);
    options
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_for_escale_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("escale.sqlite");
        create_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        create_private_file(&db).unwrap();
        let id = dir.join("instance-id");
        write_private(&id, b"x").unwrap();
        assert_eq!(mode(&id), 0o600);
        assert_eq!(std::fs::read(&id).unwrap(), b"x");
    }
}
