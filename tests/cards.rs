//! End to end: the product card. The real bot (`app::run`) against the fake Bot API (which
//! answers sendPhoto as Telegram does, refusals included) and a fake veapi that serves
//! product details as veapi does (`support::cards`). Each test asserts what the user saw
//! and what upstream received.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::cards::{details_requests, product_json, Catalogue};
use support::*;

const P1: &str = "3583117383482622604";
const P2: &str = "3622901944550583125";
const P3: &str = "3590471656293989864";
const COVER: &str = "https://p3-aio.ecombdimg.com/obj/ecom-shop-material/cover1.jpg";

fn password(id: &str) -> String {
    format!("长按复制此条消息，打开抖音搜索，查看商品详情{id}ΦΦ")
}

/// P1 with a coupon price and a commission of 199 fen (kol_cos_fee).
fn p1() -> Value {
    let mut p = product_json(P1, "卡宾熊猫耳酥 130g*10袋", 5990, COVER);
    p["coupon_price"] = json!("4990");
    p["kol_cos_fee"] = json!("199");
    p
}

fn caption(m: &Value) -> &str {
    m["caption"].as_str().unwrap_or_default()
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

fn is_photo(m: &Value) -> bool {
    m["method"] == "sendPhoto"
}

async fn start(db: TestDb, extra: &[(&str, &str)], catalogue: &Catalogue) -> Harness {
    let h = Harness::start(db, extra).await;
    catalogue.mount(&h.veapi).await;
    h
}

on_both_backends! {
    #[tokio::test]
    async fn a_private_card_is_a_photo_with_title_prices_shop_rebate_and_password(db) {
        let cat = Catalogue::new(vec![p1()], true);
        let h = start(db, &[("REBATE_PERCENT", "15")], &cat).await;
        let msg_id = h.tg.push_text(&ALICE, P1);
        let sent = h.tg.wait_sent(1).await;
        let photo = &sent[0];
        assert!(is_photo(photo), "{photo}");
        assert_eq!(photo["chat_id"], ALICE.chat_id);
        assert_eq!(photo["photo"], COVER);
        assert_eq!(photo["parse_mode"], "HTML");
        assert!(photo["reply_parameters"].to_string().contains(&msg_id.to_string()), "{photo}");
        let c = caption(photo);
        for want in [
            "🛍 <b>卡宾熊猫耳酥 130g*10袋</b>",
            "💰 价格：¥59.90",
            "🎟 券后价：¥49.90",
            "🏪 店铺：卡宾熊旗舰店",
            // 199 fen × 15% = 29.85 fen: rounded down.
            "🎁 预估返利：¥0.29",
            &format!("<code>{}</code>", password(P1)),
        ] {
            assert!(c.contains(want), "{want:?} missing from {c}");
        }
        // One conversion call: the details came with it (detail=3). (Until a first share
        // reply shows whether they come, a product named by id is also looked up beside it:
        // `share_replies_with_details_stop_the_lookups_beside_the_conversion`.)
        let calls = share_calls(&h.veapi).await;
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["detail"], "3");
        assert!(cat.details_calls() <= 1);
        h.tg.settle(&ALICE).await;
        assert_eq!(h.tg.replies_to(ALICE.chat_id).len(), 1, "one card, nothing else");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn no_rebate_is_shown_without_rebate_percent(db) {
        let cat = Catalogue::new(vec![p1()], true);
        let h = start(db, &[], &cat).await;
        h.tg.push_text(&ALICE, P1);
        let sent = h.tg.wait_sent(1).await;
        let c = caption(&sent[0]);
        assert!(c.contains("💰 价格：¥59.90"), "{c}");
        assert!(!c.contains("返利") && !c.contains("¥0.29") && !c.contains("¥1.99"), "{c}");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_refused_photo_becomes_the_same_card_as_text(db) {
        // Telegram's answers when it cannot use a photo URL (tdlib/telegram-bot-api#782,
        // jellyfin/jellyfin-plugin-webhook#371, eternnoir/pyTelegramBotAPI#352,
        // Nachtalb/reverse_image_search_bot#20, mullwar/telebot#144).
        let refusals = [
            "Bad Request: wrong file identifier/HTTP URL specified",
            "Bad Request: failed to get HTTP URL content",
            "Bad Request: wrong type of the web page content",
            "Bad Request: IMAGE_PROCESS_FAILED",
        ];
        let ids = [P1, P2, P3, "3534657058714592811"];
        let products = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                product_json(id, &format!("商品{i}"), 1000, &format!("https://img.example.com/refused{i}.jpg"))
            })
            .collect();
        let cat = Catalogue::new(products, true);
        let h = start(db, &[], &cat).await;
        for (i, r) in refusals.iter().enumerate() {
            h.tg.refuse_photo(&format!("refused{i}"), refusal(400, r));
        }
        for (i, id) in ids.iter().enumerate() {
            let before = h.tg.sent_to(ALICE.chat_id).len();
            let msg_id = h.tg.push_text(&ALICE, id);
            let sent = h.tg.wait_for(before + 1, |m| m["chat_id"] == ALICE.chat_id).await;
            let card = &sent[before];
            assert!(!is_photo(card), "{card}");
            assert!(text(card).contains(&format!("🛍 <b>商品{i}</b>")), "{card}");
            assert!(text(card).contains(&format!("<code>{}</code>", password(id))), "{card}");
            assert_eq!(card["reply_parameters"]["message_id"], msg_id);
        }
        assert_eq!(h.tg.photo_attempts().len(), 4, "each photo was tried once");
        h.tg.settle(&ALICE).await;
        assert_eq!(h.tg.replies_to(ALICE.chat_id).len(), 4, "one text each, nothing twice");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn groups_get_compact_text_and_no_photo(db) {
        let cat = Catalogue::new(
            vec![p1(), product_json(P2, "婴儿湿巾", 510, COVER)],
            true,
        );
        let h = start(db, &[("REBATE_PERCENT", "15")], &cat).await;
        let msg_id = h.tg.push_text(&ALICE_IN_GROUP, &format!("{P1}\n{P2}"));
        let sent = h.tg.wait_sent(1).await;
        let reply = &sent[0];
        assert!(!is_photo(reply));
        assert_eq!(reply["chat_id"], ALICE_IN_GROUP.chat_id);
        assert_eq!(reply["reply_parameters"]["message_id"], msg_id);
        let lines: Vec<&str> = text(reply).lines().collect();
        assert_eq!(
            lines,
            [
                // Never the poster's rebate in a group: the others would take it for theirs.
                "🛍 卡宾熊猫耳酥 130g*10袋 · ¥59.90 · 券后 ¥49.90".to_string(),
                format!("<code>{}</code>", password(P1)),
                "🛍 婴儿湿巾 · ¥5.10".to_string(),
                format!("<code>{}</code>", password(P2)),
            ]
        );
        h.tg.settle(&ALICE_IN_GROUP).await;
        assert!(h.tg.photo_attempts().is_empty());
        assert_eq!(h.tg.replies_to(ALICE_IN_GROUP.chat_id).len(), 1);
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn without_details_the_reply_is_the_password_alone(db) {
        // Neither the share reply nor the lookup knows the product (taken down: "接口会返回为空").
        let cat = Catalogue::new(vec![], false);
        let h = start(db, &[("REBATE_PERCENT", "15")], &cat).await;
        h.tg.push_text(&ALICE, P1);
        let sent = h.tg.wait_sent(1).await;
        assert!(!is_photo(&sent[0]));
        assert_eq!(
            text(&sent[0]),
            format!("✅ 已转换，点击口令即可复制：\n\n<code>{}</code>\n\n复制后打开抖音即可查看商品。", password(P1))
        );
        // The lookup was tried once, for that product.
        assert_eq!(details_requests(&h.veapi).await, vec![vec![P1.to_string()]]);
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_details_lookup_that_fails_costs_the_card_not_the_password(db) {
        let h = Harness::start(db, &[]).await;
        // kol_ProductShare answers without details; the lookup fails (HTTP 500, then an
        // authorization refusal): the password still comes, alone.
        share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;
        wiremock::Mock::given(wiremock::matchers::path(support::cards::DETAILS_PATH))
            .respond_with(wiremock::ResponseTemplate::new(500))
            .up_to_n_times(1)
            .mount(&h.veapi)
            .await;
        wiremock::Mock::given(wiremock::matchers::path(support::cards::DETAILS_PATH))
            .respond_with(json_body("veapi/share_auth_expired.json"))
            .mount(&h.veapi)
            .await;
        for n in 1..=2 {
            h.tg.push_text(&BOB, &format!("https://haohuo.jinritemai.com/views/product/item2?id={P1}&n={n}"));
            let sent = h.tg.wait_sent(n).await;
            assert!(text(&sent[n - 1]).contains("<code>3M长按:/"), "{}", sent[n - 1]);
        }
        assert_eq!(details_requests(&h.veapi).await.len(), 2);
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn share_replies_without_details_are_looked_up_in_one_batched_call(db) {
        let cat = Catalogue::new(
            vec![p1(), product_json(P2, "B", 510, COVER), product_json(P3, "C", 990, COVER)],
            false,
        );
        let h = start(db, &[], &cat).await;
        h.tg.push_text(&ALICE, &format!("{P1} {P2}\n{P3}"));
        let sent = h.tg.wait_sent(3).await;
        // One card each, in the message's order, each a photo.
        let heads: Vec<&str> = sent
            .iter()
            .map(|m| caption(m).lines().next().unwrap_or_default())
            .collect();
        assert_eq!(heads, ["<b>商品 1</b>", "<b>商品 2</b>", "<b>商品 3</b>"]);
        assert!(caption(&sent[0]).contains("🛍 <b>卡宾熊猫耳酥"));
        assert!(caption(&sent[2]).contains("🛍 <b>C</b>"));
        let mut asked = details_requests(&h.veapi).await;
        assert_eq!(asked.len(), 1, "one lookup for the message: {asked:?}");
        asked[0].sort();
        assert_eq!(asked[0], [P1, P3, P2]);
        // Kept with the conversions: asking again calls nothing upstream.
        h.tg.push_text(&ALICE, P3);
        let again = h.tg.wait_sent(4).await;
        assert!(caption(&again[3]).contains("🛍 <b>C</b>"), "{}", again[3]);
        assert_eq!((cat.share_calls(), cat.details_calls()), (3, 1));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_cached_conversion_shows_its_details_without_calling_upstream(db) {
        let cat = Catalogue::new(vec![p1()], true);
        let h = start(db, &[("REBATE_PERCENT", "15")], &cat).await;
        h.tg.push_text(&ALICE, P1);
        let first = h.tg.wait_sent(1).await[0].clone();
        h.tg.push_text(&ALICE, &format!("再来一次 {P1}"));
        let second = h.tg.wait_sent(2).await[1].clone();
        assert!(is_photo(&second));
        assert_eq!(caption(&second), caption(&first));
        assert_eq!(second["photo"], COVER);
        // The second is served from the store: no call of either kind.
        let details_calls = cat.details_calls();
        h.tg.push_text(&ALICE, &format!("第三次 {P1}"));
        h.tg.wait_sent(3).await;
        assert_eq!((cat.share_calls(), cat.details_calls()), (1, details_calls));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn bad_details_give_a_bounded_escaped_card(db) {
        let long_title = format!("<b>假</b>&{}", "长".repeat(4000));
        let mut bad = product_json(P1, &long_title, 0, "http://p3-aio.ecombdimg.com/x.jpg");
        bad["shop_name"] = json!("<a href=\"https://evil.example\">店</a>");
        let mut untitled = product_json(P2, "", 990, "javascript:alert(1)");
        untitled.as_object_mut().unwrap().remove("title");
        let cat = Catalogue::new(vec![bad, untitled], true);
        let h = start(db, &[], &cat).await;
        h.tg.push_text(&ALICE, &format!("{P1} {P2}"));
        let sent = h.tg.wait_sent(1).await;
        h.tg.settle(&ALICE).await;
        // No https cover: no photo; both cards in one text.
        assert!(h.tg.photo_attempts().is_empty());
        let replies = h.tg.replies_to(ALICE.chat_id);
        assert_eq!(replies.len(), 1, "{replies:#?}");
        let t = text(&sent[0]);
        assert!(t.encode_utf16().count() <= 4096);
        assert!(t.contains("🛍 <b>&lt;b&gt;假&lt;/b&gt;&amp;长"), "{t}");
        assert!(!t.contains("<b>假") && !t.contains("<a href"), "{t}");
        let title_line = t.lines().find(|l| l.starts_with("🛍")).unwrap();
        assert!(title_line.ends_with("…</b>") && title_line.chars().count() < 120, "{title_line}");
        assert!(t.contains("&lt;a href=\"https://evil.example\"&gt;店&lt;/a&gt;"), "{t}");
        // Price 0: no price line for the first; the untitled one keeps its price and shop.
        let second = t.split("<b>商品 2</b>").nth(1).unwrap();
        let first = t.split("<b>商品 2</b>").next().unwrap();
        assert!(!first.contains("价格"), "{first}");
        assert!(!second.contains("🛍") && second.contains("💰 价格：¥9.90"), "{second}");
        assert!(t.contains(&format!("<code>{}</code>", password(P2))));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn an_english_user_gets_the_card_in_english(db) {
        let cat = Catalogue::new(vec![p1()], true);
        let h = start(db, &[("REBATE_PERCENT", "15")], &cat).await;
        h.tg.push_message(
            &ALICE,
            json!({"text": P1, "from": {"id": ALICE.user_id, "is_bot": false, "first_name": "Al", "language_code": "en-GB"}}),
        );
        let sent = h.tg.wait_sent(1).await;
        let c = caption(&sent[0]);
        for want in [
            "💰 Price: ¥59.90",
            "🎟 With coupon: ¥49.90",
            "🏪 Shop: 卡宾熊旗舰店",
            "🎁 Your estimated rebate: ¥0.29",
            "Tap the password to copy it",
        ] {
            assert!(c.contains(want), "{want:?} missing from {c}");
        }
        assert!(!c.contains("价格") && !c.contains("点击口令"), "{c}");
        h.bot.stop().await;
    }
}

/// Not a test of its own: keeps the latency knob of the fake honest (used by the bench).
#[tokio::test]
async fn the_catalogue_answers_after_its_latency() {
    let server = wiremock::MockServer::start().await;
    let cat = Catalogue::new(vec![p1()], true).with_latency(Duration::from_millis(150));
    cat.mount(&server).await;
    let started = std::time::Instant::now();
    let body = reqwest::Client::new()
        .post(format!("{}{}", server.uri(), support::cards::SHARE_PATH))
        .form(&[("productUrl", P1), ("detail", "3")])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(body["data"]["detail"]["title"], "卡宾熊猫耳酥 130g*10袋");
}

on_both_backends! {
    #[tokio::test]
    async fn a_product_named_by_id_is_looked_up_while_it_is_converted(db) {
        // The share call takes 600 ms and carries no details: the lookup must already have
        // arrived before that call is answered (beside it, not after it).
        let cat = Catalogue::new(
            vec![p1(), product_json(P2, "B", 510, COVER), product_json(P3, "C", 990, COVER)],
            false,
        )
        .with_latency(Duration::from_millis(600));
        let h = start(db, &[], &cat).await;
        h.tg.push_text(&ALICE, P1);
        let sent = h.tg.wait_sent(1).await;
        assert!(caption(&sent[0]).contains("卡宾熊猫耳酥"), "{}", sent[0]);
        let (share_at, details_at) = cat.first_arrivals();
        let details_at = details_at.expect("a details lookup");
        assert!(
            details_at < share_at.unwrap() + Duration::from_millis(600),
            "the lookup waited for the conversion"
        );
        // Two people at once, new products and a known one: each product is asked once (an
        // id in flight is joined, an answered one remembered; that ids asked together share
        // calls of 20 is `details_lookup`'s unit test).
        h.tg.push_text(&BOB, &format!("{P2} {P3}"));
        h.tg.push_text(&ALICE, &format!("{P2} 和 {P1} {P3}"));
        let sent = h.tg.wait_sent(1 + 2 + 3).await;
        assert!(sent.iter().any(|m| caption(m).contains("<b>C</b>")));
        let mut asked: Vec<String> = details_requests(&h.veapi).await.concat();
        asked.sort();
        assert_eq!(asked, [P1, P3, P2], "each product looked up once");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn share_replies_with_details_stop_the_lookups_beside_the_conversion(db) {
        let cat = Catalogue::new(vec![p1(), product_json(P2, "B", 510, COVER)], true);
        let h = start(db, &[], &cat).await;
        h.tg.push_text(&ALICE, P1);
        h.tg.wait_sent(1).await;
        // The first product was looked up beside its conversion (the bot had not yet seen a
        // reply): that call leaves after the batching window, possibly after the reply.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while cat.details_calls() < 1 {
            assert!(std::time::Instant::now() < deadline, "the first product was never looked up");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let looked_up = cat.details_calls();
        assert_eq!(looked_up, 1);
        // The bot has now seen a reply with details: the next product costs one call.
        h.tg.push_text(&ALICE, P2);
        let sent = h.tg.wait_sent(2).await;
        assert!(caption(&sent[1]).contains("<b>B</b>"), "{}", sent[1]);
        assert_eq!(cat.details_calls(), looked_up);
        assert_eq!(cat.share_calls(), 2);
        h.bot.stop().await;
    }
}
