//! Identity vigilance on a file: the status banner, the actions (INSi,
//! identity document, doubt, homonym, anonymity), the INSi comparison.

use maud::{Markup, html};

use super::layout::csrf_field;
use super::{date_fr, datetime_fr};
use crate::domain::identity::{IdentityStatus, document_label};
use crate::domain::sharing::shareable;
use crate::domain::usager::Identity;
use crate::store::{AnonymityLift, InsiCall, Usager};

/// Status and attributes, on every page of the file; the INS only when the
/// identity may be shared (QUAL, not DOUT, not FICT).
pub fn status_banner(u: &Usager) -> Markup {
    let v = &u.vigilance;
    let status = v.status();
    let class = match status {
        IdentityStatus::Qual => "status status-qual",
        IdentityStatus::Prov => "status status-prov",
        _ => "status",
    };
    let shared = shareable(&u.data.identity, v).ok();
    html! {
        div.identity-status role="status" aria-label="Statut de l'identité" {
            span class=(class) { (status.label()) }
            @for a in v.attributes().labels() { " " span.tag.attribute { (a) } }
            @if let Some(shared) = &shared {
                " " span.ins {
                    "Matricule INS (" (shared.ins.oid.type_label()) ") : "
                    strong { (shared.ins.matricule.formatted()) }
                }
            }
        }
        @if shared.is_some() {
            figure.datamatrix {
                img src={ "/usagers/" (u.id) "/ins-datamatrix.svg" } alt="DataMatrix INS de l'identité qualifiée" width="96" height="96";
                figcaption { "INS à scanner" }
            }
        }
    }
}

pub struct Panel<'a> {
    pub usager: &'a Usager,
    pub can_qualify: bool,
    pub can_link: bool,
    pub documents: &'a [String],
    pub calls: &'a [InsiCall],
    pub lift: Option<&'a AnonymityLift>,
    pub csrf: &'a str,
    /// The card agent's session token; `None`: no card reading offered.
    pub agent_token: Option<&'a str>,
    pub today: String,
}

pub fn panel(p: &Panel<'_>) -> Markup {
    let u = p.usager;
    let v = &u.vigilance;
    let base = format!("/usagers/{}", u.id);
    html! {
        section #identitovigilance aria-labelledby="h-idv" {
            h2 #h-idv { "Identitovigilance" }
            @if v.is_fictitious() {
                p { "Identité fictive (accueil anonyme, CSP L.3414-1) : statut provisoire permanent ; ni INSi, ni INS, ni DMP, ni messagerie." }
                (anonymity(p, &base))
            } @else {
                (axes(u))
                @if p.can_qualify {
                    (actions(p, &base))
                } @else {
                    p.muted { "Votre rôle ne permet pas de qualifier les identités dans cette structure (voir la procédure d'identitovigilance de la direction)." }
                }
                @if let Some(lift) = p.lift {
                    p.muted { "Cette identité réelle est liée au dossier anonyme " a href={ "/usagers/" (lift.anonymous_id) } { "(historique anonyme)" }
                        @if let Some(by) = &lift.decided_by { " par " (by) } "." }
                }
            }
            @if !p.calls.is_empty() { (calls(p.calls)) }
        }
    }
}

fn axes(u: &Usager) -> Markup {
    let v = &u.vigilance;
    html! {
        dl {
            dt { "INS récupéré (INSi)" }
            dd {
                @match v.ins() {
                    Some(r) => {
                        (r.ins.oid.type_label()) " — le " (datetime_fr(r.retrieved_at)) " par " (r.retrieved_by)
                        @if r.key_mismatch { " " span.tag.warning { "clé du matricule incohérente, signalée au référent" } }
                        @if !r.history.is_empty() { br; span.muted { (r.history.len()) " INS antérieur(s) conservé(s)" } }
                    }
                    None => "non",
                }
            }
            dt { "Pièce d'identité à haut niveau de confiance" }
            dd {
                @match v.document() {
                    Some(d) => { (document_label(&d.kind).unwrap_or(&d.kind)) " — vérifiée le " (datetime_fr(d.checked_at)) " par " (d.checked_by) }
                    None => "non vérifiée",
                }
            }
        }
    }
}

fn actions(p: &Panel<'_>, base: &str) -> Markup {
    let v = &p.usager.vigilance;
    let a = v.attributes();
    let docs: Vec<(&str, &str)> = p
        .documents
        .iter()
        .map(|c| (c.as_str(), document_label(c).unwrap_or(c.as_str())))
        .collect();
    html! {
        div.actions {
            @if v.may_call_insi().is_ok() {
                form.inline method="post" action={ (base) "/insi" } {
                    (csrf_field(p.csrf))
                    input type="hidden" name="version" value=(p.usager.version);
                    button type="submit" {
                        @if v.ins().is_some() { "Interroger à nouveau INSi" } @else { "Rechercher l'INS" }
                    }
                }
                (vitale_widget(&format!("{base}/insi/vitale"), p.csrf, p.agent_token))
                @if v.document().is_none() && !docs.is_empty() {
                    form.inline method="post" action={ (base) "/piece" } {
                        (csrf_field(p.csrf))
                        input type="hidden" name="version" value=(p.usager.version);
                        label for="f-document" { "Pièce présentée" }
                        select #f-document name="kind" {
                            @for (c, l) in &docs { option value=(c) { (l) } }
                        }
                        button type="submit" { "Vérifier une pièce d'identité" }
                    }
                }
            }
            form.inline method="post" action={ (base) "/doute" } {
                (csrf_field(p.csrf))
                input type="hidden" name="version" value=(p.usager.version);
                @if a.dout {
                    input type="hidden" name="action" value="lever";
                    button type="submit" { "Lever le doute" }
                } @else {
                    input type="hidden" name="action" value="signaler";
                    button.secondary type="submit" { "Signaler un doute sur l'identité" }
                }
            }
            form.inline method="post" action={ (base) "/homonyme" } {
                (csrf_field(p.csrf))
                input type="hidden" name="version" value=(p.usager.version);
                input type="hidden" name="homonyme" value=(if a.homa { "non" } else { "oui" });
                button.secondary type="submit" { @if a.homa { "Retirer l'attribut homonyme" } @else { "Marquer comme homonyme" } }
            }
        }
    }
}

fn anonymity(p: &Panel<'_>, base: &str) -> Markup {
    html! {
        @match p.lift {
            None => {
                form method="post" action={ (base) "/anonymat/demande" } {
                    (csrf_field(p.csrf))
                    p { "La personne demande à lever son anonymat : enregistrez sa demande. Son identité réelle sera créée par le circuit normal (recherche, INSi, pièce d'identité), puis reliée à ce dossier par une décision tracée." }
                    label for="f-requested" { "Date de la demande" }
                    input #f-requested type="date" name="requested_on" value=(p.today) required;
                    button type="submit" { "Enregistrer la demande de levée d'anonymat" }
                }
            }
            Some(lift) => {
                p { "Levée d'anonymat demandée le " (date_fr(lift.requested_on)) " (enregistrée par " (lift.recorded_by) ")." }
                @match (lift.real_id, &lift.decided_by) {
                    (Some(real), Some(by)) => {
                        p { "Décision prise par " (by) " : " a href={ "/usagers/" (real) } { "dossier de l'identité réelle" } "." }
                    }
                    _ => @if p.can_link {
                        form method="post" action={ (base) "/anonymat/levee" } {
                            (csrf_field(p.csrf))
                            p { "Créez d'abord l'identité réelle (" a href="/usagers/nouveau" { "nouveau dossier" } "), puis collez ici l'adresse ou l'identifiant de ce dossier." }
                            label for="f-real" { "Dossier de l'identité réelle" }
                            input #f-real type="text" name="real" required maxlength="200";
                            button type="submit" { "Relier l'historique anonyme à cette identité" }
                        }
                    } @else {
                        p.muted { "La décision de relier ce dossier à une identité réelle revient au référent en identitovigilance, à la direction ou à un médecin." }
                    }
                }
            }
        }
    }
}

fn calls(calls: &[InsiCall]) -> Markup {
    html! {
        details {
            summary { "Appels au téléservice INSi (" (calls.len()) ")" }
            table {
                thead { tr { th { "Date" } th { "Opérateur" } th { "Étape" } th { "Résultat" } th { "Durée" } } }
                tbody {
                    @for c in calls {
                        tr { td { (datetime_fr(c.at)) } td { (c.operator) } td { (c.step) } td { (c.outcome) } td { (c.duration_ms) " ms" } }
                    }
                }
            }
        }
    }
}

/// One trait, local and returned.
pub struct TraitRow {
    pub label: &'static str,
    pub local: String,
    pub returned: String,
    pub differs: bool,
}

pub struct Comparison<'a> {
    pub usager: &'a Usager,
    pub steps: Vec<(String, String)>,
    /// Set when INSi found exactly one identity.
    pub found: Option<Found>,
    /// French explanation when nothing can be integrated.
    pub message: Option<String>,
    pub csrf: &'a str,
}

pub struct Found {
    pub call_id: uuid::Uuid,
    pub ins_label: String,
    pub key_warning: Option<String>,
    pub rows: Vec<TraitRow>,
    pub history: usize,
}

pub fn comparison(c: &Comparison<'_>) -> Markup {
    let base = format!("/usagers/{}", c.usager.id);
    html! {
        (status_banner(c.usager))
        h2 { "Réponse du téléservice INSi" }
        ol.steps {
            @for (label, outcome) in &c.steps { li { (label) " : " strong { (outcome) } } }
        }
        @if let Some(m) = &c.message {
            div.notice role="alert" { p { (m) } }
            p { a href=(base) { "Revenir au dossier" } " — l'identité reste inchangée ; rien n'est perdu." }
        }
        @if let Some(f) = &c.found {
            p { "INSi a trouvé une identité : " strong { (f.ins_label) } }
            @if let Some(w) = &f.key_warning { p.warning role="alert" { (w) } }
            @if f.history > 0 { p.muted { (f.history) " INS antérieur(s) renvoyé(s) ; ils seront conservés tels quels." } }
            table.compare {
                caption { "Traits saisis et traits renvoyés par INSi (les différences sont signalées)" }
                thead { tr { th scope="col" { "Trait" } th scope="col" { "Saisi" } th scope="col" { "INSi" } } }
                tbody {
                    @for r in &f.rows {
                        tr.differs[r.differs] {
                            th scope="row" { (r.label) }
                            td { (r.local) }
                            td { @if r.differs { mark { (r.returned) } " " span.tag.warning { @if r.local == "—" { "complété par l'INS" } @else { "différent" } } } @else { (r.returned) } }
                        }
                    }
                }
            }
            p { "Vérifiez avec la personne (et sa pièce d'identité si elle en présente une) qu'il s'agit bien d'elle. Si vous confirmez, les traits stricts du dossier sont remplacés par ceux de l'INS ; le nom et le prénom utilisés sont conservés." }
            form.inline method="post" action={ (base) "/insi/confirmation" } {
                (csrf_field(c.csrf))
                input type="hidden" name="version" value=(c.usager.version);
                input type="hidden" name="call_id" value=(f.call_id);
                input type="hidden" name="decision" value="meme";
                button type="submit" { "C'est la même personne : intégrer l'INS" }
            }
            form.inline method="post" action={ (base) "/insi/confirmation" } {
                (csrf_field(c.csrf))
                input type="hidden" name="version" value=(c.usager.version);
                input type="hidden" name="call_id" value=(f.call_id);
                input type="hidden" name="decision" value="autre";
                div.checkbox {
                    input #f-doute type="checkbox" name="doute" value="oui";
                    label for="f-doute" { "Signaler un doute sur l'identité" }
                }
                button.secondary type="submit" { "Ce n'est pas la même personne : ne rien intégrer" }
            }
        }
    }
}

/// The local traits, for the comparison table.
pub fn local_traits(identity: &Identity) -> [String; 5] {
    match identity {
        Identity::Traits {
            birth_name,
            first_names,
            birth_date,
            sex,
            birth_place_code,
            ..
        } => [
            birth_name.clone(),
            first_names.clone(),
            sex.code().to_string(),
            date_fr(*birth_date),
            birth_place_code.clone().unwrap_or_else(|| "—".into()),
        ],
        Identity::Anonymous { .. } => Default::default(),
    }
}

/// Where `escale agent` listens on the reception workstation (loopback only).
pub const VITALE_AGENT: &str = "http://127.0.0.1:8765";

/// Reads the Carte Vitale through the workstation agent (static/vitale.js,
/// loaded by the layout), which sends it `token`, the session token signed
/// with the key it shares with Escale; no token (no key configured): nothing.
/// The chosen beneficiary is posted to `action` (INSi search by card) or, on
/// the creation page (`action` empty), only prefills the form. Hidden until
/// the script runs: without it, nothing dead is shown.
pub fn vitale_widget(action: &str, csrf: &str, token: Option<&str>) -> Markup {
    html! {
        @if let Some(token) = token {
            div #vitale data-agent=(VITALE_AGENT) data-jeton=(token) data-action=(action) data-csrf=(csrf) {
                button.secondary type="button" data-vitale-read hidden { "Lire la carte Vitale" }
                p data-vitale-status role="status" {}
                ul data-vitale-list {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_card_reading_without_an_agent_token() {
        assert_eq!(vitale_widget("", "csrf", None).into_string(), "");
        let widget =
            vitale_widget("/usagers/1/insi/vitale", "csrf", Some("v1.9.t.m")).into_string();
        assert!(widget.contains(r#"data-jeton="v1.9.t.m""#), "{widget}");
        assert!(widget.contains("data-vitale-read"), "{widget}");
    }
}
