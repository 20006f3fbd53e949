//! Abuse controls end to end: the per-user conversion limit, the chat allow-list, and the
//! operator-only `/stats`.

mod support;

use douyin_link_bot::tracking;
use serde_json::{json, Value};
use support::*;
use wiremock::MockServer;

const ADMIN: Sender = Sender {
    user_id: 9001,
    chat_id: 9001,
};

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

async fn start(db: TestDb, extra: &[(&str, &str)]) -> Harness {
    let h = Harness::start(db, extra).await;
    share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;
    h
}

/// Distinct product ids, so the conversion cache never answers in the limiter's place.
fn product(n: u64) -> String {
    (3_583_117_383_482_622_000 + n).to_string()
}

async fn calls_by(veapi: &MockServer, user_id: u64) -> usize {
    let ours = tracking::encode(user_id);
    share_calls(veapi)
        .await
        .iter()
        .filter(|c| c["external_info"] == ours)
        .count()
}

on_both_backends! {
    #[tokio::test]
    async fn a_flooding_user_gets_one_polite_answer_then_silence_and_others_are_unaffected(db) {
        let Harness {
            tg,
            veapi,
            bot,
            db: _db,
        } = start(db, &[("USER_RATE_LIMIT", "3")]).await;
        // Two products, then two more (only one fits), then more messages over the limit.
        tg.push_text(&ALICE, &format!("{} {}", product(1), product(2)));
        tg.push_text(&ALICE, &format!("{} {}", product(3), product(4)));
        tg.push_text(&ALICE, &product(5));
        tg.push_text(&ALICE, &product(6));
        tg.push_text(&BOB, &product(7));

        let to_alice = tg.wait_for(2, |m| m["chat_id"] == ALICE.chat_id).await;
        tg.wait_for(1, |m| m["chat_id"] == BOB.chat_id).await;
        // Every message Alice sent before has been handled once a later one is answered.
        tg.settle(&ALICE).await;
        let to_alice_now = tg.replies_to(ALICE.chat_id);
        assert_eq!(
            to_alice_now.len(),
            2,
            "silence after the one answer: {to_alice_now:#?}"
        );
        assert_eq!(text(&to_alice[0]).matches("<code>").count(), 2);
        let second = text(&to_alice[1]);
        assert_eq!(second.matches("<code>").count(), 1, "{second}");
        assert!(
            second.contains("发得太快了，其余的商品没有转换"),
            "{second}"
        );
        assert_eq!(
            calls_by(&veapi, ALICE.user_id).await,
            3,
            "no upstream call over the limit"
        );
        assert_eq!(calls_by(&veapi, BOB.user_id).await, 1);
        assert!(text(&tg.sent_to(BOB.chat_id)[0]).contains("<code>"));
        bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn with_an_allow_list_other_chats_get_nothing_and_cost_nothing(db) {
        let Harness {
            tg,
            veapi,
            bot,
            db,
        } = start(db, &[
            ("ALLOWED_CHAT_IDS", &ALICE_IN_GROUP.chat_id.to_string()),
            ("ADMIN_USER_IDS", "9001"),
        ])
        .await;
        // The sentinel for Bob's chat, which gets no answers: order news of Bob's held until
        // he starts the bot (he blocked it). His private /start, last of his messages, hands it
        // over even outside the allow-list, so its arrival proves the messages before it were
        // handled. (The bot has migrated its store once it polls for updates.)
        while tg.first_get_updates().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let store = douyin_link_bot::store::Store::open(db.url())
            .await
            .unwrap();
        tg.fail_chat(BOB.chat_id, blocked());
        let notice = douyin_link_bot::store::Notice::text("sentinel", "sentinel");
        store
            .enqueue_private(&notice, BOB.user_id, 0)
            .await
            .unwrap();
        for row in store.due_outbox(i64::MAX, 10).await.unwrap() {
            store.hold(row.id, "test: blocked", None, 0).await.unwrap();
        }
        tg.clear_chat_failure(BOB.chat_id);

        tg.push_text(&BOB, &product(1));
        tg.push_text(&BOB, "hello");
        tg.push_text(&BOB, "/help");
        tg.push_text(&ALICE_IN_GROUP, &product(2));
        // The operator's own private chat always works, allow-list or not.
        tg.push_text(&ADMIN, "/stats");
        tg.push_text(&BOB, "/start");

        tg.wait_for(1, |m| m["chat_id"] == ALICE_IN_GROUP.chat_id)
            .await;
        let stats = tg.wait_for(1, |m| m["chat_id"] == ADMIN.chat_id).await;
        assert!(text(&stats[0]).contains("运行概况"));
        tg.wait_for(1, |m| m["chat_id"] == BOB.chat_id).await;
        let to_bob = tg.sent_to(BOB.chat_id);
        assert_eq!(to_bob.len(), 1, "only the held news: {to_bob:#?}");
        assert_eq!(text(&to_bob[0]), "sentinel");
        store.close().await;
        assert_eq!(calls_by(&veapi, BOB.user_id).await, 0);
        assert_eq!(calls_by(&veapi, ALICE.user_id).await, 1);
        bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn stats_answer_operators_in_private_and_nobody_else(db) {
        let Harness {
            tg,
            veapi: _veapi,
            bot,
            db: _db,
        } = start(db, &[("ADMIN_USER_IDS", "9001")]).await;
        tg.push_text(&ALICE, &product(1));
        tg.wait_sent(1).await;
        tg.push_text(&ALICE, "/stats");
        tg.push_text(&ALICE_IN_GROUP, "/stats");
        // The operator asking in a group is answered privately: the figures are not the group's.
        let admin_in_group = Sender {
            user_id: ADMIN.user_id,
            chat_id: ALICE_IN_GROUP.chat_id,
        };
        tg.push_text(&admin_in_group, "/stats@dy_link_bot");
        // The text, then the chart (tests/stats_chart.rs).
        let stats = tg.wait_for(2, |m| m["chat_id"] == ADMIN.chat_id).await;
        assert_eq!(stats[1]["method"], "sendPhoto");
        let t = text(&stats[0]);
        assert!(
            t.contains("用户：1") && t.contains("转链：1（24 小时内 1）"),
            "{t}"
        );
        assert!(t.contains("上游状态：正常"), "{t}");
        tg.settle(&ALICE).await;
        tg.settle(&ALICE_IN_GROUP).await;
        assert_eq!(tg.replies_to(ALICE.chat_id).len(), 1, "only the conversion");
        assert!(tg.replies_to(ALICE_IN_GROUP.chat_id).is_empty());
        assert_eq!(tg.replies().len(), 3, "the conversion, the stats and their chart");
        bot.stop().await;
    }
}

on_both_backends! {
    /// The operator listed a group's id; the group became a supergroup. Telegram tells the bot
    /// with a service message in the old group (`migrate_to_chat_id`) and one in the new
    /// supergroup (`migrate_from_chat_id`), fields of Bot API `Message`; either is enough for the
    /// supergroup to stay served, and for order news to follow the conversions made there.
    #[tokio::test]
    async fn a_group_that_became_a_supergroup_stays_on_the_allow_list(db) {
        const OLD: i64 = -4242;
        const NEW: i64 = -1_009_999_000_001;
        for service_in_new_chat in [false, true] {
            // A fresh store for each round, as each round starts a fresh bot.
            let h = start(db.fresh().await, &[("ALLOWED_CHAT_IDS", &OLD.to_string())]).await;
            let in_old = Sender {
                user_id: ALICE.user_id,
                chat_id: OLD,
            };
            let in_new = Sender {
                user_id: ALICE.user_id,
                chat_id: NEW,
            };
            let old_group = json!({"id": OLD, "type": "group", "title": "Deals"});
            h.tg.push_message(&in_old, json!({"chat": old_group, "text": product(1)}));
            h.tg.wait_for(1, |m| m["chat_id"] == OLD).await;
            if service_in_new_chat {
                h.tg.push_message(&in_new, json!({"migrate_from_chat_id": OLD}));
            } else {
                h.tg.push_message(
                    &in_old,
                    json!({"chat": old_group, "migrate_to_chat_id": NEW}),
                );
                // Handled in order with the old group's messages: this reply proves it was seen.
                h.tg.push_message(&in_old, json!({"chat": old_group, "text": product(2)}));
                h.tg.wait_for(2, |m| m["chat_id"] == OLD).await;
            }
            h.tg.push_text(&in_new, &product(3));
            let reply = h.tg.wait_for(1, |m| m["chat_id"] == NEW).await;
            assert!(text(&reply[0]).contains("<code>"), "{reply:#?}");

            let store = douyin_link_bot::store::Store::open(h.db.url())
                .await
                .unwrap();
            let (chat, _) = store
                .fallback_chat(ALICE.user_id, None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(chat, NEW, "order news follows the group");
            store.close().await;
            h.bot.stop().await;
        }
    }
}
