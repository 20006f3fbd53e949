//! The language each person is written to in ([`Lang`]): the one they chose with `/lang`,
//! else their Telegram app's as last seen. Kept because order news is rendered when it is
//! sent, long after the message that showed the app's language.

use super::{Store, StoreError};
use crate::lang::Lang;

impl Store {
    /// The language `user_id` is written to in, if known.
    pub async fn user_lang(&self, user_id: u64) -> Result<Option<Lang>, StoreError> {
        let raw: Option<String> = on_backend!(self, read, |pool| {
            sqlx::query_scalar("SELECT lang FROM user_langs WHERE user_id = $1")
                .bind(user_id as i64)
                .fetch_optional(pool)
                .await?
        });
        Ok(raw.as_deref().and_then(Lang::parse))
    }

    /// The language `user_id` chose with `/lang`, if they did.
    pub async fn chosen_lang(&self, user_id: u64) -> Result<Option<Lang>, StoreError> {
        let raw: Option<String> = on_backend!(self, read, |pool| {
            sqlx::query_scalar("SELECT lang FROM user_langs WHERE user_id = $1 AND chosen = 1")
                .bind(user_id as i64)
                .fetch_optional(pool)
                .await?
        });
        Ok(raw.as_deref().and_then(Lang::parse))
    }

    /// `/lang`: the person's choice, kept whatever their app's language becomes.
    pub async fn choose_lang(&self, user_id: u64, lang: Lang, now: i64) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO user_langs (user_id, lang, chosen, updated_at) VALUES ($1, $2, 1, $3)
                 ON CONFLICT (user_id) DO UPDATE SET lang = excluded.lang, chosen = 1,
                     updated_at = excluded.updated_at",
            )
            .bind(user_id as i64)
            .bind(lang.as_str())
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The language the person's app showed in a message: kept unless they chose one.
    /// Returns the language to write to them in now.
    pub async fn note_app_lang(
        &self,
        user_id: u64,
        app: Lang,
        now: i64,
    ) -> Result<Lang, StoreError> {
        let kept: Option<String> = on_backend!(self, write, |pool| {
            sqlx::query_scalar(
                "INSERT INTO user_langs (user_id, lang, chosen, updated_at) VALUES ($1, $2, 0, $3)
                 ON CONFLICT (user_id) DO UPDATE SET lang = excluded.lang,
                     updated_at = excluded.updated_at
                 WHERE user_langs.chosen = 0 AND user_langs.lang <> excluded.lang
                 RETURNING lang",
            )
            .bind(user_id as i64)
            .bind(app.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        match kept {
            Some(l) => Ok(Lang::parse(&l).unwrap_or(app)),
            // Nothing written: either a choice stands or the app's language is already kept.
            None => Ok(self.user_lang(user_id).await?.unwrap_or(app)),
        }
    }
}
