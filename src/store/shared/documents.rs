//! Documents of a file (issue 13): each version a row, its bytes apart; and
//! what the user was told about their DMP.
//! Every read is bound to the classes the tenant may read, in the query
//! itself (as notes); every write goes through the file's row, so nothing is
//! written unless the file is the tenant's and not merged.

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use super::audit::commit_journaled;
use super::content_dir;
use super::file::class_placeholders;
use super::{SqlStore, rows};
use crate::domain::dmp::{ConsentEvent, ConsentRecord};
use crate::domain::tenant::Tenant;
use crate::store::quality::JournalOf;
use crate::store::sql::{Exec, Query, Row};
use crate::store::{Document, DocumentStore, Journal, NewDocument, StoreError, StoreResult};

/// Documents with their author's name: `$1` structure, `$2` file (the file
/// page then binds the readable classes from `$3`, see [`readable`]).
pub(super) const DOCUMENTS_SQL: &str = "SELECT x.id, x.usager_id, x.set_id, x.version,
         x.type_code, x.title, x.document_date, x.confidentiality, x.author_id, x.media_type,
         x.size_bytes, x.sha256, x.created_at, x.superseded_at, p.first_name, p.last_name
     FROM documents x JOIN professionals p ON p.id = x.author_id
     WHERE x.structure_id = $1 AND x.usager_id = $2";

/// ` AND x.confidentiality IN ($3, …)` for `classes` readable classes.
pub(super) fn readable(classes: usize) -> String {
    format!(
        " AND x.confidentiality IN ({})",
        class_placeholders(classes)
    )
}

pub(super) fn document(r: &Row) -> StoreResult<Document> {
    Ok(Document {
        id: r.get("id")?,
        usager_id: r.get("usager_id")?,
        set_id: r.get("set_id")?,
        version: r.get("version")?,
        type_code: r.get("type_code")?,
        title: r.get("title")?,
        date: r.get("document_date")?,
        confidentiality: rows::parse_code(&r.get::<String>("confidentiality")?)?,
        author_id: r.get("author_id")?,
        author_name: rows::full_name(r)?,
        media_type: r.get("media_type")?,
        size_bytes: r.get("size_bytes")?,
        sha256: r.get("sha256")?,
        created_at: r.get("created_at")?,
        superseded_at: r.get("superseded_at")?,
    })
}

/// The file's documents the tenant may read (the classes bound in the
/// statement, as for notes); the caller appends a condition or an order.
fn readable_documents<'c>(on: impl Exec<'c>, t: &Tenant, usager_id: Uuid) -> Query<'c> {
    on.query(format!("{DOCUMENTS_SQL} AND x.confidentiality IN ("))
        .bind(t.structure_id)
        .bind(usager_id)
        .push_list(t.readable_classes().into_iter().map(|c| c.code()))
        .push(")")
}

/// One readable document of the file, by id.
async fn one<'c>(
    on: impl Exec<'c>,
    t: &Tenant,
    usager_id: Uuid,
    id: Uuid,
) -> StoreResult<Option<Document>> {
    readable_documents(on, t, usager_id)
        .push(" AND x.id = ")
        .push_bind(id)
        .optional(document)
        .await
}

/// The file's DMP records with their author's name: `$1` structure, `$2` file.
pub(super) const DMP_CONSENT_SQL: &str = "SELECT x.kind, x.at, p.first_name, p.last_name
     FROM dmp_consent_events x JOIN professionals p ON p.id = x.author_id
     WHERE x.structure_id = $1 AND x.usager_id = $2";

pub(super) fn consent_record(r: &Row) -> StoreResult<ConsentRecord> {
    let kind: String = r.get("kind")?;
    Ok(ConsentRecord {
        event: rows::parse_code_with(&kind, ConsentEvent::from_code)?,
        at: r.get("at")?,
        by: rows::full_name(r)?,
    })
}

#[async_trait]
impl DocumentStore for SqlStore {
    async fn add_document(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        new: &NewDocument<'_>,
        replaces: Option<Uuid>,
        journal: JournalOf<'_, Document>,
    ) -> StoreResult<Document> {
        let f = new.fields;
        if !t.may_write(f.confidentiality) {
            return Err(StoreError::Forbidden);
        }
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        let (set_id, version) = match replaces {
            None => (Uuid::new_v4(), 1),
            Some(previous) => {
                // The version replaced must be one the writer reads, of this
                // file, and still the latest: two people replacing the same
                // version at once make one new version, not two.
                let Some(old) = one(&mut tx, t, usager_id, previous).await? else {
                    return Err(StoreError::NotFound);
                };
                let marked = tx
                    .query(
                        "UPDATE documents SET superseded_at = $1
                         WHERE id = $2 AND structure_id = $3 AND superseded_at IS NULL",
                    )
                    .bind(now)
                    .bind(previous)
                    .bind(t.structure_id)
                    .execute()
                    .await?;
                if marked != 1 {
                    return Err(StoreError::Conflict(
                        "une version plus récente de ce document existe déjà".into(),
                    ));
                }
                (old.set_id, old.version + 1)
            }
        };
        let id = Uuid::new_v4();
        let inserted = tx
            .query(
                "INSERT INTO documents (id, structure_id, usager_id, set_id, version, type_code,
                     title, document_date, confidentiality, author_id, media_type, size_bytes,
                     sha256, created_at)
                 SELECT $1, u.structure_id, u.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
                 FROM usagers u
                 WHERE u.id = $13 AND u.structure_id = $14 AND u.merged_into IS NULL",
            )
            .bind(id)
            .bind(set_id)
            .bind(version)
            .bind(f.type_code.code.as_str())
            .bind(f.title.as_str())
            .bind(f.date)
            .bind(f.confidentiality.code())
            .bind(t.professional_id)
            .bind(new.media_type)
            .bind(new.content.len() as i64)
            .bind(crate::domain::document::sha256_hex(new.content))
            .bind(now)
            .bind(usager_id)
            .bind(t.structure_id)
            .execute()
            .await?;
        if inserted != 1 {
            return Err(StoreError::NotFound);
        }
        match &self.documents_dir {
            // Written (and synced) before the row commits: a row never
            // names bytes that are not there. A failed commit leaves a file
            // no row names, harmless and reused by the same bytes.
            Some(dir) => content_dir::write(dir, new.content).await?,
            None => {
                tx.query("INSERT INTO document_contents (document_id, content) VALUES ($1, $2)")
                    .bind(id)
                    .bind(new.content)
                    .execute()
                    .await?;
            }
        }
        let doc = one(&mut tx, t, usager_id, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        commit_journaled(tx, t, &journal(&doc)).await?;
        Ok(doc)
    }

    async fn documents(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Document>> {
        readable_documents(&self.db, t, usager_id)
            .push(" ORDER BY x.document_date DESC, x.set_id, x.version DESC")
            .all(document)
            .await
    }

    async fn document_content(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<(Document, Vec<u8>)>> {
        let Some(doc) = one(&self.db, t, usager_id, id).await? else {
            return Ok(None);
        };
        // In the database, or else in the directory (a store may have been
        // given one after documents were kept in the database).
        let stored: Option<Vec<u8>> = self
            .db
            .query("SELECT content FROM document_contents WHERE document_id = $1")
            .bind(doc.id)
            .scalar_optional()
            .await?;
        let content = match (stored, &self.documents_dir) {
            (Some(bytes), _) => bytes,
            (None, Some(dir)) => content_dir::read(dir, &doc.sha256).await?,
            (None, None) => {
                return Err(StoreError::Content(
                    "aucun contenu en base et aucun répertoire de documents configuré (ESCALE_DOCUMENTS_DIR)".into(),
                ));
            }
        };
        Ok(Some((doc, content)))
    }

    async fn record_dmp_consent(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        event: ConsentEvent,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let inserted = tx
            .query(
                "INSERT INTO dmp_consent_events (id, structure_id, usager_id, kind, at, author_id)
                 SELECT $1, u.structure_id, u.id, $2, $3, $4 FROM usagers u
                 WHERE u.id = $5 AND u.structure_id = $6 AND u.merged_into IS NULL",
            )
            .bind(Uuid::new_v4())
            .bind(event.code())
            .bind(Utc::now())
            .bind(t.professional_id)
            .bind(usager_id)
            .bind(t.structure_id)
            .execute()
            .await?;
        if inserted != 1 {
            return Err(StoreError::NotFound);
        }
        commit_journaled(tx, t, journal).await
    }

    async fn dmp_consent(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<ConsentRecord>> {
        self.db
            .query(format!("{DMP_CONSENT_SQL} ORDER BY x.at"))
            .bind(t.structure_id)
            .bind(usager_id)
            .all(consent_record)
            .await
    }
}
