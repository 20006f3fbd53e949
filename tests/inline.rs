//! Inline mode end to end: the real bot (dispatcher, converter, store) long-polls the fake
//! Bot API, which hands out `inline_query` updates and checks answerInlineQuery as Telegram
//! does (tests/support/inline.rs); veapi is a loopback fake that makes each 抖口令 from the
//! `external_info` it is sent, so a password shows whose it is.

mod support;

use douyin_link_bot::telegram::inline::MIN_ID_DIGITS;
use douyin_link_bot::tracking;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::inline::InlineAnswer;
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SHARE: &str = "9.28 reo:/ 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】猫耳酥 长按复制此条消息，打开抖音搜索，查看商品详情！";
const SHORT: &str = "https://v.douyin.com/i2wDMRRN/";
const ID: &str = "3583117383482622604";

/// kol_ProductShare answering after `delay` with a 抖口令 that carries the external_info it
/// was sent (the sample reply of `fixtures/veapi/share_ok.json` otherwise).
struct PerUserShare {
    delay: Duration,
    received: Arc<Mutex<Vec<(String, String)>>>,
}

fn password_for(external_info: &str) -> String {
    format!("3M长按:/ 复制此条消息,打开抖音搜索,查看商品详情ŠŠ{external_info}▽▽")
}

impl Respond for PerUserShare {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let f = form(req);
        let ext = f.get("external_info").cloned().unwrap_or_default();
        let product = f.get("productUrl").cloned().unwrap_or_default();
        self.received.lock().unwrap().push((product, ext.clone()));
        let mut body: Value = serde_json::from_str(&fixture("veapi/share_ok.json")).unwrap();
        body["data"]["dy_password"] = json!(password_for(&ext));
        ResponseTemplate::new(200)
            .set_body_json(body)
            .set_delay(self.delay)
    }
}

struct Bot {
    tg: FakeTelegram,
    _veapi: MockServer,
    bot: RunningBot,
    /// (productUrl, external_info) of every conversion veapi received.
    received: Arc<Mutex<Vec<(String, String)>>>,
    _db: TestDb,
}

impl Bot {
    async fn start(db: TestDb, extra: &[(&str, &str)]) -> Bot {
        Self::start_slow(db, extra, Duration::ZERO).await
    }

    async fn start_slow(db: TestDb, extra: &[(&str, &str)], delay: Duration) -> Bot {
        let tg = FakeTelegram::start().await;
        let veapi = MockServer::start().await;
        let received = Arc::new(Mutex::new(Vec::new()));
        Mock::given(method("POST"))
            .and(path("/douke/kol_ProductShare"))
            .respond_with(PerUserShare {
                delay,
                received: received.clone(),
            })
            .mount(&veapi)
            .await;
        orders_page(&veapi, None, orders_body(vec![], "")).await;
        let bot = RunningBot::start_tuned(config_with(&tg, &veapi, &db, extra), fast_tuning());
        Bot {
            tg,
            _veapi: veapi,
            bot,
            received,
            _db: db,
        }
    }

    fn received(&self) -> Vec<(String, String)> {
        self.received.lock().unwrap().clone()
    }

    /// Asks `q` as `from` and waits for its answer.
    async fn ask(&self, from: &Sender, q: &str) -> InlineAnswer {
        let id = self.tg.push_inline(from, q);
        self.tg.wait_answer(&id).await
    }
}

/// Answers arrived in the order their queries were sent: none after a newer query's.
fn assert_in_order(answers: &[InlineAnswer]) {
    let order: Vec<u64> = answers
        .iter()
        .map(|a| a.query_id().trim_start_matches("iq").parse().unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

fn assert_personal(a: &InlineAnswer) {
    assert_eq!(a.body["is_personal"], json!(true), "{:#?}", a.body);
    assert_eq!(a.body["cache_time"], json!(0), "{:#?}", a.body);
    assert_eq!(a.refused, None, "{:#?}", a);
}

on_both_backends! {
    /// Alice and Bob type the same share text: each gets a 抖口令 made for them (upstream was
    /// sent their own external_info), answered personal and uncached, and the conversion is
    /// remembered in their private chat only, so order news never falls back to a group.
    #[tokio::test(flavor = "multi_thread")]
    async fn each_person_gets_their_own_password(db) {
        let b = Bot::start(db, &[]).await;
        let alice = b.ask(&ALICE, SHARE).await;
        let bob = b.ask(&BOB, SHARE).await;
        for (a, who) in [(&alice, &ALICE), (&bob, &BOB)] {
            assert_personal(a);
            let results = a.results();
            assert_eq!(results.len(), 1, "{results:#?}");
            let r = &results[0];
            assert_eq!(r["type"], "article");
            assert_eq!(r["input_message_content"]["parse_mode"], "HTML");
            let pw = password_for(&tracking::encode(who.user_id));
            let text = r["input_message_content"]["message_text"].as_str().unwrap();
            assert!(text.starts_with(&format!("<code>{pw}</code>")), "{text}");
            assert!(r["id"].as_str().unwrap().len() <= 64);
        }
        assert_ne!(alice.texts(), bob.texts());
        let received = b.received();
        assert_eq!(received.len(), 2, "{received:?}");
        let mut people: Vec<u64> = received
            .iter()
            .map(|(product, ext)| {
                assert_eq!(product, SHORT);
                tracking::decode(ext).unwrap()
            })
            .collect();
        people.sort();
        assert_eq!(people, vec![ALICE.user_id, BOB.user_id]);
        // Long polling asked Telegram for inline queries.
        let polls = b.tg.calls("getUpdates").await;
        let allowed = polls[0]["allowed_updates"].as_array().unwrap();
        assert!(allowed.contains(&json!("inline_query")), "{allowed:?}");

        let store = douyin_link_bot::store::Store::open(b._db.url()).await.unwrap();
        assert_eq!(store.fallback_chat(ALICE.user_id, None).await.unwrap(), None);
        assert_eq!(store.fallback_chat(ALICE.user_id, Some(ID)).await.unwrap(), None);
        store.close().await;
        // Nothing was posted anywhere by the bot itself.
        assert!(b.tg.sent().is_empty(), "{:#?}", b.tg.sent());
        b.bot.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_without_a_reference_gets_the_hint_and_a_button() {
    let b = Bot::start(TestDb::sqlite(), &[]).await;
    for q in [
        "",
        "好物推荐",
        "https://item.taobao.com/item.htm?id=123456789012",
    ] {
        let a = b.ask(&ALICE, q).await;
        assert_personal(&a);
        let results = a.results();
        assert_eq!(results.len(), 1, "{q}: {results:#?}");
        assert!(
            results[0]["title"]
                .as_str()
                .unwrap()
                .contains("粘贴抖音商品链接"),
            "{results:#?}"
        );
        assert!(a.texts()[0].contains("@dy_link_bot"), "{:?}", a.texts());
        assert_eq!(a.body["button"]["start_parameter"], "inline");
    }
    assert!(b.received().is_empty());
    b.bot.stop().await;
}

/// An English app gets English results: the hint, and the text a 抖口令 is posted with.
#[tokio::test(flavor = "multi_thread")]
async fn english_apps_get_english_results() {
    let b = Bot::start(TestDb::sqlite(), &[]).await;
    let id = b.tg.push_inline_lang(&ALICE, "en-GB", "hello");
    let a = b.tg.wait_answer(&id).await;
    assert_eq!(a.results()[0]["title"], "Paste a Douyin product link");
    assert_eq!(a.button_text().as_deref(), Some("Open a private chat"));
    let id = b.tg.push_inline_lang(&ALICE, "en", SHARE);
    let a = b.tg.wait_answer(&id).await;
    assert!(
        a.texts()[0].ends_with("Copy the code and open Douyin to see the product."),
        "{:?}",
        a.texts()
    );
    b.bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn half_typed_references_call_nobody() {
    let b = Bot::start(TestDb::sqlite(), &[]).await;
    for q in [
        "v.douyin.com/i2w",
        "https://v.douyin.com/i2wDMR/",
        "35831173834826",
        "35831173834826 好价",
    ] {
        let a = b.ask(&ALICE, q).await;
        assert_personal(&a);
        let results = a.results();
        assert_eq!(results.len(), 1, "{q}: {results:#?}");
        assert!(
            results[0]["title"].as_str().unwrap().contains("继续输入"),
            "{q}: {results:#?}"
        );
    }
    assert!(b.received().is_empty(), "{:?}", b.received());
    b.bot.stop().await;
}

/// A product id typed digit by digit, then a word after it, all in one batch of updates:
/// one upstream call (for the whole id), only the newest query answered. Typing on after
/// it is converted calls upstream no more, even with the store's cache off.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_keystrokes_makes_one_upstream_call() {
    let b = Bot::start(TestDb::sqlite(), &[("CONVERSION_CACHE_SECS", "0")]).await;
    let mut keystrokes: Vec<String> = (12..=ID.len()).map(|n| ID[..n].to_string()).collect();
    keystrokes.push(format!("{ID} "));
    keystrokes.push(format!("{ID} 好"));
    keystrokes.push(format!("{ID} 好价"));
    let texts: Vec<&str> = keystrokes.iter().map(String::as_str).collect();
    let ids = b.tg.push_inline_burst(&BOB, &texts);
    let last = ids.last().unwrap();
    let a = b.tg.wait_answer(last).await;
    assert_personal(&a);
    let pw = password_for(&tracking::encode(BOB.user_id));
    assert!(a.texts()[0].contains(&pw), "{:?}", a.texts());
    assert_eq!(b.received().len(), 1, "{:?}", b.received());
    assert_eq!(b.received()[0].0, ID);

    // More keystrokes: the same reference, answered again without calling upstream.
    let more =
        b.tg.push_inline_burst(&BOB, &[&format!("{ID} 好价!"), &format!("{ID} 好价!!")]);
    let a = b.tg.wait_answer(&more[1]).await;
    assert!(a.texts()[0].contains(&pw));
    // An older query is answered before every newer one or never. A half-typed one (under
    // 15 digits) may be answered "keep typing" at once; a whole id ending the query waits
    // QUIET, and is dropped then since newer queries arrived.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_in_order(&b.tg.inline_answers());
    let partial = MIN_ID_DIGITS - 12;
    for settling in &ids[partial..ids.len() - 3] {
        assert!(b.tg.answers_to(settling).is_empty(), "{settling} answered");
    }
    assert_eq!(b.received().len(), 1, "{:?}", b.received());
    b.bot.stop().await;
}

/// Upstream is slow (300 ms): a newer keystroke naming the same reference joins the call
/// in flight; the older query is answered before the newer one or not at all.
#[tokio::test(flavor = "multi_thread")]
async fn a_keystroke_during_a_conversion_joins_it() {
    let b = Bot::start_slow(TestDb::sqlite(), &[], Duration::from_millis(300)).await;
    let first = b.tg.push_inline(&ALICE, SHARE);
    // The first query's conversion is under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.received().is_empty() {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = b.tg.push_inline(&ALICE, &format!("{SHARE} 冲"));
    let a = b.tg.wait_answer(&second).await;
    assert_personal(&a);
    assert_eq!(a.results().len(), 1);
    assert_eq!(b.received().len(), 1, "{:?}", b.received());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_in_order(&b.tg.inline_answers());
    assert!(b.tg.answers_to(&first).len() <= 1);
    b.bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_off_refuses_others_but_serves_operators() {
    let admin = ALICE.user_id.to_string();
    let b = Bot::start(
        TestDb::sqlite(),
        &[("INLINE", "off"), ("ADMIN_USER_IDS", &admin)],
    )
    .await;
    let bob = b.ask(&BOB, SHARE).await;
    assert_personal(&bob);
    assert!(bob.results().is_empty(), "{:#?}", bob.results());
    assert!(
        bob.button_text().unwrap().contains("私聊"),
        "{:?}",
        bob.body
    );
    assert_eq!(bob.body["button"]["start_parameter"], "inline");
    assert!(b.received().is_empty());

    let alice = b.ask(&ALICE, SHARE).await;
    assert_personal(&alice);
    assert!(alice.texts()[0].contains(&password_for(&tracking::encode(ALICE.user_id))));
    assert_eq!(b.received().len(), 1);
    b.bot.stop().await;
}

/// The chat allow-list is about chats; an inline query has none, so it does not apply.
#[tokio::test(flavor = "multi_thread")]
async fn the_chat_allow_list_does_not_apply_inline() {
    let b = Bot::start(TestDb::sqlite(), &[("ALLOWED_CHAT_IDS", "-100777")]).await;
    let bob = b.ask(&BOB, SHARE).await;
    assert!(bob.texts()[0].contains(&password_for(&tracking::encode(BOB.user_id))));
    b.bot.stop().await;
}

/// USER_RATE_LIMIT=2: three products in one query get two results and a button saying
/// when to try again; the same query again converts nothing new.
#[tokio::test(flavor = "multi_thread")]
async fn the_per_user_limit_counts_conversions_not_keystrokes() {
    let b = Bot::start(TestDb::sqlite(), &[("USER_RATE_LIMIT", "2")]).await;
    let q = "3583117383482622604 3583117383482622605 3583117383482622606 好价";
    let a = b.ask(&BOB, q).await;
    assert_personal(&a);
    assert_eq!(a.results().len(), 2, "{:#?}", a.results());
    let button = a.button_text().expect("a rate-limit button");
    assert!(button.contains("秒后再试"), "{button}");
    assert_eq!(b.received().len(), 2);

    let a = b.ask(&BOB, &format!("{q}!")).await;
    assert_eq!(a.results().len(), 2);
    assert!(a.button_text().is_some());
    assert_eq!(b.received().len(), 2, "{:?}", b.received());
    b.bot.stop().await;
}

/// Telegram gave up on a query ("query is too old…"): the bot shrugs and answers the next.
#[tokio::test(flavor = "multi_thread")]
async fn a_query_telegram_gave_up_on_is_not_an_error() {
    let b = Bot::start_slow(TestDb::sqlite(), &[], Duration::from_millis(200)).await;
    let id = b.tg.push_inline(&ALICE, SHARE);
    b.tg.expire_inline(&id);
    let a = b.tg.wait_answer(&id).await;
    assert_eq!(
        a.refused.as_deref(),
        Some("Bad Request: query is too old and response timeout expired or query ID is invalid")
    );
    let next = b.ask(&ALICE, &format!("{SHARE} 冲")).await;
    assert_personal(&next);
    assert_eq!(b.received().len(), 1);
    b.bot.stop().await;
}

/// Webhook mode: setWebhook asked for inline queries, and one posted to the webhook is
/// answered like one fetched by getUpdates.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_mode_takes_inline_queries() {
    const SECRET: &str = "webhook_Secret-0123456789abcdef";
    let tg = FakeTelegram::start().await;
    let veapi = MockServer::start().await;
    share_reply(&veapi, None, json_body("veapi/share_ok.json")).await;
    let db = TestDb::sqlite();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = config_with(
        &tg,
        &veapi,
        &db,
        &[
            ("WEBHOOK_URL", "https://bot.example.com/tg/hook"),
            ("WEBHOOK_SECRET", SECRET),
            ("HTTP_LISTEN", &addr.to_string()),
        ],
    );
    let bot = RunningBot::start_on(config, listener);
    let set = tg.wait_call("setWebhook").await;
    let allowed: Value = serde_json::from_str(set[0]["allowed_updates"].as_str().unwrap()).unwrap();
    assert!(
        allowed.as_array().unwrap().contains(&json!("inline_query")),
        "{allowed}"
    );

    tg.note_inline_delivered("wq1");
    let update = json!({"update_id": 77, "inline_query": support::inline::inline_query("wq1", &ALICE, SHARE)});
    let status = reqwest::Client::new()
        .post(format!("http://{addr}/tg/hook"))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&update)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let a = tg.wait_answer("wq1").await;
    assert_personal(&a);
    assert!(
        a.texts()[0].starts_with("<code>3M长按:/"),
        "{:?}",
        a.texts()
    );
    let calls = share_calls(&veapi).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(
        tracking::decode(&calls[0]["external_info"]).unwrap(),
        ALICE.user_id
    );
    bot.stop().await;
}

on_both_backends! {
    /// With product details, a result shows the product (title, price, picture and, to the
    /// typer only, their rebate) and posts the compact card, which never shows the rebate:
    /// it lands in a chat with others.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_result_shows_the_product_and_posts_the_card_without_the_rebate(db) {
        let tg = FakeTelegram::start().await;
        let veapi = MockServer::start().await;
        let catalogue = support::cards::Catalogue::new(
            vec![support::cards::product_json(ID, "<b>猫耳酥</b> 10袋", 5990, "https://p3.example/cover.jpeg")],
            true,
        );
        catalogue.mount(&veapi).await;
        orders_page(&veapi, None, orders_body(vec![], "")).await;
        let bot = RunningBot::start_tuned(
            config_with(&tg, &veapi, &db, &[("REBATE_PERCENT", "15")]),
            fast_tuning(),
        );
        let id = tg.push_inline(&ALICE, &format!("{ID} "));
        let answer = tg.wait_answer(&id).await;
        let results = answer.results();
        assert_eq!(results.len(), 1, "{results:#?}");
        let r = &results[0];
        assert_eq!(r["title"], "<b>猫耳酥</b> 10袋", "the result list is plain text");
        assert_eq!(r["thumbnail_url"], "https://p3.example/cover.jpeg");
        let description = r["description"].as_str().unwrap();
        // cos_fee 599 fen × 15 % = 89.85 → ¥0.89 for the typer's eyes.
        assert!(description.contains("¥59.90") && description.contains("返 ¥0.89"), "{description}");
        let posted = r["input_message_content"]["message_text"].as_str().unwrap();
        assert!(posted.contains("&lt;b&gt;猫耳酥&lt;/b&gt; 10袋"), "{posted}");
        assert!(posted.contains("¥59.90") && posted.contains("<code>"), "{posted}");
        assert!(!posted.contains("返") && !posted.contains("0.89"), "no rebate posted: {posted}");
        bot.stop().await;
    }
}
