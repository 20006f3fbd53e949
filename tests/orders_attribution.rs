//! Issue 9, item 10: attribution never disappears. A later snapshot of an order without
//! `pid_info`, or with an empty `external_info`, keeps the user already stored, and its
//! REFUND or SETTLE is still told to them. Through the poller and the store.

mod support;

use chrono::Utc;
use douyin_link_bot::tracking;
use serde_json::json;
use support::veapi::{fast_settings, PollerSetup};
use support::*;

on_both_backends! {
    #[tokio::test]
    async fn a_later_snapshot_without_attribution_keeps_the_user_and_is_told(db) {
        let s = PollerSetup::start(db, fast_settings(), &[]).await;
        let info = tracking::encode(ALICE.user_id);
        orders_page(
            &s.veapi,
            None,
            orders_body(
                vec![
                    order_json(
                        "4930000000000000001",
                        &info,
                        "PAY_SUCC",
                        "2026-11-22 10:00:00",
                    ),
                    order_json(
                        "4930000000000000002",
                        &info,
                        "PAY_SUCC",
                        "2026-11-22 10:00:00",
                    ),
                ],
                "",
            ),
        )
        .await;
        let t = Utc::now();
        s.poller.poll_once(t).await.unwrap();
        assert_eq!(s.outbox_for(ALICE.user_id).await.len(), 2);

        // Later: one refunded and sent without pid_info at all, the other settled with its
        // pid_info but an empty external_info.
        let mut refunded = order_json("4930000000000000001", "", "REFUND", "2026-11-22 11:00:00");
        refunded.as_object_mut().unwrap().remove("pid_info");
        let mut settled = order_json("4930000000000000002", "", "SETTLE", "2026-11-22 11:00:00");
        settled["pid_info"] =
            json!({"pid": "dy_1_2_3", "external_info": "", "media_type_name": "站外"});
        s.veapi.reset().await;
        orders_page(&s.veapi, None, orders_body(vec![refunded, settled], "")).await;
        s.poller
            .poll_once(t + chrono::Duration::seconds(60))
            .await
            .unwrap();

        let news = s.outbox_for(ALICE.user_id).await;
        assert_eq!(news.len(), 4, "{news:#?}");
        assert!(s
            .store
            .outbox_status("order:4930000000000000001:REFUND")
            .await
            .unwrap()
            .is_some());
        assert!(s
            .store
            .outbox_status("order:4930000000000000002:SETTLE")
            .await
            .unwrap()
            .is_some());
        assert!(news
            .iter()
            .any(|t| t.contains("退款") && t.contains("4930000000000000001")));
        assert!(news
            .iter()
            .any(|t| t.contains("结算") && t.contains("4930000000000000002")));
        // The orders are still Alice's, in their latest state.
        let recent = s.store.user_orders(ALICE.user_id, 0, 10).await.unwrap();
        let totals = s.store.user_order_totals(ALICE.user_id, 0).await.unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!((totals.orders, totals.refunded), (2, 1));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn an_order_never_attributed_still_tells_nobody(db) {
        let s = PollerSetup::start(db, fast_settings(), &[]).await;
        let mut o = order_json("4930000000000000011", "", "SETTLE", "2026-11-22 10:00:00");
        o.as_object_mut().unwrap().remove("pid_info");
        orders_page(&s.veapi, None, orders_body(vec![o], "")).await;
        s.poller.poll_once(Utc::now()).await.unwrap();
        assert_eq!(s.store.outbox_counts().await.unwrap().pending, 0);
    }
}
