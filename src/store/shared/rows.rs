//! The row readers several aggregates share, and the conversions between
//! domain types and the columns both backends store alike.

use chrono::{DateTime, NaiveDate, Utc};
use std::str::FromStr;
use uuid::Uuid;

use crate::domain::audit::{AuditRecord, entry_hash};
use crate::domain::dmp_codes::DmpCodeChoice;
use crate::domain::duplicates::Collision;
use crate::domain::identity::{IdentityStatus, Vigilance};
use crate::domain::procedure::IdentityPolicy;
use crate::domain::roles::{Role, RoleSet};
use crate::domain::tenant::Tenant;
use crate::domain::usager::{Contact, Identity, Sex, UsagerData};
use crate::store::sql::{Query, Row};
use crate::store::{
    AuditEvent, Backend, Listed, Professional, StoreError, StoreResult, Structure, StructureInsi,
    Usager,
};
use crate::store::{postgres, sqlite};

/// The `usagers` columns every file query returns, as a literal for
/// `concat!`, so that the statements stay constants.
macro_rules! usager_column_list {
    () => {
        "id, structure_id, anonymous, alias, birth_name, first_names, used_name, \
         used_first_name, birth_date, birth_year, sex, birth_place_code, phone, email, \
         address, vigilance, merged_into, collision, created_at, updated_at, version"
    };
}
pub(crate) use usager_column_list;

/// The `usagers` columns every file query returns, one by one.
pub fn usager_columns_each() -> impl Iterator<Item = &'static str> {
    usager_column_list!().split(',').map(str::trim)
}

/// `(SELECT …)` giving the rows of `from` (a query whose rows have
/// `columns`) as one JSON array of objects, in `order` (over `q.<column>`),
/// each read back by the usual reader through [`Row::json_rows`]: the lists
/// of a page come with their parent in one statement.
pub fn json_rows(backend: Backend, columns: &[&str], from: &str, order: &str) -> String {
    match backend {
        Backend::Sqlite => sqlite::json_rows(columns, from, order),
        Backend::Postgres => postgres::json_rows(columns, from, order),
    }
}

/// `SELECT <usager columns> FROM usagers <tail>`.
macro_rules! select_usagers {
    ($($tail:expr),* $(,)?) => {
        concat!(
            "SELECT ",
            $crate::store::shared::rows::usager_column_list!(),
            " FROM usagers ",
            $($tail),*
        )
    };
}
pub(crate) use select_usagers;

/// The columns a search lists (of `usagers`, named as they are).
macro_rules! listed_column_list {
    () => {
        "id, anonymous, alias, birth_name, first_names, used_name, used_first_name, \
         birth_date, birth_year, sex, birth_place_code, identity_status, search_key"
    };
}
pub(crate) use listed_column_list;

/// `SELECT <listed columns> FROM usagers <tail>`: what a search lists.
macro_rules! select_listed {
    ($($tail:expr),* $(,)?) => {
        concat!(
            "SELECT ",
            $crate::store::shared::rows::listed_column_list!(),
            " FROM usagers ",
            $($tail),*
        )
    };
}
pub(crate) use select_listed;

/// ` RETURNING <usager columns>`.
macro_rules! returning_usager {
    () => {
        concat!(
            " RETURNING ",
            $crate::store::shared::rows::usager_column_list!()
        )
    };
}
pub(crate) use returning_usager;

pub fn usager(r: &Row) -> StoreResult<Usager> {
    let columns = usager_columns(r)?;
    Ok(Usager {
        vigilance: vigilance_from(&r.get::<String>("vigilance")?, columns.anonymous)?,
        id: r.get("id")?,
        structure_id: r.get("structure_id")?,
        data: usager_data(columns)?,
        merged_into: r.get("merged_into")?,
        collision: r
            .get::<Option<String>>("collision")?
            .as_deref()
            .and_then(Collision::parse),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        version: r.get("version")?,
    })
}

/// A row of `select_listed!`.
pub fn listed(r: &Row) -> StoreResult<Listed> {
    let columns = identity_columns(r)?;
    let anonymous = columns.anonymous;
    let status = if anonymous {
        // An alias is always a fictitious identity (as `vigilance_from`).
        Vigilance::fictitious().status()
    } else {
        parse_code_with(&r.get::<String>("identity_status")?, IdentityStatus::parse)?
    };
    Ok(Listed {
        id: r.get("id")?,
        identity: usager_data(columns)?.identity,
        status,
        search_key: r.get("search_key")?,
    })
}

/// The identity and contact columns of a file.
pub fn usager_columns(r: &Row) -> StoreResult<UsagerColumns> {
    Ok(UsagerColumns {
        phone: r.get("phone")?,
        email: r.get("email")?,
        address: r.get("address")?,
        ..identity_columns(r)?
    })
}

/// The identity columns of a file (the contact left empty).
fn identity_columns(r: &Row) -> StoreResult<UsagerColumns> {
    Ok(UsagerColumns {
        anonymous: r.get("anonymous")?,
        alias: r.get("alias")?,
        birth_name: r.get("birth_name")?,
        first_names: r.get("first_names")?,
        used_name: r.get("used_name")?,
        used_first_name: r.get("used_first_name")?,
        birth_date: r.get("birth_date")?,
        birth_year: r.get("birth_year")?,
        sex: r.get("sex")?,
        birth_place_code: r.get("birth_place_code")?,
        phone: None,
        email: None,
        address: None,
    })
}

pub fn structure(r: &Row) -> StoreResult<Structure> {
    Ok(Structure {
        id: r.get("id")?,
        name: r.get("name")?,
        kind: parse_code(&r.get::<String>("kind")?)?,
        finess_geo: r.get("finess_geo")?,
        finess_juridique: r.get("finess_juridique")?,
        medical_roles: roles_list(&r.get::<String>("medical_roles")?),
        qualifier_roles: roles_list(&r.get::<String>("qualifier_roles")?),
        identity_documents: codes_list(&r.get::<String>("identity_documents")?),
        insi: match (
            r.get::<Option<String>>("insi_certificate")?,
            r.get::<Option<String>>("insi_idam")?,
        ) {
            (Some(certificate), Some(idam)) => Some(StructureInsi {
                certificate,
                key: r.get("insi_key")?,
                idam,
            }),
            _ => None,
        },
        dmp_codes: DmpCodeChoice {
            facility_type: r.get("dmp_facility_type")?,
            practice_setting: r.get("dmp_practice_setting")?,
            content_type: r.get("dmp_content_type")?,
        },
        mss_mailbox: r.get("mss_mailbox")?,
        created_at: r.get("created_at")?,
    })
}

pub fn professional(r: &Row) -> StoreResult<Professional> {
    Ok(Professional {
        id: r.get("id")?,
        first_name: r.get("first_name")?,
        last_name: r.get("last_name")?,
        national_id: r.get("national_id")?,
        profession: r.get("profession")?,
        instance_admin: r.get("instance_admin")?,
        active: r.get("active")?,
    })
}

/// `first_name last_name` of a row that joined `professionals`.
pub fn full_name(r: &Row) -> StoreResult<String> {
    Ok(format!(
        "{} {}",
        r.get::<String>("first_name")?,
        r.get::<String>("last_name")?
    ))
}

/// The tenant context from a row joining the structure (`kind`, its role and
/// identity settings), the professional (names) and their `roles` (a list).
pub fn tenant(r: &Row, structure_id: Uuid, professional_id: Uuid) -> StoreResult<Tenant> {
    Ok(Tenant {
        structure_id,
        structure_kind: parse_code(&r.get::<String>("kind")?)?,
        professional_id,
        actor_label: full_name(r)?,
        roles: role_set(&r.get::<String>("roles")?),
        medical_roles: roles_list(&r.get::<String>("medical_roles")?),
        qualifier_roles: roles_list(&r.get::<String>("qualifier_roles")?),
        identity_documents: codes_list(&r.get::<String>("identity_documents")?),
        policy: IdentityPolicy::from_json(&r.get::<String>("identity_policy")?),
    })
}

pub fn audit_record(r: &Row) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        seq: r.get("seq")?,
        at: r.get("at")?,
        actor_id: r.get("actor_id")?,
        actor_label: r.get("actor_label")?,
        action: r.get("action")?,
        usager_id: r.get("usager_id")?,
        details: r.get("details")?,
        prev_hash: r.get("prev_hash")?,
        hash: r.get("hash")?,
    })
}

/// A JSON column written by serde (merge snapshots).
pub fn json<T: serde::de::DeserializeOwned>(r: &Row, column: &str) -> StoreResult<T> {
    serde_json::from_str(&r.get::<String>(column)?)
        .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}

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
    /// Binds the columns as `$N…$N+12`, in the order they are declared:
    /// `anonymous, alias, birth_name, first_names, used_name, used_first_name,
    /// birth_date, birth_year, sex, birth_place_code, phone, email, address`.
    pub fn bind<'c>(&self, q: Query<'c>) -> Query<'c> {
        q.bind(self.anonymous)
            .bind(&self.alias)
            .bind(&self.birth_name)
            .bind(&self.first_names)
            .bind(&self.used_name)
            .bind(&self.used_first_name)
            .bind(self.birth_date)
            .bind(self.birth_year)
            .bind(&self.sex)
            .bind(&self.birth_place_code)
            .bind(&self.phone)
            .bind(&self.email)
            .bind(&self.address)
    }

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

pub fn corrupt(what: &str) -> StoreError {
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
