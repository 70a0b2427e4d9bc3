//! The team of a structure, as the file page shows it (referent choices,
//! names), kept in memory for a few seconds: it is read on every file opened
//! and changes a few times a year. A change made through this process
//! forgets it at once; one made elsewhere (another process of a regional
//! instance, a login that redeems an invitation) shows within `TTL`.
//! Access rights never come from here: they are the session's tenant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::domain::tenant::Tenant;
use crate::store::{Store, StoreResult, TeamMember};

const TTL: Duration = Duration::from_secs(10);

/// Structure → (read at, its team).
type Teams = HashMap<Uuid, (Instant, Arc<Vec<TeamMember>>)>;

#[derive(Default)]
pub struct TeamCache {
    entries: Mutex<Teams>,
}

impl TeamCache {
    /// The tenant's structure's team, from memory when it is fresh.
    pub async fn team(&self, store: &dyn Store, t: &Tenant) -> StoreResult<Arc<Vec<TeamMember>>> {
        if let Some((at, team)) = self.lock().get(&t.structure_id)
            && at.elapsed() < TTL
        {
            return Ok(team.clone());
        }
        let team = Arc::new(store.team(t).await?);
        self.lock()
            .insert(t.structure_id, (Instant::now(), team.clone()));
        Ok(team)
    }

    /// After a change of the structure's team.
    pub fn forget(&self, structure_id: Uuid) {
        self.lock().remove(&structure_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Teams> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
