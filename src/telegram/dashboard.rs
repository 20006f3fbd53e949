//! `/dashboard`: an operator, in their private chat, gets a one-time link to the dashboard
//! ([`crate::dashboard`]). Anyone else, and any group, gets nothing: the command is ignored
//! as if it did not exist (the link must not land in a chat others read).

use super::texts;
use super::{lang_of, private_operator, HandlerError, Policy, Telegram};
use crate::dashboard::auth;
use crate::store::Store;
use teloxide::types::Message;

/// Why `/dashboard` cannot hand out a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Off {
    /// `PUBLIC_URL` is not set (and there is no webhook to take it from).
    NoPublicUrl,
    /// No HTTP server runs (`HTTP_LISTEN`).
    NoServer,
}

pub async fn command(
    tg: &Telegram,
    msg: &Message,
    store: &Store,
    policy: &Policy,
) -> Result<(), HandlerError> {
    let Some(operator) = private_operator(msg, policy) else {
        return Ok(());
    };
    let lang = lang_of(store, operator).await;
    let text = match policy.dashboard() {
        Err(off) => texts::dashboard_off(lang, off).to_string(),
        Ok(public_url) => {
            let now = chrono::Utc::now().timestamp();
            match auth::issue(store, operator.id.0, now).await {
                Ok(token) => {
                    tracing::info!(user_id = operator.id.0, "dashboard link handed out");
                    texts::dashboard_link(lang, &auth::login_link(public_url, &token))
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not make a dashboard link");
                    texts::internal_error(lang).to_string()
                }
            }
        }
    };
    tg.reply(operator.id.0 as i64, &text, None).await?;
    Ok(())
}
