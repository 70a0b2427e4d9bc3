-- Identity vigilance (RNIV): per-file vigilance state, INSi call log,
-- anonymity lifting, and the structure's identity procedure settings.
-- Same tables as the SQLite schema, with PostgreSQL types.

ALTER TABLE usagers ADD COLUMN identity_status text NOT NULL DEFAULT 'PROV';
ALTER TABLE usagers ADD COLUMN vigilance text NOT NULL DEFAULT '{}';

ALTER TABLE structures ADD COLUMN qualifier_roles text NOT NULL
    DEFAULT 'accueil,infirmier,medecin,referent_identitovigilance';
ALTER TABLE structures ADD COLUMN identity_documents text NOT NULL DEFAULT 'PA,CN,CS,eCN';
ALTER TABLE structures ADD COLUMN insi_certificate text;
ALTER TABLE structures ADD COLUMN insi_key text;
ALTER TABLE structures ADD COLUMN insi_idam text;

CREATE TABLE insi_calls (
    id            uuid PRIMARY KEY,
    structure_id  uuid NOT NULL REFERENCES structures(id),
    usager_id     uuid NOT NULL REFERENCES usagers(id),
    at            timestamptz NOT NULL,
    operator_id   uuid NOT NULL REFERENCES professionals(id),
    operator      text NOT NULL,
    step          text NOT NULL,
    outcome       text NOT NULL,
    duration_ms   bigint NOT NULL,
    request_xml   text NOT NULL,
    response_xml  text
);
CREATE INDEX insi_calls_usager ON insi_calls(structure_id, usager_id, at);

CREATE TABLE anonymity_lifts (
    anonymous_id  uuid PRIMARY KEY REFERENCES usagers(id),
    structure_id  uuid NOT NULL REFERENCES structures(id),
    requested_on  date NOT NULL,
    recorded_by   text NOT NULL,
    real_id       uuid REFERENCES usagers(id),
    decided_by    text,
    decided_at    timestamptz
);
CREATE INDEX anonymity_lifts_real ON anonymity_lifts(structure_id, real_id);
