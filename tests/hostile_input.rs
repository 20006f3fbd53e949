//! Hostile and unusual input through the real dispatcher: oversized messages, control and
//! bidi characters, updates that are not plain messages from a person. The bot must never
//! panic, must bound its work per message, and must keep answering the next message.

mod support;

use douyin_link_bot::tracking;
use serde_json::{json, Value};
use support::*;

const PRODUCT: &str = "3583117383482622604";
const PASSWORD: &str = "咑[玫瑰]搜[烟花],查看商品详情Ig9FOHrrl8";

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

async fn start(db: TestDb) -> Harness {
    let h = Harness::start(db, &[]).await;
    share_reply(&h.veapi, None, json_body("veapi/share_coupon.json")).await;
    h
}

/// Lets the bot take the queued updates, then checks it still answers a plain message:
/// whatever came before neither crashed nor wedged it.
async fn still_answers(h: &Harness, from: &Sender) {
    let converted = |m: &Value| m["chat_id"] == from.chat_id && text(m).contains(PASSWORD);
    let before = h.tg.sent().iter().filter(|m| converted(m)).count();
    h.tg.push_text(from, PRODUCT);
    h.tg.wait_for(before + 1, converted).await;
}

on_both_backends! {
    #[tokio::test]
    async fn a_4096_character_message_of_links_is_capped_and_answered_within_telegrams_limit(db) {
        let h = start(db).await;
        let mut msg = String::new();
        let mut n = 0;
        while msg.chars().count() < 4000 {
            msg.push_str(&format!("https://v.douyin.com/Ab{n:05}x/ "));
            n += 1;
        }
        assert!(n > 100);
        h.tg.push_text(&ALICE, &msg);
        let sent = h.tg.wait_sent(1).await;
        // Every part of the answer is out once the next message in the chat is answered.
        h.tg.settle(&ALICE).await;
        let calls = share_calls(&h.veapi).await;
        assert_eq!(
            calls.len(),
            10,
            "work per message is capped at 10 references"
        );
        let replies = h.tg.replies_to(ALICE.chat_id);
        assert!(!replies.is_empty() && replies.len() == h.tg.replies().len());
        let all: String = replies.iter().map(text).collect();
        assert_eq!(all.matches("<b>商品 ").count(), 10, "{all}");
        for r in &replies {
            assert!(text(r).encode_utf16().count() <= 4096, "{}", text(r));
        }
        assert_eq!(sent[0]["chat_id"], ALICE.chat_id);
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn delimiter_floods_control_and_bidi_characters_do_no_harm(db) {
        let h = start(db).await;
        let floods = [
            "¥".repeat(4096),
            "▽▽".repeat(2048),
            "查看商品详情".repeat(682),
            "查看商品详情core¥".repeat(341),
            "\u{202E}\u{202D}\u{2066}\u{0000}\u{0007}\u{001B}[31m".repeat(400),
            "https://".repeat(512),
            "9".repeat(4096),
            "😀".repeat(2048),
        ];
        // One sender per flood: Telegram's one-message-per-second-per-chat pace would otherwise
        // be what this test measures.
        let senders: Vec<Sender> = (0..floods.len())
            .map(|i| Sender {
                user_id: 4000 + i as u64,
                chat_id: 4000 + i as i64,
            })
            .collect();
        for (flood, from) in floods.iter().zip(&senders) {
            h.tg.push_text(from, flood);
        }
        // In private every message gets exactly one answer: a hint or its conversions.
        h.tg.wait_for(floods.len(), |m| m["chat_id"].as_i64() >= Some(4000))
            .await;
        for from in &senders {
            h.tg.settle(from).await;
            assert_eq!(h.tg.replies_to(from.chat_id).len(), 1);
        }
        assert!(share_calls(&h.veapi).await.len() <= 10 * floods.len());
        still_answers(&h, &ALICE).await;

        // Control and bidi characters around a real id do not hide it.
        let before = h.tg.sent_to(BOB.chat_id).len();
        h.tg.push_text(&BOB, &format!("\u{202E}{PRODUCT}\u{202C}\u{0007} \u{200B}"));
        let sent =
            h.tg.wait_for(before + 1, |m| m["chat_id"] == BOB.chat_id)
                .await;
        assert!(text(&sent[before]).contains(PASSWORD));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn updates_without_a_person_behind_them_are_ignored(db) {
        let h = start(db).await;
        let group = Sender {
            user_id: 0,
            chat_id: ALICE_IN_GROUP.chat_id,
        };
        // A message without `from` at all.
        let no_from = h.tg.message(&group, json!({"text": PRODUCT, "from": null}));
        h.tg.push_update("message", no_from);
        // An anonymous group admin: sent on behalf of the group, from Telegram's placeholder bot.
        let anonymous = h.tg.message(
            &group,
            json!({
                "text": PRODUCT,
                "from": {"id": 1087968824, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"},
                "sender_chat": {"id": group.chat_id, "type": "supergroup", "title": "Deals"}
            }),
        );
        h.tg.push_update("message", anonymous);
        // A linked channel's post, forwarded into its discussion group by Telegram itself.
        let auto_forward = h.tg.message(
            &group,
            json!({
                "text": PRODUCT,
                "from": {"id": 777000, "is_bot": false, "first_name": "Telegram"},
                "sender_chat": {"id": -1001, "type": "channel", "title": "Channel"},
                "is_automatic_forward": true,
                "forward_origin": {"type": "channel", "chat": {"id": -1001, "type": "channel", "title": "Channel"}, "message_id": 5, "date": 1_700_000_000}
            }),
        );
        h.tg.push_update("message", auto_forward);
        // Another bot.
        let bot_msg = h.tg.message(
            &group,
            json!({"text": PRODUCT, "from": {"id": 99, "is_bot": true, "first_name": "OtherBot"}}),
        );
        h.tg.push_update("message", bot_msg);
        // A channel post.
        let channel_post = json!({
            "message_id": 0, "date": 1_700_000_000, "text": PRODUCT,
            "chat": {"id": -1001, "type": "channel", "title": "Channel"},
            "sender_chat": {"id": -1001, "type": "channel", "title": "Channel"}
        });
        h.tg.push_update("channel_post", channel_post);
        // An edit of a message already answered would convert the same link twice.
        let edited = h.tg.message(
            &ALICE,
            json!({"text": format!("改一下 {PRODUCT}"), "edit_date": 1_700_000_100}),
        );
        h.tg.push_update("edited_message", edited);

        still_answers(&h, &BOB).await;
        // Each chat the ignored updates came from has handled them once it answers a later
        // message. (A channel post has no handler at all, so no later post could be answered
        // there; it is dispatched before the sentinels below are fetched.)
        h.tg.settle(&ALICE_IN_GROUP).await;
        h.tg.settle(&ALICE).await;
        let sent = h.tg.replies();
        assert_eq!(sent.len(), 1, "only Bob's message was answered: {sent:#?}");
        assert_eq!(sent[0]["chat_id"], BOB.chat_id);
        let calls = share_calls(&h.veapi).await;
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["external_info"], tracking::encode(BOB.user_id));
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_forwarded_share_is_converted_for_the_person_who_forwarded_it(db) {
        let h = start(db).await;
        h.tg.push_message(
            &ALICE,
            json!({
                "text": PRODUCT,
                "forward_origin": {
                    "type": "user", "date": 1_700_000_000,
                    "sender_user": {"id": 5555, "is_bot": false, "first_name": "Friend"}
                }
            }),
        );
        // A photo whose caption carries the product, with no text at all.
        h.tg.push_message(
            &BOB,
            json!({
                "photo": [{"file_id": "p", "file_unique_id": "u", "width": 90, "height": 90}],
                "caption": format!("好物 {PRODUCT}")
            }),
        );
        // A sticker: no text, no caption, nothing to answer even in private.
        h.tg.push_message(
            &BOB,
            json!({"sticker": {"file_id": "s", "file_unique_id": "su", "type": "regular",
                                "width": 512, "height": 512, "is_animated": false, "is_video": false}}),
        );
        h.tg.wait_sent(2).await;
        h.tg.settle(&ALICE).await;
        h.tg.settle(&BOB).await;
        // Bob's caption has words of its own: it also comes back rewritten (a `<pre>` block).
        let (rewrites, replies): (Vec<Value>, Vec<Value>) = h
            .tg
            .replies()
            .into_iter()
            .partition(|m| text(m).contains("<pre>"));
        assert_eq!(replies.len(), 2, "{:#?}", h.tg.sent());
        assert_eq!(rewrites.len(), 1, "{rewrites:#?}");
        assert_eq!(rewrites[0]["chat_id"], BOB.chat_id);
        let block = text(&rewrites[0]);
        assert!(block.contains("<pre>好物 ") && block.contains(PASSWORD), "{block}");
        assert!(text(&h.tg.sent_to(ALICE.chat_id)[0]).contains(PASSWORD));
        assert!(text(&h.tg.sent_to(BOB.chat_id)[0]).contains(PASSWORD));
        let mut infos: Vec<String> = share_calls(&h.veapi)
            .await
            .into_iter()
            .map(|c| c["external_info"].clone())
            .collect();
        infos.sort();
        let mut expected = vec![
            tracking::encode(ALICE.user_id),
            tracking::encode(BOB.user_id),
        ];
        expected.sort();
        assert_eq!(infos, expected, "attributed to the forwarder, not to 5555");
        h.bot.stop().await;
    }
}
