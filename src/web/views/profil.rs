//! « Mon profil »: national id, professions and workplaces from Pro Santé
//! Connect, the roles held here and those the Annuaire suggests.

use maud::{Markup, html};

use super::layout;
use crate::domain::directory::Situation;
use crate::store::Professional;
use crate::store::access::ProfessionalProfile;
use crate::web::session::Ctx;

fn situation(s: &Situation) -> Markup {
    let w = &s.workplace;
    html! {
        li {
            strong { (if w.name.is_empty() { "Structure sans nom" } else { w.name.as_str() }) }
            @if let Some(f) = &w.finess { " · FINESS " (f) }
            @if let Some(c) = &w.city { " · " (c) }
            @if let Some(r) = &s.role { br; "Rôle RPPS+ : " (r.label) " (" (r.code) ")" }
            @if let Some(m) = &s.mode {
                br; span.muted { "Mode d'exercice : " (match m.as_str() { "L" => "libéral", "S" => "salarié", "B" => "bénévole", other => other }) }
            }
        }
    }
}

pub fn page(
    ctx: &Ctx,
    sandbox: bool,
    me: &Professional,
    profile: Option<&ProfessionalProfile>,
) -> Markup {
    let held = &ctx.tenant.roles;
    layout::page(
        ctx,
        sandbox,
        "Mon profil",
        html! {
            dl {
                dt { "Nom" } dd { (me.display_name()) }
                dt { "Identifiant national" } dd { (me.national_id.as_deref().unwrap_or("aucun")) }
                dt { "Connexion en cours" } dd { (ctx.session.auth_method) }
                dt { "Rôles dans " (ctx.session.structure_name) } dd { (held.labels()) }
            }
            @match profile {
                None => p.muted { "Pro Santé Connect ne nous a encore rien transmis sur vous." },
                Some(p) => {
                    h2 { "Ce que dit Pro Santé Connect" }
                    p.muted { "Dernière connexion : " (p.last_login_at.format("%d/%m/%Y %H:%M")) " UTC, " (p.auth_mode) @if let Some(a) = &p.acr { " (niveau " (a) ")" } "." }
                    h3 { "Professions" }
                    ul { @for prof in &p.person.professions { li { (prof.label) " (" (prof.code) ")" } } }
                    h3 { "Lieux d'exercice" }
                    ul { @for s in &p.person.situations { (situation(s)) } }
                    @let suggested = p.person.suggested_roles();
                    @if !suggested.is_empty() {
                        p {
                            "Rôles que l'Annuaire suggère : "
                            (suggested.iter().map(|r| r.label()).collect::<Vec<_>>().join(", "))
                            ". Votre directeur attribue les rôles dans Escale."
                        }
                    }
                }
            }
        },
    )
}
