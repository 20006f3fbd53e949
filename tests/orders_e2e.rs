//! End to end for order news: the real dispatcher, poller and notifier against loopback
//! fakes, across a restart on the same store.

mod support;

use douyin_link_bot::tracking;
use serde_json::Value;
use std::time::Duration;
use support::*;
use wiremock::MockServer;

/// The fakes and a store for one test; the bot starts once upstream is set up, as its
/// first poll happens at once.
struct Upstream {
    tg: FakeTelegram,
    veapi: MockServer,
    db: TestDb,
}

impl Upstream {
    async fn start(db: TestDb) -> Upstream {
        Upstream {
            tg: FakeTelegram::start().await,
            veapi: MockServer::start().await,
            db,
        }
    }

    /// The bot on this test's store (the same one on every call: restarts keep it).
    fn start_bot(&self, extra: &[(&str, &str)]) -> RunningBot {
        RunningBot::start_tuned(
            config_with(&self.tg, &self.veapi, &self.db, extra),
            fast_tuning(),
        )
    }
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

fn is(word: &'static str) -> impl Fn(&Value) -> bool {
    move |m| text(m).contains(word)
}

async fn orders_now(veapi: &MockServer, orders: Vec<Value>) {
    veapi.reset().await;
    share_reply(veapi, None, json_body("veapi/share_ok.json")).await;
    orders_page(veapi, None, orders_body(orders, "")).await;
}

/// Lets several poll cycles pass.
async fn some_polls(veapi: &MockServer) {
    let before = orders_calls(veapi).await.len();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while orders_calls(veapi).await.len() < before + 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the poller stopped polling"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn an_order_is_announced_once_across_a_restart_and_its_refund_once(db) {
        let up = Upstream::start(db).await;
        let (tg, veapi) = (&up.tg, &up.veapi);
        orders_now(veapi, vec![]).await;

        let bot = up.start_bot(&[]);
        tg.push_text(&ALICE, "https://v.douyin.com/i2wDMRRN/");
        tg.wait_for(1, is("已转换")).await;
        let external_info = share_calls(veapi).await[0]["external_info"].clone();
        assert_eq!(tracking::decode(&external_info), Ok(ALICE.user_id));

        // Upstream now reports an order bought through Alice's link.
        let order = "4737996432465788974";
        orders_now(
            veapi,
            vec![order_json(
                order,
                &external_info,
                "PAY_SUCC",
                "2026-11-22 10:00:00",
            )],
        )
        .await;
        let news = tg.wait_for(1, is("新订单")).await;
        assert_eq!(news[0]["chat_id"], ALICE.chat_id);
        let t = text(&news[0]);
        assert!(t.contains("卡宾熊猫耳酥"), "{t}");
        assert!(t.contains("实付金额：¥21.00"), "{t}");
        // REBATE_PERCENT is 0: the user sees the order, never the operator's commission.
        assert!(!t.contains("佣金") && !t.contains("¥4.20") && !t.contains("返利"), "{t}");
        some_polls(veapi).await;
        bot.stop().await;

        // Restart on the same store: the order is still reported upstream, nobody hears twice.
        let bot = up.start_bot(&[]);
        some_polls(veapi).await;
        some_polls(veapi).await;
        assert_eq!(tg.sent().iter().filter(|m| is("新订单")(m)).count(), 1);

        // The order is refunded: one refund message, however many polls see it.
        orders_now(
            veapi,
            vec![order_json(
                order,
                &external_info,
                "REFUND",
                "2026-11-22 12:00:00",
            )],
        )
        .await;
        tg.wait_for(1, is("订单已退款")).await;
        some_polls(veapi).await;
        assert_eq!(tg.sent().iter().filter(|m| is("订单已退款")(m)).count(), 1);
        assert_eq!(tg.sent().iter().filter(|m| is("新订单")(m)).count(), 1);

        // And /orders shows it.
        tg.push_text(&ALICE, "/orders");
        let listing = tg.wait_for(1, is("我的订单")).await;
        let t = text(&listing[0]);
        assert!(t.contains("共 1 单") && t.contains("已退款：1 单，¥21.00"), "{t}");
        assert!(t.contains("— 已退款 — ¥21.00"), "{t}");
        // A refunded order earns nothing: no commission is shown for it.
        assert!(!t.contains("¥4.20"), "{t}");
        bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn orders_of_other_channels_notify_nobody(db) {
        let up = Upstream::start(db).await;
        let (tg, veapi) = (&up.tg, &up.veapi);
        orders_now(
            veapi,
            vec![
                order_json(
                    "4737996432465780001",
                    "111_222",
                    "PAY_SUCC",
                    "2026-11-22 10:00:00",
                ),
                order_json(
                    "4737996432465780002",
                    "dlb_zzzz",
                    "PAY_SUCC",
                    "2026-11-22 10:00:00",
                ),
            ],
        )
        .await;
        let bot = up.start_bot(&[]);
        some_polls(veapi).await;
        tg.push_text(&ALICE, "/start");
        tg.wait_sent(1).await;
        assert_eq!(tg.sent().len(), 1, "{:#?}", tg.sent());
        bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn expired_authorization_is_told_to_admins_once_and_recovery_once(db) {
        let up = Upstream::start(db).await;
        let (tg, veapi) = (&up.tg, &up.veapi);
        const ADMIN: i64 = 9001;
        veapi.reset().await;
        orders_page(veapi, None, json_body("veapi/share_auth_expired.json")).await;
        let bot = up.start_bot(&[("ADMIN_USER_IDS", "9001")]);

        let alert = tg.wait_for(1, |m| m["chat_id"] == ADMIN).await;
        assert!(
            text(&alert[0]).contains("授权已失效"),
            "{}",
            text(&alert[0])
        );
        some_polls(veapi).await;
        some_polls(veapi).await;
        assert_eq!(
            tg.sent_to(ADMIN).len(),
            1,
            "one alert per incident, not one per poll"
        );

        // Re-authorized: polling resumes by itself, the order bought meanwhile is announced.
        let info = tracking::encode(ALICE.user_id);
        orders_now(
            veapi,
            vec![order_json(
                "4737996432465789999",
                &info,
                "PAY_SUCC",
                "2026-11-22 10:00:00",
            )],
        )
        .await;
        let recovered = tg.wait_for(2, |m| m["chat_id"] == ADMIN).await;
        assert!(
            text(&recovered[1]).contains("已恢复"),
            "{}",
            text(&recovered[1])
        );
        tg.wait_for(1, is("新订单")).await;
        some_polls(veapi).await;
        assert_eq!(tg.sent_to(ADMIN).len(), 2);
        bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn an_outage_of_several_polls_loses_nothing_and_duplicates_across_pages_notify_once(db) {
        let up = Upstream::start(db).await;
        let (tg, veapi) = (&up.tg, &up.veapi);
        const ADMIN: i64 = 9001;
        orders_page(
            veapi,
            None,
            wiremock::ResponseTemplate::new(502).set_body_string("Bad Gateway"),
        )
        .await;
        let bot = up.start_bot(&[("ADMIN_USER_IDS", "9001")]);
        some_polls(veapi).await;
        let alert = tg.wait_for(1, |m| m["chat_id"] == ADMIN).await;
        assert!(
            text(&alert[0]).contains("连续多次失败"),
            "{}",
            text(&alert[0])
        );

        // Back: three orders bought during the outage, on two pages, the middle one on both
        // pages (upstream pagination shifting under concurrent updates does that).
        let info = tracking::encode(ALICE.user_id);
        let order = |id: &str| order_json(id, &info, "PAY_SUCC", "2026-11-22 10:00:00");
        veapi.reset().await;
        // (A page before the last is full: other channels' orders fill it up.)
        orders_page(
            veapi,
            None,
            orders_body(
                support::veapi::full_page(vec![order("5001"), order("5002")], "48200000000000"),
                "p2",
            ),
        )
        .await;
        orders_page(
            veapi,
            Some("p2"),
            orders_body(vec![order("5002"), order("5003")], ""),
        )
        .await;
        tg.wait_for(3, is("新订单")).await;
        // Every later poll overlaps the last window and sees all three again.
        some_polls(veapi).await;
        some_polls(veapi).await;
        for id in ["5001", "5002", "5003"] {
            let n = tg
                .sent()
                .iter()
                .filter(|m| is("新订单")(m) && text(m).contains(id))
                .count();
            assert_eq!(n, 1, "order {id}");
        }
        let to_admin = tg.sent_to(ADMIN);
        assert_eq!(to_admin.len(), 2, "one alert, one recovery: {to_admin:#?}");
        assert!(text(&to_admin[1]).contains("已恢复"));
        bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_user_who_never_opened_the_bot_is_told_in_the_group_to_open_it(db) {
        let up = Upstream::start(db).await;
        let (tg, veapi) = (&up.tg, &up.veapi);
        orders_now(veapi, vec![]).await;
        let bot = up.start_bot(&[]);
        tg.push_text(&ALICE_IN_GROUP, "https://v.douyin.com/i2wDMRRN/");
        tg.wait_for(1, is("已转换")).await;
        // Alice never opened a private chat: Telegram answers 403 "bot can't initiate
        // conversation with a user". (A user who blocked the bot hears nothing in a group:
        // tests/notifier.rs.)
        tg.fail_chat(ALICE.chat_id, not_started());

        let info = tracking::encode(ALICE.user_id);
        orders_now(
            veapi,
            vec![order_json("6001", &info, "PAY_SUCC", "2026-11-22 10:00:00")],
        )
        .await;
        let news = tg.wait_for(1, is("订单更新")).await;
        assert_eq!(news[0]["chat_id"], ALICE_IN_GROUP.chat_id);
        let t = text(&news[0]);
        assert!(t.contains("tg://user?id=1001"), "{t}");
        assert!(
            !t.contains('¥') && !t.contains("6001"),
            "no order details: {t}"
        );
        some_polls(veapi).await;
        assert_eq!(tg.sent().iter().filter(|m| is("订单更新")(m)).count(), 1);
        assert!(!tg.sent().iter().any(|m| is("新订单")(m)));
        bot.stop().await;
    }
}
