//! The kol_ProductShare client against a loopback fake of veapi.

mod support;

use douyin_link_bot::config::{Config, Needs, VeapiConfig};
use douyin_link_bot::veapi::{ErrorClass, ShareRequest, VeapiClient, VeapiError};
use std::collections::HashMap;
use std::time::Duration;
use support::*;
use wiremock::{MockServer, ResponseTemplate};

fn veapi_config(server_uri: &str, extra: &[(&str, &str)]) -> VeapiConfig {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("VEAPI_KEY".into(), VEKEY.into()),
        ("VEAPI_BASE_URL".into(), server_uri.into()),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| vars.get(k).cloned(), Needs::default())
        .unwrap()
        .veapi
        .unwrap()
}

fn client(server: &MockServer) -> VeapiClient {
    VeapiClient::with_timeouts(
        &veapi_config(&server.uri(), &[]),
        Duration::from_millis(500),
        Duration::from_millis(800),
    )
    .unwrap()
}

const REQ: ShareRequest<'static> = ShareRequest {
    product_url: "https://v.douyin.com/Ay1Q2QU/",
    external_info: "dlb_rsx",
    use_coupon: false,
};

#[tokio::test]
async fn seed_reply_gives_the_password_and_the_call_carries_our_parameters() {
    let server = MockServer::start().await;
    share_reply(&server, None, json_body("veapi/share_ok.json")).await;

    let link = client(&server).product_share(&REQ).await.unwrap();
    assert_eq!(
        link.dy_password,
        "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽"
    );
    assert_eq!(
        link.dy_zlink.as_deref(),
        Some("https://z.douyin.com/ijA7m2U")
    );
    assert_eq!(link.coupon, None);

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    // The vekey travels in the form body, never in the URL.
    assert_eq!(reqs[0].method.as_str(), "POST");
    assert!(!reqs[0].url.as_str().contains(VEKEY));
    let f = form(&reqs[0]);
    assert_eq!(f["vekey"], VEKEY);
    assert_eq!(f["productUrl"], "https://v.douyin.com/Ay1Q2QU/");
    assert_eq!(f["external_info"], "dlb_rsx");
    assert!(!f.contains_key("use_coupon"));
    assert!(!f.contains_key("pid"));
}

#[tokio::test]
async fn colonel_links_ask_for_the_coupon_and_configured_ids_are_passed() {
    let server = MockServer::start().await;
    share_reply(&server, None, json_body("veapi/share_coupon.json")).await;
    let cfg = veapi_config(
        &server.uri(),
        &[
            ("VEAPI_PID", "dy_107213597798095225100_20865_2675084869"),
            ("VEAPI_ACCESS_TOKEN", "tok-7002"),
            ("VEAPI_ACCOUNT_ID", "acc-1"),
        ],
    );
    let link = VeapiClient::new(&cfg)
        .unwrap()
        .product_share(&ShareRequest {
            use_coupon: true,
            ..REQ
        })
        .await
        .unwrap();
    assert_eq!(
        link.coupon.unwrap().share_command,
        "长按覆[呲牙]zhi此条消息,咑[玫瑰]搜[烟花],查看商品详情Ig9FOHrrl8"
    );
    let f = form(&server.received_requests().await.unwrap()[0]);
    assert_eq!(f["use_coupon"], "true");
    assert_eq!(f["pid"], "dy_107213597798095225100_20865_2675084869");
    assert_eq!(f["access_token"], "tok-7002");
    assert_eq!(f["account_id"], "acc-1");
}

#[tokio::test]
async fn refusal_is_classified_and_keeps_upstream_msg() {
    let server = MockServer::start().await;
    share_reply(&server, None, json_body("veapi/share_refused.json")).await;
    let err = client(&server).product_share(&REQ).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Product);
    assert_eq!(err.upstream_msg(), Some("产品或活动转链失败，请检查参数…"));
    match err {
        VeapiError::Api {
            code, request_id, ..
        } => {
            assert_eq!(code, "15");
            assert_eq!(request_id.as_deref(), Some("3mR4Ew6"));
        }
        other => panic!("expected an API refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn numeric_error_codes_are_read() {
    let server = MockServer::start().await;
    share_reply(&server, None, json_body("veapi/share_auth_expired.json")).await;
    let err = client(&server).product_share(&REQ).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Authorization);
    assert!(matches!(err, VeapiError::Api { ref code, .. } if code == "10008"));
}

#[tokio::test]
async fn http_500_is_a_transport_error() {
    let server = MockServer::start().await;
    share_reply(
        &server,
        None,
        ResponseTemplate::new(500).set_body_string("oops"),
    )
    .await;
    let err = client(&server).product_share(&REQ).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transport);
    assert!(err.to_string().contains("HTTP 500"), "{err}");
}

#[tokio::test]
async fn a_non_json_body_is_a_transport_error() {
    let server = MockServer::start().await;
    share_reply(
        &server,
        None,
        ResponseTemplate::new(200).set_body_string("<html>502 Bad Gateway</html>"),
    )
    .await;
    let err = client(&server).product_share(&REQ).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transport);
    assert!(err.to_string().contains("not JSON"), "{err}");
}

#[tokio::test]
async fn a_hang_past_the_timeout_fails_fast_without_leaking_the_key() {
    let server = MockServer::start().await;
    share_reply(
        &server,
        None,
        json_body("veapi/share_ok.json").set_delay(Duration::from_secs(5)),
    )
    .await;
    let started = std::time::Instant::now();
    let err = client(&server).product_share(&REQ).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(err.class(), ErrorClass::Transport);
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("timed out"), "{shown}");
    assert!(!shown.contains(VEKEY));
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = veapi_config(&format!("http://127.0.0.1:{port}"), &[]);
    let err = VeapiClient::new(&cfg)
        .unwrap()
        .product_share(&REQ)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transport);
    assert!(!format!("{err:?}").contains(VEKEY));
}

#[tokio::test]
async fn an_upstream_message_echoing_the_key_is_scrubbed() {
    let server = MockServer::start().await;
    share_reply(
        &server,
        None,
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "error": "1", "msg": format!("vekey {VEKEY} 不存在"), "data": {}
        })),
    )
    .await;
    let err = client(&server).product_share(&REQ).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::KeyOrQuota);
    assert!(!format!("{err} {err:?}").contains(VEKEY));
}

#[tokio::test]
async fn order_pages_carry_the_window_cursor_and_account_parameters() {
    let server = MockServer::start().await;
    let order = order_json(
        "4737996432465788974",
        "dlb_x",
        "PAY_SUCC",
        "2026-11-22 10:00:00",
    );
    orders_page(&server, Some("c9"), orders_body(vec![order], "")).await;
    let cfg = veapi_config(
        &server.uri(),
        &[
            ("VEAPI_SESSIONKEY", "sess-7002"),
            ("VEAPI_OPEN_ID", "_000Qh4imrY0VhyMOUgxxJb9qK2hW9BW9YWx"),
        ],
    );
    let window = douyin_link_bot::veapi::Window {
        start: "2026-11-22 00:00:00".into(),
        end: "2026-11-22 01:00:00".into(),
    };
    let page = VeapiClient::new(&cfg)
        .unwrap()
        .kol_orders(&window, Some("c9"))
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    assert_eq!(page.cursor, None);
    let f = form(&server.received_requests().await.unwrap()[0]);
    assert_eq!(f["time_type"], "update");
    assert_eq!(f["start_time"], "2026-11-22 00:00:00");
    assert_eq!(f["end_time"], "2026-11-22 01:00:00");
    assert_eq!(f["size"], "20");
    assert_eq!(f["cursor"], "c9");
    assert_eq!(f["sessionkey"], "sess-7002");
    assert_eq!(f["open_id"], "_000Qh4imrY0VhyMOUgxxJb9qK2hW9BW9YWx");
}

#[tokio::test]
async fn orders_are_looked_up_by_id_at_most_ten_at_a_time() {
    let server = MockServer::start().await;
    orders_page(&server, None, orders_body(vec![], "")).await;
    let ids: Vec<String> = (0..12)
        .map(|i| format!("47379964324657889{i:02}"))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    client(&server).orders_by_ids(&refs).await.unwrap();
    let f = form(&server.received_requests().await.unwrap()[0]);
    assert_eq!(f["order_ids"], ids[..10].join(","));
    assert!(!f.contains_key("start_time") && !f.contains_key("time_type"));
}
