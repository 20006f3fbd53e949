//! `/orders` end to end: totals per state (and the user's rebate with REBATE_PERCENT), ten
//! orders a page, previous/next buttons that edit the page in place, every press answered.

mod support;

use douyin_link_bot::store::IngestOrder;
use douyin_link_bot::veapi::Order;
use serde_json::{json, Value};
use support::*;

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

/// `n` orders for `user_id`, the i-th paid at minute i (newer orders later); every 7th
/// refunded and every 5th settled.
async fn orders_for(h: &Harness, user_id: u64, n: usize, percent: u8) {
    let orders: Vec<Order> = (0..n)
        .map(|i| {
            let state = if i % 7 == 3 {
                "REFUND"
            } else if i % 5 == 4 {
                "SETTLE"
            } else {
                "PAY_SUCC"
            };
            let mut o = order_json(&format!("69{i:04}"), "", state, "2026-11-22 12:00:00");
            o["product_name"] = json!(format!("商品{i:02}"));
            o["pay_success_time"] = json!(format!("2026-11-22 10:{i:02}:00"));
            o["estimated_commission"] = json!(199);
            serde_json::from_value(o).unwrap()
        })
        .collect();
    let items: Vec<IngestOrder> = orders
        .iter()
        .map(|order| IngestOrder {
            order,
            user_id: Some(user_id),
            notices: vec![],
        })
        .collect();
    h.store()
        .await
        .ingest_page_at(&items, 1, percent)
        .await
        .unwrap();
}

/// The callback data of the buttons under a message, in order.
fn buttons(markup: &Value) -> Vec<(String, String)> {
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().unwrap().clone())
        .map(|b| {
            (
                b["text"].as_str().unwrap().to_string(),
                b["callback_data"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The message as shown once `page` is on it (the press is answered before the edit).
async fn shown_page(tg: &FakeTelegram, message_id: i64, page: &str) -> (String, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (text, markup) = tg.shown(ALICE.chat_id, message_id).unwrap();
        let text = text.as_str().unwrap_or_default().to_string();
        if text.contains(page) {
            return (text, markup);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never showed {page}: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn is_listing(m: &Value) -> bool {
    text(m).starts_with("📦")
}

fn listed(page: &str) -> Vec<&str> {
    page.lines().filter(|l| l.starts_with("• ")).collect()
}

on_both_backends! {
    #[tokio::test]
    async fn orders_come_ten_a_page_and_the_buttons_turn_the_page_in_place(db) {
        let h = Harness::start(db, &[("REBATE_PERCENT", "15")]).await;
        let tg = &h.tg;
        tg.settle(&ALICE).await;
        orders_for(&h, ALICE.user_id, 23, 15).await;

        tg.push_text(&ALICE, "/orders");
        let first = tg.wait_for(1, is_listing).await;
        let page = text(&first[0]);
        // 23 orders: 3 refunded (i = 3, 10, 17), 4 settled (i = 4, 9, 14, 19; not 24),
        // 16 paid and unsettled.
        assert!(page.contains("共 23 单"), "{page}");
        assert!(page.contains("已付款待结算：16 单\n已结算：4 单"), "{page}");
        // The user's page never shows the operator's commission.
        assert!(!page.contains("佣金") && !page.contains("¥1.99"), "{page}");
        assert!(page.contains("已退款：3 单，¥63.00"), "{page}");
        // The rebate: each order's 15 % rounded down to the fen (199 × 15 % = 29.85 → 29;
        // 415 × 15 % = 62.25 → 62, credited by the ledger), never the total's.
        assert!(page.contains("返利（15%）：待结算 ¥4.64，已到账 ¥2.48"), "{page}");
        assert!(listed(page)[0].contains("商品22 — 已付款 — ¥21.00，预估返利 ¥0.29"), "{page}");
        assert!(page.contains("第 1/3 页"), "{page}");
        let lines = listed(page);
        assert_eq!(lines.len(), 10, "{page}");
        assert!(lines[0].contains("商品22"), "newest first: {page}");
        let markup = &first[0]["reply_markup"];
        assert_eq!(buttons(markup), [("下一页 ▶".to_string(), "orders:1".to_string())]);

        // Next: the same message now shows page 2, with both buttons.
        let message_id = tg.message_id_of(is_listing).unwrap();
        tg.push_callback(&ALICE, message_id, "orders:1");
        tg.wait_callback_answers(1).await;
        let (shown, markup) = shown_page(tg, message_id, "第 2/3 页").await;
        let shown = shown.as_str();
        assert!(listed(shown)[0].contains("商品12"), "{shown}");
        assert_eq!(
            buttons(&markup).iter().map(|(_, d)| d.as_str()).collect::<Vec<_>>(),
            ["orders:0", "orders:2"]
        );
        // Still one message: the page was edited, not sent again.
        assert_eq!(
            tg.sent_to(ALICE.chat_id).iter().filter(|m| is_listing(m)).count(),
            1
        );

        // The last page: three orders, only "previous".
        tg.push_callback(&ALICE, message_id, "orders:2");
        tg.wait_callback_answers(2).await;
        let (shown, markup) = shown_page(tg, message_id, "第 3/3 页").await;
        let shown = shown.as_str();
        assert_eq!(listed(shown).len(), 3, "{shown}");
        assert!(listed(shown)[2].contains("商品00"), "{shown}");
        assert_eq!(
            buttons(&markup).iter().map(|(_, d)| d.as_str()).collect::<Vec<_>>(),
            ["orders:1"]
        );

        // A second press on the page already shown: Telegram refuses the edit as "not
        // modified"; the press is answered all the same and nothing breaks.
        let edits = tg.edits().len();
        let attempts = tg.edit_attempts();
        tg.push_callback(&ALICE, message_id, "orders:2");
        let answers = tg.wait_callback_answers(3).await;
        // The edit was tried (and refused as "not modified") after the press was answered.
        tg.wait_edit_attempts(attempts + 1).await;
        assert_eq!(tg.edits().len(), edits);
        assert!(answers[2].get("text").is_none(), "no error toast: {:?}", answers[2]);

        // A page beyond the last (orders can only grow; a forged button) shows the last.
        // Back to the first page first, so the last one has to be drawn again.
        tg.push_callback(&ALICE, message_id, "orders:0");
        tg.wait_callback_answers(4).await;
        shown_page(tg, message_id, "第 1/3 页").await;
        tg.push_callback(&ALICE, message_id, "orders:99");
        tg.wait_callback_answers(5).await;
        tg.wait_edit_attempts(attempts + 3).await;
        let (shown, _) = tg.shown(ALICE.chat_id, message_id).unwrap();
        assert!(shown.as_str().unwrap().contains("第 3/3 页"), "{shown}");
        h.bot.stop().await;
    }
}

on_both_backends! {
    /// Buttons the bot did not make, and a press from someone else than the chat's owner,
    /// are answered (the app stops spinning) and show nothing.
    #[tokio::test]
    async fn foreign_and_forged_presses_are_answered_and_change_nothing(db) {
        let h = Harness::start(db, &[]).await;
        let tg = &h.tg;
        tg.settle(&ALICE).await;
        orders_for(&h, ALICE.user_id, 12, 0).await;
        orders_for(&h, BOB.user_id, 0, 0).await;
        tg.push_text(&ALICE, "/orders");
        tg.wait_for(1, is_listing).await;
        let message_id = tg.message_id_of(is_listing).unwrap();
        let before = tg.shown(ALICE.chat_id, message_id).unwrap();

        tg.push_callback(&ALICE, message_id, "orders:abc");
        tg.push_callback(&ALICE, message_id, "payout:1");
        // Bob pressing under a message in Alice's chat (a forged query: he cannot see it).
        let bob_in_alices_chat = Sender { user_id: BOB.user_id, chat_id: ALICE.chat_id };
        tg.push_callback(&bob_in_alices_chat, message_id, "orders:1");
        tg.wait_callback_answers(3).await;
        tg.settle(&ALICE).await;
        assert!(tg.edits().is_empty(), "{:?}", tg.edits());
        assert_eq!(tg.shown(ALICE.chat_id, message_id).unwrap(), before);
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn orders_are_shown_in_english_to_an_english_app(db) {
        let h = Harness::start(db, &[]).await;
        let tg = &h.tg;
        tg.settle(&ALICE).await;
        orders_for(&h, ALICE.user_id, 11, 0).await;
        tg.push_message(
            &ALICE,
            json!({"text": "/orders", "from": {"id": ALICE.user_id, "is_bot": false, "first_name": "A", "language_code": "en-GB"}}),
        );
        let sent = tg.wait_for(1, |m| text(m).contains("My orders")).await;
        let page = text(&sent[0]);
        assert!(page.contains("(11 in all)") && page.contains("Page 1 of 2"), "{page}");
        assert!(!page.contains("返利") && !page.contains("rebate"), "no rebate at 0 %: {page}");
        assert_eq!(buttons(&sent[0]["reply_markup"])[0].0, "Next ▶");
        h.bot.stop().await;
    }
}
