//! The wallet side (another origin, as PSC's authorization host): the authorization request checked as PSC does, and the page where a test professional and their card or e-CPS are chosen.

use super::*;

/// The parameters of an authorization request, as PSC checks them.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub(super) struct AuthRequest {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    #[serde(default)]
    acr_values: String,
}

pub(super) fn redirect_allowed(s: &Shared, uri: &str) -> bool {
    if s.opts.redirect_uris.is_empty() {
        let local = uri.starts_with("http://127.0.0.1:") || uri.starts_with("http://localhost:");
        local && uri.ends_with("/auth/psc/callback")
    } else {
        s.opts.redirect_uris.iter().any(|u| u == uri)
    }
}

pub(super) fn page(title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                title { (title) " — Pro Santé Connect (bac à sable)" }
                style { "body{font-family:sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b35}
                    header{border-bottom:3px solid #000091;margin-bottom:1rem}li{margin:.6rem 0}
                    button{margin-right:.4rem;padding:.3rem .7rem}.muted{color:#555;font-size:.9rem}" }
            }
            body {
                header { p { strong { "Pro Santé Connect" } " — bac à sable local d'Escale (aucun service national n'est contacté)" } }
                main { h1 { (title) } (body) }
            }
        }
    };
    markup.into_response()
}

pub(super) fn refusal(title: &str, what: &str, value: &str) -> Box<Response> {
    Box::new(
        (
            StatusCode::BAD_REQUEST,
            page(title, html! { p { (what) code { (value) } } }),
        )
            .into_response(),
    )
}

/// Checks an authorization request; `Err` is the response to send.
pub(super) fn check_request(s: &Shared, q: &AuthRequest) -> Result<(), Box<Response>> {
    // Without a valid client and redirect URI, never redirect (open redirector).
    if q.client_id != s.opts.client_id {
        return Err(refusal(
            "Client inconnu",
            "Client non enregistré : ",
            &q.client_id,
        ));
    }
    if !redirect_allowed(s, &q.redirect_uri) {
        return Err(refusal(
            "Adresse de retour invalide",
            "redirect_uri non enregistrée : ",
            &q.redirect_uri,
        ));
    }
    let problem = if q.response_type != "code" {
        Some("response_type doit valoir code")
    } else if !q.scope.split(' ').any(|x| x == "openid")
        || !q.scope.split(' ').any(|x| x == "scope_all")
    {
        Some("scope doit contenir openid et scope_all")
    } else if q.state.len() < 16 {
        Some("state absent ou trop court")
    } else if q.nonce.len() < 16 {
        Some("nonce absent ou trop court")
    } else if q.code_challenge_method != "S256" || q.code_challenge.len() < 43 {
        Some("PKCE S256 obligatoire")
    } else if q.acr_values.is_empty() {
        Some("acr_values absent")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(p) => {
            let mut url = q.redirect_uri.clone();
            url.push_str(if url.contains('?') { "&" } else { "?" });
            url.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .append_pair("error", "invalid_request")
                    .append_pair("error_description", p)
                    .append_pair("state", &q.state)
                    .finish(),
            );
            Err(Box::new(Redirect::to(&url).into_response()))
        }
    }
}

pub(super) async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<AuthRequest>,
) -> Response {
    if let Err(r) = check_request(&s, &q) {
        return *r;
    }
    let pros = s.people();
    page(
        "Choisissez un professionnel de test",
        html! {
            p { "En production, Pro Santé Connect demande ici la carte CPS (lecteur) ou la validation dans l'application e-CPS. Dans le bac à sable, choisissez qui vous êtes et comment vous vous authentifiez." }
            ul {
                @for p in &pros {
                    li { (chooser_form(&q, p)) }
                }
            }
        },
    )
}

pub(super) fn chooser_form(q: &AuthRequest, p: &SandboxProfessional) -> Markup {
    let hidden = [
        ("response_type", &q.response_type),
        ("client_id", &q.client_id),
        ("redirect_uri", &q.redirect_uri),
        ("scope", &q.scope),
        ("state", &q.state),
        ("nonce", &q.nonce),
        ("code_challenge", &q.code_challenge),
        ("code_challenge_method", &q.code_challenge_method),
        ("acr_values", &q.acr_values),
    ];
    html! {
        form method="post" action="/auth/choix" {
            @for (k, v) in hidden { input type="hidden" name=(k) value=(v); }
            input type="hidden" name="professional" value=(p.person.id_nat_ps);
            strong { (p.person.first_name) " " (p.person.last_name) }
            " "
            span.muted { "(" (p.person.id_nat_ps) ") " (p.blurb) }
            br;
            @if p.has_card {
                button type="submit" name="mode" value="carte" data-pro=(p.person.id_nat_ps) { "Carte CPS" }
            }
            button type="submit" name="mode" value="ecps" data-pro=(p.person.id_nat_ps) { "e-CPS" }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct Choice {
    #[serde(flatten)]
    request: AuthRequest,
    professional: String,
    mode: String,
}

pub(super) async fn choose(State(s): State<Arc<Shared>>, Form(c): Form<Choice>) -> Response {
    if let Err(r) = check_request(&s, &c.request) {
        return *r;
    }
    let Some(pro) = s.person(&c.professional) else {
        return (
            StatusCode::BAD_REQUEST,
            page("Professionnel inconnu", html! {}),
        )
            .into_response();
    };
    let card = c.mode == "carte";
    if card && !pro.has_card {
        return (
            StatusCode::BAD_REQUEST,
            page(
                "Pas de carte",
                html! { p { "Ce professionnel n'a pas de carte CPS : utilisez l'e-CPS." } },
            ),
        )
            .into_response();
    }
    let code = random();
    s.lock().codes.insert(
        code.clone(),
        Grant {
            redirect_uri: c.request.redirect_uri.clone(),
            challenge: c.request.code_challenge.clone(),
            nonce: c.request.nonce.clone(),
            professional: pro.person.id_nat_ps.clone(),
            card,
            issued: Utc::now(),
        },
    );
    let mut url = c.request.redirect_uri.clone();
    url.push_str(if url.contains('?') { "&" } else { "?" });
    url.push_str(
        &form_urlencoded::Serializer::new(String::new())
            .append_pair("state", &c.request.state)
            .append_pair("session_state", &random())
            .append_pair("iss", &s.issuer)
            .append_pair("code", &code)
            .finish(),
    );
    Redirect::to(&url).into_response()
}
