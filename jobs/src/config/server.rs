//! The process itself and the web tier's face: mode, addresses, data directory, logs, the
//! metrics token and the proxies trusted in front of it.

use super::Secret;
use super::vars::{Vars, err};
use std::net::SocketAddr;
use std::path::PathBuf;
use url::Url;

/// Development or production. Production refuses development defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Development,
    Production,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Where the process listens, what browsers see, and what it trusts in front of it.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `MKTPOST_ENV` = `development` (default) | `production`.
    pub mode: Mode,
    /// `BIND_ADDR`, default `127.0.0.1:8080`; port 0 picks a free port (tests).
    pub bind_addr: SocketAddr,
    /// `PUBLIC_URL`, default `http://127.0.0.1:8080`: what browsers see; Origin checks use it.
    pub public_url: Url,
    /// `DATA_DIR`, default `./data`: SQLite files, staging, logs.
    pub data_dir: PathBuf,
    /// `SANDBOX_BIND`, default `127.0.0.1:8090`: where `dev` and `mktpost sandbox` serve the sandbox.
    pub sandbox_bind: SocketAddr,
    /// `LOG_FORMAT` = `pretty` (default) | `json`.
    pub log_format: LogFormat,
    /// `METRICS_TOKEN`: when set, `/metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    /// `TRUSTED_PROXY_HEADER`, default `x-forwarded-for` when `TRUSTED_PROXY_HOPS` > 0: the
    /// comma-separated list of addresses each trusted proxy appends to. `None` when no proxy is
    /// trusted.
    pub trusted_proxy_header: Option<String>,
    /// `TRUSTED_PROXY_HOPS`, default 0: how many proxies we own sit in front of the web tier.
    /// 0: the socket peer is the client. N: the client is the N-th address from the right of
    /// `TRUSTED_PROXY_HEADER` (each of our proxies appended one; anything further left was sent
    /// by the client and is never believed). One load balancer: `TRUSTED_PROXY_HOPS=1`. Only
    /// with the web port reachable through those proxies alone.
    pub trusted_proxy_hops: usize,
}

impl ServerConfig {
    pub(super) fn from_vars(v: &Vars<'_>) -> Result<Self, super::ConfigError> {
        let mode = match v.get_or("MKTPOST_ENV", "development").as_str() {
            "development" | "dev" => Mode::Development,
            "production" | "prod" => Mode::Production,
            other => {
                return Err(err(
                    "MKTPOST_ENV",
                    format!("{other:?} is not development or production"),
                ));
            }
        };
        let bind_addr = v.parse("BIND_ADDR", "127.0.0.1:8080")?;
        let public_url = v.url("PUBLIC_URL", "http://127.0.0.1:8080")?;
        let data_dir = PathBuf::from(v.get_or("DATA_DIR", "./data"));
        let sandbox_bind = v.parse("SANDBOX_BIND", "127.0.0.1:8090")?;
        let log_format = match v.get_or("LOG_FORMAT", "pretty").as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(err(
                    "LOG_FORMAT",
                    format!("{other:?} is not pretty or json"),
                ));
            }
        };
        let metrics_token = v
            .get("METRICS_TOKEN")
            .filter(|s| !s.is_empty())
            .map(Secret::new);
        let (trusted_proxy_header, trusted_proxy_hops) = proxy_trust(v)?;
        Ok(Self {
            mode,
            bind_addr,
            public_url,
            data_dir,
            sandbox_bind,
            log_format,
            metrics_token,
            trusted_proxy_header,
            trusted_proxy_hops,
        })
    }

    /// The sandbox's base URL: the development default of every TikTok and Google address.
    pub(super) fn sandbox_base(&self) -> String {
        format!("http://{}", self.sandbox_bind)
    }
}

/// `TRUSTED_PROXY_HOPS` and `TRUSTED_PROXY_HEADER`: (header, hops), the header `None` when no
/// proxy is trusted.
fn proxy_trust(v: &Vars<'_>) -> Result<(Option<String>, usize), super::ConfigError> {
    let hops: usize = v.parse("TRUSTED_PROXY_HOPS", "0")?;
    if hops > 16 {
        return Err(err(
            "TRUSTED_PROXY_HOPS",
            format!("{hops} proxies in a row is not plausible (at most 16)"),
        ));
    }
    let header = v
        .get("TRUSTED_PROXY_HEADER")
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty());
    if let Some(h) = &header
        && !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(err(
            "TRUSTED_PROXY_HEADER",
            format!("{h:?} is not a header name (e.g. x-forwarded-for)"),
        ));
    }
    match (header, hops) {
        (None, 0) => Ok((None, 0)),
        // Before TRUSTED_PROXY_HOPS existed, the header alone meant "believe its first entry",
        // which the client chooses. Refusing beats silently keying every client by the proxy.
        (Some(_), 0) => Err(err(
            "TRUSTED_PROXY_HOPS",
            "must be set with TRUSTED_PROXY_HEADER: the number of proxies in front of the web \
             tier that append to it (1 for one load balancer)"
                .into(),
        )),
        (header, hops) => Ok((
            Some(header.unwrap_or_else(|| "x-forwarded-for".into())),
            hops,
        )),
    }
}
