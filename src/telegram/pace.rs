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
//!
//! A 429 (`Too Many Requests: retry after N`) holds back the chat it came from, for its
//! `retry_after`: Telegram's flood limits are per chat as well as global, and one busy group
//! must not stop private replies and everyone else's order news. Only when 429s come back
//! from [`GLOBAL_429_CHATS`] different chats within [`GLOBAL_429_WINDOW`] is it the overall
//! limit speaking, and then every chat waits.
//!
//! The notifier does not queue behind a chat that is held back: [`Pace::acquire_within`]
//! declines a slot further away than it is willing to wait, and can be abandoned at
//! shutdown before the message leaves.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
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
/// 429s from this many different chats ...
pub const GLOBAL_429_CHATS: usize = 3;
/// ... within this long mean the overall limit: every chat waits.
pub const GLOBAL_429_WINDOW: Duration = Duration::from_secs(5);

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

/// Why [`Pace::acquire_within`] let nothing leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declined {
    /// The chat's turn (or the end of a 429) is this far away.
    Busy(Duration),
    /// Told to stop before the message left.
    Stopped,
}

#[derive(Debug)]
pub struct Pace {
    limits: PaceLimits,
    state: Mutex<State>,
    /// Instances sending for the same bot: the overall limit is the bot's, so each takes
    /// its share ([`Pace::share_with`]).
    instances: AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    /// The last `per_second_overall` slots handed out, oldest first; slots only grow.
    overall: VecDeque<Instant>,
    /// When the next message would be due at the steady rate (GCRA's theoretical time).
    due: Option<Instant>,
    /// Every chat waits until then (429s from several chats at once).
    frozen_until: Option<Instant>,
    /// Recent 429s: when, and for which chat.
    recent_429: VecDeque<(Instant, i64)>,
    chats: HashMap<i64, ChatSlots>,
}

#[derive(Debug)]
struct ChatSlots {
    next: Instant,
    /// Groups only: the slots of the last minute.
    minute: VecDeque<Instant>,
    /// This chat answered 429: nothing for it before then.
    frozen_until: Option<Instant>,
}

impl Pace {
    pub fn new(limits: PaceLimits) -> Self {
        Pace {
            limits,
            state: Mutex::new(State::default()),
            instances: AtomicUsize::new(1),
        }
    }

    /// Waits until a message to `chat_id` may leave, and counts it as sent.
    pub async fn acquire(&self, chat_id: i64) {
        let never = std::future::pending::<()>();
        // Without a bound and without a stop, nothing is declined.
        let _ = self.acquire_within(chat_id, None, never).await;
    }

    /// Like [`Pace::acquire`], but declines when the chat's turn is more than `max_wait`
    /// away (nothing is reserved then), and when `stop` resolves before the message may
    /// leave.
    pub async fn acquire_within(
        &self,
        chat_id: i64,
        max_wait: Option<Duration>,
        stop: impl Future<Output = ()>,
    ) -> Result<(), Declined> {
        tokio::pin!(stop);
        let latest = max_wait.map(|w| Instant::now() + w);
        loop {
            // The chat's own limit first, so a busy chat never holds overall slots it
            // cannot use.
            let now = Instant::now();
            let at = self
                .reserve_chat(chat_id, now, latest)
                .map_err(|at| Declined::Busy(at - now))?;
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = &mut stop => return Err(Declined::Stopped),
            }
            let at = self.reserve_overall(Instant::now());
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = &mut stop => return Err(Declined::Stopped),
            }
            // A 429 that came back while this one waited holds it back too.
            if self.frozen_for(chat_id).is_none_or(|f| f <= Instant::now()) {
                return Ok(());
            }
        }
    }

    /// Telegram answered 429 for `chat_id`: nothing leaves for that chat before `until`;
    /// nothing leaves at all if several chats answered 429 within a few seconds.
    pub fn freeze(&self, chat_id: i64, until: Instant) {
        self.freeze_at(chat_id, until, Instant::now());
    }

    fn freeze_at(&self, chat_id: i64, until: Instant, now: Instant) {
        let mut st = self.lock();
        let slots = st
            .chats
            .entry(chat_id)
            .or_insert_with(|| ChatSlots::new(now));
        slots.frozen_until = Some(slots.frozen_until.map_or(until, |f| f.max(until)));
        st.recent_429.push_back((now, chat_id));
        while st
            .recent_429
            .front()
            .is_some_and(|(at, _)| *at + GLOBAL_429_WINDOW < now)
        {
            st.recent_429.pop_front();
        }
        let chats: HashSet<i64> = st.recent_429.iter().map(|(_, c)| *c).collect();
        if chats.len() >= GLOBAL_429_CHATS {
            tracing::warn!(
                chats = chats.len(),
                "429s from several chats at once: all sending waits"
            );
            st.frozen_until = Some(st.frozen_until.map_or(until, |f| f.max(until)));
        }
    }

    /// Until when `chat_id` is held back by a 429 (its own or everyone's), if at all.
    fn frozen_for(&self, chat_id: i64) -> Option<Instant> {
        let st = self.lock();
        let own = st.chats.get(&chat_id).and_then(|c| c.frozen_until);
        own.max(st.frozen_until)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Only counters live here; a panic elsewhere cannot leave them unusable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves the chat's earliest slot, or returns it without reserving when it is later
    /// than `latest`.
    fn reserve_chat(
        &self,
        chat_id: i64,
        now: Instant,
        latest: Option<Instant>,
    ) -> Result<Instant, Instant> {
        let limits = self.limits;
        let mut st = self.lock();
        if st.chats.len() > PRUNE_ABOVE {
            st.chats.retain(|_, c| {
                c.next > now
                    || c.frozen_until.is_some_and(|f| f > now)
                    || c.minute.back().is_some_and(|t| *t + MINUTE > now)
            });
        }
        let everyone = st.frozen_until;
        let slots = st
            .chats
            .entry(chat_id)
            .or_insert_with(|| ChatSlots::new(now));
        let mut at = now.max(slots.next);
        for frozen in [slots.frozen_until, everyone].into_iter().flatten() {
            at = at.max(frozen);
        }
        // Negative ids are groups, supergroups and channels.
        let group = chat_id < 0 && limits.per_minute_group > 0;
        if group && slots.minute.len() >= limits.per_minute_group {
            at = at.max(slots.minute[slots.minute.len() - limits.per_minute_group] + MINUTE);
        }
        if latest.is_some_and(|l| at > l) {
            return Err(at);
        }
        if group {
            slots.minute.push_back(at);
            while slots.minute.len() > limits.per_minute_group {
                slots.minute.pop_front();
            }
        }
        slots.next = at + limits.per_chat_interval;
        Ok(at)
    }

    /// The overall limit is the bot's, whichever instance sends: with `instances` alive,
    /// this one keeps to `1 / instances` of it (rounded down, at least 1 a second).
    pub fn share_with(&self, instances: usize) {
        self.instances.store(instances.max(1), Ordering::Relaxed);
    }

    fn overall_share(&self) -> usize {
        let instances = self.instances.load(Ordering::Relaxed).max(1);
        (self.limits.per_second_overall / instances).max(1)
    }

    fn reserve_overall(&self, now: Instant) -> Instant {
        let n = self.overall_share();
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

impl ChatSlots {
    fn new(now: Instant) -> Self {
        ChatSlots {
            next: now,
            minute: VecDeque::new(),
            frozen_until: None,
        }
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
        assert_eq!(p.reserve_chat(1, t, None), Ok(t));
        assert_eq!(p.reserve_overall(t), t);
        assert_eq!(
            p.reserve_chat(2, t, None),
            Ok(t),
            "another chat is not held up"
        );
    }

    #[test]
    fn one_chat_gets_one_message_a_second() {
        let p = pace();
        let t = Instant::now();
        let slots: Vec<Duration> = (0..3)
            .map(|_| p.reserve_chat(7, t, None).unwrap() - t)
            .collect();
        assert_eq!(slots, [Duration::ZERO, SECOND, 2 * SECOND]);
    }

    #[test]
    fn three_instances_each_keep_to_a_third_of_the_bots_limit() {
        let p = pace();
        p.share_with(3);
        let t = Instant::now();
        let slots: Vec<Instant> = (0..60).map(|_| p.reserve_overall(t)).collect();
        // No second holds more than 10 from this instance: 3 × 10 stay within 30.
        for w in slots.windows(11) {
            assert!(w[10] - w[0] >= OVERALL_WINDOW, "{:?}", w[10] - w[0]);
        }
        // Alone again: the whole limit.
        p.share_with(1);
        let later = slots[59] + OVERALL_WINDOW;
        let slots: Vec<Instant> = (0..31).map(|_| p.reserve_overall(later)).collect();
        assert!(slots[30] - slots[0] < 2 * OVERALL_WINDOW);
        assert!(slots[30] - slots[0] >= OVERALL_WINDOW);
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
        let slots: Vec<Instant> = (0..21)
            .map(|_| p.reserve_chat(-100, t, None).unwrap())
            .collect();
        assert_eq!(slots[19], t + 19 * SECOND);
        assert_eq!(slots[20], t + MINUTE);
    }

    #[test]
    fn a_429_holds_back_its_own_chat_only() {
        let p = pace();
        let t = Instant::now();
        p.freeze_at(-100, t + 30 * SECOND, t);
        assert_eq!(p.reserve_chat(-100, t, None), Ok(t + 30 * SECOND));
        assert_eq!(
            p.reserve_chat(7, t, None),
            Ok(t),
            "another chat is not delayed"
        );
        assert_eq!(p.reserve_chat(-200, t, None), Ok(t), "nor another group");
        assert_eq!(p.reserve_overall(t), t, "nothing leaves later overall");
        assert_eq!(p.frozen_for(7), None);
    }

    #[test]
    fn a_chat_further_away_than_the_caller_waits_is_declined_without_a_reservation() {
        let p = pace();
        let t = Instant::now();
        p.freeze_at(-100, t + 30 * SECOND, t);
        let latest = Some(t + 2 * SECOND);
        assert_eq!(p.reserve_chat(-100, t, latest), Err(t + 30 * SECOND));
        // One second per chat: the second message within two seconds waits, the fourth not.
        let slots: Vec<_> = (0..4).map(|_| p.reserve_chat(7, t, latest)).collect();
        assert_eq!(
            slots,
            [
                Ok(t),
                Ok(t + SECOND),
                Ok(t + 2 * SECOND),
                Err(t + 3 * SECOND)
            ]
        );
        // Declining reserved nothing: the next slot is still 3 s away.
        assert_eq!(p.reserve_chat(7, t, None), Ok(t + 3 * SECOND));
    }

    #[test]
    fn several_chats_answering_429_at_once_hold_back_every_chat() {
        let p = pace();
        let t = Instant::now();
        p.freeze_at(-1, t + 10 * SECOND, t);
        p.freeze_at(-1, t + 10 * SECOND, t + SECOND);
        p.freeze_at(-2, t + 10 * SECOND, t + SECOND);
        assert_eq!(
            p.reserve_chat(3, t, None),
            Ok(t),
            "two chats are not all of them"
        );
        p.freeze_at(-3, t + 12 * SECOND, t + 2 * SECOND);
        assert_eq!(p.reserve_chat(4, t, None), Ok(t + 12 * SECOND));
        assert_eq!(p.reserve_overall(t), t + 12 * SECOND);
    }

    #[test]
    fn several_chats_answering_429_far_apart_hold_back_their_own_chats_only() {
        let p = pace();
        let t = Instant::now();
        p.freeze_at(-1, t + 60 * SECOND, t);
        p.freeze_at(-2, t + 60 * SECOND, t + 4 * SECOND);
        p.freeze_at(-3, t + 60 * SECOND, t + 9 * SECOND);
        assert_eq!(p.reserve_chat(4, t, None), Ok(t));
    }
}
