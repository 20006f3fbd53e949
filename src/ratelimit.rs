//! Per-user limit on conversions: one account flooding the bot must not spend the operator's
//! veapi quota or the bot's Telegram budget, nor slow everyone else down.
//!
//! A token bucket per user: `per_minute` tokens, refilled continuously, one token per
//! reference. A message asking for more than is left gets what is left; the first refusal
//! is answered once, further refusals are silent until the user is admitted in full again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle (full) ones are dropped: memory stays bounded by the users
/// active within the last minute, not by every user ever seen.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// References that may be converted now (the first ones of the message).
    pub granted: usize,
    /// This refusal is the first since the user was last admitted in full: say so, once.
    pub tell: bool,
    /// When one more reference will be allowed.
    pub retry_after: Duration,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    told: bool,
}

impl RateLimiter {
    /// `per_minute == 0` admits everything.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn take(&self, user_id: u64, wanted: usize) -> Grant {
        self.take_at(user_id, wanted, Instant::now())
    }

    fn take_at(&self, user_id: u64, wanted: usize, now: Instant) -> Grant {
        let admitted = Grant {
            granted: wanted,
            tell: false,
            retry_after: Duration::ZERO,
        };
        if self.per_minute == 0 || wanted == 0 {
            return admitted;
        }
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        // A poisoned lock only means another handler panicked mid-update; the counts are
        // still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < capacity
            });
        }
        let b = buckets.entry(user_id).or_insert(Bucket {
            tokens: capacity,
            at: now,
            told: false,
        });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * per_sec;
        b.tokens = (b.tokens + refill).min(capacity);
        b.at = now;
        let granted = (b.tokens.floor() as usize).min(wanted);
        b.tokens -= granted as f64;
        if granted == wanted {
            b.told = false;
            return admitted;
        }
        let tell = !b.told;
        b.told = true;
        let missing = 1.0 - b.tokens.fract();
        Grant {
            granted,
            tell,
            retry_after: Duration::from_secs_f64(missing / per_sec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_then_tells_once_then_stays_silent() {
        let l = RateLimiter::new(3);
        let t = Instant::now();
        assert_eq!(l.take_at(1, 2, t).granted, 2);
        let g = l.take_at(1, 2, t);
        assert_eq!((g.granted, g.tell), (1, true));
        assert!(
            g.retry_after > Duration::from_secs(19) && g.retry_after <= Duration::from_secs(20)
        );
        let g = l.take_at(1, 1, t);
        assert_eq!((g.granted, g.tell), (0, false));
        // Another user is not affected.
        assert_eq!(l.take_at(2, 3, t).granted, 3);
    }

    #[test]
    fn tokens_come_back_over_time_and_a_full_admission_rearms_the_answer() {
        let l = RateLimiter::new(60);
        let t = Instant::now();
        assert_eq!(l.take_at(1, 60, t).granted, 60);
        assert!(l.take_at(1, 1, t).tell);
        let later = t + Duration::from_secs(5);
        assert_eq!(l.take_at(1, 5, later).granted, 5);
        let g = l.take_at(1, 1, later);
        assert_eq!(
            (g.granted, g.tell),
            (0, true),
            "told again after an admission"
        );
        // Never more than the capacity, however long the pause.
        let much_later = t + Duration::from_secs(3600);
        assert_eq!(l.take_at(1, 100, much_later).granted, 60);
    }

    #[test]
    fn zero_means_unlimited() {
        let l = RateLimiter::new(0);
        for _ in 0..1000 {
            assert_eq!(l.take(7, 10).granted, 10);
        }
    }

    #[test]
    fn idle_buckets_are_dropped_when_many_users_were_seen() {
        let l = RateLimiter::new(10);
        let t = Instant::now();
        for user in 0..=PRUNE_ABOVE as u64 {
            l.take_at(user, 1, t);
        }
        l.take_at(u64::MAX, 1, t + Duration::from_secs(61));
        assert_eq!(l.buckets.lock().unwrap().len(), 1);
    }
}
