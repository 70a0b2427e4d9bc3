//! The MSSanté sandbox's mailboxes as web pages (plain HTTP, for people):
//! every mailbox that received something, and what each received — sender,
//! subject as a reader shows it (XDM prefix hidden), date, the document's
//! code, whether a patient may reply. Every value escaped by maud.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::State;
use crate::domain::mss::{display_subject, is_patient_address};

pub(super) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/", get(mailboxes))
        .route("/boite", get(mailbox))
        .with_state(state)
}

/// The address of one mailbox's page.
pub fn mailbox_path(address: &str) -> String {
    crate::sandbox::web::query_path("/boite", "adresse", address)
}

fn page(title: &str, body: Markup) -> Response {
    crate::sandbox::web::page(
        title,
        "MSSanté",
        "Bac à sable : ces boîtes imitent l'espace de confiance MSSanté pour les tests ; aucune donnée réelle.",
        body,
    )
}

async fn mailboxes(Extract(state): Extract<Arc<State>>) -> Response {
    let mut boxes: Vec<(String, usize)> = state
        .mailboxes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(a, m)| (a.clone(), m.len()))
        .collect();
    boxes.sort();
    page(
        "Boîtes",
        html! {
            h1 { "MSSanté : les boîtes du bac à sable" }
            @if boxes.is_empty() {
                p { "Aucun message n'a encore été reçu." }
            } @else {
                ul #boites {
                    @for (address, n) in &boxes {
                        li {
                            a href=(mailbox_path(address)) { (address) }
                            " — " (n) " message(s)"
                            @if is_patient_address(address) { " (messagerie Mon espace santé d'un patient)" }
                        }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct Mailbox {
    #[serde(default)]
    adresse: String,
}

async fn mailbox(Extract(state): Extract<Arc<State>>, Query(q): Query<Mailbox>) -> Response {
    let address = q.adresse.trim().to_ascii_lowercase();
    let mut messages = state
        .mailboxes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&address)
        .cloned()
        .unwrap_or_default();
    messages.reverse();
    page(
        "Boîte",
        html! {
            h1 { "Boîte " (address) }
            @if messages.is_empty() {
                p #aucun-message { "Aucun message." }
            } @else {
                table #messages {
                    caption { "Messages reçus, du plus récent au plus ancien" }
                    thead { tr {
                        th scope="col" { "Reçu le" }
                        th scope="col" { "De" }
                        th scope="col" { "Objet" }
                        th scope="col" { "Document" }
                        th scope="col" { "Réponse" }
                    } }
                    tbody {
                        @for m in &messages {
                            tr {
                                td { (m.received_at.format("%d/%m/%Y %H:%M")) }
                                td { (m.from) }
                                td { (display_subject(&m.subject)) }
                                td { (m.cda_code.as_deref().unwrap_or("—")) }
                                td { @if m.no_reply { "interdite (X-MSS-MES: FIN)" } @else { "possible" } }
                            }
                        }
                    }
                }
            }
            p { a href="/" { "Retour à la liste des boîtes" } }
        },
    )
}
