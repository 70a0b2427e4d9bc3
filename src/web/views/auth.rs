//! Login screens: Pro Santé Connect, the structure choice, the professional
//! not yet attached to a structure, logout.

use maud::{Markup, html};

use super::layout::{bare, csrf_field};
use crate::store::Membership;

/// Notices shown above the login button.
#[derive(Debug, Default)]
pub struct LoginNotice {
    pub expired: bool,
    pub logged_out: bool,
    pub error: Option<String>,
}

pub fn login(sandbox: bool, psc_ready: bool, notice: &LoginNotice) -> Markup {
    bare(
        "Connexion",
        sandbox,
        html! {
            @if notice.expired {
                p.notice role="status" { "Votre session a expiré : reconnectez-vous." }
            }
            @if notice.logged_out {
                p.notice role="status" { "Vous êtes déconnecté d'Escale et de Pro Santé Connect." }
            }
            @if let Some(e) = &notice.error {
                p.error-text role="alert" { (e) }
            }
            p { "La connexion se fait par Pro Santé Connect : carte CPS (ou CPE) dans un lecteur, ou application e-CPS sur votre téléphone." }
            @if psc_ready {
                p { a.button.psc href="/auth/psc/login" { "Se connecter avec Pro Santé Connect" } }
                @if sandbox {
                    p.muted { "Bac à sable : la page Pro Santé Connect locale vous laisse choisir un professionnel de test (équipe de démonstration, travailleurs sociaux RPPS+, nouvelle arrivante non rattachée) et le moyen d'authentification (carte ou e-CPS)." }
                }
            } @else {
                p.notice { "Pro Santé Connect n'est pas encore configuré sur cette instance : contactez l'administrateur de l'instance." }
            }
            p.muted { "Administration de l'instance : " a href="/admin/connexion" { "connexion de secours" } "." }
        },
    )
}

/// A professional who belongs to several structures picks one.
pub fn choose_structure(
    sandbox: bool,
    name: &str,
    memberships: &[Membership],
    choice: &str,
    csrf: &str,
) -> Markup {
    bare(
        "Choisissez votre structure",
        sandbox,
        html! {
            p { "Bonjour " (name) ". Vous travaillez dans plusieurs structures : dans laquelle travaillez-vous maintenant ?" }
            ul.login-list {
                @for m in memberships {
                    li {
                        form method="post" action="/auth/psc/structure" {
                            (csrf_field(csrf))
                            input type="hidden" name="choix" value=(choice);
                            input type="hidden" name="structure_id" value=(m.structure_id);
                            button type="submit" { strong { (m.structure_name) } }
                            " " span.muted { (m.roles.labels()) }
                        }
                    }
                }
            }
        },
    )
}

/// Authenticated by PSC, but Escale has no structure for them (yet).
pub fn unattached(
    sandbox: bool,
    name: &str,
    id_nat: &str,
    pending: &str,
    csrf: &str,
    typed_code: &str,
    error: Option<&str>,
) -> Markup {
    bare(
        "Compte non rattaché",
        sandbox,
        html! {
            p.notice role="status" {
                "Bonjour " (name) ". Pro Santé Connect vous a bien identifié (identifiant national " (id_nat) "), mais votre compte n'est rattaché à aucune structure dans Escale : contactez votre directeur ou votre directrice pour qu'il ou elle vous ajoute à l'équipe."
            }
            h2 { "Vous avez reçu un code d'invitation ?" }
            p { "Si votre directeur vous a pré-inscrit avant que votre numéro RPPS n'existe, saisissez le code qu'il vous a remis : votre compte Pro Santé Connect sera rattaché à votre fiche." }
            @if let Some(e) = error {
                p.error-text role="alert" { (e) }
            }
            form method="post" action="/auth/psc/invitation" {
                (csrf_field(csrf))
                input type="hidden" name="attente" value=(pending);
                label for="code" { "Code d'invitation" }
                input #code type="text" name="code" value=(typed_code) autocomplete="off" required;
                button type="submit" { "Rattacher mon compte" }
            }
            p { a href="/connexion" { "Revenir à la page de connexion" } }
        },
    )
}

/// The callback could not complete: what happened and what to do.
pub fn login_failed(sandbox: bool, message: &str) -> Markup {
    bare(
        "Connexion impossible",
        sandbox,
        html! {
            p.error-text role="alert" { (message) }
            p { a.button href="/auth/psc/login" { "Recommencer la connexion" } " " a href="/connexion" { "Page de connexion" } }
        },
    )
}

/// Logged out of Escale; the browser goes on to PSC's end-session page.
/// (A page rather than a redirect: `form-action 'self'` forbids following a
/// form's redirect to another origin.)
pub fn leaving_for_psc(end_session_url: &str) -> Markup {
    bare(
        "Déconnexion",
        false,
        html! {
            meta http-equiv="refresh" content={ "0;url=" (end_session_url) };
            p { "Vous êtes déconnecté d'Escale. Déconnexion de Pro Santé Connect en cours…" }
            p { a #psc-logout href=(end_session_url) { "Terminer la déconnexion de Pro Santé Connect" } }
        },
    )
}
