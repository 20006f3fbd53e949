//! Issue 9, item 8: error-shaped replies are errors, empty pages are empty. One fixture per
//! shape (`fixtures/veapi/README.md` says where each comes from), read by the client and by
//! the poller, whose watermark only an empty page may move.

mod support;

use chrono::Utc;
use douyin_link_bot::veapi::{VeapiClient, Window};
use support::veapi::{fast_settings, veapi_config, PollerSetup};
use support::*;
use wiremock::ResponseTemplate;

enum Expect {
    Failure,
    EmptyPage,
}

const TABLE: &[(&str, &str, Expect)] = &[
    (
        "veapi/orders_code_message.json",
        "application/json",
        Expect::Failure,
    ),
    (
        "veapi/orders_data_null.json",
        "application/json",
        Expect::Failure,
    ),
    ("veapi/orders_html.html", "text/html", Expect::Failure),
    (
        "veapi/orders_error_nonzero.json",
        "application/json",
        Expect::Failure,
    ),
    (
        "veapi/orders_null_list.json",
        "application/json",
        Expect::EmptyPage,
    ),
    (
        "veapi/orders_empty_list.json",
        "application/json",
        Expect::EmptyPage,
    ),
];

fn reply(name: &str, mime: &str) -> ResponseTemplate {
    // HTTP 200 throughout: what the body says is what is judged.
    ResponseTemplate::new(200).set_body_raw(fixture(name), mime)
}

#[tokio::test]
async fn each_reply_shape_is_a_failure_or_an_empty_page_for_the_client() {
    let window = Window {
        start: "2026-11-22 00:00:00".into(),
        end: "2026-11-22 01:00:00".into(),
    };
    for (name, mime, expect) in TABLE {
        let server = wiremock::MockServer::start().await;
        orders_page(&server, None, reply(name, mime)).await;
        let client = VeapiClient::new(&veapi_config(&server.uri())).unwrap();
        let got = client.kol_orders(&window, None).await;
        match expect {
            Expect::Failure => assert!(got.is_err(), "{name}: {got:?}"),
            Expect::EmptyPage => {
                let page = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(
                    page.orders.is_empty() && page.unreadable.is_empty(),
                    "{name}"
                );
                assert_eq!(page.cursor, None, "{name}");
            }
        }
    }
}

on_both_backends! {
    #[tokio::test]
    async fn an_error_shaped_reply_keeps_the_watermark_an_empty_page_moves_it(db) {
        for (name, mime, expect) in TABLE {
            // A fresh store for each reply.
            let s = PollerSetup::start(db.fresh().await, fast_settings(), &[]).await;
            orders_page(&s.veapi, None, reply(name, mime)).await;
            let now = Utc::now();
            let result = s.poller.poll_once(now).await;
            let first_start = now.timestamp() - 24 * 3600;
            match expect {
                Expect::Failure => {
                    assert!(result.is_err(), "{name}: {result:?}");
                    assert_eq!(
                        s.poller.watermark().await.unwrap(),
                        Some(first_start + 5 * 60),
                        "{name}: the watermark stays at the window's start"
                    );
                }
                Expect::EmptyPage => {
                    assert!(result.is_ok(), "{name}: {result:?}");
                    assert_eq!(
                        s.poller.watermark().await.unwrap(),
                        Some(now.timestamp()),
                        "{name}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn a_code_and_message_refusal_keeps_its_message() {
    let server = wiremock::MockServer::start().await;
    orders_page(
        &server,
        None,
        reply("veapi/orders_code_message.json", "application/json"),
    )
    .await;
    let client = VeapiClient::new(&veapi_config(&server.uri())).unwrap();
    let window = Window {
        start: "2026-11-22 00:00:00".into(),
        end: "2026-11-22 01:00:00".into(),
    };
    let err = client.kol_orders(&window, None).await.unwrap_err();
    assert_eq!(
        err.upstream_msg(),
        Some("ip not permit, please add ip to white list first.")
    );
}
