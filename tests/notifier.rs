//! The notifier: outbox rows through the real (paced) teloxide bot to a fake Bot API
//! server that scripts 429s, blocked users, migrations and failures.

mod support;

use douyin_link_bot::notify::{
    GroupFallback, Messenger, Notifier, NotifierSettings, Patience, SendError,
};
use douyin_link_bot::secret::Secret;
use douyin_link_bot::store::{NewConversion, Notice, Store};
use douyin_link_bot::telegram;
use douyin_link_bot::veapi::ShareLink;
use futures::future::BoxFuture;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::sync::{watch, Notify};
use wiremock::ResponseTemplate;

struct Setup {
    tg: FakeTelegram,
    messenger: Arc<dyn Messenger>,
    store: Store,
    notifier: Notifier,
    shutdown: watch::Receiver<bool>,
    _stop: watch::Sender<bool>,
    _db: TestDb,
}

async fn setup(db: TestDb, settings: NotifierSettings) -> Setup {
    let tg = FakeTelegram::start().await;
    let store = Store::open(db.url()).await.unwrap();
    let bot = telegram::bot(&Secret::new(BOT_TOKEN), tg.server.uri().parse().unwrap()).unwrap();
    let messenger: Arc<dyn Messenger> = Arc::new(telegram::Telegram::new(bot));
    let notifier = Notifier::new(
        store.clone(),
        messenger.clone(),
        Arc::new(Notify::new()),
        settings,
    );
    let (stop, shutdown) = watch::channel(false);
    Setup {
        tg,
        messenger,
        store,
        notifier,
        shutdown,
        _stop: stop,
        _db: db,
    }
}

fn fast() -> NotifierSettings {
    NotifierSettings {
        max_attempts: 2,
        base_backoff: Duration::from_millis(10),
        ..NotifierSettings::default()
    }
}

async fn enqueue(store: &Store, key: &str, user_id: u64, text: &str, fallback: bool) {
    let notice = Notice::text(key, text);
    if fallback {
        // Order news goes through ingest in production; enqueue_private is the same table
        // without the group fallback, so use a converted order's path here.
        let order: douyin_link_bot::veapi::Order = serde_json::from_value(order_json(
            key,
            &douyin_link_bot::tracking::encode(user_id),
            "PAY_SUCC",
            "2026-11-22 10:00:00",
        ))
        .unwrap();
        store
            .ingest_page(
                &[douyin_link_bot::store::IngestOrder {
                    order: &order,
                    user_id: Some(user_id),
                    notices: vec![notice],
                }],
                0,
            )
            .await
            .unwrap();
    } else {
        store.enqueue_private(&notice, user_id, 0).await.unwrap();
    }
}

async fn converted_in_group(store: &Store, user_id: u64, chat_id: i64, name: &str) {
    converted_product_in_group(store, user_id, chat_id, name, "3583117383482622604", 1).await
}

async fn converted_product_in_group(
    store: &Store,
    user_id: u64,
    chat_id: i64,
    name: &str,
    product_id: &str,
    at: i64,
) {
    let link = ShareLink {
        dy_password: "口令".into(),
        share_link: Some(format!(
            "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id={product_id}"
        )),
        dy_deeplink: None,
        dy_zlink: None,
        coupon: None,
    };
    store
        .record_conversion(&NewConversion {
            user_id,
            user_name: Some(name),
            chat_id,
            product_key: "3583117383482622604",
            external_info: "x",
            link: &link,
            created_at: at,
        })
        .await
        .unwrap();
}

on_both_backends! {
    #[tokio::test]
    async fn a_row_is_sent_once_and_marked(db) {
        let s = setup(db, fast()).await;
        enqueue(&s.store, "k1", ALICE.user_id, "🛒 新订单", true).await;
        assert_eq!(s.notifier.drain_once(&s.shutdown).await.unwrap(), 1);
        assert_eq!(s.notifier.drain_once(&s.shutdown).await.unwrap(), 0);
        let sent = s.tg.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["chat_id"], ALICE.chat_id);
        assert_eq!(sent[0]["text"], "🛒 新订单");
        assert_eq!(sent[0]["parse_mode"], "HTML");
        let (status, _, chat) = s.store.outbox_status("k1").await.unwrap().unwrap();
        assert_eq!((status.as_str(), chat), ("sent", Some(ALICE.chat_id)));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_429_is_honoured_and_the_row_delivered_once(db) {
        let s = setup(db, fast()).await;
        s.tg.fail_next_sends(vec![ResponseTemplate::new(429).set_body_json(json!({
            "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1}
        }))]);
        enqueue(&s.store, "k429", ALICE.user_id, "hello", true).await;
        let started = std::time::Instant::now();
        // The row is put back until retry_after is over, without counting as a failure.
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(s.tg.send_attempts(), 1);
        let (status, error, _) = s.store.outbox_status("k429").await.unwrap().unwrap();
        assert_eq!(status, "pending");
        assert!(error.unwrap_or_default().contains("rate limited"));
        while s.store.outbox_counts().await.unwrap().sent == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "never delivered"
            );
            s.notifier.drain_once(&s.shutdown).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(started.elapsed() >= Duration::from_millis(900));
        assert_eq!(s.tg.send_attempts(), 2);
        assert_eq!(s.tg.sent().len(), 1);
        assert_eq!(s.store.outbox_counts().await.unwrap().sent, 1);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn with_amounts_on_a_user_who_never_opened_the_bot_is_told_everything_in_the_group(db) {
        let s = setup(db, fast()).await;
        let notifier = Notifier::new(
            s.store.clone(),
            s.messenger.clone(),
            Arc::new(Notify::new()),
            fast(),
        )
        .with_group_fallback(GroupFallback {
            amounts: true,
            ..GroupFallback::default()
        });
        converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
        s.tg.fail_chat(ALICE.chat_id, not_started());
        enqueue(&s.store, "kb", ALICE.user_id, "🛒 <b>新订单</b>", true).await;
        notifier.drain_once(&s.shutdown).await.unwrap();

        assert!(s.tg.sent_to(ALICE.chat_id).is_empty());
        let group = s.tg.sent_to(ALICE_IN_GROUP.chat_id);
        assert_eq!(group.len(), 1);
        let text = group[0]["text"].as_str().unwrap();
        assert!(
            text.contains(r#"<a href="tg://user?id=1001">@alice</a>"#),
            "{text}"
        );
        assert!(text.ends_with("🛒 <b>新订单</b>"), "{text}");
        let (status, _, chat) = s.store.outbox_status("kb").await.unwrap().unwrap();
        assert_eq!(
            (status.as_str(), chat),
            ("sent", Some(ALICE_IN_GROUP.chat_id))
        );
    }
}

on_both_backends! {
    #[tokio::test]
    async fn the_fallback_is_the_group_where_that_product_was_converted(db) {
        let s = setup(db, fast()).await;
        // order_json's product is 3583117383482622604, converted in group -1; a later, other
        // product in group -2.
        converted_product_in_group(
            &s.store,
            ALICE.user_id,
            -1,
            "Alice",
            "3583117383482622604",
            10,
        )
        .await;
        converted_product_in_group(
            &s.store,
            ALICE.user_id,
            -2,
            "Alice",
            "3605331890120301327",
            20,
        )
        .await;
        s.tg.fail_chat(ALICE.chat_id, not_started());
        enqueue(&s.store, "kp", ALICE.user_id, "news", true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(s.tg.sent_to(-1).len(), 1);
        assert!(s.tg.sent_to(-2).is_empty());
    }
}

on_both_backends! {
    #[tokio::test]
    async fn an_unreachable_user_without_a_group_is_parked_and_does_not_block_the_queue(db) {
        let s = setup(db, fast()).await;
        s.tg.fail_chat(ALICE.chat_id, not_started());
        enqueue(&s.store, "k-alice", ALICE.user_id, "for alice", true).await;
        enqueue(&s.store, "k-bob", BOB.user_id, "for bob", true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();

        let (status, reason, _) = s.store.outbox_status("k-alice").await.unwrap().unwrap();
        assert_eq!(status, "parked");
        assert!(reason.unwrap().contains("no group to fall back to"));
        assert_eq!(s.tg.sent_to(BOB.chat_id).len(), 1);
        // Parked rows are never tried again.
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(s.tg.sent().len(), 1);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn operator_alerts_never_fall_back_to_a_group(db) {
        let s = setup(db, fast()).await;
        converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
        s.tg.fail_chat(ALICE.chat_id, blocked());
        enqueue(&s.store, "alert", ALICE.user_id, "授权已失效", false).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert!(s.tg.sent().is_empty());
        assert_eq!(s.store.outbox_counts().await.unwrap().parked, 1);
    }
}

/// Answers sends from a script, for the retry policy without Telegram's own delays.
struct Scripted(std::sync::Mutex<Vec<Result<(), SendError>>>);

impl Messenger for Scripted {
    fn send<'a>(
        &'a self,
        _chat: i64,
        _html: &'a str,
        _patience: &'a Patience,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        let next = self.0.lock().unwrap().pop().unwrap_or(Ok(()));
        Box::pin(async move { next })
    }
}

on_both_backends! {
    #[tokio::test]
    async fn transient_failures_back_off_then_park_with_their_reason(db) {
        let s = setup(db, fast()).await;
        let script = vec![
            Err(SendError::Transient("Internal Server Error".into())),
            Err(SendError::Transient("Internal Server Error".into())),
        ];
        // Due times are whole seconds: a 2 s backoff is still ahead at the next drain however
        // the clock's second turns over in between.
        let notifier = Notifier::new(
            s.store.clone(),
            Arc::new(Scripted(std::sync::Mutex::new(script))),
            Arc::new(Notify::new()),
            NotifierSettings {
                base_backoff: Duration::from_secs(2),
                ..fast()
            },
        );
        enqueue(&s.store, "k500", ALICE.user_id, "hello", true).await;

        notifier.drain_once(&s.shutdown).await.unwrap();
        let (status, reason, _) = s.store.outbox_status("k500").await.unwrap().unwrap();
        assert_eq!(status, "pending");
        assert_eq!(reason.as_deref(), Some("Internal Server Error"));
        // Not due yet: nothing is tried in the meantime.
        assert_eq!(notifier.drain_once(&s.shutdown).await.unwrap(), 0);

        tokio::time::sleep(Duration::from_millis(2100)).await;
        notifier.drain_once(&s.shutdown).await.unwrap();
        let (status, reason, _) = s.store.outbox_status("k500").await.unwrap().unwrap();
        assert_eq!(status, "parked");
        assert!(reason.unwrap().starts_with("gave up after 2 attempts"));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn rate_limits_do_not_count_toward_parking(db) {
        let s = setup(db, fast()).await;
        let script = vec![
            Ok(()),
            Err(SendError::RetryAfter(Duration::from_secs(1))),
            Err(SendError::RetryAfter(Duration::from_secs(1))),
        ];
        let notifier = Notifier::new(
            s.store.clone(),
            Arc::new(Scripted(std::sync::Mutex::new(script))),
            Arc::new(Notify::new()),
            fast(),
        );
        enqueue(&s.store, "kra", ALICE.user_id, "hello", true).await;
        for _ in 0..3 {
            notifier.drain_once(&s.shutdown).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1050)).await;
        }
        let (status, _, _) = s.store.outbox_status("kra").await.unwrap().unwrap();
        assert_eq!(
            status, "sent",
            "two 429s must not park a row that allows two failures"
        );
    }
}

on_both_backends! {
    /// Slow on purpose: teloxide waits 10 s after any Telegram 5xx before returning it.
    #[tokio::test]
    async fn a_telegram_5xx_is_retried_and_delivered_once(db) {
        let s = setup(db, NotifierSettings {
            max_attempts: 5,
            ..fast()
        })
        .await;
        s.tg.fail_next_sends(vec![
            ResponseTemplate::new(502).set_body_string("Bad Gateway")
        ]);
        enqueue(&s.store, "k502", ALICE.user_id, "hello", true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(s.tg.sent().len(), 1);
        assert_eq!(s.store.outbox_counts().await.unwrap().sent, 1);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_group_migrated_to_a_supergroup_is_followed(db) {
        let s = setup(db, fast()).await;
        converted_in_group(&s.store, ALICE.user_id, -4242, "Alice").await;
        s.tg.fail_chat(ALICE.chat_id, not_started());
        s.tg.fail_chat(-4242, migrated_to(-1_009_999));
        enqueue(&s.store, "kmig", ALICE.user_id, "hello", true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(s.tg.sent_to(-1_009_999).len(), 1);
        assert_eq!(
            s.store
                .fallback_chat(ALICE.user_id, None)
                .await
                .unwrap()
                .unwrap()
                .0,
            -1_009_999
        );
    }
}

/// An order message as the poller writes it: with the amounts.
const ORDER_TEXT: &str = "🛒 <b>新订单</b>\n猫耳酥\n实付金额：¥21.00\n预估佣金：¥4.20";

on_both_backends! {
    #[tokio::test]
    async fn a_user_who_never_opened_the_bot_gets_a_notice_in_the_group_without_amounts(db) {
        let s = setup(db, fast()).await;
        converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
        s.tg.fail_chat(ALICE.chat_id, not_started());
        enqueue(&s.store, "kns", ALICE.user_id, ORDER_TEXT, true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();

        let group = s.tg.sent_to(ALICE_IN_GROUP.chat_id);
        assert_eq!(group.len(), 1, "{:#?}", s.tg.sent());
        let text = group[0]["text"].as_str().unwrap();
        assert!(
            text.contains(r#"<a href="tg://user?id=1001">@alice</a>"#),
            "{text}"
        );
        assert!(text.contains("私聊"), "{text}");
        for private in ["¥", "21.00", "4.20", "猫耳酥", "新订单"] {
            assert!(
                !text.contains(private),
                "{private} shown in the group: {text}"
            );
        }
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_user_who_blocked_the_bot_is_never_announced_in_a_group(db) {
        let s = setup(db, fast()).await;
        converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
        s.tg.fail_chat(ALICE.chat_id, blocked());
        enqueue(&s.store, "kbl", ALICE.user_id, ORDER_TEXT, true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();

        assert!(s.tg.sent().is_empty(), "{:#?}", s.tg.sent());
        let (status, reason, _) = s.store.outbox_status("kbl").await.unwrap().unwrap();
        assert_eq!(status, "parked");
        assert!(reason.unwrap().contains("blocked"));
    }
}

on_both_backends! {
    /// Every refusal Telegram words today ends the row's attempts at once (no ten minutes of
    /// retries) and only those meaning "never opened a private chat" reach the group.
    #[tokio::test]
    async fn todays_refusals_of_a_private_chat_are_understood_at_once(db) {
        let cases: &[(u16, &str, bool)] = &[
            (
                403,
                "Forbidden: bot can't initiate conversation with a user",
                true,
            ),
            (403, "Forbidden: bot was blocked by the user", false),
            (403, "Forbidden: user is deactivated", false),
            (403, "Forbidden: bot can't send messages to bots", false),
            // Telegram's answer for someone it only saw in a group (tdlib/telegram-bot-api#219).
            (400, "Bad Request: chat not found", true),
            (400, "Bad Request: PEER_ID_INVALID", true),
            (
                400,
                "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3",
                false,
            ),
        ];
        for (status, description, to_group) in cases {
            // A fresh store for each case.
            let s = setup(db.fresh().await, NotifierSettings {
                max_attempts: 5,
                ..fast()
            })
            .await;
            converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
            s.tg.fail_chat(ALICE.chat_id, refusal(*status, description));
            enqueue(&s.store, "k", ALICE.user_id, ORDER_TEXT, true).await;
            s.notifier.drain_once(&s.shutdown).await.unwrap();

            let (row, reason, _) = s.store.outbox_status("k").await.unwrap().unwrap();
            assert_ne!(row, "pending", "{description}: retried ({reason:?})");
            assert_eq!(
                s.tg.sent_to(ALICE_IN_GROUP.chat_id).len(),
                usize::from(*to_group),
                "{description}"
            );
            assert_eq!(
                s.tg.send_attempts(),
                1 + usize::from(*to_group),
                "{description}"
            );
        }
    }
}

on_both_backends! {
    /// A group that refuses the notice (kicked, no right to write, closed topic) parks the row;
    /// it is not retried for ten minutes.
    #[tokio::test]
    async fn todays_refusals_of_a_group_chat_park_the_row(db) {
        let cases = [
            (403, "Forbidden: bot was kicked from the group chat"),
            (403, "Forbidden: bot was kicked from the supergroup chat"),
            (403, "Forbidden: the group chat was deleted"),
            (403, "Forbidden: bot is not a member of the supergroup chat"),
            (403, "Forbidden: bot is not a member of the channel chat"),
            (
                400,
                "Bad Request: not enough rights to send text messages to the chat",
            ),
            (400, "Bad Request: TOPIC_CLOSED"),
            (400, "Bad Request: chat not found"),
        ];
        for (status, description) in cases {
            // A fresh store for each case.
            let s = setup(db.fresh().await, NotifierSettings {
                max_attempts: 5,
                ..fast()
            })
            .await;
            converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
            s.tg.fail_chat(ALICE.chat_id, not_started());
            s.tg.fail_chat(ALICE_IN_GROUP.chat_id, refusal(status, description));
            enqueue(&s.store, "k", ALICE.user_id, ORDER_TEXT, true).await;
            s.notifier.drain_once(&s.shutdown).await.unwrap();
            let (row, reason, _) = s.store.outbox_status("k").await.unwrap().unwrap();
            assert_eq!(row, "parked", "{description}: {reason:?}");
            assert!(reason.unwrap().contains(description));
        }
    }
}

on_both_backends! {
    /// Held messages go out privately, whole, once the user starts the bot: the one who never
    /// opened a private chat (told in the group) and the one who had blocked it (told nowhere).
    #[tokio::test]
    async fn held_messages_are_delivered_privately_once_the_user_starts_the_bot(db) {
        let s = setup(db, fast()).await;
        converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
        converted_in_group(&s.store, BOB.user_id, ALICE_IN_GROUP.chat_id, "@bob").await;
        s.tg.fail_chat(ALICE.chat_id, not_started());
        s.tg.fail_chat(BOB.chat_id, blocked());
        enqueue(&s.store, "ka", ALICE.user_id, ORDER_TEXT, true).await;
        enqueue(&s.store, "kb", BOB.user_id, ORDER_TEXT, true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(
            s.tg.sent_to(ALICE_IN_GROUP.chat_id).len(),
            1,
            "Alice's notice only"
        );
        // Parked rows wait: draining again sends nothing.
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(s.tg.sent().len(), 1);

        s.tg.clear_chat_failure(ALICE.chat_id);
        s.tg.clear_chat_failure(BOB.chat_id);
        assert_eq!(s.store.release_held(ALICE.user_id, 0).await.unwrap(), 1);
        assert_eq!(s.store.release_held(BOB.user_id, 0).await.unwrap(), 1);
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        for (user, key) in [(ALICE.chat_id, "ka"), (BOB.chat_id, "kb")] {
            let private = s.tg.sent_to(user);
            assert_eq!(private.len(), 1);
            assert_eq!(private[0]["text"], ORDER_TEXT);
            let (status, _, chat) = s.store.outbox_status(key).await.unwrap().unwrap();
            assert_eq!((status.as_str(), chat), ("sent", Some(user)));
        }
        assert_eq!(s.store.release_held(ALICE.user_id, 0).await.unwrap(), 0);
    }
}

on_both_backends! {
    /// A new order and its refund in one poll: the group hears "open a private chat" once; both
    /// messages wait for the user's /start.
    #[tokio::test]
    async fn a_user_is_told_in_a_group_once_a_day_however_much_news_waits(db) {
        let s = setup(db, fast()).await;
        converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
        s.tg.fail_chat(ALICE.chat_id, not_started());
        enqueue(&s.store, "k1", ALICE.user_id, ORDER_TEXT, true).await;
        enqueue(&s.store, "k2", ALICE.user_id, "↩️ <b>订单已退款</b>", true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(s.tg.sent_to(ALICE_IN_GROUP.chat_id).len(), 1);
        assert_statuses(&s.store, &["k1", "k2"], "parked").await;
        s.tg.clear_chat_failure(ALICE.chat_id);
        assert_eq!(s.store.release_held(ALICE.user_id, 0).await.unwrap(), 2);
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(s.tg.sent_to(ALICE.chat_id).len(), 2);
    }
}

on_both_backends! {
    /// Telegram answers `Bad Request: chat not found` (400) for a user the bot only ever saw in
    /// a group (tdlib/telegram-bot-api#219, GroupButler#5): as good as never started.
    #[tokio::test]
    async fn chat_not_found_for_a_private_chat_gets_the_group_notice_without_amounts(db) {
        let s = setup(db, fast()).await;
        converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
        s.tg.fail_chat(ALICE.chat_id, refusal(400, "Bad Request: chat not found"));
        enqueue(&s.store, "kcnf", ALICE.user_id, ORDER_TEXT, true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();

        let group = s.tg.sent_to(ALICE_IN_GROUP.chat_id);
        assert_eq!(group.len(), 1, "{:#?}", s.tg.sent());
        let text = group[0]["text"].as_str().unwrap();
        assert!(text.contains("私聊"), "{text}");
        assert!(!text.contains("21.00"), "{text}");
        // Held (parked until /start).
        let (status, reason, _) = s.store.outbox_status("kcnf").await.unwrap().unwrap();
        assert_eq!(status, "parked");
        assert!(reason.unwrap().contains("chat not found"));
    }
}

on_both_backends! {
    /// A revoked token: teloxide turns Telegram's `{"ok":false,"error_code":401,
    /// "description":"Unauthorized"}` into `InvalidToken`. Nothing is parked for it: the row
    /// waits and is not counted as a failure.
    #[tokio::test]
    async fn a_revoked_token_parks_nothing(db) {
        let s = setup(db, NotifierSettings {
            max_attempts: 1,
            ..fast()
        })
        .await;
        s.tg.fail_chat(ALICE.chat_id, refusal(401, "Unauthorized"));
        enqueue(&s.store, "ktok", ALICE.user_id, "news", true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        let (status, reason, _) = s.store.outbox_status("ktok").await.unwrap().unwrap();
        assert_eq!(status, "pending", "{reason:?}");
        assert_eq!(s.store.outbox_counts().await.unwrap().parked, 0);
    }
}

const GROUP: i64 = -100_555;
const CAROL: u64 = 3003;
const DAVE: u64 = 4004;

fn text_of(m: &serde_json::Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

on_both_backends! {
    /// Carol never opened the bot and her group answers 502 (teloxide waits 10 s before it
    /// returns a 5xx): Bob's and Dave's news, queued after hers, arrive while hers is still
    /// being tried.
    #[tokio::test]
    async fn a_failing_group_does_not_hold_up_other_users(db) {
        let s = setup(db, fast()).await;
        converted_in_group(&s.store, CAROL, GROUP, "@carol").await;
        s.tg.fail_chat(CAROL as i64, not_started());
        s.tg.fail_chat(
            GROUP,
            ResponseTemplate::new(502).set_body_string("Bad Gateway"),
        );
        enqueue(&s.store, "kc", CAROL, "for carol", true).await;
        enqueue(&s.store, "kb", BOB.user_id, "for bob", true).await;
        enqueue(&s.store, "kd", DAVE, "for dave", true).await;
        let run = tokio::spawn(s.notifier.run(s.shutdown.clone()));

        s.tg.wait_for(1, |m| text_of(m) == "for bob").await;
        s.tg.wait_for(1, |m| text_of(m) == "for dave").await;
        // Carol's group attempt is under way (the lanes run side by side, so it may start
        // after Bob's and Dave's landed) and has not come back: nothing is recorded for it.
        s.tg.wait_attempts(GROUP, 1).await;
        assert_eq!(s.tg.attempts_to(GROUP), 1);
        let (status, error, _) = s.store.outbox_status("kc").await.unwrap().unwrap();
        assert_eq!((status.as_str(), error), ("pending", None));
        run.abort();
    }
}

on_both_backends! {
    /// A NEW whose first attempt failed (a 502) still arrives before the same order's REFUND.
    #[tokio::test]
    async fn news_then_refund_arrive_in_order_after_a_transient_failure(db) {
        let s = setup(db, fast()).await;
        s.tg.fail_next_sends(vec![
            ResponseTemplate::new(502).set_body_string("Bad Gateway")
        ]);
        enqueue(&s.store, "n", ALICE.user_id, "🛒 新订单", true).await;
        enqueue(&s.store, "r", ALICE.user_id, "↩️ 订单已退款", true).await;
        let run = tokio::spawn(s.notifier.run(s.shutdown.clone()));
        let sent = s.tg.wait_for(2, |m| m["chat_id"] == ALICE.chat_id).await;
        let texts: Vec<&str> = sent.iter().map(text_of).collect();
        assert_eq!(texts, ["🛒 新订单", "↩️ 订单已退款"]);
        assert_eq!(s.tg.attempts_to(ALICE.chat_id), 3);
        run.abort();
    }
}

on_both_backends! {
    /// Alice blocked the bot when her NEW came (held), then unblocked it without sending /start:
    /// when the REFUND comes, the NEW goes first.
    #[tokio::test]
    async fn a_held_news_goes_before_a_later_refund_when_the_user_unblocks(db) {
        let s = setup(db, fast()).await;
        s.tg.fail_chat(ALICE.chat_id, blocked());
        enqueue(&s.store, "n", ALICE.user_id, "🛒 新订单", true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        let (status, _, _) = s.store.outbox_status("n").await.unwrap().unwrap();
        assert_eq!(status, "parked");

        s.tg.clear_chat_failure(ALICE.chat_id);
        enqueue(&s.store, "r", ALICE.user_id, "↩️ 订单已退款", true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        let texts: Vec<String> =
            s.tg.sent_to(ALICE.chat_id)
                .iter()
                .map(|m| text_of(m).to_string())
                .collect();
        assert_eq!(texts, ["🛒 新订单", "↩️ 订单已退款"]);
        assert_statuses(&s.store, &["n", "r"], "sent").await;
    }
}

on_both_backends! {
    /// Alice never opened the bot: her NEW is held (the group told once); the REFUND that comes
    /// later waits behind it, the group is not told again, and /start delivers both in order.
    #[tokio::test]
    async fn a_refund_waits_behind_held_news_and_both_arrive_in_order_on_start(db) {
        let s = setup(db, fast()).await;
        converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
        s.tg.fail_chat(ALICE.chat_id, not_started());
        enqueue(&s.store, "n", ALICE.user_id, "🛒 新订单", true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        enqueue(&s.store, "r", ALICE.user_id, "↩️ 订单已退款", true).await;
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(s.tg.sent_to(ALICE_IN_GROUP.chat_id).len(), 1);
        assert_statuses(&s.store, &["n", "r"], "parked").await;

        s.tg.clear_chat_failure(ALICE.chat_id);
        assert_eq!(s.store.release_held(ALICE.user_id, 0).await.unwrap(), 2);
        s.notifier.drain_once(&s.shutdown).await.unwrap();
        let texts: Vec<String> =
            s.tg.sent_to(ALICE.chat_id)
                .iter()
                .map(|m| text_of(m).to_string())
                .collect();
        assert_eq!(texts, ["🛒 新订单", "↩️ 订单已退款"]);
    }
}

/// Every row named by `keys` is in `status`.
async fn assert_statuses(store: &Store, keys: &[&str], status: &str) {
    for key in keys {
        let (got, _, _) = store.outbox_status(key).await.unwrap().unwrap();
        assert_eq!(got, status, "{key}");
    }
}

/// Answers each send with the next scripted result (then `Ok`), and records the chat asked.
type Script = std::collections::VecDeque<Result<(), SendError>>;

struct Recorder(std::sync::Mutex<(Script, Vec<i64>)>);

impl Messenger for Recorder {
    fn send<'a>(
        &'a self,
        chat: i64,
        _html: &'a str,
        _patience: &'a Patience,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        let mut state = self.0.lock().unwrap();
        state.1.push(chat);
        let next = state.0.pop_front().unwrap_or(Ok(()));
        Box::pin(async move { next })
    }
}

on_both_backends! {
    /// A held message that was told in the group, then failed once on its retry (and so went
    /// back to pending), does not get the group told a second time that day.
    #[tokio::test]
    async fn a_notice_already_given_is_not_repeated_after_a_failed_retry(db) {
        let s = setup(db, NotifierSettings {
            max_attempts: 10,
            ..fast()
        })
        .await;
        let not_started = || {
            Err(SendError::NotStarted(
                "Forbidden: bot can't initiate conversation with a user".into(),
            ))
        };
        let recorder = Arc::new(Recorder(std::sync::Mutex::new((
            [
                not_started(),                                   // k1, private
                Ok(()),                                          // k1, the group notice
                Err(SendError::Transient("Bad Gateway".into())), // k1 again, when k2 falls due
                not_started(),                                   // k1, after its backoff
            ]
            .into(),
            Vec::new(),
        ))));
        let notifier = Notifier::new(
            s.store.clone(),
            recorder.clone(),
            Arc::new(Notify::new()),
            NotifierSettings {
                max_attempts: 10,
                ..fast()
            },
        );
        converted_in_group(&s.store, ALICE.user_id, ALICE_IN_GROUP.chat_id, "@alice").await;
        enqueue(&s.store, "k1", ALICE.user_id, ORDER_TEXT, true).await;
        notifier.drain_once(&s.shutdown).await.unwrap();
        enqueue(&s.store, "k2", ALICE.user_id, "↩️ <b>订单已退款</b>", true).await;
        notifier.drain_once(&s.shutdown).await.unwrap();
        assert_eq!(
            s.store.outbox_status("k1").await.unwrap().unwrap().0,
            "pending"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        notifier.drain_once(&s.shutdown).await.unwrap();

        let asked = recorder.0.lock().unwrap().1.clone();
        let group = ALICE_IN_GROUP.chat_id;
        assert_eq!(
            asked.iter().filter(|&&c| c == group).count(),
            1,
            "{asked:?}"
        );
        assert_statuses(&s.store, &["k1"], "parked").await;
    }
}
