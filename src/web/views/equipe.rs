//! The director's team page and the invitation code shown once.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use uuid::Uuid;

use super::layout::{self, csrf_field};
use crate::domain::directory::DirectoryPerson;
use crate::domain::roles::Role;
use crate::services::annuaire::Found;
use crate::store::access::TeamEntry;
use crate::web::session::Ctx;

pub enum Search {
    Found(Found<DirectoryPerson>),
    Failed(String),
}

pub struct TeamPage<'a> {
    pub team: &'a [TeamEntry],
    pub query: &'a str,
    pub search: Option<&'a Search>,
    pub message: Option<&'a str>,
    pub me: Uuid,
}

fn role_boxes(prefix: &str, checked: &[Role]) -> Markup {
    html! {
        fieldset.roles {
            legend { "Rôles dans la structure" }
            @for r in Role::ALL {
                @let id = format!("{prefix}-{}", r.code());
                span.choice {
                    input type="checkbox" id=(id) name="role" value=(r.code()) checked[checked.contains(&r)];
                    label for=(id) { (r.label()) }
                }
            }
        }
    }
}

fn member_row(ctx: &Ctx, e: &TeamEntry, me: Uuid) -> Markup {
    let held: Vec<Role> = e.roles.iter().collect();
    html! {
        li.member {
            strong { (e.first_name) " " (e.last_name) }
            " " span.muted { (e.profession) }
            " · " (e.national_id.as_deref().unwrap_or("RPPS en attente"))
            @if let Some(until) = e.invited_until {
                " · " span.badge { "invitation en attente jusqu'au " (until.format("%d/%m/%Y")) }
            }
            form method="post" action={ "/structure/equipe/" (e.id) "/roles" } {
                (csrf_field(&ctx.session.csrf_token))
                (role_boxes(&format!("m-{}", e.id), &held))
                button type="submit" { "Enregistrer les rôles" }
            }
            @if e.id != me && !e.roles.is_empty() {
                form method="post" action={ "/structure/equipe/" (e.id) "/roles" } {
                    (csrf_field(&ctx.session.csrf_token))
                    button.danger type="submit" { "Retirer l'accès à la structure" }
                }
            }
        }
    }
}

fn result_row(ctx: &Ctx, p: &DirectoryPerson, query: &str) -> Markup {
    let suggested = p.suggested_roles();
    let places: Vec<String> = p
        .situations
        .iter()
        .map(|s| s.workplace.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    html! {
        li {
            strong { (p.display_name()) }
            " · " (p.rpps.as_deref().map(|r| format!("RPPS {r}")).unwrap_or_else(|| p.id_nat_ps.clone()))
            " · " (p.headline())
            @if !places.is_empty() { br; span.muted { (places.join(" ; ")) } }
            form method="post" action="/structure/equipe/ajout" {
                (csrf_field(&ctx.session.csrf_token))
                input type="hidden" name="q" value=(query);
                input type="hidden" name="id_nat" value=(p.id_nat_ps);
                input type="hidden" name="first_name" value=(p.first_name);
                input type="hidden" name="last_name" value=(p.last_name);
                input type="hidden" name="profession" value=(p.headline());
                (role_boxes(&format!("a-{}", p.id_nat_ps), &suggested))
                button type="submit" { "Ajouter à l'équipe" }
            }
        }
    }
}

pub fn page(ctx: &Ctx, sandbox: bool, p: &TeamPage) -> Markup {
    layout::page(
        ctx,
        sandbox,
        "Équipe de la structure",
        html! {
            @if let Some(m) = p.message { p.error-text role="alert" { (m) } }
            section aria-labelledby="t-team" {
                h2 #t-team { "Membres" }
                ul.team { @for e in p.team { (member_row(ctx, e, p.me)) } }
            }
            section aria-labelledby="t-add" {
                h2 #t-add { "Ajouter un professionnel" }
                form method="get" action="/structure/equipe" role="search" {
                    label for="q" { "Nom (et prénom) ou numéro RPPS" }
                    input #q type="search" name="q" value=(p.query);
                    button type="submit" { "Chercher dans l'Annuaire Santé" }
                }
                @match p.search {
                    None => {},
                    Some(Search::Failed(e)) => p.error-text role="alert" { (e) },
                    Some(Search::Found(found)) => {
                        p.muted { "Source : " (found.source.label()) "." }
                        @if let Some(n) = &found.notice { p.notice { (n) } }
                        @if found.items.is_empty() {
                            p { "Personne ne correspond. Un professionnel du social qui attend son numéro RPPS+ se pré-inscrit ci-dessous." }
                        }
                        ul.results { @for person in &found.items { (result_row(ctx, person, p.query)) } }
                    }
                }
            }
            section aria-labelledby="t-pre" {
                h2 #t-pre { "Pré-inscrire (numéro RPPS en attente)" }
                p { "Pour un professionnel inscrit au RPPS+ dont le numéro n'est pas encore attribué : Escale donne un code d'invitation à lui remettre ; à sa première connexion Pro Santé Connect, ce code rattache son compte à cette fiche." }
                form method="post" action="/structure/equipe/preinscription" {
                    (csrf_field(&ctx.session.csrf_token))
                    label for="pre-first" { "Prénom" } input #pre-first type="text" name="first_name" required;
                    label for="pre-last" { "Nom" } input #pre-last type="text" name="last_name" required;
                    label for="pre-prof" { "Profession" } input #pre-prof type="text" name="profession";
                    (role_boxes("pre", &[]))
                    button type="submit" { "Pré-inscrire et obtenir le code" }
                }
            }
        },
    )
}

pub fn invitation_made(
    ctx: &Ctx,
    sandbox: bool,
    name: &str,
    code: &str,
    expires: DateTime<Utc>,
) -> Markup {
    layout::page(
        ctx,
        sandbox,
        "Code d'invitation",
        html! {
            p { (name) " est pré-inscrit(e). Remettez-lui ce code ; il ne sera plus affiché :" }
            p.code-invitation { strong #code-invitation { (code) } }
            p { "Valable jusqu'au " (expires.format("%d/%m/%Y")) ". À sa première connexion par Pro Santé Connect, Escale lui demandera ce code." }
            p { a href="/structure/equipe" { "Revenir à l'équipe" } }
        },
    )
}
