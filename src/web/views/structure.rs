//! The structure's settings, for directors.

use maud::{Markup, html};

use super::components::select;
use super::layout::csrf_field;
use crate::domain::care::CONFIGURABLE_MEDICAL_ROLES;
use crate::domain::dmp_codes::{DmpCodeField, default_code, structure_codes};
use crate::domain::identity::DOCUMENT_KINDS;
use crate::domain::roles::Role;
use crate::store::Structure;

/// The MSSanté part of the settings: the operator's domain, and the result
/// of « tester la connexion » when it was just run.
pub struct MssPanel<'a> {
    pub domain: Option<&'a str>,
    /// The sandbox's mailbox pages.
    pub site: Option<&'a str>,
    pub test: Option<Result<String, String>>,
}

pub fn settings(s: &Structure, csrf: &str, saved: bool, mss: &MssPanel<'_>) -> Markup {
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
        (dmp_codes(s, csrf))
        (mss_mailbox(s, csrf, mss))
    }
}

/// The structure's MSSanté mailbox and the connection test.
fn mss_mailbox(s: &Structure, csrf: &str, mss: &MssPanel<'_>) -> Markup {
    html! {
        section #mss aria-labelledby="h-mss" {
            h2 #h-mss { "Messagerie sécurisée de santé (MSSanté)" }
            @match mss.domain {
                None => p { "Aucun opérateur MSSanté n'est configuré sur cette instance : voyez avec son administrateur (clés mss_*)." },
                Some(domain) => {
                    p { "La boîte de la structure (applicative ou organisationnelle) envoie et reçoit les messages. Elle est chez l'opérateur de l'instance (" (domain) ") ; son certificat (IGC-Santé) est installé par l'administrateur de l'instance." }
                    form method="post" action="/structure/parametres/mss" {
                        (csrf_field(csrf))
                        div.field {
                            label for="f-mailbox" { "Adresse de la boîte de la structure" }
                            input #f-mailbox type="email" name="mailbox" maxlength="200" value=(s.mss_mailbox.as_deref().unwrap_or("")) placeholder={ "accueil@" (domain) } autocomplete="off";
                        }
                        button type="submit" { "Enregistrer la boîte" }
                    }
                    form method="post" action="/structure/parametres/mss/test" {
                        (csrf_field(csrf))
                        button type="submit" { "Tester la connexion" }
                    }
                    @if let Some(site) = mss.site {
                        p { a #boites-bac-a-sable href=(site) hx-boost="false" { "Voir les boîtes MSSanté du bac à sable (messages reçus par les professionnels et les patients)" } }
                    }
                    @match &mss.test {
                        Some(Ok(ok)) => p.ok role="status" #mss-test { "Test réussi : " (ok) },
                        Some(Err(e)) => p.error role="alert" #mss-test { "Test en échec : " (e) },
                        None => {}
                    }
                }
            }
        }
    }
}

/// The codes of the structure in what it sends to the DMP.
fn dmp_codes(s: &Structure, csrf: &str) -> Markup {
    let current = structure_codes(s.kind, &s.dmp_codes);
    let no_errors = std::collections::BTreeMap::new();
    html! {
        section #dmp aria-labelledby="h-dmp-codes" {
            h2 #h-dmp-codes { "Mon espace santé (DMP) : codes de la structure" }
            p { "Ces codes accompagnent chaque document envoyé au DMP (métadonnées XDS, en-tête CDA, VIHF). Reprenez le secteur d'activité que l'Annuaire Santé donne pour la structure ; sans choix, ceux de son type (" (s.kind.label()) ") s'appliquent." }
            form method="post" action="/structure/parametres/dmp" {
                (csrf_field(csrf))
                @for field in DmpCodeField::ALL {
                    @let options: Vec<(String, String)> = field
                        .options()
                        .map(|c| {
                            let default = if c.code == default_code(s.kind, field) { " — par défaut" } else { "" };
                            (c.code.clone(), format!("{} ({}){default}", c.label, c.code))
                        })
                        .collect();
                    @let options: Vec<(&str, &str)> = options.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                    @let selected = match field {
                        DmpCodeField::FacilityType => &current.facility_type.code,
                        DmpCodeField::PracticeSetting => &current.practice_setting.code,
                        DmpCodeField::ContentType => &current.content_type.code,
                    };
                    (select(field.code(), field.label(), &options, selected, &no_errors))
                }
                button type="submit" { "Enregistrer les codes DMP" }
            }
        }
    }
}
