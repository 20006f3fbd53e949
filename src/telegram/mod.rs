//! Telegram: long polling, the message handlers, and what the bot says.
//!
//! teloxide's dispatcher runs updates of different chats concurrently and those of one chat
//! in order, so one slow conversion never holds up another chat. Every message leaves
//! through [`Telegram`], which keeps to Telegram's limits ([`pace`]: a 429 holds back the
//! chat that got it) and, for replies, retries after a 429's `retry_after`.

pub mod card;
pub mod chart;
pub mod dashboard;
pub mod detach;
pub mod inline;
pub mod ledger;
pub mod orders;
pub mod pace;
pub mod refusal;
pub mod rewrite;
pub mod texts;

use crate::alerts::Alerts;
use crate::config::Config;
use crate::convert::{ConvertError, ConvertRequest, Converter};
use crate::detect::{detect_with_links, HiddenLink, Reference};
use crate::lang::Lang;
use crate::ratelimit::RateLimiter;
use crate::secret::Secret;
use crate::store::Store;
use crate::veapi::Provider;
use crate::veapi::ShareLink;
use pace::{Pace, PaceLimits};
use std::sync::{Arc, RwLock};
use teloxide::dispatching::{DpHandlerDescription, UpdateHandler};
use teloxide::prelude::*;
use teloxide::types::{
    AllowedUpdate, BotCommand, CallbackQueryId, ChatId, InlineKeyboardMarkup, LinkPreviewOptions,
    MessageEntityKind, MessageId, ParseMode, ReplyParameters, UpdateKind, User,
};
use teloxide::utils::command::BotCommands;
use teloxide::RequestError;
use tokio::sync::Notify;
use url::Url;

pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

#[derive(BotCommands, Clone, Debug, PartialEq, Eq)]
#[command(rename_rule = "lowercase", description = "可用命令：")]
pub enum Command {
    // The text after it is a deep-link payload (`t.me/bot?start=…`), ignored. (Plain
    // comments here: the derive puts doc comments into the command menu.)
    #[command(description = "开始使用")]
    Start(String),
    #[command(description = "使用说明")]
    Help,
    #[command(description = "我的订单")]
    Orders,
    // `zh` or `en`; anything else gets the usage.
    #[command(description = "切换语言（/lang en 切换到英文）")]
    Lang(String),
    #[command(description = "我的返利")]
    Balance,
    // Operators only: `/payout <user id> <amount> [note]`; not in the command menu.
    #[command(hide)]
    Payout(String),
    // As a reply: that message's text with the sender's own 抖口令 ([`rewrite`]).
    #[command(description = "回复一条文案：换成你的专属口令")]
    Rewrite,
    // Operators only; not in the command menu.
    #[command(hide)]
    Stats,
    // Operators only, private chat: a one-time link to the dashboard; not in the menu.
    #[command(hide)]
    Dashboard,
}

/// The command menu in `lang` (descriptions in Chinese come from [`Command`]).
pub fn menu(lang: Lang) -> Vec<BotCommand> {
    Command::bot_commands()
        .into_iter()
        .map(|mut c| {
            if lang == Lang::En {
                let en = match c.command.trim_start_matches('/') {
                    "start" => "Start",
                    "help" => "How it works",
                    "orders" => "My orders",
                    "lang" => "Language (/lang zh for Chinese)",
                    "balance" => "My rebate",
                    "rewrite" => "Rewrite a promo text with your passwords",
                    _ => "",
                };
                if !en.is_empty() {
                    c.description = en.to_string();
                }
            }
            c
        })
        .collect()
}

/// Telegram's limit on one message, in UTF-16 code units after entity parsing.
pub const MAX_MESSAGE_UTF16: usize = 4096;

/// Who the bot serves and how much: the chat allow-list, the operators, the per-user limit.
#[derive(Debug)]
pub struct Policy {
    admins: Vec<u64>,
    /// The operator's list, grown by the supergroups its groups became.
    allowed_chats: RwLock<Vec<i64>>,
    limiter: RateLimiter,
    /// Whose orders are polled: `/stats` shows that provider's watermark.
    provider: Provider,
    /// `REBATE_PERCENT`: the users' share of the commission, shown where above 0.
    rebate_percent: u8,
    /// `INLINE`: inline mode for everyone (operators have it either way).
    inline: bool,
    /// `PUBLIC_URL`: where `/dashboard` links point.
    public_url: Option<Url>,
    /// Whether the HTTP server (which serves the dashboard) runs.
    http_server: bool,
}

impl Policy {
    pub fn new(config: &Config) -> Self {
        Policy {
            provider: config
                .veapi
                .as_ref()
                .map(|v| v.provider)
                .unwrap_or_default(),
            admins: config.admin_user_ids.clone(),
            allowed_chats: RwLock::new(config.allowed_chat_ids.clone()),
            limiter: RateLimiter::new(config.user_rate_limit),
            rebate_percent: config.rebate_percent,
            inline: config.inline,
            public_url: config.public_url.clone(),
            http_server: config.http_listen.is_some(),
        }
    }

    /// Whether this process serves HTTP (it may have been handed a socket instead of
    /// binding `HTTP_LISTEN`).
    pub fn serving_http(mut self, on: bool) -> Self {
        self.http_server = on;
        self
    }

    /// Where `/dashboard` links point, or why there are none.
    pub fn dashboard(&self) -> Result<&Url, dashboard::Off> {
        match (&self.public_url, self.http_server) {
            (None, _) => Err(dashboard::Off::NoPublicUrl),
            (Some(_), false) => Err(dashboard::Off::NoServer),
            (Some(url), true) => Ok(url),
        }
    }

    /// A group became a supergroup: if the group was allowed, so is the supergroup (the
    /// operator listed the id the chat had then). Returns whether the list changed.
    pub fn follow_migration(&self, from: i64, to: i64) -> bool {
        let mut allowed = self
            .allowed_chats
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if allowed.contains(&from) && !allowed.contains(&to) {
            allowed.push(to);
            return true;
        }
        false
    }

    fn chat_listed(&self, chat_id: i64) -> bool {
        let allowed = self.allowed_chats.read().unwrap_or_else(|e| e.into_inner());
        allowed.is_empty() || allowed.contains(&chat_id)
    }

    pub fn is_admin(&self, user_id: u64) -> bool {
        self.admins.contains(&user_id)
    }

    pub fn rebate_percent(&self) -> u8 {
        self.rebate_percent
    }

    /// Whether the bot serves `user_id` in their private chat (an update that is not a
    /// message, such as a button press, is judged by the chat it came from).
    pub fn private_chat_allowed(&self, user_id: u64) -> bool {
        self.chat_listed(user_id as i64) || self.is_admin(user_id)
    }

    /// With an allow-list, other chats are ignored entirely (no reply, no upstream call);
    /// an operator's own private chat always counts, so `/stats` keeps working.
    pub fn chat_allowed(&self, msg: &Message) -> bool {
        self.chat_listed(msg.chat.id.0)
            || (msg.chat.is_private() && self.is_admin(msg.chat.id.0 as u64))
    }
}

/// The person a message is from, if it is from one. Other bots (no loops), anonymous admins
/// and posts made on behalf of a channel or group (`sender_chat`), and a linked channel's
/// automatic forwards (sent as Telegram's service account) have nobody to attribute an order
/// to, so the bot ignores them.
pub fn person(msg: &Message) -> Option<&User> {
    if msg.sender_chat.is_some() || msg.is_automatic_forward() {
        return None;
    }
    msg.from.as_ref().filter(|u| !u.is_bot)
}

/// The operator who sent `msg` in their own private chat; `None` for anyone else and for
/// any group. Commands that hand out links or move money answer only then, and are
/// otherwise ignored as if they did not exist (nothing shown where others read).
pub fn private_operator<'a>(msg: &'a Message, policy: &Policy) -> Option<&'a User> {
    person(msg)
        .filter(|u| policy.is_admin(u.id.0))
        .filter(|_| msg.chat.is_private())
}

/// The language to write to `user` in: their `/lang` choice, else their app's language,
/// which is kept for the news rendered later ([`Store::note_app_lang`]). A store error
/// falls back to the app's language: a reply is never lost over it.
pub async fn lang_of(store: &Store, user: &User) -> Lang {
    let app = Lang::from_code(user.language_code.as_deref());
    match store
        .note_app_lang(user.id.0, app, chrono::Utc::now().timestamp())
        .await
    {
        Ok(lang) => lang,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a user's language");
            app
        }
    }
}

/// A bot talking to `api_url` (Telegram, a self-hosted Bot API server, or a test fake).
pub fn bot(token: &Secret, api_url: Url) -> Result<Bot, reqwest::Error> {
    let client = teloxide::net::default_reqwest_settings().build()?;
    Ok(Bot::with_client(token.expose(), client).set_api_url(api_url))
}

/// How many times a reply waits out a 429 before giving up.
const REPLY_RETRIES: usize = 3;

/// The bot's way out: every message it sends, paced to Telegram's limits.
#[derive(Clone)]
pub struct Telegram {
    bot: Bot,
    pace: Arc<Pace>,
}

/// teloxide's `Bot` prints its token in `Debug`; this never does.
impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("api_url", &self.bot.api_url().as_str())
            .finish_non_exhaustive()
    }
}

impl Telegram {
    pub fn new(bot: Bot) -> Self {
        Telegram {
            bot,
            pace: Arc::new(Pace::new(PaceLimits::default())),
        }
    }

    /// Several instances send for this bot: this one keeps to its share of Telegram's
    /// overall limit ([`Pace::share_with`]).
    pub fn share_pace_with(&self, instances: usize) {
        self.pace.share_with(instances);
    }

    /// One HTML message without a link preview, sent once. A 429 holds back that chat for
    /// its `retry_after` ([`pace`]) and is returned to the caller.
    pub async fn send_once(
        &self,
        chat_id: i64,
        html: &str,
        reply_to: Option<MessageId>,
    ) -> Result<Message, RequestError> {
        self.pace.acquire(chat_id).await;
        self.post(chat_id, html, reply_to).await
    }

    /// [`Telegram::send_once`] for a sender with other work to do (the notifier): declined,
    /// with nothing sent, when the chat's turn is more than `max_wait` away or `stop`
    /// resolves before the message leaves. Once it has left, the answer is awaited.
    pub async fn send_within(
        &self,
        chat_id: i64,
        html: &str,
        max_wait: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<Result<Message, RequestError>, pace::Declined> {
        self.pace
            .acquire_within(chat_id, Some(max_wait), stop)
            .await?;
        Ok(self.post(chat_id, html, None).await)
    }

    async fn post(
        &self,
        chat_id: i64,
        html: &str,
        reply_to: Option<MessageId>,
    ) -> Result<Message, RequestError> {
        self.post_with(chat_id, html, reply_to, None).await
    }

    async fn post_with(
        &self,
        chat_id: i64,
        html: &str,
        reply_to: Option<MessageId>,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<Message, RequestError> {
        let mut request = self
            .bot
            .send_message(ChatId(chat_id), html)
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        if let Some(id) = reply_to {
            request =
                request.reply_parameters(ReplyParameters::new(id).allow_sending_without_reply());
        }
        if let Some(keyboard) = keyboard {
            request = request.reply_markup(keyboard);
        }
        let sent = request.await;
        if let Err(RequestError::RetryAfter(after)) = &sent {
            self.pace
                .freeze(chat_id, tokio::time::Instant::now() + after.duration());
        }
        sent
    }

    /// A reply with buttons under it, paced as [`Telegram::send_once`].
    pub async fn reply_with_keyboard(
        &self,
        chat_id: i64,
        html: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<Message, RequestError> {
        self.pace.acquire(chat_id).await;
        self.post_with(chat_id, html, None, keyboard).await
    }

    /// Replaces a message's text and buttons (a page turned). Telegram refuses an edit that
    /// changes nothing ("message is not modified"): the page is already what was asked, so
    /// that counts as done.
    pub async fn edit_html(
        &self,
        chat_id: i64,
        message_id: MessageId,
        html: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<(), RequestError> {
        self.pace.acquire(chat_id).await;
        let mut request = self
            .bot
            .edit_message_text(ChatId(chat_id), message_id, html)
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        if let Some(keyboard) = keyboard {
            request = request.reply_markup(keyboard);
        }
        match request.await {
            Ok(_) => Ok(()),
            Err(RequestError::Api(e)) if e.to_string().contains("message is not modified") => {
                Ok(())
            }
            Err(e) => {
                if let RequestError::RetryAfter(after) = &e {
                    self.pace
                        .freeze(chat_id, tokio::time::Instant::now() + after.duration());
                }
                Err(e)
            }
        }
    }

    /// A photo by URL (Telegram fetches it) with an HTML caption, paced as every message
    /// and waiting out up to three 429s like [`Telegram::reply`].
    pub async fn send_photo(
        &self,
        chat_id: i64,
        photo_url: &str,
        caption_html: &str,
        reply_to: Option<MessageId>,
    ) -> Result<Message, RequestError> {
        let url = Url::parse(photo_url).map_err(|e| {
            RequestError::Api(teloxide::ApiError::Unknown(format!(
                "Bad Request: photo URL not sent ({e})"
            )))
        })?;
        let photo = teloxide::types::InputFile::url(url);
        self.post_photo(chat_id, photo, Some(caption_html), reply_to)
            .await
    }

    /// A picture the bot made (PNG bytes), uploaded without a caption; paced and retried as
    /// [`Telegram::send_photo`].
    pub async fn send_png(
        &self,
        chat_id: i64,
        png: Vec<u8>,
        file_name: &'static str,
    ) -> Result<Message, RequestError> {
        let photo = teloxide::types::InputFile::memory(png).file_name(file_name);
        self.post_photo(chat_id, photo, None, None).await
    }

    async fn post_photo(
        &self,
        chat_id: i64,
        photo: teloxide::types::InputFile,
        caption_html: Option<&str>,
        reply_to: Option<MessageId>,
    ) -> Result<Message, RequestError> {
        let mut tries = 0;
        loop {
            self.pace.acquire(chat_id).await;
            let mut request = self.bot.send_photo(ChatId(chat_id), photo.clone());
            if let Some(caption) = caption_html {
                request = request.caption(caption).parse_mode(ParseMode::Html);
            }
            if let Some(id) = reply_to {
                request = request
                    .reply_parameters(ReplyParameters::new(id).allow_sending_without_reply());
            }
            match request.await {
                Err(RequestError::RetryAfter(after)) => {
                    self.pace
                        .freeze(chat_id, tokio::time::Instant::now() + after.duration());
                    if tries >= REPLY_RETRIES {
                        return Err(RequestError::RetryAfter(after));
                    }
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// Answers a button press (the app shows a spinner until then); `text` as a toast.
    /// Telegram refuses answers to presses older than about 15 seconds ("query is too old
    /// and response timeout expired or query ID is invalid"): nothing is left to do then.
    pub async fn answer_callback(&self, id: &CallbackQueryId, text: Option<&str>) {
        let mut request = self.bot.answer_callback_query(id.clone());
        if let Some(text) = text {
            request = request.text(text);
        }
        if let Err(e) = request.await {
            tracing::debug!(error = %e, "a button press could not be answered");
        }
    }

    /// [`Telegram::send_once`], waiting out up to three 429s: the user is waiting for it.
    pub async fn reply(
        &self,
        chat_id: i64,
        html: &str,
        reply_to: Option<MessageId>,
    ) -> Result<Message, RequestError> {
        let mut tries = 0;
        loop {
            match self.send_once(chat_id, html, reply_to).await {
                Err(RequestError::RetryAfter(_)) if tries < REPLY_RETRIES => tries += 1,
                other => return other,
            }
        }
    }
}

/// Wakes the notifier when held messages become due (a dependency of the handlers).
#[derive(Clone, Debug)]
pub struct NotifierWake(pub Arc<Notify>);

/// The old and new id of a group that became a supergroup, from either service message:
/// `migrate_to_chat_id` in the old group, `migrate_from_chat_id` in the new supergroup.
pub fn migration(msg: &Message) -> Option<(i64, i64)> {
    if let Some(to) = msg.migrate_to_chat_id() {
        return Some((msg.chat.id.0, to.0));
    }
    msg.migrate_from_chat_id()
        .map(|from| (from.0, msg.chat.id.0))
}

/// A private `/start` (with or without a deep-link payload, addressed to the bot or not).
fn is_private_start(msg: &Message) -> bool {
    msg.chat.is_private()
        && msg.text().is_some_and(|t| {
            let first = t.split_whitespace().next().unwrap_or_default();
            first == "/start" || first.starts_with("/start@")
        })
}

/// The update kinds [`schema`] handles, for setWebhook's `allowed_updates` (long polling
/// asks for what the dispatcher reports itself). Keep in step with `schema`: the webhook
/// listener logs an error when the dispatcher reports something else.
pub const ALLOWED_UPDATES: &[AllowedUpdate] = &[
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::InlineQuery,
];

/// Counts an update the dispatcher took, by kind.
fn count_update(update: Update) {
    let kind = match update.kind {
        UpdateKind::Message(_) => "message",
        UpdateKind::EditedMessage(_) => "edited_message",
        UpdateKind::ChannelPost(_) => "channel_post",
        UpdateKind::EditedChannelPost(_) => "edited_channel_post",
        UpdateKind::CallbackQuery(_) => "callback_query",
        UpdateKind::InlineQuery(_) => "inline_query",
        UpdateKind::MyChatMember(_) => "my_chat_member",
        _ => "other",
    };
    metrics::counter!(crate::http::metrics::UPDATES_HANDLED, "kind" => kind).increment(1);
}

pub fn schema() -> UpdateHandler<HandlerError> {
    // Counting observes and filters nothing, so the kinds the dispatcher asks for stay
    // those of the branches below.
    dptree::inspect_with_description(
        <DpHandlerDescription as dptree::HandlerDescription>::entry(),
        count_update,
    )
    .chain(schema_inner())
}

fn schema_inner() -> UpdateHandler<HandlerError> {
    dptree::entry()
        .branch(inline::handler())
        .branch(messages())
        .branch(
            Update::filter_callback_query()
                .branch(
                    dptree::filter(|q: CallbackQuery| {
                        q.data
                            .as_deref()
                            .is_some_and(|d| d.starts_with(ledger::CALLBACK_PREFIX))
                    })
                    .endpoint(ledger::on_callback),
                )
                .branch(dptree::endpoint(orders::on_callback)),
        )
}

fn messages() -> UpdateHandler<HandlerError> {
    // Edited messages and channel posts are other update kinds: not handled, on purpose (an
    // edit would convert a link twice; a channel has no person to attribute orders to).
    Update::filter_message()
        // Service messages of a group becoming a supergroup: followed before anything else
        // (they are sent in the name of whoever upgraded the group, or of nobody).
        .branch(dptree::filter_map(|msg: Message| migration(&msg)).endpoint(on_migration))
        // A private /start outside the allow-list still hands over the user's held order
        // news (they converted in an allowed group); it gets no other answer.
        .branch(
            dptree::filter(|msg: Message, policy: Arc<Policy>| {
                is_private_start(&msg) && person(&msg).is_some() && !policy.chat_allowed(&msg)
            })
            .endpoint(on_start_outside_allow_list),
        )
        .filter(|msg: Message, policy: Arc<Policy>| {
            person(&msg).is_some() && policy.chat_allowed(&msg)
        })
        .branch(
            dptree::entry()
                .filter_command::<Command>()
                .branch(
                    dptree::filter(|c: Command| c == Command::Rewrite).endpoint(rewrite::endpoint),
                )
                .branch(dptree::endpoint(on_command)),
        )
        .branch(dptree::endpoint(on_message))
}

/// Follows a group that became a supergroup: its conversions (the order-news fallback) and
/// its place on the allow-list move to the new id. Only for a group the bot serves.
async fn on_migration(
    (from, to): (i64, i64),
    store: Store,
    policy: Arc<Policy>,
) -> Result<(), HandlerError> {
    if !policy.chat_listed(from) && !policy.chat_listed(to) {
        return Ok(());
    }
    policy.follow_migration(from, to);
    store.migrate_chat(from, to).await?;
    tracing::info!(from, to, "group became a supergroup");
    Ok(())
}

/// The user opened the private chat: whatever was held for that is due now.
async fn release_held(store: &Store, wake: &NotifierWake, user_id: u64) {
    match store
        .release_held(user_id, chrono::Utc::now().timestamp())
        .await
    {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(held = n, "user started the bot; held messages are due");
            wake.0.notify_one();
        }
        Err(e) => tracing::error!(error = %e, "could not release held messages"),
    }
}

async fn on_start_outside_allow_list(
    msg: Message,
    store: Store,
    wake: NotifierWake,
) -> Result<(), HandlerError> {
    if let Some(user) = person(&msg) {
        release_held(&store, &wake, user.id.0).await;
    }
    Ok(())
}

async fn on_command(
    tg: Telegram,
    msg: Message,
    cmd: Command,
    store: Store,
    policy: Arc<Policy>,
    alerts: Alerts,
    wake: NotifierWake,
) -> Result<(), HandlerError> {
    // A private /start opens the chat held order news waits for: it follows the welcome.
    let starting = matches!(cmd, Command::Start(_)) && msg.chat.is_private();
    let Some(user) = person(&msg) else {
        return Ok(());
    };
    let mut lang = lang_of(&store, user).await;
    let mut keyboard = None;
    let text = match cmd {
        Command::Stats => return stats(&tg, &msg, &store, &policy, &alerts).await,
        Command::Dashboard => return dashboard::command(&tg, &msg, &store, &policy).await,
        Command::Balance => return ledger::balance(&tg, &msg, &store, &policy).await,
        Command::Payout(args) => return ledger::payout(&tg, &msg, &args, &store, &policy).await,
        // Its own endpoint in `schema_inner`.
        Command::Rewrite => return Ok(()),
        Command::Start(_) => texts::start(lang).to_string(),
        Command::Help => texts::help(lang).to_string(),
        Command::Lang(choice) => match Lang::parse(&choice) {
            Some(chosen) => {
                match store
                    .choose_lang(user.id.0, chosen, chrono::Utc::now().timestamp())
                    .await
                {
                    Ok(()) => {
                        lang = chosen;
                        texts::lang_set(lang).to_string()
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not keep a language choice");
                        texts::internal_error(lang).to_string()
                    }
                }
            }
            None => texts::lang_usage(lang).to_string(),
        },
        // Orders and commissions are nobody else's business: private chat only.
        Command::Orders if !msg.chat.is_private() => texts::orders_in_private(lang).to_string(),
        Command::Orders => {
            match orders::page(&store, user.id.0, 0, policy.rebate_percent()).await {
                Ok(p) => {
                    keyboard = orders::keyboard(lang, &p);
                    texts::orders(lang, &p)
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not read a user's orders");
                    texts::internal_error(lang).to_string()
                }
            }
        }
    };
    let replied = match keyboard {
        Some(k) => tg.reply_with_keyboard(msg.chat.id.0, &text, Some(k)).await,
        None => tg.reply(msg.chat.id.0, &text, None).await,
    };
    if starting {
        release_held(&store, &wake, user.id.0).await;
    }
    replied?;
    Ok(())
}

/// `/stats`: answered in the operator's private chat wherever they asked (the figures are
/// not the group's business), the text and then the last 30 days' chart ([`chart`]);
/// anyone else is ignored, as if the command did not exist.
async fn stats(
    tg: &Telegram,
    msg: &Message,
    store: &Store,
    policy: &Policy,
    alerts: &Alerts,
) -> Result<(), HandlerError> {
    let Some(user) = person(msg).filter(|u| policy.is_admin(u.id.0)) else {
        return Ok(());
    };
    let lang = lang_of(store, user).await;
    let now = chrono::Utc::now().timestamp();
    let read = store.stats(now - 24 * 3600).await;
    let text = match &read {
        Ok(s) => {
            let key = crate::poller::watermark_key(policy.provider);
            let watermark = store.kv_get(&key).await.ok().flatten();
            let shown = watermark
                .as_deref()
                .and_then(|w| w.parse::<i64>().ok())
                .map(crate::poller::china_time);
            texts::stats(lang, s, shown.as_deref(), alerts.any_open())
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read the stats");
            texts::internal_error(lang).to_string()
        }
    };
    let chat_id = user.id.0 as i64;
    tg.reply(chat_id, &text, None).await?;
    if read.is_ok() {
        chart::send(tg, store, chat_id, lang, now).await;
    }
    Ok(())
}

/// Splits a reply at line ends into messages Telegram accepts. Every tag the bot writes
/// opens and closes on one line, so a split at a line end never breaks the markup; a single
/// line longer than a message is cut inside ([`cut_line`]), its open tags closed before the
/// cut and opened again after it.
pub fn split_message(text: &str, max_utf16: usize) -> Vec<String> {
    let utf16 = |s: &str| s.chars().map(char::len_utf16).sum::<usize>();
    let mut parts = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        let pieces = if utf16(line) > max_utf16 {
            cut_line(line, max_utf16)
        } else {
            vec![line.to_string()]
        };
        for piece in pieces {
            if !current.is_empty() && utf16(&current) + utf16(&piece) > max_utf16 {
                parts.push(current.trim_end().to_string());
                current.clear();
            }
            current.push_str(&piece);
        }
    }
    parts.push(current.trim_end().to_string());
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// Room kept in each piece of a cut line for the tags closed and reopened around a cut.
const TAG_ROOM: usize = 128;

/// One over-long line of HTML cut into pieces of at most `max_utf16`, never inside a tag or
/// an entity, preferring the last space; tags open at a cut are closed at its end and opened
/// again at the next piece's start.
fn cut_line(line: &str, max_utf16: usize) -> Vec<String> {
    let budget = max_utf16.saturating_sub(TAG_ROOM).max(1);
    let mut pieces = Vec::new();
    // The tags open where the current piece starts: (name, the whole opening tag).
    let mut open: Vec<(String, String)> = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let reopen: String = open.iter().map(|(_, tag)| tag.as_str()).collect();
        let (mut used, mut cut, mut last_space) = (0usize, rest.len(), None);
        let mut i = 0;
        let bytes = rest.as_bytes();
        while i < rest.len() {
            let c = rest[i..].chars().next().unwrap_or(' ');
            // A tag or an entity is one unit that is never cut.
            let end = match c {
                '<' => rest[i..].find('>').map_or(rest.len(), |e| i + e + 1),
                '&' => rest[i..]
                    .find(';')
                    .filter(|e| *e <= 10)
                    .map_or(i + 1, |e| i + e + 1),
                _ => i + c.len_utf8(),
            };
            let width: usize = if c == '<' {
                0
            } else {
                rest[i..end]
                    .chars()
                    .map(char::len_utf16)
                    .sum::<usize>()
                    .min(2)
            };
            if used + width > budget && i > 0 {
                cut = last_space.unwrap_or(i);
                break;
            }
            if bytes[i] == b' ' {
                last_space = Some(i + 1);
            }
            used += width;
            i = end;
        }
        let (piece, after) = rest.split_at(cut);
        // The tags open at the cut: closed here, reopened in the next piece.
        let mut at_cut = open.clone();
        replay_tags(piece, &mut at_cut);
        let closing: String = at_cut
            .iter()
            .rev()
            .map(|(name, _)| format!("</{name}>"))
            .collect();
        pieces.push(format!("{reopen}{piece}{closing}"));
        open = at_cut;
        rest = after;
    }
    pieces
}

/// Follows the tags of `html` on the stack of open ones.
fn replay_tags(html: &str, open: &mut Vec<(String, String)>) {
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start..start + len + 1];
        let name: String = tag
            .trim_start_matches("</")
            .trim_start_matches('<')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if tag.starts_with("</") {
            if let Some(p) = open.iter().rposition(|(n, _)| *n == name) {
                open.truncate(p);
            }
        } else if !tag.ends_with("/>") {
            open.push((name, tag.to_string()));
        }
        rest = &rest[start + len + 1..];
    }
}

/// Replies carry links only as text to copy: a preview card would be noise.
fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

/// The references in a message's text or caption, hidden `text_link` URLs included.
pub fn references(msg: &Message) -> Vec<Reference> {
    let (text, entities) = match (msg.text(), msg.caption()) {
        (Some(t), _) => (t, msg.parse_entities()),
        (None, Some(c)) => (c, msg.parse_caption_entities()),
        (None, None) => return Vec::new(),
    };
    let hidden: Vec<HiddenLink<'_>> = entities
        .iter()
        .flatten()
        .filter_map(|e| match e.kind() {
            MessageEntityKind::TextLink { url } => Some(HiddenLink {
                url: url.as_str(),
                span: e.range(),
            }),
            _ => None,
        })
        .collect();
    detect_with_links(text, &hidden)
}

async fn on_message(
    tg: Telegram,
    msg: Message,
    converter: Arc<dyn Converter>,
    policy: Arc<Policy>,
    store: Store,
) -> Result<(), HandlerError> {
    let private = msg.chat.is_private();
    let Some(user) = person(&msg) else {
        return Ok(());
    };
    let mut refs = references(&msg);
    if refs.is_empty() {
        if private && (msg.text().is_some() || msg.caption().is_some()) {
            let lang = lang_of(&store, user).await;
            tg.reply(msg.chat.id.0, texts::no_reference(lang), None)
                .await?;
        }
        return Ok(());
    }
    let mut seen = std::collections::HashSet::new();
    refs.retain(|r| seen.insert(r.value.clone()));
    let grant = policy.limiter.take(user.id.0, refs.len());
    refs.truncate(grant.granted);

    let asked = refs.clone();
    let user_name = user
        .username
        .as_ref()
        .map_or_else(|| user.full_name(), |u| format!("@{u}"));
    let reqs = refs
        .into_iter()
        .map(|reference| ConvertRequest {
            user_id: user.id.0,
            user_name: Some(user_name.clone()),
            chat_id: msg.chat.id.0,
            reference,
        })
        .collect();
    // The language is learned beside the conversions (it may cost a store write), never
    // before them.
    let (results, lang) = tokio::join!(converter.convert_all(reqs), lang_of(&store, user));
    let note = grant
        .tell
        .then(|| texts::rate_limited(lang, grant.retry_after, grant.granted > 0));
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        tracing::warn!(chat_id = msg.chat.id.0, error = %e, "conversion failed");
    }
    let mut pieces = card::render(&results, private, lang, policy.rebate_percent);
    if let Some(note) = note {
        card::append_note(&mut pieces, note);
    }
    card::send(&tg, msg.chat.id.0, Some(msg.id), &pieces).await?;
    if private {
        let links: Vec<Result<ShareLink, ConvertError>> = results
            .iter()
            .map(|r| r.as_ref().map(|c| c.link.clone()).map_err(Clone::clone))
            .collect();
        rewrite::after_reply(&tg, &msg, &store, &asked, &links).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_is_not_in_the_command_menu_but_is_understood() {
        let menu: Vec<String> = Command::bot_commands()
            .into_iter()
            .map(|c| c.command)
            .collect();
        assert!(menu.iter().any(|c| c.contains("orders")));
        assert!(!menu.iter().any(|c| c.contains("stats")), "{menu:?}");
        assert!(matches!(
            Command::parse("/stats", "bot"),
            Ok(Command::Stats)
        ));
    }

    fn policy(allowed: &str) -> Policy {
        let vars = [
            ("TELEGRAM_BOT_TOKEN", "1:abc"),
            ("ALLOWED_CHAT_IDS", allowed),
        ];
        let config = Config::from_lookup(
            |k| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            },
            crate::config::Needs::default(),
        )
        .unwrap();
        Policy::new(&config)
    }

    #[test]
    fn the_allow_list_follows_a_listed_group_to_its_supergroup_only() {
        let p = policy("-4242");
        assert!(!p.chat_listed(-100_999));
        assert!(p.follow_migration(-4242, -100_999));
        assert!(p.chat_listed(-100_999) && p.chat_listed(-4242));
        // A group nobody listed gains nothing by migrating.
        assert!(!p.follow_migration(-5555, -100_555));
        assert!(!p.chat_listed(-100_555));
        // No list: every chat, before and after.
        let open = policy("");
        assert!(!open.follow_migration(-1, -2));
        assert!(open.chat_listed(-2));
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let token = Secret::new("123456:TOKEN-never-printed".to_string());
        let bot = bot(&token, "http://127.0.0.1:1".parse().unwrap()).unwrap();
        let shown = format!("{:?}", Telegram::new(bot));
        assert!(shown.contains("127.0.0.1"), "{shown}");
        assert!(!shown.contains("TOKEN-never-printed"), "{shown}");
    }

    #[test]
    fn long_replies_are_split_at_line_ends_within_the_limit() {
        let block = "<b>商品</b>\n<code>长按复制此条消息口令</code>\n";
        let text = block.repeat(200);
        let parts = split_message(&text, MAX_MESSAGE_UTF16);
        assert!(parts.len() > 1);
        for p in &parts {
            assert!(p.encode_utf16().count() <= MAX_MESSAGE_UTF16);
            assert_eq!(p.matches("<code>").count(), p.matches("</code>").count());
        }
        let joined: String = parts.iter().map(|p| format!("{p}\n")).collect();
        assert_eq!(joined, text, "nothing lost or reordered");
        // Astral characters (emoji) count twice, as Telegram counts them.
        let emoji = "😀".repeat(2000) + "\n" + &"😀".repeat(2000);
        assert_eq!(split_message(&emoji, MAX_MESSAGE_UTF16).len(), 2);
        // A line of 6000 units is cut: no part over the limit, nothing lost.
        let emoji = "😀".repeat(3000) + "\n" + &"😀".repeat(3000);
        let parts = split_message(&emoji, MAX_MESSAGE_UTF16);
        assert!(parts
            .iter()
            .all(|p| p.encode_utf16().count() <= MAX_MESSAGE_UTF16));
        assert_eq!(parts.concat().matches('😀').count(), 6000);
        assert_eq!(split_message("short", MAX_MESSAGE_UTF16), vec!["short"]);
    }

    #[test]
    fn one_line_longer_than_a_message_is_cut_with_its_tags_closed_and_reopened() {
        let long = "价".repeat(5000);
        let parts = split_message(&long, MAX_MESSAGE_UTF16);
        assert!(parts.len() == 2, "{}", parts.len());
        assert_eq!(parts.concat(), long, "nothing lost");
        let line = format!(
            "<pre>{}&amp;{}</pre>\nend",
            "a b ".repeat(1500),
            "字".repeat(2000)
        );
        let parts = split_message(&line, MAX_MESSAGE_UTF16);
        assert!(parts.len() >= 2, "{parts:?}");
        for p in &parts {
            assert!(p.encode_utf16().count() <= MAX_MESSAGE_UTF16, "{}", p.len());
            assert_eq!(
                p.matches("<pre>").count(),
                p.matches("</pre>").count(),
                "{p}"
            );
            // Never inside an entity.
            assert!(
                !p.ends_with('&') && !p.contains("&am<") && !p.starts_with("amp;"),
                "{p}"
            );
        }
        let joined: String = parts.concat().replace("</pre><pre>", "");
        assert_eq!(joined.replace('\n', ""), line.replace('\n', ""));
    }
}
