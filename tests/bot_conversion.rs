//! End to end: the real dispatcher (`app::run`) long-polling a fake Bot API server, converting
//! through a fake veapi. Each test asserts what the user saw and what upstream received.

mod support;

use douyin_link_bot::tracking;
use serde_json::{json, Value};
use std::time::Duration;
use support::*;
use wiremock::ResponseTemplate;

const SHARE: &str = "9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】130g*10袋猫耳酥\n长按复制此条消息，打开抖音搜索，查看商品详情！";
const PASSWORD: &str = "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽";

async fn start(db: TestDb) -> Harness {
    Harness::start(db, &[]).await
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap()
}

on_both_backends! {
    #[tokio::test]
    async fn private_share_text_is_converted_with_the_users_tracking_value(db) {
        let h = start(db).await;
        share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;

        let msg_id = h.tg.push_text(&ALICE, SHARE);
        let sent = h.tg.wait_sent(1).await;

        let reply = &sent[0];
        assert_eq!(reply["chat_id"], ALICE.chat_id);
        assert_eq!(reply["parse_mode"], "HTML");
        assert_eq!(reply["reply_parameters"]["message_id"], msg_id);
        assert!(
            text(reply).contains(&format!("<code>{PASSWORD}</code>")),
            "{}",
            text(reply)
        );

        let calls = share_calls(&h.veapi).await;
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["productUrl"], "https://v.douyin.com/i2wDMRRN/");
        assert_eq!(calls[0]["external_info"], tracking::encode(ALICE.user_id));
        assert_eq!(
            tracking::decode(&calls[0]["external_info"]),
            Ok(ALICE.user_id)
        );
        assert!(!calls[0].contains_key("use_coupon"));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_message_without_reference_gets_a_hint_in_private(db) {
        let h = start(db).await;
        h.tg.push_text(
            &ALICE,
            "你好，在吗？https://www.douyin.com/video/6914948781100338440",
        );
        let sent = h.tg.wait_sent(1).await;
        assert!(text(&sent[0]).contains("没有在这条消息里找到抖音商品"));
        assert!(share_calls(&h.veapi).await.is_empty());
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_refusal_is_explained_in_plain_chinese_in_private(db) {
        let h = start(db).await;
        share_reply(
            &h.veapi,
            None,
            json_body("veapi/share_not_in_alliance.json"),
        )
        .await;
        h.tg.push_text(&ALICE, "3583117383482622604");
        let sent = h.tg.wait_sent(1).await;
        let t = text(&sent[0]);
        assert!(t.contains("没有加入抖音精选联盟"), "{t}");
        assert!(!t.contains("4132") && !t.contains("error"), "{t}");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn operator_side_failures_tell_the_user_nothing_about_the_operator(db) {
        let h = start(db).await;
        share_reply(&h.veapi, None, json_body("veapi/share_auth_expired.json")).await;
        h.tg.push_text(&ALICE, "3583117383482622604");
        let t = text(&h.tg.wait_sent(1).await[0]).to_string();
        assert!(t.contains("需要管理员处理"), "{t}");
        assert!(!t.contains("授权已过期") && !t.contains("10008"), "{t}");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn expired_authorization_on_conversion_alerts_admins_once_and_recovery_once(db) {
        const ADMIN: i64 = 9001;
        let h = Harness::start(db, &[("ADMIN_USER_IDS", "9001")]).await;
        share_reply(&h.veapi, None, json_body("veapi/share_auth_expired.json")).await;
        h.tg.push_text(&ALICE, "3583117383482622604");
        h.tg.push_text(&ALICE, "3605331890120301327");
        h.tg.wait_for(2, |m| m["chat_id"] == ALICE.chat_id).await;
        let alert = h.tg.wait_for(1, |m| m["chat_id"] == ADMIN).await;
        assert!(
            text(&alert[0]).contains("授权已失效"),
            "{}",
            text(&alert[0])
        );

        // Re-authorized: the next conversion works and the admin hears it is over.
        h.veapi.reset().await;
        share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;
        h.tg.push_text(&ALICE, "3583117383482622604");
        let admin = h.tg.wait_for(2, |m| m["chat_id"] == ADMIN).await;
        assert!(text(&admin[1]).contains("已恢复"), "{}", text(&admin[1]));
        assert_eq!(h.tg.sent_to(ADMIN).len(), 2, "two failures, one alert");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn groups_get_replies_only_for_converted_references(db) {
        let h = start(db).await;
        share_reply(
            &h.veapi,
            Some("3822261619291980270"),
            json_body("veapi/share_not_in_alliance.json"),
        )
        .await;
        share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;

        // Updates of one chat are handled in order, so the last message's reply proves the
        // earlier ones were handled and answered nothing.
        h.tg.push_text(&ALICE_IN_GROUP, "大家好，今天有什么好物推荐？");
        h.tg.push_text(&ALICE_IN_GROUP, "商品ID: 3822261619291980270");
        h.tg.push_text(&ALICE_IN_GROUP, "7.43 pda:/ 让你在几秒钟之内记住我  https://v.douyin.com/L5pbfdP/ 复制此链接，打开Dou音搜索，直接观看视频！");
        let with_ref = h.tg.push_text(&ALICE_IN_GROUP, &format!("冲！{SHARE}"));

        let sent = h.tg.wait_sent(1).await;
        // Nothing more comes from those four messages once a later one is answered.
        h.tg.settle(&ALICE_IN_GROUP).await;
        let sent_after = h.tg.replies();
        assert_eq!(sent_after.len(), 1, "{sent_after:#?}");
        assert_eq!(sent[0]["chat_id"], ALICE_IN_GROUP.chat_id);
        assert_eq!(sent[0]["reply_parameters"]["message_id"], with_ref);
        assert!(text(&sent[0]).contains(PASSWORD));
        // The video share reached no upstream; the refused product did, silently.
        let urls: Vec<String> = share_calls(&h.veapi)
            .await
            .into_iter()
            .map(|c| c["productUrl"].clone())
            .collect();
        assert_eq!(urls.len(), 2, "{urls:?}");
        assert!(urls.contains(&"3822261619291980270".to_string()));
        assert!(urls.contains(&"https://v.douyin.com/i2wDMRRN/".to_string()));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn colonel_links_are_converted_with_use_coupon_and_show_the_coupon_password(db) {
        let h = start(db).await;
        share_reply(&h.veapi, None, json_body("veapi/share_coupon.json")).await;
        let link = "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=3605331890120301327&ins_activity_param=A7b3DEe&origin_type=pc_buyin_group&pick_source=Dr4gK3C";
        h.tg.push_text(&ALICE, &format!("团长链接：{link}"));
        let t = text(&h.tg.wait_sent(1).await[0]).to_string();
        assert!(t.contains("领券口令"), "{t}");
        assert!(
            t.contains("<code>长按覆[呲牙]zhi此条消息,咑[玫瑰]搜[烟花],查看商品详情Ig9FOHrrl8</code>"),
            "{t}"
        );
        let calls = share_calls(&h.veapi).await;
        assert_eq!(calls[0]["productUrl"], link);
        assert_eq!(calls[0]["use_coupon"], "true");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn hidden_text_links_and_captions_count(db) {
        let h = start(db).await;
        share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;
        // "点这里" is 3 UTF-16 units.
        h.tg.push_message(
            &ALICE,
            json!({
                "caption": "点这里 领券",
                "photo": [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}],
                "caption_entities": [{"type": "text_link", "offset": 0, "length": 3, "url": "https://v.douyin.com/Ay1Q2QU/"}]
            }),
        );
        h.tg.wait_sent(1).await;
        let calls = share_calls(&h.veapi).await;
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["productUrl"], "https://v.douyin.com/Ay1Q2QU/");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn several_references_are_all_converted_in_one_reply(db) {
        let h = start(db).await;
        share_reply(
            &h.veapi,
            Some("3583117383482622604"),
            json_body("veapi/share_ok.json"),
        )
        .await;
        share_reply(
            &h.veapi,
            None,
            json_body("veapi/share_not_in_alliance.json"),
        )
        .await;
        h.tg.push_text(
            &ALICE,
            "第一个 3583117383482622604\n第二个 https://haohuo.jinritemai.com/views/product/item2?id=3455938529937469044",
        );
        let t = text(&h.tg.wait_sent(1).await[0]).to_string();
        assert!(t.contains("商品 1") && t.contains("商品 2"), "{t}");
        assert!(t.contains(PASSWORD), "{t}");
        assert!(t.contains("没有加入抖音精选联盟"), "{t}");
        assert_eq!(share_calls(&h.veapi).await.len(), 2);
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_repeat_by_the_same_user_is_answered_from_the_store(db) {
        let h = start(db).await;
        share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;
        h.tg.push_text(&ALICE, "3583117383482622604");
        h.tg.push_text(&ALICE, "再来一次 3583117383482622604");
        h.tg.push_text(&BOB, "3583117383482622604");
        let sent = h.tg.wait_sent(3).await;
        for m in &sent {
            assert!(text(m).contains(PASSWORD));
        }
        let calls = share_calls(&h.veapi).await;
        // Alice once (the repeat came from the store), Bob once with his own tracking value.
        assert_eq!(calls.len(), 2, "{calls:?}");
        let infos: Vec<&str> = calls.iter().map(|c| c["external_info"].as_str()).collect();
        assert!(infos.contains(&tracking::encode(ALICE.user_id).as_str()));
        assert!(infos.contains(&tracking::encode(BOB.user_id).as_str()));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_slow_conversion_does_not_hold_up_other_chats(db) {
        let h = start(db).await;
        share_reply(
            &h.veapi,
            Some("3583117383482622604"),
            json_body("veapi/share_ok.json").set_delay(Duration::from_millis(1500)),
        )
        .await;
        share_reply(&h.veapi, None, json_body("veapi/share_coupon.json")).await;
        h.tg.push_text(&ALICE, "3583117383482622604");
        h.tg.push_text(&BOB, "3605331890120301327");
        let first = h.tg.wait_sent(1).await;
        assert_eq!(first[0]["chat_id"], BOB.chat_id, "Bob waited behind Alice");
        let both = h.tg.wait_sent(2).await;
        assert_eq!(both[1]["chat_id"], ALICE.chat_id);
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_429_from_telegram_is_retried_after_retry_after(db) {
        let h = start(db).await;
        share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;
        h.tg.fail_next_sends(vec![ResponseTemplate::new(429).set_body_json(json!({
            "ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1}
        }))]);
        let started = std::time::Instant::now();
        h.tg.push_text(&ALICE, "3583117383482622604");
        let sent = h.tg.wait_sent(1).await;
        assert!(text(&sent[0]).contains(PASSWORD));
        assert_eq!(h.tg.send_attempts(), 2);
        assert!(started.elapsed() >= Duration::from_millis(900));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn start_and_help_answer_in_chinese(db) {
        let h = start(db).await;
        h.tg.push_text(&ALICE, "/start from_channel_42");
        h.tg.push_text(&ALICE_IN_GROUP, "/help@dy_link_bot");
        let sent = h.tg.wait_sent(2).await;
        let by_chat = |id: i64| sent.iter().find(|m| m["chat_id"] == id).unwrap();
        assert!(text(by_chat(ALICE.chat_id)).contains("把抖音商品链接"));
        assert!(text(by_chat(ALICE_IN_GROUP.chat_id)).contains("使用说明"));
        assert!(share_calls(&h.veapi).await.is_empty());
        h.bot.stop().await;
    }
}

on_both_backends! {
    /// Order news for a user who never opened a private chat: the group where they converted
    /// hears only that there is news, with a link that opens the private chat (`/start orders`);
    /// the user's /start brings the whole message, privately. With an allow-list that does not
    /// list private chats, /start still hands the news over (and gets no other answer).
    #[tokio::test]
    async fn order_news_held_for_a_user_who_never_opened_the_bot_arrives_on_start(db) {
        for allow_list in [false, true] {
            let tg = FakeTelegram::start().await;
            let veapi = wiremock::MockServer::start().await;
            // A fresh store for each round, as each round starts a fresh bot.
            let db = db.fresh().await;
            let group = ALICE_IN_GROUP.chat_id.to_string();
            let extra: Vec<(&str, &str)> = if allow_list {
                vec![("ALLOWED_CHAT_IDS", &group)]
            } else {
                vec![]
            };
            let config = config_with(&tg, &veapi, &db, &extra);
            let mut tuning = douyin_link_bot::app::Tuning::from_config(&config);
            tuning.notifier.idle_poll = Duration::from_millis(50);
            let bot = RunningBot::start_tuned(config, tuning);
            share_reply(&veapi, None, json_body("veapi/share_ok.json")).await;
            tg.fail_chat(ALICE.chat_id, not_started());

            // Alice converts in the group; an order comes in through her link.
            tg.push_text(&ALICE_IN_GROUP, SHARE);
            tg.wait_for(1, |m| m["chat_id"] == ALICE_IN_GROUP.chat_id)
                .await;
            let order: douyin_link_bot::veapi::Order = serde_json::from_value(order_json(
                "7001",
                &tracking::encode(ALICE.user_id),
                "PAY_SUCC",
                "2026-11-22 10:00:00",
            ))
            .unwrap();
            let store = douyin_link_bot::store::Store::open(db.url())
                .await
                .unwrap();
            store
                .ingest_page(
                    &[douyin_link_bot::store::IngestOrder {
                        order: &order,
                        user_id: Some(ALICE.user_id),
                        notices: douyin_link_bot::poller::notices(&order),
                    }],
                    0,
                )
                .await
                .unwrap();

            let in_group = tg
                .wait_for(2, |m| m["chat_id"] == ALICE_IN_GROUP.chat_id)
                .await;
            let notice = text(&in_group[1]);
            assert!(
                notice.contains(r#"<a href="https://t.me/dy_link_bot?start=orders">"#),
                "{notice}"
            );
            assert!(notice.contains("tg://user?id=1001"), "{notice}");
            assert!(
                !notice.contains('¥') && !notice.contains("7001"),
                "{notice}"
            );
            assert!(tg.sent_to(ALICE.chat_id).is_empty());

            // Alice follows the link: Telegram opens the private chat and sends /start orders.
            tg.clear_chat_failure(ALICE.chat_id);
            tg.push_text(&ALICE, "/start orders");
            let news = tg
                .wait_for(1, |m| {
                    m["chat_id"] == ALICE.chat_id && text(m).contains("7001")
                })
                .await;
            assert!(text(&news[0]).contains("¥21.00"), "{news:#?}");
            if !allow_list {
                let welcome = tg.sent_to(ALICE.chat_id);
                assert!(
                    text(&welcome[0]).contains("你好"),
                    "welcome first: {welcome:#?}"
                );
            } else {
                assert_eq!(tg.sent_to(ALICE.chat_id).len(), 1, "only the news");
            }
            store.close().await;
            bot.stop().await;
        }
    }
}
