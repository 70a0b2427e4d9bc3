//! One user's file: identity, care episodes, activity, notes, documents.

use maud::{Markup, html};
use std::collections::BTreeMap;

use super::components::{Errors, Field, error_summary, field, select};
use super::layout::csrf_field;
use super::usagers::{birth_label, sex_label};
use super::{date_fr, datetime_fr};
use crate::domain::care::{ActivityKind, Confidentiality, EpisodeKind};
use crate::domain::dmp::{ConsentEvent, DepositState, DmpConsent, DmpOperation, DmpVisibility};
use crate::domain::document::document_types;
use crate::domain::template::templates;
use crate::domain::usager::Identity;
use crate::store::{Activity, Document, Episode, Note, TeamMember, Usager};

/// What was typed in one of the file's forms, kept to show it again.
#[derive(Debug, Default, Clone)]
pub struct SectionForm {
    pub values: BTreeMap<String, String>,
    pub multi: Vec<String>,
    pub errors: Errors,
}

impl SectionForm {
    pub fn get(&self, k: &str) -> &str {
        self.values.get(k).map(String::as_str).unwrap_or("")
    }
}

#[derive(Default)]
pub struct Forms {
    /// A message shown at the top of the file (e.g. traits converted to the INS format).
    pub notice: Option<&'static str>,
    pub episode: SectionForm,
    pub activity: SectionForm,
    pub note: SectionForm,
    pub document: SectionForm,
    /// A document written from a template.
    pub draft: SectionForm,
    /// A message being written (MSSanté).
    pub message: SectionForm,
    /// Typed addresses the Annuaire does not list (to confirm).
    pub unknown: Vec<String>,
}

pub struct FileView<'a> {
    pub usager: &'a Usager,
    pub episodes: &'a [Episode],
    pub activities: &'a [Activity],
    pub notes: &'a [Note],
    /// Every readable version, a document's versions together, newest first.
    pub documents: &'a [Document],
    /// What the user was told about their DMP, and whether they oppose it.
    pub dmp: DmpConsent,
    /// Its requests to the DMP, newest first.
    pub deposits: &'a [crate::store::DmpDeposit],
    /// The page of what the user's Mon espace santé shows (sandbox).
    pub patient_view: Option<String>,
    /// Its MSSanté messages, newest first, and whether one can be written.
    pub messages: &'a [crate::store::MssMessage],
    pub correspondents: &'a [crate::store::access::Correspondent],
    /// Received messages of the structure no file was found for.
    pub unattached: &'a [crate::store::MssMessage],
    pub mss_ready: super::messages::Readiness,
    pub team: &'a [TeamMember],
    pub writable: &'a [Confidentiality],
    /// The procedure lets the reader change identities and contact details.
    pub can_edit: bool,
    pub csrf: &'a str,
    pub today: String,
    pub forms: Forms,
    pub identity: super::identite::Panel<'a>,
    pub quality: super::vigilance::FilePanel<'a>,
}

pub fn page(v: &FileView<'_>) -> Markup {
    let u = v.usager;
    html! {
        @if let Some(into) = u.merged_into { (super::vigilance::merged_banner(into)) }
        (super::identite::status_banner(u))
        @if let Some(n) = v.forms.notice { p.notice role="status" { (n) } }
        (banner(u))
        @if v.can_edit && u.merged_into.is_none() {
            p { a href={ "/usagers/" (u.id) "/modifier" } { "Modifier l'identité et les coordonnées" } }
        }
        (super::identite::panel(&v.identity))
        (super::vigilance::file_panel(&v.quality))
        (episodes(v))
        (activities(v))
        (notes(v))
        (documents(v))
        (dmp(v))
        (super::messages::section(v))
    }
}

fn banner(u: &Usager) -> Markup {
    let c = &u.data.contact;
    html! {
        section.identity aria-label="Identité" {
            @match &u.data.identity {
                Identity::Traits { birth_name, first_names, used_name, used_first_name, birth_place_code, .. } => {
                    p.identity-name { strong { (birth_name) } " " (first_names) }
                    dl {
                        @if let Some(n) = used_name { dt { "Nom d'usage" } dd { (n) } }
                        @if let Some(n) = used_first_name { dt { "Prénom d'usage" } dd { (n) } }
                        dt { "Né(e) le" } dd { (birth_label(&u.data.identity)) }
                        dt { "Sexe" } dd { (sex_label(&u.data.identity)) }
                        @if let Some(p) = birth_place_code { dt { "Lieu de naissance (INSEE)" } dd { (p) } }
                    }
                }
                Identity::Anonymous { alias, .. } => {
                    p.identity-name { strong { (alias) } " " span.tag { "Anonyme" } }
                    p.hint { "Accueil anonyme : aucune identité n'est enregistrée ; ce dossier ne peut être ni partagé ni envoyé." }
                    dl {
                        dt { "Année de naissance" } dd { (birth_label(&u.data.identity)) }
                        dt { "Sexe" } dd { (sex_label(&u.data.identity)) }
                    }
                }
            }
            @if c.phone.is_some() || c.email.is_some() || c.address.is_some() {
                dl.contact {
                    @if let Some(x) = &c.phone { dt { "Téléphone" } dd { (x) } }
                    @if let Some(x) = &c.email { dt { "Courriel" } dd { (x) } }
                    @if let Some(x) = &c.address { dt { "Adresse" } dd { (x) } }
                }
            }
        }
    }
}

fn episodes(v: &FileView<'_>) -> Markup {
    let f = &v.forms.episode;
    let kinds: Vec<(&str, &str)> = EpisodeKind::ALL
        .iter()
        .map(|k| (k.code(), k.label()))
        .collect();
    let mut referents: Vec<(String, String)> = vec![(String::new(), "— aucun —".into())];
    referents.extend(
        v.team
            .iter()
            .map(|m| (m.id.to_string(), m.display_name.clone())),
    );
    let referents: Vec<(&str, &str)> = referents
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let start = if f.get("start_date").is_empty() {
        v.today.as_str()
    } else {
        f.get("start_date")
    };
    let action = format!("/usagers/{}/prises-en-charge", v.usager.id);
    html! {
        section #prises-en-charge aria-labelledby="h-pec" {
            h2 #h-pec { "Prises en charge" }
            @if v.episodes.is_empty() { p.muted { "Aucune prise en charge." } }
            ul.cards {
                @for e in v.episodes {
                    li {
                        strong { (e.kind.label()) }
                        " — depuis le " (date_fr(e.start_date))
                        @if let Some(end) = e.end_date { " jusqu'au " (date_fr(end)) } @else { " " span.tag { "en cours" } }
                        @if let Some(r) = &e.referent_name { br; span.muted { "Référent : " (r) } }
                        @if e.end_date.is_none() {
                            form.inline method="post" action={ (action) "/" (e.id) "/cloture" }
                                hx-target="#prises-en-charge" hx-select="#prises-en-charge" hx-swap="outerHTML" {
                                (csrf_field(v.csrf))
                                label for={ "fin-" (e.id) } { "Date de fin" }
                                input id={ "fin-" (e.id) } type="date" name="end_date" value=(v.today) required;
                                button type="submit" { "Clore" }
                            }
                        }
                    }
                }
            }
            details open[!f.errors.is_empty()] {
                summary { "Ajouter une prise en charge" }
                (error_summary(&f.errors))
                form method="post" action=(action) hx-target="#prises-en-charge" hx-select="#prises-en-charge" hx-swap="outerHTML" {
                    (csrf_field(v.csrf))
                    (select("kind", "Type", &kinds, f.get("kind"), &f.errors))
                    (field(Field::text("start_date", "Début", start).kind("date").required().maxlength(10), &f.errors))
                    (field(Field::text("episode_end_date", "Fin (facultatif)", f.get("episode_end_date")).kind("date").maxlength(10), &f.errors))
                    (select("referent_id", "Référent", &referents, f.get("referent_id"), &f.errors))
                    button type="submit" { "Ajouter" }
                }
            }
        }
    }
}

fn activities(v: &FileView<'_>) -> Markup {
    let f = &v.forms.activity;
    let kinds: Vec<(&str, &str)> = ActivityKind::ALL
        .iter()
        .map(|k| (k.code(), k.label()))
        .collect();
    let date = if f.get("date").is_empty() {
        v.today.as_str()
    } else {
        f.get("date")
    };
    html! {
        section #activites aria-labelledby="h-act" {
            h2 #h-act { "Activité" }
            @if v.activities.is_empty() { p.muted { "Aucune activité enregistrée." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Date" } th scope="col" { "Type" } th scope="col" { "Durée" } th scope="col" { "Participants" } th scope="col" { "Commentaire" } } }
                    tbody {
                        @for a in v.activities {
                            tr {
                                td { (date_fr(a.date)) }
                                td { (a.kind.label()) }
                                td { @if let Some(d) = a.duration_minutes { (d) " min" } @else { "—" } }
                                td { (a.participants.join(", ")) }
                                td { (a.comment.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            details open[!f.errors.is_empty()] {
                summary { "Ajouter une activité" }
                (error_summary(&f.errors))
                form method="post" action={ "/usagers/" (v.usager.id) "/activites" } hx-target="#activites" hx-select="#activites" hx-swap="outerHTML" {
                    (csrf_field(v.csrf))
                    (select("kind", "Type", &kinds, f.get("kind"), &f.errors))
                    (field(Field::text("date", "Date", date).kind("date").required().maxlength(10), &f.errors))
                    (field(Field::text("duration", "Durée (minutes)", f.get("duration")).kind("number").maxlength(4), &f.errors))
                    fieldset {
                        legend { "Participants" }
                        @for m in v.team {
                            @let id = m.id.to_string();
                            div.checkbox {
                                input type="checkbox" id={ "p-" (id) } name="participants" value=(id) checked[f.multi.contains(&id)];
                                label for={ "p-" (id) } { (m.display_name) " " span.muted { "(" (m.roles.labels()) ")" } }
                            }
                        }
                    }
                    (field(Field::text("comment", "Commentaire", f.get("comment")).maxlength(500), &f.errors))
                    button type="submit" { "Ajouter" }
                }
            }
        }
    }
}

fn notes(v: &FileView<'_>) -> Markup {
    let f = &v.forms.note;
    let classes: Vec<(&str, &str)> = v.writable.iter().map(|c| (c.code(), c.label())).collect();
    html! {
        section #notes aria-labelledby="h-notes" {
            h2 #h-notes { "Notes" }
            p.hint { "Vous voyez les notes que vos rôles vous permettent de lire." }
            @if v.notes.is_empty() { p.muted { "Aucune note." } }
            @for n in v.notes {
                article.note.(n.confidentiality.code()) {
                    header {
                        span.tag { (n.confidentiality.label()) }
                        " " (n.author_name) ", le " (datetime_fr(n.created_at))
                    }
                    p.note-body { (n.body) }
                }
            }
            details open[!f.errors.is_empty()] {
                summary { "Ajouter une note" }
                (error_summary(&f.errors))
                form method="post" action={ "/usagers/" (v.usager.id) "/notes" } hx-target="#notes" hx-select="#notes" hx-swap="outerHTML" {
                    (csrf_field(v.csrf))
                    (select("confidentiality", "Confidentialité", &classes, f.get("confidentiality"), &f.errors))
                    div.field.has-error[f.errors.contains_key("body")] {
                        label for="f-body" { "Note" }
                        @if let Some(e) = f.errors.get("body") { span.error id="f-body-erreur" { (e) } }
                        textarea id="f-body" name="body" rows="5" maxlength="10000" required { (f.get("body")) }
                    }
                    button type="submit" { "Enregistrer la note" }
                }
            }
        }
    }
}

fn documents(v: &FileView<'_>) -> Markup {
    let f = &v.forms.document;
    let types: Vec<(&str, &str)> = document_types()
        .iter()
        .map(|t| (t.code.as_str(), t.label.as_str()))
        .collect();
    let classes: Vec<(&str, &str)> = v.writable.iter().map(|c| (c.code(), c.label())).collect();
    let latest: Vec<&Document> = v
        .documents
        .iter()
        .filter(|d| d.superseded_at.is_none())
        .collect();
    let replaceable: Vec<(String, String)> = latest
        .iter()
        .map(|d| {
            (
                d.id.to_string(),
                format!("{} (version {})", d.title, d.version),
            )
        })
        .collect();
    let mut replace_options: Vec<(&str, &str)> = vec![("", "Aucun : nouveau document")];
    replace_options.extend(replaceable.iter().map(|(id, l)| (id.as_str(), l.as_str())));
    let date = if f.get("doc_date").is_empty() {
        v.today.as_str()
    } else {
        f.get("doc_date")
    };
    let live = v.usager.merged_into.is_none();
    html! {
        section #documents aria-labelledby="h-docs" {
            h2 #h-docs { "Documents" }
            p.hint { "Vous voyez les documents que vos rôles vous permettent de lire. Chaque ouverture est tracée." }
            @if latest.is_empty() { p.muted { "Aucun document." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Document" } th scope="col" { "Type" } th scope="col" { "Date" } th scope="col" { "Auteur" } th scope="col" { "Lecture" } th scope="col" { "Versions précédentes" } } }
                    tbody {
                        @for d in &latest {
                            tr {
                                td { a href={ "/usagers/" (v.usager.id) "/documents/" (d.id) } { (d.title) } " " span.muted { "(version " (d.version) ", " (kilobytes(d.size_bytes)) ")" } }
                                td { (type_label(&d.type_code)) }
                                td { (date_fr(d.date)) }
                                td { (d.author_name) }
                                td { span.tag { (d.confidentiality.label()) } }
                                td {
                                    @let older: Vec<&Document> = v.documents.iter().filter(|o| o.set_id == d.set_id && o.id != d.id).collect();
                                    @if older.is_empty() { "—" }
                                    @else {
                                        ul.compact {
                                            @for o in older {
                                                li { a href={ "/usagers/" (v.usager.id) "/documents/" (o.id) } { "version " (o.version) } " du " (datetime_fr(o.created_at)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if live {
                details open[!f.errors.is_empty()] {
                    summary { "Ajouter un document (PDF)" }
                    (error_summary(&f.errors))
                    form method="post" enctype="multipart/form-data" action={ "/usagers/" (v.usager.id) "/documents" } {
                        (csrf_field(v.csrf))
                        @if !latest.is_empty() {
                            (select("doc_replaces", "Nouvelle version d'un document", &replace_options, f.get("doc_replaces"), &f.errors))
                        }
                        (select("doc_type", "Type de document", &types, f.get("doc_type"), &f.errors))
                        (field(Field::text("doc_title", "Titre", f.get("doc_title")).required().maxlength(200), &f.errors))
                        (field(Field::text("doc_date", "Date du document", date).kind("date").required().maxlength(10), &f.errors))
                        (select("doc_class", "Qui peut le lire", &classes, f.get("doc_class"), &f.errors))
                        div.field.has-error[f.errors.contains_key("doc_file")] {
                            label for="f-doc_file" { "Fichier PDF (10 Mo au plus)" }
                            @if let Some(e) = f.errors.get("doc_file") { span.error id="f-doc_file-erreur" { (e) } }
                            input type="file" id="f-doc_file" name="doc_file" accept="application/pdf,.pdf" required
                                aria-invalid=[f.errors.get("doc_file").map(|_| "true")]
                                aria-describedby=[f.errors.get("doc_file").map(|_| "f-doc_file-erreur")];
                        }
                        button type="submit" { "Enregistrer le document" }
                    }
                }
                (draft_form(v, &classes))
            }
        }
    }
}

/// The label of a document type (its code if Escale no longer offers it).
fn type_label(code: &str) -> &str {
    crate::domain::document::document_type(code).map_or(code, |t| t.label.as_str())
}

/// A size as a person reads it.
fn kilobytes(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} Mo", bytes as f64 / (1024.0 * 1024.0)).replace('.', ",")
    } else {
        format!("{} ko", (bytes + 1023) / 1024)
    }
}

/// Mon espace santé: what the user was told, their opposition, and the
/// buttons to record them. An anonymous user has none.
fn dmp(v: &FileView<'_>) -> Markup {
    let u = v.usager;
    html! {
        section #dmp aria-labelledby="h-dmp" {
            h2 #h-dmp { "Mon espace santé (DMP)" }
            @if u.data.identity.is_anonymous() {
                p { "Accueil anonyme : aucun document ne part vers un DMP pour cette personne." }
            } @else {
                ul {
                    li {
                        @match &v.dmp.informed {
                            Some(r) => { "Informée de l'alimentation de son DMP le " (datetime_fr(r.at)) " (" (r.by) ")." }
                            None => { "Pas encore informée de l'alimentation de son DMP : aucun document n'y sera envoyé avant." }
                        }
                    }
                    @if let Some(r) = &v.dmp.opposed {
                        li.warning { strong { "Opposition" } " à l'alimentation de son DMP, enregistrée le " (datetime_fr(r.at)) " (" (r.by) ") : aucun document n'y est envoyé." }
                    }
                }
                (deposits(v))
                @if u.merged_into.is_none() {
                    div.actions {
                        @for e in v.dmp.next_events() {
                            form method="post" action={ "/usagers/" (u.id) "/dmp" } {
                                (csrf_field(v.csrf))
                                input type="hidden" name="event" value=(e.code());
                                button type="submit" { (consent_button(e)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The requests to the DMP and the form to send a document.
fn deposits(v: &FileView<'_>) -> Markup {
    let u = v.usager;
    let sendable: Vec<(String, String)> = v
        .documents
        .iter()
        .filter(|d| d.superseded_at.is_none())
        .filter(|d| crate::domain::document::document_type(&d.type_code).is_some_and(|t| t.dmp))
        .map(|d| {
            (
                d.id.to_string(),
                format!("{} (version {})", d.title, d.version),
            )
        })
        .collect();
    let sendable: Vec<(&str, &str)> = sendable
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let visibilities: Vec<(&str, &str)> = DmpVisibility::ALL
        .iter()
        .map(|v| (v.code(), v.label()))
        .collect();
    let no_errors = std::collections::BTreeMap::new();
    let title_of = |id: uuid::Uuid| {
        v.documents
            .iter()
            .find(|d| d.id == id)
            .map(|d| format!("{} (version {})", d.title, d.version))
            .unwrap_or_else(|| "document".into())
    };
    html! {
        h3 { "Envois au DMP" }
        @if let Some(url) = &v.patient_view {
            // Another site: a full page load (htmx would fetch it across origins).
            p { a #vu-du-patient href=(url) hx-boost="false" { "Voir son DMP comme l'usager le voit (Mon espace santé du bac à sable)" } }
        }
        @if v.deposits.is_empty() { p.muted { "Aucun document envoyé." } }
        @else {
            table #envois-dmp {
                thead { tr { th scope="col" { "Document" } th scope="col" { "Demande" } th scope="col" { "État" } th scope="col" { "Actions" } } }
                tbody {
                    @for d in v.deposits {
                        tr data-etat=(d.state.code()) {
                            td { (title_of(d.document_id)) br; span.muted { (d.visibility.label()) } }
                            td { (d.operation.label()) " par " (d.requested_by) ", le " (datetime_fr(d.requested_at)) }
                            td {
                                strong.etat { (d.state.label()) }
                                @if let Some(r) = &d.reason { br; span { (r) } }
                                @if let Some(next) = d.next_try { @if d.attempts > 0 { br; span.muted { "Nouvel essai vers " (datetime_fr(next)) " (tentative " (d.attempts + 1) ")" } } }
                            }
                            td {
                                @if d.state.may_retry() {
                                    form method="post" action={ "/usagers/" (u.id) "/dmp/envois/" (d.id) "/relancer" } {
                                        (csrf_field(v.csrf)) button type="submit" { "Relancer" }
                                    }
                                }
                                @if d.state.may_cancel() {
                                    form method="post" action={ "/usagers/" (u.id) "/dmp/envois/" (d.id) "/annuler" } {
                                        (csrf_field(v.csrf)) button type="submit" { "Annuler" }
                                    }
                                }
                                @if d.state == DepositState::Accepte && d.operation == DmpOperation::Depot {
                                    form method="post" action={ "/usagers/" (u.id) "/documents/" (d.document_id) "/dmp" } {
                                        (csrf_field(v.csrf))
                                        input type="hidden" name="operation" value="suppression";
                                        input type="hidden" name="visibility" value=(d.visibility.code());
                                        button type="submit" { "Retirer du DMP" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if u.merged_into.is_none() && !sendable.is_empty() && v.dmp.opposed.is_none() && v.dmp.informed.is_some() {
            form #envoi-dmp method="post" action={ "/usagers/" (u.id) "/dmp/envoi" } {
                (csrf_field(v.csrf))
                (select("dmp_document", "Document à envoyer", &sendable, "", &no_errors))
                (select("visibility", "Visibilité dans le DMP", &visibilities, "N", &no_errors))
                p.hint { "Seule une identité qualifiée (INS) part vers le DMP. L'envoi se fait en arrière-plan ; son état s'affiche ici." }
                button type="submit" { "Envoyer au DMP" }
            }
        }
    }
}

pub(super) fn consent_button(e: ConsentEvent) -> &'static str {
    match e {
        ConsentEvent::Information => "La personne a été informée",
        ConsentEvent::Opposition => "Enregistrer son opposition",
        ConsentEvent::OppositionLifted => "Lever son opposition",
        ConsentEvent::MssOpposition => "Enregistrer son opposition aux messages",
        ConsentEvent::MssOppositionLifted => "Lever son opposition aux messages",
    }
}

/// « Rédiger un document depuis un modèle ».
fn draft_form(v: &FileView<'_>, classes: &[(&str, &str)]) -> Markup {
    let f = &v.forms.draft;
    let models: Vec<(String, String)> = templates()
        .iter()
        .map(|t| {
            (
                t.id.to_string(),
                format!("{} ({})", t.title, t.doc_type.label),
            )
        })
        .collect();
    let models: Vec<(&str, &str)> = models
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let date = if f.get("tpl_date").is_empty() {
        v.today.as_str()
    } else {
        f.get("tpl_date")
    };
    html! {
        details open[!f.errors.is_empty()] {
            summary { "Rédiger un document depuis un modèle" }
            (error_summary(&f.errors))
            form method="post" action={ "/usagers/" (v.usager.id) "/documents/redaction" } {
                (csrf_field(v.csrf))
                (select("tpl_template", "Modèle", &models, f.get("tpl_template"), &f.errors))
                (field(Field::text("tpl_title", "Titre (celui du modèle si vide)", f.get("tpl_title")).maxlength(200), &f.errors))
                (field(Field::text("tpl_date", "Date du document", date).kind("date").required().maxlength(10), &f.errors))
                (select("tpl_class", "Qui peut le lire", classes, f.get("tpl_class"), &f.errors))
                div.field.has-error[f.errors.contains_key("tpl_text")] {
                    label for="f-tpl_text" { "Texte" }
                    @if let Some(e) = f.errors.get("tpl_text") { span.error id="f-tpl_text-erreur" { (e) } }
                    textarea id="f-tpl_text" name="tpl_text" rows="10" maxlength="20000" required
                        aria-invalid=[f.errors.get("tpl_text").map(|_| "true")]
                        aria-describedby=[f.errors.get("tpl_text").map(|_| "f-tpl_text-erreur")] { (f.get("tpl_text")) }
                }
                p.hint { "Le document est créé en PDF/A avec le bandeau d'identité (et le DataMatrix INS pour une identité qualifiée)." }
                button type="submit" { "Créer le document" }
            }
        }
    }
}
