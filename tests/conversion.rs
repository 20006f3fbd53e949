//! The conversion service: cache window and single-flight, against a fake veapi.

mod support;

use douyin_link_bot::convert::{ConversionService, ConvertRequest, Converter};
use douyin_link_bot::detect::detect;
use douyin_link_bot::store::Store;
use douyin_link_bot::veapi::VeapiClient;
use std::time::Duration;
use support::*;
use wiremock::MockServer;

async fn service(db: &TestDb, veapi: &MockServer, ttl: Duration) -> ConversionService {
    let tg = FakeTelegram::start().await;
    let cfg = config(&tg, veapi, db);
    let store = Store::open(&cfg.database_url).await.unwrap();
    let client = VeapiClient::new(cfg.veapi.as_ref().unwrap()).unwrap();
    ConversionService::new(std::sync::Arc::new(client), store, ttl, None)
}

fn request(user_id: u64, text: &str) -> ConvertRequest {
    ConvertRequest {
        user_id,
        user_name: None,
        chat_id: user_id as i64,
        reference: detect(text).remove(0),
    }
}

on_both_backends! {
    #[tokio::test]
    async fn concurrent_identical_requests_make_one_call(db) {
        let veapi = MockServer::start().await;
        share_reply(
            &veapi,
            None,
            json_body("veapi/share_ok.json").set_delay(Duration::from_millis(300)),
        )
        .await;
        let svc = service(&db, &veapi, Duration::from_secs(3600)).await;

        let calls = (0..8).map(|_| svc.convert(request(7, "3583117383482622604")));
        let results = futures::future::join_all(calls).await;
        assert!(results.iter().all(|r| r.is_ok()));
        assert_eq!(share_calls(&veapi).await.len(), 1);
        // All but one were served by the shared flight, none from a stale cache.
        assert!(results.iter().all(|r| !r.as_ref().unwrap().cached));

        // Later, the store answers.
        let again = svc
            .convert(request(7, "3583117383482622604"))
            .await
            .unwrap();
        assert!(again.cached);
        assert_eq!(share_calls(&veapi).await.len(), 1);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn concurrent_identical_failures_are_shared_too_and_not_cached(db) {
        let veapi = MockServer::start().await;
        share_reply(
            &veapi,
            None,
            json_body("veapi/share_not_in_alliance.json").set_delay(Duration::from_millis(200)),
        )
        .await;
        let svc = service(&db, &veapi, Duration::from_secs(3600)).await;
        let calls = (0..4).map(|_| svc.convert(request(7, "3583117383482622604")));
        let results = futures::future::join_all(calls).await;
        assert!(results.iter().all(|r| r.is_err()));
        assert_eq!(share_calls(&veapi).await.len(), 1);
        // A refusal is not remembered: asking again asks upstream again.
        assert!(svc
            .convert(request(7, "3583117383482622604"))
            .await
            .is_err());
        assert_eq!(share_calls(&veapi).await.len(), 2);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_cache_hit_in_another_chat_records_that_chat_without_extending_the_cache(db) {
        let veapi = MockServer::start().await;
        share_reply(&veapi, None, json_body("veapi/share_ok.json")).await;
        let svc = service(&db, &veapi, Duration::from_secs(3600)).await;
        let store = Store::open(db.url()).await.unwrap();
        // Converted privately 1000 s ago.
        let made = chrono::Utc::now().timestamp() - 1000;
        let link = douyin_link_bot::veapi::ShareLink {
            dy_password: "旧口令".into(),
            share_link: None,
            dy_deeplink: None,
            dy_zlink: None,
            coupon: None,
        };
        store
            .record_conversion(&douyin_link_bot::store::NewConversion {
                user_id: 7,
                user_name: None,
                chat_id: 7,
                product_key: "3583117383482622604",
                external_info: "dlb_x",
                link: &link,
                created_at: made,
            })
            .await
            .unwrap();

        let in_group = ConvertRequest {
            chat_id: -500,
            ..request(7, "3583117383482622604")
        };
        let got = svc.convert(in_group).await.unwrap();
        assert!(got.cached);
        assert_eq!(got.link.dy_password, "旧口令");
        assert!(share_calls(&veapi).await.is_empty());
        assert_eq!(store.fallback_chat(7, None).await.unwrap().unwrap().0, -500);
        // The group's row is dated like the original: nothing newer than the real call exists.
        assert!(store
            .cached_conversion(7, "3583117383482622604", made + 1)
            .await
            .unwrap()
            .is_none());
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_zero_cache_window_always_calls_upstream(db) {
        let veapi = MockServer::start().await;
        share_reply(&veapi, None, json_body("veapi/share_ok.json")).await;
        let svc = service(&db, &veapi, Duration::ZERO).await;
        for _ in 0..2 {
            assert!(
                !svc.convert(request(7, "3583117383482622604"))
                    .await
                    .unwrap()
                    .cached
            );
        }
        assert_eq!(share_calls(&veapi).await.len(), 2);
    }
}
