//! Webhook mode and the HTTP endpoints, end to end: the real bot (`app::run_on`) registers
//! its webhook with a fake Bot API, takes updates POSTed to it the way Telegram posts them
//! (the update as JSON, `X-Telegram-Bot-Api-Secret-Token` set to setWebhook's
//! `secret_token`), converts through a fake veapi and answers through the fake Bot API.
//! Each test asserts what the user saw and what upstream received.

mod support;

use douyin_link_bot::http::server;
use douyin_link_bot::store::Store;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use support::*;
use wiremock::MockServer;

const SECRET: &str = "webhook_Secret-0123456789abcdef";
const HOOK_PATH: &str = "/tg/hook-7f3a";
const SHARE: &str = "9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】130g*10袋猫耳酥\n长按复制此条消息，打开抖音搜索，查看商品详情！";
const PASSWORD: &str = "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽";

struct WebhookBot {
    tg: FakeTelegram,
    veapi: MockServer,
    bot: RunningBot,
    addr: SocketAddr,
    http: reqwest::Client,
    _db: TestDb,
}

impl WebhookBot {
    /// A bot in webhook mode on a free loopback port, started once it registered its webhook
    /// (the server is up before that).
    async fn start() -> WebhookBot {
        Self::start_on(TestDb::sqlite()).await
    }

    async fn start_on(db: TestDb) -> WebhookBot {
        let tg = FakeTelegram::start().await;
        let veapi = MockServer::start().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = config_with(
            &tg,
            &veapi,
            &db,
            &[
                (
                    "WEBHOOK_URL",
                    &format!("https://bot.example.com{HOOK_PATH}"),
                ),
                ("WEBHOOK_SECRET", SECRET),
                ("HTTP_LISTEN", &addr.to_string()),
            ],
        );
        assert!(
            !format!("{config:?}").contains(SECRET),
            "the secret never shows in Debug"
        );
        let bot = RunningBot::start_on(config, listener);
        tg.wait_call("setWebhook").await;
        WebhookBot {
            tg,
            veapi,
            bot,
            addr,
            http: reqwest::Client::new(),
            _db: db,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `body` to the webhook the way Telegram does, with `secret` in the header.
    async fn post_raw(&self, secret: Option<&str>, body: Vec<u8>) -> reqwest::StatusCode {
        let mut req = self
            .http
            .post(self.url(HOOK_PATH))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = secret {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        req.send().await.unwrap().status()
    }

    async fn post(&self, secret: Option<&str>, update: &Value) -> reqwest::StatusCode {
        self.post_raw(secret, serde_json::to_vec(update).unwrap())
            .await
    }

    async fn get(&self, path: &str) -> (reqwest::StatusCode, String) {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }
}

/// An update as Telegram posts it: `update_id` and a message from `from`.
fn update(tg: &FakeTelegram, update_id: i64, from: &Sender, text: &str) -> Value {
    let mut message = tg.message(from, json!({ "text": text }));
    message["message_id"] = json!(1000 + update_id);
    json!({ "update_id": update_id, "message": message })
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap()
}

#[tokio::test]
async fn the_webhook_is_registered_with_its_secret_and_the_handled_kinds() {
    let b = WebhookBot::start().await;
    let calls = b.tg.calls("setWebhook").await;
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call["url"], format!("https://bot.example.com{HOOK_PATH}"));
    assert_eq!(call["secret_token"], SECRET);
    // teloxide sends setWebhook as multipart/form-data (it may carry a certificate file);
    // list fields are JSON-serialized, as the Bot API expects.
    let allowed: Value = serde_json::from_str(call["allowed_updates"].as_str().unwrap()).unwrap();
    assert_eq!(
        allowed,
        json!(["message", "callback_query", "inline_query"])
    );
    assert_eq!(call["drop_pending_updates"], "false");
    // Webhook mode never long-polls, and never removes the webhook it set.
    assert!(b.tg.calls("getUpdates").await.is_empty());
    assert!(b.tg.calls("deleteWebhook").await.is_empty());
    b.bot.stop().await;
    assert!(
        b.tg.calls("deleteWebhook").await.is_empty(),
        "others may serve it"
    );
}

#[tokio::test]
async fn a_posted_update_is_converted_and_answered() {
    let b = WebhookBot::start().await;
    share_reply(&b.veapi, None, json_body("veapi/share_ok.json")).await;

    let status = b
        .post(Some(SECRET), &update(&b.tg, 10, &ALICE, SHARE))
        .await;
    assert_eq!(status, 200);
    let sent = b.tg.wait_sent(1).await;
    assert_eq!(sent[0]["chat_id"], ALICE.chat_id);
    assert_eq!(sent[0]["reply_parameters"]["message_id"], 1010);
    assert!(text(&sent[0]).contains(&format!("<code>{PASSWORD}</code>")));
    let calls = share_calls(&b.veapi).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["productUrl"], "https://v.douyin.com/i2wDMRRN/");
    b.bot.stop().await;
}

#[tokio::test]
async fn refused_requests_reach_nothing_and_the_bot_keeps_serving() {
    let b = WebhookBot::start().await;
    share_reply(&b.veapi, None, json_body("veapi/share_ok.json")).await;
    // Each refused request carries a convertible product id: handled, it would call veapi.
    let product = |id: i64| update(&b.tg, id, &BOB, "3583117383482622604");

    assert_eq!(
        b.post(Some("wrong_secret-0123456789abcdef"), &product(1))
            .await,
        401
    );
    assert_eq!(b.post(None, &product(2)).await, 401);
    assert_eq!(
        b.post(Some(&SECRET[..SECRET.len() - 1]), &product(3)).await,
        401
    );
    let mut big = product(4);
    big["message"]["text"] = json!(format!("3583117383482622604 {}", "x".repeat(1024 * 1024)));
    assert_eq!(b.post(Some(SECRET), &big).await, 413);
    assert_eq!(
        b.post(None, &big).await,
        401,
        "the secret is checked before the body is read"
    );
    assert_eq!(
        b.post_raw(Some(SECRET), b"{\"update_id\": 5, \"message\": {".to_vec())
            .await,
        400
    );
    assert_eq!(b.post_raw(Some(SECRET), b"[1, 2, 3]".to_vec()).await, 400);

    // Still serving: the next update is handled, and it is the only thing that was.
    assert_eq!(
        b.post(Some(SECRET), &update(&b.tg, 6, &BOB, SHARE)).await,
        200
    );
    b.tg.wait_sent(1).await;
    let calls = share_calls(&b.veapi).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["productUrl"], "https://v.douyin.com/i2wDMRRN/");
    let sent = b.tg.sent();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["reply_parameters"]["message_id"], 1006);
    b.bot.stop().await;
}

on_both_backends! {
    /// The dedupe is in the store: on PostgreSQL it holds across instances.
    #[tokio::test]
    async fn an_update_delivered_twice_is_handled_once(db) {
    let b = WebhookBot::start_on(db).await;
    share_reply(&b.veapi, None, json_body("veapi/share_ok.json")).await;
    let u = update(&b.tg, 20, &ALICE, SHARE);
    assert_eq!(b.post(Some(SECRET), &u).await, 200);
    assert_eq!(
        b.post(Some(SECRET), &u).await,
        200,
        "a repeat is acknowledged"
    );
    // A later update of the same chat is handled after both (one chat's updates are
    // handled in order): once it is answered, a second handling would have shown.
    assert_eq!(
        b.post(Some(SECRET), &update(&b.tg, 21, &ALICE, "/help"))
            .await,
        200
    );
    b.tg.wait_for(1, is_help).await;
    assert_eq!(share_calls(&b.veapi).await.len(), 1);
    assert_eq!(
        b.tg.replies_to(ALICE.chat_id).len(),
        1,
        "{:#?}",
        b.tg.sent()
    );
    b.bot.stop().await;
}
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let b = WebhookBot::start().await;
    share_reply(&b.veapi, None, json_body("veapi/share_ok.json")).await;
    assert_eq!(b.get("/healthz").await.0, 200);
    assert_eq!(b.get("/readyz").await.0, 200);

    assert_eq!(
        b.post(Some(SECRET), &update(&b.tg, 30, &ALICE, SHARE))
            .await,
        200
    );
    b.tg.wait_sent(1).await;
    let (status, body) = b.get("/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        "dlb_updates_handled_total{kind=\"message\"}",
        "dlb_conversions_total{outcome=\"converted\"}",
        "dlb_veapi_call_seconds_bucket{endpoint=\"douke/kol_ProductShare\"",
        "dlb_outbox_pending ",
        "dlb_outbox_parked ",
        "dlb_poller_holder ",
        "# HELP dlb_updates_handled_total",
        "# TYPE dlb_veapi_call_seconds histogram",
    ] {
        assert!(body.contains(expected), "{expected} missing from:\n{body}");
    }
    b.bot.stop().await;
}

#[tokio::test]
async fn stopping_answers_what_was_acknowledged_then_refuses_connections() {
    let b = WebhookBot::start().await;
    share_reply(
        &b.veapi,
        None,
        json_body("veapi/share_ok.json").set_delay(Duration::from_millis(800)),
    )
    .await;
    assert_eq!(
        b.post(Some(SECRET), &update(&b.tg, 40, &ALICE, SHARE))
            .await,
        200
    );
    // Acknowledged before it was handled: veapi has not answered yet.
    assert!(b.tg.sent().is_empty(), "answered 200 only after handling");

    let addr = b.addr;
    b.bot.stop().await;
    let sent = b.tg.sent();
    assert_eq!(
        sent.len(),
        1,
        "the acknowledged update was handled before exit"
    );
    assert!(text(&sent[0]).contains(PASSWORD));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn readiness_fails_when_the_store_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = server::serve(
        listener,
        server::router(store.clone(), Default::default(), None, None),
        async move {
            let _ = stop_rx.await;
        },
    );
    let get = |path: &'static str| async move {
        reqwest::get(format!("http://{addr}{path}"))
            .await
            .unwrap()
            .status()
    };
    assert_eq!(get("/readyz").await, 200);
    store.close().await;
    assert_eq!(get("/readyz").await, 503);
    assert_eq!(get("/healthz").await, 200, "alive all the same");
    // Without webhook mode there is no webhook route.
    let hook = reqwest::Client::new()
        .post(format!("http://{addr}{HOOK_PATH}"))
        .body("{}")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(hook, 404);
    let _ = stop_tx.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn long_polling_with_http_listen_serves_health_but_no_webhook() {
    let tg = FakeTelegram::start().await;
    let veapi = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = config_with(
        &tg,
        &veapi,
        &dir.path().join("bot.db"),
        &[("HTTP_LISTEN", &addr.to_string())],
    );
    let bot = RunningBot::start_on(config, listener);
    tg.settle(&ALICE).await;
    let status = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert!(tg.calls("setWebhook").await.is_empty());
    let polls = tg.calls("getUpdates").await;
    // Long polling asks for what the dispatcher handles, counting updates included (in
    // the dispatcher's order, which is not ALLOWED_UPDATES').
    let mut asked: Vec<String> = serde_json::from_value(polls[0]["allowed_updates"].clone())
        .unwrap_or_else(|e| panic!("{e}: {:?}", polls[0]));
    asked.sort();
    assert_eq!(
        asked,
        ["callback_query", "inline_query", "message"],
        "{:?}",
        polls[0]
    );
    bot.stop().await;
}

/// The webhook route alone (no bot behind it), served on a loopback port, with the
/// dispatcher's end of its channel kept to see what was handed on.
struct RouteAlone {
    tg: FakeTelegram,
    store: Store,
    listener: douyin_link_bot::http::webhook::WebhookListener,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl RouteAlone {
    /// `detach`: the updates in hand the route consults.
    async fn start(detach: douyin_link_bot::telegram::detach::Detach) -> RouteAlone {
        use douyin_link_bot::http::webhook;
        use douyin_link_bot::secret::Secret;

        let tg = FakeTelegram::start().await;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("w.db").display()))
            .await
            .unwrap();
        let (state, listener) = webhook::channel(Secret::new(SECRET), store.clone(), detach);
        let route = server::WebhookRoute {
            path: HOOK_PATH.to_string(),
            state,
        };
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = server::serve(
            tcp,
            server::router(store.clone(), Default::default(), None, Some(route)),
            async move {
                let _ = stopped.await;
            },
        );
        RouteAlone {
            tg,
            store,
            listener,
            addr,
            stop,
            server,
            _dir: dir,
        }
    }

    /// Alice's update `id`, posted as Telegram does.
    async fn post(&self, id: i64) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("http://{}{HOOK_PATH}", self.addr))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .json(&update(&self.tg, id, &ALICE, SHARE))
            .send()
            .await
            .unwrap()
    }

    /// Stops the server, then returns the ids of the updates handed to the dispatcher.
    async fn handed_on(mut self) -> Vec<u32> {
        use futures::StreamExt;
        use teloxide::update_listeners::{AsUpdateStream, UpdateListener};

        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        self.listener.stop_token().stop();
        self.listener
            .as_stream()
            .map(|u| u.unwrap().id.0)
            .collect()
            .await
    }
}

#[tokio::test]
async fn a_store_failure_while_taking_an_update_asks_telegram_to_retry() {
    let route = RouteAlone::start(douyin_link_bot::telegram::detach::Detach::new()).await;
    assert_eq!(route.post(1).await.status(), 200);
    route.store.close().await;
    assert_eq!(
        route.post(2).await.status(),
        500,
        "not taken: Telegram delivers it again"
    );
    // Only the first update reached the dispatcher's side.
    assert_eq!(route.handed_on().await, vec![1]);
}

#[tokio::test]
async fn an_instance_with_all_the_updates_it_takes_in_hand_asks_telegram_to_deliver_again() {
    // No room at all: as if 2048 updates were in hand, their replies waiting for slots.
    let route = RouteAlone::start(douyin_link_bot::telegram::detach::Detach::with_max(0)).await;
    let answer = route.post(1).await;
    assert_eq!(answer.status(), 503, "Telegram delivers it again later");
    // …after a second, not after its own backoff of up to two minutes
    // (tdlib/telegram-bot-api WebhookActor::on_update_error reads Retry-After).
    assert_eq!(answer.headers()["retry-after"], "1");
    // Not recorded as taken (its delivery again, here or elsewhere, is handled) and not
    // handed to the dispatcher.
    assert!(route.store.first_sight_of_update(1, 0).await.unwrap());
    assert!(route.handed_on().await.is_empty());
}

/// The built binary in webhook mode, stopped with SIGTERM right after Telegram's post was
/// acknowledged: it answers that update before it exits, and at `RUST_LOG=trace` no line of
/// its output holds the webhook secret (or the other secrets).
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_finishes_an_acknowledged_update_on_sigterm_and_never_logs_the_secret() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    let tg = FakeTelegram::start().await;
    let veapi = MockServer::start().await;
    share_reply(
        &veapi,
        None,
        json_body("veapi/share_ok.json").set_delay(Duration::from_millis(800)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut bot = Command::new(env!("CARGO_BIN_EXE_douyin-link-bot"))
        .current_dir(dir.path())
        .env_clear()
        .env("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
        .env("TELEGRAM_API_URL", tg.server.uri())
        .env("VEAPI_KEY", VEKEY)
        .env("VEAPI_BASE_URL", veapi.uri())
        .env("WEBHOOK_URL", format!("https://bot.example.com{HOOK_PATH}"))
        .env("WEBHOOK_SECRET", SECRET)
        .env("HTTP_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Every line of the log, read as it comes; the port is the one the log announces.
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stderr = bot.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let addr = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the binary announces its HTTP address");
        let plain = strip_ansi(&line);
        log.push(line);
        if plain.contains("HTTP server listening") {
            let at = plain.find("addr=").expect("the address is logged") + "addr=".len();
            let addr: SocketAddr = plain[at..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
            break addr;
        }
    };
    tg.wait_call("setWebhook").await;

    let mut message = tg.message(&ALICE, json!({ "text": SHARE }));
    message["message_id"] = json!(1050);
    let status = reqwest::Client::new()
        .post(format!("http://{addr}{HOOK_PATH}"))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&json!({ "update_id": 50, "message": message }))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert!(tg.sent().is_empty(), "acknowledged before it was handled");
    Command::new("kill")
        .args(["-TERM", &bot.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = bot.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let sent = tg.sent();
    assert_eq!(
        sent.len(),
        1,
        "the acknowledged update was answered before exit"
    );
    assert!(text(&sent[0]).contains(PASSWORD));
    reader.join().unwrap();
    log.extend(lines_rx.try_iter());
    let log = log.join("\n");
    assert!(log.contains("shutting down"), "the log was read: {log}");
    for secret in [SECRET, BOT_TOKEN, VEKEY] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}
