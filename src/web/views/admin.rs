//! Instance administration (break-glass login): the login form, the list of
//! structures with their directors, creating a structure, designating a
//! director. No user file is ever reachable from these pages.

use maud::{Markup, html};
use uuid::Uuid;

use super::components::{Errors, Field, error_summary, field, select};
use super::layout::{bare, csrf_field, plain};
use crate::domain::structure::StructureKind;
use crate::services::administration::{
    BootstrapRequest, Bootstrapped, DirectorRequest, StructureRequest,
};
use crate::store::Structure;
use crate::store::access::StructureDirector;
use crate::web::admin_session::AdminCtx;

pub fn login(sandbox: bool, csrf: &str, login: &str, error: Option<&str>, ended: bool) -> Markup {
    let no_errors = Errors::new();
    bare(
        "Administration de l'instance — connexion de secours",
        sandbox,
        html! {
            @if ended {
                p.notice role="status" { "Session d'administration terminée." }
            }
            @if let Some(e) = error {
                p.error-text role="alert" { (e) }
            }
            @if sandbox {
                p.muted {
                    "Bac à sable : administrateur de démonstration, identifiant " code { (crate::services::administration::SANDBOX_LOGIN) }
                    ", mot de passe " code { (crate::services::administration::SANDBOX_PASSWORD) }
                    ", code du moment " code { (crate::services::administration::sandbox_code_now(chrono::Utc::now())) }
                    " (secret TOTP " code { (crate::services::administration::SANDBOX_TOTP_SECRET) } ")."
                }
            }
            p { "Réservée à l'administrateur de l'instance (GRADeS) : gestion des structures et de leurs directeurs. Elle ne donne accès à aucun dossier d'usager. Les professionnels se connectent par " a href="/connexion" { "Pro Santé Connect" } "." }
            form method="post" action="/admin/connexion" {
                (csrf_field(csrf))
                (field(Field::text("login", "Identifiant", login).required(), &no_errors))
                (field(Field::text("password", "Mot de passe", "").kind("password").required(), &no_errors))
                (field(
                    Field::text("code", "Code à usage unique (application d'authentification)", "")
                        .required()
                        .maxlength(8)
                        .hint("6 chiffres, renouvelés toutes les 30 secondes"),
                    &no_errors,
                ))
                button type="submit" { "Se connecter" }
            }
        },
    )
}

/// What the administration page shows, with what a failed form kept.
pub struct AdminPage<'a> {
    /// (name, login) of each administrator.
    pub administrators: &'a [(String, String)],
    pub new_admin: &'a BootstrapRequest,
    pub admin_errors: &'a Errors,
    pub structures: &'a [Structure],
    pub directors: &'a [StructureDirector],
    pub new_structure: &'a StructureRequest,
    pub structure_errors: &'a Errors,
    /// A director form that failed: for which structure, what was typed, why.
    pub director_failed: Option<(Uuid, &'a DirectorRequest, &'a str)>,
    pub notice: Option<&'a str>,
}

fn shell(admin: &AdminCtx, sandbox: bool, title: &str, content: Markup) -> Markup {
    let header = html! {
        a.brand href="/admin" { "Escale — administration de l'instance" }
        div.who {
            span { (admin.session.display_name) }
            " · "
            span.muted { "connexion de secours" }
            form method="post" action="/admin/deconnexion" {
                (csrf_field(&admin.session.csrf_token))
                button.link type="submit" { "Se déconnecter" }
            }
        }
    };
    plain(title, sandbox, header, content)
}

pub fn home(admin: &AdminCtx, sandbox: bool, page: &AdminPage<'_>) -> Markup {
    let kinds: Vec<(&str, &str)> = StructureKind::ALL
        .iter()
        .map(|k| (k.code(), k.label()))
        .collect();
    let csrf = &admin.session.csrf_token;
    shell(
        admin,
        sandbox,
        "Administration de l'instance",
        html! {
            @if let Some(n) = page.notice {
                p.notice role="status" { (n) }
            }
            p.muted { "Cette session se termine au bout de 30 minutes. Elle ne donne accès à aucun dossier d'usager : les directeurs désignés ici se connectent par Pro Santé Connect et gèrent ensuite leur équipe." }
            h2 { "Structures (" (page.structures.len()) ")" }
            @if page.structures.is_empty() {
                p { "Aucune structure pour l'instant : créez la première ci-dessous." }
            }
            ul.structures {
                @for s in page.structures {
                    @let directors: Vec<&StructureDirector> = page.directors.iter().filter(|d| d.structure_id == s.id).collect();
                    li {
                        strong { (s.name) }
                        " · " (s.kind.label()) " · FINESS " (s.finess_geo)
                        br;
                        @if directors.is_empty() {
                            span.badge { "pas encore de directeur ou directrice" }
                        } @else {
                            "Direction : "
                            @for (i, d) in directors.iter().enumerate() {
                                @if i > 0 { ", " }
                                (d.display_name)
                                @if let Some(n) = &d.national_id { " (" (n) ")" }
                            }
                        }
                        (director_form(csrf, s, page.director_failed))
                    }
                }
            }
            h2 { "Créer une structure" }
            (error_summary(page.structure_errors))
            form method="post" action="/admin/structures" {
                (csrf_field(csrf))
                (field(Field::text("name", "Nom", &page.new_structure.name).required().maxlength(200), page.structure_errors))
                (select("kind", "Type", &kinds, &page.new_structure.kind, page.structure_errors))
                (field(Field::text("finess_geo", "FINESS géographique", &page.new_structure.finess_geo).required().maxlength(9).hint("9 caractères, celui de l'établissement (ET)"), page.structure_errors))
                (field(Field::text("finess_juridique", "FINESS juridique", &page.new_structure.finess_juridique).required().maxlength(9).hint("9 caractères, celui de l'entité juridique (EJ)"), page.structure_errors))
                button type="submit" { "Créer la structure" }
            }
            h2 { "Administrateurs de l'instance" }
            ul {
                @for (name, login) in page.administrators {
                    li { (name) " · identifiant " code { (login) } }
                }
            }
            details open[!page.admin_errors.is_empty()] {
                summary { "Ajouter un administrateur (connexion de secours)" }
                p.muted { "Son mot de passe et son secret TOTP s'afficheront une seule fois, pour les lui remettre en main propre." }
                (error_summary(page.admin_errors))
                form method="post" action="/admin/administrateurs" {
                    (csrf_field(csrf))
                    (field(Field::text("first_name", "Prénom", &page.new_admin.first_name).required(), page.admin_errors))
                    (field(Field::text("last_name", "Nom", &page.new_admin.last_name).required(), page.admin_errors))
                    (field(Field::text("login", "Identifiant", &page.new_admin.login).required().maxlength(64).hint("lettres, chiffres, . - _ @"), page.admin_errors))
                    button type="submit" { "Ajouter l'administrateur" }
                }
            }
        },
    )
}

/// The new administrator's secrets, shown this once.
pub fn credentials(admin: &AdminCtx, sandbox: bool, c: &Bootstrapped) -> Markup {
    shell(
        admin,
        sandbox,
        "Administrateur ajouté",
        html! {
            p.notice role="status" {
                "Remettez ces éléments à " strong { (c.display_name) } " en main propre. Ils ne seront plus jamais affichés ; en cas de perte : "
                code { "escale admin reset-credential --login " (c.login) } "."
            }
            dl {
                dt { "Identifiant" } dd { code { (c.login) } }
                dt { "Mot de passe" } dd { code { (c.password) } }
                dt { "Secret TOTP (base32)" } dd { code { (c.totp_secret) } }
                dt { "URI pour l'application d'authentification" } dd { code { (c.otpauth_uri) } }
            }
            p { a href="/admin" { "Revenir à l'administration de l'instance" } }
        },
    )
}

fn director_form(
    csrf: &str,
    s: &Structure,
    failed: Option<(Uuid, &DirectorRequest, &str)>,
) -> Markup {
    let empty = DirectorRequest::default();
    let (typed, error) = match failed {
        Some((id, typed, error)) if id == s.id => (typed, Some(error)),
        _ => (&empty, None),
    };
    let prefix = format!("d-{}", s.id);
    html! {
        details open[error.is_some()] {
            summary { "Désigner un directeur ou une directrice" }
            form method="post" action={ "/admin/structures/" (s.id) "/directeur" } {
                (csrf_field(csrf))
                @if let Some(e) = error {
                    p.error-text role="alert" { (e) }
                }
                div.field {
                    label for={ (prefix) "-id" } { "RPPS ou identifiant national (idNat_PS)" }
                    input id={ (prefix) "-id" } name="national_id" value=(typed.national_id) required maxlength="50" autocomplete="off";
                }
                p.muted { "Le nom est repris de l'Annuaire Santé. Si le numéro n'y figure pas encore (inscription RPPS+ en cours), saisissez-le :" }
                div.field {
                    label for={ (prefix) "-prenom" } { "Prénom" }
                    input id={ (prefix) "-prenom" } name="first_name" value=(typed.first_name) maxlength="100" autocomplete="off";
                }
                div.field {
                    label for={ (prefix) "-nom" } { "Nom" }
                    input id={ (prefix) "-nom" } name="last_name" value=(typed.last_name) maxlength="100" autocomplete="off";
                }
                button type="submit" { "Désigner" }
            }
        }
    }
}
