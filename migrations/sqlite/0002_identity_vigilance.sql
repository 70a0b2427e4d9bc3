-- Identity vigilance (RNIV): per-file vigilance state, INSi call log,
-- anonymity lifting, and the structure's identity procedure settings.

-- Status (derived, for lists and filters) and the full state as JSON
-- (attributes, INS + history, document check), rebuilt through the domain.
ALTER TABLE usagers ADD COLUMN identity_status TEXT NOT NULL DEFAULT 'PROV';
ALTER TABLE usagers ADD COLUMN vigilance TEXT NOT NULL DEFAULT '{}';

-- Who may query INSi and record identity documents, and which documents count
-- as high-trust (Guide INS EXI ID 19: configurable by the structure).
ALTER TABLE structures ADD COLUMN qualifier_roles TEXT NOT NULL
    DEFAULT 'accueil,infirmier,medecin,referent_identitovigilance';
ALTER TABLE structures ADD COLUMN identity_documents TEXT NOT NULL DEFAULT 'PA,CN,CS,eCN';
-- The structure's INSi software certificate (PEM pair or PKCS#12) and the
-- CNDA authorisation number (IDAM) of the software for this structure.
ALTER TABLE structures ADD COLUMN insi_certificate TEXT;
ALTER TABLE structures ADD COLUMN insi_key TEXT;
ALTER TABLE structures ADD COLUMN insi_idam TEXT;

-- Every INSi call, with the raw XML (Guide INS EXI REC 07 traceability).
CREATE TABLE insi_calls (
    id            BLOB PRIMARY KEY,
    structure_id  BLOB NOT NULL REFERENCES structures(id),
    usager_id     BLOB NOT NULL REFERENCES usagers(id),
    at            TEXT NOT NULL,
    operator_id   BLOB NOT NULL REFERENCES professionals(id),
    operator      TEXT NOT NULL,
    step          TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL,
    request_xml   TEXT NOT NULL,
    response_xml  TEXT
);
CREATE INDEX insi_calls_usager ON insi_calls(structure_id, usager_id, at);

-- Lifting anonymity: the user's request, then the audited decision linking
-- the anonymous file to a real identity (the pseudonym is never promoted).
CREATE TABLE anonymity_lifts (
    anonymous_id  BLOB PRIMARY KEY REFERENCES usagers(id),
    structure_id  BLOB NOT NULL REFERENCES structures(id),
    requested_on  TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    real_id       BLOB REFERENCES usagers(id),
    decided_by    TEXT,
    decided_at    TEXT
);
CREATE INDEX anonymity_lifts_real ON anonymity_lifts(structure_id, real_id);
