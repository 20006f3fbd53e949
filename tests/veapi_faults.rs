//! Fault injection on veapi, end to end: the real dispatcher against a fake veapi that fails
//! in every way a test can script. Each fault must give the user a clear answer, and the
//! next message must work (nothing cached, nothing stuck, nothing panicked).

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::*;
use wiremock::{MockServer, ResponseTemplate};

const PRODUCT: &str = "3583117383482622604";
const PASSWORD: &str = "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽";

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

fn envelope(error: Value, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "error": error, "msg": msg, "data": {}, "request_id": "f1"
    }))
}

/// Sends the product, expects one reply containing `expected`, then checks that the reply
/// shows nothing of the operator's side.
async fn answer_to_product(
    tg: &FakeTelegram,
    user: &Sender,
    expected: &str,
    fault: &str,
) -> String {
    let before = tg.sent_to(user.chat_id).len();
    tg.push_text(user, PRODUCT);
    let sent = tg
        .wait_for(before + 1, |m| m["chat_id"] == user.chat_id)
        .await;
    let t = text(&sent[before]).to_string();
    assert!(
        t.contains(expected),
        "{fault}: expected {expected:?} in {t:?}"
    );
    for leak in [VEKEY, "request_id", "error", "http://", "500", "10008"] {
        assert!(!t.contains(leak), "{fault}: the reply shows {leak:?}: {t}");
    }
    t
}

on_both_backends! {
    #[tokio::test]
    async fn every_veapi_fault_gets_a_clear_answer_and_the_next_message_works(db) {
        let tg = FakeTelegram::start().await;
        let veapi = MockServer::start().await;
        let bot = RunningBot::start(config_with(
            &tg,
            &veapi,
            &db,
            // Every message must reach veapi: no answers from the conversion cache.
            &[("VEAPI_TIMEOUT_SECS", "1"), ("CONVERSION_CACHE_SECS", "0")],
        ));

        let faults: Vec<(&str, ResponseTemplate, &str)> = vec![
            (
                "HTTP 500",
                ResponseTemplate::new(500).set_body_string("Internal Server Error"),
                "暂时连不上转换服务",
            ),
            (
                "a non-JSON body",
                ResponseTemplate::new(200).set_body_string("<html>502 Bad Gateway</html>"),
                "暂时连不上转换服务",
            ),
            (
                "a truncated JSON body",
                ResponseTemplate::new(200).set_body_string(r#"{"error":"0","msg":"查询成功","da"#),
                "暂时连不上转换服务",
            ),
            (
                "a product refusal",
                json_body("veapi/share_not_in_alliance.json"),
                "没有加入抖音精选联盟",
            ),
            (
                "a generic conversion refusal",
                json_body("veapi/share_refused.json"),
                "这个商品暂时无法转换",
            ),
            (
                "expired authorization",
                json_body("veapi/share_auth_expired.json"),
                "需要管理员处理",
            ),
            (
                "an exhausted or unknown key",
                envelope(json!("1"), "vekey不存在或已到期"),
                "需要管理员处理",
            ),
            (
                "throttling",
                envelope(json!("256"), "请求太频繁，请稍后再试"),
                "抖音接口繁忙",
            ),
            (
                "an unclassified error",
                envelope(json!(99), "系统维护中"),
                "转换失败：系统维护中",
            ),
            (
                "a reply slower than the timeout",
                json_body("veapi/share_ok.json").set_delay(Duration::from_secs(4)),
                "暂时连不上转换服务",
            ),
        ];

        // A user per message: Telegram allows one message per second per chat, and the throttle
        // would otherwise make this test wait for that instead of for the bot.
        let user = |n: usize| Sender {
            user_id: 3000 + n as u64,
            chat_id: 3000 + n as i64,
        };
        for (i, (fault, reply, expected)) in faults.into_iter().enumerate() {
            veapi.reset().await;
            share_reply(&veapi, None, reply).await;
            let started = std::time::Instant::now();
            answer_to_product(&tg, &user(2 * i), expected, fault).await;
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{fault}: the answer took {:?}",
                started.elapsed()
            );

            // The failure was not remembered: the same product converts as soon as veapi works.
            veapi.reset().await;
            share_reply(&veapi, None, json_body("veapi/share_ok.json")).await;
            answer_to_product(&tg, &user(2 * i + 1), PASSWORD, &format!("after {fault}")).await;
            assert_eq!(share_calls(&veapi).await.len(), 1, "after {fault}");
        }
        bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_refused_connection_gets_a_clear_answer_and_service_resumes_when_veapi_is_back(db) {
        let tg = FakeTelegram::start().await;
        // A port nobody listens on, until the test starts veapi there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let placeholder = MockServer::start().await;
        let mut config = config(&tg, &placeholder, &db);
        if let Some(v) = config.veapi.as_mut() {
            v.base_url = format!("http://127.0.0.1:{port}").parse().unwrap();
        }
        let bot = RunningBot::start(config);

        answer_to_product(&tg, &ALICE, "暂时连不上转换服务", "connection refused").await;

        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let veapi = MockServer::builder().listener(listener).start().await;
        share_reply(&veapi, None, json_body("veapi/share_ok.json")).await;
        answer_to_product(&tg, &BOB, PASSWORD, "veapi back").await;
        assert!(placeholder.received_requests().await.unwrap().is_empty());
        bot.stop().await;
    }
}
