//! What production refuses: development secrets, plain-http public addresses, and any TikTok or
//! Google address that only makes sense on a developer's machine. The checks run in a fixed
//! order, so with several problems the same variable is always named first.

use super::identity::{DEV_FIREBASE_PROJECT, DEV_SESSION_SECRET};
use super::tiktok::{SANDBOX_CLIENT_KEY, SANDBOX_CLIENT_SECRET};
use super::vars::err;
use super::{Config, ConfigError};
use std::net::{IpAddr, SocketAddr};
use url::Url;

impl Config {
    /// Production refuses what is only safe on a developer's machine.
    pub(super) fn check_production(&self) -> Result<(), ConfigError> {
        if !self.is_production() {
            return Ok(());
        }
        self.check_production_secrets()?;
        self.check_production_urls()
    }

    fn check_production_secrets(&self) -> Result<(), ConfigError> {
        let identity = &self.identity;
        if identity.session_secret.expose().len() < 32 {
            return Err(err(
                "SESSION_SECRET",
                "must be at least 32 bytes in production".into(),
            ));
        }
        if identity.session_secret.expose() == DEV_SESSION_SECRET {
            return Err(err(
                "SESSION_SECRET",
                "the development default is not allowed in production".into(),
            ));
        }
        if identity.token_keys.ids().any(|id| id == "dev1") {
            return Err(err(
                "TOKEN_KEYS",
                "the development key is not allowed in production".into(),
            ));
        }
        if self.tiktok.client_secret.expose() == SANDBOX_CLIENT_SECRET {
            return Err(err(
                "TIKTOK_CLIENT_SECRET",
                "the sandbox secret is not allowed in production".into(),
            ));
        }
        if identity
            .google_signin_url
            .as_ref()
            .is_none_or(|u| u.scheme() != "https")
        {
            return Err(err(
                "GOOGLE_SIGNIN_URL",
                "must be the https address of the hosted sign-in page in production \
                 (deploy/firebase-signin)"
                    .into(),
            ));
        }
        if self.server.public_url.scheme() != "https" {
            return Err(err(
                "PUBLIC_URL",
                "must be https in production (the session cookie is Secure)".into(),
            ));
        }
        if identity.firebase_project_id == DEV_FIREBASE_PROJECT {
            return Err(err(
                "FIREBASE_PROJECT_ID",
                "the development project is not allowed in production (set your Firebase \
                 project's id)"
                    .into(),
            ));
        }
        if self.tiktok.client_key == SANDBOX_CLIENT_KEY {
            return Err(err(
                "TIKTOK_CLIENT_KEY",
                "the sandbox's demo app is not allowed in production".into(),
            ));
        }
        Ok(())
    }

    fn check_production_urls(&self) -> Result<(), ConfigError> {
        let urls = [
            ("TIKTOK_AUTH_URL", Some(&self.tiktok.auth_url)),
            ("TIKTOK_API_URL", Some(&self.tiktok.api_url)),
            ("TIKTOK_REDIRECT_URI", Some(&self.tiktok.redirect_uri)),
            ("GOOGLE_CERTS_URL", Some(&self.identity.google_certs_url)),
            (
                "GOOGLE_SIGNIN_URL",
                self.identity.google_signin_url.as_ref(),
            ),
        ];
        for (var, url) in urls {
            if let Some(why) = url.and_then(|u| development_url(u, self.server.sandbox_bind)) {
                return Err(err(var, format!("{why} is not allowed in production")));
            }
        }
        if self.server.metrics_token.is_none() {
            return Err(err(
                "METRICS_TOKEN",
                "is required in production (/metrics shows queue and scheduler internals)".into(),
            ));
        }
        Ok(())
    }
}

/// Why `url` only makes sense on a developer's machine (the sandbox, or this very host), if it
/// does: production must talk to TikTok and Google themselves.
fn development_url(url: &Url, sandbox_bind: SocketAddr) -> Option<&'static str> {
    let loopback = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified())
        }
    };
    let host_ip = match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                return Some("a localhost address");
            }
            None
        }
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        None => return Some("an address without a host"),
    };
    if host_ip.is_some_and(loopback) {
        return Some("a loopback address");
    }
    if host_ip == Some(sandbox_bind.ip())
        && url.port_or_known_default() == Some(sandbox_bind.port())
    {
        return Some("the sandbox's address (SANDBOX_BIND)");
    }
    if url.path().starts_with("/_google/") {
        return Some("the sandbox's Google sign-in page");
    }
    None
}
