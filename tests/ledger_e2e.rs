//! The rebate ledger end to end: an order that pays, settles, is paid out, then refunded,
//! with the message the user gets at each step and the balance after each; the operator's
//! /payout with its confirm button (pressed twice, pressed by another operator, refused
//! while the balance is negative). The real dispatcher, poller and notifier against the
//! loopback fakes.

mod support;

use douyin_link_bot::store::{LedgerKind, Store};
use douyin_link_bot::tracking;
use serde_json::Value;
use std::time::Duration;
use support::*;
use wiremock::MockServer;

const OPERATOR: Sender = Sender {
    user_id: 7001,
    chat_id: 7001,
};
const OTHER_OPERATOR: Sender = Sender {
    user_id: 7002,
    chat_id: 7002,
};

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

fn to(chat: &Sender, word: &'static str) -> impl Fn(&Value) -> bool {
    let chat_id = chat.chat_id;
    move |m| m["chat_id"] == chat_id && text(m).contains(word)
}

async fn orders_now(veapi: &MockServer, orders: Vec<Value>) {
    veapi.reset().await;
    share_reply(veapi, None, json_body("veapi/share_ok.json")).await;
    orders_page(veapi, None, orders_body(orders, "")).await;
}

async fn payouts(store: &Store, user: u64) -> usize {
    store
        .ledger(Some(user), None)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.kind == LedgerKind::Payout)
        .count()
}

on_both_backends! {
    #[tokio::test]
    async fn an_order_pays_settles_is_paid_out_then_refunded(db) {
        let tg = FakeTelegram::start().await;
        let veapi = MockServer::start().await;
        orders_now(&veapi, vec![]).await;
        let bot = RunningBot::start_tuned(
            config_with(&tg, &veapi, &db, &[("REBATE_PERCENT", "15"), ("ADMIN_USER_IDS", "7001,7002")]),
            fast_tuning(),
        );
        tg.push_text(&ALICE, "https://v.douyin.com/i2wDMRRN/");
        tg.wait_for(1, to(&ALICE, "已转换")).await;
        let external_info = share_calls(&veapi).await[0]["external_info"].clone();
        assert_eq!(tracking::decode(&external_info), Ok(ALICE.user_id));
        let order = "4737996432465788974";
        let at = |state: &str, time: &str| vec![order_json(order, &external_info, state, time)];

        // Paid: the estimated rebate, 420 × 15 % = 63 fen; never the operator's commission.
        orders_now(&veapi, at("PAY_SUCC", "2026-11-22 10:00:00")).await;
        let news = tg.wait_for(1, to(&ALICE, "新订单")).await;
        let t = text(&news[0]);
        assert!(t.contains("预估返利：¥0.63") && !t.contains("佣金"), "{t}");

        // Settled: 415 × 15 % = 62.25 → 62 fen credited.
        orders_now(&veapi, at("SETTLE", "2026-11-23 10:00:00")).await;
        let news = tg.wait_for(1, to(&ALICE, "订单已结算")).await;
        assert!(text(&news[0]).contains("返利已到账：¥0.62，当前余额：¥0.62"), "{}", text(&news[0]));
        tg.push_text(&ALICE, "/balance");
        let b = tg.wait_for(1, to(&ALICE, "可提现")).await;
        assert!(text(&b[0]).contains("可提现：¥0.62"), "{}", text(&b[0]));

        // The operator pays it out: a bad amount is refused with the format, a good one asks
        // for confirmation; nothing is written before the button.
        tg.push_text(&OPERATOR, "/payout 1001 12,34");
        tg.wait_for(1, to(&OPERATOR, "12.34")).await;
        tg.push_text(&OPERATOR, "/payout 1001 0.63 支付宝");
        tg.wait_for(1, to(&OPERATOR, "超过可提现余额 ¥0.62")).await;
        tg.push_text(&OPERATOR, "/payout 1001 0.62 支付宝");
        let ask = tg.wait_for(1, to(&OPERATOR, "确认向用户")).await;
        let data = ask[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(data.len() <= 64, "{data}");
        let message_id = tg.message_id_of(to(&OPERATOR, "确认向用户")).unwrap();
        let store = Store::open(db.url()).await.unwrap();
        assert_eq!(payouts(&store, ALICE.user_id).await, 0);

        // Another operator's press on this message: refused, nothing written.
        tg.push_callback(&Sender { user_id: OTHER_OPERATOR.user_id, chat_id: OPERATOR.chat_id }, message_id, &data);
        let answers = tg.wait_callback_answers(1).await;
        assert!(answers[0]["text"].as_str().unwrap_or_default().contains("另一位管理员"), "{answers:?}");
        assert_eq!(payouts(&store, ALICE.user_id).await, 0);

        // The operator's press: written once, the user told, the message edited.
        tg.push_callback(&OPERATOR, message_id, &data);
        tg.wait_callback_answers(2).await;
        let paid = tg.wait_for(1, to(&ALICE, "返利已打款")).await;
        let t = text(&paid[0]);
        assert!(t.contains("金额：¥0.62") && t.contains("备注：支付宝") && t.contains("当前余额：¥0.00"), "{t}");
        // The question is edited into the outcome (after the press is answered).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !tg.shown(OPERATOR.chat_id, message_id).unwrap().0.as_str().unwrap().contains("已向用户") {
            assert!(std::time::Instant::now() < deadline, "the question was never edited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Pressed again: answered, nothing written twice.
        tg.push_callback(&OPERATOR, message_id, &data);
        let answers = tg.wait_callback_answers(3).await;
        assert!(answers[2]["text"].as_str().unwrap_or_default().contains("已经完成"), "{answers:?}");
        assert_eq!(payouts(&store, ALICE.user_id).await, 1);

        // Refunded after the payout: the rebate is debited and the balance goes negative,
        // shown as owed, never hidden or clamped; payouts are refused until it is positive.
        orders_now(&veapi, at("REFUND", "2026-11-24 10:00:00")).await;
        let news = tg.wait_for(1, to(&ALICE, "订单已退款")).await;
        let t = text(&news[0]);
        assert!(t.contains("已扣回这笔订单的返利 ¥0.62，当前余额：-¥0.62"), "{t}");
        tg.push_text(&ALICE, "/balance");
        let b = tg.wait_for(2, to(&ALICE, "可提现")).await;
        let t = text(&b[1]);
        assert!(t.contains("可提现：-¥0.62") && t.contains("你目前欠 ¥0.62"), "{t}");
        assert!(t.contains("打款 -¥0.62（支付宝）") && t.contains("退款扣回 -¥0.62"), "{t}");
        tg.push_text(&OPERATOR, "/payout 1001 0.01");
        tg.wait_for(1, to(&OPERATOR, "余额为负")).await;
        assert_eq!(store.available(ALICE.user_id).await.unwrap(), -62);

        // Polls go on: no fact is written twice, no message repeated.
        let before = tg.sent().len();
        let calls = orders_calls(&veapi).await.len();
        while orders_calls(&veapi).await.len() < calls + 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let lines = store.ledger(Some(ALICE.user_id), None).await.unwrap();
        let kinds: Vec<LedgerKind> = lines.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, [LedgerKind::Accrual, LedgerKind::Payout, LedgerKind::Reversal]);
        assert_eq!(lines[0].percent, Some(15));
        assert_eq!(tg.sent().len(), before);
        bot.stop().await;
    }
}

on_both_backends! {
    /// /payout is the operators' alone (anyone else: silence, as if it did not exist), and a
    /// user with no order and no rebate cannot be paid.
    #[tokio::test]
    async fn payouts_are_for_operators_and_known_users_only(db) {
        let h = Harness::start(db, &[("REBATE_PERCENT", "15"), ("ADMIN_USER_IDS", "7001")]).await;
        let tg = &h.tg;
        tg.push_text(&ALICE, "/payout 1001 1");
        tg.settle(&ALICE).await;
        assert!(tg.replies_to(ALICE.chat_id).is_empty(), "{:?}", tg.replies_to(ALICE.chat_id));
        tg.push_text(&OPERATOR, "/payout 424242 1");
        tg.wait_for(1, to(&OPERATOR, "没有用户")).await;
        tg.push_text(&ALICE, "/balance");
        let b = tg.wait_for(1, to(&ALICE, "可提现")).await;
        assert!(text(&b[0]).contains("可提现：¥0.00"), "{}", text(&b[0]));
        h.bot.stop().await;
    }
}
