//! The token endpoint: client authentication, single-use codes, PKCE, the signed ID token.

use super::*;

pub(super) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |x: &str| {
        form_urlencoded::parse(format!("a={x}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

pub(super) fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let digest = Sha256::digest(verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == challenge
}

pub(super) async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let fault = {
        let mut g = s.lock();
        g.token_requests += 1;
        g.fault
    };
    if fault == PscFault::TokenDown {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "service indisponible",
        );
    }
    let (client_id, secret) = match basic_credentials(&headers) {
        Some(c) => c,
        None => (
            f.get("client_id").cloned().unwrap_or_default(),
            f.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    if client_id != s.opts.client_id || secret != s.opts.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client or Invalid client credentials",
        );
    }
    if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        );
    }
    let code = f.get("code").cloned().unwrap_or_default();
    let grant = {
        let mut g = s.lock();
        if !g.used_codes.insert(code.clone()) {
            // A replayed code is refused (and, as in Keycloak, stays refused).
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Code not valid");
        }
        g.codes.remove(&code)
    };
    let Some(grant) = grant else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Code not valid");
    };
    if Utc::now() - grant.issued > Duration::seconds(60) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Code is expired");
    }
    if f.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Incorrect redirect_uri",
        );
    }
    if !pkce_ok(
        f.get("code_verifier").map(String::as_str).unwrap_or(""),
        &grant.challenge,
    ) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verification failed",
        );
    }
    let now = Utc::now();
    let access = random();
    let (acr_override, fault) = {
        let g = s.lock();
        (g.acr_override.clone(), g.fault)
    };
    // BAS tokens carried eidas3 for a card; production answers eidas2.
    let acr = acr_override.unwrap_or_else(|| if grant.card { "eidas3" } else { "eidas2" }.into());
    let nonce = if fault == PscFault::WrongNonce {
        "un-autre-nonce-que-celui-demande".to_string()
    } else {
        grant.nonce.clone()
    };
    let (iat, exp) = if fault == PscFault::ExpiredIdToken {
        (now - Duration::minutes(10), now - Duration::minutes(8))
    } else {
        (now, now + Duration::seconds(120))
    };
    let session_state = uuid::Uuid::new_v4().to_string();
    let claims = IdTokenClaims::new(
        match IssuerUrl::new(s.issuer.clone()) {
            Ok(i) => i,
            Err(e) => {
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    &e.to_string(),
                );
            }
        },
        vec![Audience::new(s.opts.client_id.clone())],
        exp,
        iat,
        StandardClaims::new(subject(&grant.professional)),
        IdExtra {
            auth_mode: Some(auth_mode(grant.card).into()),
            session_state: Some(session_state.clone()),
        },
    )
    .set_nonce(Some(Nonce::new(nonce)))
    .set_auth_time(Some(iat))
    .set_auth_context_ref(Some(AuthenticationContextClass::new(acr)));
    let id_token = match IdToken::<
        IdExtra,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::new(
        claims,
        &s.key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&AccessToken::new(access.clone())),
        None,
    ) {
        Ok(t) => t.to_string(),
        Err(e) => {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                &e.to_string(),
            );
        }
    };
    {
        let mut g = s.lock();
        g.tokens.insert(
            access.clone(),
            Bearer {
                professional: grant.professional.clone(),
                card: grant.card,
                expires: now + Duration::seconds(120),
            },
        );
        g.id_tokens.insert(id_token.clone());
    }
    axum::Json(json!({
        "access_token": access,
        "expires_in": 120,
        "refresh_expires_in": 1800,
        "refresh_token": random(),
        "token_type": "Bearer",
        "id_token": id_token,
        "not-before-policy": 0,
        "session_state": session_state,
        "scope": "openid scope_all",
    }))
    .into_response()
}
