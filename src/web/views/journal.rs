//! The audit journal, for directors.

use maud::{Markup, html};

use super::components::{Errors, Field, field, select};
use super::datetime_fr;
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::services::audit::Verification;
use crate::store::TeamMember;

pub struct Filters<'a> {
    pub action: &'a str,
    pub actor: &'a str,
    pub usager: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub errors: Errors,
}

pub fn page(
    f: &Filters<'_>,
    team: &[TeamMember],
    entries: &[AuditRecord],
    next_before: Option<i64>,
    query_without_page: &str,
) -> Markup {
    let mut actions: Vec<(&str, &str)> = vec![("", "Toutes les actions")];
    actions.extend(AuditAction::ALL.iter().map(|a| (a.code(), a.label())));
    let mut people: Vec<(String, String)> = vec![(String::new(), "Tous les professionnels".into())];
    people.extend(
        team.iter()
            .map(|m| (m.id.to_string(), m.display_name.clone())),
    );
    let people: Vec<(&str, &str)> = people
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    html! {
        p { "Chaque ouverture de dossier, chaque modification, chaque connexion et chaque changement de configuration est inscrit ici. Les entrées sont chaînées : toute modification ou suppression ultérieure se voit. " a href="/journal/verification" { "Vérifier l'intégrité du journal" } }
        form.filters method="get" action="/journal" {
            (select("action", "Action", &actions, f.action, &f.errors))
            (select("acteur", "Professionnel", &people, f.actor, &f.errors))
            (field(Field::text("du", "Du", f.from).kind("date").maxlength(10), &f.errors))
            (field(Field::text("au", "Au", f.to).kind("date").maxlength(10), &f.errors))
            input type="hidden" name="usager" value=(f.usager);
            button type="submit" { "Filtrer" }
        }
        @if entries.is_empty() {
            p { "Aucune entrée ne correspond à ces critères." }
        } @else {
            table.journal {
                thead { tr { th scope="col" { "N°" } th scope="col" { "Date" } th scope="col" { "Professionnel" } th scope="col" { "Action" } th scope="col" { "Dossier" } th scope="col" { "Détail" } } }
                tbody {
                    @for e in entries {
                        tr {
                            td { (e.seq) }
                            td { (datetime_fr(e.at)) }
                            td { (e.actor_label) }
                            td { (AuditAction::from_code(&e.action).map(|a| a.label()).unwrap_or(e.action.as_str())) }
                            td { @if let Some(u) = e.usager_id { a href={ "/usagers/" (u) } { "ouvrir" } " · " a href={ "/journal?usager=" (u) } { "historique" } } }
                            td { (e.details) }
                        }
                    }
                }
            }
            @if let Some(before) = next_before {
                p { a href={ "/journal?" (query_without_page) "&avant=" (before) } { "Entrées plus anciennes" } }
            }
        }
    }
}

pub fn verification(v: &Verification) -> Markup {
    html! {
        @match &v.first_break {
            None => p.ok role="status" { "Journal intègre : " (v.checked) " entrées vérifiées, aucune modification ni suppression détectée." },
            Some(b) => div.error-summary role="alert" {
                h2 { "Le journal a été altéré" }
                p { (v.checked) " entrées sont intègres, puis : " (b.to_string()) "." }
                p { "Conservez une copie de la base et prévenez l'administrateur de l'instance et le délégué à la protection des données." }
            },
        }
        p { a href="/journal" { "Revenir au journal" } }
    }
}
