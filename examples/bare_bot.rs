//! The yardstick for the bot's memory and start-up figures (BENCHMARKS.md): the smallest
//! teloxide long-polling bot, built with the same profile and the same teloxide. It echoes.
//!
//! `TELEGRAM_BOT_TOKEN=… TELEGRAM_API_URL=… cargo run --release --example bare_bot`

use teloxide::prelude::*;

#[tokio::main]
async fn main() {
    let token = std::env::var("TELEGRAM_BOT_TOKEN").expect("TELEGRAM_BOT_TOKEN");
    let url =
        std::env::var("TELEGRAM_API_URL").unwrap_or_else(|_| "https://api.telegram.org".into());
    let bot = Bot::new(token).set_api_url(url.parse().expect("TELEGRAM_API_URL"));
    teloxide::repl(bot, |bot: Bot, msg: Message| async move {
        if let Some(text) = msg.text() {
            bot.send_message(msg.chat.id, text).await?;
        }
        Ok(())
    })
    .await;
}
