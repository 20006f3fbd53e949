//! English for English apps, Chinese otherwise, `/lang` remembered; order news kept in the
//! outbox as facts and rendered when sent, in the language the user has then.

mod support;

use douyin_link_bot::tracking;
use serde_json::{json, Value};
use support::*;

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

/// A message from Alice's private chat, her app set to `language_code`.
fn from_app(tg: &FakeTelegram, text: &str, language_code: &str) {
    tg.push_message(
        &ALICE,
        json!({"text": text, "from": {
            "id": ALICE.user_id, "is_bot": false, "first_name": "Alice",
            "language_code": language_code
        }}),
    );
}

fn to_alice(pred: impl Fn(&str) -> bool) -> impl Fn(&Value) -> bool {
    move |m| m["chat_id"] == ALICE.chat_id && pred(text(m))
}

on_both_backends! {
    #[tokio::test]
    async fn an_english_app_is_answered_in_english_and_lang_switches_for_good(db) {
        let h = Harness::start(db, &[]).await;
        let tg = &h.tg;
        share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;

        from_app(tg, "/help", "en");
        tg.wait_for(1, to_alice(|t| t.starts_with("📖 How it works"))).await;
        from_app(tg, "hello", "en-US");
        tg.wait_for(1, to_alice(|t| t.contains("I found no Douyin product"))).await;
        from_app(tg, "https://v.douyin.com/i2wDMRRN/", "en");
        let reply = tg.wait_for(1, to_alice(|t| t.contains("Converted"))).await;
        assert!(text(&reply[0]).contains("Copy it, then open Douyin"), "{}", text(&reply[0]));
        // A product refusal is explained in English too.
        h.veapi.reset().await;
        share_reply(&h.veapi, None, json_body("veapi/share_not_in_alliance.json")).await;
        from_app(tg, "3583117383482622605", "en");
        tg.wait_for(1, to_alice(|t| t.contains("not in Douyin's affiliate alliance"))).await;

        // A Chinese app stays Chinese.
        from_app(tg, "/help", "zh-hans");
        tg.wait_for(1, to_alice(|t| t.starts_with("📖 使用说明"))).await;

        // /lang en outlasts the app's language; /lang with anything else explains itself.
        from_app(tg, "/lang en", "zh-hans");
        tg.wait_for(1, to_alice(|t| t.contains("I will write to you in English"))).await;
        from_app(tg, "/help", "zh-hans");
        tg.wait_for(2, to_alice(|t| t.starts_with("📖 How it works"))).await;
        from_app(tg, "/lang fr", "zh-hans");
        tg.wait_for(1, to_alice(|t| t.starts_with("Usage: /lang en"))).await;
        from_app(tg, "/lang zh", "en");
        tg.wait_for(1, to_alice(|t| t.contains("以后我用中文"))).await;
        from_app(tg, "/help", "en");
        tg.wait_for(2, to_alice(|t| t.starts_with("📖 使用说明"))).await;

        // The command menu: Chinese by default, English for English apps.
        let menus = tg.calls("setMyCommands").await;
        let en = menus.iter().find(|c| c["language_code"] == "en").expect("an English menu");
        let default = menus.iter().find(|c| c.get("language_code").is_none()).expect("a default menu");
        let described = |menu: &Value, command: &str| -> String {
            let commands: Value = match &menu["commands"] {
                Value::String(s) => serde_json::from_str(s).unwrap(),
                v => v.clone(),
            };
            commands.as_array().unwrap().iter()
                .find(|c| c["command"].as_str().unwrap().trim_start_matches('/') == command)
                .map(|c| c["description"].as_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(described(en, "orders"), "My orders");
        assert_eq!(described(default, "orders"), "我的订单");
        assert!(!described(en, "lang").is_empty());
        // Only what the user should read: no source comments in the menu.
        assert_eq!(described(default, "start"), "开始使用");
        h.bot.stop().await;
    }
}

on_both_backends! {
    /// Alice's NEW waits in the outbox (she blocked the bot) as its facts, not as finished
    /// Chinese HTML; she unblocks, switches to English and sends /start: the news arrives in
    /// English.
    #[tokio::test]
    async fn waiting_news_is_rendered_in_the_language_of_the_moment_it_is_sent(db) {
        let h = Harness::start(db, &[]).await;
        let (tg, veapi) = (&h.tg, &h.veapi);
        share_reply(veapi, None, json_body("veapi/share_ok.json")).await;
        from_app(tg, "https://v.douyin.com/i2wDMRRN/", "zh-hans");
        tg.wait_for(1, to_alice(|t| t.contains("已转换"))).await;
        let external_info = share_calls(veapi).await[0]["external_info"].clone();
        assert_eq!(tracking::decode(&external_info), Ok(ALICE.user_id));

        tg.fail_chat(ALICE.chat_id, blocked());
        orders_page(
            veapi,
            None,
            orders_body(
                vec![order_json("4737996432465788974", &external_info, "PAY_SUCC", "2026-11-22 10:00:00")],
                "",
            ),
        )
        .await;
        let store = h.store().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let parked: Option<(String, Option<String>)> = match store.outbox_status("order:4737996432465788974:NEW").await.unwrap() {
                Some((status, _, _)) if status == "parked" => Some(stored_row(&h.db).await),
                _ => None,
            };
            if let Some((html, event)) = parked {
                // The facts; the text beside them is only for a release that predates
                // events (a rolling deploy): Chinese, complete, never empty.
                assert!(html.starts_with("🛒 <b>新订单</b>"), "{html}");
                let event: Value = serde_json::from_str(&event.unwrap()).unwrap();
                assert_eq!(event["kind"], "order");
                assert_eq!(event["news"], "new");
                assert_eq!(event["order"]["total_pay_amount"], 2100);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the news was never held");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }

        tg.clear_chat_failure(ALICE.chat_id);
        from_app(tg, "/lang en", "zh-hans");
        tg.wait_for(1, to_alice(|t| t.contains("in English"))).await;
        from_app(tg, "/start", "zh-hans");
        let news = tg.wait_for(1, to_alice(|t| t.contains("New order"))).await;
        let t = text(&news[0]);
        assert!(t.contains("Paid: ¥21.00") && t.contains("State: paid"), "{t}");
        assert!(!t.contains("新订单"), "{t}");
        h.bot.stop().await;
    }
}

/// The stored `text` and `event` of the one order message.
async fn stored_row(db: &TestDb) -> (String, Option<String>) {
    const SQL: &str = "SELECT text, event FROM outbox WHERE dedupe_key LIKE 'order:%'";
    if db.is_postgres() {
        let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
        sqlx::query_as(SQL).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
        sqlx::query_as(SQL).fetch_one(&pool).await.unwrap()
    }
}
