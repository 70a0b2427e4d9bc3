//! The sandbox's « Mon espace santé » seen by the user: a small web site
//! (plain HTTP, for people) over the sandbox's registry, listing what each
//! patient's DMP shows them: approved documents, never one deposited
//! INVISIBLE_PATIENT. The real service asks the user to log in; the
//! sandbox lists its test patients instead.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::State;
use super::registry::Entry;
use crate::domain::document::document_type;

pub(super) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/", get(patients))
        .route("/dossier", get(dossier))
        .with_state(state)
}

/// The address of one patient's page under the site's `base` URL.
pub fn dossier_path(patient_id: &str) -> String {
    crate::sandbox::web::query_path("/dossier", "patient", patient_id)
}

fn page(title: &str, body: Markup) -> Response {
    crate::sandbox::web::page(
        title,
        "Mon espace santé",
        "Bac à sable : ce site imite Mon espace santé pour les tests ; aucune donnée réelle.",
        body,
    )
}

/// Every patient the sandbox's DMP holds a document for.
async fn patients(Extract(state): Extract<Arc<State>>) -> Response {
    let ids = state.patient_ids();
    page(
        "Patients",
        html! {
            h1 { "Mon espace santé : les patients du bac à sable" }
            @if ids.is_empty() {
                p { "Aucun document n'a encore été déposé dans ce DMP de test." }
            } @else {
                p { "Choisissez un patient pour voir ses documents comme il les voit." }
                ul #patients {
                    @for id in &ids {
                        li { a href=(dossier_path(id)) { (ins_of(id)) } }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct Patient {
    #[serde(default)]
    patient: String,
}

/// What one patient sees: their approved documents, except those the
/// author made invisible to them.
async fn dossier(Extract(state): Extract<Arc<State>>, Query(q): Query<Patient>) -> Response {
    let mut seen: Vec<Entry> = state
        .entries()
        .iter()
        .filter(|e| e.patient_id == q.patient && e.visible_to_patient())
        .cloned()
        .collect();
    seen.sort_by_key(|e| std::cmp::Reverse(e.submitted_at));
    page(
        "Mes documents",
        html! {
            h1 { "Mes documents" }
            p { "Patient : " strong { (ins_of(&q.patient)) } }
            @if seen.is_empty() {
                p #aucun-document { "Aucun document à afficher." }
            } @else {
                table #documents-patient {
                    caption { "Documents de santé visibles par le patient" }
                    thead { tr {
                        th scope="col" { "Titre" }
                        th scope="col" { "Type" }
                        th scope="col" { "Déposé le" }
                        th scope="col" { "Par la structure (IDNST)" }
                    } }
                    tbody {
                        @for e in &seen {
                            tr {
                                td { (e.title) }
                                td { (document_type(&e.type_code).map_or(e.type_code.as_str(), |t| t.label.as_str())) }
                                td { (e.submitted_at.format("%d/%m/%Y %H:%M")) }
                                td { (e.structure) }
                            }
                        }
                    }
                }
            }
            p { a href="/" { "Retour à la liste des patients" } }
        },
    )
}

/// `297022A020778^^^&1.2.250.1.213.1.4.8&ISO^NH` → `INS 297022A020778`.
fn ins_of(patient_id: &str) -> String {
    match patient_id.split_once("^^^") {
        Some((ins, _)) => format!("INS {ins}"),
        None => patient_id.to_string(),
    }
}
