//! Loopback doubles shared by the integration tests: a fake veapi (wiremock serving fixture
//! bodies) and a fake Telegram Bot API server that the real teloxide dispatcher long-polls.
#![allow(dead_code)]

pub mod cards;
pub mod dashboard;
pub mod db;
pub mod inline;
pub mod limits;
pub mod providers;
pub mod veapi;
pub mod webdriver;

#[allow(unused_imports)]
pub use db::{DbUrl, TestDb};

use douyin_link_bot::config::{Config, Needs};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

pub const BOT_TOKEN: &str = "123456:TEST-bot-token-secret";
pub const VEKEY: &str = "VEKEY-test-secret-42";
pub const BOT_ID: u64 = 4242;

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The form parameters of a request veapi received.
pub fn form(req: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect()
}

/// Matches a veapi call whose form carries `key=value`.
pub struct FormParam(pub &'static str, pub String);

impl Match for FormParam {
    fn matches(&self, req: &Request) -> bool {
        form(req).get(self.0) == Some(&self.1)
    }
}

/// Matches a veapi call whose form lacks `key` (the first orders page has no cursor).
pub struct NoParam(pub &'static str);

impl Match for NoParam {
    fn matches(&self, req: &Request) -> bool {
        !form(req).contains_key(self.0)
    }
}

/// An order as alliance_kol_orders returns it.
pub fn order_json(
    order_id: &str,
    external_info: &str,
    flow_point: &str,
    update_time: &str,
) -> Value {
    json!({
        "order_id": order_id, "product_id": "3583117383482622604", "product_name": "卡宾熊猫耳酥 130g*10袋",
        "total_pay_amount": 2100, "commission_rate": 2000, "flow_point": flow_point, "app": "抖音",
        "update_time": update_time, "pay_success_time": "2026-11-22 10:00:00",
        "settle_time": if flow_point == "SETTLE" { update_time } else { "" },
        "pay_goods_amount": 2100, "settled_goods_amount": if flow_point == "SETTLE" { 2100 } else { 0 },
        "estimated_commission": 420, "real_commission": if flow_point == "SETTLE" { 415 } else { 0 },
        "item_num": 1, "shop_id": 12345, "shop_name": "卡宾熊旗舰店",
        "pid_info": {"pid": "dy_1_2_3", "external_info": external_info, "media_type_name": "站外"},
        "media_type": "others"
    })
}

pub fn orders_body(orders: Vec<Value>, cursor: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "error": "0", "msg": "查询成功!", "data": {"orders": orders, "cursor": cursor}, "request_id": "o1"
    }))
}

/// Answers the orders page reached with `cursor` (None: the first page).
pub async fn orders_page(server: &MockServer, cursor: Option<&str>, body: ResponseTemplate) {
    let m = Mock::given(method("POST")).and(path("/douyin/alliance_kol_orders"));
    let m = match cursor {
        Some(c) => m.and(FormParam("cursor", c.to_string())),
        None => m.and(NoParam("cursor")),
    };
    m.respond_with(body).mount(server).await;
}

/// The orders calls veapi received, as form maps.
pub async fn orders_calls(server: &MockServer) -> Vec<HashMap<String, String>> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/douyin/alliance_kol_orders")
        .map(form)
        .collect()
}

pub async fn share_reply(server: &MockServer, product_url: Option<&str>, body: ResponseTemplate) {
    let mut m = Mock::given(method("POST")).and(path("/douke/kol_ProductShare"));
    if let Some(p) = product_url {
        m = m.and(FormParam("productUrl", p.to_string()));
    }
    m.respond_with(body).mount(server).await;
}

pub fn json_body(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

/// The share calls veapi received, as form maps.
pub async fn share_calls(server: &MockServer) -> Vec<HashMap<String, String>> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/douke/kol_ProductShare")
        .map(form)
        .collect()
}

pub fn config(tg: &FakeTelegram, veapi: &MockServer, db: impl DbUrl) -> Config {
    config_with(tg, veapi, db, &[])
}

pub fn config_with(
    tg: &FakeTelegram,
    veapi: &MockServer,
    db: impl DbUrl,
    extra: &[(&str, &str)],
) -> Config {
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("TELEGRAM_BOT_TOKEN", BOT_TOKEN.to_string()),
        ("TELEGRAM_API_URL", tg.server.uri()),
        ("VEAPI_KEY", VEKEY.to_string()),
        ("VEAPI_BASE_URL", veapi.uri()),
        ("DATABASE_URL", db.db_url()),
    ]);
    for (k, v) in extra {
        vars.insert(k, v.to_string());
    }
    Config::from_lookup(
        |k| vars.get(k).cloned(),
        Needs {
            telegram: true,
            veapi: true,
        },
    )
    .expect("test config")
}

#[derive(Default)]
struct TgState {
    updates: Vec<Value>,
    next_update_id: i64,
    next_message_id: i64,
    sent: Vec<Value>,
    /// When each of `sent` arrived (benchmarks measure with it).
    sent_at: Vec<Instant>,
    /// When each message was first handed to the bot, by message id.
    delivered_at: HashMap<i64, Instant>,
    first_get_updates: Option<Instant>,
    send_attempts: usize,
    /// The chat of every sendMessage request, accepted or refused, in order of arrival.
    attempted_chats: Vec<i64>,
    scripted_send_failures: VecDeque<ResponseTemplate>,
    failing_chats: HashMap<i64, ResponseTemplate>,
    /// How long sendMessage takes to answer. A message counts as sent when it arrives: a
    /// bot killed while waiting for the answer has still delivered it.
    send_delay: Duration,
    /// Fields of getMe's answer replaced by [`FakeTelegram::set_me`].
    me: serde_json::Map<String, Value>,
    /// The webhook registered by setWebhook, cleared by deleteWebhook ("" when none).
    webhook_url: String,
    /// Each message's text and buttons as last sent or edited, by (chat, message id).
    shown: HashMap<(i64, i64), (Value, Value)>,
    /// editMessageText calls accepted, in order.
    edits: Vec<Value>,
    /// editMessageText calls received, refused ones included.
    edit_attempts: usize,
    /// The message id each of `sent` was given.
    sent_ids: Vec<i64>,
    /// answerCallbackQuery calls, in order.
    callback_answers: Vec<Value>,
    next_callback_id: i64,
    /// sendPhoto refusals by a part of the photo's URL ([`FakeTelegram::refuse_photo`]).
    photo_refusals: Vec<(String, ResponseTemplate)>,
    /// The body of every sendPhoto request, accepted or refused, in order of arrival.
    photo_attempts: Vec<Value>,
    /// Each photo uploaded and accepted: the request's fields and the file's bytes.
    photo_uploads: Vec<(Value, Vec<u8>)>,
    /// Inline queries handed out and their answers.
    inline: inline::InlineState,
    /// Calls refused for their content ([`limits`]): method, parameters, Telegram's words.
    content_refusals: Vec<(String, Value, String)>,
}

/// A fake Bot API server: queue updates with [`FakeTelegram::push`], read what the bot sent
/// with [`FakeTelegram::wait_sent`].
pub struct FakeTelegram {
    pub server: MockServer,
    state: Arc<Mutex<TgState>>,
}

struct TgResponder(Arc<Mutex<TgState>>);

/// Refuses a call whose content Telegram would refuse ([`limits`]), recording it and saying
/// so on stderr (a test that then times out shows what the bot sent).
fn refuse_content(
    st: &mut TgState,
    method: &str,
    body: &Value,
    description: String,
) -> ResponseTemplate {
    eprintln!("fake Telegram refused {method}: {description}: {body}");
    let reply = refusal(400, &description);
    st.content_refusals
        .push((method.to_string(), body.clone(), description));
    reply
}

fn ok(result: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": result}))
}

impl Respond for TgResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut segs = req.url.path().trim_start_matches('/').split('/');
        let (token, name) = (
            segs.next().unwrap_or_default(),
            segs.next().unwrap_or_default(),
        );
        if token != format!("bot{BOT_TOKEN}") {
            return ResponseTemplate::new(401).set_body_json(
                json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
            );
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let mut st = self.0.lock().unwrap();
        match name.to_ascii_lowercase().as_str() {
            // getMe: "Returns basic information about the bot in form of a User object", with
            // the fields only getMe returns (core.telegram.org/bots/api#user).
            "getme" => {
                let mut me = json!({
                    "id": BOT_ID, "is_bot": true, "first_name": "Link Bot", "username": "dy_link_bot",
                    "can_join_groups": true, "can_read_all_group_messages": true,
                    "supports_inline_queries": false, "can_connect_to_business": false,
                    "has_main_web_app": false
                });
                for (k, v) in &st.me {
                    me[k] = v.clone();
                }
                ok(me)
            }
            // setWebhook: "Returns True on success." (core.telegram.org/bots/api#setwebhook)
            "setwebhook" => {
                st.webhook_url = body["url"].as_str().unwrap_or_default().to_string();
                ResponseTemplate::new(200).set_body_json(
                    json!({"ok": true, "result": true, "description": "Webhook was set"}),
                )
            }
            // deleteWebhook: "Returns True on success."; Telegram says "Webhook was deleted"
            // (or "Webhook is already deleted").
            "deletewebhook" => {
                st.webhook_url.clear();
                ResponseTemplate::new(200).set_body_json(
                    json!({"ok": true, "result": true, "description": "Webhook was deleted"}),
                )
            }
            // getWebhookInfo: "If the bot is using getUpdates, will return an object with the
            // url field empty." (core.telegram.org/bots/api#getwebhookinfo)
            "getwebhookinfo" => ok(json!({
                "url": st.webhook_url, "has_custom_certificate": false, "pending_update_count": 0
            })),
            "getupdates" => {
                let offset = body["offset"].as_i64().unwrap_or(0);
                let now = Instant::now();
                st.first_get_updates.get_or_insert(now);
                st.updates
                    .retain(|u| u["update_id"].as_i64().unwrap() >= offset);
                let ids: Vec<i64> = st
                    .updates
                    .iter()
                    .filter_map(|u| {
                        u.as_object()?
                            .values()
                            .find_map(|m| m["message_id"].as_i64())
                    })
                    .collect();
                for id in ids {
                    st.delivered_at.entry(id).or_insert(now);
                }
                let queries: Vec<String> = st
                    .updates
                    .iter()
                    .filter_map(|u| Some(u["inline_query"]["id"].as_str()?.to_string()))
                    .collect();
                for id in queries {
                    st.inline.delivered_at.entry(id).or_insert(now);
                }
                if st.updates.is_empty() {
                    // A short long-poll keeps the real client's loop calm without slowing tests.
                    ok(json!([])).set_delay(Duration::from_millis(40))
                } else {
                    ok(Value::Array(st.updates.clone()))
                }
            }
            // sendPhoto by URL: Telegram fetches the photo itself and answers what it found
            // (`Bad Request: wrong file identifier/HTTP URL specified`, …: scripted with
            // `refuse_photo`); accepted, it is a Message with `photo` sizes and the caption.
            // teloxide sends it as multipart/form-data: the fields are read as text and the
            // chat id made a number again, so a photo and a text compare alike in tests.
            //
            // An uploaded photo (`photo` is `attach://<part>`, the file in that part, as
            // teloxide sends `InputFile::memory`) is read as Telegram reads it: "The photo
            // must be at most 10 MB in size. The photo's width and height must not exceed
            // 10000 in total. Width and height ratio must be at most 20."
            // (core.telegram.org/bots/api#sendphoto). Its bytes are kept
            // ([`FakeTelegram::uploaded_photos`]) and `upload` in the recorded body says
            // what arrived.
            "sendphoto" => {
                let mut body = params(req);
                if let Some(id) = body["chat_id"].as_str().and_then(|c| c.parse::<i64>().ok()) {
                    body["chat_id"] = json!(id);
                }
                body["method"] = json!("sendPhoto");
                let url = body["photo"].as_str().unwrap_or_default().to_string();
                let upload = url.strip_prefix("attach://").map(|id| {
                    multipart(req)
                        .unwrap_or_default()
                        .into_iter()
                        .find(|p| p.name == id)
                });
                if let Some(Some(file)) = &upload {
                    // The file's bytes are not text: kept aside, not among the fields.
                    if let Some(fields) = body.as_object_mut() {
                        fields.remove(&file.name);
                    }
                    body["upload"] = json!({
                        "file_name": file.file_name, "bytes": file.data.len(),
                        "png_size": png_size(&file.data),
                    });
                }
                st.photo_attempts.push(body.clone());
                if let Err(description) = limits::check_message(&body, false) {
                    return refuse_content(&mut st, "sendPhoto", &body, description);
                }
                if let Some((_, refusal)) = st
                    .photo_refusals
                    .iter()
                    .find(|(part, _)| url.contains(part.as_str()))
                {
                    return refusal.clone();
                }
                let (width, height) = match &upload {
                    None => (800, 800),
                    Some(None) => {
                        return refusal(400, "Bad Request: there is no photo in the request")
                    }
                    Some(Some(file)) => {
                        let Some((w, h)) = png_size(&file.data) else {
                            return refusal(400, "Bad Request: IMAGE_PROCESS_FAILED");
                        };
                        if file.data.len() > 10 << 20 {
                            return refusal(413, "Request Entity Too Large");
                        }
                        if w == 0 || h == 0 || w + h > 10_000 || w.max(h) > 20 * w.min(h) {
                            return refusal(400, "Bad Request: PHOTO_INVALID_DIMENSIONS");
                        }
                        (w, h)
                    }
                };
                let chat_id = body["chat_id"].as_i64().unwrap_or_default();
                st.next_message_id += 1;
                let reply = json!({
                    "message_id": 10_000 + st.next_message_id,
                    "date": 1_700_000_000,
                    "chat": {"id": chat_id, "type": "private", "first_name": "U"},
                    "from": {"id": BOT_ID, "is_bot": true, "first_name": "Link Bot"},
                    "photo": [
                        {"file_id": "AgACAgUAAxkBAAIBs2", "file_unique_id": "AQADs2", "width": 90, "height": 90 * height / width, "file_size": 1290},
                        {"file_id": "AgACAgUAAxkBAAIBs3", "file_unique_id": "AQADs3", "width": width, "height": height, "file_size": 51234}
                    ],
                    "caption": body["caption"].clone(),
                });
                if let Some(Some(file)) = upload {
                    st.photo_uploads.push((body.clone(), file.data));
                }
                st.sent.push(body);
                st.sent_at.push(Instant::now());
                ok(reply).set_delay(st.send_delay)
            }
            "sendmessage" => {
                st.send_attempts += 1;
                let chat_id = body["chat_id"].as_i64().unwrap_or_default();
                st.attempted_chats.push(chat_id);
                if let Some(failure) = st.scripted_send_failures.pop_front() {
                    return failure;
                }
                if let Some(failure) = st.failing_chats.get(&chat_id) {
                    return failure.clone();
                }
                if let Err(description) = limits::check_message(&body, true) {
                    return refuse_content(&mut st, "sendMessage", &body, description);
                }
                st.next_message_id += 1;
                let chat = if chat_id > 0 {
                    json!({"id": chat_id, "type": "private", "first_name": "U"})
                } else {
                    json!({"id": chat_id, "type": "supergroup", "title": "G"})
                };
                let message_id = 10_000 + st.next_message_id;
                let reply = json!({
                    "message_id": message_id,
                    "date": 1_700_000_000,
                    "chat": chat,
                    "from": {"id": BOT_ID, "is_bot": true, "first_name": "Link Bot"},
                    "text": body["text"].clone(),
                });
                st.shown.insert(
                    (chat_id, message_id),
                    (body["text"].clone(), body["reply_markup"].clone()),
                );
                st.sent.push(body);
                st.sent_ids.push(message_id);
                st.sent_at.push(Instant::now());
                ok(reply).set_delay(st.send_delay)
            }
            // editMessageText: "On success, if the edited message is not an inline message,
            // the edited Message is returned" (core.telegram.org/bots/api#editmessagetext). An
            // edit that changes nothing is refused with this wording (quoted in
            // daniel-hauser/moneyman#133, 2023, and rubenlagus/TelegramBots#674).
            "editmessagetext" => {
                st.edit_attempts += 1;
                let chat_id = body["chat_id"].as_i64().unwrap_or_default();
                let message_id = body["message_id"].as_i64().unwrap_or_default();
                let new = (body["text"].clone(), body["reply_markup"].clone());
                if let Err(description) = limits::check_message(&body, true) {
                    return refuse_content(&mut st, "editMessageText", &body, description);
                }
                let Some(old) = st.shown.get(&(chat_id, message_id)) else {
                    return refusal(400, "Bad Request: message to edit not found");
                };
                if *old == new {
                    return refusal(
                        400,
                        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                    );
                }
                st.shown.insert((chat_id, message_id), new);
                st.edits.push(body.clone());
                ok(json!({
                    "message_id": message_id,
                    "date": 1_700_000_000,
                    "edit_date": 1_700_000_100,
                    "chat": {"id": chat_id, "type": "private", "first_name": "U"},
                    "from": {"id": BOT_ID, "is_bot": true, "first_name": "Link Bot"},
                    "text": body["text"].clone(),
                }))
            }
            // answerCallbackQuery: "On success, True is returned."
            "answercallbackquery" => {
                st.callback_answers.push(body);
                ok(json!(true))
            }
            "answerinlinequery" => inline::answer(&mut st.inline, params(req)),
            _ => ok(json!(true)),
        }
    }
}

pub struct Sender {
    pub user_id: u64,
    pub chat_id: i64,
}

pub const ALICE: Sender = Sender {
    user_id: 1001,
    chat_id: 1001,
};
pub const BOB: Sender = Sender {
    user_id: 2002,
    chat_id: 2002,
};
/// Alice writing in a group.
pub const ALICE_IN_GROUP: Sender = Sender {
    user_id: 1001,
    chat_id: -100_777,
};

impl FakeTelegram {
    pub async fn start() -> FakeTelegram {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(TgState {
            next_update_id: 1,
            ..Default::default()
        }));
        Mock::given(wiremock::matchers::any())
            .respond_with(TgResponder(state.clone()))
            .mount(&server)
            .await;
        FakeTelegram { server, state }
    }

    /// Replaces fields of getMe's answer, e.g. `{"can_read_all_group_messages": false}`.
    pub fn set_me(&self, fields: Value) {
        let mut st = self.state.lock().unwrap();
        if let Value::Object(m) = fields {
            st.me.extend(m);
        }
    }

    /// A webhook registered before the test, as another deployment would leave it.
    pub fn set_webhook_url(&self, url: &str) {
        self.state.lock().unwrap().webhook_url = url.to_string();
    }

    /// Queues a text message; returns its message id.
    pub fn push_text(&self, from: &Sender, text: &str) -> i64 {
        self.push_message(from, json!({"text": text}))
    }

    /// Queues a message with `extra` fields (text, caption, entities, …).
    pub fn push_message(&self, from: &Sender, extra: Value) -> i64 {
        let message = self.message(from, extra);
        self.push_update("message", message)
    }

    /// Queues an update of any kind (`message`, `edited_message`, `channel_post`, …) carrying
    /// `message`; returns the message's id.
    pub fn push_update(&self, kind: &str, mut message: Value) -> i64 {
        let mut st = self.state.lock().unwrap();
        let update_id = st.next_update_id;
        st.next_update_id += 1;
        let message_id = 500 + update_id;
        message["message_id"] = json!(message_id);
        st.updates
            .push(json!({"update_id": update_id, kind: message}));
        message_id
    }

    /// A message from `from` with `extra` fields; a field set to null is removed.
    pub fn message(&self, from: &Sender, extra: Value) -> Value {
        let chat = if from.chat_id > 0 {
            json!({"id": from.chat_id, "type": "private", "first_name": "U"})
        } else {
            json!({"id": from.chat_id, "type": "supergroup", "title": "Deals"})
        };
        let mut message = json!({
            "message_id": 0,
            "date": 1_700_000_000,
            "chat": chat,
            "from": {"id": from.user_id, "is_bot": false, "first_name": "U"},
        });
        let fields = message.as_object_mut().unwrap();
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                fields.remove(k);
            } else {
                fields.insert(k.clone(), v.clone());
            }
        }
        message
    }

    /// Queues a press on a button with `data` under the bot's message `message_id` in
    /// `from`'s chat (a `callback_query` update, as Telegram sends it); returns the query id.
    pub fn push_callback(&self, from: &Sender, message_id: i64, data: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let update_id = st.next_update_id;
        st.next_update_id += 1;
        st.next_callback_id += 1;
        let id = format!("4382{:012}", st.next_callback_id);
        let chat = json!({"id": from.chat_id, "type": "private", "first_name": "U"});
        let (text, _) = st
            .shown
            .get(&(from.chat_id, message_id))
            .cloned()
            .unwrap_or_default();
        st.updates.push(json!({
            "update_id": update_id,
            "callback_query": {
                "id": id,
                "from": {"id": from.user_id, "is_bot": false, "first_name": "U"},
                "message": {
                    "message_id": message_id, "date": 1_700_000_000, "chat": chat,
                    "from": {"id": BOT_ID, "is_bot": true, "first_name": "Link Bot"},
                    "text": text,
                },
                "chat_instance": "-4467281902361721",
                "data": data,
            }
        }));
        id
    }

    /// A message as the user sees it now: its text and buttons after any edits.
    pub fn shown(&self, chat_id: i64, message_id: i64) -> Option<(Value, Value)> {
        self.state
            .lock()
            .unwrap()
            .shown
            .get(&(chat_id, message_id))
            .cloned()
    }

    /// The id Telegram gave the first message sent that `pred` accepts.
    pub fn message_id_of(&self, pred: impl Fn(&Value) -> bool) -> Option<i64> {
        let st = self.state.lock().unwrap();
        st.sent.iter().position(pred).map(|i| st.sent_ids[i])
    }

    /// Calls refused for their content (too long, unparsable HTML, oversized button data):
    /// (method, parameters, Telegram's description), in order.
    pub fn content_refusals(&self) -> Vec<(String, Value, String)> {
        self.state.lock().unwrap().content_refusals.clone()
    }

    /// Accepted editMessageText calls so far.
    pub fn edits(&self) -> Vec<Value> {
        self.state.lock().unwrap().edits.clone()
    }

    /// Waits until `n` editMessageText calls have arrived, refused ones included (panics
    /// after 20 s).
    pub async fn wait_edit_attempts(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let attempts = self.state.lock().unwrap().edit_attempts;
            if attempts >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} editMessageText calls, got {attempts}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// editMessageText calls received so far, refused ones included.
    pub fn edit_attempts(&self) -> usize {
        self.state.lock().unwrap().edit_attempts
    }

    /// Waits until `n` answerCallbackQuery calls have arrived (panics after 20 s).
    pub async fn wait_callback_answers(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answers = self.state.lock().unwrap().callback_answers.clone();
            if answers.len() >= n {
                return answers;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} callback answers, got {answers:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Makes every sendMessage answer only after `delay`.
    pub fn set_send_delay(&self, delay: Duration) {
        self.state.lock().unwrap().send_delay = delay;
    }

    /// Makes the next sendMessage calls fail with these replies, in order.
    pub fn fail_next_sends(&self, replies: Vec<ResponseTemplate>) {
        self.state
            .lock()
            .unwrap()
            .scripted_send_failures
            .extend(replies);
    }

    /// sendPhoto with a URL containing `url_part` is refused with `reply`.
    pub fn refuse_photo(&self, url_part: &str, reply: ResponseTemplate) {
        self.state
            .lock()
            .unwrap()
            .photo_refusals
            .push((url_part.to_string(), reply));
    }

    /// Every uploaded photo Telegram accepted so far: the request's fields and the file.
    pub fn uploaded_photos(&self) -> Vec<(Value, Vec<u8>)> {
        self.state.lock().unwrap().photo_uploads.clone()
    }

    /// Every sendPhoto request so far (fields as sent), refused ones included.
    pub fn photo_attempts(&self) -> Vec<Value> {
        self.state.lock().unwrap().photo_attempts.clone()
    }

    /// Every sendMessage to `chat_id` fails with `reply`.
    pub fn fail_chat(&self, chat_id: i64, reply: ResponseTemplate) {
        self.state
            .lock()
            .unwrap()
            .failing_chats
            .insert(chat_id, reply);
    }

    /// Proves the bot has handled every update queued so far in `from`'s chat: queues a
    /// `/help` there and waits for its answer (teloxide handles one chat's updates in order,
    /// and `/help` is answered in any served chat). The "nothing else happened" checks wait
    /// on this instead of a fixed sleep.
    pub async fn settle(&self, from: &Sender) {
        let chat = from.chat_id;
        let answer = move |m: &Value| m["chat_id"] == chat && is_help(m);
        let before = self.sent().iter().filter(|m| answer(m)).count();
        self.push_text(from, "/help");
        self.wait_for(before + 1, answer).await;
    }

    /// Messages sent to one chat, the answers to [`FakeTelegram::settle`] left out.
    pub fn replies_to(&self, chat_id: i64) -> Vec<Value> {
        self.sent_to(chat_id)
            .into_iter()
            .filter(|m| !is_help(m))
            .collect()
    }

    /// Everything sent, the answers to [`FakeTelegram::settle`] left out.
    pub fn replies(&self) -> Vec<Value> {
        self.sent().into_iter().filter(|m| !is_help(m)).collect()
    }

    /// sendMessage to `chat_id` works again (the user opened the chat, unblocked the bot).
    pub fn clear_chat_failure(&self, chat_id: i64) {
        self.state.lock().unwrap().failing_chats.remove(&chat_id);
    }

    /// Messages sent to one chat.
    pub fn sent_to(&self, chat_id: i64) -> Vec<Value> {
        self.sent()
            .into_iter()
            .filter(|m| m["chat_id"] == chat_id)
            .collect()
    }

    pub fn send_attempts(&self) -> usize {
        self.state.lock().unwrap().send_attempts
    }

    /// sendMessage requests for `chat_id`, refused ones included.
    pub fn attempts_to(&self, chat_id: i64) -> usize {
        self.attempted_chats()
            .iter()
            .filter(|c| **c == chat_id)
            .count()
    }

    /// The chat of every sendMessage request so far, refused ones included, in order.
    pub fn attempted_chats(&self) -> Vec<i64> {
        self.state.lock().unwrap().attempted_chats.clone()
    }

    /// Waits until the bot has asked to send at least `n` messages to `chat_id` (panics
    /// after 20 s).
    pub async fn wait_attempts(&self, chat_id: i64, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.attempts_to(chat_id) < n {
            assert!(
                Instant::now() < deadline,
                "expected {n} sends to {chat_id}, got {}",
                self.attempts_to(chat_id)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn sent(&self) -> Vec<Value> {
        self.state.lock().unwrap().sent.clone()
    }

    /// How many sent messages satisfy `pred`, without copying them (the benchmarks poll this
    /// every few milliseconds beside the bot; copying every message each time took most of a
    /// core from it).
    pub fn count_sent(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.state
            .lock()
            .unwrap()
            .sent
            .iter()
            .filter(|m| pred(m))
            .count()
    }

    /// The JSON bodies of every call to Bot API method `name` (case-insensitive) so far.
    pub async fn calls(&self, name: &str) -> Vec<Value> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| {
                r.url
                    .path()
                    .rsplit('/')
                    .next()
                    .is_some_and(|m| m.eq_ignore_ascii_case(name))
            })
            .map(params)
            .collect()
    }

    /// Waits until the bot has called method `name` at least once (panics after 20 s).
    pub async fn wait_call(&self, name: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let calls = self.calls(name).await;
            if !calls.is_empty() {
                return calls;
            }
            assert!(Instant::now() < deadline, "the bot never called {name}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What was sent, each with the time it arrived.
    pub fn sent_timed(&self) -> Vec<(Value, Instant)> {
        let st = self.state.lock().unwrap();
        st.sent
            .iter()
            .cloned()
            .zip(st.sent_at.iter().copied())
            .collect()
    }

    /// When the bot first received message `message_id` through getUpdates.
    pub fn delivered_at(&self, message_id: i64) -> Option<Instant> {
        self.state
            .lock()
            .unwrap()
            .delivered_at
            .get(&message_id)
            .copied()
    }

    /// When the bot first called getUpdates.
    pub fn first_get_updates(&self) -> Option<Instant> {
        self.state.lock().unwrap().first_get_updates
    }

    /// Waits until at least `n` messages were sent (panics after 20 s), returns them all.
    pub async fn wait_sent(&self, n: usize) -> Vec<Value> {
        self.wait_for(n, |_| true).await
    }

    /// Waits until at least `n` sent messages satisfy `pred` (panics after 20 s).
    pub async fn wait_for(&self, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.count_sent(&pred) >= n {
                return self.sent().into_iter().filter(|m| pred(m)).collect();
            }
            if Instant::now() >= deadline {
                let sent: Vec<Value> = self.sent().into_iter().filter(|m| pred(m)).collect();
                panic!("expected {n} sent messages, got {}: {sent:#?}", sent.len());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A Bot API call's parameters: a JSON body as it is, a multipart/form-data body (teloxide
/// sends methods that may upload a file that way) as an object of its fields' text.
pub fn params(req: &Request) -> Value {
    let Some(parts) = multipart(req) else {
        return serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    };
    let fields = parts
        .into_iter()
        .map(|p| {
            (
                p.name,
                Value::String(String::from_utf8_lossy(&p.data).into_owned()),
            )
        })
        .collect();
    Value::Object(fields)
}

/// One part of a multipart/form-data body.
pub struct Part {
    pub name: String,
    /// Set for an uploaded file.
    pub file_name: Option<String>,
    pub data: Vec<u8>,
}

/// The parts of a multipart/form-data request, bytes as sent (None: not multipart).
pub fn multipart(req: &Request) -> Option<Vec<Part>> {
    let content_type = req.headers.get("content-type")?.to_str().ok()?;
    let boundary = format!(
        "--{}",
        content_type.strip_prefix("multipart/form-data; boundary=")?
    );
    let body = &req.body[..];
    let find = |from: usize, needle: &[u8]| {
        body.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| from + p)
    };
    let quoted = |head: &str, key: &str| {
        head.split(&format!("{key}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_string)
    };
    let mut parts = Vec::new();
    let mut at = find(0, boundary.as_bytes())?;
    while let Some(next) = find(at + boundary.len(), boundary.as_bytes()) {
        let part = &body[at + boundary.len()..next];
        at = next;
        let Some(split) = part.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]);
        let data = &part[split + 4..];
        let data = data.strip_suffix(b"\r\n").unwrap_or(data);
        let Some(name) = quoted(&head, " name") else {
            continue;
        };
        parts.push(Part {
            name,
            file_name: quoted(&head, "filename"),
            data: data.to_vec(),
        });
    }
    Some(parts)
}

/// The width and height in a PNG's header, if `data` is a PNG.
pub fn png_size(data: &[u8]) -> Option<(u32, u32)> {
    if data.get(..8)? != b"\x89PNG\r\n\x1a\n" || data.get(12..16)? != b"IHDR" {
        return None;
    }
    let be = |at: usize| Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?));
    Some((be(16)?, be(20)?))
}

/// Whether a sent message is the bot's `/help` answer (the sentinel of [`FakeTelegram::settle`]).
pub fn is_help(m: &Value) -> bool {
    m["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("📖 使用说明"))
}

/// The bot's loops at test speed: polls every 150 ms, short backoffs, no page retries.
pub fn fast_tuning() -> douyin_link_bot::app::Tuning {
    use douyin_link_bot::notify::NotifierSettings;
    use douyin_link_bot::poller::PollerSettings;
    douyin_link_bot::app::Tuning {
        poller: PollerSettings {
            page_retries: 0,
            max_backoff: Duration::from_millis(300),
            ..PollerSettings::new(Duration::from_millis(150))
        },
        notifier: NotifierSettings {
            base_backoff: Duration::from_millis(100),
            idle_poll: Duration::from_millis(200),
            ..NotifierSettings::default()
        },
    }
}

/// A running bot (the real `app::run`) and the means to stop it.
pub struct RunningBot {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), douyin_link_bot::app::AppError>>,
}

/// Telegram's answer when a user blocked the bot.
pub fn blocked() -> ResponseTemplate {
    refusal(403, "Forbidden: bot was blocked by the user")
}

/// Telegram's answer to a message for a user who never opened a private chat with the bot
/// (`{"ok":false,"error_code":403,"description":"Forbidden: bot can't initiate conversation
/// with a user"}`, https://github.com/TelegramBotAPI/errors/issues/2).
pub fn not_started() -> ResponseTemplate {
    refusal(
        403,
        "Forbidden: bot can't initiate conversation with a user",
    )
}

/// A Bot API error as Telegram sends it: the HTTP status repeated as `error_code`, and the
/// description prefixed with the status's name ("Forbidden: …", "Bad Request: …").
pub fn refusal(status: u16, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "ok": false, "error_code": status, "description": description
    }))
}

/// Telegram's flood-control answer: `{"ok":false,"error_code":429,"description":"Too Many
/// Requests: retry after 30","parameters":{"retry_after":30}}`: status 429 with the seconds
/// in `ResponseParameters.retry_after` (https://core.telegram.org/bots/api#responseparameters)
/// and in the description, which public bots parse as `/retry after (\d+)/`
/// (makhin/PhotoBank, frontend/packages/telegram-bot/src/utils/retry.ts).
pub fn too_many_requests(retry_after: u64) -> ResponseTemplate {
    ResponseTemplate::new(429).set_body_json(json!({
        "ok": false, "error_code": 429,
        "description": format!("Too Many Requests: retry after {retry_after}"),
        "parameters": {"retry_after": retry_after}
    }))
}

/// Telegram's answer to a message for a group that became a supergroup.
pub fn migrated_to(new_chat_id: i64) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "ok": false, "error_code": 400,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": new_chat_id}
    }))
}

impl RunningBot {
    pub fn start(config: Config) -> RunningBot {
        let tuning = douyin_link_bot::app::Tuning::from_config(&config);
        Self::start_tuned(config, tuning)
    }

    /// The bot serving HTTP on `listener` (bound by the test, so it knows the port).
    pub fn start_on(config: Config, listener: tokio::net::TcpListener) -> RunningBot {
        let tuning = douyin_link_bot::app::Tuning::from_config(&config);
        Self::start_with(config, tuning, Some(listener))
    }

    pub fn start_tuned(config: Config, tuning: douyin_link_bot::app::Tuning) -> RunningBot {
        Self::start_with(config, tuning, None)
    }

    fn start_with(
        config: Config,
        tuning: douyin_link_bot::app::Tuning,
        listener: Option<tokio::net::TcpListener>,
    ) -> RunningBot {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_env("TEST_LOG"))
                .with_test_writer()
                .try_init();
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            let _ = rx.await;
        };
        let task = match listener {
            Some(l) => tokio::spawn(douyin_link_bot::app::run_on(config, tuning, Some(l), stop)),
            None => tokio::spawn(douyin_link_bot::app::run_tuned(config, tuning, stop)),
        };
        RunningBot {
            stop: Some(tx),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("bot stops within 20 s")
            .expect("bot task did not panic");
        result.expect("bot exits cleanly");
    }
}

/// The real bot (`app::run`) on a fresh store, against a fresh fake Telegram and fake veapi.
pub struct Harness {
    pub tg: FakeTelegram,
    pub veapi: MockServer,
    pub bot: RunningBot,
    /// The bot's store (a SQLite file or a PostgreSQL schema); removed when this is dropped.
    pub db: TestDb,
}

impl Harness {
    /// The bot on `db`. `extra`: configuration beyond the credentials and the fakes' URLs.
    pub async fn start(db: TestDb, extra: &[(&str, &str)]) -> Harness {
        let tg = FakeTelegram::start().await;
        let veapi = MockServer::start().await;
        let bot = RunningBot::start(config_with(&tg, &veapi, &db, extra));
        Harness { tg, veapi, bot, db }
    }

    /// The bot's store, opened beside the bot (once the bot has migrated it).
    pub async fn store(&self) -> douyin_link_bot::store::Store {
        douyin_link_bot::store::Store::open(self.db.url())
            .await
            .unwrap()
    }
}

/// A log line without its colour codes (the bot colours its log on a terminal).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
