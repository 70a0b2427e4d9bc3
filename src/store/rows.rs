//! Conversions between domain types and the columns both backends share.

use chrono::{DateTime, NaiveDate, Utc};
use std::str::FromStr;

use super::{AnonymityLift, AuditEvent, InsiCall, StoreError, StoreResult};
use crate::domain::audit::{AuditRecord, entry_hash};
use crate::domain::care::Confidentiality;
use crate::domain::identity::Vigilance;
use crate::domain::roles::{Role, RoleSet};
use crate::domain::usager::{Contact, Identity, Sex, UsagerData};

/// The `usagers` columns every query returns.
pub const USAGER_COLUMNS: &str = "id, structure_id, anonymous, alias, birth_name, first_names, used_name, used_first_name, birth_date, birth_year, sex, birth_place_code, phone, email, address, vigilance, merged_into, collision, created_at, updated_at";

/// The vigilance state as stored (JSON), and the status derived from it.
pub fn vigilance_json(v: &Vigilance) -> String {
    serde_json::to_string(v).expect("vigilance serialises")
}

/// Rebuilt through the domain, which enforces the RNIV rules on what was
/// read. An alias is always a fictitious identity, whatever the column says.
pub fn vigilance_from(json: &str, anonymous: bool) -> StoreResult<Vigilance> {
    if anonymous {
        return Ok(Vigilance::fictitious());
    }
    let v: Vigilance = serde_json::from_str(json).map_err(|_| corrupt("vigilance"))?;
    Ok(Vigilance::restore(
        v.attributes(),
        v.ins().cloned(),
        v.document().cloned(),
    ))
}

/// A new file: an alias is fictitious, typed traits are provisional.
pub fn initial_vigilance(data: &UsagerData) -> Vigilance {
    if data.identity.is_anonymous() {
        Vigilance::fictitious()
    } else {
        Vigilance::provisional()
    }
}

pub fn codes_list(csv: &str) -> Vec<String> {
    csv.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

// Queries written once for both backends: sqlx binds `$N` on SQLite too.

pub const SET_VIGILANCE_SQL: &str =
    "UPDATE usagers SET birth_name = $1, first_names = $2, birth_date = $3, sex = $4,
    birth_place_code = $5, search_key = $6, identity_status = $7, vigilance = $8, updated_at = $9,
    ins_matricule = $13 WHERE id = $10 AND structure_id = $11 AND anonymous = $12";
pub const INSERT_INSI_CALL_SQL: &str = "INSERT INTO insi_calls (id, structure_id, usager_id, at, operator_id, operator,
    step, outcome, duration_ms, request_xml, response_xml)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM usagers WHERE id = $3 AND structure_id = $2";
pub const INSI_CALLS_SQL: &str =
    "SELECT id, usager_id, at, operator, step, outcome, duration_ms, request_xml, response_xml
    FROM insi_calls WHERE structure_id = $1 AND usager_id = $2 ORDER BY at, id";
pub const SET_IDENTITY_SETTINGS_SQL: &str =
    "UPDATE structures SET qualifier_roles = $1, identity_documents = $2 WHERE id = $3";
pub const SET_STRUCTURE_INSI_SQL: &str =
    "UPDATE structures SET insi_certificate = $1, insi_key = $2, insi_idam = $3 WHERE id = $4";
pub const REQUEST_LIFT_SQL: &str =
    "INSERT INTO anonymity_lifts (anonymous_id, structure_id, requested_on, recorded_by)
    SELECT $1, $2, $3, $4 FROM usagers WHERE id = $1 AND structure_id = $2 AND anonymous = $5";
pub const DECIDE_LIFT_SQL: &str =
    "UPDATE anonymity_lifts SET real_id = $1, decided_by = $2, decided_at = $3
    WHERE anonymous_id = $4 AND structure_id = $5 AND real_id IS NULL
      AND EXISTS (SELECT 1 FROM usagers WHERE id = $1 AND structure_id = $5 AND anonymous = $6)";
pub const ANONYMITY_LIFT_SQL: &str =
    "SELECT anonymous_id, requested_on, recorded_by, real_id, decided_by, decided_at
    FROM anonymity_lifts WHERE structure_id = $1 AND (anonymous_id = $2 OR real_id = $2)";

/// The `usagers` columns, as both backends store them.
pub struct UsagerColumns {
    pub anonymous: bool,
    pub alias: Option<String>,
    pub birth_name: Option<String>,
    pub first_names: Option<String>,
    pub used_name: Option<String>,
    pub used_first_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub birth_year: Option<i32>,
    pub sex: Option<String>,
    pub birth_place_code: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
}

impl UsagerColumns {
    pub fn from_data(d: &UsagerData) -> UsagerColumns {
        let mut c = UsagerColumns {
            anonymous: d.identity.is_anonymous(),
            alias: None,
            birth_name: None,
            first_names: None,
            used_name: None,
            used_first_name: None,
            birth_date: None,
            birth_year: None,
            sex: None,
            birth_place_code: None,
            phone: d.contact.phone.clone(),
            email: d.contact.email.clone(),
            address: d.contact.address.clone(),
        };
        match &d.identity {
            Identity::Traits {
                birth_name,
                first_names,
                used_name,
                used_first_name,
                birth_date,
                sex,
                birth_place_code,
            } => {
                c.birth_name = Some(birth_name.clone());
                c.first_names = Some(first_names.clone());
                c.used_name = used_name.clone();
                c.used_first_name = used_first_name.clone();
                c.birth_date = Some(*birth_date);
                c.sex = Some(sex.code().to_string());
                c.birth_place_code = birth_place_code.clone();
            }
            Identity::Anonymous {
                alias,
                sex,
                birth_year,
            } => {
                c.alias = Some(alias.clone());
                c.sex = sex.map(|s| s.code().to_string());
                c.birth_year = *birth_year;
            }
        }
        c
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(
        format!("colonne incohérente : {what}").into(),
    ))
}

pub fn usager_data(c: UsagerColumns) -> StoreResult<UsagerData> {
    let sex = c
        .sex
        .as_deref()
        .map(|s| Sex::parse(s).ok_or_else(|| corrupt("sex")))
        .transpose()?;
    let identity = if c.anonymous {
        Identity::Anonymous {
            alias: c.alias.ok_or_else(|| corrupt("alias"))?,
            sex,
            birth_year: c.birth_year,
        }
    } else {
        Identity::Traits {
            birth_name: c.birth_name.ok_or_else(|| corrupt("birth_name"))?,
            first_names: c.first_names.ok_or_else(|| corrupt("first_names"))?,
            used_name: c.used_name,
            used_first_name: c.used_first_name,
            birth_date: c.birth_date.ok_or_else(|| corrupt("birth_date"))?,
            sex: sex.ok_or_else(|| corrupt("sex"))?,
            birth_place_code: c.birth_place_code,
        }
    };
    Ok(UsagerData {
        identity,
        contact: Contact {
            phone: c.phone,
            email: c.email,
            address: c.address,
        },
    })
}

/// A code read with a parser of its own; an unknown code is reported as corrupt.
pub fn parse_code_with<T>(code: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    parse(code).ok_or_else(|| corrupt(code))
}

/// The INS matricule kept in its own indexed column (same-INS collisions).
pub fn ins_matricule(v: &Vigilance) -> Option<String> {
    v.ins().map(|r| r.ins.matricule.as_string())
}

pub fn parse_code<T: FromStr>(code: &str) -> StoreResult<T> {
    code.parse::<T>().map_err(|_| corrupt(code))
}

/// Roles stored as a comma-separated list; unknown codes are skipped.
pub fn roles_list(csv: &str) -> Vec<Role> {
    csv.split(',').filter_map(|r| r.parse().ok()).collect()
}

pub fn roles_csv(roles: &[Role]) -> String {
    roles.iter().map(|r| r.code()).collect::<Vec<_>>().join(",")
}

pub fn role_set(csv: &str) -> RoleSet {
    RoleSet::new(roles_list(csv))
}

pub fn split_names(joined: Option<String>) -> Vec<String> {
    joined
        .map(|s| s.split('|').map(str::to_string).collect())
        .unwrap_or_default()
}

/// Three bind slots for `confidentiality IN (?, ?, ?)`: readable classes, padded
/// with the first one (the list is never empty: shared notes are always readable).
pub fn class_slots(classes: &[Confidentiality]) -> [&'static str; 3] {
    let first = classes
        .first()
        .copied()
        .unwrap_or(Confidentiality::Partagee)
        .code();
    let get = |i: usize| classes.get(i).map(|c| c.code()).unwrap_or(first);
    [get(0), get(1), get(2)]
}

pub fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

pub fn day_end(d: NaiveDate) -> DateTime<Utc> {
    day_start(d.succ_opt().unwrap_or(d))
}

/// The next entry of a chain whose head is `seq - 1` with hash `prev_hash`,
/// stamped now. Microsecond precision: what both databases store without loss,
/// so the hash still verifies once the entry is read back.
pub fn new_audit_record(seq: i64, prev_hash: String, e: &AuditEvent) -> AuditRecord {
    let now = Utc::now();
    let at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let hash = entry_hash(
        &prev_hash,
        seq,
        &at,
        e.actor_id,
        &e.actor_label,
        &e.action,
        e.usager_id,
        &e.details,
    );
    AuditRecord {
        seq,
        at,
        actor_id: e.actor_id,
        actor_label: e.actor_label.clone(),
        action: e.action.clone(),
        usager_id: e.usager_id,
        details: e.details.clone(),
        prev_hash,
        hash,
    }
}

/// Row readers written once for both backends: every type they read decodes
/// on SQLite and PostgreSQL alike.
pub trait SharedRow: sqlx::Row
where
    for<'a> &'a str: sqlx::ColumnIndex<Self>,
    for<'r> uuid::Uuid: sqlx::Decode<'r, Self::Database> + sqlx::Type<Self::Database>,
    for<'r> Option<uuid::Uuid>: sqlx::Decode<'r, Self::Database> + sqlx::Type<Self::Database>,
    for<'r> String: sqlx::Decode<'r, Self::Database> + sqlx::Type<Self::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, Self::Database> + sqlx::Type<Self::Database>,
    for<'r> i64: sqlx::Decode<'r, Self::Database> + sqlx::Type<Self::Database>,
    for<'r> NaiveDate: sqlx::Decode<'r, Self::Database> + sqlx::Type<Self::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, Self::Database> + sqlx::Type<Self::Database>,
    for<'r> Option<DateTime<Utc>>: sqlx::Decode<'r, Self::Database> + sqlx::Type<Self::Database>,
{
    fn insi_call(&self) -> StoreResult<InsiCall> {
        Ok(InsiCall {
            id: self.try_get("id")?,
            usager_id: self.try_get("usager_id")?,
            at: self.try_get("at")?,
            operator: self.try_get("operator")?,
            step: self.try_get("step")?,
            outcome: self.try_get("outcome")?,
            duration_ms: self.try_get("duration_ms")?,
            request_xml: self.try_get("request_xml")?,
            response_xml: self.try_get("response_xml")?,
        })
    }

    fn anonymity_lift(&self) -> StoreResult<AnonymityLift> {
        Ok(AnonymityLift {
            anonymous_id: self.try_get("anonymous_id")?,
            requested_on: self.try_get("requested_on")?,
            recorded_by: self.try_get("recorded_by")?,
            real_id: self.try_get("real_id")?,
            decided_by: self.try_get("decided_by")?,
            decided_at: self.try_get("decided_at")?,
        })
    }
}

impl SharedRow for sqlx::sqlite::SqliteRow {}
impl SharedRow for sqlx::postgres::PgRow {}
