//! Care: episodes, activities and notes of a file. Every insert goes through
//! the file's row (`INSERT … SELECT … FROM usagers`), so nothing is written
//! unless the file is the tenant's.

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use super::audit::commit_journaled;
use super::{SqlStore, found, rows};
use crate::domain::tenant::Tenant;
use crate::store::sql::{Exec, Row, Tx};
use crate::store::{
    Activity, CareStore, Episode, Journal, NewActivity, NewCare, NewEpisode, NewNote, Note,
    StoreError, StoreResult,
};

// The lists of a file: `$1` structure, `$2` user file; `$3` an id (`<list> AND x.id = $3`).

/// Episodes with their referent's name.
pub(super) const EPISODES_SQL: &str = "SELECT x.*, p.first_name, p.last_name FROM episodes x
     LEFT JOIN professionals p ON p.id = x.referent_id
     WHERE x.structure_id = $1 AND x.usager_id = $2";

/// Activities with their participants' names, sorted, joined with `|`.
pub(super) const ACTIVITIES_SQL: &str = r#"SELECT x.*, (
         SELECT string_agg(p.first_name || ' ' || p.last_name, '|'
                           ORDER BY (p.first_name || ' ' || p.last_name) COLLATE "C")
         FROM activity_participants ap JOIN professionals p ON p.id = ap.professional_id
         WHERE ap.activity_id = x.id) AS participants
     FROM activities x WHERE x.structure_id = $1 AND x.usager_id = $2"#;

/// Notes with their author's name.
pub(super) const NOTES_SQL: &str = "SELECT x.*, p.first_name, p.last_name FROM notes x
     JOIN professionals p ON p.id = x.author_id
     WHERE x.structure_id = $1 AND x.usager_id = $2";

/// One row of a file's list, by id.
async fn one<'c, T>(
    on: impl Exec<'c>,
    list: &str,
    read: impl Fn(&Row) -> StoreResult<T>,
    t: &Tenant,
    usager_id: Uuid,
    id: Uuid,
) -> StoreResult<T> {
    on.query(format!("{list} AND x.id = $3"))
        .bind(t.structure_id)
        .bind(usager_id)
        .bind(id)
        .optional(read)
        .await?
        .ok_or(StoreError::NotFound)
}

pub(super) fn episode(r: &Row) -> StoreResult<Episode> {
    let first: Option<String> = r.get("first_name")?;
    let last: Option<String> = r.get("last_name")?;
    Ok(Episode {
        id: r.get("id")?,
        usager_id: r.get("usager_id")?,
        kind: rows::parse_code(&r.get::<String>("kind")?)?,
        start_date: r.get("start_date")?,
        end_date: r.get("end_date")?,
        referent_id: r.get("referent_id")?,
        referent_name: first.zip(last).map(|(f, l)| format!("{f} {l}")),
    })
}

pub(super) fn activity(r: &Row) -> StoreResult<Activity> {
    Ok(Activity {
        id: r.get("id")?,
        usager_id: r.get("usager_id")?,
        kind: rows::parse_code(&r.get::<String>("kind")?)?,
        date: r.get("date")?,
        duration_minutes: r.get::<Option<i32>>("duration_minutes")?.map(|d| d as u32),
        participants: rows::split_names(r.get("participants")?),
        comment: r.get("comment")?,
        created_by: r.get("created_by")?,
    })
}

pub(super) fn note(r: &Row) -> StoreResult<Note> {
    Ok(Note {
        id: r.get("id")?,
        usager_id: r.get("usager_id")?,
        confidentiality: rows::parse_code(&r.get::<String>("confidentiality")?)?,
        body: r.get("body")?,
        author_id: r.get("author_id")?,
        author_name: rows::full_name(r)?,
        created_at: r.get("created_at")?,
    })
}

#[async_trait]
impl CareStore for SqlStore {
    async fn add_episode(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        e: &NewEpisode,
        journal: Journal<'_>,
    ) -> StoreResult<Episode> {
        let id = Uuid::new_v4();
        let mut tx = self.db.begin_write().await?;
        insert_episode(&mut tx, t, usager_id, id, e).await?;
        let episode = one(&mut tx, EPISODES_SQL, episode, t, usager_id, id).await?;
        commit_journaled(tx, t, journal).await?;
        Ok(episode)
    }

    async fn close_episode(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        episode_id: Uuid,
        end: NaiveDate,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let closed = tx
            .query(
                "UPDATE episodes SET end_date = $1
                 WHERE id = $2 AND usager_id = $3 AND structure_id = $4 AND start_date <= $1",
            )
            .bind(end)
            .bind(episode_id)
            .bind(usager_id)
            .bind(t.structure_id)
            .execute()
            .await?;
        if closed == 0 {
            return Err(StoreError::NotFound);
        }
        commit_journaled(tx, t, journal).await
    }

    async fn episodes(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Episode>> {
        self.db
            .query(format!(
                "{EPISODES_SQL} ORDER BY x.start_date DESC, x.created_at DESC"
            ))
            .bind(t.structure_id)
            .bind(usager_id)
            .all(episode)
            .await
    }

    async fn add_activity(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        a: &NewActivity,
        journal: Journal<'_>,
    ) -> StoreResult<Activity> {
        let id = Uuid::new_v4();
        let mut tx = self.db.begin_write().await?;
        insert_activity(&mut tx, t, usager_id, id, a).await?;
        let activity = one(&mut tx, ACTIVITIES_SQL, activity, t, usager_id, id).await?;
        commit_journaled(tx, t, journal).await?;
        Ok(activity)
    }

    async fn activities(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Activity>> {
        self.db
            .query(format!(
                "{ACTIVITIES_SQL} ORDER BY x.date DESC, x.created_at DESC"
            ))
            .bind(t.structure_id)
            .bind(usager_id)
            .all(activity)
            .await
    }

    async fn add_note(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        n: &NewNote,
        journal: Journal<'_>,
    ) -> StoreResult<Note> {
        let id = Uuid::new_v4();
        let mut tx = self.db.begin_write().await?;
        insert_note(&mut tx, t, usager_id, id, n).await?;
        let note = one(&mut tx, NOTES_SQL, note, t, usager_id, id).await?;
        commit_journaled(tx, t, journal).await?;
        Ok(note)
    }

    async fn add_care(
        &self,
        t: &Tenant,
        rows: &[NewCare],
        journal: Journal<'_>,
    ) -> StoreResult<u64> {
        let mut tx = self.db.begin_write().await?;
        for row in rows {
            let id = Uuid::new_v4();
            match row {
                NewCare::Episode(u, e) => insert_episode(&mut tx, t, *u, id, e).await?,
                NewCare::Activity(u, a) => insert_activity(&mut tx, t, *u, id, a).await?,
                NewCare::Note(u, n) => insert_note(&mut tx, t, *u, id, n).await?,
            }
        }
        commit_journaled(tx, t, journal).await?;
        Ok(rows.len() as u64)
    }

    async fn notes(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Note>> {
        // The classes the tenant may read are bound into the query itself.
        let classes = t.readable_classes();
        if classes.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .query(format!("{NOTES_SQL} AND x.confidentiality IN ("))
            .bind(t.structure_id)
            .bind(usager_id)
            .push_list(classes.iter().map(|c| c.code()))
            .push(") ORDER BY x.created_at DESC")
            .all(note)
            .await
    }
}

async fn insert_episode(
    tx: &mut Tx,
    t: &Tenant,
    usager_id: Uuid,
    id: Uuid,
    e: &NewEpisode,
) -> StoreResult<()> {
    // Nothing is inserted unless the referent (if any) holds a role in
    // the tenant's structure.
    tx.query(
        "INSERT INTO episodes (id, structure_id, usager_id, kind, start_date, end_date,
                 referent_id, created_at)
             SELECT $1, u.structure_id, u.id, $2, $3, $4, $5, $6 FROM usagers u
             WHERE u.id = $7 AND u.structure_id = $8
               AND ($5 IS NULL OR EXISTS (SELECT 1 FROM memberships m
                    WHERE m.structure_id = $8 AND m.professional_id = $5))",
    )
    .bind(id)
    .bind(e.kind.code())
    .bind(e.start_date)
    .bind(e.end_date)
    .bind(e.referent_id)
    .bind(Utc::now())
    .bind(usager_id)
    .bind(t.structure_id)
    .execute()
    .await
    .and_then(found)?;
    Ok(())
}

async fn insert_activity(
    tx: &mut Tx,
    t: &Tenant,
    usager_id: Uuid,
    id: Uuid,
    a: &NewActivity,
) -> StoreResult<()> {
    tx.query(
        "INSERT INTO activities (id, structure_id, usager_id, kind, date, duration_minutes,
             comment, created_by, created_at)
         SELECT $1, u.structure_id, u.id, $2, $3, $4, $5, $6, $7 FROM usagers u
         WHERE u.id = $8 AND u.structure_id = $9",
    )
    .bind(id)
    .bind(a.kind.code())
    .bind(a.date)
    .bind(
        a.duration_minutes
            .map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
    )
    .bind(&a.comment)
    .bind(t.professional_id)
    .bind(Utc::now())
    .bind(usager_id)
    .bind(t.structure_id)
    .execute()
    .await
    .and_then(found)?;
    if !a.participant_ids.is_empty() {
        // Only members of the tenant's structure can be participants; others are dropped.
        tx.query(
            "INSERT INTO activity_participants (activity_id, professional_id)
             SELECT DISTINCT $1, m.professional_id FROM memberships m
             WHERE m.structure_id = $2 AND m.professional_id IN (",
        )
        .bind(id)
        .bind(t.structure_id)
        .push_list(&a.participant_ids)
        .push(") ON CONFLICT DO NOTHING")
        .execute()
        .await?;
    }
    Ok(())
}

/// `Forbidden` when the tenant's roles may not write this class.
async fn insert_note(
    tx: &mut Tx,
    t: &Tenant,
    usager_id: Uuid,
    id: Uuid,
    n: &NewNote,
) -> StoreResult<()> {
    if !t.may_write(n.confidentiality) {
        return Err(StoreError::Forbidden);
    }
    tx.query(
        "INSERT INTO notes (id, structure_id, usager_id, confidentiality, body, author_id,
                 created_at)
             SELECT $1, u.structure_id, u.id, $2, $3, $4, $5 FROM usagers u
             WHERE u.id = $6 AND u.structure_id = $7",
    )
    .bind(id)
    .bind(n.confidentiality.code())
    .bind(&n.body)
    .bind(t.professional_id)
    .bind(Utc::now())
    .bind(usager_id)
    .bind(t.structure_id)
    .execute()
    .await
    .and_then(found)?;
    Ok(())
}
