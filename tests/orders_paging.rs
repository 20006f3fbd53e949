//! Issue 9, item 9 (paging cannot burn the key's quota) and item 16 (the split-window test
//! reads every page): the poller against fakes that page the way alliance_kol_orders does,
//! and against a cursor that never ends. (A repeated cursor: tests/orders_poller.rs.)

mod support;

use chrono::Utc;
use douyin_link_bot::poller::{china_time, PollerSettings};
use douyin_link_bot::tracking;
use serde_json::Value;
use std::time::Duration;
use support::veapi::{
    fast_settings, page_body, EndlessCursor, PollerSetup, SamePageNewCursor, WindowedOrders,
};
use support::*;

const ADMIN: u64 = 9001;

fn alice_order(id: &str, updated: &str) -> Value {
    order_json(id, &tracking::encode(ALICE.user_id), "PAY_SUCC", updated)
}

on_both_backends! {
    #[tokio::test]
    async fn a_page_with_nothing_new_ends_paging_and_the_window_is_read_again(db) {
        let s = PollerSetup::start(
            db,
            PollerSettings {
                first_lookback: Duration::from_secs(120),
                ..fast_settings()
            },
            &[ADMIN],
        )
        .await;
        let fake = SamePageNewCursor::default();
        wiremock::Mock::given(wiremock::matchers::path("/douyin/alliance_kol_orders"))
            .respond_with(fake.clone())
            .mount(&s.veapi)
            .await;
        let now = Utc::now();
        s.poller.poll_once(now).await.unwrap();
        assert_eq!(fake.calls(), 2, "the second page brought nothing new");
        // Not known to be read to its end (upstream's order may have shifted under the pager):
        // the window is held and read again, two calls a poll, not the cap.
        let held = s.poller.watermark().await.unwrap();
        assert!(held < Some(now.timestamp()), "{held:?}");
        s.poller
            .poll_once(now + chrono::Duration::seconds(60))
            .await
            .unwrap();
        assert!(fake.calls() <= 6, "{} calls", fake.calls());
        // Still held (the second poll's window reaches back by the overlap, so maybe earlier).
        assert!(s.poller.watermark().await.unwrap() <= held);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_cursor_that_never_ends_costs_at_most_the_cap_and_is_told_once(db) {
        let s = PollerSetup::start(
            db,
            PollerSettings {
                first_lookback: Duration::from_secs(120),
                ..fast_settings()
            },
            &[ADMIN],
        )
        .await;
        let fake = EndlessCursor::default();
        wiremock::Mock::given(wiremock::matchers::path("/douyin/alliance_kol_orders"))
            .respond_with(fake.clone())
            .mount(&s.veapi)
            .await;
        // PollerSettings::new's cap on veapi calls per poll.
        let cap = 500;

        let before = s.poller.watermark().await.unwrap();
        let t1 = Utc::now();
        let err = s
            .poller
            .poll_once(t1)
            .await
            .expect_err("a poll stopped at the cap");
        assert!(err.to_string().contains("500 veapi calls"), "{err}");
        assert!(fake.calls() <= cap, "{} calls", fake.calls());
        assert_eq!(fake.calls(), cap);
        let held = s.poller.watermark().await.unwrap();
        assert!(held.is_some());
        assert!(before.is_none() || before == held);

        // A second poll costs the cap again, no more, and the operators are not told twice.
        let _ = s
            .poller
            .poll_once(t1 + chrono::Duration::seconds(60))
            .await
            .unwrap_err();
        assert_eq!(fake.calls(), 2 * cap);
        assert_eq!(s.poller.watermark().await.unwrap(), held);
        let alerts = s.outbox_for(ADMIN).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0].contains("500"), "{}", alerts[0]);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn an_empty_page_ends_the_window_whatever_its_cursor_says(db) {
        let s = PollerSetup::start(db, fast_settings(), &[]).await;
        orders_page(&s.veapi, None, page_body(vec![], "6917944236115432742")).await;
        orders_page(
            &s.veapi,
            Some("6917944236115432742"),
            page_body(vec![], "6917944236115432743"),
        )
        .await;
        let now = Utc::now();
        s.poller.poll_once(now).await.unwrap();
        assert_eq!(orders_calls(&s.veapi).await.len(), 1);
        assert_eq!(s.poller.watermark().await.unwrap(), Some(now.timestamp()));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_page_shorter_than_size_is_the_last_whatever_its_cursor_says(db) {
        let s = PollerSetup::start(db, fast_settings(), &[]).await;
        orders_page(
            &s.veapi,
            None,
            page_body(
                vec![alice_order("4920000000000000001", "2026-11-22 10:00:00")],
                "c1",
            ),
        )
        .await;
        orders_page(&s.veapi, Some("c1"), page_body(vec![], "c2")).await;
        s.poller.poll_once(Utc::now()).await.unwrap();
        let calls = orders_calls(&s.veapi).await;
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["size"], "20");
        assert_eq!(s.outbox_for(ALICE.user_id).await.len(), 1);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_window_with_too_many_pages_is_split_and_every_page_is_read(db) {
        // 100 of Alice's orders updated over the last four minutes, served the way upstream
        // does (by window, 20 a page). At two pages per window the poller halves the first
        // window until a window fits, and reads the rest of the span in windows that size.
        let now = Utc::now().timestamp();
        let orders: Vec<Value> = (0..100)
            .map(|i| {
                alice_order(
                    &format!("49200000000000001{i:02}"),
                    &china_time(now - 239 + i * 239 / 100),
                )
            })
            .collect();
        let s = PollerSetup::start(
            db,
            PollerSettings {
                max_pages: 2,
                first_lookback: Duration::from_secs(240),
                ..fast_settings()
            },
            &[ADMIN],
        )
        .await;
        wiremock::Mock::given(wiremock::matchers::path("/douyin/alliance_kol_orders"))
            .respond_with(WindowedOrders(orders))
            .mount(&s.veapi)
            .await;

        let report = s
            .poller
            .poll_once(chrono::DateTime::from_timestamp(now, 0).unwrap())
            .await
            .unwrap();
        assert_eq!(report.stats.new_orders, 100, "every order of every page");
        let news = s.outbox_for(ALICE.user_id).await;
        assert_eq!(news.len(), 100);
        for i in 0..100 {
            let id = format!("49200000000000001{i:02}");
            assert!(
                news.iter().any(|t| t.contains(&id)),
                "order {id} was not told"
            );
        }
        assert_eq!(s.poller.watermark().await.unwrap(), Some(now));
        // It did split: four minutes (three pages of orders) halved twice, then the span read
        // in windows of that size.
        let calls = orders_calls(&s.veapi).await;
        let spans: Vec<i64> = calls
            .iter()
            .filter(|c| !c.contains_key("cursor"))
            .map(|c| {
                douyin_link_bot::poller::parse_china_time(&c["end_time"]).unwrap()
                    - douyin_link_bot::poller::parse_china_time(&c["start_time"]).unwrap()
            })
            .collect();
        assert_eq!(spans, [240, 120, 60, 60, 60, 60]);
        assert!(s.outbox_for(ADMIN).await.is_empty());
    }
}
