//! Attribution through the real poller and store: a value that carries this bot's prefix but
//! does not decode notifies nobody and is counted for `/stats`; a value of the earlier format
//! is trusted only when the store shows it was issued to that user.

mod support;

use chrono::{TimeZone, Utc};
use douyin_link_bot::poller::{Poller, PollerSettings};
use douyin_link_bot::store::{NewConversion, Store};
use douyin_link_bot::telegram::texts;
use douyin_link_bot::tracking;
use douyin_link_bot::veapi::{OrderSource, ShareLink, VeapiClient};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::sync::Notify;
use wiremock::MockServer;

const UPDATED: &str = "2026-11-22 10:00:00";

struct Setup {
    veapi: MockServer,
    store: Store,
    poller: Poller,
    _db: TestDb,
}

async fn setup(db: TestDb) -> Setup {
    let veapi = MockServer::start().await;
    let tg = FakeTelegram::start().await;
    let cfg = config(&tg, &veapi, &db);
    let store = Store::open(&cfg.database_url).await.unwrap();
    let source: Arc<dyn OrderSource> =
        Arc::new(VeapiClient::new(cfg.veapi.as_ref().unwrap()).unwrap());
    let settings = PollerSettings {
        page_retries: 0,
        ..PollerSettings::new(Duration::from_millis(100))
    };
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

/// One character of a value changed to another the alphabet allows.
fn corrupted(value: &str, pos: usize) -> String {
    let mut bytes = value.as_bytes().to_vec();
    bytes[pos] = if bytes[pos] == b'7' { b'8' } else { b'7' };
    String::from_utf8(bytes).unwrap()
}

/// The earlier format of the same user id: `dlb_` + base 36 + position-weighted mod-36 check.
fn legacy(user_id: u64) -> String {
    let v = tracking::encode(user_id);
    let body = &v[tracking::PREFIX.len()..v.len() - 1];
    let digit = |b: u8| (b as char).to_digit(36).unwrap() as usize;
    let sum: usize = body
        .bytes()
        .enumerate()
        .map(|(i, b)| (i + 1) * digit(b))
        .sum();
    let check = std::char::from_digit((sum % 36) as u32, 36).unwrap();
    format!("{}{body}{check}", tracking::LEGACY_PREFIX)
}

async fn issue(store: &Store, user_id: u64, external_info: &str) {
    let link = ShareLink {
        dy_password: "1:/ 复制口令".into(),
        share_link: None,
        dy_deeplink: None,
        dy_zlink: None,
        coupon: None,
    };
    store
        .record_conversion(&NewConversion {
            user_id,
            user_name: Some("Alice"),
            chat_id: user_id as i64,
            product_key: "3583117383482622604",
            external_info,
            link: &link,
            created_at: Utc::now().timestamp() - 3600,
        })
        .await
        .unwrap();
}

fn poll_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0).unwrap()
}

on_both_backends! {
    #[tokio::test]
    async fn a_corrupted_value_of_ours_notifies_nobody_and_is_counted(db) {
        let s = setup(db).await;
        let alice = tracking::encode(ALICE.user_id);
        let bad = corrupted(&alice, alice.len() - 2);
        assert!(tracking::decode(&bad).is_err());
        orders_page(
            &s.veapi,
            None,
            orders_body(
                vec![
                    order_json("4900000000000000001", &bad, "PAY_SUCC", UPDATED),
                    order_json(
                        "4900000000000000002",
                        "someone_else_77",
                        "PAY_SUCC",
                        UPDATED,
                    ),
                    order_json("4900000000000000003", &alice, "PAY_SUCC", UPDATED),
                ],
                "",
            ),
        )
        .await;
        s.poller.poll_once(poll_time()).await.unwrap();

        assert_eq!(
            s.store
                .outbox_status("order:4900000000000000001:NEW")
                .await
                .unwrap(),
            None
        );
        assert!(s
            .store
            .outbox_status("order:4900000000000000003:NEW")
            .await
            .unwrap()
            .is_some());
        let stats = s.store.stats(0).await.unwrap();
        assert_eq!(
            stats.unattributed, 1,
            "the other channel's order is not ours to count"
        );
        assert_eq!(stats.orders.orders, 1);
        let shown = texts::stats(douyin_link_bot::lang::Lang::Zh, &stats, None, false);
        assert!(shown.contains("无法归属的本机器人订单：1"), "{shown}");
    }
}

on_both_backends! {
    #[tokio::test]
    async fn an_earlier_format_value_counts_only_when_it_was_issued(db) {
        let s = setup(db).await;
        let issued = legacy(ALICE.user_id);
        let never_issued = legacy(BOB.user_id);
        issue(&s.store, ALICE.user_id, &issued).await;
        orders_page(
            &s.veapi,
            None,
            orders_body(
                vec![
                    order_json("4900000000000000011", &issued, "PAY_SUCC", UPDATED),
                    order_json("4900000000000000012", &never_issued, "PAY_SUCC", UPDATED),
                ],
                "",
            ),
        )
        .await;
        s.poller.poll_once(poll_time()).await.unwrap();

        assert!(s
            .store
            .outbox_status("order:4900000000000000011:NEW")
            .await
            .unwrap()
            .is_some());
        assert_eq!(
            s.store
                .outbox_status("order:4900000000000000012:NEW")
                .await
                .unwrap(),
            None
        );
        assert_eq!(s.store.stats(0).await.unwrap().unattributed, 1);
    }
}
