//! Identity-vigilance pages: the file's duplicates and merges, the referent's
//! desk (pairs, tasks, batch jobs, indicators), the procedure and its settings.

use maud::{Markup, html};
use uuid::Uuid;

use super::layout::csrf_field;
use super::markdown;
use crate::domain::procedure::{IdentityAction, IdentityPolicy};
use crate::domain::roles::Role;
use crate::store::{
    DuplicatePair, IdentityCounts, IdentityTask, InsiMonth, Job, MergeRecord, MovedObjects,
    Procedure, ProcedureReaders, Usager,
};

fn fr_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%d/%m/%Y %H:%M").to_string()
}

pub struct FilePanel<'a> {
    pub usager: &'a Usager,
    pub pairs: &'a [DuplicatePair],
    pub merges: &'a [MergeRecord],
    pub markers: &'a [&'static str],
    pub due: Option<String>,
    pub can_merge: bool,
    pub can_flag: bool,
    pub is_referent: bool,
    pub csrf: &'a str,
}

pub fn merged_banner(into: Uuid) -> Markup {
    html! {
        p.warning role="alert" {
            strong { "Dossier fusionné." }
            " Ce dossier a été fusionné dans un autre : tout son contenu y a été déplacé. "
            a href={ "/usagers/" (into) } { "Ouvrir le dossier conservé" }
        }
    }
}

pub fn file_panel(p: &FilePanel<'_>) -> Markup {
    let u = p.usager;
    html! {
        section #qualite aria-labelledby="h-qualite" {
            h2 #h-qualite { "Doublons, collisions, fusions" }
            @if !p.markers.is_empty() {
                p { "Signalements RNIV : " @for m in p.markers { span.badge { (m) } " " } }
            }
            @if let Some(due) = &p.due {
                p.notice role="status" { strong { "Revérification INSi : " } (due) }
            }
            @if let Some(note) = u.collision.map(|c| c.label()) {
                p.warning { "Collision : " (note) }
            }
            @if !u.data.identity.is_anonymous() {
                a href={ "/usagers/" (u.id) "/fiche-identite.pdf" } { "Fiche d'identité (PDF)" }
                " · "
            }
            a href={ "/usagers/" (u.id) "/export.json" } { "Exporter le dossier (JSON)" }
            @if p.pairs.is_empty() {
                p.muted { "Aucun doublon potentiel enregistré pour ce dossier." }
            } @else {
                (pairs_table(p.pairs, Some(u.id), p.can_merge, p.csrf))
            }
            @if p.can_flag && !u.data.identity.is_anonymous() {
                details {
                    summary { "Signaler une collision (deux personnes dans ce dossier)" }
                    form method="post" action={ "/usagers/" (u.id) "/collision" } {
                        (csrf_field(p.csrf))
                        div.field {
                            label for="f-collision-note" { "Ce qui vous fait penser à une collision" }
                            input #f-collision-note type="text" name="note" maxlength="300" required;
                        }
                        @if p.is_referent {
                            div.field {
                                label for="f-collision" { "Marqueur" }
                                select #f-collision name="collision" {
                                    option value="COLP" { "Collision potentielle (COLP)" }
                                    option value="COLV" { "Collision vérifiée (COLV)" }
                                    option value="" { "Aucune (lever le signalement)" }
                                }
                            }
                        } @else {
                            input type="hidden" name="collision" value="COLP";
                        }
                        button type="submit" { "Enregistrer" }
                    }
                }
            }
            @if !p.merges.is_empty() {
                h3 { "Historique des fusions" }
                ul {
                    @for m in p.merges {
                        li {
                            (fr_time(&m.at)) " — " (m.by_label) " : "
                            a href={ "/usagers/" (m.merged_id) } { "dossier fusionné" }
                            " dans "
                            a href={ "/usagers/" (m.survivor_id) } { "dossier conservé" }
                            " (" (m.moved.count()) " objet(s) déplacé(s))"
                            @if let Some(at) = &m.undone_at {
                                " — annulée le " (fr_time(at))
                                @if let Some(by) = &m.undone_by { " par " (by) }
                            } @else if p.can_merge {
                                form.inline method="post" action={ "/identitovigilance/fusions/" (m.id) "/annulation" } {
                                    (csrf_field(p.csrf))
                                    button.secondary type="submit" { "Annuler cette fusion" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Pairs with their score and reasons, and the referent's decisions.
pub fn pairs_table(
    pairs: &[DuplicatePair],
    from: Option<Uuid>,
    can_decide: bool,
    csrf: &str,
) -> Markup {
    html! {
        table.pairs {
            thead { tr {
                th scope="col" { "Dossiers" } th scope="col" { "Ressemblance" }
                th scope="col" { "Pourquoi" } th scope="col" { "Statut" }
                @if can_decide { th scope="col" { "Décision" } }
            } }
            tbody {
                @for p in pairs {
                    tr {
                        td {
                            @if from != Some(p.first_id) { a href={ "/usagers/" (p.first_id) } { (p.first_name) } } @else { (p.first_name) }
                            " ↔ "
                            @if from != Some(p.second_id) { a href={ "/usagers/" (p.second_id) } { (p.second_name) } } @else { (p.second_name) }
                        }
                        td { (p.score) " / 100" }
                        td { (p.reasons.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ")) }
                        td { (p.status.label()) @if let Some(by) = &p.decided_by { br; span.muted { "par " (by) } } }
                        @if can_decide {
                            td {
                                @if crate::services::identity_quality::decidable(p.status) {
                                    form.inline method="post" action="/identitovigilance/doublons/decision" {
                                        (csrf_field(csrf))
                                        input type="hidden" name="first" value=(p.first_id);
                                        input type="hidden" name="second" value=(p.second_id);
                                        @if p.status != crate::domain::duplicates::PairStatus::Avere {
                                            button type="submit" name="status" value="avere" { "Doublon avéré" }
                                        }
                                        @if p.status != crate::domain::duplicates::PairStatus::Ecarte {
                                            button.secondary type="submit" name="status" value="ecarte" { "Personnes différentes" }
                                        }
                                    }
                                    a href={ "/identitovigilance/fusion?survivant=" (p.first_id) "&fusionne=" (p.second_id) } { "Préparer la fusion" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub struct Hub<'a> {
    pub counts: &'a IdentityCounts,
    pub months: &'a [InsiMonth],
    pub tasks: &'a [IdentityTask],
    pub pairs: &'a [DuplicatePair],
    pub jobs: &'a [Job],
    pub procedure: Option<(&'a Procedure, &'a ProcedureReaders)>,
    pub can_merge: bool,
    pub can_run: bool,
    pub csrf: &'a str,
}

pub fn hub(h: &Hub<'_>) -> Markup {
    let identified: i64 = h.counts.by_status.iter().map(|(_, n)| n).sum();
    let share = |n: i64| {
        if identified == 0 {
            "—".to_string()
        } else {
            format!("{:.0} %", 100.0 * n as f64 / identified as f64)
        }
    };
    html! {
        nav aria-label="Identitovigilance" {
            a href="/identitovigilance/procedure" { "Procédure de la structure" }
            " · "
            a href="/identitovigilance/doublons" { "Tous les doublons" }
        }
        section aria-labelledby="h-ind" {
            h2 #h-ind { "Indicateurs de qualité des identités" }
            table {
                caption { (identified) " identité(s) (hors anonymes : " (h.counts.anonymous) ")" }
                thead { tr { th scope="col" { "Statut / attribut" } th scope="col" { "Nombre" } th scope="col" { "Part" } } }
                tbody {
                    @for (code, n) in &h.counts.by_status {
                        tr { td { (crate::domain::identity::IdentityStatus::parse(code).map(|s| s.label()).unwrap_or(code)) } td { (n) } td { (share(*n)) } }
                    }
                    tr { td { "Homonymes (HOMA)" } td { (h.counts.homonyms) } td { (share(h.counts.homonyms)) } }
                    tr { td { "Identités douteuses (DOUT)" } td { (h.counts.doubtful) } td { (share(h.counts.doubtful)) } }
                    @for (code, n) in &h.counts.collisions { tr { td { "Collisions " (code) } td { (n) } td { (share(*n)) } } }
                    @for (code, n) in &h.counts.pairs {
                        tr { td { "Paires : " (crate::domain::duplicates::PairStatus::parse(code).map(|s| s.label()).unwrap_or(code)) } td { (n) } td { "" } }
                    }
                    tr { td { "Tâches ouvertes du référent" } td { (h.counts.open_tasks) } td { "" } }
                    @if let Some((p, r)) = h.procedure {
                        tr { td { "Procédure v" (p.version) " : professionnels ne l'ayant pas encore lue" } td { (r.pending.len()) } td { "" } }
                    }
                }
            }
            h3 { "Appels INSi par mois et par résultat" }
            (insi_chart(h.months))
        }
        @if let Some((p, r)) = h.procedure && !r.pending.is_empty() {
            section aria-labelledby="h-nonlus" {
                h2 #h-nonlus { "Procédure v" (p.version) " non encore lue par" }
                ul { @for name in &r.pending { li { (name) } } }
            }
        }
        section aria-labelledby="h-taches" {
            h2 #h-taches { "Tâches du référent" }
            @if h.tasks.is_empty() { p.muted { "Aucune tâche ouverte." } }
            ul {
                @for task in h.tasks {
                    li {
                        a href={ "/usagers/" (task.usager_id) } { (task.usager_name) } " — " (task.message) " (" (fr_time(&task.created_at)) ") "
                        form.inline method="post" action={ "/identitovigilance/taches/" (task.id) "/fait" } {
                            (csrf_field(h.csrf))
                            button.secondary type="submit" { "Traitée" }
                        }
                    }
                }
            }
        }
        section aria-labelledby="h-doublons" {
            h2 #h-doublons { "Doublons potentiels ouverts" }
            @if h.pairs.is_empty() { p.muted { "Aucun doublon potentiel ouvert." } } @else { (pairs_table(h.pairs, None, h.can_merge, h.csrf)) }
        }
        @if h.can_run {
            section aria-labelledby="h-traitements" {
                h2 #h-traitements { "Traitements de masse" }
                form.inline method="post" action="/identitovigilance/doublons/recherche" {
                    (csrf_field(h.csrf))
                    input type="hidden" name="cle" value=(uuid::Uuid::new_v4());
                    button type="submit" { "Rechercher les doublons dans tous les dossiers" }
                }
                form.inline method="post" action="/identitovigilance/reverification" {
                    (csrf_field(h.csrf))
                    input type="hidden" name="cle" value=(uuid::Uuid::new_v4());
                    button type="submit" { "Revérifier auprès d'INSi les identités récupérées et qualifiées" }
                }
                form.inline method="post" action="/identitovigilance/reverification" {
                    (csrf_field(h.csrf))
                    input type="hidden" name="cle" value=(uuid::Uuid::new_v4());
                    input type="hidden" name="dues" value="on";
                    button.secondary type="submit" { "Seulement celles dues selon la procédure" }
                }
                ul {
                    @for j in h.jobs {
                        li { a href={ "/identitovigilance/traitements/" (j.id) } { (j.kind.label()) " — " (fr_time(&j.started_at)) " — " (j.state.label()) } }
                    }
                }
            }
        }
    }
}

/// Progress, refreshed by htmx every second while the job runs.
pub fn job_status(job: &Job, report: Markup) -> Markup {
    let running = job.state.is_open();
    let url = format!("/identitovigilance/traitements/{}?fragment=1", job.id);
    html! {
        div #traitement hx-get=[running.then_some(&url)] hx-trigger=[running.then_some("every 1s")] hx-swap="outerHTML" {
            p role="status" { (job.kind.label()) " — " (job.state.label()) " : " (job.done) " / " (job.total) }
            @if let Some(e) = &job.last_error {
                p.error-text { @if job.state.is_open() { "Nouvelle tentative prévue : " } @else { "Interrompu : " } (e) }
            }
            progress max=(job.total.max(1)) value=(job.done) { (job.done) " / " (job.total) }
            @if running {
                noscript { p { a href={ "/identitovigilance/traitements/" (job.id) } { "Rafraîchir" } } }
            }
            (report)
        }
    }
}

/// INSi outcomes per month as stacked bars, drawn on the server (no script).
pub fn insi_chart(months: &[InsiMonth]) -> Markup {
    let mut labels: Vec<&str> = months.iter().map(|m| m.month.as_str()).collect();
    labels.dedup();
    let mut outcomes: Vec<&str> = months.iter().map(|m| m.outcome.as_str()).collect();
    outcomes.sort();
    outcomes.dedup();
    if labels.is_empty() {
        return html! { p.muted { "Aucun appel INSi sur la période." } };
    }
    let total = |month: &str| -> i64 {
        months
            .iter()
            .filter(|m| m.month == month)
            .map(|m| m.count)
            .sum()
    };
    let max = labels.iter().map(|m| total(m)).max().unwrap_or(1).max(1);
    let colours = [
        "#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#4a5568",
    ];
    let (bar, gap, height) = (36, 14, 160);
    let width = labels.len() * (bar + gap) + 60;
    let colour =
        |o: &str| colours[outcomes.iter().position(|x| *x == o).unwrap_or(0) % colours.len()];
    // (x, top, height, colour, tooltip) of each stacked segment.
    let mut segments = Vec::new();
    let mut columns = Vec::new();
    for (i, month) in labels.iter().enumerate() {
        let x = 40 + i * (bar + gap);
        let mut y = height;
        for m in months.iter().filter(|m| m.month == *month) {
            let h = (m.count * height as i64 / max) as usize;
            y -= h;
            segments.push((
                x,
                y,
                h,
                colour(&m.outcome),
                format!("{month} — {} : {}", outcome_label(&m.outcome), m.count),
            ));
        }
        columns.push((x, y, *month, total(month)));
    }
    html! {
        figure {
            svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height + 30) role="img" aria-labelledby="chart-title" {
                title #chart-title { "Appels INSi par mois, empilés par résultat" }
                @for (x, y, h, fill, tip) in &segments {
                    rect x=(x) y=(y) width=(bar) height=(h) fill=(fill) { title { (tip) } }
                }
                @for (x, y, month, n) in &columns {
                    text x=(x) y=(height + 16) font-size="11" { (month) }
                    text x=(x) y=(y.saturating_sub(4)) font-size="11" { (n) }
                }
                line x1="36" y1=(height) x2=(width) y2=(height) stroke="#444" {}
            }
            figcaption {
                @for o in &outcomes {
                    span.legend { svg width="12" height="12" { rect width="12" height="12" fill=(colour(o)) {} } " " (outcome_label(o)) } " "
                }
            }
        }
    }
}

fn outcome_label(code: &str) -> String {
    match code {
        "00" => "00 — une identité".into(),
        "01" => "01 — aucune".into(),
        "02" => "02 — plusieurs".into(),
        "éc" => "échec (service, délai, certificat)".into(),
        other => other.to_string(),
    }
}

pub struct MergePreview<'a> {
    pub survivor: &'a Usager,
    pub merged: &'a Usager,
    pub moved: &'a MovedObjects,
    pub kept_name: String,
    pub kept_status: &'static str,
    pub csrf: &'a str,
    /// The reader's roles do not read every class of notes.
    pub notes_hidden: bool,
}

pub fn merge_preview(p: &MergePreview<'_>) -> Markup {
    html! {
        p { "Le dossier " strong { (p.merged.data.identity.display_name()) } " sera fusionné dans le dossier "
            strong { (p.survivor.data.identity.display_name()) } ", qui est conservé." }
        p { "Identité conservée (meilleur statut RNIV) : " strong { (p.kept_name) } " — " (p.kept_status) "." }
        h2 { "Ce qui sera déplacé" }
        @if p.moved.by_kind.is_empty() {
            p.muted { "Aucun objet attaché au dossier fusionné." }
        } @else {
            ul { @for (kind, ids) in &p.moved.by_kind { li { (ids.len()) " " (kind) } } }
        }
        @if p.notes_hidden {
            // Said whether or not such notes exist: the sentence reveals nothing.
            p.hint { "Les notes que vos rôles ne permettent pas de lire ne sont pas comptées ici ; s'il y en a, elles suivent aussi le dossier conservé." }
        }
        p.hint { "La fusion est tracée dans le journal et réversible : l'historique des fusions du dossier conservé permet de l'annuler et de rétablir les deux dossiers tels qu'ils étaient." }
        form method="post" action="/identitovigilance/fusion" {
            (csrf_field(p.csrf))
            input type="hidden" name="survivant" value=(p.survivor.id);
            input type="hidden" name="fusionne" value=(p.merged.id);
            button type="submit" { "Fusionner" }
            " "
            a href={ "/identitovigilance/fusion?survivant=" (p.merged.id) "&fusionne=" (p.survivor.id) } { "Conserver plutôt l'autre dossier" }
        }
    }
}

pub fn procedure(p: Option<&Procedure>, acknowledged: bool, csrf: &str) -> Markup {
    html! {
        @match p {
            None => p.muted { "La direction n'a pas encore publié de procédure d'identitovigilance." },
            Some(p) => {
                p.muted { "Version " (p.version) ", publiée le " (fr_time(&p.at)) " par " (p.author) }
                article.procedure { (markdown::render(&p.body)) }
                h2 { "Si INSi ne trouve aucune identité (code 01)" }
                p { (p.guidance_01) }
                h2 { "Si INSi trouve plusieurs identités (code 02)" }
                p { (p.guidance_02) }
                @if acknowledged {
                    p role="status" { "Vous avez pris connaissance de cette version." }
                } @else {
                    form method="post" action="/identitovigilance/procedure/lecture" {
                        (csrf_field(csrf))
                        input type="hidden" name="version" value=(p.version);
                        button type="submit" { "J'ai lu et je m'engage à appliquer cette procédure" }
                    }
                }
            }
        }
    }
}

pub struct Settings<'a> {
    pub policy: &'a IdentityPolicy,
    pub procedure: Option<&'a Procedure>,
    pub readers: Option<&'a ProcedureReaders>,
    pub csrf: &'a str,
    pub saved: bool,
    /// What was typed, shown again with `error` when publishing failed.
    pub draft: Option<&'a crate::store::NewProcedure>,
    pub error: Option<&'a str>,
}

pub fn settings(s: &Settings<'_>) -> Markup {
    let (body, g01, g02) = match (s.draft, s.procedure) {
        (Some(d), _) => (
            d.body.as_str(),
            d.guidance_01.as_str(),
            d.guidance_02.as_str(),
        ),
        (None, Some(p)) => (
            p.body.as_str(),
            p.guidance_01.as_str(),
            p.guidance_02.as_str(),
        ),
        (None, None) => (
            "",
            crate::domain::procedure::DEFAULT_GUIDANCE_01,
            crate::domain::procedure::DEFAULT_GUIDANCE_02,
        ),
    };
    html! {
        @if s.saved { p.notice role="status" { "Enregistré et tracé dans le journal." } }
        @if let Some(e) = s.error { p.error-text role="alert" { (e) } }
        p.hint { "Les pièces d'identité acceptées et les rôles qui qualifient les identités (INSi, pièces) se règlent dans "
            a href="/structure/parametres" { "les paramètres de la structure" } "." }
        form method="post" action="/structure/identitovigilance" {
            (csrf_field(s.csrf))
            @for action in IdentityAction::ALL {
                fieldset {
                    legend { (action.label()) }
                    @for role in Role::ALL {
                        @let id = format!("f-{}-{}", action.code(), role.code());
                        div.field.checkbox {
                            input id=(id) type="checkbox" name=(action.code()) value=(role.code()) checked[s.policy.roles_for(action).contains(&role)];
                            label for=(id) { (role.label()) }
                        }
                    }
                }
            }
            fieldset {
                legend { "Revérification des identités auprès d'INSi" }
                div.field.checkbox {
                    input #f-reverif-episode type="checkbox" name="reverify_on_new_episode" value="on" checked[s.policy.reverify_on_new_episode];
                    label for="f-reverif-episode" { "À chaque nouvelle prise en charge" }
                }
                div.field {
                    label for="f-reverif-mois" { "Après combien de mois (vide : jamais)" }
                    input #f-reverif-mois type="number" min="1" max="120" name="reverify_after_months" value=[s.policy.reverify_after_months];
                }
            }
            button type="submit" name="part" value="policy" { "Enregistrer les rôles et la revérification" }
        }
        form method="post" action="/structure/identitovigilance" {
            (csrf_field(s.csrf))
            h2 { "Texte de la procédure (Markdown)" }
            @if let Some(p) = s.procedure { p.muted { "Version actuelle : " (p.version) " — publier crée une nouvelle version que chacun devra relire." } }
            div.field {
                label for="f-body" { "Procédure" }
                textarea #f-body name="body" rows="14" maxlength="20000" { (body) }
            }
            div.field {
                label for="f-g01" { "Conduite à tenir si INSi répond 01 (aucune identité)" }
                textarea #f-g01 name="guidance_01" rows="3" maxlength="2000" { (g01) }
            }
            div.field {
                label for="f-g02" { "Conduite à tenir si INSi répond 02 (plusieurs identités)" }
                textarea #f-g02 name="guidance_02" rows="3" maxlength="2000" { (g02) }
            }
            button type="submit" name="part" value="procedure" { "Publier une nouvelle version" }
        }
        @if let (Some(p), Some(r)) = (s.procedure, s.readers) {
            h2 { "Lecture de la version " (p.version) }
            p { (r.acknowledged.len()) " lecture(s), " (r.pending.len()) " en attente." }
            @if !r.pending.is_empty() { h3 { "Pas encore lue par" } ul { @for n in &r.pending { li { (n) } } } }
            @if !r.acknowledged.is_empty() { h3 { "Lue par" } ul { @for (n, at) in &r.acknowledged { li { (n) " — " (fr_time(at)) } } } }
        }
    }
}
