//! Google / Firebase: published keys, minted tokens and their variants, rotation, sign-in page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind, jwk::JwkSet};
use reqwest::StatusCode;
use sandbox::{GoogleUser, IdTokenRequest, IdTokenVariant};
use serde_json::Value;

use crate::helpers::{TestSandbox, start};

const PROJECT: &str = "mktpost-dev";

async fn jwks(t: &TestSandbox) -> (JwkSet, String) {
    let resp = t.get(sandbox::google::JWKS_PATH).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cache = resp.headers()["cache-control"].to_str().unwrap().to_owned();
    (resp.json().await.unwrap(), cache)
}

/// Verifies like the app does: RS256, kid from the JWKS, issuer and audience = project.
fn verify(set: &JwkSet, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let header = jsonwebtoken::decode_header(token)?;
    let kid = header.kid.unwrap_or_default();
    let jwk = set
        .find(&kid)
        .ok_or_else(|| jsonwebtoken::errors::Error::from(ErrorKind::InvalidKeyFormat))?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[PROJECT]);
    v.set_issuer(&[format!("https://securetoken.google.com/{PROJECT}")]);
    v.leeway = 0;
    let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &v)?;
    Ok(data.claims)
}

fn signin_url(t: &TestSandbox, return_to: &str) -> url::Url {
    let mut u = url::Url::parse(&t.url("/_google/signin")).unwrap();
    u.query_pairs_mut().append_pair("return_to", return_to);
    u
}

fn mint(t: &TestSandbox, variant: IdTokenVariant) -> String {
    t.mint_id_token_for(&IdTokenRequest {
        variant,
        ..IdTokenRequest::default()
    })
    .unwrap()
    .id_token
}

fn header_of(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

fn claims_of(token: &str) -> Value {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

#[tokio::test]
async fn keys_are_served_in_both_google_formats_with_cache_control() {
    let t = start().await;
    let (set, cache) = jwks(&t).await;
    assert!(
        cache.contains("public") && cache.contains("max-age=3600"),
        "{cache}"
    );
    assert_eq!(set.keys.len(), 1);
    let raw: Value = t
        .get(sandbox::google::JWKS_PATH)
        .await
        .json()
        .await
        .unwrap();
    let key = &raw["keys"][0];
    for field in ["kty", "alg", "use", "kid", "n", "e"] {
        assert!(key[field].is_string(), "{field}");
    }
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );

    let resp = t.get(sandbox::google::X509_PATH).await;
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=3600")
    );
    let certs: serde_json::Map<String, Value> = resp.json().await.unwrap();
    let pem = certs[key["kid"].as_str().unwrap()].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));

    t.update_knobs(|k| k.google_cert_max_age_secs = 60);
    let (_, cache) = jwks(&t).await;
    assert!(cache.contains("max-age=60"));
}

#[tokio::test]
async fn minted_tokens_verify_against_the_jwks_with_firebase_claims() {
    let t = start().await;
    let (set, _) = jwks(&t).await;
    let user = GoogleUser {
        uid: "uid-123".into(),
        email: "eve@example.com".into(),
        name: "Eve".into(),
        picture: "https://x/p.png".into(),
    };
    let minted = t.mint_id_token(&user, IdTokenVariant::Valid).unwrap();
    let claims = verify(&set, &minted.id_token).unwrap();
    assert_eq!(claims["sub"], "uid-123");
    assert_eq!(claims["email"], "eve@example.com");
    assert_eq!(claims["name"], "Eve");
    assert_eq!(claims["picture"], "https://x/p.png");
    assert_eq!(claims["firebase"]["sign_in_provider"], "google.com");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["auth_time"].is_i64());
    assert_eq!(header_of(&minted.id_token)["kid"], minted.kid.as_str());

    // Over HTTP too.
    let body = t
        .post_json(
            "/_sandbox/google/id-token",
            &serde_json::json!({"email": "zed@example.com", "name": "Zed"}),
        )
        .await;
    let claims = verify(&set, body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["email"], "zed@example.com");
}

#[tokio::test]
async fn each_bad_variant_fails_verification_the_intended_way() {
    let t = start().await;
    let (set, _) = jwks(&t).await;
    let kind = |v: IdTokenVariant| verify(&set, &mint(&t, v)).unwrap_err().into_kind();
    type IsKind = fn(&ErrorKind) -> bool;
    let cases: [(IdTokenVariant, IsKind); 4] = [
        (IdTokenVariant::Expired, |k| {
            matches!(k, ErrorKind::ExpiredSignature)
        }),
        (IdTokenVariant::WrongAudience, |k| {
            matches!(k, ErrorKind::InvalidAudience)
        }),
        (IdTokenVariant::WrongIssuer, |k| {
            matches!(k, ErrorKind::InvalidIssuer)
        }),
        (IdTokenVariant::BadSignature, |k| {
            matches!(k, ErrorKind::InvalidSignature)
        }),
    ];
    for (variant, expected) in cases {
        let got = kind(variant);
        assert!(expected(&got), "{got:?}");
    }

    let unknown = mint(&t, IdTokenVariant::UnknownKid);
    let kid = header_of(&unknown)["kid"].as_str().unwrap().to_owned();
    assert!(set.find(&kid).is_none());

    let none = mint(&t, IdTokenVariant::AlgNone);
    assert_eq!(header_of(&none)["alg"], "none");
    assert!(none.ends_with('.'));
    assert!(verify(&set, &none).is_err());

    let hs = mint(&t, IdTokenVariant::Hs256);
    assert_eq!(header_of(&hs)["alg"], "HS256");
    assert!(verify(&set, &hs).is_err());

    let future = mint(&t, IdTokenVariant::FutureIat);
    let c = claims_of(&future);
    assert!(c["iat"].as_i64().unwrap() > chrono::Utc::now().timestamp() + 600);
    assert_eq!(claims_of(&mint(&t, IdTokenVariant::EmptySub))["sub"], "");
    // Both still carry a valid signature: the app's own checks must catch them.
    assert!(verify(&set, &mint(&t, IdTokenVariant::EmptySub)).is_ok());
}

#[tokio::test]
async fn rotating_the_key_publishes_a_new_kid_for_new_tokens() {
    let t = start().await;
    let (before, _) = jwks(&t).await;
    let old_token = mint(&t, IdTokenVariant::Valid);
    let body = t
        .post_json("/_sandbox/google/rotate-key", &serde_json::json!({}))
        .await;
    let new_kid = body["kid"].as_str().unwrap().to_owned();
    assert!(before.find(&new_kid).is_none());
    let new_token = mint(&t, IdTokenVariant::Valid);
    assert_eq!(header_of(&new_token)["kid"], new_kid.as_str());
    // A cached JWKS does not know the new kid; a refetch does, and still has the old one.
    assert!(verify(&before, &new_token).is_err());
    let (after, _) = jwks(&t).await;
    assert!(verify(&after, &new_token).is_ok());
    assert!(verify(&after, &old_token).is_ok());
    t.rotate_google_key(false).unwrap();
    let (only_new, _) = jwks(&t).await;
    assert_eq!(only_new.keys.len(), 1);
    assert!(verify(&only_new, &old_token).is_err());
}

#[tokio::test]
async fn sign_in_page_redirects_303_with_the_id_token_in_the_fragment() {
    let t = start().await;
    let return_to = "http://127.0.0.1:8080/login?next=%2Fposts";
    let resp = t.http.get(signin_url(&t, return_to)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Ada Demo") && html.contains("Continue"));

    let (set, _) = jwks(&t).await;
    let submit = |fields: Vec<(&'static str, String)>| {
        let http = t.http.clone();
        let url = t.url("/_google/signin");
        async move { http.post(url).form(&fields).send().await.unwrap() }
    };
    let resp = submit(vec![
        ("return_to", return_to.into()),
        ("uid", "sandboxGoogleUserBen00000002".into()),
    ])
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let (base, fragment) = location.split_once('#').unwrap();
    assert_eq!(base, return_to);
    let token = fragment.strip_prefix("id_token=").unwrap();
    assert_eq!(
        verify(&set, token).unwrap()["email"],
        "ben.demo@example.com"
    );

    let resp = submit(vec![
        ("return_to", return_to.into()),
        ("email", "new.person@example.com".into()),
        ("name", "New Person".into()),
    ])
    .await;
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let token = location.split_once("#id_token=").unwrap().1;
    let claims = verify(&set, token).unwrap();
    assert_eq!(
        (claims["email"].as_str(), claims["name"].as_str()),
        (Some("new.person@example.com"), Some("New Person"))
    );
    assert!(
        t.google_users()
            .iter()
            .any(|u| u.email == "new.person@example.com")
    );

    for bad in ["javascript:alert(1)", "ftp://x/y", "/relative"] {
        let resp = t.http.get(signin_url(&t, bad)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let resp = submit(vec![("return_to", bad.into())]).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        t.get("/_google/signin").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn sign_in_page_hands_the_apps_state_back_with_the_token() {
    let t = start().await;
    let return_to = "http://127.0.0.1:8080/login";
    // A state with characters that need escaping in HTML and in the fragment.
    let state = "n0nce-\"<&>+/=";
    let mut page = signin_url(&t, return_to);
    page.query_pairs_mut().append_pair("state", state);
    let html = t.http.get(page).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains(
            "<input type=\"hidden\" name=\"state\" value=\"n0nce-&quot;&lt;&amp;&gt;+/=\">"
        ),
        "{html}"
    );

    let form = [
        ("return_to", return_to),
        ("uid", "sandboxGoogleUserBen00000002"),
        ("state", state),
    ];
    let resp = t.post_form("/_google/signin", &form).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let fragment = url::Url::parse(&location)
        .unwrap()
        .fragment()
        .unwrap()
        .to_owned();
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(fragment.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert_eq!(fields[0].0, "id_token");
    let (set, _) = jwks(&t).await;
    assert_eq!(
        verify(&set, &fields[0].1).unwrap()["email"],
        "ben.demo@example.com"
    );
    assert_eq!(fields[1], ("state".to_owned(), state.to_owned()));
}
