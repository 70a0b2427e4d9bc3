//! The page shell.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

use crate::web::assets::{HTMX_VERSION, htmx_available};
use crate::web::session::Ctx;

/// htmx without inline styles (CSP), without eval, and swapping every answer
/// (a 422 form with its errors must replace the page like a 200).
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,"responseHandling":[{"code":"204","swap":false},{"code":"...","swap":true}]}"#;

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " — Escale" }
        link rel="stylesheet" href="/static/escale.css";
        script src="/static/vitale.js" defer {}
        @if htmx_available() {
            meta name="htmx-config" content=(HTMX_CONFIG);
            script src={ "/static/htmx.min.js?v=" (HTMX_VERSION) } defer {}
        }
    }
}

fn sandbox_banner(sandbox: bool) -> Markup {
    html! {
        @if sandbox {
            p.sandbox role="note" { strong { "Bac à sable" } " — données fictives, services nationaux simulés. Ne saisissez aucune donnée réelle." }
        }
    }
}

/// A page for a logged-in professional.
pub fn page(ctx: &Ctx, sandbox: bool, title: &str, content: Markup) -> Markup {
    let t = &ctx.tenant;
    let csrf_headers = format!(r#"{{"X-CSRF-Token":"{}"}}"#, ctx.session.csrf_token);
    html! {
        (DOCTYPE)
        html lang="fr" {
            head { (head(title)) }
            body hx-boost="true" hx-headers=(csrf_headers) {
                a.skip href="#contenu" { "Aller au contenu" }
                (sandbox_banner(sandbox))
                header.top {
                    a.brand href="/usagers" { "Escale" }
                    nav aria-label="Navigation principale" {
                        ul {
                            li { a href="/usagers" { "Usagers" } }
                            li { a href="/usagers/nouveau" { "Nouveau dossier" } }
                            @if t.roles.any(&[crate::domain::roles::Role::ReferentIdentitovigilance, crate::domain::roles::Role::Directeur]) || t.may(crate::domain::procedure::IdentityAction::Merge) {
                                li { a href="/identitovigilance" { "Identitovigilance" } }
                            }
                            li { a href="/identitovigilance/procedure" { "Procédure" } }
                            li { a href="/correspondants" { "Correspondants" } }
                            li { a href="/dmp/echecs" { "Envois DMP en échec" } }
                            li { a href="/messagerie" { "Messages à suivre" } }
                            @if t.roles.contains(crate::domain::roles::Role::Directeur) {
                                li { a href="/structure/equipe" { "Équipe" } }
                            }
                            @if t.roles.can_read_audit() {
                                li { a href="/journal" { "Journal d'audit" } }
                                li { a href="/structure/parametres" { "Paramètres" } }
                                li { a href="/structure/identitovigilance" { "Procédure (paramètres)" } }
                            }
                        }
                    }
                    div.who {
                        a href="/profil" { (ctx.session.professional_name) }
                        " "
                        span.muted title="Moyen de connexion" { "(" (ctx.session.auth_method) ")" }
                        " · "
                        span { (ctx.session.structure_name) }
                        " · "
                        span.roles { (t.roles.labels()) }
                        form method="post" action="/deconnexion" hx-boost="false" {
                            (csrf_field(&ctx.session.csrf_token))
                            button.link type="submit" { "Se déconnecter" }
                        }
                    }
                }
                main #contenu tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A page without a session (login, errors).
pub fn bare(title: &str, sandbox: bool, content: Markup) -> Markup {
    plain(
        title,
        sandbox,
        html! { a.brand href="/" { "Escale" } },
        content,
    )
}

/// A page without htmx boosting, with its own header (no session, or the
/// instance administration).
pub fn plain(title: &str, sandbox: bool, header: Markup, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head { (head(title)) }
            body {
                a.skip href="#contenu" { "Aller au contenu" }
                (sandbox_banner(sandbox))
                header.top { (header) }
                main #contenu tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Markup {
    bare(
        title,
        false,
        html! {
            p.error-text { (message) }
            p { a href="/usagers" { "Revenir à la liste des usagers" } " · " a href="/connexion" { "Se connecter" } }
            p.muted { "Code " (status.as_u16()) }
        },
    )
}

/// 409: the file changed since the page was read; nothing was written.
pub fn stale_page(usager_id: uuid::Uuid) -> Markup {
    bare(
        "Dossier modifié entre-temps",
        false,
        html! {
            p.error-text { "Ce dossier a été modifié par quelqu'un d'autre depuis que vous avez ouvert la page : votre action n'a pas été enregistrée, pour ne pas effacer ce changement." }
            p { "Ouvrez le dossier dans son état actuel, vérifiez ce qui a changé (statut de l'identité, traits, attributs), puis refaites votre action si elle est toujours nécessaire." }
            p { a href={ "/usagers/" (usager_id) "#identitovigilance" } { "Ouvrir le dossier dans son état actuel" } " · " a href="/usagers" { "Revenir à la liste des usagers" } }
            p.muted { "Code 409" }
        },
    )
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}
