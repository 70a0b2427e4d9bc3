//! The address book page: entries with their MSSanté addresses, and a search
//! in the Annuaire to add more.

use maud::{Markup, html};

use super::layout::{self, csrf_field};
use crate::domain::directory::{DirectoryOrganization, DirectoryPerson, Mailbox};
use crate::services::annuaire::Found;
use crate::store::access::Correspondent;
use crate::web::session::Ctx;

pub enum Results {
    People(Found<DirectoryPerson>),
    Organizations(Found<DirectoryOrganization>),
    Failed(String),
}

pub struct View<'a> {
    pub book: &'a [Correspondent],
    pub query: &'a str,
    pub structures: bool,
    pub results: Option<&'a Results>,
    pub message: Option<&'a str>,
    /// Whether the reader may add and remove entries (else the book is read-only).
    pub can_manage: bool,
}

fn mailboxes(boxes: &[Mailbox]) -> Markup {
    html! {
        @if boxes.is_empty() {
            span.muted { "pas de messagerie sécurisée publiée" }
        } @else {
            ul.mailboxes {
                @for b in boxes {
                    li {
                        code { (b.address) } " " span.muted { "(" (b.kind.label()) ")" }
                        @if let Some(d) = &b.description { " — " (d) }
                    }
                }
            }
        }
    }
}

fn add_form(ctx: &Ctx, kind: &str, identifier: &str) -> Markup {
    html! {
        form method="post" action="/correspondants/ajout" {
            (csrf_field(&ctx.session.csrf_token))
            input type="hidden" name="kind" value=(kind);
            input type="hidden" name="identifier" value=(identifier);
            label { "Note (facultative) " input type="text" name="note" maxlength="200"; }
            button type="submit" { "Ajouter au carnet" }
        }
    }
}

pub fn page(ctx: &Ctx, sandbox: bool, v: &View) -> Markup {
    layout::page(
        ctx,
        sandbox,
        "Correspondants",
        html! {
            @if let Some(m) = v.message { p.error-text role="alert" { (m) } }
            section aria-labelledby="c-book" {
                h2 #c-book { "Carnet d'adresses de la structure" }
                @if v.book.is_empty() { p { "Aucun correspondant pour l'instant : cherchez-en dans l'Annuaire Santé ci-dessous." } }
                ul.book {
                    @for c in v.book {
                        li {
                            strong { (c.name) } " · " span.muted { (c.detail) }
                            @if !c.note.is_empty() { " · " em { (c.note) } }
                            (mailboxes(&c.mailboxes))
                            @if v.can_manage {
                                form method="post" action={ "/correspondants/" (c.id) "/suppression" } {
                                    (csrf_field(&ctx.session.csrf_token))
                                    button.link type="submit" { "Retirer du carnet" }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="c-search" {
                h2 #c-search { "Chercher dans l'Annuaire Santé" }
                form method="get" action="/correspondants" role="search" {
                    label for="cq" { "Nom, numéro RPPS ou FINESS" }
                    input #cq type="search" name="q" value=(v.query);
                    select name="type" aria-label="Type de correspondant" {
                        option value="pro" selected[!v.structures] { "Professionnel" }
                        option value="structure" selected[v.structures] { "Structure" }
                    }
                    button type="submit" { "Chercher" }
                }
                @match v.results {
                    None => {},
                    Some(Results::Failed(e)) => p.error-text role="alert" { (e) },
                    Some(Results::People(f)) => {
                        p.muted { "Source : " (f.source.label()) "." }
                        @if let Some(n) = &f.notice { p.notice { (n) } }
                        @if f.items.is_empty() { p { "Personne ne correspond." } }
                        ul.results {
                            @for p in &f.items {
                                li {
                                    strong { (p.display_name()) } " · " (p.headline())
                                    (mailboxes(&p.mailboxes))
                                    @if v.can_manage { (add_form(ctx, "professionnel", &p.id_nat_ps)) }
                                }
                            }
                        }
                    }
                    Some(Results::Organizations(f)) => {
                        @if let Some(n) = &f.notice { p.notice { (n) } }
                        @if f.items.is_empty() { p { "Aucune structure ne correspond." } }
                        ul.results {
                            @for o in &f.items {
                                li {
                                    strong { (o.name) }
                                    @if let Some(fi) = &o.finess { " · FINESS " (fi) }
                                    @if let Some(c) = &o.city { " · " (c) }
                                    (mailboxes(&o.mailboxes))
                                    @if let (true, Some(fi)) = (v.can_manage, &o.finess) { (add_form(ctx, "structure", fi)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
