//! What inline results say: each one's title and description in the result list, and the
//! message it posts when tapped. HTML parse mode; the 抖口令 in `<code>` (one tap copies it),
//! as in the private reply.
//!
//! [`converted`] is the one place a conversion becomes an inline message: with product
//! details, the compact card (`telegram::card`).

use crate::convert::{ConvertError, Converted};
use crate::lang::Lang;
use crate::telegram::card;
use crate::telegram::texts::{self, escape};

/// One inline result, before it becomes Telegram's `InlineQueryResultArticle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    pub title: String,
    pub description: String,
    /// The message posted when the result is chosen (HTML).
    pub html: String,
    /// The product's picture in the result list (https only).
    pub thumbnail: Option<String>,
}

/// Characters of a 抖口令 shown as a result's description.
const PREVIEW_CHARS: usize = 60;

/// A converted reference: the 抖口令 to post, attributed to whoever typed the query.
/// `number`: its place among several results (None when it is the only one).
///
/// What is posted is the group card (`card::compact`): it lands in a chat with others, so it
/// shows the product, never the typer's rebate. The result list, which only the typer sees,
/// shows the product's title, price and their rebate (`rebate_percent` above 0).
pub fn converted(c: &Converted, number: Option<usize>, lang: Lang, rebate_percent: u8) -> Article {
    let link = &c.link;
    let d = c.details.as_ref();
    let html = match d {
        Some(_) => card::compact(link, d, lang, 0),
        None => {
            let mut html = format!("<code>{}</code>\n", escape(&link.dy_password));
            if let Some(coupon) = &link.coupon {
                html.push_str(lang.pick("🎟 领券口令：", "🎟 Coupon code:"));
                html.push_str(&format!(
                    "\n<code>{}</code>\n",
                    escape(&coupon.share_command)
                ));
            }
            html.push_str(lang.pick(
                "复制口令，打开抖音即可查看商品。",
                "Copy the code and open Douyin to see the product.",
            ));
            html
        }
    };
    let titled = d
        .and_then(|d| d.title.as_deref())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| texts::bounded(t, PREVIEW_CHARS));
    let title = match (titled, number) {
        (Some(t), Some(n)) => format!("{n}. {t}"),
        (Some(t), None) => t,
        (None, Some(n)) => format!("{} {n}", lang.pick("✅ 抖口令", "✅ 抖口令 (share code)")),
        (None, None) => lang.pick("✅ 抖口令", "✅ 抖口令 (share code)").to_string(),
    };
    let mut facts: Vec<String> = Vec::new();
    if let Some(d) = d {
        if let Some(p) = d.price_fen.filter(|p| *p > 0) {
            facts.push(texts::yuan(p));
        }
        if rebate_percent > 0 {
            if let Some(r) = card::rebate_fen(d.commission_fen, rebate_percent) {
                facts.push(format!("{}{}", lang.pick("返 ", "rebate "), texts::yuan(r)));
            }
        }
    }
    if link.coupon.is_some() {
        facts.push(lang.pick("含领券口令", "with coupon").to_string());
    }
    let preview: String = link.dy_password.chars().take(PREVIEW_CHARS).collect();
    facts.push(preview);
    Article {
        title,
        description: facts.join(" · "),
        html,
        thumbnail: d.and_then(|d| card::photo_url(d.cover.as_deref())),
    }
}

/// A reference that could not be converted: the reason, which is also what tapping posts.
pub fn failed(e: &ConvertError, number: Option<usize>, lang: Lang) -> Article {
    let reason = texts::failure(lang, e);
    let title = match number {
        Some(n) => format!("{} {n}", lang.pick("❌ 无法转换", "❌ Not converted")),
        None => lang.pick("❌ 无法转换", "❌ Not converted").to_string(),
    };
    Article {
        title,
        description: reason.clone(),
        html: format!("❌ {}", escape(&reason)),
        thumbnail: None,
    }
}

fn how_to(bot: &str, lang: Lang) -> String {
    let bot = escape(bot);
    match lang {
        Lang::Zh => format!(
            "🛍 在任意聊天里输入 @{bot} 再粘贴抖音商品链接、分享文案或商品ID，就能得到你的专属抖口令。"
        ),
        Lang::En => format!(
            "🛍 Type @{bot} in any chat and paste a Douyin product link, share text or product id to get your own 抖口令."
        ),
    }
}

/// A query without any reference: how to use inline mode.
pub fn hint(bot: &str, lang: Lang) -> Article {
    Article {
        title: lang
            .pick("粘贴抖音商品链接", "Paste a Douyin product link")
            .into(),
        description: lang
            .pick(
                "粘贴分享文案、商品链接或商品ID，生成你的专属抖口令",
                "Paste a share text, product link or product id to get your 抖口令",
            )
            .into(),
        html: how_to(bot, lang),
        thumbnail: None,
    }
}

/// A reference still being typed (a short link's code or a product id cut short).
pub fn pending(bot: &str, lang: Lang) -> Article {
    Article {
        title: lang.pick("继续输入…", "Keep typing…").into(),
        description: lang
            .pick(
                "链接或商品ID还不完整：请粘贴完整的分享内容",
                "The link or product id is not complete yet: paste the whole share",
            )
            .into(),
        html: how_to(bot, lang),
        thumbnail: None,
    }
}

/// The button above the results when inline mode is for operators only (`INLINE=off`).
pub fn refused_button(lang: Lang) -> &'static str {
    lang.pick(
        "请在私聊里发链接给我转换",
        "Send me the link in a private chat",
    )
}

/// The button above a hint: opens the private chat.
pub fn private_chat_button(lang: Lang) -> &'static str {
    lang.pick("私聊使用", "Open a private chat")
}

/// The button when the per-user limit held references back.
pub fn rate_limited_button(retry_after: std::time::Duration, lang: Lang) -> String {
    let secs = retry_after.as_secs().max(1);
    match lang {
        Lang::Zh => format!("转换太频繁，请 {secs} 秒后再试"),
        Lang::En => format!("Too many conversions: try again in {secs} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::veapi::{Coupon, ShareLink};

    fn link(pw: &str, coupon: Option<&str>) -> Converted {
        Converted {
            link: ShareLink {
                dy_password: pw.into(),
                share_link: None,
                dy_deeplink: None,
                dy_zlink: None,
                coupon: coupon.map(|c| Coupon {
                    share_command: c.into(),
                    share_link: None,
                }),
            },
            cached: false,
            details: None,
        }
    }

    #[test]
    fn the_password_is_posted_tap_to_copy_and_escaped() {
        let a = converted(
            &link("3M长按:/ <b>x</b>&", Some("券")),
            Some(2),
            Lang::Zh,
            0,
        );
        assert!(
            a.html
                .starts_with("<code>3M长按:/ &lt;b&gt;x&lt;/b&gt;&amp;</code>\n"),
            "{}",
            a.html
        );
        assert!(a.html.contains("<code>券</code>"));
        assert_eq!(a.title, "✅ 抖口令 2");
        assert!(a.description.starts_with("含领券口令 · 3M长按"));
        let en = converted(&link("pw", None), None, Lang::En, 0);
        assert!(en.html.ends_with("open Douyin to see the product."));
    }

    #[test]
    fn the_hint_names_the_bot() {
        assert!(hint("dy_link_bot", Lang::Zh).html.contains("@dy_link_bot"));
        assert!(pending("a<b", Lang::En).html.contains("@a&lt;b"));
    }
}
