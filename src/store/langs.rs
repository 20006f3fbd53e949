//! The language each person is written to in ([`Lang`]): the one they chose with `/lang`,
//! else their Telegram app's as last seen. Kept because order news is rendered when it is
//! sent, long after the message that showed the app's language.
//!
//! Every message shows the app's language, so what this handle last read or wrote is
//! remembered ([`Memo`]) and a message whose language is already known costs no write. An
//! entry lasts [`MEMO_TTL`]: a `/lang` answered by another instance reaches this one within
//! that time at the latest.

use super::{Store, StoreError};
use crate::lang::Lang;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a remembered language is trusted.
pub const MEMO_TTL: Duration = Duration::from_secs(300);

/// Entries kept at most; when full, the memo starts afresh (a read each, once).
const MEMO_MAX: usize = 100_000;

/// Per user: the app language last seen, the language to write in, and when.
#[derive(Debug, Default)]
pub(super) struct Memo(Mutex<HashMap<u64, (Lang, Lang, Instant)>>);

impl Memo {
    fn get(&self, user_id: u64, app: Lang) -> Option<Lang> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&user_id)
            .filter(|(seen, _, at)| *seen == app && at.elapsed() < MEMO_TTL)
            .map(|(_, lang, _)| *lang)
    }

    fn put(&self, user_id: u64, app: Lang, lang: Lang) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MEMO_MAX && !map.contains_key(&user_id) {
            map.clear();
        }
        map.insert(user_id, (app, lang, Instant::now()));
    }

    fn forget(&self, user_id: u64) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&user_id);
    }
}

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
        self.langs.forget(user_id);
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
        if let Some(lang) = self.langs.get(user_id, app) {
            return Ok(lang);
        }
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
        let lang = match kept {
            Some(l) => Lang::parse(&l).unwrap_or(app),
            // Nothing written: either a choice stands or the app's language is already kept.
            None => self.user_lang(user_id).await?.unwrap_or(app),
        };
        self.langs.put(user_id, app, lang);
        Ok(lang)
    }
}
