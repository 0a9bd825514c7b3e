//! Login Kit and the OAuth endpoints, driven like a browser and a server would.

use std::time::Duration;

use reqwest::StatusCode;
use sandbox::{DEMO_CLIENT_KEY, DEMO_PRIVATE_OPEN_ID, DEMO_PUBLIC_OPEN_ID};
use sha2::Digest;

use crate::helpers::{
    CALLBACK, TestSandbox, code, code_form, consent_form, demo_form, query_param, start,
};

fn authorize_url(base: &str, scope: &str, extra: &str) -> String {
    let mut u = url::Url::parse(&format!("{base}/v2/auth/authorize/")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_key", DEMO_CLIENT_KEY)
        .append_pair("scope", scope)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("state", "Zq3xP9")
        .append_pair("response_type", "code")
        .append_pair("disable_auto_auth", "1");
    format!("{u}{extra}")
}

/// Opens the demo app's authorize page for `scope`, with `extra` appended to its query.
async fn open_authorize(t: &TestSandbox, scope: &str, extra: &str) -> reqwest::Response {
    let url = authorize_url(t.base_url(), scope, extra);
    t.http.get(url).send().await.unwrap()
}

/// The demo public creator's tokens for `user.info.basic`, through consent and exchange.
async fn signed_in(t: &TestSandbox) -> sandbox::TokenResponse {
    let code = t.authorize(DEMO_PUBLIC_OPEN_ID, "user.info.basic").await;
    t.exchange(&code).await
}

/// The `error` a redirect carries back to the callback.
fn redirect_error(resp: &reqwest::Response) -> Option<String> {
    query_param(&location(resp), "error")
}

/// Where a redirect points.
fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn authorize_page_lists_requested_scopes_creators_and_both_buttons() {
    let t = start().await;
    let resp = open_authorize(&t, "user.info.basic,video.publish", "").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    for needle in [
        "user.info.basic",
        "video.publish",
        "Sunny Demo",
        "Pia Private",
        "value=\"authorize\"",
        "value=\"deny\"",
        "method=\"post\"",
    ] {
        assert!(html.contains(needle), "page lacks {needle}");
    }
}

#[tokio::test]
async fn consent_form_redirects_with_code_granted_scopes_and_state() {
    let t = start().await;
    let form = consent_form(
        "Zq3xP9",
        "user.info.basic,video.publish,video.upload",
        &[
            ("open_id", DEMO_PRIVATE_OPEN_ID),
            ("grant_present", "1"),
            ("grant", "user.info.basic"),
            ("grant", "video.upload"),
            ("decision", "authorize"),
        ],
    );
    let (status, location) = t.consent(&form).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(location.starts_with(CALLBACK));
    assert_eq!(query_param(&location, "state").as_deref(), Some("Zq3xP9"));
    assert_eq!(
        query_param(&location, "scopes").as_deref(),
        Some("user.info.basic,video.upload")
    );
    // Codes carry characters that must be URL-decoded before the exchange.
    assert!(location.contains("%21"), "{location}");
    let code = query_param(&location, "code").unwrap();
    let tokens = t.exchange(&code).await;
    assert_eq!(tokens.open_id, DEMO_PRIVATE_OPEN_ID);
    assert_eq!(tokens.scope, "user.info.basic,video.upload");
}

#[tokio::test]
async fn deny_button_redirects_with_access_denied() {
    let t = start().await;
    let form = consent_form("s1", "user.info.basic", &[("decision", "deny")]);
    let (status, location) = t.consent(&form).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("s1"));
    assert!(query_param(&location, "code").is_none());
}

#[tokio::test]
async fn scope_not_enabled_for_the_app_redirects_with_invalid_scope() {
    let t = start().await;
    t.update_app(DEMO_CLIENT_KEY, |a| {
        a.scopes.remove("video.list");
    })
    .unwrap();
    let resp = open_authorize(&t, "user.info.basic,video.list", "").await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(redirect_error(&resp).as_deref(), Some("invalid_scope"));
}

#[tokio::test]
async fn unregistered_redirect_uri_or_client_shows_an_error_page_and_bad_response_type_redirects() {
    let t = start().await;
    let url = authorize_url(t.base_url(), "user.info.basic", "").replace("callback", "other");
    let resp = t.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let url = authorize_url(t.base_url(), "user.info.basic", "").replace(DEMO_CLIENT_KEY, "nope");
    assert_eq!(
        t.http.get(url).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let url = authorize_url(t.base_url(), "user.info.basic", "")
        .replace("response_type=code", "response_type=token");
    let resp = t.http.get(url).send().await.unwrap();
    assert_eq!(
        redirect_error(&resp).as_deref(),
        Some("unsupported_response_type")
    );
}

#[tokio::test]
async fn query_knobs_pick_creator_scopes_and_skip_the_page() {
    let t = start().await;
    let extra = format!(
        "&sandbox_open_id={DEMO_PRIVATE_OPEN_ID}&sandbox_grant=user.info.basic&sandbox_auto=approve"
    );
    let resp = open_authorize(&t, "user.info.basic,video.publish", &extra).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let to = location(&resp);
    assert_eq!(
        query_param(&to, "scopes").as_deref(),
        Some("user.info.basic")
    );
    let tokens = t.exchange(&query_param(&to, "code").unwrap()).await;
    assert_eq!(tokens.open_id, DEMO_PRIVATE_OPEN_ID);

    let resp = open_authorize(&t, "user.info.basic", "&sandbox_auto=deny").await;
    assert_eq!(redirect_error(&resp).as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn token_exchange_returns_the_flat_body_with_documented_lifetimes() {
    let t = start().await;
    let code = t
        .authorize(DEMO_PUBLIC_OPEN_ID, "user.info.basic,video.publish")
        .await;
    let (status, body) = t.token(&code_form(&code)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["access_token"].as_str().unwrap().starts_with("act."));
    assert!(body["refresh_token"].as_str().unwrap().starts_with("rft."));
    assert_eq!(body["expires_in"], 86_400);
    assert_eq!(body["refresh_expires_in"], 31_536_000);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["open_id"], DEMO_PUBLIC_OPEN_ID);
    assert!(
        body.get("data").is_none(),
        "no v2 envelope on OAuth endpoints"
    );
}

#[tokio::test]
async fn authorization_codes_are_single_use_and_expire() {
    let t = start().await;
    let code = t.authorize(DEMO_PUBLIC_OPEN_ID, "user.info.basic").await;
    t.exchange(&code).await;
    let (status, body) = t.token(&code_form(&code)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "OAuth errors come with HTTP 200 by default"
    );
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["log_id"].as_str().unwrap().len() == 34);

    let code = t.authorize(DEMO_PUBLIC_OPEN_ID, "user.info.basic").await;
    t.advance_clock(Duration::from_secs(11 * 60));
    let (_, body) = t.token(&code_form(&code)).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn token_endpoint_refuses_bad_clients_grants_and_requests() {
    let t = start().await;
    let code = t.authorize(DEMO_PUBLIC_OPEN_ID, "user.info.basic").await;
    let (_, body) = t
        .token(&demo_form(&[
            ("code", &code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", "http://127.0.0.1:9/other"),
        ]))
        .await;
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "Redirect_uri is not matched with the uri when requesting code."
    );

    let refusals = [
        (
            vec![
                ("client_key", DEMO_CLIENT_KEY),
                ("client_secret", "wrong"),
                ("code", &code),
                ("grant_type", "authorization_code"),
            ],
            "invalid_client",
        ),
        (
            vec![
                ("client_key", "unknown"),
                ("client_secret", "x"),
                ("grant_type", "refresh_token"),
            ],
            "invalid_client",
        ),
        (
            demo_form(&[("grant_type", "password")]),
            "unsupported_grant_type",
        ),
        (
            demo_form(&[("grant_type", "authorization_code")]),
            "invalid_request",
        ),
    ];
    for (form, error) in refusals {
        let (_, body) = t.token(&form).await;
        assert_eq!(body["error"], error, "{form:?}");
    }

    // JSON instead of a form is refused.
    let resp = t
        .http
        .post(t.url("/v2/oauth/token/"))
        .json(&serde_json::json!({"client_key": DEMO_CLIENT_KEY}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    // The HTTP status of OAuth errors is a knob (UNCONFIRMED in the docs).
    t.update_knobs(|k| k.oauth_error_status = 400);
    let (status, body) = t.token(&demo_form(&[("grant_type", "x")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");

    let (status, body) = t
        .token(&demo_form(&[("grant_type", "client_credentials")]))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["access_token"].as_str().unwrap().starts_with("clt."));
    assert_eq!(body["expires_in"], 7200);
}

#[tokio::test]
async fn desktop_pkce_uses_the_hex_sha256_challenge() {
    let t = start().await;
    let verifier = "a".repeat(20) + &"B".repeat(30);
    let challenge = hex::encode(sha2::Sha256::digest(verifier.as_bytes()));
    let t = &t;
    // Consents with `challenge`, then exchanges the code with `verifier`.
    let exchange = |challenge: String, verifier: String| async move {
        let form = consent_form(
            "s",
            "user.info.basic",
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let (_, location) = t.consent(&form).await;
        let code = query_param(&location, "code").unwrap();
        let mut form = code_form(&code);
        form.push(("code_verifier", &verifier));
        t.token(&form).await
    };
    let (_, body) = exchange(challenge, verifier.clone()).await;
    assert!(body["access_token"].is_string(), "{body}");

    // An RFC 7636 base64url challenge does not match TikTok's hex rule.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let (_, body) = exchange(b64, verifier).await;
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "Code verifier or code challenge is invalid."
    );
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_is_refused() {
    let t = start().await;
    let first = signed_in(&t).await;
    let (_, body) = t.refresh(&first.refresh_token).await;
    let second: sandbox::TokenResponse = serde_json::from_value(body).unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    let (_, body) = t.refresh(&first.refresh_token).await;
    assert_eq!(body["error"], "invalid_grant");

    let records = t.records();
    assert_eq!(records.refresh_counts.get(DEMO_PUBLIC_OPEN_ID), Some(&1));
    assert!(records.revoked_tokens.contains(&first.refresh_token));

    // Knob: the old refresh token keeps working.
    t.update_knobs(|k| k.keep_old_refresh_token = true);
    let (_, body) = t.refresh(&second.refresh_token).await;
    assert!(body["access_token"].is_string());
    let (_, body) = t.refresh(&second.refresh_token).await;
    assert!(body["access_token"].is_string());

    // Knob: no rotation at all.
    t.update_knobs(|k| k.rotate_refresh_tokens = false);
    let (_, body) = t.refresh(&second.refresh_token).await;
    assert_eq!(body["refresh_token"], second.refresh_token.as_str());

    // Knob: the sandbox quirk where refresh always fails.
    t.update_knobs(|k| k.refresh_always_invalid_grant = true);
    let (_, body) = t.refresh(&second.refresh_token).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_expire_after_365_days_unless_the_window_resets() {
    let t = start().await;
    let tokens = signed_in(&t).await;
    t.advance_clock(Duration::from_secs(200 * 86_400));
    let (_, body) = t.refresh(&tokens.refresh_token).await;
    let rotated = body["refresh_token"].as_str().unwrap().to_owned();
    // Without a window reset the rotated token keeps the original expiry.
    assert!(body["refresh_expires_in"].as_i64().unwrap() <= 165 * 86_400);
    t.advance_clock(Duration::from_secs(166 * 86_400));
    let (_, body) = t.refresh(&rotated).await;
    assert_eq!(body["error"], "invalid_grant");

    t.update_knobs(|k| k.refresh_resets_window = true);
    let tokens = signed_in(&t).await;
    t.advance_clock(Duration::from_secs(300 * 86_400));
    let (_, body) = t.refresh(&tokens.refresh_token).await;
    assert_eq!(body["refresh_expires_in"], 31_536_000);
}

#[tokio::test]
async fn access_tokens_expire_after_24_hours() {
    let t = start().await;
    let tokens = signed_in(&t).await;
    let (status, _) = t.user_info(&tokens.access_token, "open_id").await;
    assert_eq!(status, StatusCode::OK);
    t.advance_clock(Duration::from_secs(86_401));
    let (status, body) = t.user_info(&tokens.access_token, "open_id").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "access_token_invalid");
    // A refresh brings the account back.
    let (_, body) = t.refresh(&tokens.refresh_token).await;
    let (status, _) = t
        .user_info(body["access_token"].as_str().unwrap(), "open_id")
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn revoke_ends_every_token_of_the_grant() {
    let t = start().await;
    let tokens = signed_in(&t).await;
    let (status, body) = t.revoke(&tokens.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({}));
    let (status, body) = t.user_info(&tokens.access_token, "open_id").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "access_token_invalid");
    let (_, body) = t.refresh(&tokens.refresh_token).await;
    assert_eq!(body["error"], "invalid_grant");
    let records = t.records();
    assert!(records.revoked_tokens.contains(&tokens.access_token));
    assert!(
        records
            .token_events
            .iter()
            .any(|e| e.event == "revoked" && e.open_id == DEMO_PUBLIC_OPEN_ID)
    );

    let (_, body) = t.revoke("act.not-a-token").await;
    assert_eq!(body["error"], "invalid_request");
    let form = [
        ("client_key", DEMO_CLIENT_KEY),
        ("client_secret", "wrong"),
        ("token", &tokens.access_token),
    ];
    let resp = t.post_form("/v2/oauth/revoke/", &form).await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}
