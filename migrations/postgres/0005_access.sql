-- Pro Santé Connect logins, professionals' PSC profile, invitations of
-- professionals awaiting their RPPS, and the instance administrator's local
-- credential (break-glass).

-- Between the redirect to PSC and the callback: state, nonce and PKCE
-- verifier stay here, bound to the browser (hash of a cookie). Single use.
CREATE TABLE psc_logins (
    state_hash    text PRIMARY KEY,
    browser_hash  text NOT NULL,
    nonce         text NOT NULL,
    pkce_verifier text NOT NULL,
    created_at    timestamptz NOT NULL
);

-- After PSC, a professional of several structures chooses one. Single use.
CREATE TABLE login_choices (
    token_hash      text PRIMARY KEY,
    browser_hash    text NOT NULL,
    professional_id uuid NOT NULL REFERENCES professionals(id),
    auth_label      text NOT NULL,
    created_at      timestamptz NOT NULL
);

-- What PSC said at the last login (professions, workplaces), never tokens.
CREATE TABLE professional_profiles (
    professional_id uuid PRIMARY KEY REFERENCES professionals(id),
    profile_json    text NOT NULL,
    auth_mode       text NOT NULL,
    acr             text,
    last_login_at   timestamptz NOT NULL
);

-- A professional pre-registered by a director before their RPPS exists:
-- the code ties their national id at their first PSC login.
CREATE TABLE invitations (
    code_hash       text PRIMARY KEY,
    professional_id uuid NOT NULL REFERENCES professionals(id),
    structure_id    uuid NOT NULL REFERENCES structures(id),
    created_by      uuid NOT NULL REFERENCES professionals(id),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE INDEX invitations_professional ON invitations(professional_id);

CREATE TABLE admin_credentials (
    professional_id uuid PRIMARY KEY REFERENCES professionals(id),
    login           text NOT NULL UNIQUE,
    password_hash   text NOT NULL,
    totp_secret     text NOT NULL,
    last_totp_step  bigint NOT NULL DEFAULT 0,
    failures        bigint NOT NULL DEFAULT 0,
    failures_since  timestamptz,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash      text PRIMARY KEY,
    professional_id uuid NOT NULL REFERENCES professionals(id),
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);

-- A structure's address book of external professionals and organisations
-- (filled from the Annuaire), with their MSSanté addresses.
CREATE TABLE correspondents (
    id              uuid PRIMARY KEY,
    structure_id    uuid NOT NULL REFERENCES structures(id),
    kind            text NOT NULL,
    identifier      text NOT NULL,
    name            text NOT NULL,
    detail          text NOT NULL,
    mailboxes_json  text NOT NULL,
    note            text NOT NULL,
    added_by        uuid NOT NULL REFERENCES professionals(id),
    added_at        timestamptz NOT NULL,
    UNIQUE (structure_id, kind, identifier)
);
