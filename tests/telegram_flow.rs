//! Telegram's flood control as it answers: a 429 for one group holds back that group only.
//! The real bot (dispatcher, poller, notifier) against the fake Bot API and fake veapi.

mod support;

use douyin_link_bot::poller::china_time;
use douyin_link_bot::store::{NewConversion, Store};
use douyin_link_bot::tracking;
use douyin_link_bot::veapi::ShareLink;
use serde_json::Value;
use support::*;
use wiremock::MockServer;

const GROUP: i64 = -100_555;
/// Converted in GROUP, never opened a private chat with the bot: their order news becomes a
/// notice in GROUP.
const CAROL: Sender = Sender {
    user_id: 3003,
    chat_id: 3003,
};
const DAVE: Sender = Sender {
    user_id: 4004,
    chat_id: 4004,
};

/// Carol converted the product of `order_json` in GROUP (before the bot starts).
async fn carol_converted_in_group(db: &TestDb) {
    let store = Store::open(db.url()).await.unwrap();
    let link = ShareLink {
        dy_password: "口令".into(),
        share_link: Some(
            "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=3583117383482622604"
                .into(),
        ),
        dy_deeplink: None,
        dy_zlink: None,
        coupon: None,
    };
    store
        .record_conversion(&NewConversion {
            user_id: CAROL.user_id,
            user_name: Some("@carol"),
            chat_id: GROUP,
            product_key: "3583117383482622604",
            external_info: &tracking::encode(CAROL.user_id),
            link: &link,
            created_at: chrono::Utc::now().timestamp() - 60,
        })
        .await
        .unwrap();
    store.close().await;
}

/// New orders upstream reports from now on: (order id, buyer).
async fn orders_now(veapi: &MockServer, orders: &[(&str, u64)]) {
    let now = china_time(chrono::Utc::now().timestamp());
    let orders = orders
        .iter()
        .map(|(id, user)| order_json(id, &tracking::encode(*user), "PAY_SUCC", &now))
        .collect();
    veapi.reset().await;
    orders_page(veapi, None, orders_body(orders, "")).await;
}

fn about(order: &'static str) -> impl Fn(&Value) -> bool {
    move |m| m["text"].as_str().unwrap_or_default().contains(order)
}

async fn attempts(db: &TestDb, dedupe_key: &str) -> (String, i64) {
    const SQL: &str = "SELECT status, attempts FROM outbox WHERE dedupe_key = $1";
    if db.is_postgres() {
        let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
        let row = sqlx::query_as(SQL)
            .bind(dedupe_key)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        row
    } else {
        let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
        let row = sqlx::query_as(SQL)
            .bind(dedupe_key)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        row
    }
}

on_both_backends! {
    /// The group answers 429 with `retry_after: 30`; while it waits, a private reply and other
    /// users' order news go out, and the group is not asked again.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_429_for_one_group_holds_back_that_group_only(db) {
        let tg = FakeTelegram::start().await;
        let veapi = MockServer::start().await;
        carol_converted_in_group(&db).await;
        tg.fail_chat(CAROL.chat_id, not_started());
        tg.fail_chat(GROUP, too_many_requests(30));
        orders_now(&veapi, &[("c1", CAROL.user_id)]).await;
        let bot = RunningBot::start_tuned(config_with(&tg, &veapi, &db, &[]), fast_tuning());

        // Carol's news tries her private chat, then the group, which answers 429.
        tg.wait_attempts(GROUP, 1).await;
        let frozen_at = tg.attempted_chats().len();

        // Now Bob writes privately, and Bob and Dave buy something.
        orders_now(
            &veapi,
            &[
                ("c1", CAROL.user_id),
                ("b1", BOB.user_id),
                ("d1", DAVE.user_id),
            ],
        )
        .await;
        tg.push_text(&BOB, "你好");
        tg.wait_for(1, |m| m["chat_id"] == BOB.chat_id && !about("b1")(m))
            .await;
        tg.wait_for(1, about("b1")).await;
        tg.wait_for(1, about("d1")).await;

        // All of it went out after the group's 429, and the group was not asked again.
        let order = tg.attempted_chats();
        assert_eq!(order[frozen_at - 1], GROUP);
        for chat in [BOB.chat_id, DAVE.chat_id] {
            let first = order.iter().position(|c| *c == chat).unwrap();
            assert!(first >= frozen_at, "{chat} before the 429: {order:?}");
        }
        assert_eq!(tg.attempts_to(GROUP), 1, "{order:?}");
        assert!(tg.sent_to(GROUP).is_empty());
        // Carol's news waits for the group's turn, the 429 not counted as a failure.
        let (status, tries) = attempts(&db, "order:c1:NEW").await;
        assert_eq!((status.as_str(), tries), ("pending", 0));
        bot.stop().await;
    }
}
