//! `/dashboard` end to end: the real bot (`app::run_on`) against a fake Bot API hands an
//! operator a link in their private chat, and the link opens the page its HTTP server
//! serves. Nobody else gets a link; without `PUBLIC_URL` the operator is told what to set;
//! the page never carries a secret of the configuration.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use support::dashboard::{answer, client, cookie_value};
use support::*;
use wiremock::MockServer;

const SECRET: &str = "webhook_Secret-0123456789abcdef";

fn text(m: &Value) -> String {
    m["text"].as_str().unwrap_or_default().to_string()
}

/// The dashboard link in a message, if any.
fn link(m: &Value) -> Option<String> {
    let t = text(m);
    let start = t.find("href=\"")? + 6;
    let end = t[start..].find('"')?;
    Some(t[start..start + end].replace("&amp;", "&"))
}

struct Bot {
    tg: FakeTelegram,
    _veapi: MockServer,
    bot: RunningBot,
    addr: SocketAddr,
    _db: TestDb,
}

async fn start(extra: &[(&str, &str)], public: bool) -> Bot {
    let db = TestDb::sqlite();
    let tg = FakeTelegram::start().await;
    let veapi = MockServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let public_url = format!("http://{addr}");
    let listen = addr.to_string();
    let mut vars: Vec<(&str, &str)> = vec![("ADMIN_USER_IDS", "1001"), ("HTTP_LISTEN", &listen)];
    if public {
        vars.push(("PUBLIC_URL", &public_url));
    }
    vars.extend_from_slice(extra);
    let config = config_with(&tg, &veapi, &db, &vars);
    let bot = RunningBot::start_on(config, listener);
    Bot {
        tg,
        _veapi: veapi,
        bot,
        addr,
        _db: db,
    }
}

/// Follows a login link as a browser would reach the bot (the link's origin is the proxy's;
/// the request goes to the bot's own address), then opens the page with the cookie.
async fn open_link(addr: SocketAddr, link: &str) -> (String, String) {
    let url = url::Url::parse(link).unwrap();
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let http = client();
    let a = answer(
        http.get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let set_cookie = a.header("set-cookie").to_string();
    let cookie = cookie_value(&set_cookie).unwrap();
    let page = answer(
        http.get(format!("http://{addr}/dashboard"))
            .header("cookie", format!("dlb_dash={cookie}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let again = http
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN, "the link works once");
    (set_cookie, page.body)
}

fn assert_no_secret(body: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!body.contains(s), "a secret on the page");
    }
}

#[tokio::test]
async fn an_operator_gets_a_working_link_in_private_and_nobody_else_gets_one() {
    let b = start(&[], true).await;
    // A user who is not an operator, and the operator in a group: nothing.
    b.tg.push_text(&BOB, "/dashboard");
    b.tg.push_text(&ALICE_IN_GROUP, "/dashboard");
    b.tg.settle(&BOB).await;
    b.tg.settle(&ALICE_IN_GROUP).await;
    assert!(
        b.tg.replies()
            .iter()
            .all(|m| link(m).is_none() && !text(m).contains("dashboard")),
        "{:#?}",
        b.tg.replies()
    );

    b.tg.push_text(&ALICE, "/dashboard");
    let sent =
        b.tg.wait_for(1, |m| m["chat_id"] == ALICE.chat_id && link(m).is_some())
            .await;
    let url = link(&sent[0]).unwrap();
    assert!(
        url.starts_with(&format!("http://{}/dashboard/login?t=", b.addr)),
        "{url}"
    );
    assert!(
        text(&sent[0]).contains("10 分钟"),
        "Chinese by default: {}",
        text(&sent[0])
    );
    assert_eq!(
        sent[0]["link_preview_options"]["is_disabled"], true,
        "no preview fetches it"
    );
    let (set_cookie, page) = open_link(b.addr, &url).await;
    assert!(
        !set_cookie.contains("Secure"),
        "http PUBLIC_URL: {set_cookie}"
    );
    assert!(page.contains("<figure id=\"chart-orders\">"));
    assert_no_secret(&page, &[BOT_TOKEN, "TEST-bot-token-secret", VEKEY]);
    b.bot.stop().await;
}

#[tokio::test]
async fn webhook_mode_links_use_the_webhooks_origin_with_secure_cookies_and_no_secret() {
    let b = start(
        &[
            ("WEBHOOK_URL", "https://bot.example.com/tg/hook"),
            ("WEBHOOK_SECRET", SECRET),
        ],
        false,
    )
    .await;
    b.tg.wait_call("setWebhook").await;
    let mut message = b.tg.message(
        &ALICE,
        json!({"text": "/dashboard", "from": {
        "id": ALICE.user_id, "is_bot": false, "first_name": "A", "language_code": "en"}}),
    );
    message["message_id"] = json!(77);
    let posted = client()
        .post(format!("http://{}/tg/hook", b.addr))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&json!({"update_id": 1, "message": message}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    let sent = b.tg.wait_for(1, |m| link(m).is_some()).await;
    let url = link(&sent[0]).unwrap();
    assert!(
        url.starts_with("https://bot.example.com/dashboard/login?t="),
        "{url}"
    );
    assert!(
        text(&sent[0]).contains("Open the dashboard"),
        "in the operator's language"
    );
    let (set_cookie, page) = open_link(b.addr, &url).await;
    assert!(set_cookie.ends_with("; Secure"), "{set_cookie}");
    assert!(
        page.contains("<html lang=\"en\">"),
        "the page in the operator's language"
    );
    assert_no_secret(&page, &[SECRET, BOT_TOKEN, "TEST-bot-token-secret", VEKEY]);
    b.bot.stop().await;
}

#[tokio::test]
async fn without_public_url_the_operator_is_told_what_to_set_and_nothing_is_served() {
    let b = start(&[], false).await;
    b.tg.push_text(&ALICE, "/dashboard");
    let sent = b.tg.wait_for(1, |m| m["chat_id"] == ALICE.chat_id).await;
    assert!(text(&sent[0]).contains("PUBLIC_URL"), "{}", text(&sent[0]));
    assert!(link(&sent[0]).is_none());
    let a = client()
        .get(format!("http://{}/dashboard", b.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        a.status(),
        StatusCode::NOT_FOUND,
        "no dashboard routes at all"
    );
    b.bot.stop().await;
}
