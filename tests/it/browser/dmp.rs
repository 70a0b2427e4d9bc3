//! A nurse sends a letter to the user's DMP, in a real browser: qualifies
//! the identity (INSi sandbox), records that the user was told, writes a
//! letter from a template, sends it, sees it « Accepté », then opens the
//! DMP sandbox's « vu du patient » page, which lists it. axe-core runs on
//! each page on the way.

use std::sync::Arc;

use fantoccini::{Client, Locator};

use super::axe::{Findings, assert_no_violations, axe_or_skip, check_page};
use super::{
    CSAPA, click, click_login_as, click_x, create_file, element, eventually, in_browser,
    is_file_path, open_new_form, setup, text_of, wait_page,
};

const NURSE_ID_NAT: &str = "899900000029";
const NURSE: &str = "Julien Petit";
const TITLE: &str = "Lettre d'entrée au CSAPA";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_nurse_sends_a_letter_to_the_dmp_and_the_patient_sees_it() {
    let Some(axe) = axe_or_skip() else {
        return;
    };
    let Some((app, driver)) = setup().await else {
        return;
    };
    let base = app.url("");
    let findings: Findings = Arc::default();
    let f = findings.clone();
    in_browser(&driver, true, move |c| async move {
        let who = "infirmier (Julien Petit)";
        let check = |page: &'static str| {
            let (c, axe, f) = (c.clone(), axe.clone(), f.clone());
            async move { check_page(&c, &axe, page, who, &f).await }
        };
        // The nurse works in the CSAPA and the CAARUD: picks the CSAPA.
        c.goto(&format!("{base}/connexion"))
            .await
            .expect("open /connexion");
        wait_page(&c, "Connexion", |p| p == "/connexion").await;
        click_login_as(&c, NURSE_ID_NAT, "carte").await;
        wait_page(&c, "Choisissez votre structure", |_| true).await;
        click_x(
            &c,
            &format!("//button[contains(normalize-space(), '{CSAPA}')]"),
        )
        .await;
        wait_page(&c, "Usagers", |p| p == "/usagers").await;
        let me = text_of(&c, "header .who").await.unwrap_or_default();
        assert!(me.contains(NURSE), "{me}");
        open_new_form(&c).await;
        let file = create_file(&c, "Adrtrois", "Dominique", "1997-02-26").await;
        qualify(&c).await;

        click_x(
            &c,
            "//button[normalize-space()='La personne a été informée']",
        )
        .await;
        eventually(&c, "the information recorded", async || {
            let s = text_of(&c, "section#dmp").await?;
            s.contains("Informée de l'alimentation de son DMP")
                .then_some(())
        })
        .await;

        write_letter(&c, TITLE).await;
        let options = eventually(&c, "the letter offered for the DMP", async || {
            let s = text_of(&c, "#envoi-dmp").await?;
            s.contains(TITLE).then_some(s)
        })
        .await;
        assert!(options.contains("version 1"), "{options}");
        check("dossier avant l'envoi au DMP").await;

        element(&c, "#f-dmp_document").await;
        click_x(&c, "//button[normalize-space()='Envoyer au DMP']").await;
        // The job runs in the background: the nurse reloads the file.
        eventually(&c, "the deposit accepted", async || {
            c.goto(&format!("{base}{file}")).await.ok()?;
            let row = c
                .find(Locator::Css("#envois-dmp tr[data-etat]"))
                .await
                .ok()?;
            let state = row.attr("data-etat").await.ok()??;
            assert_ne!(state, "refuse", "{}", row.text().await.unwrap_or_default());
            (state == "accepte").then_some(())
        })
        .await;
        let row = text_of(&c, "#envois-dmp tbody tr")
            .await
            .unwrap_or_default();
        assert!(row.contains("accepté") && row.contains(TITLE), "{row}");
        check("dossier, document accepté par le DMP").await;

        click(&c, "#vu-du-patient").await;
        wait_page(&c, "Mes documents", |p| p == "/dossier").await;
        let seen = text_of(&c, "#documents-patient").await.unwrap_or_default();
        assert!(
            seen.contains(TITLE) && seen.contains("Lettre de liaison d'entrée"),
            "{seen}"
        );
        let patient = text_of(&c, "main").await.unwrap_or_default();
        assert!(patient.contains("INS 297022A02077878"), "{patient}");
        check("Mon espace santé (bac à sable) : vu du patient").await;
    })
    .await;
    assert_no_violations(&findings);
    app.drain_jobs().await;
}

/// « Rédiger un document depuis un modèle »: the entry letter, `title`.
pub(super) async fn write_letter(c: &Client, title: &str) {
    click_x(
        c,
        "//summary[normalize-space()='Rédiger un document depuis un modèle']",
    )
    .await;
    element(c, "#f-tpl_template")
        .await
        .select_by_value("lettre-liaison-entree")
        .await
        .expect("choose the template");
    super::fill(c, "#f-tpl_title", title).await;
    super::fill(
        c,
        "#f-tpl_text",
        "Accueilli ce jour pour un suivi ambulatoire.",
    )
    .await;
    click_x(c, "//button[normalize-space()='Créer le document']").await;
}

/// INSi search, « same person », a passport checked: « Identité qualifiée ».
pub(super) async fn qualify(c: &Client) {
    click_x(c, "//button[normalize-space()=\"Rechercher l'INS\"]").await;
    wait_page(c, "Recherche de l'INS", |p| p.ends_with("/insi")).await;
    click_x(
        c,
        "//button[starts-with(normalize-space(), \"C'est la même personne\")]",
    )
    .await;
    wait_page(c, "Dossier de", is_file_path).await;
    element(c, "#f-document")
        .await
        .select_by_value("PA")
        .await
        .expect("choose the passport");
    click_x(
        c,
        "//button[normalize-space()=\"Vérifier une pièce d'identité\"]",
    )
    .await;
    eventually(c, "the qualified status", async || {
        let s = text_of(c, ".identity-status").await?;
        s.contains("Identité qualifiée").then_some(())
    })
    .await;
}
