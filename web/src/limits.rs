//! Request rate limits, answered with 429 and `Retry-After`: per IP on `/auth/*`, the HTML
//! pages, the avatar proxy and `/readyz`; per user on `/api/*` (per IP while signed out).
//! In-process GCRA buckets (`governor`): each web replica enforces its own share, which is what
//! a load balancer in front of N replicas needs to bound abuse.
//!
//! Who "the client" is comes from [`ProxyTrust`]: the socket peer, or, behind
//! `TRUSTED_PROXY_HOPS` proxies of ours, the address the outermost of them saw, counted from
//! the right of the forwarding header. The left part of that header is written by the client
//! and is never believed, so a fresh `X-Forwarded-For` per request does not buy a fresh bucket.
//! IPv6 clients are counted per /64 (one subscriber's usual allocation), for the same reason.
//!
//! Memory stays bounded: a key whose bucket has refilled is indistinguishable from a new one,
//! and [`Limits::sweep`] (run every [`SWEEP_EVERY`] by a task that ends with the limiters)
//! drops those. What is kept is at most the keys seen within one refill period (a minute).

use crate::error::ApiError;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use jobs::config::Config;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often idle keys are dropped.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Which proxies are ours, hence whose forwarding header is believed, and how far.
#[derive(Debug, Clone, Default)]
pub struct ProxyTrust {
    /// `None`: no proxy is trusted; the socket peer is the client.
    header: Option<HeaderName>,
    hops: usize,
}

impl ProxyTrust {
    /// `hops` proxies of ours append to `header`; 0 (or no header) trusts nobody.
    pub fn new(header: Option<&str>, hops: usize) -> Self {
        let header = if hops == 0 {
            None
        } else {
            // The configuration checked the name; an unusable one trusts nobody rather than
            // everybody.
            HeaderName::from_bytes(header.unwrap_or("x-forwarded-for").as_bytes()).ok()
        };
        Self { header, hops }
    }

    /// `TRUSTED_PROXY_HEADER` and `TRUSTED_PROXY_HOPS`.
    pub fn from_config(config: &Config) -> Self {
        Self::new(
            config.server.trusted_proxy_header.as_deref(),
            config.server.trusted_proxy_hops,
        )
    }

    /// The client's IP: the `hops`-th address from the right of the header when the header
    /// holds that many and that entry is an IP address; otherwise the socket peer.
    pub fn client_ip(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        let Some(name) = &self.header else {
            return peer;
        };
        // Repeated header lines are one list, in order (RFC 9110 §5.3).
        let values = headers.get_all(name).iter().map(|v| v.as_bytes());
        forwarded_client(values, self.hops).or(peer)
    }
}

/// The `hops`-th entry from the right of a forwarding list split over `values`, if it is an IP
/// address. Entries are split on bytes, so a non-UTF-8 entry written by the client (further
/// left) cannot hide the ones our proxies appended.
pub fn forwarded_client<'a>(
    values: impl DoubleEndedIterator<Item = &'a [u8]>,
    hops: usize,
) -> Option<IpAddr> {
    if hops == 0 {
        return None;
    }
    let entry = values
        .rev()
        .flat_map(|v| v.rsplit(|b| *b == b','))
        .nth(hops - 1)?;
    parse_entry(entry)
}

/// One list entry: `1.2.3.4`, `2001:db8::1`, `1.2.3.4:5678` or `[2001:db8::1]:5678`.
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(entry).ok()?.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// The bucket key of an IP: IPv4 (IPv4-mapped IPv6 included) as is, IPv6 by its /64.
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// One keyed limiter with its clock (tests pass a fake one).
pub struct Keyed<C: Clock = DefaultClock> {
    limiter: RateLimiter<String, DashMapStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
}

impl Keyed {
    /// `per_min` requests per minute per key, all of them usable at once.
    pub fn per_minute(per_min: u32) -> Self {
        Self::with_clock(quota(per_min), DefaultClock::default())
    }
}

impl<C: Clock + Clone> Keyed<C> {
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
        }
    }

    /// Counts one request of `key`; over the limit, says how long to wait.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                // Rounded up: retrying after a rounded-down wait is refused again.
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                ApiError::RateLimited {
                    retry_after_secs: secs.max(1),
                }
            })
    }

    /// Drops the keys whose bucket is full again (they would start afresh anyway).
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

fn quota(per_min: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_min).unwrap_or(NonZeroU32::MIN))
}

/// Requests per minute of each bucket.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub auth: u32,
    pub api: u32,
    pub pages: u32,
    pub avatar: u32,
    pub readyz: u32,
}

impl Rates {
    pub fn from_config(c: &Config) -> Self {
        Self {
            auth: c.limits.auth_rate_per_min,
            api: c.limits.api_rate_per_min,
            pages: c.limits.page_rate_per_min,
            avatar: c.limits.avatar_rate_per_min,
            readyz: c.limits.readyz_rate_per_min,
        }
    }
}

/// The keyed limiters and how to find the client.
#[derive(Clone)]
pub struct Limits {
    auth: Arc<Keyed>,
    api: Arc<Keyed>,
    pages: Arc<Keyed>,
    avatar: Arc<Keyed>,
    readyz: Arc<Keyed>,
    proxies: ProxyTrust,
}

impl Limits {
    /// The configured rates and proxies; sweeps every [`SWEEP_EVERY`] when built inside a
    /// Tokio runtime.
    pub fn from_config(config: &Config) -> Self {
        let limits = Self::new(Rates::from_config(config), ProxyTrust::from_config(config));
        limits.start_sweeping(SWEEP_EVERY);
        limits
    }

    /// Limiters without the sweeping task (see [`start_sweeping`](Self::start_sweeping)).
    pub fn new(rates: Rates, proxies: ProxyTrust) -> Self {
        let keyed = |n| Arc::new(Keyed::per_minute(n));
        Self {
            auth: keyed(rates.auth),
            api: keyed(rates.api),
            pages: keyed(rates.pages),
            avatar: keyed(rates.avatar),
            readyz: keyed(rates.readyz),
            proxies,
        }
    }

    fn all(&self) -> [&Arc<Keyed>; 5] {
        [
            &self.auth,
            &self.api,
            &self.pages,
            &self.avatar,
            &self.readyz,
        ]
    }

    /// Sweeps every `every` from a task that holds the limiters weakly, so it ends once the
    /// application is dropped. Without a Tokio runtime, does nothing.
    pub fn start_sweeping(&self, every: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Vec<Weak<Keyed>> = self.all().iter().map(|k| Arc::downgrade(k)).collect();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let live: Vec<Arc<Keyed>> = weak.iter().filter_map(Weak::upgrade).collect();
                if live.is_empty() {
                    return;
                }
                for k in live {
                    k.sweep();
                }
            }
        });
    }

    /// Drops idle keys from every limiter now.
    pub fn sweep(&self) {
        for k in self.all() {
            k.sweep();
        }
    }

    /// Keys held by all limiters together.
    pub fn len(&self) -> usize {
        self.all().iter().map(|k| k.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The client IP of `req` (see [`ProxyTrust::client_ip`]).
    pub fn client_ip(&self, req: &Request) -> Option<IpAddr> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        self.proxies.client_ip(req.headers(), peer)
    }

    /// The per-IP bucket key of `req`.
    pub fn ip_key(&self, req: &Request) -> String {
        self.client_ip(req).map(ip_key).unwrap_or_default()
    }

    pub fn check_auth(&self, key: &str) -> Result<(), ApiError> {
        self.auth.check(key)
    }

    pub fn check_api(&self, key: &str) -> Result<(), ApiError> {
        self.api.check(key)
    }

    pub fn check_pages(&self, key: &str) -> Result<(), ApiError> {
        self.pages.check(key)
    }

    pub fn check_avatar(&self, key: &str) -> Result<(), ApiError> {
        self.avatar.check(key)
    }

    pub fn check_readyz(&self, key: &str) -> Result<(), ApiError> {
        self.readyz.check(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use governor::clock::FakeRelativeClock;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(lines: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", HeaderValue::from_bytes(l).unwrap());
        }
        h
    }

    const PEER: &str = "192.0.2.1";

    fn client(trust: &ProxyTrust, lines: &[&[u8]]) -> Option<IpAddr> {
        trust.client_ip(&headers(lines), Some(ip(PEER)))
    }

    #[test]
    fn without_trusted_hops_the_peer_is_the_client_whatever_the_header_says() {
        for trust in [
            ProxyTrust::default(),
            ProxyTrust::new(Some("x-forwarded-for"), 0),
        ] {
            assert_eq!(client(&trust, &[b"198.51.100.9"]), Some(ip(PEER)));
            assert_eq!(client(&trust, &[]), Some(ip(PEER)));
        }
        assert_eq!(
            ProxyTrust::default().client_ip(&headers(&[b"198.51.100.9"]), None),
            None
        );
    }

    #[test]
    fn the_client_is_counted_from_the_right_never_the_client_chosen_first_entry() {
        let one = ProxyTrust::new(Some("x-forwarded-for"), 1);
        // One load balancer appended what it saw; the client wrote the rest.
        assert_eq!(
            client(&one, &[b"6.6.6.6, 203.0.113.7"]),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(client(&one, &[b"203.0.113.7"]), Some(ip("203.0.113.7")));
        assert_eq!(
            client(&one, &[b"6.6.6.6", b"7.7.7.7, 203.0.113.7"]),
            Some(ip("203.0.113.7"))
        );
        let two = ProxyTrust::new(Some("x-forwarded-for"), 2);
        assert_eq!(
            client(&two, &[b"6.6.6.6, 203.0.113.7, 10.0.0.2"]),
            Some(ip("203.0.113.7"))
        );
        // Repeated lines are one list: the last line holds the rightmost entries.
        assert_eq!(
            client(&two, &[b"6.6.6.6, 203.0.113.7", b"10.0.0.2"]),
            Some(ip("203.0.113.7"))
        );
        // Ports and brackets as some proxies write them.
        assert_eq!(
            client(&one, &[b"1.1.1.1, 203.0.113.7:4711"]),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            client(&one, &[b"[2001:db8::7]:4711"]),
            Some(ip("2001:db8::7"))
        );
        assert_eq!(client(&one, &[b" 2001:db8::7 "]), Some(ip("2001:db8::7")));
        // Another header name, when configured.
        let real = ProxyTrust::new(Some("x-real-ip"), 1);
        let mut h = headers(&[b"6.6.6.6"]);
        h.insert("x-real-ip", HeaderValue::from_static("203.0.113.8"));
        assert_eq!(real.client_ip(&h, Some(ip(PEER))), Some(ip("203.0.113.8")));
    }

    #[test]
    fn malformed_or_short_lists_fall_back_to_the_peer() {
        let one = ProxyTrust::new(Some("x-forwarded-for"), 1);
        let two = ProxyTrust::new(Some("x-forwarded-for"), 2);
        for lines in [
            &[][..],
            &[&b""[..]][..],
            &[&b"unknown"[..]][..],
            &[&b"203.0.113.7, "[..]][..],
            &[&b"1.2.3.4, not-an-ip"[..]][..],
            &[&b"1.2.3.4, 999.1.1.1"[..]][..],
            &[&b"1.2.3.4, \xff\xfe"[..]][..],
            &[&b",,,"[..]][..],
            &[&b"1.2.3.4, _hidden"[..]][..],
            &[&b"1.2.3.4, 5.6.7.8:99999"[..]][..],
        ] {
            assert_eq!(client(&one, lines), Some(ip(PEER)), "{lines:?}");
        }
        // Fewer entries than hops: the request did not come through all our proxies.
        assert_eq!(client(&two, &[b"203.0.113.7"]), Some(ip(PEER)));
        // Garbage written by the client further left does not matter.
        assert_eq!(
            client(&one, &[b"\xff\xfe, 203.0.113.7"]),
            Some(ip("203.0.113.7"))
        );
        let long = "9.9.9.9,".repeat(10_000) + "203.0.113.7";
        assert_eq!(client(&one, &[long.as_bytes()]), Some(ip("203.0.113.7")));
        assert_eq!(forwarded_client([&b"1.2.3.4"[..]].into_iter(), 0), None);
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        assert_eq!(ip_key(ip("203.0.113.7")), "203.0.113.7");
        assert_eq!(ip_key(ip("::ffff:203.0.113.7")), "203.0.113.7");
        assert_eq!(
            ip_key(ip("2001:db8:1:2:aaaa::1")),
            ip_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(ip_key(ip("2001:db8:1:2::1")), ip_key(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn the_limit_answers_429_with_a_rounded_up_retry_after() {
        let clock = FakeRelativeClock::default();
        let k = Keyed::with_clock(quota(2), clock.clone());
        assert!(k.check("a").is_ok() && k.check("a").is_ok());
        match k.check("a") {
            Err(ApiError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 30),
            other => panic!("{other:?}"),
        }
        assert!(k.check("b").is_ok(), "another key has its own bucket");
        clock.advance(Duration::from_millis(29_500));
        match k.check("a") {
            Err(ApiError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("{other:?}"),
        }
        clock.advance(Duration::from_millis(500));
        assert!(k.check("a").is_ok());
    }

    #[test]
    fn idle_keys_are_swept_and_busy_ones_kept() {
        let clock = FakeRelativeClock::default();
        let k = Keyed::with_clock(quota(60), clock.clone());
        for i in 0..1000 {
            k.check(&format!("198.51.100.{i}")).unwrap();
        }
        assert_eq!(k.len(), 1000);
        k.sweep();
        assert_eq!(k.len(), 1000, "every key was just used");
        clock.advance(Duration::from_secs(30));
        k.check("busy").unwrap();
        clock.advance(Duration::from_secs(30));
        k.check("busy").unwrap();
        k.sweep();
        assert_eq!(k.len(), 1, "only the key used within its refill time stays");
        clock.advance(Duration::from_secs(60));
        k.sweep();
        assert!(k.is_empty());
    }

    #[tokio::test]
    async fn the_sweeping_task_empties_the_limiters_on_its_own() {
        let rates = Rates {
            auth: 60_000,
            api: 60_000,
            pages: 60_000,
            avatar: 60_000,
            readyz: 60_000,
        };
        let limits = Limits::new(rates, ProxyTrust::default());
        limits.start_sweeping(Duration::from_millis(20));
        for i in 0..500 {
            let key = format!("ip:{i}");
            limits.check_auth(&key).unwrap();
            limits.check_pages(&key).unwrap();
        }
        assert_eq!(limits.len(), 1000);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !limits.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} keys left",
                limits.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
