//! maud views: one layout, small components, one module per screen.
//! Everything is escaped by maud; there is no `PreEscaped` on user data.

pub mod admin;
pub mod auth;
pub mod components;
pub mod correspondants;
pub mod dmp;
pub mod dossier;
pub mod equipe;
pub mod identite;
pub mod journal;
pub mod layout;
pub mod markdown;
pub mod messages;
pub mod profil;
pub mod structure;
pub mod usagers;
pub mod vigilance;

/// `12/03/1984`
pub fn date_fr(d: chrono::NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// `12/03/1984 à 14:05` in Paris time for people, UTC stays in the database.
pub fn datetime_fr(t: chrono::DateTime<chrono::Utc>) -> String {
    // Metropolitan France: UTC+1, +2 in summer (last Sunday of March to last Sunday of October).
    use chrono::{Datelike, Duration, NaiveDate, Weekday};
    let last_sunday = |y: i32, m: u32| {
        let mut d = NaiveDate::from_ymd_opt(y, m + 1, 1).expect("month") - Duration::days(1);
        while d.weekday() != Weekday::Sun {
            d -= Duration::days(1);
        }
        d.and_hms_opt(1, 0, 0).expect("1h").and_utc()
    };
    let y = t.year();
    let summer = t >= last_sunday(y, 3) && t < last_sunday(y, 10);
    let local = t + Duration::hours(if summer { 2 } else { 1 });
    local.format("%d/%m/%Y à %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn paris_time() {
        let winter = chrono::Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        assert_eq!(datetime_fr(winter), "15/01/2026 à 13:00");
        let summer = chrono::Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap();
        assert_eq!(datetime_fr(summer), "15/07/2026 à 14:00");
    }
}
