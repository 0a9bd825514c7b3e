//! Request rate limits (per IP on `/auth/*`, per user on `/api/*`), answered with 429 and
//! `Retry-After`. In-process GCRA buckets (`governor`): each web replica enforces its own share,
//! which is what a load balancer in front of N replicas needs to bound abuse.

use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

/// The two keyed limiters.
#[derive(Clone)]
pub struct Limits {
    auth: Arc<DefaultKeyedRateLimiter<String>>,
    api: Arc<DefaultKeyedRateLimiter<String>>,
}

impl Limits {
    pub fn new(auth_per_min: u32, api_per_min: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            auth: Arc::new(RateLimiter::keyed(quota(auth_per_min))),
            api: Arc::new(RateLimiter::keyed(quota(api_per_min))),
        }
    }

    pub fn check_auth(&self, key: &str) -> Result<(), ApiError> {
        check(&self.auth, key)
    }

    pub fn check_api(&self, key: &str) -> Result<(), ApiError> {
        check(&self.api, key)
    }
}

fn check(limiter: &DefaultKeyedRateLimiter<String>, key: &str) -> Result<(), ApiError> {
    limiter.check_key(&key.to_owned()).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        }
    })
}
