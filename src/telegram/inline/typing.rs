//! People typing inline queries: only each person's newest query is answered, and each
//! reference they type is converted once while they go on typing.
//!
//! Telegram sends a query per keystroke, and the dispatcher runs inline queries
//! concurrently (they have no chat to order them by). "Newest" is the highest update id
//! seen from that person: update ids grow with every update Telegram hands out, whichever
//! handler happens to run first. An older query still working when a newer one arrives is
//! dropped unanswered, and answers leave one at a time per person after a last check, so an
//! older answer never follows a newer one.
//!
//! Conversions run as tasks of their own, shared by every query that names the same
//! reference: a query given up on does not cancel the call it started, and the next
//! keystroke joins it instead of calling upstream again. Finished conversions are kept for
//! a while ([`KEEP_OK`], [`KEEP_FAILED`]) even when `CONVERSION_CACHE_SECS=0`, so a refusal
//! is not asked again on every keystroke either.

use crate::convert::{ConvertError, Converted};
use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OwnedMutexGuard;

/// How long a converted reference is reused for the same person (the store's cache, when
/// on, keeps it far longer).
pub const KEEP_OK: Duration = Duration::from_secs(600);
/// How long a refusal is reused: long enough for one typing session, short enough that a
/// passing upstream problem is asked again soon.
pub const KEEP_FAILED: Duration = Duration::from_secs(60);
/// Entries kept before stale ones are dropped: memory follows the people typing now.
const PRUNE_ABOVE: usize = 10_000;
/// A person not heard from for this long is forgotten when pruning.
const FORGET_TYPIST: Duration = Duration::from_secs(60);

pub type Flight = Shared<BoxFuture<'static, Result<Converted, ConvertError>>>;

#[derive(Default)]
pub struct Typing {
    typists: Mutex<HashMap<u64, Typist>>,
    memo: Mutex<HashMap<(u64, String), Memo>>,
}

impl std::fmt::Debug for Typing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typing").finish_non_exhaustive()
    }
}

struct Typist {
    newest: u32,
    seen: Instant,
    /// Held while an answer is checked and sent.
    answering: Arc<tokio::sync::Mutex<()>>,
}

struct Memo {
    flight: Flight,
    started: Instant,
}

impl Memo {
    /// A finished conversion past its keeping time.
    fn stale(&self, now: Instant) -> bool {
        let keep = match self.flight.peek() {
            None => return false,
            Some(Ok(_)) => KEEP_OK,
            Some(Err(_)) => KEEP_FAILED,
        };
        now.saturating_duration_since(self.started) > keep
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Typing {
    /// Notes query `update` from `user`; false when a newer one of theirs already arrived.
    pub fn begin(&self, user: u64, update: u32) -> bool {
        let now = Instant::now();
        let mut typists = lock(&self.typists);
        if typists.len() > PRUNE_ABOVE {
            typists.retain(|_, t| {
                now.saturating_duration_since(t.seen) < FORGET_TYPIST
                    || Arc::strong_count(&t.answering) > 1
            });
        }
        let t = typists.entry(user).or_insert_with(|| Typist {
            newest: update,
            seen: now,
            answering: Arc::default(),
        });
        t.seen = now;
        if update < t.newest {
            return false;
        }
        t.newest = update;
        true
    }

    /// Whether `update` is still `user`'s newest query.
    pub fn is_newest(&self, user: u64, update: u32) -> bool {
        lock(&self.typists)
            .get(&user)
            .is_none_or(|t| t.newest <= update)
    }

    /// Waits for `user`'s turn to answer; hold the guard while checking
    /// [`is_newest`](Self::is_newest) and sending.
    pub async fn answer_turn(&self, user: u64) -> OwnedMutexGuard<()> {
        let turn = lock(&self.typists)
            .entry(user)
            .or_insert_with(|| Typist {
                newest: 0,
                seen: Instant::now(),
                answering: Arc::default(),
            })
            .answering
            .clone();
        turn.lock_owned().await
    }

    /// Whether `value` is being converted for `user`, or was recently.
    pub fn known(&self, user: u64, value: &str) -> bool {
        let now = Instant::now();
        lock(&self.memo)
            .get(&(user, value.to_string()))
            .is_some_and(|m| !m.stale(now))
    }

    /// The conversion of `value` for `user`: the one in flight or recently finished, else
    /// the one `start` begins (spawned: it finishes even if every query waiting on it is
    /// dropped).
    pub fn flight(
        &self,
        user: u64,
        value: &str,
        start: impl FnOnce() -> BoxFuture<'static, Result<Converted, ConvertError>>,
    ) -> Flight {
        let now = Instant::now();
        let mut memo = lock(&self.memo);
        if memo.len() > PRUNE_ABOVE {
            memo.retain(|_, m| !m.stale(now));
        }
        let key = (user, value.to_string());
        if let Some(m) = memo.get(&key).filter(|m| !m.stale(now)) {
            return m.flight.clone();
        }
        let task = tokio::spawn(start());
        let flight = async move {
            task.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "an inline conversion task failed");
                Err(ConvertError::Store("conversion task failed".into()))
            })
        }
        .boxed()
        .shared();
        memo.insert(
            key,
            Memo {
                flight: flight.clone(),
                started: now,
            },
        );
        flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::veapi::ShareLink;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn only_the_newest_update_of_a_person_counts() {
        let t = Typing::default();
        assert!(t.begin(1, 10));
        assert!(t.begin(1, 12));
        assert!(!t.begin(1, 11), "arrived late: older than one already seen");
        assert!(!t.is_newest(1, 10));
        assert!(t.is_newest(1, 12));
        assert!(t.begin(2, 11), "another person types on their own");
    }

    #[tokio::test]
    async fn one_conversion_per_person_and_reference_while_it_is_kept() {
        let t = Typing::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let start = |calls: Arc<AtomicUsize>| {
            move || {
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(Converted {
                        link: ShareLink {
                            dy_password: "pw".into(),
                            share_link: None,
                            dy_deeplink: None,
                            dy_zlink: None,
                            coupon: None,
                        },
                        cached: false,
                        details: None,
                    })
                }
                .boxed()
            }
        };
        let a = t.flight(1, "x", start(calls.clone()));
        let b = t.flight(1, "x", start(calls.clone()));
        assert!(t.known(1, "x") && !t.known(2, "x"));
        assert!(a.await.is_ok() && b.await.is_ok());
        let _ = t.flight(1, "x", start(calls.clone())).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let _ = t.flight(2, "x", start(calls.clone())).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "another person converts their own"
        );
    }

    #[tokio::test]
    async fn a_conversion_finishes_when_nobody_waits_for_it() {
        let t = Typing::default();
        let (tx, rx) = tokio::sync::oneshot::channel();
        drop(t.flight(1, "x", move || {
            async move {
                let _ = tx.send(());
                Err(ConvertError::Unresolved)
            }
            .boxed()
        }));
        rx.await.expect("ran although its flight was dropped");
    }
}
