//! Documents' bytes in a directory instead of the database (PostgreSQL,
//! `ESCALE_DOCUMENTS_DIR`): one file per content, named by its SHA-256
//! (`ab/abcdef…`), written to a temporary name, synced, then renamed, so a
//! file is whole or absent; read back only if its hash is still the one the
//! database holds.

use std::path::{Path, PathBuf};

use crate::domain::document::sha256_hex;
use crate::store::{StoreError, StoreResult};

fn path_of(dir: &Path, sha256: &str) -> StoreResult<PathBuf> {
    // The name comes from the database: only a hash is ever a file name.
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::Content(format!(
            "empreinte invalide « {sha256} »"
        )));
    }
    Ok(dir.join(&sha256[..2]).join(sha256))
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Content(format!("{what} {} : {e}", path.display()))
}

pub(super) async fn write(dir: &Path, bytes: &[u8]) -> StoreResult<()> {
    let path = path_of(dir, &sha256_hex(bytes))?;
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(());
    }
    let parent = path.parent().expect("a hash has a directory");
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|e| io("création du répertoire", parent, e))?;
    let temporary = parent.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    let bytes = bytes.to_vec();
    let (tmp, target) = (temporary.clone(), path.clone());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })
    .await
    .map_err(|e| StoreError::Content(e.to_string()))?
    .map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        io("écriture de", &path, e)
    })
}

pub(super) async fn read(dir: &Path, sha256: &str) -> StoreResult<Vec<u8>> {
    let path = path_of(dir, sha256)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| io("lecture de", &path, e))?;
    if sha256_hex(&bytes) != sha256 {
        return Err(StoreError::Content(format!(
            "{} a été modifié depuis son dépôt (empreinte différente) : restaurez-le depuis la sauvegarde",
            path.display()
        )));
    }
    Ok(bytes)
}
