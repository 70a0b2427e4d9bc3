//! The list and search of user files, and the identity form.

use maud::{Markup, html};
use uuid::Uuid;

use super::components::{Errors, Field, error_summary, field, select};
use super::date_fr;
use super::layout::csrf_field;
use crate::domain::usager::{Identity, UsagerForm};
use crate::store::Listed;

pub struct SearchForm<'a> {
    pub q: &'a str,
    pub birth_date: &'a str,
    pub error: Option<&'a str>,
}

/// `more`: other files match beyond those shown; `next`: how many « Afficher
/// plus de dossiers » shows (none: only a narrower search finds them).
pub fn list(
    search: &SearchForm<'_>,
    results: &[Listed],
    more: bool,
    next: Option<usize>,
) -> Markup {
    let no_errors = Errors::new();
    let mut errors = Errors::new();
    if let Some(e) = search.error {
        errors.insert("date", e.to_string());
    }
    html! {
        form.search method="get" action="/usagers" role="search"
            hx-get="/usagers" hx-trigger="input changed delay:300ms from:find input, search" hx-target="#resultats" hx-select="#resultats" hx-swap="outerHTML" hx-push-url="true" {
            (field(Field::text("q", "Nom, prénom, nom d'usage ou pseudonyme", search.q).kind("search").hint("Recherche partielle, sans tenir compte des accents ni des majuscules."), &no_errors))
            (field(Field::text("date", "Date de naissance", search.birth_date).hint("JJ/MM/AAAA").maxlength(10), &errors))
            button type="submit" { "Rechercher" }
        }
        p { a.button href="/usagers/nouveau" { "Nouveau dossier" } }
        section #resultats aria-live="polite" {
            h2 { "Dossiers" }
            @if results.is_empty() {
                p { "Aucun dossier ne correspond. " a href="/usagers/nouveau" { "Créer un dossier" } }
            } @else {
                @if more {
                    p.muted { "Les " (results.len()) " premiers dossiers sont affichés : précisez la recherche (début du nom, date de naissance) pour trouver les autres." }
                } @else {
                    p.muted { (results.len()) " dossier(s) trouvé(s)." }
                }
                table {
                    thead { tr { th scope="col" { "Usager" } th scope="col" { "Naissance" } th scope="col" { "Sexe" } } }
                    tbody {
                        @for u in results {
                            tr {
                                td { a href={ "/usagers/" (u.id) } { (u.identity.display_name()) } }
                                td { (birth_label(&u.identity)) }
                                td { (sex_label(&u.identity)) }
                            }
                        }
                    }
                }
                @if let Some(next) = next {
                    @let href = more_href(search, next);
                    // In place (the search form and the scroll stay), as the live search does.
                    p { a href=(href) hx-get=(href) hx-target="#resultats" hx-select="#resultats" hx-swap="outerHTML" hx-push-url="true" { "Afficher jusqu'à " (next) " dossiers" } }
                }
            }
        }
    }
}

/// The same search showing `size` files.
fn more_href(search: &SearchForm<'_>, size: usize) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("q", search.q)
        .append_pair("date", search.birth_date)
        .append_pair("n", &size.to_string())
        .finish();
    format!("/usagers?{query}")
}

/// The anteriority search before creating a file (RNIV: birth date first,
/// then the first letters of the name and first name, in separate fields).
pub struct Anteriority<'a> {
    pub date: &'a str,
    pub name: &'a str,
    pub first_name: &'a str,
    pub error: Option<&'a str>,
    /// `None` when no search was made yet.
    pub results: Option<&'a [Listed]>,
    pub csrf: &'a str,
    /// The card agent's session token; `None`: no card reading offered.
    pub agent_token: Option<&'a str>,
    pub scan: &'a str,
    pub scan_error: Option<&'a str>,
}

pub fn anteriority(a: &Anteriority<'_>) -> Markup {
    let mut errors = Errors::new();
    if let Some(e) = a.error {
        errors.insert("ant_date", e.to_string());
    }
    html! {
        section #anteriorite aria-labelledby="h-ant" {
            h2 #h-ant { "1. Recherche d'antériorité" }
            p.hint { "Avant de créer un dossier, vérifiez que la personne n'en a pas déjà un : date de naissance d'abord, puis les premières lettres du nom et du prénom." }
            form.search method="get" action="/usagers/nouveau" role="search" {
                (field(Field::text("ant_date", "Date de naissance", a.date).hint("JJ/MM/AAAA").maxlength(10), &errors))
                (field(Field::text("ant_nom", "Nom (début)", a.name).maxlength(100), &Errors::new()))
                (field(Field::text("ant_prenom", "Prénom (début)", a.first_name).maxlength(100), &Errors::new()))
                button type="submit" { "Chercher un dossier existant" }
            }
            @if let Some(results) = a.results {
                @if results.is_empty() {
                    p role="status" { "Aucun dossier existant ne correspond : vous pouvez créer le dossier ci-dessous." }
                } @else {
                    p role="status" { strong { (results.len()) " dossier(s) existant(s) pourrai(en)t correspondre" } " — ouvrez-le plutôt que d'en créer un doublon :" }
                    ul {
                        @for u in results {
                            li { a href={ "/usagers/" (u.id) } { (u.identity.display_name()) } " — " (birth_label(&u.identity)) " — " (u.status.label()) }
                        }
                    }
                }
            }
        }
        (scan_form(a.csrf, a.scan, a.scan_error))
        (super::identite::vitale_widget("", a.csrf, a.agent_token))
        h2 { "2. Nouveau dossier" }
    }
}

/// What a keyboard-wedge 2D scanner types, read by `domain::datamatrix::parse`.
pub fn scan_form(csrf: &str, value: &str, error: Option<&str>) -> Markup {
    html! {
        details #scan open[error.is_some() || !value.is_empty()] {
            summary { "Ou scanner le DataMatrix INS d'un document" }
            form method="post" action="/usagers/nouveau/scan" {
                (csrf_field(csrf))
                div.field.has-error[error.is_some()] {
                    label for="f-scan" { "Code lu par la douchette (placez le curseur ici puis scannez)" }
                    textarea #f-scan name="scan" rows="2" maxlength="400" autocomplete="off" spellcheck="false"
                        aria-describedby=[error.map(|_| "f-scan-erreur")] { (value) }
                    @if let Some(e) = error { span.error #f-scan-erreur { (e) } }
                }
                p.hint { "Le DataMatrix pré-remplit les traits ; il ne qualifie pas l'identité : après la création, vérifiez-la auprès d'INSi." }
                button type="submit" { "Lire le code" }
            }
        }
    }
}

pub fn birth_label(i: &Identity) -> String {
    match i {
        Identity::Traits { birth_date, .. } => date_fr(*birth_date),
        Identity::Anonymous {
            birth_year: Some(y),
            ..
        } => format!("vers {y}"),
        Identity::Anonymous { .. } => "—".into(),
    }
}

pub fn sex_label(i: &Identity) -> &'static str {
    match i {
        Identity::Traits { sex, .. } => sex.label(),
        Identity::Anonymous { sex: Some(s), .. } => s.label(),
        Identity::Anonymous { .. } => "—",
    }
}

/// Creation (`id` None) or edition of a file's identity and contact details.
pub fn form(
    id: Option<Uuid>,
    form: &UsagerForm,
    errors: &Errors,
    csrf: &str,
    anonymity_allowed: bool,
) -> Markup {
    let action = match id {
        Some(id) => format!("/usagers/{id}"),
        None => "/usagers".to_string(),
    };
    let editing = id.is_some();
    let anonymous = form.wants_anonymity();
    let sexes = [
        ("", "— choisir —"),
        ("F", "Féminin"),
        ("M", "Masculin"),
        ("I", "Indéterminé"),
    ];
    html! {
        (error_summary(errors))
        form.usager method="post" action=(action) novalidate {
            (csrf_field(csrf))
            @if let Some(seen) = &form.doublons_vus {
                input type="hidden" name="doublons_vus" value=(seen);
            }
            @if let (Some(id), Some(version)) = (id, &form.version) {
                input type="hidden" name="version" value=(version);
                @if errors.contains_key("version") {
                    p.notice role="alert" #f-version {
                        a href={ "/usagers/" (id) } target="_blank" { "Voir le dossier dans son état actuel (nouvel onglet)" }
                    }
                }
            }
            @if !editing && anonymity_allowed {
                fieldset {
                    legend { "Accueil anonyme" }
                    div.field.checkbox.has-error[errors.contains_key("anonymous")] {
                        input #f-anonymous type="checkbox" name="anonymous" value="on" checked[anonymous];
                        label for="f-anonymous" { "La personne demande l'anonymat (seul un pseudonyme est enregistré)" }
                        @if let Some(e) = errors.get("anonymous") { span.error { (e) } }
                    }
                    p.hint { "Si la case est cochée, seuls le pseudonyme, le sexe et l'année de naissance (facultatifs sauf le pseudonyme) sont enregistrés." }
                    (field(Field::text("alias", "Pseudonyme choisi par la personne", &form.alias), errors))
                    (field(Field::text("birth_year", "Année de naissance (facultatif)", &form.birth_year).kind("number").maxlength(4), errors))
                }
            } @else if editing && anonymous {
                input type="hidden" name="anonymous" value="on";
                fieldset {
                    legend { "Accueil anonyme" }
                    (field(Field::text("alias", "Pseudonyme", &form.alias).required(), errors))
                    (field(Field::text("birth_year", "Année de naissance (facultatif)", &form.birth_year).kind("number").maxlength(4), errors))
                }
            } @else if !editing {
                p.hint { "L'accueil anonyme n'est pas proposé dans ce type de structure." }
            }
            @if !(editing && anonymous) {
                fieldset {
                    legend { "Identité (traits de l'état civil)" }
                    (field(Field::text("birth_name", "Nom de naissance", &form.birth_name).required(), errors))
                    (field(Field::text("first_names", "Prénom(s) de naissance", &form.first_names).required().hint("Tous les prénoms, dans l'ordre de l'état civil, séparés par une espace."), errors))
                    (field(Field::text("used_name", "Nom d'usage", &form.used_name), errors))
                    (field(Field::text("used_first_name", "Prénom d'usage", &form.used_first_name), errors))
                    (field(Field::text("birth_date", "Date de naissance", &form.birth_date).kind("date").required().maxlength(10), errors))
                    (field(Field::text("birth_place_code", "Lieu de naissance (code INSEE)", &form.birth_place_code).maxlength(5).hint("Code commune INSEE à 5 caractères ; 99xxx pour un pays étranger, 99999 si inconnu."), errors))
                }
            }
            (select("sex", "Sexe (obligatoire sauf en accueil anonyme)", &sexes, &form.sex, errors))
            fieldset {
                legend { "Coordonnées (facultatives)" }
                (field(Field::text("phone", "Téléphone", &form.phone).kind("tel").maxlength(40), errors))
                (field(Field::text("email", "Courriel", &form.email).kind("email").maxlength(200), errors))
                (field(Field::text("address", "Adresse", &form.address).maxlength(200), errors))
            }
            div.actions {
                button type="submit" { @if editing { "Enregistrer les modifications" } @else { "Créer le dossier" } }
                " "
                a href=(id.map(|i| format!("/usagers/{i}")).unwrap_or_else(|| "/usagers".into())) { "Annuler" }
            }
        }
    }
}

/// The advisory duplicate warning at creation: candidates with their score
/// and reasons; the form below keeps what was typed and can be sent again.
pub fn duplicate_warning(
    found: &[(crate::store::Usager, crate::domain::duplicates::Match)],
) -> Markup {
    html! {
        section.warning #doublons role="alert" aria-labelledby="h-doublons" {
            h2 #h-doublons { "Doublon possible : " (found.len()) " dossier(s) ressemblant(s)" }
            p { "Vérifiez avec la personne et sa pièce d'identité. Si c'est elle, ouvrez son dossier au lieu d'en créer un second. Sinon, confirmez la création ci-dessous : rien de ce que vous avez saisi n'est perdu." }
            table {
                thead { tr { th scope="col" { "Dossier" } th scope="col" { "Naissance" } th scope="col" { "Statut" } th scope="col" { "Ressemblance" } th scope="col" { "Pourquoi" } } }
                tbody {
                    @for (u, m) in found {
                        tr {
                            td { a href={ "/usagers/" (u.id) } { (u.data.identity.display_name()) } }
                            td { (birth_label(&u.data.identity)) }
                            td { (u.vigilance.status().label()) }
                            td { (m.score) " / 100 — " (m.level().label()) }
                            td { (m.reasons.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
            p.hint { "Créer quand même : relisez le formulaire puis « Créer le dossier » — le référent identitovigilance verra la paire dans la liste des doublons potentiels." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_more_link_carries_the_search_encoded() {
        let search = SearchForm {
            q: "d'arc é&n=1",
            birth_date: "01/02/1990",
            error: None,
        };
        assert_eq!(
            more_href(&search, 50),
            "/usagers?q=d%27arc+%C3%A9%26n%3D1&date=01%2F02%2F1990&n=50"
        );
    }
}
