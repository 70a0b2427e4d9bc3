//! Userinfo with PSC's claim names, as JSON or as a signed JWT.

use super::*;

pub(super) fn subject(id_nat: &str) -> SubjectIdentifier {
    // Keycloak federated id `f:<provider uuid>:<idNat>`: not to be parsed.
    SubjectIdentifier::new(format!("f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:{id_nat}"))
}

pub(super) fn auth_mode(card: bool) -> &'static str {
    if card { "CARD" } else { "MOBILE" }
}

/// PSC's userinfo for a test professional (claim names of the BAS samples).
pub(super) fn userinfo_claims(
    p: &SandboxProfessional,
    card: bool,
) -> serde_json::Map<String, serde_json::Value> {
    let person = &p.person;
    let exercices: Vec<_> = person
        .professions
        .iter()
        .map(|prof| {
            let activities: Vec<_> = person
                .situations
                .iter()
                .map(|s| {
                    let w = &s.workplace;
                    json!({
                        "codeModeExercice": s.mode.clone().unwrap_or_default(),
                        "codeSecteurDactivite": s.sector.clone().unwrap_or_default(),
                        "codeSectionPharmacien": "",
                        "codeRole": s.role.as_ref().map(|r| r.code.clone()).unwrap_or_default(),
                        "codeGenreActivite": "GENR01",
                        "numeroSiretSite": "",
                        "numeroSirenSite": "",
                        "numeroFinessSite": w.finess.clone().unwrap_or_default(),
                        "numeroFinessetablissementJuridique": w.finess_legal.clone().unwrap_or_default(),
                        "identifiantTechniqueDeLaStructure": w.finess.as_ref().map(|f| format!("F{f}")).unwrap_or_default(),
                        "raisonSocialeSite": w.name,
                        "enseigneCommercialeSite": "",
                        "complementDestinataire": "",
                        "numeroVoie": "",
                        "codeTypeDeVoie": "",
                        "libelleVoie": "",
                        "bureauCedex": format!("{} {}", w.postal_code.clone().unwrap_or_default(), w.city.clone().unwrap_or_default()).trim().to_string(),
                        "codePostal": w.postal_code.clone().unwrap_or_default(),
                        "codeCommune": "",
                        "codePays": "",
                        "telephone": "",
                        "adresseEMail": "",
                        "ancienIdentifiantDeLaStructure": w.id_nat_struct.clone().unwrap_or_default(),
                        "autoriteDenregistrement": "RPPS/RPPS/RPPS",
                    })
                })
                .collect();
            json!({
                "codeProfession": prof.code,
                "codeCategorieProfessionnelle": "C",
                "codeCiviliteDexercice": person.civility.clone().unwrap_or_default(),
                "nomDexercice": person.last_name,
                "prenomDexercice": person.first_name,
                "codeTypeSavoirFaire": "",
                "codeSavoirFaire": "",
                "activities": activities,
            })
        })
        .collect();
    let first_org = person.situations.first().map(|s| &s.workplace);
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        m.insert(k.to_string(), v);
    };
    put(
        "Secteur_Activite",
        json!(format!(
            "{}^1.2.250.1.71.4.2.4",
            person
                .situations
                .first()
                .and_then(|s| s.sector.clone())
                .unwrap_or_default()
        )),
    );
    put(
        "SubjectOrganization",
        json!(first_org.map(|w| w.name.clone()).unwrap_or_default()),
    );
    put(
        "SubjectOrganizationID",
        json!(
            first_org
                .and_then(|w| w.finess.as_ref().map(|f| format!("F{f}")))
                .unwrap_or_default()
        ),
    );
    put("Mode_Acces_Raison", json!(""));
    put("preferred_username", json!(person.id_nat_ps));
    put("Acces_Regulation_Medicale", json!("FAUX"));
    put("UITVersion", json!("1.0"));
    put("authMode", json!(auth_mode(card)));
    put(
        "Palier_Authentification",
        json!("APPPRIP3^1.2.250.1.213.1.5.1.1.1"),
    );
    put(
        "SubjectRefPro",
        json!({"codeCivilite": p.civility, "exercices": exercices}),
    );
    put(
        "SubjectRole",
        json!(
            person
                .professions
                .iter()
                .map(|p| format!("{}^1.2.250.1.213.1.1.5.5", p.code))
                .collect::<Vec<_>>()
        ),
    );
    put("SubjectNameID", json!(person.id_nat_ps));
    put("codeCivilite", json!(p.civility));
    put(
        "otherIds",
        json!([{"identifiant": person.id_nat_ps, "origine": "RPPS", "qualite": 1}]),
    );
    put("PSI_Locale", json!("1.2.250.1.213.1.3.1.1"));
    put("email_verified", json!(false));
    m
}

pub(super) async fn userinfo(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (bearer, jwt) = {
        let g = s.lock();
        (g.tokens.get(token).cloned(), g.userinfo_jwt)
    };
    let Some(b) = bearer.filter(|b| b.expires > Utc::now()) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Token verification failed",
        );
    };
    let Some(p) = s.person(&b.professional) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", "user not found");
    };
    let mut std = StandardClaims::new(subject(&p.person.id_nat_ps));
    std = std
        .set_given_name(Some(LocalizedClaim::from(EndUserGivenName::new(
            p.person.first_name.to_uppercase(),
        ))))
        .set_family_name(Some(LocalizedClaim::from(EndUserFamilyName::new(
            p.person.last_name.clone(),
        ))));
    let claims = UserInfoClaims::new(std, UserinfoExtra(userinfo_claims(&p, b.card)));
    if jwt {
        let Ok(issuer) = IssuerUrl::new(s.issuer.clone()) else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let claims = claims
            .set_issuer(Some(issuer))
            .set_audiences(Some(vec![Audience::new(s.opts.client_id.clone())]));
        return match UserInfoJsonWebToken::<
            UserinfoExtra,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >::new(
            claims,
            &s.key,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ) {
            Ok(t) => (
                [(header::CONTENT_TYPE, "application/jwt")],
                serde_json::to_value(&t)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            )
                .into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
    }
    axum::Json(claims).into_response()
}
