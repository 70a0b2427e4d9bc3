//! The one store: the SQL of each aggregate written once, in its own file,
//! run on SQLite or PostgreSQL through [`crate::store::sql`].

mod access;
mod audit;
mod care;
mod content_dir;
mod directory;
mod dmp;
mod documents;
mod duplicates;
mod file;
mod jobs;
mod merges;
mod mss;
mod procedure;
pub(crate) mod rows;
mod search;
mod search_memory;
mod sessions;
mod structures;
mod usagers;
mod vigilance;

use async_trait::async_trait;

use search_memory::SearchMemory;
pub use search_memory::SearchMemorySettings;

use super::group_commit::AuditWriter;
use super::sql::Db;
use super::{Backend, DuplicateStore, Store, StoreError, StoreResult, postgres, sqlite};

/// The store on either database, chosen by the URL it is opened with.
pub struct SqlStore {
    db: Db,
    /// Appends to the audit journal in batches (the chain head is a
    /// serialisation point; one commit per batch, not per entry).
    audit: AuditWriter,
    /// Where documents' bytes are kept when not in the database
    /// (PostgreSQL only, `ESCALE_DOCUMENTS_DIR`).
    documents_dir: Option<std::path::PathBuf>,
    /// Big structures' search keys, held in memory.
    search_memory: SearchMemory,
}

impl SqlStore {
    /// Opens the database named by the URL (`postgres:`/`postgresql:`, else SQLite).
    pub async fn connect(url: &str) -> StoreResult<SqlStore> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            postgres::connect(url).await?
        } else {
            sqlite::connect(url).await?
        };
        let audit = AuditWriter::spawn(db.clone(), audit::write_batch);
        Ok(SqlStore {
            db,
            audit,
            documents_dir: None,
            search_memory: SearchMemory::default(),
        })
    }

    /// Keeps the documents' bytes in this directory instead of the database
    /// (PostgreSQL only: the configuration refuses it with SQLite).
    pub fn with_documents_dir(mut self, dir: Option<std::path::PathBuf>) -> SqlStore {
        self.documents_dir = dir;
        self
    }

    /// What reception's search may keep in memory (see `search_memory`).
    pub fn with_search_memory(mut self, settings: SearchMemorySettings) -> SqlStore {
        self.search_memory = SearchMemory::new(settings);
        self
    }

    /// How many of the structure's files reception's search holds in
    /// memory (`None`: none, the database answers).
    pub fn held_in_memory(&self, structure: uuid::Uuid) -> Option<usize> {
        self.search_memory.held(structure)
    }

    /// Closes the pool: later queries fail (a database gone away, in tests).
    pub async fn close(&self) {
        self.db.close().await;
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.db.backend()
    }

    async fn migrate(&self) -> StoreResult<()> {
        match &self.db {
            Db::Sqlite(pool, ..) => sqlite::migrate(pool).await?,
            Db::Postgres(pool, _) => postgres::migrate(pool).await?,
        }
        self.backfill_identity_keys().await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.query("SELECT 1").execute().await?;
        Ok(())
    }

    async fn settle_after_bulk_load(&self) -> StoreResult<()> {
        if self.db.backend() == Backend::Sqlite {
            // Each transaction added a segment to the FTS5 index; a search
            // reads every segment of its trigrams.
            self.db
                .query("INSERT INTO usager_search (usager_search) VALUES ('optimize')")
                .execute()
                .await?;
        }
        let settle = match self.db.backend() {
            // Each file written bumps its structure's generation
            // (`search::index_new`), leaving a dead version of that row:
            // reading through them slowed every search until a vacuum
            // (autovacuum may be off on a server).
            Backend::Postgres => "VACUUM (ANALYZE)",
            Backend::Sqlite => "ANALYZE",
        };
        self.db.query(settle).execute().await?;
        Ok(())
    }
}

/// `NotFound` when a statement that must change a row changed none (the row
/// is not the tenant's, or not in the state the statement expects).
fn found(changed: u64) -> StoreResult<()> {
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
