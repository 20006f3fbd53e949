//! Issue 9, item 7: one unexpected field never loses an order. Fields the bot does not use
//! are read leniently; an order that still cannot be read holds its window's watermark,
//! raises one operator alert with its id and the reason, and is read again next poll.

mod support;

use chrono::Utc;
use douyin_link_bot::poller::{parse_china_time, WATERMARK_KEY};
use douyin_link_bot::tracking;
use serde_json::{json, Value};
use support::veapi::{fast_settings, PollerSetup};
use support::*;

const ADMIN: u64 = 9001;

fn alice() -> String {
    tracking::encode(ALICE.user_id)
}

fn alice_order(id: &str) -> Value {
    order_json(id, &alice(), "PAY_SUCC", "2026-11-22 10:00:00")
}

on_both_backends! {
    #[tokio::test]
    async fn fields_the_bot_does_not_use_never_make_an_order_unreadable(db) {
        let s = PollerSetup::start(db, fast_settings(), &[ADMIN]).await;
        let mut o = alice_order("4910000000000000001");
        // A rate with a fraction, numbers as strings, a missing fee, odd types where the seed
        // says Int64 or String: none of it is shown to anyone.
        o["commission_rate"] = json!(20.5);
        o["total_pay_amount"] = json!("2100");
        o["estimated_commission"] = json!("420");
        o["item_num"] = json!("1");
        o["shop_id"] = json!(12345.0);
        o["pay_goods_amount"] = json!("21.00");
        o["app"] = json!(null);
        o["author_short_id"] = json!(4234123474u64);
        o["media_type"] = json!(["video"]);
        o.as_object_mut()
            .unwrap()
            .remove("estimated_tech_service_fee");
        orders_page(&s.veapi, None, orders_body(vec![o], "")).await;

        let now = Utc::now();
        let report = s.poller.poll_once(now).await.unwrap();
        assert_eq!(report.unreadable, 0);
        let alice_news = s.outbox_for(ALICE.user_id).await;
        assert_eq!(alice_news.len(), 1, "{alice_news:?}");
        assert!(alice_news[0].contains("¥21.00"), "{}", alice_news[0]);
        // The commission string was read as fen (users never see it at REBATE_PERCENT=0).
        let stored = s.store.user_orders(ALICE.user_id, 0, 10).await.unwrap();
        assert_eq!(stored[0].estimated_commission, 420);
        assert!(s.outbox_for(ADMIN).await.is_empty());
        assert_eq!(s.poller.watermark().await.unwrap(), Some(now.timestamp()));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn an_unreadable_order_holds_the_watermark_alerts_once_and_is_read_when_it_can_be(db) {
        let s = PollerSetup::start(db, fast_settings(), &[ADMIN]).await;
        // 21.5 fen does not exist: the amount the user would be told cannot be read exactly.
        let mut bad = alice_order("4910000000000000011");
        bad["total_pay_amount"] = json!(21.5);
        let good = alice_order("4910000000000000012");
        orders_page(&s.veapi, None, orders_body(vec![bad, good], "")).await;

        let t1 = Utc::now();
        let report = s.poller.poll_once(t1).await.unwrap();
        assert_eq!(report.unreadable, 1);
        // The readable order of the same page is told at once.
        assert_eq!(s.outbox_for(ALICE.user_id).await.len(), 1);
        let first_start = t1.timestamp() - 24 * 3600;
        assert_eq!(
            s.poller.watermark().await.unwrap(),
            Some(first_start),
            "held at the start of the window with the unreadable order"
        );
        let alerts = s.outbox_for(ADMIN).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0].contains("4910000000000000011"), "{}", alerts[0]);
        assert!(alerts[0].contains("21.5"), "the reason: {}", alerts[0]);

        // The next polls read the same window again and do not repeat the alert.
        for i in 1..=2 {
            s.poller
                .poll_once(t1 + chrono::Duration::seconds(60 * i))
                .await
                .unwrap();
        }
        // Each poll reads the held windows again, then goes on from where reading got. This fake
        // answers the order in every window, so the second poll's window (which overlaps the
        // first by 5 minutes) holds it too and is read again by the third.
        let starts: Vec<i64> = orders_calls(&s.veapi)
            .await
            .iter()
            .filter_map(|c| parse_china_time(&c["start_time"]))
            .collect();
        let second = t1.timestamp() - 5 * 60;
        assert_eq!(
            starts,
            vec![
                first_start,
                first_start,
                second,
                first_start,
                second,
                second + 60
            ],
        );
        assert_eq!(s.outbox_for(ADMIN).await.len(), 1);

        // Upstream sends it readable: it is told, the watermark moves, the operators hear so.
        s.veapi.reset().await;
        orders_page(
            &s.veapi,
            None,
            orders_body(
                vec![
                    alice_order("4910000000000000011"),
                    alice_order("4910000000000000012"),
                ],
                "",
            ),
        )
        .await;
        let t2 = t1 + chrono::Duration::seconds(240);
        s.poller.poll_once(t2).await.unwrap();
        assert_eq!(s.outbox_for(ALICE.user_id).await.len(), 2);
        assert_eq!(s.poller.watermark().await.unwrap(), Some(t2.timestamp()));
        let alerts = s.outbox_for(ADMIN).await;
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert!(alerts[1].contains("已恢复"), "{}", alerts[1]);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn an_unreadable_order_never_holds_back_later_windows_orders(db) {
        let s = PollerSetup::start(db, fast_settings(), &[ADMIN]).await;
        // Two day-sized windows: the first holds an order whose pid_info is neither an object
        // nor JSON (its attribution cannot be read), the second a readable order.
        let now = Utc::now().timestamp();
        let watermark = now - 36 * 3600;
        s.store
            .kv_set(WATERMARK_KEY, &watermark.to_string(), now)
            .await
            .unwrap();
        let mut bad = alice_order("4910000000000000021");
        bad["pid_info"] = json!(["dy_1_2_3", alice()]);
        let first_start = douyin_link_bot::poller::china_time(watermark - 5 * 60);
        let m = wiremock::Mock::given(wiremock::matchers::path("/douyin/alliance_kol_orders"));
        m.and(FormParam("start_time", first_start))
            .respond_with(orders_body(vec![bad], ""))
            .with_priority(1)
            .mount(&s.veapi)
            .await;
        orders_page(
            &s.veapi,
            None,
            orders_body(vec![alice_order("4910000000000000022")], ""),
        )
        .await;

        s.poller
            .poll_once(chrono::DateTime::from_timestamp(now, 0).unwrap())
            .await
            .unwrap();
        assert_eq!(orders_calls(&s.veapi).await.len(), 2);
        let news = s.outbox_for(ALICE.user_id).await;
        assert_eq!(news.len(), 1);
        assert!(news[0].contains("4910000000000000022"));
        assert_eq!(
            s.poller.watermark().await.unwrap(),
            Some(watermark - 5 * 60),
            "held at the start of the unreadable order's window (the watermark less the overlap)"
        );
        let alerts = s.outbox_for(ADMIN).await;
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0].contains("4910000000000000021"), "{}", alerts[0]);
        assert!(alerts[0].contains("pid_info"), "{}", alerts[0]);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_held_window_costs_its_own_pages_a_poll_not_a_reread_of_everything_since(db) {
        let s = PollerSetup::start(db, fast_settings(), &[ADMIN]).await;
        // Three day-sized windows to catch up on; the first holds an unreadable order.
        let now = Utc::now().timestamp();
        let watermark = now - 3 * 24 * 3600 + 600;
        s.store
            .kv_set(WATERMARK_KEY, &watermark.to_string(), now)
            .await
            .unwrap();
        let mut bad = alice_order("4910000000000000031");
        bad["total_pay_amount"] = json!(21.5);
        let first_start = douyin_link_bot::poller::china_time(watermark - 5 * 60);
        let m = wiremock::Mock::given(wiremock::matchers::path("/douyin/alliance_kol_orders"));
        m.and(FormParam("start_time", first_start.clone()))
            .respond_with(orders_body(vec![bad], ""))
            .with_priority(1)
            .mount(&s.veapi)
            .await;
        orders_page(&s.veapi, None, orders_body(vec![], "")).await;

        let at = |secs: i64| chrono::DateTime::from_timestamp(now + secs, 0).unwrap();
        s.poller.poll_once(at(0)).await.unwrap();
        assert_eq!(orders_calls(&s.veapi).await.len(), 3, "three windows");

        // Ten more polls while the order stays unreadable: each reads the held window and the
        // last minute, two calls, never the two good days in between again.
        for i in 1..=10 {
            s.poller.poll_once(at(60 * i)).await.unwrap();
        }
        let calls = orders_calls(&s.veapi).await.split_off(3);
        assert_eq!(calls.len(), 20, "{calls:#?}");
        let held = calls
            .iter()
            .filter(|c| c["start_time"] == first_start)
            .count();
        assert_eq!(held, 10);
        assert_eq!(
            s.poller.watermark().await.unwrap(),
            Some(watermark - 5 * 60),
            "still held at the unreadable order's window"
        );
        assert_eq!(s.outbox_for(ADMIN).await.len(), 1, "told once");
    }
}
