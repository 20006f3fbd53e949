//! The fake Bot API's content checks (tests/support/limits.rs) against Telegram's rules: each
//! refusal Telegram makes is made, with Telegram's words, and the bot's usual outputs pass.
//! Without these, a test about Telegram's limits could pass against a fake that accepts
//! anything.

mod support;

use serde_json::json;
use support::limits::{check_caption, check_markup, check_message, check_text, parse_html};

const HTML: Option<&str> = Some("HTML");

fn parse_error(html: &str) -> String {
    parse_html(html).expect_err(html)
}

#[test]
fn unsupported_tags_are_refused_with_their_offset() {
    assert_eq!(
        parse_error("hi <x>y</x>"),
        "Unsupported start tag \"x\" at byte offset 3"
    );
    assert_eq!(
        parse_error("<br>"),
        "Unsupported start tag \"br\" at byte offset 0"
    );
    // A `<` that opens no tag is an (empty) start tag to Telegram.
    assert_eq!(
        parse_error("1 < 2"),
        "Unsupported start tag \"\" at byte offset 2"
    );
    // Offsets are bytes: 价 is three.
    assert_eq!(
        parse_error("价<p>"),
        "Unsupported start tag \"p\" at byte offset 3"
    );
    assert_eq!(
        parse_error("<span>x</span>"),
        "Tag \"span\" must have class \"tg-spoiler\" at byte offset 0"
    );
}

#[test]
fn tags_must_nest_and_close() {
    assert_eq!(parse_error("a</b>"), "Unexpected end tag at byte offset 1");
    assert_eq!(
        parse_error("<b>a</i>"),
        "Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\""
    );
    assert_eq!(
        parse_error("<b><i>a</b></i>"),
        "Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\""
    );
    assert_eq!(
        parse_error("<b>bold"),
        "Can't find end tag corresponding to start tag \"b\""
    );
    assert_eq!(parse_error("x <b"), "Unclosed start tag at byte offset 2");
    assert_eq!(parse_error("<b>x</b"), "Unclosed end tag at byte offset 4");
    assert_eq!(
        parse_error("<a href=\"https://x.y/\">x"),
        "Can't find end tag corresponding to start tag \"a\""
    );
    assert_eq!(
        parse_error("<a href=x/y>x</a>"),
        "Unexpected end of name token at byte offset 8"
    );
}

#[test]
fn entities_are_decoded_and_a_stray_ampersand_is_kept_as_telegram_keeps_it() {
    assert_eq!(
        parse_html("&lt;b&gt; &amp; &quot;q&quot; &#20215; &#x4EF7;").unwrap(),
        "<b> & \"q\" 价 价"
    );
    // tdlib's decode_html_entity gives up on an unknown entity and keeps the `&`.
    assert_eq!(parse_html("A&B &nbsp;").unwrap(), "A&B &nbsp;");
}

#[test]
fn the_bots_usual_markup_parses() {
    let html = "<b>卡宾熊猫耳酥 130g*10袋</b>\n💰 <b>¥21.00</b> · 返 <i>¥0.42</i>\n\
        <a href=\"https://haohuo.jinritemai.com/x?id=1&amp;origin_type=product_distribution\">查看商品</a>\n\
        <code>长按复制此条消息，打开抖音搜索</code>\n<pre>a &lt; b</pre>\n\
        <blockquote expandable>引用</blockquote> <span class=\"tg-spoiler\">s</span> \
        <tg-spoiler>t</tg-spoiler> <s>x</s><u>y</u><em>z</em><strong>w</strong>";
    let shown = parse_html(html).unwrap();
    assert!(shown.starts_with("卡宾熊猫耳酥 130g*10袋\n💰 ¥21.00 · 返 ¥0.42\n查看商品\n"));
    assert!(shown.contains("a < b"));
    assert!(!shown.contains('<') || shown.contains("a < b"));
    assert_eq!(check_text(Some(html), HTML), Ok(()));
}

#[test]
fn a_text_is_measured_after_parsing_in_utf16_units() {
    // 4096 visible characters wrapped in tags and entities: accepted.
    let body = "a".repeat(4090);
    let html = format!("<b>{body}</b>&lt;&gt;&amp;&quot;xy");
    assert!(html.len() > 4096);
    assert_eq!(check_text(Some(&html), HTML), Ok(()));
    // One more is refused.
    let html = format!("<b>{body}</b>&lt;&gt;&amp;&quot;xyz");
    assert_eq!(
        check_text(Some(&html), HTML),
        Err("Bad Request: message is too long".to_string())
    );
    // An emoji outside the BMP counts two: 2048 of them fit, 2049 do not.
    assert_eq!(check_text(Some(&"😀".repeat(2048)), HTML), Ok(()));
    assert_eq!(
        check_text(Some(&"😀".repeat(2049)), HTML),
        Err("Bad Request: message is too long".to_string())
    );
    // A CJK character counts one (it is three bytes).
    assert_eq!(check_text(Some(&"价".repeat(4096)), HTML), Ok(()));
}

#[test]
fn an_empty_text_and_unparsable_html_are_refused_with_telegrams_words() {
    for empty in ["", "   ", "<b></b>", "<b> </b>\n"] {
        assert_eq!(
            check_text(Some(empty), HTML),
            Err("Bad Request: message text is empty".to_string()),
            "{empty:?}"
        );
    }
    assert_eq!(
        check_text(None, None),
        Err("Bad Request: message text is empty".to_string())
    );
    assert_eq!(
        check_text(Some("price <5 now"), HTML),
        Err(
            "Bad Request: can't parse entities: Unsupported start tag \"5\" at byte offset 6"
                .to_string()
        )
    );
    // Without parse_mode the same text is plain.
    assert_eq!(check_text(Some("price <5 now"), None), Ok(()));
}

#[test]
fn a_caption_is_limited_to_1024_after_parsing() {
    let fits = format!("<b>{}</b>", "价".repeat(1024));
    assert_eq!(check_caption(Some(&fits), HTML), Ok(()));
    let over = format!("<b>{}</b>", "价".repeat(1025));
    assert_eq!(
        check_caption(Some(&over), HTML),
        Err("Bad Request: message caption is too long".to_string())
    );
    assert_eq!(check_caption(None, HTML), Ok(()));
    assert!(check_caption(Some("<b>x"), HTML)
        .unwrap_err()
        .starts_with("Bad Request: can't parse entities: "));
}

#[test]
fn callback_data_over_64_bytes_is_refused() {
    let keyboard = |data: &str| json!({"inline_keyboard": [[{"text": "›", "callback_data": "orders:1"}], [{"text": "x", "callback_data": data}]]});
    assert_eq!(check_markup(&keyboard(&"a".repeat(64))), Ok(()));
    assert_eq!(
        check_markup(&keyboard(&"a".repeat(65))),
        Err("Bad Request: BUTTON_DATA_INVALID".to_string())
    );
    // Bytes, not characters: 22 CJK characters are 66 bytes.
    assert_eq!(
        check_markup(&keyboard(&"价".repeat(22))),
        Err("Bad Request: BUTTON_DATA_INVALID".to_string())
    );
    // As a multipart field (sendPhoto) carries it.
    let as_text = keyboard(&"a".repeat(65)).to_string();
    assert!(check_markup(&json!(as_text)).is_err());
    assert_eq!(check_markup(&serde_json::Value::Null), Ok(()));
    let send = json!({"text": "<b>ok</b>", "parse_mode": "HTML", "reply_markup": keyboard(&"a".repeat(65))});
    assert_eq!(
        check_message(&send, true),
        Err("Bad Request: BUTTON_DATA_INVALID".to_string())
    );
}

/// Calls the fake Bot API as a client would; returns (status, description).
async fn call(tg: &support::FakeTelegram, method: &str, body: serde_json::Value) -> (u16, String) {
    let reply = reqwest::Client::new()
        .post(format!(
            "{}/bot{}/{method}",
            tg.server.uri(),
            support::BOT_TOKEN
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let body: serde_json::Value = reply.json().await.unwrap();
    (
        status,
        body["description"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn the_fake_refuses_on_the_wire_as_telegram_does() {
    let tg = support::FakeTelegram::start().await;
    let long = format!("<b>{}</b>", "价".repeat(4097));
    assert_eq!(
        call(
            &tg,
            "sendMessage",
            json!({"chat_id": 1001, "text": long, "parse_mode": "HTML"})
        )
        .await,
        (400, "Bad Request: message is too long".to_string())
    );
    assert_eq!(
        call(
            &tg,
            "sendMessage",
            json!({"chat_id": 1001, "text": "<b></b>", "parse_mode": "HTML"})
        )
        .await,
        (400, "Bad Request: message text is empty".to_string())
    );
    let button = json!({"inline_keyboard": [[{"text": "x", "callback_data": "a".repeat(65)}]]});
    assert_eq!(
        call(
            &tg,
            "sendMessage",
            json!({"chat_id": 1001, "text": "ok", "reply_markup": button})
        )
        .await,
        (400, "Bad Request: BUTTON_DATA_INVALID".to_string())
    );
    assert_eq!(
        call(
            &tg,
            "sendPhoto",
            json!({"chat_id": 1001, "photo": "https://p.example/x.jpg",
            "caption": "价".repeat(1025), "parse_mode": "HTML"})
        )
        .await,
        (400, "Bad Request: message caption is too long".to_string())
    );
    assert!(tg.sent().is_empty(), "refused messages are not shown");
    assert_eq!(tg.content_refusals().len(), 4);

    let (status, _) = call(
        &tg,
        "sendMessage",
        json!({"chat_id": 1001, "text": "<b>ok</b>", "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(status, 200);
    let id = tg.message_id_of(|_| true).unwrap();
    assert_eq!(
        call(&tg, "editMessageText", json!({"chat_id": 1001, "message_id": id, "text": "<b>new</i>", "parse_mode": "HTML"})).await,
        (400, "Bad Request: can't parse entities: Unmatched end tag at byte offset 6, expected \"</b>\", found \"</i>\"".to_string())
    );
    assert!(tg.edits().is_empty());

    let query = tg.push_inline(&support::ALICE, "x");
    tg.note_inline_delivered(&query);
    let article = |text: &str| {
        json!({"type": "article", "id": "1", "title": "t",
        "input_message_content": {"message_text": text, "parse_mode": "HTML"}})
    };
    assert_eq!(
        call(
            &tg,
            "answerInlineQuery",
            json!({"inline_query_id": query, "results": [article("a <x> b")]})
        )
        .await,
        (
            400,
            "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 2"
                .to_string()
        )
    );
    assert_eq!(
        call(
            &tg,
            "answerInlineQuery",
            json!({"inline_query_id": query, "results": [article(&"a".repeat(4097))]})
        )
        .await,
        (400, "Bad Request: message is too long".to_string())
    );
    let mut untitled = article("ok");
    untitled.as_object_mut().unwrap().remove("title");
    assert_eq!(
        call(
            &tg,
            "answerInlineQuery",
            json!({"inline_query_id": query, "results": [untitled]})
        )
        .await,
        (
            400,
            "Bad Request: can't parse inline query result: Can't find field \"title\"".to_string()
        )
    );
    let many: Vec<_> = (0..51)
        .map(|i| {
            let mut a = article("ok");
            a["id"] = json!(i.to_string());
            a
        })
        .collect();
    assert_eq!(
        call(
            &tg,
            "answerInlineQuery",
            json!({"inline_query_id": query, "results": many})
        )
        .await,
        (400, "Bad Request: RESULTS_TOO_MUCH".to_string())
    );
    assert_eq!(
        call(
            &tg,
            "answerInlineQuery",
            json!({"inline_query_id": query, "results": [article("<b>ok</b> &amp; more")]})
        )
        .await,
        (200, String::new())
    );
}
