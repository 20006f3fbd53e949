//! Telegram's sending limits, kept without adding latency.
//!
//! Telegram asks bots to stay under about 30 messages a second overall, one a second per
//! chat, and 20 a minute per group. teloxide's `Throttle` keeps to them by re-checking its
//! queue every 250 ms, which adds 0–250 ms to every reply even when no limit is near (the
//! e2e benchmark measured a 110 ms median). Here each send reserves the earliest slot the
//! limits allow and sleeps exactly until then: nothing when the bot is quiet, and a steady
//! 30 a second when it is busy. Busy means evenly spaced (a few at once, then one every
//! 1/30 s), not 30 at once every second: bursts arrive at Telegram bunched by network jitter
//! and can count as more than 30 in one of its seconds.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
/// The overall limit's second, with a margin: messages leave evenly but arrive with network
/// jitter, and 30 sent within one second must not land as 31 in one of Telegram's.
const OVERALL_WINDOW: Duration = Duration::from_millis(1050);
/// Chats remembered before idle ones are dropped (memory bounded by recent activity).
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct PaceLimits {
    pub per_second_overall: usize,
    /// Messages that may leave together after a quiet spell (replies split in parts, a few
    /// chats at once); beyond it, one every `1 s / per_second_overall`.
    pub burst: u32,
    pub per_chat_interval: Duration,
    pub per_minute_group: usize,
}

impl Default for PaceLimits {
    fn default() -> Self {
        PaceLimits {
            per_second_overall: 30,
            burst: 5,
            per_chat_interval: SECOND,
            per_minute_group: 20,
        }
    }
}

#[derive(Debug)]
pub struct Pace {
    limits: PaceLimits,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The last `per_second_overall` slots handed out, oldest first; slots only grow.
    overall: VecDeque<Instant>,
    /// When the next message would be due at the steady rate (GCRA's theoretical time).
    due: Option<Instant>,
    frozen_until: Option<Instant>,
    chats: HashMap<i64, ChatSlots>,
}

#[derive(Debug)]
struct ChatSlots {
    next: Instant,
    /// Groups only: the slots of the last minute.
    minute: VecDeque<Instant>,
}

impl Pace {
    pub fn new(limits: PaceLimits) -> Self {
        Pace {
            limits,
            state: Mutex::new(State::default()),
        }
    }

    /// Waits until a message to `chat_id` may leave, and counts it as sent.
    pub async fn acquire(&self, chat_id: i64) {
        // The chat's own limit first, so a busy chat never holds overall slots it cannot use.
        let at = self.reserve_chat(chat_id, Instant::now());
        tokio::time::sleep_until(at).await;
        let at = self.reserve_overall(Instant::now());
        tokio::time::sleep_until(at).await;
    }

    /// Telegram answered 429: nothing leaves before `until`.
    pub fn freeze(&self, until: Instant) {
        let mut st = self.lock();
        st.frozen_until = Some(st.frozen_until.map_or(until, |f| f.max(until)));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Only counters live here; a panic elsewhere cannot leave them unusable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reserve_chat(&self, chat_id: i64, now: Instant) -> Instant {
        let limits = self.limits;
        let mut st = self.lock();
        if st.chats.len() > PRUNE_ABOVE {
            st.chats
                .retain(|_, c| c.next > now || c.minute.back().is_some_and(|t| *t + MINUTE > now));
        }
        let slots = st.chats.entry(chat_id).or_insert(ChatSlots {
            next: now,
            minute: VecDeque::new(),
        });
        let mut at = now.max(slots.next);
        // Negative ids are groups, supergroups and channels.
        if chat_id < 0 && limits.per_minute_group > 0 {
            if slots.minute.len() >= limits.per_minute_group {
                at = at.max(slots.minute[slots.minute.len() - limits.per_minute_group] + MINUTE);
            }
            slots.minute.push_back(at);
            while slots.minute.len() > limits.per_minute_group {
                slots.minute.pop_front();
            }
        }
        slots.next = at + limits.per_chat_interval;
        at
    }

    fn reserve_overall(&self, now: Instant) -> Instant {
        let n = self.limits.per_second_overall.max(1);
        let mut st = self.lock();
        let mut at = now;
        if let Some(f) = st.frozen_until {
            at = at.max(f);
        }
        if let Some(last) = st.overall.back() {
            at = at.max(*last);
        }
        let spacing = OVERALL_WINDOW / n as u32;
        if let Some(due) = st.due {
            let tolerance = spacing * self.limits.burst.saturating_sub(1);
            at = at.max(due.checked_sub(tolerance).unwrap_or(due));
        }
        // Any window holds at most `n` slots: the n-th previous one must be a window old.
        if st.overall.len() >= n {
            at = at.max(st.overall[st.overall.len() - n] + OVERALL_WINDOW);
        }
        st.due = Some(st.due.map_or(at, |d| d.max(at)) + spacing);
        st.overall.push_back(at);
        while st.overall.len() > n {
            st.overall.pop_front();
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace() -> Pace {
        Pace::new(PaceLimits::default())
    }

    #[test]
    fn a_quiet_bot_sends_at_once() {
        let p = pace();
        let t = Instant::now();
        assert_eq!(p.reserve_chat(1, t), t);
        assert_eq!(p.reserve_overall(t), t);
        assert_eq!(p.reserve_chat(2, t), t, "another chat is not held up");
    }

    #[test]
    fn one_chat_gets_one_message_a_second() {
        let p = pace();
        let t = Instant::now();
        let slots: Vec<Duration> = (0..3).map(|_| p.reserve_chat(7, t) - t).collect();
        assert_eq!(slots, [Duration::ZERO, SECOND, 2 * SECOND]);
    }

    #[test]
    fn a_busy_bot_sends_a_few_at_once_then_30_a_second_evenly() {
        let p = pace();
        let t = Instant::now();
        let slots: Vec<Instant> = (0..100).map(|_| p.reserve_overall(t)).collect();
        assert!(slots[..5].iter().all(|s| *s == t));
        assert!(slots[5] > t);
        // No second ever holds more than 30, with room for jitter.
        for w in slots.windows(31) {
            assert!(w[30] - w[0] >= OVERALL_WINDOW, "{:?}", w[30] - w[0]);
        }
        // Never more than the burst at one instant, and no slower than the steady rate.
        for w in slots.windows(6) {
            assert!(w[5] > w[0]);
        }
        assert!(slots[99] - t <= 100 * (OVERALL_WINDOW / 30));
    }

    #[test]
    fn groups_get_twenty_a_minute() {
        let p = pace();
        let t = Instant::now();
        let slots: Vec<Instant> = (0..21).map(|_| p.reserve_chat(-100, t)).collect();
        assert_eq!(slots[19], t + 19 * SECOND);
        assert_eq!(slots[20], t + MINUTE);
    }

    #[test]
    fn a_429_freezes_every_send_until_it_is_over() {
        let p = pace();
        let t = Instant::now();
        p.freeze(t + 5 * SECOND);
        assert_eq!(p.reserve_overall(t), t + 5 * SECOND);
    }
}
