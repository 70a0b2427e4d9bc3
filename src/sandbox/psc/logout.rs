//! RP-initiated logout (`id_token_hint` checked).

use super::*;

#[derive(Deserialize)]
pub(super) struct LogoutQuery {
    #[serde(default)]
    id_token_hint: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    post_logout_redirect_uri: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

pub(super) async fn logout(State(s): State<Arc<Shared>>, Query(q): Query<LogoutQuery>) -> Response {
    let known = match &q.id_token_hint {
        Some(t) => s.lock().id_tokens.remove(t),
        None => q.client_id.as_deref() == Some(s.opts.client_id.as_str()),
    };
    if !known {
        return (
            StatusCode::BAD_REQUEST,
            page(
                "Déconnexion refusée",
                html! { p { "id_token_hint inconnu ou client absent." } },
            ),
        )
            .into_response();
    }
    s.lock().logouts += 1;
    match q.post_logout_redirect_uri {
        Some(uri)
            if uri.starts_with("http://127.0.0.1:")
                || uri.starts_with("http://localhost:")
                || s.opts.redirect_uris.iter().any(|r| {
                    let base = r.trim_end_matches("/auth/psc/callback");
                    uri.starts_with(base)
                }) =>
        {
            let mut url = uri;
            if let Some(st) = q.state {
                url.push_str(if url.contains('?') { "&" } else { "?" });
                url.push_str(
                    &form_urlencoded::Serializer::new(String::new())
                        .append_pair("state", &st)
                        .finish(),
                );
            }
            Redirect::to(&url).into_response()
        }
        Some(_) => (
            StatusCode::BAD_REQUEST,
            page(
                "Déconnexion",
                html! { p { "post_logout_redirect_uri non enregistrée." } },
            ),
        )
            .into_response(),
        None => page("Vous êtes déconnecté de Pro Santé Connect", html! {}),
    }
}
