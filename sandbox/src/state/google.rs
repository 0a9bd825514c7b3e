//! The Google side of the sandbox's world: the securetoken signing keys (published in Google's
//! two formats, plus an unpublished one for `unknown_kid` tokens), the sign-in page's test
//! users, and minting of Firebase-style ID tokens, valid ones and each way a token can be wrong.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::SandboxConfig;
use crate::error::SandboxError;
use crate::model::GoogleUser;

/// Google's half of the state: its own lock, apart from TikTok's.
pub(crate) struct Google {
    pub keys: GoogleKeys,
    /// Test users shown on the sign-in page.
    pub users: Vec<GoogleUser>,
}

impl Google {
    pub fn new(keys: GoogleKeys, cfg: &SandboxConfig) -> Self {
        Self {
            keys,
            users: seeded_users(cfg),
        }
    }

    /// Resolves a request to a user: by uid, else by email (a new user if unknown), else the
    /// first seeded user.
    pub fn user_for(&self, req: &IdTokenRequest) -> GoogleUser {
        let found = req
            .uid
            .as_ref()
            .and_then(|uid| self.users.iter().find(|u| &u.uid == uid))
            .or_else(|| {
                req.email
                    .as_ref()
                    .and_then(|e| self.users.iter().find(|u| &u.email == e))
            })
            .cloned();
        let mut user = found.unwrap_or_else(|| match &req.email {
            Some(email) => GoogleUser::from_email(email, req.name.as_deref().unwrap_or("")),
            None => self.users.first().cloned().unwrap_or_else(|| {
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

    /// Mints a Firebase-style ID token for `user` at unix time `now`.
    pub fn mint(
        &mut self,
        user: &GoogleUser,
        variant: IdTokenVariant,
        now: i64,
        ttl: i64,
        project: &str,
    ) -> Result<MintedIdToken, SandboxError> {
        let claims = claims(user, variant, now, ttl, project);
        let (kid, id_token) = self.keys.sign(&claims, variant)?;
        Ok(MintedIdToken {
            id_token,
            kid,
            claims,
        })
    }
}

/// Ada and Ben, unless the config asks for no demo data.
pub(crate) fn seeded_users(cfg: &SandboxConfig) -> Vec<GoogleUser> {
    if !cfg.seed_demo_data {
        return Vec::new();
    }
    vec![
        GoogleUser {
            uid: "sandboxGoogleUserAda00000001".into(),
            email: "ada.demo@example.com".into(),
            name: "Ada Demo".into(),
            picture: "https://lh3.googleusercontent.com/a/sandbox-ada".into(),
        },
        GoogleUser {
            uid: "sandboxGoogleUserBen00000002".into(),
            email: "ben.demo@example.com".into(),
            name: "Ben Demo".into(),
            picture: "https://lh3.googleusercontent.com/a/sandbox-ben".into(),
        },
    ]
}

/// The claims of an ID token for `user`, bent the way `variant` asks.
fn claims(user: &GoogleUser, variant: IdTokenVariant, now: i64, ttl: i64, project: &str) -> Value {
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
    json!({
        "name": user.name,
        "picture": user.picture,
        "iss": if variant == IdTokenVariant::WrongIssuer {
            "https://securetoken.google.com/some-other-project".to_owned()
        } else {
            format!("https://securetoken.google.com/{project}")
        },
        "aud": if variant == IdTokenVariant::WrongAudience { "some-other-project".to_owned() } else { project.to_owned() },
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
    })
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

    /// Publishes `key` as the current one; with `keep_previous` the old current key stays
    /// published, every older one disappears.
    pub fn rotate(&mut self, key: SigningKey, keep_previous: bool) {
        let last = self.published.pop();
        self.published.clear();
        if keep_previous {
            self.published.extend(last);
        }
        self.published.push(key);
    }

    /// The kids currently published (last = the one signing new tokens).
    pub fn kids(&self) -> Vec<String> {
        self.published.iter().map(|k| k.kid.clone()).collect()
    }

    /// `{kid: PEM certificate}`, Google's x509 format.
    pub fn certificates(&self) -> BTreeMap<String, String> {
        self.published
            .iter()
            .map(|k| (k.kid.clone(), k.cert_pem.clone()))
            .collect()
    }

    /// The same keys as JWKS entries.
    pub fn jwks(&self) -> Vec<Value> {
        self.published
            .iter()
            .map(|k| json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": k.kid, "n": k.n, "e": k.e}))
            .collect()
    }

    /// Signs `claims` as `variant` asks; returns (kid, token).
    fn sign(
        &mut self,
        claims: &Value,
        variant: IdTokenVariant,
    ) -> Result<(String, String), SandboxError> {
        let err = |e: jsonwebtoken::errors::Error| SandboxError::Keys(e.to_string());
        if variant == IdTokenVariant::UnknownKid && self.rogue.is_none() {
            self.rogue = Some(SigningKey::generate("unpublished-")?);
        }
        let key = match (variant, &self.rogue) {
            (IdTokenVariant::UnknownKid, Some(rogue)) => rogue,
            _ => self.current(),
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
                    claims,
                    &EncodingKey::from_secret(key.public_pem.as_bytes()),
                )
                .map_err(err)?
            }
            _ => {
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some(kid.clone());
                let token = jsonwebtoken::encode(&header, claims, &key.encoding).map_err(err)?;
                if variant == IdTokenVariant::BadSignature {
                    tamper_signature(&token)
                } else {
                    token
                }
            }
        };
        Ok((kid, id_token))
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
