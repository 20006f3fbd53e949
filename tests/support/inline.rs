//! The fake Bot API's inline mode: `inline_query` updates handed out by getUpdates, and
//! answerInlineQuery checked and refused as Telegram refuses it.
//!
//! Telegram's words (400, `Bad Request: …`):
//! - "query is too old and response timeout expired or query ID is invalid": an answer more
//!   than ~10 s after the query, or to a query already answered, or to an id Telegram never
//!   issued (pyTelegramBotAPI#1615, go-telegram-bot-api#579, telegraf#1652);
//! - "RESULT_ID_DUPLICATE": two results with one id (tucnak/telebot#128,
//!   python-telegram-bot#860);
//! - "RESULT_ID_INVALID": an id over 64 bytes (telegraf#869; "1-64 Bytes" in the Bot API's
//!   InlineQueryResultArticle);
//! - "RESULTS_TOO_MUCH": more than 50 results (pyTelegramBotAPI#858);
//! - "message text is empty": a result whose message has no text (telepot#332,
//!   php-telegram-bot/core#241); a message over 4096 after parsing, HTML Telegram cannot
//!   parse and `callback_data` over 64 bytes are refused as sendMessage refuses them
//!   (`super::limits`);
//! - "can't parse inline query result: Can't find field \"title\"": an article without a
//!   title (the shape of puregram/puregram#34's `Can't find field "id"`).

use super::{limits, refusal, FakeTelegram, Sender};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};
use wiremock::ResponseTemplate;

/// How long Telegram takes answers to an inline query (its documented-by-practice ~10 s).
pub const ANSWER_WINDOW: Duration = Duration::from_secs(10);

/// One answerInlineQuery call as the fake saw it.
#[derive(Debug, Clone)]
pub struct InlineAnswer {
    pub body: Value,
    pub at: Instant,
    /// Telegram's refusal, when it refused.
    pub refused: Option<String>,
}

impl InlineAnswer {
    pub fn query_id(&self) -> &str {
        self.body["inline_query_id"].as_str().unwrap_or_default()
    }

    /// The results, parsed (teloxide sends them as JSON; a form field would be a string).
    pub fn results(&self) -> Vec<Value> {
        match &self.body["results"] {
            Value::Array(a) => a.clone(),
            Value::String(s) => serde_json::from_str(s).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The messages the results would post.
    pub fn texts(&self) -> Vec<String> {
        self.results()
            .iter()
            .map(|r| {
                r["input_message_content"]["message_text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    pub fn button_text(&self) -> Option<String> {
        self.body["button"]["text"].as_str().map(str::to_string)
    }
}

#[derive(Default)]
pub struct InlineState {
    /// When each query was first handed to the bot, by query id.
    pub delivered_at: HashMap<String, Instant>,
    pub answered: HashSet<String>,
    pub answers: Vec<InlineAnswer>,
    /// Queries Telegram has given up on (answered "too old" whenever the bot answers).
    pub expired: HashSet<String>,
    pub scripted_failures: VecDeque<ResponseTemplate>,
}

fn bad_request(what: &str) -> (ResponseTemplate, String) {
    let description = format!("Bad Request: {what}");
    (refusal(400, &description), description)
}

/// Telegram's refusal of one result's content: its message as sendMessage's text (length
/// after parsing, HTML, emptiness: [`limits::check_text`]) and its buttons.
fn content_refusal(result: &Value) -> Result<(), String> {
    let content = &result["input_message_content"];
    limits::check_text(
        content["message_text"].as_str(),
        content["parse_mode"].as_str(),
    )?;
    limits::check_markup(&result["reply_markup"])
}

/// The fake's answerInlineQuery.
pub fn answer(st: &mut InlineState, body: Value) -> ResponseTemplate {
    let now = Instant::now();
    let id = body["inline_query_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut record = InlineAnswer {
        body: body.clone(),
        at: now,
        refused: None,
    };
    let results = record.results();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default())
        .collect();
    let too_old = st.expired.contains(&id)
        || st.answered.contains(&id)
        || st
            .delivered_at
            .get(&id)
            .is_none_or(|at| now.duration_since(*at) > ANSWER_WINDOW);
    let refused = if let Some(scripted) = st.scripted_failures.pop_front() {
        Some((scripted, "scripted".to_string()))
    } else if too_old {
        Some(bad_request(
            "query is too old and response timeout expired or query ID is invalid",
        ))
    } else if results.len() > 50 {
        Some(bad_request("RESULTS_TOO_MUCH"))
    } else if ids.iter().any(|i| i.is_empty() || i.len() > 64) {
        Some(bad_request("RESULT_ID_INVALID"))
    } else if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        Some(bad_request("RESULT_ID_DUPLICATE"))
    } else if results
        .iter()
        .any(|r| r["type"] == "article" && !r["title"].is_string())
    {
        Some(bad_request(
            "can't parse inline query result: Can't find field \"title\"",
        ))
    } else {
        results
            .iter()
            .find_map(|r| content_refusal(r).err())
            .map(|description| (refusal(400, &description), description))
    };
    match refused {
        Some((reply, description)) => {
            record.refused = Some(description);
            st.answers.push(record);
            reply
        }
        None => {
            st.answered.insert(id);
            st.answers.push(record);
            ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": true}))
        }
    }
}

/// An inline query from `from` (their own user, no chat): `id` is the query's id.
pub fn inline_query(id: &str, from: &Sender, query: &str) -> Value {
    json!({
        "id": id,
        "from": {"id": from.user_id, "is_bot": false, "first_name": "U", "username": format!("u{}", from.user_id)},
        "query": query,
        "offset": "",
        "chat_type": "sender"
    })
}

impl FakeTelegram {
    /// Queues inline queries typed by `from`, one per text, in one getUpdates batch (as
    /// keystrokes arrive); returns their query ids.
    pub fn push_inline_burst(&self, from: &Sender, texts: &[&str]) -> Vec<String> {
        let mut st = self.state.lock().unwrap();
        let mut ids = Vec::new();
        for text in texts {
            let update_id = st.next_update_id;
            st.next_update_id += 1;
            let id = format!("iq{update_id}");
            st.updates.push(
                json!({"update_id": update_id, "inline_query": inline_query(&id, from, text)}),
            );
            ids.push(id);
        }
        ids
    }

    /// Queues one inline query from a person whose app is in `language_code`.
    pub fn push_inline_lang(&self, from: &Sender, language_code: &str, text: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let update_id = st.next_update_id;
        st.next_update_id += 1;
        let id = format!("iq{update_id}");
        let mut q = inline_query(&id, from, text);
        q["from"]["language_code"] = json!(language_code);
        st.updates
            .push(json!({"update_id": update_id, "inline_query": q}));
        id
    }

    /// Queues one inline query; returns its id.
    pub fn push_inline(&self, from: &Sender, text: &str) -> String {
        self.push_inline_burst(from, &[text]).remove(0)
    }

    /// Every answerInlineQuery call so far, refused ones included.
    pub fn inline_answers(&self) -> Vec<InlineAnswer> {
        self.state.lock().unwrap().inline.answers.clone()
    }

    /// The answers to query `id`.
    pub fn answers_to(&self, id: &str) -> Vec<InlineAnswer> {
        self.inline_answers()
            .into_iter()
            .filter(|a| a.query_id() == id)
            .collect()
    }

    /// Waits for the first answer to query `id` (panics after 20 s).
    pub async fn wait_answer(&self, id: &str) -> InlineAnswer {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(a) = self.answers_to(id).into_iter().next() {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "query {id} never answered; answers: {:#?}",
                self.inline_answers()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// When query `id` was first handed to the bot.
    pub fn inline_delivered_at(&self, id: &str) -> Option<Instant> {
        self.state
            .lock()
            .unwrap()
            .inline
            .delivered_at
            .get(id)
            .copied()
    }

    /// Query `id` was handed to the bot another way (posted to its webhook) just now.
    pub fn note_inline_delivered(&self, id: &str) {
        self.state
            .lock()
            .unwrap()
            .inline
            .delivered_at
            .insert(id.to_string(), Instant::now());
    }

    /// Telegram gives up on query `id`: any answer to it is "too old".
    pub fn expire_inline(&self, id: &str) {
        self.state
            .lock()
            .unwrap()
            .inline
            .expired
            .insert(id.to_string());
    }
}
