//! Drains the outbox into Telegram: send, then mark sent.
//!
//! Delivery is at least once: a crash between a successful send and its mark repeats the
//! messages in flight after a restart (at most one per user), nothing else; a SIGTERM waits
//! for them to be answered and marked ([`lanes`]). Users are served side by side, each
//! user's messages in order, one at a time, so one slow or refused chat holds up nobody
//! else. A 429 waits its `retry_after` without counting as a failure, and so does a chat
//! whose turn is seconds away (the message is put back instead of occupying a lane); other
//! transient failures back off; a message that keeps failing is parked with its reason and
//! stops occupying the queue.
//!
//! A user who never opened a private chat with the bot is mentioned in the group where they
//! converted and asked to open one (the amounts only with `GROUP_FALLBACK_AMOUNTS=on`); their
//! message is held and sent privately when they send /start. A user who blocked the bot is
//! never announced anywhere: the message is held for their next /start.

mod lanes;

use crate::events::Event;
use crate::lang::Lang;
use crate::store::{OutboxRow, Store, StoreError};
use crate::telegram::pace::Declined;
use crate::telegram::refusal::{self, Refusal};
use crate::telegram::{texts, Policy, Telegram};
use chrono::Utc;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use teloxide::RequestError;
use thiserror::Error;
use tokio::sync::{watch, Notify};

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SendError {
    #[error("rate limited for {0:?}")]
    RetryAfter(Duration),
    /// Kicked, deleted, deactivated, another bot, not found: this chat will not take the
    /// message.
    #[error("chat unreachable: {0}")]
    Unreachable(String),
    /// The group became a supergroup with this id.
    #[error("chat migrated to {0}")]
    Migrated(i64),
    #[error("rejected: {0}")]
    Permanent(String),
    #[error("failed: {0}")]
    Transient(String),
    /// The user never opened a private chat with the bot.
    #[error("user never started the bot: {0}")]
    NotStarted(String),
    /// The user blocked the bot.
    #[error("user blocked the bot: {0}")]
    Blocked(String),
    /// The group is there but the bot may not write in it (rights, a closed topic).
    #[error("chat refuses messages: {0}")]
    ChatRefuses(String),
    /// Telegram cannot read this text (`can't parse entities`, too long).
    #[error("text refused: {0}")]
    BrokenText(String),
    /// Not sent: the chat's turn (Telegram's limits, a 429) is this far away.
    #[error("chat busy for {0:?}")]
    Busy(Duration),
    /// Not sent: shutting down.
    #[error("not sent: shutting down")]
    Stopped,
}

/// How long a send may wait for its chat's turn, and when it must not leave at all.
#[derive(Debug, Clone)]
pub struct Patience {
    pub max_wait: Duration,
    /// Turns true at shutdown: a message not yet on its way stays in the outbox.
    pub stop: watch::Receiver<bool>,
}

impl Patience {
    /// Resolves once stopping (never, if nobody can ask for it any more).
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        if stop.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Sends one HTML message to a chat: [`SendError::Busy`] instead of waiting longer than
/// `patience.max_wait` for the chat's turn, [`SendError::Stopped`] if stopping before it
/// leaves; once on its way, it is awaited.
pub trait Messenger: Send + Sync + 'static {
    fn send<'a>(
        &'a self,
        chat_id: i64,
        html: &'a str,
        patience: &'a Patience,
    ) -> BoxFuture<'a, Result<(), SendError>>;
}

impl Messenger for Telegram {
    fn send<'a>(
        &'a self,
        chat_id: i64,
        html: &'a str,
        patience: &'a Patience,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        // A 429 goes back to the notifier, which reschedules the row without counting it.
        Box::pin(async move {
            match self
                .send_within(chat_id, html, patience.max_wait, patience.stopped())
                .await
            {
                Ok(sent) => sent.map(|_| ()).map_err(classify),
                Err(Declined::Busy(wait)) => Err(SendError::Busy(wait)),
                Err(Declined::Stopped) => Err(SendError::Stopped),
            }
        })
    }
}

/// What a Telegram failure means for delivery, by what Telegram says ([`refusal`]).
pub fn classify(e: RequestError) -> SendError {
    match refusal::classify(&e) {
        Refusal::RetryAfter(d) => SendError::RetryAfter(d),
        Refusal::Migrated(to) => SendError::Migrated(to),
        Refusal::NotStarted(why) => SendError::NotStarted(why),
        Refusal::Blocked(why) => SendError::Blocked(why),
        Refusal::Unreachable(why) => SendError::Unreachable(why),
        // For a private chat, Telegram's way of saying "never opened a chat with the bot"
        // to someone it only saw in a group; for a group, a refusal like any other.
        Refusal::UnknownChat(why) => SendError::NotStarted(why),
        // A revoked token fails every send alike: nothing is parked for it, every row waits
        // and goes out once the operator has fixed the token (the bot also logs it at start
        // and on every failed getUpdates).
        Refusal::TokenRefused(why) => {
            tracing::error!(reason = %why, "Telegram refused the bot token; notifications wait");
            SendError::RetryAfter(TOKEN_REFUSED_WAIT)
        }
        Refusal::ChatRefuses(why) => SendError::ChatRefuses(why),
        Refusal::BrokenText(why) => SendError::BrokenText(why),
        Refusal::Rejected(why) => SendError::Permanent(why),
        Refusal::Transient(why) => SendError::Transient(why),
    }
}

/// How long every message waits while Telegram refuses the bot token itself.
pub const TOKEN_REFUSED_WAIT: Duration = Duration::from_secs(60);

/// How the group fallback speaks.
#[derive(Debug, Clone, Default)]
pub struct GroupFallback {
    /// `GROUP_FALLBACK_AMOUNTS=on`: the group sees the whole message, amounts included.
    /// Off (the default), it sees only that there is news and where to read it.
    pub amounts: bool,
    /// The bot's @username (from getMe), for the `t.me/<bot>?start=` link in the notice.
    pub bot_username: Option<String>,
    /// Told when a send reveals that a group became a supergroup (the allow-list follows).
    pub policy: Option<Arc<Policy>>,
}

/// How often at most a user is told in one group to open a private chat.
pub const NOTICE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Tries to record a message as sent before giving up (and sending it again later).
const MARK_RETRIES: u32 = 5;
const MARK_RETRY_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// Failures (429s excepted) before a message is parked. The default rides out about a
    /// day of Telegram or network trouble (backoff 5 s doubling to 30 min: 8 failures take
    /// ~21 min, each further one 30 min): an outage of hours must not park everyone's news.
    pub max_attempts: i64,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest sleep with nothing due, in case a wake-up was missed.
    pub idle_poll: Duration,
    /// Users served at once (one message each in flight).
    pub lanes: usize,
    /// A chat whose turn is further away than this (Telegram's limits, a 429) gets its
    /// message put back until then instead of holding a lane.
    pub max_chat_wait: Duration,
    /// At shutdown, how long sends already on their way are awaited (teloxide's client
    /// gives up on a request after 17 s, and waits 10 s after a Telegram 5xx).
    pub shutdown_grace: Duration,
    /// How long a message taken for delivery is this instance's alone
    /// ([`Store::claim_due`]); renewed every third of it while the attempt lasts, so a
    /// slow send keeps it. If this instance dies mid-send, the message is sent again by
    /// another after at most this long.
    pub claim: Duration,
    /// `REBATE_PERCENT`: order news shows the user's rebate (from the ledger) above 0, and
    /// never the operator's commission.
    pub rebate_percent: u8,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        NotifierSettings {
            max_attempts: 56,
            base_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(30 * 60),
            idle_poll: Duration::from_secs(30),
            lanes: 16,
            max_chat_wait: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(30),
            claim: Duration::from_secs(30),
            rebate_percent: 0,
        }
    }
}

pub struct Notifier {
    store: Store,
    messenger: Arc<dyn Messenger>,
    wake: Arc<Notify>,
    settings: NotifierSettings,
    fallback: GroupFallback,
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
    /// Parked until the user sends /start: they never opened a private chat (the group was
    /// told, without details) or they blocked the bot (nobody was told).
    Held {
        reason: String,
        /// The group told to open a private chat by this attempt, if one was.
        told_in: Option<i64>,
    },
    /// Nothing was sent: stopping. The row stays as it was.
    Stopped,
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
            fallback: GroupFallback::default(),
        }
    }

    /// Claims messages under another name than this process's (tests run several
    /// notifiers in one process, as several instances).
    pub fn with_owner(mut self, owner: &str) -> Self {
        self.store = self.store.with_owner(owner);
        self
    }

    /// How the group fallback speaks (default: no amounts, no deep link).
    pub fn with_group_fallback(mut self, fallback: GroupFallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// `began`: when the attempt started (a /start since then makes a hold stale).
    async fn record(
        &self,
        row: &OutboxRow,
        outcome: Delivery,
        began: i64,
    ) -> Result<(), StoreError> {
        let now = Utc::now().timestamp();
        let attempts = failures(row);
        match outcome {
            Delivery::Stopped => {
                tracing::info!(outbox_id = row.id, "stopping: not sent");
                self.store.release_claim(row).await
            }
            Delivery::Sent { chat_id } => {
                tracing::info!(outbox_id = row.id, chat_id, "notification sent");
                metrics::counter!(crate::http::metrics::NOTIFICATIONS_SENT).increment(1);
                // Sent: a failure to record it would send it again once the claim lapses,
                // so the mark is retried for a while first (it is idempotent).
                let mut tries = 0;
                loop {
                    match self.store.mark_sent(row.id, chat_id, now).await {
                        Err(e) if tries < MARK_RETRIES => {
                            tries += 1;
                            tracing::warn!(outbox_id = row.id, error = %e, "could not mark a sent message; retrying");
                            tokio::time::sleep(MARK_RETRY_DELAY).await;
                        }
                        done => break done,
                    }
                }
            }
            Delivery::Retry {
                after,
                reason,
                counts,
            } => {
                if counts && attempts + 1 >= self.settings.max_attempts {
                    let reason = format!("gave up after {} attempts: {reason}", attempts + 1);
                    tracing::error!(outbox_id = row.id, %reason, "notification parked");
                    return self.store.park(row, &reason).await;
                }
                tracing::warn!(outbox_id = row.id, %reason, retry_in = ?after, "notification deferred");
                let at = now + after.as_secs().max(1) as i64;
                self.store.reschedule(row, at, &reason, counts).await
            }
            Delivery::Parked { reason } => {
                tracing::error!(outbox_id = row.id, %reason, "notification parked");
                self.store.park(row, &reason).await
            }
            Delivery::Held { reason, told_in } => {
                tracing::warn!(outbox_id = row.id, %reason, "notification held until /start");
                self.store
                    .hold(row, &reason, told_in.map(|chat| (chat, now)), began)
                    .await
            }
        }
    }

    /// The user's rebate as order news shows it now: from the ledger, so the message and
    /// `/balance` never disagree.
    async fn money(&self, user_id: u64, event: &Event) -> Result<texts::Money, StoreError> {
        let percent = self.settings.rebate_percent;
        let Event::Order { order, .. } = event else {
            return Ok(texts::Money::default());
        };
        let ledger = self.store.order_ledger(user_id, &order.order_id).await?;
        if percent == 0 && ledger == Default::default() {
            return Ok(texts::Money::default());
        }
        Ok(texts::Money {
            percent,
            order: ledger,
            balance: self.store.available(user_id).await?,
        })
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let factor = 1u32 << attempts.clamp(0, 12) as u32;
        (self.settings.base_backoff * factor).min(self.settings.max_backoff)
    }

    /// One delivery attempt: the user's private chat, else the group fallback.
    ///
    /// Only a user who never opened a private chat is looked for in a group. A user who
    /// blocked the bot said no: nobody hears of their order, and it waits for their /start.
    pub async fn deliver(&self, row: &OutboxRow, patience: &Patience) -> Delivery {
        let private = row.user_id as i64;
        let Some(event) = &row.event else {
            return Delivery::Parked {
                reason: "the stored message is of a kind this release cannot read (written by a newer one)".into(),
            };
        };
        // Rendered now, in the language the user has now.
        let lang = match self.store.user_lang(row.user_id).await {
            Ok(lang) => lang.unwrap_or_default(),
            Err(e) => {
                return Delivery::Retry {
                    after: self.backoff(failures(row)),
                    reason: format!("store: {e}"),
                    counts: true,
                }
            }
        };
        let money = match self.money(row.user_id, event).await {
            Ok(money) => money,
            Err(e) => {
                return Delivery::Retry {
                    after: self.backoff(failures(row)),
                    reason: format!("store: {e}"),
                    counts: true,
                }
            }
        };
        let text = texts::event(lang, event, &money);
        match self.messenger.send(private, &text, patience).await {
            Ok(()) => Delivery::Sent { chat_id: private },
            Err(SendError::NotStarted(why)) if row.allow_fallback => {
                // The group may hear the order (GROUP_FALLBACK_AMOUNTS=on), never the user's
                // rebate or balance: those are theirs alone.
                let group_text = texts::event(lang, event, &texts::Money::default());
                self.deliver_in_group(row, lang, &group_text, &why, patience)
                    .await
            }
            Err(SendError::NotStarted(why)) => Delivery::Held {
                reason: format!("user never started the bot ({why})"),
                told_in: None,
            },
            Err(SendError::Blocked(why)) => Delivery::Held {
                reason: format!("user blocked the bot ({why}); kept for their next /start"),
                told_in: None,
            },
            // Deactivated, another bot, a chat Telegram does not know: no group hears of it
            // either; should that user ever send /start, it is theirs.
            Err(SendError::Unreachable(why)) | Err(SendError::ChatRefuses(why)) => Delivery::Held {
                reason: format!("private chat unreachable ({why})"),
                told_in: None,
            },
            Err(e) => self.failure(row, e),
        }
    }

    async fn deliver_in_group(
        &self,
        row: &OutboxRow,
        lang: Lang,
        text: &str,
        private_failure: &str,
        patience: &Patience,
    ) -> Delivery {
        let (mut chat, name) = match self
            .store
            .fallback_chat(row.user_id, row.product_id.as_deref())
            .await
        {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Delivery::Held {
                    reason: format!(
                    "user never started the bot ({private_failure}) and no group to fall back to"
                ),
                    told_in: None,
                }
            }
            Err(e) => {
                return Delivery::Retry {
                    after: self.backoff(failures(row)),
                    reason: format!("store: {e}"),
                    counts: true,
                }
            }
        };
        let text = if self.fallback.amounts {
            texts::in_group(lang, row.user_id, name.as_deref(), text)
        } else {
            // One "open a private chat" a day per user and group is enough: a new order
            // and its refund in one poll do not ping the user twice.
            let since = Utc::now().timestamp() - NOTICE_EVERY.as_secs() as i64;
            match self.store.told_since(row.user_id, chat, since).await {
                Ok(true) => {
                    return Delivery::Held {
                        reason: format!(
                            "user never started the bot ({private_failure}); already told in group {chat}"
                        ),
                        told_in: None,
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not read earlier notices"),
            }
            texts::in_group_notice(
                lang,
                row.user_id,
                name.as_deref(),
                self.fallback.bot_username.as_deref(),
            )
        };
        // A group that became a supergroup answers with its new id once; follow it.
        for _ in 0..2 {
            match self.messenger.send(chat, &text, patience).await {
                Ok(()) if self.fallback.amounts => return Delivery::Sent { chat_id: chat },
                Ok(()) => {
                    return Delivery::Held {
                        reason: format!(
                            "user never started the bot ({private_failure}); told in group {chat} to open a private chat"
                        ),
                        told_in: Some(chat),
                    }
                }
                Err(SendError::Migrated(to)) => {
                    if let Err(e) = self.store.migrate_chat(chat, to).await {
                        tracing::warn!(error = %e, "could not record a chat migration");
                    }
                    if let Some(policy) = &self.fallback.policy {
                        policy.follow_migration(chat, to);
                    }
                    chat = to;
                }
                Err(
                    SendError::Unreachable(why)
                    | SendError::ChatRefuses(why)
                    | SendError::NotStarted(why)
                    | SendError::Blocked(why)
                    | SendError::BrokenText(why),
                ) => {
                    return Delivery::Held {
                        reason: format!(
                            "user never started the bot ({private_failure}); group {chat} refused too ({why})"
                        ),
                        told_in: None,
                    }
                }
                Err(e) => return self.failure(row, e),
            }
        }
        Delivery::Retry {
            after: self.backoff(failures(row)),
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
            SendError::Busy(d) => Delivery::Retry {
                after: d,
                reason: format!(
                    "chat busy for {}s (Telegram's limits); put back",
                    d.as_secs()
                ),
                counts: false,
            },
            SendError::Stopped => Delivery::Stopped,
            SendError::Transient(why) => Delivery::Retry {
                after: self.backoff(failures(row)),
                reason: why,
                counts: true,
            },
            SendError::BrokenText(why) => Delivery::Parked {
                reason: format!("Telegram cannot read this message: {why}"),
            },
            SendError::Unreachable(why)
            | SendError::Permanent(why)
            | SendError::NotStarted(why)
            | SendError::Blocked(why)
            | SendError::ChatRefuses(why) => Delivery::Parked { reason: why },
            SendError::Migrated(to) => Delivery::Parked {
                reason: format!("private chat reported a migration to {to}"),
            },
        }
    }
}

/// The failures that count toward parking a row so far: a held message tried again starts
/// afresh (its attempts were refusals, not failures).
fn failures(row: &OutboxRow) -> i64 {
    if row.held {
        0
    } else {
        row.attempts
    }
}
