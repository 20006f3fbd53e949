//! The picture after `/stats`' text: the last [`DAYS`] days' orders and estimated
//! commission ([`crate::chart`]), sent as a photo to the operator. The text has gone first
//! and is what matters: a chart that cannot be read, drawn or sent is logged and dropped,
//! and the command still succeeds.

use super::Telegram;
use crate::lang::Lang;
use crate::store::Store;

/// How many China-time days the chart shows, today included.
pub const DAYS: u32 = 30;

/// Reads, draws and sends the chart to `chat_id`; `now` in Unix seconds picks today.
pub async fn send(tg: &Telegram, store: &Store, chat_id: i64, lang: Lang, now: i64) {
    let today = crate::poller::china_date(now);
    let days = match store.chart_days(today, DAYS).await {
        Ok(days) => days,
        Err(e) => {
            tracing::warn!(error = %e, "the /stats chart: could not read the days");
            return;
        }
    };
    // Drawing takes milliseconds of CPU: off the async workers.
    let drawn = tokio::task::spawn_blocking(move || crate::chart::render_png(&days, lang)).await;
    let png = match drawn {
        Ok(Ok(png)) => png,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the /stats chart could not be drawn");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "drawing the /stats chart panicked");
            return;
        }
    };
    if let Err(e) = tg.send_png(chat_id, png, "stats.png").await {
        tracing::warn!(chat_id, error = %e, "the /stats chart was not sent");
    }
}
