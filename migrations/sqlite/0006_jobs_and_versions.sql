-- Durable jobs (the outbox the DMP and MSSanté deposits will reuse): what is
-- left to do, attempts with backoff, a lease taken by the runner that holds
-- the job (a job whose runner died is taken up again when its lease
-- expires), a stable idempotency key per structure and kind (enqueued once),
-- and the last error in French.
ALTER TABLE jobs ADD COLUMN payload TEXT NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 5;
ALTER TABLE jobs ADD COLUMN run_after TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
ALTER TABLE jobs ADD COLUMN leased_by TEXT;
ALTER TABLE jobs ADD COLUMN last_error TEXT;
ALTER TABLE jobs ADD COLUMN actor_id BLOB;
ALTER TABLE jobs ADD COLUMN idempotency_key TEXT NOT NULL DEFAULT '';
UPDATE jobs SET idempotency_key = 'ancien-' || hex(id), run_after = started_at;
-- Jobs of the previous version ran in memory: one still « en cours » died with its process.
UPDATE jobs SET state = 'echec', finished_at = started_at,
    last_error = 'interrompu par le redémarrage du serveur (version précédente) : relancez-le'
    WHERE state = 'en_cours';
CREATE UNIQUE INDEX jobs_idempotency ON jobs(structure_id, kind, idempotency_key);
CREATE INDEX jobs_ready ON jobs(state, run_after);

-- Optimistic concurrency on a file's identity and vigilance: every write
-- checks the version it read and bumps it (no lost update).
ALTER TABLE usagers ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
