//! The conversion service: cache window and single-flight, against a fake veapi.

mod support;

use douyin_link_bot::convert::{ConversionService, ConvertRequest, Converter};
use douyin_link_bot::detect::detect;
use douyin_link_bot::store::Store;
use douyin_link_bot::veapi::VeapiClient;
use std::time::Duration;
use support::*;
use wiremock::MockServer;

async fn service(veapi: &MockServer, ttl: Duration) -> (ConversionService, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let cfg = config(&tg, veapi, &dir.path().join("bot.db"));
    let store = Store::open(&cfg.database_url).await.unwrap();
    let client = VeapiClient::new(cfg.veapi.as_ref().unwrap()).unwrap();
    (ConversionService::new(client, store, ttl, None), dir)
}

fn request(user_id: u64, text: &str) -> ConvertRequest {
    ConvertRequest {
        user_id,
        user_name: None,
        chat_id: user_id as i64,
        reference: detect(text).remove(0),
    }
}

#[tokio::test]
async fn concurrent_identical_requests_make_one_call() {
    let veapi = MockServer::start().await;
    share_reply(
        &veapi,
        None,
        json_body("veapi/share_ok.json").set_delay(Duration::from_millis(300)),
    )
    .await;
    let (svc, _dir) = service(&veapi, Duration::from_secs(3600)).await;

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

#[tokio::test]
async fn concurrent_identical_failures_are_shared_too_and_not_cached() {
    let veapi = MockServer::start().await;
    share_reply(
        &veapi,
        None,
        json_body("veapi/share_not_in_alliance.json").set_delay(Duration::from_millis(200)),
    )
    .await;
    let (svc, _dir) = service(&veapi, Duration::from_secs(3600)).await;
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

#[tokio::test]
async fn a_zero_cache_window_always_calls_upstream() {
    let veapi = MockServer::start().await;
    share_reply(&veapi, None, json_body("veapi/share_ok.json")).await;
    let (svc, _dir) = service(&veapi, Duration::ZERO).await;
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
