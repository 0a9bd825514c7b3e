//! The Google / Firebase side: signing keys published in Google's two formats, a sign-in page
//! that hands the app an ID token (and the app's `state`) in the URL fragment, and minting of Firebase-style ID tokens
//! (valid ones and each way a token can be wrong) for tests.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::SandboxError;
use crate::knobs::GoogleClock;
use crate::model::GoogleUser;
use crate::state::SandboxState;
use crate::tiktok::html_escape;

/// Where Google publishes the securetoken certificates as `{kid: PEM certificate}`.
pub const X509_PATH: &str = "/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";
/// Where Google publishes the same keys as a JWKS.
pub const JWKS_PATH: &str = "/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";
/// The sandbox's Google sign-in page.
pub const SIGNIN_PATH: &str = "/_google/signin";

pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route(X509_PATH, get(x509))
        .route(JWKS_PATH, get(jwks))
        .route(SIGNIN_PATH, get(signin_page).post(signin_submit))
}

/// One RSA signing key with everything needed to publish it.
pub(crate) struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    cert_pem: String,
    public_pem: String,
    n: String,
    e: String,
}

impl SigningKey {
    /// A fresh RSA-2048 key (aws-lc-rs generates it in well under a second, even in debug).
    pub fn generate(kid_prefix: &str) -> Result<Self, SandboxError> {
        let key_err = |e: &dyn std::fmt::Display| SandboxError::Keys(e.to_string());
        let kp =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .map_err(|e| key_err(&e))?;
        let encoding =
            EncodingKey::from_rsa_pem(kp.serialize_pem().as_bytes()).map_err(|e| key_err(&e))?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| key_err(&e))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "securetoken.system.gserviceaccount.com",
        );
        let cert = params.self_signed(&kp).map_err(|e| key_err(&e))?;
        let (n, e) = rsa_public_components(kp.public_key_raw())
            .ok_or_else(|| SandboxError::Keys("cannot read the RSA public key".into()))?;
        let random: [u8; 20] = rand::rng().random();
        Ok(Self {
            kid: format!("{kid_prefix}{}", hex::encode(random)),
            encoding,
            cert_pem: cert.pem(),
            public_pem: kp.public_key_pem(),
            n: URL_SAFE_NO_PAD.encode(n),
            e: URL_SAFE_NO_PAD.encode(e),
        })
    }
}

/// Reads one DER TLV; returns (tag, content, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len0, mut rest) = rest.split_first()?;
    let len = if len0 < 0x80 {
        usize::from(len0)
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` → (n, e)
/// as unsigned big-endian bytes.
fn rsa_public_components(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (0x30, seq, _) = der_tlv(der)? else {
        return None;
    };
    let (0x02, n, rest) = der_tlv(seq)? else {
        return None;
    };
    let (0x02, e, _) = der_tlv(rest)? else {
        return None;
    };
    let strip = |b: &[u8]| {
        b.iter()
            .skip_while(|x| **x == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    Some((strip(n), strip(e)))
}

/// The published keys (last = current) plus an unpublished one for `unknown_kid` tokens.
pub(crate) struct GoogleKeys {
    pub published: Vec<SigningKey>,
    rogue: Option<SigningKey>,
}

impl GoogleKeys {
    pub fn generate() -> Result<Self, SandboxError> {
        Ok(Self {
            published: vec![SigningKey::generate("")?],
            rogue: None,
        })
    }

    fn current(&self) -> &SigningKey {
        // `published` is never empty: it starts with one key and rotation only appends.
        &self.published[self.published.len() - 1]
    }
}

/// Which kind of ID token to mint.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdTokenVariant {
    /// Verifies with the published keys.
    #[default]
    Valid,
    /// `exp` an hour ago.
    Expired,
    /// `aud` is another project.
    WrongAudience,
    /// `iss` is another project's issuer.
    WrongIssuer,
    /// Signed by a key whose `kid` is not published.
    UnknownKid,
    /// Valid claims and kid, signature altered.
    BadSignature,
    /// `alg: none`, empty signature.
    AlgNone,
    /// HS256 with the public key PEM as the HMAC secret (the key-confusion attack).
    Hs256,
    /// `iat`/`auth_time` an hour in the future.
    FutureIat,
    /// `sub` is the empty string.
    EmptySub,
}

/// `POST /_sandbox/google/id-token` body: a user (a seeded one when nothing is given) and a
/// variant.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct IdTokenRequest {
    pub uid: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub variant: IdTokenVariant,
}

/// A minted token with its header `kid` and claims, for assertions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MintedIdToken {
    pub id_token: String,
    pub kid: String,
    pub claims: Value,
}

impl SandboxState {
    /// Mints a Firebase-style ID token for `user`.
    pub fn mint_id_token(
        &self,
        user: &GoogleUser,
        variant: IdTokenVariant,
    ) -> Result<MintedIdToken, SandboxError> {
        let (ttl, clock) = {
            let inner = self.lock();
            (
                inner.knobs.google_id_token_ttl_secs,
                inner.knobs.google_clock,
            )
        };
        let now = match clock {
            GoogleClock::Real => chrono::Utc::now(),
            GoogleClock::Sandbox => self.now(),
        }
        .timestamp();
        let project = &self.config().firebase_project_id;
        let (iat, exp) = match variant {
            IdTokenVariant::Expired => (now - 2 * ttl, now - ttl),
            IdTokenVariant::FutureIat => (now + 3600, now + 3600 + ttl),
            _ => (now, now + ttl),
        };
        let sub = if variant == IdTokenVariant::EmptySub {
            String::new()
        } else {
            user.uid.clone()
        };
        let google_sub: u128 = {
            use sha2::Digest;
            let d = sha2::Sha256::digest(user.uid.as_bytes());
            u128::from_be_bytes(d[..16].try_into().unwrap_or_default()) % 10u128.pow(21)
        };
        let claims = json!({
            "name": user.name,
            "picture": user.picture,
            "iss": if variant == IdTokenVariant::WrongIssuer {
                "https://securetoken.google.com/some-other-project".to_owned()
            } else {
                format!("https://securetoken.google.com/{project}")
            },
            "aud": if variant == IdTokenVariant::WrongAudience { "some-other-project".to_owned() } else { project.clone() },
            "auth_time": iat,
            "user_id": sub,
            "sub": sub,
            "iat": iat,
            "exp": exp,
            "email": user.email,
            "email_verified": true,
            "firebase": {
                "identities": {"google.com": [google_sub.to_string()], "email": [user.email]},
                "sign_in_provider": "google.com"
            }
        });
        let err = |e: jsonwebtoken::errors::Error| SandboxError::Keys(e.to_string());
        let mut keys = self.google();
        if variant == IdTokenVariant::UnknownKid && keys.rogue.is_none() {
            keys.rogue = Some(SigningKey::generate("unpublished-")?);
        }
        let key = match (variant, &keys.rogue) {
            (IdTokenVariant::UnknownKid, Some(rogue)) => rogue,
            _ => keys.current(),
        };
        let kid = key.kid.clone();
        let id_token = match variant {
            IdTokenVariant::AlgNone => {
                let header = json!({"alg": "none", "kid": kid, "typ": "JWT"});
                format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(claims.to_string())
                )
            }
            IdTokenVariant::Hs256 => {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(kid.clone());
                jsonwebtoken::encode(
                    &header,
                    &claims,
                    &EncodingKey::from_secret(key.public_pem.as_bytes()),
                )
                .map_err(err)?
            }
            _ => {
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some(kid.clone());
                let token = jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(err)?;
                if variant == IdTokenVariant::BadSignature {
                    tamper_signature(&token)
                } else {
                    token
                }
            }
        };
        Ok(MintedIdToken {
            id_token,
            kid,
            claims,
        })
    }

    /// Resolves a request to a user: by uid, else by email (a new user if unknown), else the
    /// first seeded user.
    pub(crate) fn google_user_for(&self, req: &IdTokenRequest) -> GoogleUser {
        let inner = self.lock();
        let found = req
            .uid
            .as_ref()
            .and_then(|uid| inner.google_users.iter().find(|u| &u.uid == uid))
            .or_else(|| {
                req.email
                    .as_ref()
                    .and_then(|e| inner.google_users.iter().find(|u| &u.email == e))
            })
            .cloned();
        let mut user = found.unwrap_or_else(|| match &req.email {
            Some(email) => GoogleUser::from_email(email, req.name.as_deref().unwrap_or("")),
            None => inner.google_users.first().cloned().unwrap_or_else(|| {
                GoogleUser::from_email("sandbox.user@example.com", "Sandbox User")
            }),
        });
        if let Some(uid) = &req.uid {
            user.uid = uid.clone();
        }
        if let Some(name) = &req.name {
            user.name = name.clone();
        }
        if let Some(picture) = &req.picture {
            user.picture = picture.clone();
        }
        user
    }
}

/// Flips one bit of the signature so it no longer verifies.
fn tamper_signature(token: &str) -> String {
    let Some((signed, sig)) = token.rsplit_once('.') else {
        return token.to_owned();
    };
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
    if let Some(b) = bytes.get_mut(10) {
        *b ^= 0x01;
    }
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn cached_json(s: &SandboxState, body: Value) -> Response {
    let max_age = s.lock().knobs.google_cert_max_age_secs;
    (
        [(
            header::CACHE_CONTROL,
            format!("public, max-age={max_age}, must-revalidate, no-transform"),
        )],
        axum::Json(body),
    )
        .into_response()
}

/// `GET /robot/v1/metadata/x509/securetoken@…` — `{kid: PEM certificate}`.
async fn x509(State(s): State<SandboxState>) -> Response {
    let map: BTreeMap<String, String> = s
        .google()
        .published
        .iter()
        .map(|k| (k.kid.clone(), k.cert_pem.clone()))
        .collect();
    cached_json(&s, json!(map))
}

/// `GET /service_accounts/v1/jwk/securetoken@…` — the same keys as a JWKS.
async fn jwks(State(s): State<SandboxState>) -> Response {
    let keys: Vec<Value> = s
        .google()
        .published
        .iter()
        .map(|k| json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": k.kid, "n": k.n, "e": k.e}))
        .collect();
    cached_json(&s, json!({ "keys": keys }))
}

/// `return_to` must be an absolute http(s) URL; the token goes into its fragment.
/// Refusals are a 400 with the reason as text.
fn parse_return_to(raw: Option<&String>) -> Result<url::Url, (StatusCode, &'static str)> {
    let bad = |m| (StatusCode::BAD_REQUEST, m);
    let raw = raw
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("return_to is required"))?;
    let url = url::Url::parse(raw).map_err(|_| bad("return_to must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("return_to must be an http(s) URL"));
    }
    Ok(url)
}

/// `GET /_google/signin?return_to=…&state=…` — pick a seeded user or type an email. `state` is
/// the app's nonce binding the sign-in to the browser that started it; it is carried through
/// the form and handed back untouched.
async fn signin_page(
    State(s): State<SandboxState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let return_to = match parse_return_to(q.get("return_to")) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let state_field = q
        .get("state")
        .map(|st| {
            format!(
                "<input type=\"hidden\" name=\"state\" value=\"{}\">\n",
                html_escape(st)
            )
        })
        .unwrap_or_default();
    let users = s.lock().google_users.clone();
    let mut radios = String::new();
    for (i, u) in users.iter().enumerate() {
        radios.push_str(&format!(
            "<label><input type=\"radio\" name=\"uid\" value=\"{}\"{}> {} &lt;{}&gt;</label><br>\n",
            html_escape(&u.uid),
            if i == 0 { " checked" } else { "" },
            html_escape(&u.name),
            html_escape(&u.email)
        ));
    }
    let body = format!(
        "<!doctype html>
<html><head><meta charset=\"utf-8\"><title>Sign in with Google (sandbox)</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto}}input[type=text],input[type=email]{{width:100%}}</style>
</head><body>
<h1>Sign in with Google</h1>
<p>This is the MKT POST sandbox standing in for Google. Pick a test user or type any email.</p>
<form method=\"post\" action=\"{SIGNIN_PATH}\">
<input type=\"hidden\" name=\"return_to\" value=\"{return_to}\">
{state_field}<fieldset><legend>Test users</legend>
{radios}</fieldset>
<fieldset><legend>Or another account</legend>
<label>Email <input type=\"email\" name=\"email\"></label><br>
<label>Name <input type=\"text\" name=\"name\"></label>
</fieldset>
<p><button type=\"submit\">Continue</button></p>
</form></body></html>",
        return_to = html_escape(return_to.as_str()),
    );
    Html(body).into_response()
}

/// `POST /_google/signin` — fields `return_to`, optional `state`, and `email` (+ `name`) or
/// `uid`. Answers 303 to `return_to#id_token=<jwt>&state=<state>` (no `&state` when none came).
async fn signin_submit(State(s): State<SandboxState>, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let mut return_to = match parse_return_to(form.get("return_to")) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let req = match field("email") {
        Some(email) => IdTokenRequest {
            email: Some(email),
            name: field("name"),
            ..IdTokenRequest::default()
        },
        None => IdTokenRequest {
            uid: field("uid"),
            ..IdTokenRequest::default()
        },
    };
    let user = s.google_user_for(&req);
    {
        let mut inner = s.lock();
        if !inner.google_users.iter().any(|u| u.uid == user.uid) {
            inner.google_users.push(user.clone());
        }
    }
    match s.mint_id_token(&user, IdTokenVariant::Valid) {
        Ok(minted) => {
            let mut fragment = url::form_urlencoded::Serializer::new(String::new());
            fragment.append_pair("id_token", &minted.id_token);
            if let Some(state) = form.get("state") {
                fragment.append_pair("state", state);
            }
            return_to.set_fragment(Some(&fragment.finish()));
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, return_to.to_string())],
            )
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_modulus_and_exponent_from_pkcs1() {
        // SEQUENCE { INTEGER 0x00C3 (leading zero for sign), INTEGER 0x010001 }
        let der = [
            0x30, 0x09, 0x02, 0x02, 0x00, 0xC3, 0x02, 0x03, 0x01, 0x00, 0x01,
        ];
        assert_eq!(
            rsa_public_components(&der),
            Some((vec![0xC3], vec![0x01, 0x00, 0x01]))
        );
    }
}
