//! The `/stats` chart end to end: the days the store counts (both backends), and the PNG
//! the operator receives after the text, through the fake Bot API's multipart upload.

mod support;

use chrono::NaiveDate;
use douyin_link_bot::chart::Day;
use douyin_link_bot::store::{IngestOrder, Store};
use douyin_link_bot::veapi::Order;
use serde_json::Value;
use support::*;

const ADMIN: Sender = Sender {
    user_id: 9001,
    chat_id: 9001,
};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// An order paid at `paid` (China time) for `commission` fen; attributed to Alice unless
/// `user` is None.
fn order(id: &str, flow_point: &str, paid: &str, commission: i64) -> Order {
    let mut o = order_json(id, "dlb_x", flow_point, "2026-12-01 00:00:00");
    o["pay_success_time"] = Value::from(paid);
    o["estimated_commission"] = Value::from(commission);
    serde_json::from_value(o).unwrap()
}

async fn ingest(store: &Store, orders: &[(Order, Option<u64>)]) {
    let items: Vec<IngestOrder<'_>> = orders
        .iter()
        .map(|(o, user_id)| IngestOrder {
            order: o,
            user_id: *user_id,
            notices: Vec::new(),
        })
        .collect();
    store.ingest_page(&items, 1).await.unwrap();
}

on_both_backends! {
    #[tokio::test]
    async fn days_count_attributed_orders_by_china_pay_day_and_their_estimated_commission(db) {
        let store = Store::open(db.url()).await.unwrap();
        let alice = Some(ALICE.user_id);
        ingest(&store, &[
            // Before the first day shown.
            (order("0", "PAY_SUCC", "2026-11-01 23:59:59", 9_999), alice),
            // The first day, at its first second.
            (order("1", "PAY_SUCC", "2026-11-02 00:00:00", 100), alice),
            (order("2", "SETTLE", "2026-11-02 13:30:00", 250), alice),
            // Refunded: counted as an order of its day, its commission not.
            (order("3", "REFUND", "2026-11-02 20:00:00", 700), alice),
            // Nobody's (another channel's): not counted.
            (order("4", "PAY_SUCC", "2026-11-03 10:00:00", 5_000), None),
            // The last day, at its last second; and the day after.
            (order("5", "PAY_SUCC", "2026-12-01 23:59:59", 42), alice),
            (order("6", "PAY_SUCC", "2026-12-02 00:00:00", 9_999), alice),
        ]).await;
        let days = store.chart_days(date("2026-12-01"), 30).await.unwrap();
        assert_eq!(days.len(), 30);
        assert_eq!(days[0].day, date("2026-11-02"));
        assert_eq!(days[29].day, date("2026-12-01"));
        let day = |d: &str| *days.iter().find(|x| x.day == date(d)).unwrap();
        let expect = |d: &str, orders, commission_fen| Day { day: date(d), orders, commission_fen };
        assert_eq!(day("2026-11-02"), expect("2026-11-02", 3, 350));
        assert_eq!(day("2026-11-03"), expect("2026-11-03", 0, 0));
        assert_eq!(day("2026-12-01"), expect("2026-12-01", 1, 42));
        let total: i64 = days.iter().map(|d| d.orders).sum();
        assert_eq!(total, 4);
        // Every day in order, one apart.
        assert!(days.windows(2).all(|w| w[0].day.succ_opt() == Some(w[1].day)));
        assert_eq!(store.chart_days(date("2026-12-01"), 1).await.unwrap(), vec![expect("2026-12-01", 1, 42)]);
        assert!(store.chart_days(date("2026-12-01"), 0).await.unwrap().is_empty());
        store.close().await;
    }
}

/// The uploaded photos sent to `chat_id`, decoded: (width, height, distinct colours).
fn decoded(uploads: &[(Value, Vec<u8>)], chat_id: i64) -> Vec<(u32, u32, usize)> {
    uploads
        .iter()
        .filter(|(body, _)| body["chat_id"] == chat_id)
        .map(|(_, png_bytes)| {
            let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
                .read_info()
                .unwrap();
            let mut buf = vec![0; reader.output_buffer_size().unwrap()];
            let frame = reader.next_frame(&mut buf).unwrap();
            let colours: std::collections::HashSet<&[u8]> =
                buf[..frame.buffer_size()].chunks(3).collect();
            (frame.width, frame.height, colours.len())
        })
        .collect()
}

async fn bot(db: TestDb) -> Harness {
    let h = Harness::start(db, &[("ADMIN_USER_IDS", "9001")]).await;
    // The bot has migrated its store once it polls for updates.
    while h.tg.first_get_updates().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    h
}

on_both_backends! {
    #[tokio::test]
    async fn an_operator_gets_the_text_then_the_chart_and_nobody_else_gets_either(db) {
        let h = bot(db).await;
        let store = h.store().await;
        let today = douyin_link_bot::poller::china_time(chrono::Utc::now().timestamp());
        ingest(&store, &[(order("1", "PAY_SUCC", &today, 420), Some(ALICE.user_id))]).await;
        store.close().await;

        h.tg.push_text(&ALICE, "/stats");
        h.tg.push_text(&ALICE_IN_GROUP, "/stats");
        h.tg.settle(&ALICE).await;
        h.tg.settle(&ALICE_IN_GROUP).await;
        h.tg.push_text(&ADMIN, "/stats");
        let sent = h.tg.wait_for(2, |m| m["chat_id"] == ADMIN.chat_id).await;
        assert!(sent[0]["text"].as_str().unwrap().contains("运行概况"), "{:#?}", sent[0]);
        // The photo comes after the text, uploaded as a file, without a caption.
        assert_eq!(sent[1]["method"], "sendPhoto", "{:#?}", sent[1]);
        assert!(sent[1]["photo"].as_str().unwrap().starts_with("attach://"));
        assert_eq!(sent[1]["upload"]["file_name"], "stats.png");
        assert_eq!(sent[1]["upload"]["png_size"], serde_json::json!([1000, 600]));
        assert!(sent[1]["caption"].is_null());
        let uploads = h.tg.uploaded_photos();
        let pictures = decoded(&uploads, ADMIN.chat_id);
        assert_eq!(pictures.len(), 1);
        let (width, height, colours) = pictures[0];
        assert_eq!((width, height), (1000, 600));
        assert!(colours > 50, "{colours} colours");
        // Nobody else asked successfully: no text, no photo.
        assert_eq!(uploads.len(), 1, "only the operator's");
        assert!(h.tg.photo_attempts().iter().all(|p| p["chat_id"] == ADMIN.chat_id));
        assert!(h.tg.replies_to(ALICE.chat_id).is_empty());
        assert!(h.tg.replies_to(ALICE_IN_GROUP.chat_id).is_empty());
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_refused_chart_leaves_the_text_and_the_bot_answering(db) {
        let h = bot(db).await;
        h.tg.refuse_photo("attach://", refusal(400, "Bad Request: PHOTO_INVALID_DIMENSIONS"));
        h.tg.push_text(&ADMIN, "/stats");
        let sent = h.tg.wait_for(1, |m| m["chat_id"] == ADMIN.chat_id).await;
        assert!(sent[0]["text"].as_str().unwrap().contains("运行概况"));
        // The photo was asked for, refused, and nothing else happened: the bot goes on.
        while h.tg.photo_attempts().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        h.tg.settle(&ADMIN).await;
        assert_eq!(h.tg.photo_attempts().len(), 1, "a refusal is not retried");
        assert!(h.tg.uploaded_photos().is_empty());
        assert_eq!(h.tg.replies_to(ADMIN.chat_id).len(), 1, "the text alone");
        h.bot.stop().await;
    }
}
