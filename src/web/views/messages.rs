//! The file's « Messagerie sécurisée (MSSanté) » section: the user's
//! opposition, the messages of the file (patient conversations marked, the
//! XDM subject prefix hidden, the user's name and INS rather than the raw
//! address), and the form to write one; and the structure's page of
//! messages needing someone.

use maud::{Markup, html};

use super::components::{Field, error_summary, field, select};
use super::datetime_fr;
use super::dossier::{FileView, SectionForm};
use super::layout::csrf_field;
use crate::domain::mss::{display_subject, may_write_to_patient};
use crate::domain::mss_message::{MAX_DOCUMENTS, MAX_SUBJECT, MessageState};
use crate::store::MssMessage;

/// Whether messages can be written here, or why not.
pub enum Readiness {
    Ready,
    /// What the structure lacks (no operator, no mailbox).
    NotReady(&'static str),
}

pub fn section(v: &FileView<'_>) -> Markup {
    let u = v.usager;
    html! {
        section #messagerie aria-labelledby="h-messagerie" {
            h2 #h-messagerie { "Messagerie sécurisée (MSSanté)" }
            @if u.data.identity.is_anonymous() {
                p { "Accueil anonyme : aucun message ne part vers une messagerie de santé pour cette personne." }
            } @else {
                @match &v.dmp.mss_opposed {
                    Some(r) => p.warning { strong { "Opposition" } " aux messages dans sa messagerie Mon espace santé, enregistrée le " (datetime_fr(r.at)) " (" (r.by) ") : aucun message ne lui est envoyé." },
                    None => p { "Les messages à la personne partent dans sa messagerie Mon espace santé (identité qualifiée seulement). Elle peut s'y opposer." },
                }
                @if u.merged_into.is_none() {
                    @let e = v.dmp.next_mss_event();
                    form method="post" action={ "/usagers/" (u.id) "/dmp" } {
                        (csrf_field(v.csrf))
                        input type="hidden" name="event" value=(e.code());
                        button type="submit" { (super::dossier::consent_button(e)) }
                    }
                }
                (list(v))
                @if u.merged_into.is_none() && !v.unattached.is_empty() {
                    (attach_form(v))
                }
                @if u.merged_into.is_none() {
                    @match &v.mss_ready {
                        Readiness::Ready => (compose(v)),
                        Readiness::NotReady(why) => p.muted { (why) },
                    }
                }
            }
        }
    }
}

/// Whom a message went to (or came from), as people read it.
fn recipient(v: &FileView<'_>, m: &MssMessage) -> Markup {
    html! {
        @if !m.outgoing {
            "De "
            @if m.to_patient { span.badge.patient { "Patient" } " la personne (sa messagerie Mon espace santé)" }
            @else { (m.sender) }
        } @else if m.to_patient {
            span.badge.patient { "Patient" } " "
            "Messagerie Mon espace santé de " (v.usager.data.identity.display_name())
            @if let Some(r) = v.usager.vigilance.ins() { " (INS " (r.ins.matricule.as_string()) ")" }
            @if !m.reply_allowed { br; span.muted { "sans réponse possible" } }
        } @else {
            (m.recipients.join(", "))
        }
    }
}

fn list(v: &FileView<'_>) -> Markup {
    let u = v.usager;
    html! {
        h3 { "Messages" }
        @if v.messages.is_empty() { p.muted { "Aucun message." } }
        @else {
            table #messages-mss {
                thead { tr { th scope="col" { "Correspondant" } th scope="col" { "Objet" } th scope="col" { "Date" } th scope="col" { "État" } th scope="col" { "Actions" } } }
                tbody {
                    @for m in v.messages {
                        tr data-etat=(m.state.code()) data-patient=[m.to_patient.then_some("oui")] {
                            td { (recipient(v, m)) }
                            td {
                                a href={ "/usagers/" (u.id) "/messages/" (m.id) } { (display_subject(&m.subject)) }
                                @if let Some(t) = &m.document_title { br; span.muted { "Pièce jointe : " (t) (others(m)) } }
                            }
                            td { @if let Some(a) = &m.author { (a) ", " } "le " (datetime_fr(m.created_at)) }
                            td {
                                strong.etat { (m.state.label()) }
                                @if let Some(r) = &m.reason { br; span { (r) } }
                                @if let Some(a) = &m.server_answer { br; span.muted { "Serveur : " (a) } }
                                @if let Some(next) = m.next_try { @if m.attempts > 0 { br; span.muted { "Nouvel essai vers " (datetime_fr(next)) " (tentative " (m.attempts + 1) ")" } } }
                            }
                            td {
                                @if m.state.may_retry() {
                                    form method="post" action={ "/usagers/" (u.id) "/messages/" (m.id) "/relancer" } {
                                        (csrf_field(v.csrf)) button type="submit" { "Relancer" }
                                    }
                                }
                                @if m.state.may_cancel() && m.state != MessageState::Recu {
                                    form method="post" action={ "/usagers/" (u.id) "/messages/" (m.id) "/annuler" } {
                                        (csrf_field(v.csrf)) button type="submit" { "Annuler" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// « Rattacher à ce dossier »: a received message no file was found for.
fn attach_form(v: &FileView<'_>) -> Markup {
    let options: Vec<(String, String)> = v
        .unattached
        .iter()
        .map(|m| {
            (
                m.id.to_string(),
                format!(
                    "{} — « {} », le {}",
                    m.sender,
                    display_subject(&m.subject),
                    datetime_fr(m.created_at)
                ),
            )
        })
        .collect();
    let options: Vec<(&str, &str)> = options
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let no_errors = Default::default();
    html! {
        form #rattacher method="post" action={ "/usagers/" (v.usager.id) "/messages/rattacher" } {
            (csrf_field(v.csrf))
            (select("message", "Messages reçus à rattacher", &options, "", &no_errors))
            button type="submit" { "Rattacher à ce dossier" }
        }
    }
}

/// « et 2 autres documents » after the first document's title.
fn others(m: &MssMessage) -> String {
    match m.document_count {
        ..=1 => String::new(),
        2 => " et un autre document".into(),
        n => format!(" et {} autres documents", n - 1),
    }
}

/// One message of the file, opened.
pub fn message_page(usager: &crate::store::Usager, m: &MssMessage, csrf: &str) -> Markup {
    html! {
        p { a href={ "/usagers/" (usager.id) "#messagerie" } { "Retour au dossier de " (usager.data.identity.display_name()) } }
        dl.message {
            dt { @if m.outgoing { "À" } @else { "De" } }
            dd {
                @if m.to_patient { span.badge.patient { "Patient" } " messagerie Mon espace santé de " (usager.data.identity.display_name()) }
                @else if m.outgoing { (m.recipients.join(", ")) }
                @else { (m.sender) }
            }
            dt { "Objet" } dd { (display_subject(&m.subject)) }
            dt { "Date" } dd { (datetime_fr(m.created_at)) @if let Some(a) = &m.author { " (" (a) ")" } }
            dt { "État" } dd { strong.etat { (m.state.label()) } @if let Some(r) = &m.reason { " : " (r) } }
            @if let Some(t) = &m.document_title { dt { "Pièces jointes" } dd { (t) (others(m)) } }
        }
        pre.message-texte { (m.body) }
        @if !m.outgoing { (reply_form(usager, m, csrf)) }
    }
}

/// « Répondre » to a message received in the file: to the person's
/// Mon espace santé mailbox when it came from there, else to its sender.
fn reply_form(usager: &crate::store::Usager, m: &MssMessage, csrf: &str) -> Markup {
    let subject = display_subject(&m.subject);
    let subject = if subject.to_lowercase().starts_with("re:") {
        subject.to_string()
    } else {
        format!("RE: {subject}")
    };
    // A received subject may be longer than one Escale sends.
    let subject: String = subject.chars().take(MAX_SUBJECT).collect();
    html! {
        h2 #h-repondre { "Répondre" }
        form method="post" action={ "/usagers/" (usager.id) "/messages" } aria-labelledby="h-repondre" {
            (csrf_field(csrf))
            input type="hidden" name="form_key" value=(uuid::Uuid::new_v4());
            input type="hidden" name="reply_to" value=(m.id);
            @if m.to_patient {
                input type="hidden" name="msg_to" value="personne";
                p { "À " (usager.data.identity.display_name()) ", dans sa messagerie Mon espace santé." }
                div.field {
                    input #reply type="checkbox" name="reply" value="1" checked;
                    label for="reply" { "La personne peut répondre" }
                }
            } @else {
                input type="hidden" name="msg_to" value="professionnels";
                input type="hidden" name="msg_typed" value=(m.sender);
                // The sender wrote to the structure: no Annuaire warning.
                input type="hidden" name="confirm_unknown" value="1";
                p { "À " (m.sender) }
            }
            (field(Field::text("msg_subject", "Objet", &subject).required().maxlength(200), &Default::default()))
            div.field {
                label for="f-msg_body" { "Message " abbr title="obligatoire" { "*" } }
                textarea #f-msg_body name="msg_body" rows="6" maxlength="20000" required {}
            }
            button type="submit" { "Envoyer la réponse" }
        }
    }
}

/// « Écrire un message »: to the person (when the rules allow it, said
/// otherwise) or to professionals of the address book and typed addresses.
fn compose(v: &FileView<'_>) -> Markup {
    let u = v.usager;
    let f: &SectionForm = &v.forms.message;
    let fresh = f.values.is_empty();
    let patient = may_write_to_patient(
        &u.data.identity,
        &u.vigilance,
        v.dmp.mss_opposed.is_some(),
        &[],
    );
    let to = match f.get("msg_to") {
        "" if patient.is_ok() => "personne",
        "" => "professionnels",
        other => other,
    };
    let boxes: Vec<(String, String)> = v
        .correspondents
        .iter()
        .flat_map(|c| {
            c.mailboxes.iter().map(move |m| {
                (
                    m.address.to_ascii_lowercase(),
                    format!("{} — {}", c.name, m.address),
                )
            })
        })
        .collect();
    let documents: Vec<(String, String)> = v
        .documents
        .iter()
        .filter(|d| d.superseded_at.is_none())
        .map(|d| {
            (
                d.id.to_string(),
                format!("{} (version {})", d.title, d.version),
            )
        })
        .collect();
    let key = match f.get("form_key") {
        "" => uuid::Uuid::new_v4().to_string(),
        k => k.to_string(),
    };
    html! {
        h3 #h-ecrire { "Écrire un message" }
        form #ecrire-message method="post" action={ "/usagers/" (u.id) "/messages" } aria-labelledby="h-ecrire" {
            (error_summary(&f.errors))
            (csrf_field(v.csrf))
            input type="hidden" name="form_key" value=(key);
            @if !f.get("reply_to").is_empty() {
                input type="hidden" name="reply_to" value=(f.get("reply_to"));
                p.hint { "Réponse à un message reçu : elle rejoint sa conversation." }
            }
            fieldset.field.has-error[f.errors.contains_key("msg_to")] {
                legend { "Destinataire" }
                @if let Some(e) = f.errors.get("msg_to") { span.error id="f-msg_to" { (e) } }
                div {
                    input #to-personne type="radio" name="msg_to" value="personne" checked[to == "personne"] disabled[patient.is_err()];
                    label for="to-personne" {
                        "La personne, dans sa messagerie Mon espace santé"
                        @match &patient {
                            Ok(p) => { " : " (u.data.identity.display_name()) ", INS " (p.ins.matricule.as_string()) }
                            Err(why) => { br; span.muted { "Impossible : " (why) } }
                        }
                    }
                }
                div {
                    input #to-pros type="radio" name="msg_to" value="professionnels" checked[to == "professionnels"];
                    label for="to-pros" { "Des professionnels (correspondants MSSanté)" }
                }
            }
            @if !boxes.is_empty() {
                fieldset.field {
                    legend { "Correspondants du carnet d'adresses" }
                    @for (i, (address, label)) in boxes.iter().enumerate() {
                        div {
                            input id={ "corr-" (i) } type="checkbox" name="correspondent" value=(address) checked[f.multi.contains(address)];
                            label for={ "corr-" (i) } { (label) }
                        }
                    }
                }
            }
            (field(Field::text("msg_typed", "Autres adresses MSSanté (séparées par des virgules)", f.get("msg_typed")).maxlength(2000).hint("Vérifiées dans la liste des boîtes MSSanté de l'Annuaire Santé."), &f.errors))
            @if !v.forms.unknown.is_empty() {
                div.warning role="alert" {
                    p { "Ces adresses ne figurent ni dans votre carnet d'adresses ni dans la liste MSSanté de l'Annuaire Santé :" }
                    ul { @for a in &v.forms.unknown { li { (a) } } }
                    div {
                        input #confirm-unknown type="checkbox" name="confirm_unknown" value="1";
                        label for="confirm-unknown" { "Je confirme ces adresses : envoyer quand même" }
                    }
                }
            }
            div.field {
                input #reply type="checkbox" name="reply" value="1" checked[fresh || f.get("reply") == "1"];
                label for="reply" { "La personne peut répondre (message à la personne)" }
            }
            (field(Field::text("msg_subject", "Objet", f.get("msg_subject")).required().maxlength(200), &f.errors))
            div.field.has-error[f.errors.contains_key("msg_body")] {
                label for="f-msg_body" { "Message " abbr title="obligatoire" { "*" } }
                @if let Some(e) = f.errors.get("msg_body") { span.error id="f-msg_body-erreur" { (e) } }
                textarea #f-msg_body name="msg_body" rows="6" maxlength="20000" required
                    aria-describedby=[f.errors.get("msg_body").map(|_| "f-msg_body-erreur")] { (f.get("msg_body")) }
            }
            fieldset.field.has-error[f.errors.contains_key("msg_document")] {
                legend { "Documents joints (au plus " (MAX_DOCUMENTS) ") : le PDF de chacun, et leur CDA dans une archive IHE_XDM.ZIP pour une identité qualifiée" }
                @if let Some(e) = f.errors.get("msg_document") { span.error id="f-msg_document" { (e) } }
                @if documents.is_empty() { p.muted { "Aucun document dans ce dossier." } }
                @for (i, (id, label)) in documents.iter().enumerate() {
                    div {
                        input id={ "doc-" (i) } type="checkbox" name="msg_document" value=(id) checked[f.multi.contains(id)];
                        label for={ "doc-" (i) } { (label) }
                    }
                }
            }
            p.hint { "L'envoi se fait en arrière-plan ; son état (en attente, envoyé, délivré, lu ou en échec) s'affiche ci-dessus." }
            button type="submit" { "Envoyer le message" }
        }
    }
}

/// The structure's messages in failure or not delivered after the delay,
/// and those received that no file was found for.
pub fn attention(list: &[MssMessage], unattached: &[MssMessage], hours: u32, csrf: &str) -> Markup {
    html! {
        form method="post" action="/messagerie/releve" {
            (csrf_field(csrf))
            button type="submit" { "Relever la boîte maintenant" }
        }
        h2 { "À rattacher" }
        @if unattached.is_empty() { p { "Aucun message reçu en attente de dossier." } }
        @else {
            p.hint { "Aucun dossier n'a été trouvé pour ces messages (ni conversation connue, ni INS). Ouvrez le dossier de la personne puis « Rattacher à ce dossier »." }
            ul #a-rattacher {
                @for m in unattached {
                    li { (m.sender) " — « " (display_subject(&m.subject)) " », le " (datetime_fr(m.created_at)) @if let Some(r) = &m.reason { " (" (r) ")" } }
                }
            }
        }
        h2 { "Envois à suivre" }
        p.hint { "Les messages en échec, et ceux envoyés depuis plus de " (hours) " heures sans avis de remise. Ouvrez le dossier pour relancer ou annuler : rien n'est perdu." }
        @if list.is_empty() { p { "Aucun message à suivre." } }
        @else {
            table {
                thead { tr { th scope="col" { "Dossier" } th scope="col" { "Destinataire" } th scope="col" { "Objet" } th scope="col" { "État et raison" } } }
                tbody {
                    @for m in list {
                        tr data-etat=(m.state.code()) {
                            td {
                                @match m.usager_id {
                                    Some(id) => a href={ "/usagers/" (id) "#messagerie" } { (m.usager_label) },
                                    None => "à rattacher",
                                }
                            }
                            td { @if m.to_patient { span.badge.patient { "Patient" } " Messagerie Mon espace santé" } @else { (m.recipients.join(", ")) } }
                            td { (display_subject(&m.subject)) br; span.muted { "le " (datetime_fr(m.created_at)) } }
                            td { strong { (m.state.label()) } @if let Some(r) = &m.reason { " : " (r) } }
                        }
                    }
                }
            }
        }
    }
}
