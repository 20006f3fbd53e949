//! End to end: the promoter's text rewritten (issue 12, part 2). The real dispatcher
//! (`app::run`) against the fake Bot API and a fake veapi that issues each user their own
//! 抖口令 per product. Each test asserts what the user saw and what upstream received.

mod support;

use douyin_link_bot::tracking;
use serde_json::{json, Value};
use support::*;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const GROUP: i64 = -100_777;
/// Posted the promo in the group; never asks for anything.
const BOB_IN_GROUP: Sender = Sender {
    user_id: 2002,
    chat_id: GROUP,
};

/// kol_ProductShare issuing a 抖口令 per product and user, shaped as the real one
/// (fixtures/veapi/share_ok.json: `3M长按:/ …查看商品详情ŠŠ<core>▽▽`); the core names the
/// user (their external_info without `_`) and the product (a tag of its productUrl), so a
/// test reads whose password it got.
struct PerUserShare;

fn core(product_url: &str, external_info: &str) -> String {
    let tag: u32 = product_url.bytes().map(u32::from).sum::<u32>() % 1000;
    let user: String = external_info
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{user}P{tag:03}")
}

fn password(product_url: &str, user_id: u64) -> String {
    format!(
        "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠ{}▽▽",
        core(product_url, &tracking::encode(user_id))
    )
}

impl Respond for PerUserShare {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let f = form(req);
        let pw = password(
            &f["productUrl"],
            tracking::decode(&f["external_info"]).expect("our external_info"),
        );
        ResponseTemplate::new(200).set_body_json(json!({
            "error": "0", "msg": "转链成功!",
            "data": {
                "dy_password": pw,
                "share_link": "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=3583117383482622604",
                "dy_deeplink": null, "dy_zlink": null,
                "coupon_link": {"coupon_status": 0, "share_command": null, "share_link": null, "deeplink": null}
            },
            "request_id": "fake"
        }))
    }
}

const REFUSED: &str = "3583117383482622604";
const SHORT_A: &str = "https://v.douyin.com/i2wDMRRN/";
const SHORT_B: &str = "https://v.douyin.com/iUqwFX7b/";

/// Every product converts, except REFUSED (not in the alliance, veapi's own answer).
async fn mount_veapi(veapi: &MockServer) {
    share_reply(
        veapi,
        Some(REFUSED),
        json_body("veapi/share_not_in_alliance.json"),
    )
    .await;
    Mock::given(wiremock::matchers::path("/douke/kol_ProductShare"))
        .respond_with(PerUserShare)
        .mount(veapi)
        .await;
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

fn is_rewrite(m: &Value) -> bool {
    text(m).contains("<pre>")
}

/// The block's content as the user copies it (Telegram shows the escaped text literally).
fn block(m: &Value) -> String {
    let t = text(m);
    let inner = &t[t.find("<pre>").unwrap() + 5..t.find("</pre>").unwrap()];
    inner
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

const PROMO_HEAD: &str = "🔥今日好物 <b>限时</b> & 包邮\n\n1️⃣ 猫耳酥 券后9.9\n";
const SHARE: &str = "9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】猫耳酥\n长按复制此条消息，打开抖音搜索，查看商品详情！";

fn promo() -> String {
    format!(
        "{PROMO_HEAD}{SHARE}\n2️⃣ 抽纸👉{SHORT_B}👈，再发一次：{SHORT_B}\n3️⃣ 商品ID：{REFUSED}（先别买）\n  冲！"
    )
}

/// The promo as the user who asked must get it back.
fn promo_for(user_id: u64) -> String {
    let a = password(SHORT_A, user_id);
    let b = password(SHORT_B, user_id);
    format!(
        "{PROMO_HEAD}{a}\n2️⃣ 抽纸👉{b}👈，再发一次：{b}\n3️⃣ 商品ID：{REFUSED}⚠️（先别买）\n  冲！"
    )
}

on_both_backends! {
    #[tokio::test]
    async fn a_private_promo_comes_back_whole_with_the_users_passwords(db) {
        let h = Harness::start(db, &[]).await;
        mount_veapi(&h.veapi).await;

        let msg_id = h.tg.push_text(&ALICE, &promo());
        let got = h.tg.wait_for(1, is_rewrite).await;
        let rewrite = &got[0];
        assert_eq!(rewrite["chat_id"], ALICE.chat_id);
        assert_eq!(rewrite["reply_parameters"]["message_id"], msg_id);
        assert_eq!(block(rewrite), promo_for(ALICE.user_id));
        // The refused one is named under the block, in the existing words.
        let t = text(rewrite);
        let note = &t[t.find("</pre>").unwrap()..];
        assert!(note.contains(REFUSED) && note.contains("没有加入抖音精选联盟"), "{t}");

        // Each distinct reference converted once, for Alice.
        let calls = share_calls(&h.veapi).await;
        let mut asked: Vec<&str> = calls.iter().map(|c| c["productUrl"].as_str()).collect();
        asked.sort();
        assert_eq!(asked, vec![REFUSED, SHORT_A, SHORT_B]);
        for c in &calls {
            assert_eq!(c["external_info"], tracking::encode(ALICE.user_id));
        }
        // The usual reply came too, before the rewrite.
        h.tg.settle(&ALICE).await;
        let replies = h.tg.replies_to(ALICE.chat_id);
        assert_eq!(replies.len(), 2, "{replies:?}");
        assert!(!is_rewrite(&replies[0]) && is_rewrite(&replies[1]));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_text_of_references_only_gets_no_rewrite(db) {
        let h = Harness::start(db, &[]).await;
        mount_veapi(&h.veapi).await;
        h.tg.push_text(&ALICE, &format!("👉 {SHORT_B} ！\n{SHARE}"));
        h.tg.wait_sent(1).await;
        h.tg.settle(&ALICE).await;
        let replies = h.tg.replies_to(ALICE.chat_id);
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert!(!is_rewrite(&replies[0]));
        assert_eq!(share_calls(&h.veapi).await.len(), 2);
        h.bot.stop().await;
    }
}

/// Bob's promo in the group, with a product behind hidden words (`text_link`), as a
/// `/rewrite` carries it in `reply_to_message`.
fn bobs_promo(h: &Harness) -> (Value, String) {
    let words = "点这里抢";
    let text = format!("{}今晚八点 {words} 手慢无", promo());
    let offset = text[..text.find(words).unwrap()].encode_utf16().count();
    let mut m = h.tg.message(
        &BOB_IN_GROUP,
        json!({
            "text": text,
            "entities": [{"type": "text_link", "offset": offset, "length": words.encode_utf16().count(),
                          "url": "https://v.douyin.com/iAbC456/"}]
        }),
    );
    m["message_id"] = json!(77);
    (m, text)
}

fn bobs_promo_for(user_id: u64) -> String {
    format!(
        "{}今晚八点 点这里抢 {} 手慢无",
        promo_for(user_id),
        password("https://v.douyin.com/iAbC456/", user_id)
    )
}

on_both_backends! {
    #[tokio::test]
    async fn group_rewrite_is_sent_privately_and_attributed_to_who_asked(db) {
        let h = Harness::start(db, &[]).await;
        mount_veapi(&h.veapi).await;
        let (original, _) = bobs_promo(&h);
        let cmd = h.tg.push_message(
            &ALICE_IN_GROUP,
            json!({"text": "/rewrite@dy_link_bot", "reply_to_message": original}),
        );

        let got = h.tg.wait_for(1, is_rewrite).await;
        assert_eq!(got[0]["chat_id"], ALICE.chat_id, "answered in Alice's private chat");
        assert_eq!(block(&got[0]), bobs_promo_for(ALICE.user_id));
        assert!(!text(&got[0]).contains("<a "), "no link in the answer");

        // Alice's, not Bob's: every call carried Alice's tracking value.
        let calls = share_calls(&h.veapi).await;
        assert_eq!(calls.len(), 4);
        for c in &calls {
            assert_eq!(c["external_info"], tracking::encode(ALICE.user_id));
        }
        // The group heard nothing.
        h.tg.settle(&ALICE_IN_GROUP).await;
        assert!(h.tg.replies_to(GROUP).is_empty(), "{:?}", h.tg.replies_to(GROUP));
        assert!(h.tg.sent().iter().all(|m| m["reply_parameters"]["message_id"] != cmd));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_sender_who_never_started_the_bot_is_answered_in_the_group(db) {
        let h = Harness::start(db, &[]).await;
        mount_veapi(&h.veapi).await;
        h.tg.fail_chat(ALICE.chat_id, not_started());
        let (original, _) = bobs_promo(&h);
        let cmd = h.tg.push_message(
            &ALICE_IN_GROUP,
            json!({"text": "/rewrite", "reply_to_message": original}),
        );
        let got = h.tg.wait_for(1, is_rewrite).await;
        assert_eq!(got[0]["chat_id"], GROUP);
        assert_eq!(got[0]["reply_parameters"]["message_id"], cmd);
        assert_eq!(block(&got[0]), bobs_promo_for(ALICE.user_id));
        assert!(text(&got[0]).contains("/start"), "{}", text(&got[0]));
        assert_eq!(h.tg.attempts_to(ALICE.chat_id), 1, "tried privately first");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn rewrite_without_a_reply_or_references_explains_itself(db) {
        let h = Harness::start(db, &[("USER_RATE_LIMIT", "60")]).await;
        mount_veapi(&h.veapi).await;
        let bare = h.tg.push_text(&ALICE_IN_GROUP, "/rewrite");
        let plain = h.tg.message(&BOB_IN_GROUP, json!({"text": "大家晚上好 <b>hi</b>"}));
        let on_plain = h.tg.push_message(
            &ALICE_IN_GROUP,
            json!({"text": "/rewrite", "reply_to_message": plain}),
        );
        let got = h.tg.wait_for(2, |m| m["chat_id"] == GROUP).await;
        for (m, id) in got.iter().zip([bare, on_plain]) {
            assert!(text(m).contains("/rewrite") && text(m).contains("用法"), "{}", text(m));
            assert_eq!(m["reply_parameters"]["message_id"], id);
        }
        assert!(share_calls(&h.veapi).await.is_empty());
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn in_private_rewrite_works_as_a_reply_and_keeps_to_the_rate_limit(db) {
        // Two conversions a minute: the promo's third and fourth products stay as written.
        let h = Harness::start(db, &[("USER_RATE_LIMIT", "2")]).await;
        mount_veapi(&h.veapi).await;
        let (mut original, _) = bobs_promo(&h);
        original["chat"] = json!({"id": ALICE.chat_id, "type": "private", "first_name": "U"});
        let cmd = h.tg.push_message(&ALICE, json!({"text": "/rewrite", "reply_to_message": original}));
        let got = h.tg.wait_for(1, is_rewrite).await;
        assert_eq!(got[0]["chat_id"], ALICE.chat_id);
        assert_eq!(got[0]["reply_parameters"]["message_id"], cmd);
        let b = block(&got[0]);
        assert!(b.contains(&password(SHORT_A, ALICE.user_id)), "{b}");
        assert!(b.contains(&password(SHORT_B, ALICE.user_id)), "{b}");
        assert!(b.contains(&format!("{REFUSED}⚠️")), "{b}");
        assert!(b.contains("点这里抢⚠️"), "{b}");
        assert!(text(&got[0]).contains("发得太快了"), "{}", text(&got[0]));
        assert_eq!(share_calls(&h.veapi).await.len(), 2);
        h.bot.stop().await;
    }
}

/// What Telegram counts of an HTML message: the text after entity parsing, in UTF-16.
fn visible_utf16(html: &str) -> usize {
    let mut plain = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    plain
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .encode_utf16()
        .count()
}

on_both_backends! {
    #[tokio::test]
    async fn a_full_length_promo_with_ten_products_comes_back_in_bounded_blocks(db) {
        let h = Harness::start(db, &[]).await;
        mount_veapi(&h.veapi).await;
        // 4096 characters (Telegram's most), ten products, HTML-looking words, emoji.
        let links: Vec<String> = (0..10).map(|i| format!("https://v.douyin.com/iCode{i:03}/")).collect();
        let mut promo = String::new();
        for (i, l) in links.iter().enumerate() {
            promo.push_str(&format!("{}️⃣ <b>好物</b> 券后¥{i}9.9👉{l}，冲！\n", i % 10));
            promo.push_str(&"正文".repeat(150));
            promo.push('\n');
        }
        let filler = 4096 - promo.encode_utf16().count();
        promo.push_str(&"好".repeat(filler));
        assert_eq!(promo.encode_utf16().count(), 4096);
        let expected = links.iter().fold(promo.clone(), |t, l| {
            t.replace(l.as_str(), &password(l, ALICE.user_id))
        });

        h.tg.push_text(&ALICE, &promo);
        h.tg.wait_for(1, is_rewrite).await;
        h.tg.settle(&ALICE).await;
        let replies = h.tg.replies_to(ALICE.chat_id);
        let blocks: Vec<String> = replies.iter().filter(|m| is_rewrite(m)).map(block).collect();
        assert!(blocks.len() >= 2 && blocks.len() <= 3, "{}", blocks.len());
        assert_eq!(blocks.join("\n"), expected, "split at line ends, nothing else changed");
        for m in &replies {
            assert!(visible_utf16(text(m)) <= 4096, "{}", visible_utf16(text(m)));
            assert_eq!(text(m).matches("<pre>").count(), text(m).matches("</pre>").count());
        }
        assert_eq!(share_calls(&h.veapi).await.len(), 10);
        h.bot.stop().await;
    }
}
