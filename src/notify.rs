//! Drains the outbox into Telegram: send, then mark sent.
//!
//! Delivery is at least once: a crash between a successful send and its mark repeats that
//! one message after a restart, nothing else. A 429 waits its `retry_after` without counting
//! as a failure; other transient failures back off; a user who cannot be reached privately
//! gets the message in the group where they converted, mentioned by name; a message that
//! keeps failing is parked with its reason and stops occupying the queue.

use crate::store::{OutboxRow, Store, StoreError};
use crate::telegram::{texts, Telegram};
use chrono::Utc;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use teloxide::{ApiError, RequestError};
use thiserror::Error;
use tokio::sync::{watch, Notify};

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SendError {
    #[error("rate limited for {0:?}")]
    RetryAfter(Duration),
    /// Blocked, never started, deactivated, kicked: this chat will not take the message.
    #[error("chat unreachable: {0}")]
    Unreachable(String),
    /// The group became a supergroup with this id.
    #[error("chat migrated to {0}")]
    Migrated(i64),
    #[error("rejected: {0}")]
    Permanent(String),
    #[error("failed: {0}")]
    Transient(String),
}

/// Sends one HTML message to a chat.
pub trait Messenger: Send + Sync + 'static {
    fn send<'a>(&'a self, chat_id: i64, html: &'a str) -> BoxFuture<'a, Result<(), SendError>>;
}

impl Messenger for Telegram {
    fn send<'a>(&'a self, chat_id: i64, html: &'a str) -> BoxFuture<'a, Result<(), SendError>> {
        // A 429 goes back to the notifier, which reschedules the row without counting it.
        Box::pin(async move {
            self.send_once(chat_id, html, None)
                .await
                .map(|_| ())
                .map_err(classify)
        })
    }
}

/// What a Telegram failure means for delivery.
pub fn classify(e: RequestError) -> SendError {
    match e {
        RequestError::RetryAfter(s) => SendError::RetryAfter(s.duration()),
        RequestError::MigrateToChatId(id) => SendError::Migrated(id.0),
        RequestError::Api(api) => match api {
            ApiError::BotBlocked
            | ApiError::ChatNotFound
            | ApiError::UserNotFound
            | ApiError::UserDeactivated
            | ApiError::CantInitiateConversation
            | ApiError::CantTalkWithBots
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::GroupDeactivated => SendError::Unreachable(api.to_string()),
            // Unrecognised answers include Telegram's own 5xx: retry, bounded by attempts.
            ApiError::Unknown(text) => SendError::Transient(text),
            other => SendError::Permanent(other.to_string()),
        },
        other => SendError::Transient(other.to_string()),
    }
}

#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// Failures (429s excepted) before a message is parked.
    pub max_attempts: i64,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest sleep with nothing due, in case a wake-up was missed.
    pub idle_poll: Duration,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        NotifierSettings {
            max_attempts: 8,
            base_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(30 * 60),
            idle_poll: Duration::from_secs(30),
        }
    }
}

pub struct Notifier {
    store: Store,
    messenger: Arc<dyn Messenger>,
    wake: Arc<Notify>,
    settings: NotifierSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent {
        chat_id: i64,
    },
    /// `counts`: whether this failure counts toward parking (a 429 does not).
    Retry {
        after: Duration,
        reason: String,
        counts: bool,
    },
    Parked {
        reason: String,
    },
}

impl Notifier {
    pub fn new(
        store: Store,
        messenger: Arc<dyn Messenger>,
        wake: Arc<Notify>,
        settings: NotifierSettings,
    ) -> Self {
        Notifier {
            store,
            messenger,
            wake,
            settings,
        }
    }

    /// Delivers until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            // A send in flight is abandoned on shutdown: it was not marked, so it is
            // retried after the restart (at least once, never lost).
            let between_rows = shutdown.clone();
            let drained = tokio::select! {
                r = self.drain_once(&between_rows) => r,
                _ = shutdown.changed() => break,
            };
            let idle = match drained {
                Ok(0) => self.idle_time().await,
                Ok(_) => Duration::ZERO,
                Err(e) => {
                    tracing::error!(error = %e, "outbox unavailable; retrying");
                    Duration::from_secs(5)
                }
            };
            if idle.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(idle) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("notifier stopped");
    }

    async fn idle_time(&self) -> Duration {
        let now = Utc::now().timestamp();
        match self.store.next_due_at().await {
            Ok(Some(at)) if at > now => {
                Duration::from_secs((at - now) as u64).min(self.settings.idle_poll)
            }
            Ok(Some(_)) => Duration::from_millis(50),
            _ => self.settings.idle_poll,
        }
    }

    /// Sends what is due now; returns how many rows it handled.
    pub async fn drain_once(&self, shutdown: &watch::Receiver<bool>) -> Result<usize, StoreError> {
        let rows = self.store.due_outbox(Utc::now().timestamp(), 50).await?;
        let n = rows.len();
        for row in rows {
            if *shutdown.borrow() {
                break;
            }
            let outcome = self.deliver(&row).await;
            self.record(&row, outcome).await?;
        }
        Ok(n)
    }

    async fn record(&self, row: &OutboxRow, outcome: Delivery) -> Result<(), StoreError> {
        let now = Utc::now().timestamp();
        match outcome {
            Delivery::Sent { chat_id } => {
                tracing::info!(outbox_id = row.id, chat_id, "notification sent");
                self.store.mark_sent(row.id, chat_id, now).await
            }
            Delivery::Retry {
                after,
                reason,
                counts,
            } => {
                if counts && row.attempts + 1 >= self.settings.max_attempts {
                    let reason = format!("gave up after {} attempts: {reason}", row.attempts + 1);
                    tracing::error!(outbox_id = row.id, %reason, "notification parked");
                    return self.store.park(row.id, &reason).await;
                }
                tracing::warn!(outbox_id = row.id, %reason, retry_in = ?after, "notification deferred");
                let at = now + after.as_secs().max(1) as i64;
                self.store.reschedule(row.id, at, &reason, counts).await
            }
            Delivery::Parked { reason } => {
                tracing::error!(outbox_id = row.id, %reason, "notification parked");
                self.store.park(row.id, &reason).await
            }
        }
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let factor = 1u32 << attempts.clamp(0, 12) as u32;
        (self.settings.base_backoff * factor).min(self.settings.max_backoff)
    }

    /// One delivery attempt: the user's private chat, else the group fallback.
    pub async fn deliver(&self, row: &OutboxRow) -> Delivery {
        let private = row.user_id as i64;
        match self.messenger.send(private, &row.text).await {
            Ok(()) => Delivery::Sent { chat_id: private },
            Err(SendError::Unreachable(why)) if row.allow_fallback => {
                self.deliver_in_group(row, &why).await
            }
            Err(e) => self.failure(row, e),
        }
    }

    async fn deliver_in_group(&self, row: &OutboxRow, private_failure: &str) -> Delivery {
        let (mut chat, name) = match self
            .store
            .fallback_chat(row.user_id, row.product_id.as_deref())
            .await
        {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Delivery::Parked {
                    reason: format!(
                        "user unreachable ({private_failure}) and no group to fall back to"
                    ),
                }
            }
            Err(e) => {
                return Delivery::Retry {
                    after: self.backoff(row.attempts),
                    reason: format!("store: {e}"),
                    counts: true,
                }
            }
        };
        let text = texts::in_group(row.user_id, name.as_deref(), &row.text);
        // A group that became a supergroup answers with its new id once; follow it.
        for _ in 0..2 {
            match self.messenger.send(chat, &text).await {
                Ok(()) => return Delivery::Sent { chat_id: chat },
                Err(SendError::Migrated(to)) => {
                    if let Err(e) = self.store.migrate_chat(chat, to).await {
                        tracing::warn!(error = %e, "could not record a chat migration");
                    }
                    chat = to;
                }
                Err(SendError::Unreachable(why)) => {
                    return Delivery::Parked {
                        reason: format!(
                            "user unreachable ({private_failure}); group {chat} too ({why})"
                        ),
                    }
                }
                Err(e) => return self.failure(row, e),
            }
        }
        Delivery::Retry {
            after: self.backoff(row.attempts),
            reason: "group migrated twice".into(),
            counts: true,
        }
    }

    fn failure(&self, row: &OutboxRow, e: SendError) -> Delivery {
        match e {
            SendError::RetryAfter(d) => Delivery::Retry {
                after: d,
                reason: format!("rate limited for {}s", d.as_secs()),
                counts: false,
            },
            SendError::Transient(why) => Delivery::Retry {
                after: self.backoff(row.attempts),
                reason: why,
                counts: true,
            },
            SendError::Unreachable(why) | SendError::Permanent(why) => {
                Delivery::Parked { reason: why }
            }
            SendError::Migrated(to) => Delivery::Parked {
                reason: format!("private chat reported a migration to {to}"),
            },
        }
    }
}
