//! Login screens.

use maud::{Markup, html};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::layout::{bare, csrf_field};
use crate::store::LoginChoice;

pub fn sandbox_login(choices: &[LoginChoice], csrf: &str, expired: bool) -> Markup {
    let mut by_structure: BTreeMap<(String, Uuid), Vec<(&LoginChoice, String)>> = BTreeMap::new();
    for c in choices {
        for m in &c.memberships {
            by_structure
                .entry((m.structure_name.clone(), m.structure_id))
                .or_default()
                .push((c, m.roles.labels()));
        }
    }
    bare(
        "Connexion",
        true,
        html! {
            @if expired {
                p.notice role="status" { "Votre session a expiré : reconnectez-vous." }
            }
            p { "Choisissez un professionnel de démonstration. En production, la connexion se fait par Pro Santé Connect (carte CPS, CPE ou application e-CPS)." }
            @for ((name, structure_id), people) in &by_structure {
                section.login-structure aria-labelledby={ "s-" (structure_id) } {
                    h2 id={ "s-" (structure_id) } { (name) }
                    ul.login-list {
                        @for (choice, roles) in people {
                            li {
                                form method="post" action="/connexion/demo" {
                                    (csrf_field(csrf))
                                    input type="hidden" name="professional_id" value=(choice.professional.id);
                                    input type="hidden" name="structure_id" value=(structure_id);
                                    button type="submit" {
                                        "Se connecter comme " strong { (choice.professional.display_name()) }
                                    }
                                    " "
                                    span.muted { (choice.professional.profession) " — " (roles) }
                                }
                            }
                        }
                    }
                }
            }
            @if by_structure.is_empty() {
                p { "Aucun professionnel n'est encore rattaché à une structure. Créez-en un avec " code { "escale admin create-professional" } "." }
            }
        },
    )
}

pub fn production_login(expired: bool) -> Markup {
    bare(
        "Connexion",
        false,
        html! {
            @if expired {
                p.notice role="status" { "Votre session a expiré : reconnectez-vous." }
            }
            p { "La connexion se fait par Pro Santé Connect (carte CPS, CPE ou application e-CPS)." }
            p.notice { "Pro Santé Connect n'est pas encore configuré sur cette instance : contactez l'administrateur de l'instance." }
        },
    )
}
