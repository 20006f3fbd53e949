//! Telegram: long polling, the message handlers, and what the bot says.
//!
//! teloxide's dispatcher runs updates of different chats concurrently and those of one chat
//! in order, so one slow conversion never holds up another chat. Sending goes through
//! teloxide's `Throttle`, which keeps to Telegram's limits and retries after a 429's
//! `retry_after`.

pub mod texts;

use crate::convert::{ConvertRequest, Converter};
use crate::detect::{detect_with_links, HiddenLink, Reference};
use crate::secret::Secret;
use crate::store::Store;
use futures::future::join_all;
use std::sync::Arc;
use teloxide::adaptors::throttle::Limits;
use teloxide::adaptors::Throttle;
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;
use teloxide::types::{LinkPreviewOptions, MessageEntityKind, ParseMode, ReplyParameters};
use teloxide::utils::command::BotCommands;
use url::Url;

pub type TgBot = Throttle<Bot>;
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

#[derive(BotCommands, Clone, Debug, PartialEq, Eq)]
#[command(rename_rule = "lowercase", description = "可用命令：")]
pub enum Command {
    /// The text after it is a deep-link payload (`t.me/bot?start=…`), ignored.
    #[command(description = "开始使用")]
    Start(String),
    #[command(description = "使用说明")]
    Help,
    #[command(description = "我的订单")]
    Orders,
}

/// Orders listed by `/orders`.
const RECENT_ORDERS: i64 = 10;

/// A bot talking to `api_url` (Telegram, a self-hosted Bot API server, or a test fake).
pub fn bot(token: &Secret, api_url: Url) -> Result<Bot, reqwest::Error> {
    let client = teloxide::net::default_reqwest_settings().build()?;
    Ok(Bot::with_client(token.expose(), client).set_api_url(api_url))
}

/// Wraps a bot in the limiter. Needs a running tokio runtime (it spawns its worker).
pub fn throttled(bot: Bot) -> TgBot {
    bot.throttle(Limits::default())
}

pub fn schema() -> UpdateHandler<HandlerError> {
    Update::filter_message()
        .branch(
            dptree::entry()
                .filter_command::<Command>()
                .endpoint(on_command),
        )
        .branch(dptree::endpoint(on_message))
}

async fn on_command(
    bot: TgBot,
    msg: Message,
    cmd: Command,
    store: Store,
) -> Result<(), HandlerError> {
    let text = match cmd {
        Command::Start(_) => texts::START.to_string(),
        Command::Help => texts::HELP.to_string(),
        // Orders and commissions are nobody else's business: private chat only.
        Command::Orders if !msg.chat.is_private() => texts::ORDERS_IN_PRIVATE.to_string(),
        Command::Orders => match msg.from.as_ref() {
            Some(user) => match store.user_orders(user.id.0, RECENT_ORDERS).await {
                Ok((recent, totals)) => texts::orders(&recent, &totals),
                Err(e) => {
                    tracing::error!(error = %e, "could not read a user's orders");
                    texts::INTERNAL_ERROR.to_string()
                }
            },
            None => return Ok(()),
        },
    };
    bot.send_message(msg.chat.id, text)
        .parse_mode(ParseMode::Html)
        .link_preview_options(no_preview())
        .await?;
    Ok(())
}

/// Replies carry links only as text to copy: a preview card would be noise.
pub fn no_preview() -> LinkPreviewOptions {
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
    bot: TgBot,
    msg: Message,
    converter: Arc<dyn Converter>,
) -> Result<(), HandlerError> {
    let private = msg.chat.is_private();
    // Other bots (and anonymous admins, who post as a bot) get no conversions: no loops, and
    // no user to attribute orders to.
    let Some(user) = msg.from.as_ref().filter(|u| !u.is_bot) else {
        return Ok(());
    };
    let mut refs = references(&msg);
    if refs.is_empty() {
        if private && (msg.text().is_some() || msg.caption().is_some()) {
            bot.send_message(msg.chat.id, texts::NO_REFERENCE).await?;
        }
        return Ok(());
    }
    let mut seen = std::collections::HashSet::new();
    refs.retain(|r| seen.insert(r.value.clone()));

    let calls = refs.into_iter().map(|reference| {
        converter.convert(ConvertRequest {
            user_id: user.id.0,
            user_name: Some(
                user.username
                    .as_ref()
                    .map_or_else(|| user.full_name(), |u| format!("@{u}")),
            ),
            chat_id: msg.chat.id.0,
            reference,
        })
    });
    let results: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.map(|c| c.link))
        .collect();
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        tracing::warn!(chat_id = msg.chat.id.0, error = %e, "conversion failed");
    }
    if let Some(text) = texts::reply(&results, private) {
        bot.send_message(msg.chat.id, text)
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview())
            .reply_parameters(ReplyParameters::new(msg.id).allow_sending_without_reply())
            .await?;
    }
    Ok(())
}
