-- Pro Santé Connect logins, professionals' PSC profile, invitations of
-- professionals awaiting their RPPS, and the instance administrator's local
-- credential (break-glass).

-- Between the redirect to PSC and the callback: state, nonce and PKCE
-- verifier stay here, bound to the browser (hash of a cookie). Single use.
CREATE TABLE psc_logins (
    state_hash    TEXT PRIMARY KEY,
    browser_hash  TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

-- After PSC, a professional of several structures chooses one. Single use.
CREATE TABLE login_choices (
    token_hash      TEXT PRIMARY KEY,
    browser_hash    TEXT NOT NULL,
    professional_id BLOB NOT NULL REFERENCES professionals(id),
    auth_label      TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

-- What PSC said at the last login (professions, workplaces), never tokens.
CREATE TABLE professional_profiles (
    professional_id BLOB PRIMARY KEY REFERENCES professionals(id),
    profile_json    TEXT NOT NULL,
    auth_mode       TEXT NOT NULL,
    acr             TEXT,
    last_login_at   TEXT NOT NULL
);

-- A professional pre-registered by a director before their RPPS exists:
-- the code ties their national id at their first PSC login.
CREATE TABLE invitations (
    code_hash       TEXT PRIMARY KEY,
    professional_id BLOB NOT NULL REFERENCES professionals(id),
    structure_id    BLOB NOT NULL REFERENCES structures(id),
    created_by      BLOB NOT NULL REFERENCES professionals(id),
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT
);
CREATE INDEX invitations_professional ON invitations(professional_id);

CREATE TABLE admin_credentials (
    professional_id BLOB PRIMARY KEY REFERENCES professionals(id),
    login           TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    totp_secret     TEXT NOT NULL,
    last_totp_step  INTEGER NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0,
    failures_since  TEXT,
    locked_until    TEXT,
    created_at      TEXT NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash      TEXT PRIMARY KEY,
    professional_id BLOB NOT NULL REFERENCES professionals(id),
    csrf_token      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
);

-- A structure's address book of external professionals and organisations
-- (filled from the Annuaire), with their MSSanté addresses.
CREATE TABLE correspondents (
    id              BLOB PRIMARY KEY,
    structure_id    BLOB NOT NULL REFERENCES structures(id),
    kind            TEXT NOT NULL,
    identifier      TEXT NOT NULL,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    mailboxes_json  TEXT NOT NULL,
    note            TEXT NOT NULL,
    added_by        BLOB NOT NULL REFERENCES professionals(id),
    added_at        TEXT NOT NULL,
    UNIQUE (structure_id, kind, identifier)
);
