//! The MSSanté sandbox's mailboxes as web pages (plain HTTP, for people):
//! every mailbox that received something, and what each received — sender,
//! subject as a reader shows it (XDM prefix hidden), date, the document's
//! code, whether a patient may reply. Opening a message sends its read
//! receipt (MDN) when the sender asked for one; a professional's box can
//! answer a processing error (MDN with an ANS consumer error code); a
//! patient replies from their Mon espace santé box unless the sender
//! forbade it. Every value escaped by maud.

use std::sync::Arc;

use axum::Form;
use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::response::Response;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::State;
use crate::domain::mss::{display_subject, is_patient_address};

pub(super) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/", get(mailboxes))
        .route("/boite", get(mailbox))
        .route("/message", get(message))
        .route("/message/erreur", post(processing_error))
        .route("/message/reponse", post(reply))
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
    let messages = state.messages_of(&address);
    let count = messages.len();
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
                        @for (i, m) in messages.iter().enumerate().rev() {
                            tr {
                                td { (m.received_at.format("%d/%m/%Y %H:%M")) }
                                td { (m.from) }
                                td { a href=(message_path(&address, i + 1)) { (display_subject(&m.subject)) } @if m.read { " (lu)" } }
                                td { (m.cda_code.as_deref().unwrap_or("—")) }
                                td { @if m.no_reply { "interdite (X-MSS-MES: FIN)" } @else { "possible" } }
                            }
                        }
                    }
                }
            }
            p { (count) " message(s). " a href="/" { "Retour à la liste des boîtes" } }
        },
    )
}

fn message_path(address: &str, n: usize) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("adresse", address)
        .append_pair("n", &n.to_string())
        .finish();
    format!("/message?{query}")
}

#[derive(Deserialize)]
struct One {
    #[serde(default)]
    adresse: String,
    #[serde(default)]
    n: usize,
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    texte: Option<String>,
}

/// The message `q` names (its mailbox, lower-cased), or the page saying
/// it is not there.
fn found(state: &State, q: &One) -> Result<(String, Arc<super::Delivered>), Box<Response>> {
    let address = q.adresse.trim().to_ascii_lowercase();
    match state.message(&address, q.n) {
        Some(m) => Ok((address, m)),
        None => Err(Box::new(page(
            "Message",
            html! { p { "Message introuvable." } },
        ))),
    }
}

/// Opens a message: its text, and its read receipt sent once when asked for.
async fn message(Extract(state): Extract<Arc<State>>, Query(q): Query<One>) -> Response {
    let (address, m) = match found(&state, &q) {
        Ok(f) => f,
        Err(missing) => return *missing,
    };
    if let (Some(read), Some(to)) = (state.mark_read(&address, q.n), &m.read_receipt_to) {
        let mdn = super::notices::mdn(&address, to, &read, &super::notices::Disposition::Displayed);
        state.post(to, &address, "Read", mdn);
    }
    use mail_parser::MimeHeaders;
    let parsed = mail_parser::MessageParser::default().parse(&m.bytes[..]);
    let text = parsed
        .as_ref()
        .and_then(|p| p.body_text(0).map(|t| t.to_string()))
        .unwrap_or_default();
    let attachments: Vec<String> = parsed
        .as_ref()
        .map(|p| {
            p.attachments()
                .map(|a| a.attachment_name().unwrap_or("pièce jointe").to_string())
                .collect()
        })
        .unwrap_or_default();
    let patient = is_patient_address(&address);
    page(
        "Message",
        html! {
            h1 { (display_subject(&m.subject)) }
            dl {
                dt { "De" } dd { (m.from) }
                dt { "Reçu le" } dd { (m.received_at.format("%d/%m/%Y %H:%M")) }
                @if !attachments.is_empty() { dt { "Pièces jointes" } dd { (attachments.join(", ")) } }
                @if m.read_receipt_to.is_some() { dt { "Accusé de lecture" } dd { "envoyé à l'ouverture" } }
            }
            pre #texte { (text) }
            @if patient {
                @if m.no_reply {
                    p #reponse-interdite { "L'expéditeur n'accepte pas de réponse à ce message (X-MSS-MES: FIN)." }
                } @else {
                    form #repondre method="post" action="/message/reponse" {
                        input type="hidden" name="adresse" value=(address);
                        input type="hidden" name="n" value=(q.n);
                        label for="texte-reponse" { "Répondre en tant que patient" }
                        textarea #texte-reponse name="texte" rows="4" required {}
                        button type="submit" { "Envoyer la réponse" }
                    }
                }
            } @else {
                form #erreur-integration method="post" action="/message/erreur" {
                    input type="hidden" name="adresse" value=(address);
                    input type="hidden" name="n" value=(q.n);
                    input type="hidden" name="code" value="902";
                    button type="submit" { "Répondre « erreur d'intégration » (902, patient inconnu)" }
                }
            }
            p { a href=(mailbox_path(&address)) { "Retour à la boîte" } }
        },
    )
}

/// The recipient's software could not integrate it: an MDN with the code.
async fn processing_error(Extract(state): Extract<Arc<State>>, Form(q): Form<One>) -> Response {
    let (address, m) = match found(&state, &q) {
        Ok(f) => f,
        Err(missing) => return *missing,
    };
    let code = q.code.unwrap_or(906);
    if let Some(to) = &m.read_receipt_to {
        let label = crate::domain::mss_message::consumer_error(code).unwrap_or("autre erreur");
        let mdn = super::notices::mdn(
            &address,
            to,
            &m,
            &super::notices::Disposition::ProcessingError {
                code,
                label: label.to_string(),
            },
        );
        state.post(to, &address, "[KO Integration systeme !]", mdn);
    }
    Redirect::to(&mailbox_path(&address)).into_response()
}

/// The patient's reply, unless the sender forbade it.
async fn reply(Extract(state): Extract<Arc<State>>, Form(q): Form<One>) -> Response {
    let (address, m) = match found(&state, &q) {
        Ok(f) => f,
        Err(missing) => return *missing,
    };
    let text = q.texte.unwrap_or_default();
    if !is_patient_address(&address) || m.no_reply || text.trim().is_empty() {
        return page(
            "Réponse",
            html! { p { "Réponse impossible : l'expéditeur ne l'accepte pas, ou le texte est vide." } },
        );
    }
    let bytes = super::notices::patient_reply(&address, &m.from, &m, text.trim());
    let subject = format!("RE: {}", display_subject(&m.subject));
    state.post(&m.from, &address, &subject, bytes);
    Redirect::to(&mailbox_path(&address)).into_response()
}
