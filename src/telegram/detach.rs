//! Every update's work runs in a task of its own, one chat's in the order they came, so that
//! no handler, however long, can hold up other chats' updates.
//!
//! Why: teloxide's dispatcher (0.17) prunes idle per-chat workers between updates, picking
//! those whose queue is empty and whose "waiting" flag is set, and then awaits each one's
//! end. A worker that has just taken its update but not yet cleared the flag looks idle, and
//! awaiting its end means awaiting its whole handler: a reply waiting for its Telegram slot
//! (seconds in a burst; up to minutes in a busy group). Meanwhile no update reaches any
//! chat. Seen in the 200-chat burst benchmark: in 5 of 52 figures, 3 to 16 updates reached
//! the bot's handlers 0.7 to 10 s after the rest, all at once when another chat's reply went
//! out (none in 32 figures since). Here the handler the dispatcher sees only hands the update on and returns, so the
//! worker it may await is done at once.
//!
//! What the dispatcher gave and the handlers rely on is kept: one chat's updates are handled
//! one after another in the order they came (each task starts when the chat's previous one
//! has ended, also when that one panicked), updates without a chat (inline queries) run side
//! by side, and a stop still waits for every update taken to be handled ([`Detach::finish`]).
//! Bounds: at most [`PER_CHAT`] updates of one chat are handed on (past that the chat's
//! dispatcher worker waits, its own queue of 64 fills, and then the dispatcher waits for
//! everyone, as it did before for a chat's 65th update: a flood from one chat costs time,
//! not memory), and at most [`MAX_PENDING`] are being handled at once, all chats together
//! (past that each further chat's update waits in its dispatcher worker for its turn, and the
//! webhook answers 503 to new ones: [`Detach::full`]).

use super::HandlerError;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use teloxide::dispatching::{DpHandlerDescription, UpdateHandler};
use teloxide::prelude::*;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

/// Updates of one chat handed on (being handled or waiting their turn), at most.
pub const PER_CHAT: usize = 16;

/// Updates handed on, at most, all chats together.
pub const MAX_PENDING: usize = 2048;

/// The tasks of one bot run; cheap to clone.
#[derive(Clone)]
pub struct Detach {
    inner: Arc<Inner>,
}

struct Inner {
    tracker: TaskTracker,
    permits: Arc<Semaphore>,
    /// The chats with work in hand.
    chats: Mutex<HashMap<i64, Chat>>,
    next: AtomicU64,
}

struct Chat {
    /// The number of the chat's last task ([`NONE`] before its first).
    last: u64,
    /// Ends when that task ends: the next task waits for it.
    ended: Option<oneshot::Receiver<()>>,
    /// [`PER_CHAT`] slots.
    slots: Arc<Semaphore>,
}

const NONE: u64 = u64::MAX;

impl Default for Detach {
    fn default() -> Self {
        Detach::new()
    }
}

impl Detach {
    pub fn new() -> Detach {
        Detach::with_max(MAX_PENDING)
    }

    /// With another bound than [`MAX_PENDING`] on the updates handed on (tests).
    pub fn with_max(max_pending: usize) -> Detach {
        Detach {
            inner: Arc::new(Inner {
                tracker: TaskTracker::new(),
                permits: Arc::new(Semaphore::new(max_pending)),
                chats: Mutex::default(),
                next: AtomicU64::new(0),
            }),
        }
    }

    /// `inner`, run in a task per update: the handler the dispatcher gets returns as soon
    /// as the task is queued.
    pub fn handler(&self, inner: UpdateHandler<HandlerError>) -> UpdateHandler<HandlerError> {
        let this = self.clone();
        let sig = inner.sig().clone();
        let description: DpHandlerDescription = inner.description().clone();
        dptree::from_fn_with_description(
            description,
            move |deps: DependencyMap, _cont| {
                let update = deps.get::<Update>();
                let chat = update.chat().map(|c| c.id.0);
                let update_id = update.id.0;
                let (inner, this) = (inner.clone(), this.clone());
                async move {
                    // These wait only when the chat, or the bot, has that many in hand.
                    let slots = this.slots(chat).await;
                    this.spawn(chat, async move {
                        let _slots = slots;
                        match inner.dispatch(deps).await {
                            ControlFlow::Break(Ok(())) | ControlFlow::Continue(_) => {}
                            ControlFlow::Break(Err(e)) => {
                                tracing::error!(
                                    error = %e,
                                    detail = ?e,
                                    update_id,
                                    chat_id = chat,
                                    "an update could not be handled"
                                );
                            }
                        }
                    });
                    ControlFlow::Break(Ok(()))
                }
            },
            sig,
        )
    }

    /// A slot of `chat`'s and one of all chats', held while its update is in hand.
    async fn slots(
        &self,
        chat: Option<i64>,
    ) -> (Option<OwnedSemaphorePermit>, Option<OwnedSemaphorePermit>) {
        // Neither semaphore is ever closed: `None` would only mean no bound.
        let own = match chat {
            Some(chat) => {
                let slots = self
                    .inner
                    .lock()
                    .entry(chat)
                    .or_insert_with(Chat::new)
                    .slots
                    .clone();
                slots.acquire_owned().await.ok()
            }
            None => None,
        };
        let all = self.inner.permits.clone().acquire_owned().await.ok();
        (own, all)
    }

    /// Runs `work` once `chat`'s earlier work has ended (at once without a chat).
    pub fn spawn<F>(&self, chat: Option<i64>, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let Some(chat) = chat else {
            self.inner.tracker.spawn(work);
            return;
        };
        let (done, ended) = oneshot::channel::<()>();
        let number = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let before = {
            let mut chats = self.inner.lock();
            let entry = chats.entry(chat).or_insert_with(Chat::new);
            entry.last = number;
            entry.ended.replace(ended)
        };
        let inner = self.inner.clone();
        self.inner.tracker.spawn(async move {
            if let Some(before) = before {
                // Ends when the earlier task's sender is dropped: finished or panicked.
                let _ = before.await;
            }
            // Dropped when this task ends, however it ends: the next one may start.
            let _done = done;
            let _forget = Forget {
                inner: &inner,
                chat,
                number,
            };
            work.await;
        });
    }

    /// Waits for every task handed out so far (a stop: the dispatcher has handed over its
    /// last update, and waited for its workers, as before).
    pub async fn finish(&self) {
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }

    /// Whether the bound on updates handed on is reached: a further one would wait in the
    /// dispatcher (the webhook then asks Telegram to deliver it again later, possibly to
    /// another instance).
    pub fn full(&self) -> bool {
        self.inner.permits.available_permits() == 0
    }

    /// Tasks not yet ended.
    pub fn running(&self) -> usize {
        self.inner.tracker.len()
    }
}

impl Chat {
    fn new() -> Chat {
        Chat {
            last: NONE,
            ended: None,
            slots: Arc::new(Semaphore::new(PER_CHAT)),
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Chat>> {
        self.chats.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Forgets a chat once its last task ends, so the map holds only chats with work.
struct Forget<'a> {
    inner: &'a Inner,
    chat: i64,
    number: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let mut chats = self.inner.lock();
        if chats.get(&self.chat).is_some_and(|c| c.last == self.number) {
            chats.remove(&self.chat);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::sync::Notify;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_chat_in_order_other_chats_beside_it() {
        let detach = Detach::new();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let gate = Arc::new(Notify::new());
        // Chat 1's first update waits until let go; its second must wait for it, chat 2's
        // must not.
        {
            let (log, gate) = (log.clone(), gate.clone());
            detach.spawn(Some(1), async move {
                gate.notified().await;
                log.lock().unwrap().push("1a".into());
            });
        }
        for (chat, name) in [(Some(1), "1b"), (Some(2), "2a"), (None, "inline")] {
            let log = log.clone();
            detach.spawn(chat, async move {
                log.lock().unwrap().push(name.into());
            });
        }
        tokio::time::timeout(Duration::from_secs(5), async {
            while log.lock().unwrap().len() < 2 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        {
            let seen = log.lock().unwrap().clone();
            assert!(!seen.contains(&"1b".to_string()), "{seen:?}");
        }
        gate.notify_one();
        detach.finish().await;
        let seen = log.lock().unwrap().clone();
        let at = |n: &str| seen.iter().position(|s| s == n).unwrap();
        assert!(at("1a") < at("1b"), "{seen:?}");
        assert_eq!(seen.len(), 4);
        assert!(
            detach.inner.lock().is_empty(),
            "chats are forgotten once done"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_chat_with_too_much_in_hand_waits_alone() {
        let detach = Detach::new();
        let mut held = Vec::new();
        for _ in 0..PER_CHAT {
            held.push(detach.slots(Some(1)).await);
        }
        let quick = Duration::from_millis(100);
        assert!(
            tokio::time::timeout(quick, detach.slots(Some(1)))
                .await
                .is_err(),
            "the chat's next update waits"
        );
        let other = tokio::time::timeout(quick, detach.slots(Some(2))).await;
        assert!(other.is_ok(), "another chat does not");
        held.pop();
        assert!(tokio::time::timeout(quick, detach.slots(Some(1)))
            .await
            .is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_does_not_stop_the_chat() {
        let detach = Detach::new();
        let log = Arc::new(Mutex::new(Vec::<u32>::new()));
        detach.spawn(Some(7), async { panic!("a handler bug") });
        for n in 0..50 {
            let log = log.clone();
            detach.spawn(Some(7), async move {
                tokio::task::yield_now().await;
                log.lock().unwrap().push(n);
            });
        }
        detach.finish().await;
        assert_eq!(*log.lock().unwrap(), (0..50).collect::<Vec<_>>());
        assert_eq!(detach.running(), 0);
    }
}
