//! The structure's settings, for directors.

use maud::{Markup, html};

use super::layout::csrf_field;
use crate::domain::care::CONFIGURABLE_MEDICAL_ROLES;
use crate::domain::identity::DOCUMENT_KINDS;
use crate::domain::roles::Role;
use crate::store::Structure;

pub fn settings(s: &Structure, csrf: &str, saved: bool) -> Markup {
    html! {
        @if saved { p.ok role="status" { "Paramètres enregistrés." } }
        dl.structure {
            dt { "Type" } dd { (s.kind.label()) }
            dt { "FINESS géographique" } dd { (s.finess_geo) }
            dt { "FINESS juridique" } dd { (s.finess_juridique) }
            dt { "Accueil anonyme" } dd { @if s.kind.allows_anonymity() { "possible (CSAPA, CAARUD)" } @else { "non prévu pour ce type de structure" } }
        }
        h2 { "Lecture des notes médicales" }
        p { "Les notes médicales sont toujours lisibles par les médecins de la structure, jamais par les rôles non soignants. Choisissez quels autres professionnels de santé de l'équipe les lisent (secret partagé, CSP L.1110-4)." }
        form method="post" action="/structure/parametres" {
            (csrf_field(csrf))
            fieldset {
                legend { "Professionnels de santé qui lisent les notes médicales, en plus des médecins" }
                @for r in CONFIGURABLE_MEDICAL_ROLES {
                    div.checkbox {
                        input type="checkbox" id={ "r-" (r.code()) } name="medical_roles" value=(r.code()) checked[s.medical_roles.contains(&r)];
                        label for={ "r-" (r.code()) } { (r.label()) }
                    }
                }
            }
            h2 { "Procédure d'identitovigilance" }
            fieldset {
                legend { "Rôles qui interrogent INSi et vérifient les pièces d'identité" }
                @for r in Role::ALL {
                    div.checkbox {
                        input type="checkbox" id={ "q-" (r.code()) } name="qualifier_roles" value=(r.code()) checked[s.qualifier_roles.contains(&r)];
                        label for={ "q-" (r.code()) } { (r.label()) }
                    }
                }
            }
            fieldset {
                legend { "Pièces d'identité à haut niveau de confiance acceptées (Guide INS EXI ID 19)" }
                @for (code, label) in DOCUMENT_KINDS {
                    div.checkbox {
                        input type="checkbox" id={ "d-" (code) } name="identity_documents" value=(code) checked[s.identity_documents.iter().any(|d| d == code)];
                        label for={ "d-" (code) } { (label) }
                    }
                }
            }
            button type="submit" { "Enregistrer" }
        }
    }
}
