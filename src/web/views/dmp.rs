//! The structure's DMP requests that need someone: refused by the DMP (or
//! by Escale's rules when the job sent) or given up after every attempt.

use maud::{Markup, html};

use super::datetime_fr;
use crate::store::DmpDeposit;

pub fn failures(list: &[DmpDeposit]) -> Markup {
    html! {
        p.hint { "Les demandes refusées ou abandonnées après plusieurs tentatives. Ouvrez le dossier pour relancer ou annuler : rien n'est perdu." }
        @if list.is_empty() { p { "Aucun envoi en échec." } }
        @else {
            table {
                thead { tr { th scope="col" { "Dossier" } th scope="col" { "Document" } th scope="col" { "Demande" } th scope="col" { "État et raison" } } }
                tbody {
                    @for d in list {
                        tr {
                            td { a href={ "/usagers/" (d.usager_id) "#dmp" } { (d.usager_label) } }
                            td { (d.title) }
                            td { (d.operation.label()) " par " (d.requested_by) ", le " (datetime_fr(d.requested_at)) }
                            td { strong { (d.state.label()) } @if let Some(r) = &d.reason { " : " (r) } }
                        }
                    }
                }
            }
        }
    }
}
