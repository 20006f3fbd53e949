//! The order poller against a loopback fake of alliance_kol_orders: pages, overlapping
//! windows, repeated cursors, failures mid-window, later refunds. Asserts the watermark and
//! the outbox.

mod support;

use chrono::Utc;
use douyin_link_bot::poller::{
    china_time, parse_china_time, Poller, PollerSettings, WATERMARK_KEY,
};
use douyin_link_bot::store::Store;
use douyin_link_bot::tracking;
use douyin_link_bot::veapi::{OrderSource, VeapiClient};
use std::sync::Arc;
use std::time::Duration;
use support::veapi::full_page;
use support::*;
use tokio::sync::Notify;
use wiremock::{MockServer, ResponseTemplate};

struct Setup {
    veapi: MockServer,
    store: Store,
    poller: Poller,
    _db: TestDb,
}

fn settings() -> PollerSettings {
    PollerSettings {
        page_retries: 0,
        retry_delay: Duration::from_millis(10),
        ..PollerSettings::new(Duration::from_millis(100))
    }
}

async fn setup_with(db: TestDb, settings: PollerSettings) -> Setup {
    let veapi = MockServer::start().await;
    let tg = FakeTelegram::start().await;
    let cfg = config(&tg, &veapi, &db);
    let store = Store::open(&cfg.database_url).await.unwrap();
    let source: Arc<dyn OrderSource> =
        Arc::new(VeapiClient::new(cfg.veapi.as_ref().unwrap()).unwrap());
    let poller = Poller::new(
        source,
        store.clone(),
        settings,
        None,
        Arc::new(Notify::new()),
    );
    Setup {
        veapi,
        store,
        poller,
        _db: db,
    }
}

async fn setup(db: TestDb) -> Setup {
    setup_with(db, settings()).await
}

fn alice() -> String {
    tracking::encode(ALICE.user_id)
}

/// Serves one of Alice's orders, `(id, state, update_time)`, on the page at `cursor`,
/// pointing to `next`.
async fn alice_order(
    server: &MockServer,
    cursor: Option<&str>,
    order: (&str, &str, &str),
    next: &str,
) {
    let (id, state, updated) = order;
    orders_page(
        server,
        cursor,
        orders_body(vec![order_json(id, &alice(), state, updated)], next),
    )
    .await;
}

/// The next orders call (for the page reached with `cursor`, or any page) answers 502,
/// ahead of whatever else is mounted; later calls get the usual answers.
async fn fail_once(server: &MockServer, cursor: Option<&str>) {
    let mut m = wiremock::Mock::given(wiremock::matchers::path("/douyin/alliance_kol_orders"));
    if let Some(c) = cursor {
        m = m.and(FormParam("cursor", c.to_string()));
    }
    m.respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
}

on_both_backends! {
    #[tokio::test]
    async fn all_pages_are_followed_and_only_our_orders_notify(db) {
        let s = setup(db).await;
        // Pages before the last are full (20 orders; the rest other channels' orders).
        orders_page(
            &s.veapi,
            None,
            orders_body(
                full_page(
                    vec![
                        order_json(
                            "4900000000000000001",
                            &alice(),
                            "PAY_SUCC",
                            "2026-11-22 10:00:00",
                        ),
                        order_json(
                            "4900000000000000002",
                            "someone_else",
                            "PAY_SUCC",
                            "2026-11-22 10:00:00",
                        ),
                    ],
                    "48100000000000001",
                ),
                "c1",
            ),
        )
        .await;
        orders_page(
            &s.veapi,
            Some("c1"),
            orders_body(
                full_page(
                    vec![order_json(
                        "4900000000000000003",
                        &alice(),
                        "SETTLE",
                        "2026-11-22 10:01:00",
                    )],
                    "48100000000000002",
                ),
                "c2",
            ),
        )
        .await;
        orders_page(&s.veapi, Some("c2"), orders_body(vec![], "")).await;

        let before = Utc::now();
        let report = s.poller.poll_once(before).await.unwrap();
        assert_eq!(report.pages, 3);
        assert_eq!(report.stats.orders, 40);
        // Order 1: new. Order 2: not ours. Order 3: new and settled.
        assert_eq!(report.stats.new_notices, 3);
        assert_eq!(s.store.outbox_counts().await.unwrap().pending, 3);
        assert!(s
            .store
            .outbox_status("order:4900000000000000002:NEW")
            .await
            .unwrap()
            .is_none());
        assert!(s
            .store
            .outbox_status("order:4900000000000000003:SETTLE")
            .await
            .unwrap()
            .is_some());
        assert_eq!(
            s.poller.watermark().await.unwrap(),
            Some(before.timestamp())
        );

        let calls = orders_calls(&s.veapi).await;
        assert_eq!(calls.len(), 3);
        assert!(!calls[0].contains_key("cursor"));
        assert_eq!(calls[1]["cursor"], "c1");
        assert_eq!(calls[2]["cursor"], "c2");
        for c in &calls {
            assert_eq!(c["time_type"], "update");
            assert_eq!(c["size"], "20");
            assert_eq!(c["vekey"], VEKEY);
            assert_eq!(c["end_time"], china_time(before.timestamp()));
        }
        // A first poll reaches back a day.
        let start = parse_china_time(&calls[0]["start_time"]).unwrap();
        assert_eq!(before.timestamp() - start, 24 * 3600);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn the_next_window_overlaps_and_a_repeat_sighting_notifies_nobody_again(db) {
        let s = setup(db).await;
        alice_order(
            &s.veapi,
            None,
            ("4900000000000000011", "PAY_SUCC", "2026-11-22 10:00:00"),
            "",
        )
        .await;
        let t1 = Utc::now();
        s.poller.poll_once(t1).await.unwrap();
        let t2 = t1 + chrono::Duration::seconds(60);
        let report = s.poller.poll_once(t2).await.unwrap();
        assert_eq!(report.stats.orders, 1);
        assert_eq!(report.stats.new_orders, 0);
        assert_eq!(report.stats.new_notices, 0);
        assert_eq!(s.store.outbox_counts().await.unwrap().pending, 1);

        let calls = orders_calls(&s.veapi).await;
        let second_start = parse_china_time(&calls[1]["start_time"]).unwrap();
        assert_eq!(
            second_start,
            t1.timestamp() - 5 * 60,
            "window starts at the watermark minus the overlap"
        );
        assert_eq!(s.poller.watermark().await.unwrap(), Some(t2.timestamp()));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_repeating_cursor_ends_the_window(db) {
        let s = setup(db).await;
        let full = |id: &str, filler: &str| {
            orders_body(
                full_page(
                    vec![order_json(id, &alice(), "PAY_SUCC", "2026-11-22 10:00:00")],
                    filler,
                ),
                "same",
            )
        };
        orders_page(
            &s.veapi,
            None,
            full("4900000000000000021", "48100000000000021"),
        )
        .await;
        orders_page(
            &s.veapi,
            Some("same"),
            full("4900000000000000022", "48100000000000022"),
        )
        .await;
        let report = s.poller.poll_once(Utc::now()).await.unwrap();
        assert_eq!(report.pages, 2);
        assert_eq!(orders_calls(&s.veapi).await.len(), 2);
        assert_eq!(report.stats.orders, 40);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_page_failing_mid_window_keeps_the_watermark_and_the_next_poll_covers_it(db) {
        let s = setup(db).await;
        orders_page(
            &s.veapi,
            None,
            orders_body(
                full_page(
                    vec![order_json(
                        "4900000000000000031",
                        &alice(),
                        "PAY_SUCC",
                        "2026-11-22 10:00:00",
                    )],
                    "48100000000000031",
                ),
                "p2",
            ),
        )
        .await;
        // Page two is down for the first poll only.
        fail_once(&s.veapi, Some("p2")).await;
        alice_order(
            &s.veapi,
            Some("p2"),
            ("4900000000000000032", "PAY_SUCC", "2026-11-22 10:02:00"),
            "",
        )
        .await;

        let t1 = Utc::now();
        assert!(s.poller.poll_once(t1).await.is_err());
        let first_start = t1.timestamp() - 24 * 3600;
        assert_eq!(
            s.poller.watermark().await.unwrap(),
            Some(first_start + 5 * 60),
            "a failed window must not move the watermark past its start"
        );
        // What was read before the failure is kept (and will not be notified twice).
        assert_eq!(s.store.outbox_counts().await.unwrap().pending, 1);

        let t2 = t1 + chrono::Duration::seconds(90);
        let report = s.poller.poll_once(t2).await.unwrap();
        assert_eq!(report.stats.new_notices, 1);
        assert_eq!(s.store.outbox_counts().await.unwrap().pending, 2);
        assert_eq!(s.poller.watermark().await.unwrap(), Some(t2.timestamp()));
        // The retry started where the failed one did: nothing in between was skipped.
        let calls = orders_calls(&s.veapi).await;
        let firsts: Vec<&String> = calls
            .iter()
            .filter(|c| !c.contains_key("cursor"))
            .map(|c| &c["start_time"])
            .collect();
        // (The retry spans a day and 90 s, so it takes two day-sized chunks.)
        assert_eq!(firsts.len(), 3);
        assert_eq!(firsts[0], firsts[1]);
        assert_eq!(parse_china_time(firsts[0]), Some(first_start));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_refund_arriving_later_writes_exactly_one_refund_row(db) {
        let s = setup(db).await;
        alice_order(
            &s.veapi,
            None,
            ("4900000000000000041", "PAY_SUCC", "2026-11-22 10:00:00"),
            "",
        )
        .await;
        let t = Utc::now();
        s.poller.poll_once(t).await.unwrap();
        s.veapi.reset().await;
        alice_order(
            &s.veapi,
            None,
            ("4900000000000000041", "REFUND", "2026-11-22 11:00:00"),
            "",
        )
        .await;
        for i in 1..=3 {
            s.poller
                .poll_once(t + chrono::Duration::seconds(60 * i))
                .await
                .unwrap();
        }
        assert_eq!(s.store.outbox_counts().await.unwrap().pending, 2);
        assert!(s
            .store
            .outbox_status("order:4900000000000000041:REFUND")
            .await
            .unwrap()
            .is_some());
        let recent = s.store.user_orders(ALICE.user_id, 0, 10).await.unwrap();
        let totals = s.store.user_order_totals(ALICE.user_id, 0).await.unwrap();
        assert_eq!(recent[0].flow_point, "REFUND");
        assert_eq!((totals.orders, totals.refunded, totals.paid), (1, 1, 0));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_stale_snapshot_never_overwrites_a_newer_state(db) {
        let s = setup(db).await;
        orders_page(
            &s.veapi,
            None,
            orders_body(
                vec![
                    order_json(
                        "4900000000000000051",
                        &alice(),
                        "SETTLE",
                        "2026-11-22 12:00:00",
                    ),
                    order_json(
                        "4900000000000000051",
                        &alice(),
                        "PAY_SUCC",
                        "2026-11-22 10:00:00",
                    ),
                ],
                "",
            ),
        )
        .await;
        s.poller.poll_once(Utc::now()).await.unwrap();
        let recent = s.store.user_orders(ALICE.user_id, 0, 10).await.unwrap();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].flow_point, "SETTLE");
    }
}

// The window split by too many pages is read to the last page in
// tests/orders_paging.rs (`a_window_with_too_many_pages_is_split_and_every_page_is_read`),
// against a fake that pages by window as upstream does.

on_both_backends! {
    #[tokio::test]
    async fn a_transient_page_failure_is_retried_within_the_same_poll(db) {
        let s = setup_with(db, PollerSettings {
            page_retries: 1,
            ..settings()
        })
        .await;
        fail_once(&s.veapi, None).await;
        alice_order(
            &s.veapi,
            None,
            ("4900000000000000071", "PAY_SUCC", "2026-11-22 10:00:00"),
            "",
        )
        .await;
        let now = Utc::now();
        let report = s.poller.poll_once(now).await.unwrap();
        assert_eq!(report.stats.new_notices, 1);
        assert_eq!(orders_calls(&s.veapi).await.len(), 2);
        assert_eq!(s.poller.watermark().await.unwrap(), Some(now.timestamp()));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn after_an_outage_longer_than_upstream_keeps_orders_the_window_starts_89_days_back(db) {
        let s = setup(db).await;
        orders_page(&s.veapi, None, orders_body(vec![], "")).await;
        let now = Utc::now().timestamp();
        s.store
            .kv_set(WATERMARK_KEY, &(now - 100 * 24 * 3600).to_string(), now)
            .await
            .unwrap();
        s.poller.poll_once(Utc::now()).await.unwrap();
        let first = &orders_calls(&s.veapi).await[0];
        let start = parse_china_time(&first["start_time"]).unwrap();
        assert!(
            (start - (now - 89 * 24 * 3600)).abs() <= 2,
            "{}",
            first["start_time"]
        );
    }
}
