//! The promoter's text rewritten: a promotional text comes back whole, every product
//! reference replaced by the user's own 抖口令, in one block that copies with one tap.
//!
//! - In a private chat, a message with references and words of its own
//!   ([`text::has_other_text`]) gets the rewrite after the usual reply, from the same
//!   conversions ([`after_reply`]: nothing is converted or rate-limited twice).
//! - `/rewrite` as a reply to a message (a group's promo post, or one's own message in
//!   private) rewrites that message for whoever sent `/rewrite`: they are the one who will
//!   repost it, so the conversions are theirs ([`on_command`]). From a group the answer goes
//!   to their private chat; when Telegram refuses that (they never started the bot, or
//!   blocked it) it goes to the group, as a reply to their `/rewrite`.
//!
//! The block is HTML `<pre>` with the text escaped, so `<b>` in a promo comes back as
//! written. Telegram counts 4096 UTF-16 units after entity parsing; a longer rewrite is
//! split at line ends into several blocks ([`text::blocks`]), each in its own message.

mod extent;
pub mod text;

use super::refusal::{classify, Refusal};
use super::{
    lang_of, person, references, texts, HandlerError, Policy, Telegram, MAX_MESSAGE_UTF16,
};
use crate::convert::{ConvertError, ConvertRequest, Converter};
use crate::detect::{detect, Reference};
use crate::lang::Lang;
use crate::store::Store;
use crate::veapi::ShareLink;
use futures::future::join_all;
use std::collections::HashMap;
use std::sync::Arc;
use teloxide::types::{Message, User};
use text::{Outcome, Rewritten, Target};

/// Room kept in each message for the words around a block (the header is far shorter).
const AROUND_BLOCK_UTF16: usize = 300;

fn header(lang: Lang, blocks: usize) -> String {
    let mut h = lang
        .pick(
            "✍️ 你的文案已换上你的专属口令，点一下即可复制：",
            "✍️ Your text with your own 抖口令 in place, tap to copy:",
        )
        .to_string();
    if blocks > 1 {
        h.push_str(&match lang {
            Lang::Zh => format!("（共 {blocks} 段，请逐段复制）"),
            Lang::En => format!(" ({blocks} parts, copy each)"),
        });
    }
    h
}

pub fn usage(lang: Lang) -> &'static str {
    lang.pick(
        "✍️ 用法：回复一条含有抖音商品链接或抖口令的消息，发送 /rewrite，我会把整段文案换成你的专属口令发给你。",
        "✍️ How to use: reply to a message with Douyin product links or 抖口令 and send /rewrite: I'll send you the whole text with your own 抖口令 in place.",
    )
}

fn rate_limited(lang: Lang) -> String {
    lang.pick(
        "发得太快了，这个商品没有转换，请稍后再试。",
        "Too many at once: not converted, try again in a minute.",
    )
    .to_string()
}

fn nothing_converted(lang: Lang) -> &'static str {
    lang.pick(
        "❌ 这段文案里的商品都没有转换成功：",
        "❌ None of the products in this text could be converted:",
    )
}

fn left_heading(lang: Lang) -> &'static str {
    lang.pick(
        "⚠️ 以下内容没有转换，原样保留：",
        "⚠️ Left as written (not converted):",
    )
}

fn not_private(lang: Lang) -> &'static str {
    lang.pick(
        "（无法私信你：私聊我发送 /start，下次就私信发给你。）",
        "(I can't message you privately: send me /start in a private chat and next time it goes there.)",
    )
}

/// Why a reference was not converted, for the reader.
fn why(e: &ConvertError, lang: Lang) -> String {
    texts::failure(lang, e)
}

/// The rewrite as messages: the header and the first block, the other blocks, and the
/// references left as written (with the last block when it fits). Every message is within
/// Telegram's limit after entity parsing.
pub fn render(lang: Lang, r: &Rewritten, preface: Option<&str>) -> Vec<String> {
    let mut notes = String::new();
    if !r.left.is_empty() {
        notes.push_str(left_heading(lang));
        for l in &r.left {
            notes.push_str(&format!("\n• <code>{}</code>", texts::escape(&l.shown)));
            if !l.why.is_empty() {
                notes.push_str(&format!(
                    "{}{}",
                    lang.pick("：", ": "),
                    texts::escape(&l.why)
                ));
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    if r.replaced == 0 {
        let mut head = nothing_converted(lang).to_string();
        if let Some(p) = preface {
            head = format!("{p}\n{head}");
        }
        let body = format!("{head}\n{}", notes.split_once('\n').map_or("", |(_, n)| n));
        out.extend(super::split_message(&body, MAX_MESSAGE_UTF16));
        return out;
    }
    let blocks = text::blocks(&r.text, MAX_MESSAGE_UTF16 - AROUND_BLOCK_UTF16);
    for (i, b) in blocks.iter().enumerate() {
        let pre = format!("<pre>{}</pre>", texts::escape(b));
        if i == 0 {
            let mut head = header(lang, blocks.len());
            if let Some(p) = preface {
                head = format!("{p}\n{head}");
            }
            out.push(format!("{head}\n{pre}"));
        } else {
            out.push(pre);
        }
    }
    if !notes.is_empty() {
        let last = out.last_mut().expect("at least one block");
        if visible_utf16(last) + 2 + visible_utf16(&notes) <= MAX_MESSAGE_UTF16 {
            last.push_str("\n\n");
            last.push_str(&notes);
        } else {
            out.extend(super::split_message(&notes, MAX_MESSAGE_UTF16));
        }
    }
    out
}

/// What Telegram counts of an HTML message: the text after entity parsing, in UTF-16 units.
pub fn visible_utf16(html: &str) -> usize {
    let mut n = 0;
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            rest = rest.find('>').map_or("", |i| &rest[i + 1..]);
            continue;
        }
        if c == '&' {
            if let Some(i) = rest.find(';').filter(|&i| i <= 6) {
                n += 1;
                rest = &rest[i + 1..];
                continue;
            }
        }
        n += c.len_utf16();
        rest = &rest[c.len_utf8()..];
    }
    n
}

/// The text of a message (or its caption) and its references as the rewrite sees them.
fn targets(msg: &Message) -> Option<(&str, Vec<Target>)> {
    let text = msg.text().or_else(|| msg.caption())?;
    let visible = detect(text);
    let targets = references(msg)
        .into_iter()
        .map(|r| {
            let hidden = !visible.contains(&r);
            Target {
                kind: r.kind,
                value: r.value,
                span: r.start..r.end,
                hidden,
            }
        })
        .collect();
    Some((text, targets))
}

/// How to mention a user in a group (the order-news fallback).
fn display_name(user: &User) -> String {
    user.username
        .as_ref()
        .map_or_else(|| user.full_name(), |u| format!("@{u}"))
}

/// After the usual reply to a private message: the rewrite, when the message has words of
/// its own and at least one reference was converted. `asked` are the references converted
/// for the reply, in the order of `results`; the others were beyond the rate limit.
pub async fn after_reply(
    tg: &Telegram,
    msg: &Message,
    store: &Store,
    asked: &[Reference],
    results: &[Result<ShareLink, ConvertError>],
) -> Result<(), HandlerError> {
    let (Some(user), Some((text, targets))) = (person(msg), targets(msg)) else {
        return Ok(());
    };
    if !results.iter().any(Result::is_ok) || !text::has_other_text(text, &targets) {
        return Ok(());
    }
    let lang = lang_of(store, user).await;
    let outcomes: HashMap<String, Outcome> = asked
        .iter()
        .zip(results)
        .map(|(r, res)| (r.value.clone(), outcome(res, lang)))
        .collect();
    let rewritten = rewrite_with_limit(text, &targets, outcomes, lang);
    for part in render(lang, &rewritten, None) {
        tg.reply(msg.chat.id.0, &part, Some(msg.id)).await?;
    }
    Ok(())
}

fn outcome(res: &Result<ShareLink, ConvertError>, lang: Lang) -> Outcome {
    match res {
        Ok(link) => Outcome::Converted(link.dy_password.clone()),
        Err(e) => Outcome::Failed(why(e, lang)),
    }
}

/// The rewrite, references without an outcome (beyond the rate limit) said so.
fn rewrite_with_limit(
    text: &str,
    targets: &[Target],
    mut outcomes: HashMap<String, Outcome>,
    lang: Lang,
) -> Rewritten {
    for t in targets {
        outcomes
            .entry(t.value.clone())
            .or_insert_with(|| Outcome::Failed(rate_limited(lang)));
    }
    text::rewrite(text, targets, &outcomes)
}

/// The `/rewrite` endpoint of the dispatcher.
pub async fn endpoint(
    tg: Telegram,
    msg: Message,
    store: Store,
    converter: Arc<dyn Converter>,
    policy: Arc<Policy>,
) -> Result<(), HandlerError> {
    on_command(&tg, &msg, &store, &converter, &policy).await
}

/// `/rewrite`: the replied-to message rewritten for the sender of the command.
pub async fn on_command(
    tg: &Telegram,
    msg: &Message,
    store: &Store,
    converter: &Arc<dyn Converter>,
    policy: &Policy,
) -> Result<(), HandlerError> {
    let Some(user) = person(msg) else {
        return Ok(());
    };
    let lang = lang_of(store, user).await;
    let chat = msg.chat.id.0;
    let found = msg
        .reply_to_message()
        .and_then(targets)
        .filter(|(_, t)| !t.is_empty());
    let Some((text, targets)) = found else {
        tg.reply(chat, usage(lang), Some(msg.id)).await?;
        return Ok(());
    };

    // Each distinct reference once, as many as the sender's rate allows.
    let mut distinct: Vec<&Target> = Vec::new();
    for t in &targets {
        if !distinct.iter().any(|d| d.value == t.value) {
            distinct.push(t);
        }
    }
    let grant = policy.limiter.take(user.id.0, distinct.len());
    distinct.truncate(grant.granted);
    let calls = distinct.iter().map(|t| {
        converter.convert(ConvertRequest {
            user_id: user.id.0,
            user_name: Some(display_name(user)),
            chat_id: chat,
            reference: Reference {
                kind: t.kind,
                value: t.value.clone(),
                start: t.span.start,
                end: t.span.end,
            },
        })
    });
    let results = join_all(calls).await;
    let mut outcomes = HashMap::new();
    for (t, res) in distinct.iter().zip(&results) {
        if let Err(e) = res {
            tracing::warn!(chat_id = chat, error = %e, "conversion for /rewrite failed");
        }
        let res = res.as_ref().map(|c| c.link.clone()).map_err(Clone::clone);
        outcomes.insert(t.value.clone(), outcome(&res, lang));
    }
    let rewritten = rewrite_with_limit(text, &targets, outcomes, lang);

    if msg.chat.is_private() {
        for part in render(lang, &rewritten, None) {
            tg.reply(chat, &part, Some(msg.id)).await?;
        }
        return Ok(());
    }
    // From a group: privately when Telegram lets the bot write to them.
    let parts = render(lang, &rewritten, None);
    let private = user.id.0 as i64;
    match tg.reply(private, &parts[0], None).await {
        Ok(_) => {
            for part in &parts[1..] {
                tg.reply(private, part, None).await?;
            }
            Ok(())
        }
        Err(e) => match classify(&e) {
            Refusal::NotStarted(_) | Refusal::Blocked(_) | Refusal::UnknownChat(_) => {
                tracing::info!(
                    chat_id = chat,
                    "no private chat for /rewrite: answered in the group"
                );
                for part in render(lang, &rewritten, Some(not_private(lang))) {
                    tg.reply(chat, &part, Some(msg.id)).await?;
                }
                Ok(())
            }
            _ => Err(e.into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::text::{rewrite, Left};
    use super::*;

    fn rewritten(text: &str, left: usize) -> Rewritten {
        Rewritten {
            text: text.to_string(),
            replaced: 1,
            left: (0..left)
                .map(|i| Left {
                    shown: format!("https://v.douyin.com/code{i:04}/"),
                    why: "这个商品已经下架了。".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_block_is_escaped_and_the_failures_listed_under_it() {
        let parts = render(Lang::Zh, &rewritten("<b>限时</b> & P1⚠️", 1), None);
        assert_eq!(parts.len(), 1);
        assert!(
            parts[0].contains("<pre>&lt;b&gt;限时&lt;/b&gt; &amp; P1⚠️</pre>"),
            "{}",
            parts[0]
        );
        assert!(parts[0]
            .ends_with("• <code>https://v.douyin.com/code0000/</code>：这个商品已经下架了。"));
        let en = render(Lang::En, &rewritten("P1", 0), None);
        assert!(en[0].starts_with("✍️ Your text"), "{}", en[0]);
    }

    #[test]
    fn a_long_rewrite_is_split_into_blocks_within_telegrams_limit() {
        // A 4096-character promo with 10 references, each replaced by a longer password.
        let line = "🔥好物<推荐> https://v.douyin.com/iUqwFX7b/ 券后¥19.9，手慢无！\n";
        let mut text = line.repeat(4096 / line.chars().count());
        text.push_str(&"好".repeat(4096 - text.chars().count()));
        let targets: Vec<Target> = detect(&text)
            .into_iter()
            .map(|r| Target {
                kind: r.kind,
                value: r.value,
                span: r.start..r.end,
                hidden: false,
            })
            .collect();
        assert_eq!(targets.len(), crate::detect::MAX_REFS);
        let outcomes = HashMap::from([(
            "https://v.douyin.com/iUqwFX7b/".to_string(),
            Outcome::Converted(
                "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽".into(),
            ),
        )]);
        let r = rewrite(&text, &targets, &outcomes);
        assert!(text::utf16(&r.text) > MAX_MESSAGE_UTF16);
        let parts = render(Lang::Zh, &r, Some(not_private(Lang::Zh)));
        assert!(parts.len() >= 2 && parts.len() <= 3, "{}", parts.len());
        for p in &parts {
            assert!(
                visible_utf16(p) <= MAX_MESSAGE_UTF16,
                "{}",
                visible_utf16(p)
            );
            assert_eq!(p.matches("<pre>").count(), 1);
            assert_eq!(p.matches("</pre>").count(), 1);
            assert!(!p.contains("<推荐>"), "escaped");
        }
    }

    #[test]
    fn many_notes_go_in_their_own_message_when_the_last_block_is_full() {
        let full = "好".repeat(MAX_MESSAGE_UTF16 - AROUND_BLOCK_UTF16);
        let parts = render(Lang::Zh, &rewritten(&full, 10), None);
        assert_eq!(parts.len(), 2);
        assert!(parts[1].starts_with(left_heading(Lang::Zh)));
        for p in &parts {
            assert!(visible_utf16(p) <= MAX_MESSAGE_UTF16);
        }
    }

    #[test]
    fn nothing_converted_lists_the_failures_without_a_block() {
        let mut r = rewritten("x⚠️", 2);
        r.replaced = 0;
        let parts = render(Lang::En, &r, None);
        assert_eq!(parts.len(), 1);
        assert!(!parts[0].contains("<pre>"));
        assert!(parts[0].contains("code0001"));
    }

    #[test]
    fn rewrite_is_in_the_command_menu() {
        use crate::telegram::Command;
        use teloxide::utils::command::BotCommands;
        let menu = Command::bot_commands();
        assert!(menu
            .iter()
            .any(|c| c.command.ends_with("rewrite") && !c.description.is_empty()));
        assert!(matches!(
            Command::parse("/rewrite@dy_link_bot", "dy_link_bot"),
            Ok(Command::Rewrite)
        ));
    }

    #[test]
    fn visible_length_counts_what_telegram_counts() {
        assert_eq!(visible_utf16("<pre>&lt;b&gt; &amp;😀</pre>"), 3 + 1 + 1 + 2);
        assert!(
            visible_utf16(&header(Lang::Zh, 9)) + visible_utf16(not_private(Lang::En))
                < AROUND_BLOCK_UTF16
        );
    }
}
