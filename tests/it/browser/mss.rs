//! MSSanté in a real browser (issue 14): the nurse qualifies a user and
//! writes a letter; the social worker sends it to a correspondent (a typed
//! address the Annuaire does not list: warned, then confirmed) and writes to
//! the user's Mon espace santé mailbox; the MSSanté sandbox's pages show
//! both; the patient replies there; « Relever la boîte maintenant » brings
//! the reply into the file. axe-core runs on each page on the way.

use std::sync::Arc;

use fantoccini::{Client, Locator};

use super::axe::{Findings, assert_no_violations, axe_or_skip, check_page};
use super::dmp::{qualify, write_letter};
use super::{
    CSAPA, click_login_as, click_x, create_file, eventually, fill, in_browser, log_out,
    open_new_form, setup, text_of, wait_page,
};

const NURSE_ID_NAT: &str = "899900000029";
const SOCIAL_ID_NAT: &str = "899900000045";
const TITLE: &str = "Lettre de liaison au médecin";
const DOCTOR: &str = "dr.martin@hopital.test.mssante.fr";

async fn log_in_csapa(c: &Client, base: &str, id_nat: &str, mode: &str) {
    c.goto(&format!("{base}/connexion"))
        .await
        .expect("open /connexion");
    wait_page(c, "Connexion", |p| p == "/connexion").await;
    click_login_as(c, id_nat, mode).await;
    wait_page(c, "Choisissez votre structure", |_| true).await;
    click_x(
        c,
        &format!("//button[contains(normalize-space(), '{CSAPA}')]"),
    )
    .await;
    wait_page(c, "Usagers", |p| p == "/usagers").await;
}

/// Fills and sends « Écrire un message ».
async fn write(c: &Client, to: &str, subject: &str, body: &str, with_letter: bool) {
    click_x(c, &format!("//input[@name='msg_to' and @value='{to}']")).await;
    fill(c, "#f-msg_subject", subject).await;
    fill(c, "#f-msg_body", body).await;
    if with_letter {
        click_x(
            c,
            &format!("//label[contains(normalize-space(), '{TITLE}')]/preceding-sibling::input[@name='msg_document']"),
        )
        .await;
    }
    click_x(c, "//button[normalize-space()='Envoyer le message']").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_social_worker_writes_to_a_correspondent_and_to_the_user_who_replies() {
    let Some(axe) = axe_or_skip() else {
        return;
    };
    let Some((app, driver)) = setup().await else {
        return;
    };
    let base = app.url("");
    let site = app
        .sandboxes
        .mss
        .as_ref()
        .and_then(|s| s.site.clone())
        .expect("the MSSanté sandbox's pages");
    let findings: Findings = Arc::default();
    let f = findings.clone();
    in_browser(&driver, true, move |c| async move {
        let check = |page: &'static str, who: &'static str| {
            let (c, axe, f) = (c.clone(), axe.clone(), f.clone());
            async move { check_page(&c, &axe, page, who, &f).await }
        };
        // The nurse qualifies the user and writes the letter.
        log_in_csapa(&c, &base, NURSE_ID_NAT, "carte").await;
        open_new_form(&c).await;
        let file = create_file(&c, "Adrtrois", "Dominique", "1997-02-26").await;
        qualify(&c).await;
        write_letter(&c, TITLE).await;
        eventually(&c, "the letter in the file", async || {
            text_of(&c, "section#documents")
                .await?
                .contains(TITLE)
                .then_some(())
        })
        .await;
        log_out(&c).await;

        // The social worker writes to the doctor, with the letter.
        let who = "travailleur social (Karim Haddad)";
        log_in_csapa(&c, &base, SOCIAL_ID_NAT, "ecps").await;
        c.goto(&format!("{base}{file}"))
            .await
            .expect("open the file");
        wait_page(&c, "Dossier de", |p| p == file).await;
        let section = text_of(&c, "section#messagerie").await.unwrap_or_default();
        assert!(section.contains("INS 297022A02077878"), "{section}");
        check("dossier, écrire un message", who).await;
        fill(&c, "#f-msg_typed", DOCTOR).await;
        write(
            &c,
            "professionnels",
            "Lettre de liaison",
            "Bonjour Docteur,\nvoici la lettre de liaison.",
            true,
        )
        .await;
        let warned = eventually(&c, "the unknown address warned about", async || {
            let s = text_of(&c, "#ecrire-message").await?;
            s.contains("ne figurent ni dans votre carnet").then_some(s)
        })
        .await;
        assert!(warned.contains(DOCTOR), "{warned}");
        check("dossier, adresse à confirmer", who).await;
        click_x(&c, "//input[@id='confirm-unknown']").await;
        click_x(&c, "//button[normalize-space()='Envoyer le message']").await;
        wait_page(&c, "Dossier de", |p| p == file).await;

        // And to the user, who may reply.
        write(
            &c,
            "personne",
            "Votre rendez-vous",
            "Bonjour, votre prochain rendez-vous est mardi à 10 h.",
            false,
        )
        .await;
        eventually(&c, "both messages sent", async || {
            c.goto(&format!("{base}{file}")).await.ok()?;
            let rows = c
                .find_all(Locator::Css("#messages-mss tr[data-etat='envoye']"))
                .await
                .ok()?;
            (rows.len() == 2).then_some(())
        })
        .await;
        let list = text_of(&c, "#messages-mss").await.unwrap_or_default();
        assert!(list.contains("Patient") && list.contains(DOCTOR), "{list}");
        assert!(!list.contains("XDM/1.0"), "{list}");
        check("dossier, messages envoyés", who).await;

        // The sandbox: the doctor's box has the letter, the patient's the message.
        c.goto(&format!(
            "{site}/boite?adresse={}",
            DOCTOR.replace('@', "%40")
        ))
        .await
        .expect("open the doctor's box");
        let doctor = text_of(&c, "#messages").await.unwrap_or_default();
        assert!(doctor.contains("Lettre de liaison"), "{doctor}");
        check("MSSanté (bac à sable) : boîte du médecin", who).await;
        c.goto(&site).await.expect("open the boxes");
        click_x(&c, "//a[contains(text(), '@patient.mssante.fr')]").await;
        click_x(&c, "//a[normalize-space()='Votre rendez-vous']").await;
        fill(&c, "#texte-reponse", "Merci, je serai là mardi.").await;
        check("MSSanté (bac à sable) : message reçu par le patient", who).await;
        click_x(&c, "//button[normalize-space()='Envoyer la réponse']").await;
        wait_page(&c, "Boîte", |p| p == "/boite").await;

        // Back in Escale: the reply comes into the file.
        c.goto(&format!("{base}/messagerie"))
            .await
            .expect("open /messagerie");
        wait_page(&c, "Messagerie", |p| p == "/messagerie").await;
        check("messagerie de la structure", who).await;
        click_x(
            &c,
            "//button[normalize-space()='Relever la boîte maintenant']",
        )
        .await;
        let reply = eventually(&c, "the reply in the file", async || {
            c.goto(&format!("{base}{file}")).await.ok()?;
            let row = text_of(&c, "#messages-mss tr[data-etat='recu']").await?;
            row.contains("RE: Votre rendez-vous").then_some(row)
        })
        .await;
        assert!(reply.contains("Patient"), "{reply}");
        click_x(&c, "//a[normalize-space()='RE: Votre rendez-vous']").await;
        wait_page(&c, "Message", |p| p.contains("/messages/")).await;
        let opened = text_of(&c, "main").await.unwrap_or_default();
        assert!(opened.contains("je serai là mardi"), "{opened}");
        check("message reçu, ouvert", who).await;

        // « Répondre »: the answer goes back to the patient's box.
        fill(&c, "#f-msg_body", "Parfait, à mardi.").await;
        click_x(&c, "//button[normalize-space()='Envoyer la réponse']").await;
        wait_page(&c, "Dossier de", |p| p == file).await;
        eventually(&c, "the answer sent", async || {
            c.goto(&format!("{base}{file}")).await.ok()?;
            for row in c
                .find_all(Locator::Css("#messages-mss tr[data-etat='envoye']"))
                .await
                .ok()?
            {
                if row.text().await.ok()?.contains("RE: Votre rendez-vous") {
                    return Some(());
                }
            }
            None
        })
        .await;
    })
    .await;
    assert_no_violations(&findings);
    app.drain_jobs().await;
}
