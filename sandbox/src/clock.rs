//! The sandbox clock: real time plus an offset that tests advance.
//!
//! Every TikTok-side window (rate limits, daily caps, the 1 h upload URL, token lifetimes,
//! processing delays) reads this clock, so a test can "wait" an hour by advancing it instead of
//! sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// Real time shifted by an offset that only ever moves forward through the control API.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// The sandbox's idea of "now".
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the clock forward; returns the new offset.
    pub fn advance(&self, by: std::time::Duration) -> TimeDelta {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 2);
        let new = self
            .offset_ms
            .fetch_add(ms, Ordering::SeqCst)
            .saturating_add(ms);
        TimeDelta::milliseconds(new)
    }

    /// The current offset from real time.
    pub fn offset(&self) -> TimeDelta {
        TimeDelta::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Back to real time (used by reset).
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_by_at_least_the_amount() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(clock.now() - before >= TimeDelta::seconds(3600));
        assert_eq!(clock.offset(), TimeDelta::seconds(3600));
        clock.reset();
        assert_eq!(clock.offset(), TimeDelta::zero());
    }
}
