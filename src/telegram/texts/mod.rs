//! Every text the bot sends, in Chinese and English ([`Lang`]); HTML parse mode. What the
//! bot says is chosen here and nowhere else: replies and refusals here, order news and the
//! group notices in [`news`], `/orders` in [`orders`], the operators' texts in [`operator`].

pub mod ledger;
mod news;
mod operator;
mod orders;

pub use news::{event, in_group, in_group_notice, state, Money, START_PAYLOAD};
pub use operator::{dashboard_link, dashboard_off, stats};
pub use orders::{next, orders, previous, OrdersPage};

use crate::convert::ConvertError;
use crate::lang::Lang;
use crate::resolve::NotProduct;
use crate::veapi::{ErrorClass, ShareLink};

pub fn start(lang: Lang) -> &'static str {
    lang.pick(
        "👋 你好！把抖音商品链接、分享口令或商品ID发给我，我会帮你转换成专属抖口令。\n\n\
用你的专属口令下单后，我会在订单出现、退款或结算时通知你。\n\n\
支持：\n• 抖音商城分享文案（含 v.douyin.com 短链接）\n• 商品链接（haohuo.jinritemai.com 等）\n• 团长链接\n• 抖口令\n• 商品ID\n\n\
发送 /help 查看使用说明。",
        "👋 Hi! Send me a Douyin product link, share text or product ID and I will turn it into \
your own 抖口令 (Douyin share password).\n\n\
Buy with your password and I will tell you when the order comes in, is refunded or is settled.\n\n\
I understand:\n• Douyin shop share texts (with v.douyin.com short links)\n• product links \
(haohuo.jinritemai.com and others)\n• 团长 (colonel) links\n• 抖口令 share passwords\n• product IDs\n\n\
Send /help for how it works. /lang zh 切换到中文.",
    )
}

pub fn help(lang: Lang) -> &'static str {
    lang.pick(
        "📖 使用说明\n\n\
1. 在抖音里打开商品，点「分享」→「复制链接」。\n\
2. 把复制的内容直接发给我（一条消息里可以有多个商品）。\n\
3. 我会回复转换好的抖口令，点一下即可复制，打开抖音即可查看商品。\n\n\
在群里：我只回复含有商品链接的消息。\n\n\
用你的专属口令下单后，订单出现、退款、结算时我都会私信通知你（请先私聊我点一次 /start；否则我只会在你转链的群里提醒你来私聊查看）。\n\n\
推广文案：私聊发给我一整段带商品链接的文案，我会把其中的链接和口令都换成你的专属口令，整段发回给你；在群里回复一条文案并发送 /rewrite 也可以（结果私信给你）。\n\n\
命令：\n/start 开始\n/help 使用说明\n/orders 我的订单\n/balance 我的返利\n/rewrite 回复一条文案：换成你的专属口令\n/lang en 切换到英文（English）",
        "📖 How it works\n\n\
1. In Douyin, open the product and tap Share → Copy link.\n\
2. Send me what you copied (one message may hold several products).\n\
3. I answer with your 抖口令: tap it to copy, then open Douyin to see the product.\n\n\
In groups I only answer messages that contain a product link.\n\n\
When someone buys with your password I tell you privately when the order comes in, is \
refunded and is settled (send me /start once in a private chat; otherwise I can only remind \
you in the group where you converted the link).\n\n\
Promo texts: send me a whole promotional text with product links in a private chat and I \
send it back with every link and password replaced by your own; in a group, reply to a text \
with /rewrite (the result comes privately).\n\n\
Commands:\n/start start\n/help this help\n/orders my orders\n/balance my rebate\n/rewrite (as a reply) a text with your passwords\n/lang zh 切换到中文 (Chinese)",
    )
}

pub fn orders_in_private(lang: Lang) -> &'static str {
    lang.pick(
        "🔒 订单信息只在私聊里查看：请私聊我发送 /orders。",
        "🔒 Orders are shown in a private chat only: send me /orders privately.",
    )
}

pub fn internal_error(lang: Lang) -> &'static str {
    lang.pick(
        "内部错误，请稍后再试。",
        "Something went wrong on our side; please try again later.",
    )
}

pub fn no_reference(lang: Lang) -> &'static str {
    lang.pick(
        "🤔 没有在这条消息里找到抖音商品。\n\
请发送抖音商城的分享文案、商品链接、抖口令或商品ID。视频、直播间和主页链接不能转换。",
        "🤔 I found no Douyin product in this message.\n\
Send a Douyin shop share text, a product link, a 抖口令 or a product ID. Links to videos, \
live rooms and profiles cannot be converted.",
    )
}

/// `/lang`: the answer to a choice, or how to choose.
pub fn lang_set(lang: Lang) -> &'static str {
    lang.pick(
        "✅ 好的，以后我用中文和你说话。",
        "✅ Done: I will write to you in English from now on.",
    )
}

pub fn lang_usage(lang: Lang) -> &'static str {
    lang.pick(
        "用法：/lang zh（中文）或 /lang en（English）",
        "Usage: /lang en (English) or /lang zh (中文)",
    )
}

/// The reply for one message: successes as tap-to-copy blocks, failures explained (private
/// chats only; groups never see failures).
pub fn reply(
    lang: Lang,
    results: &[Result<ShareLink, ConvertError>],
    private: bool,
) -> Option<String> {
    // Groups hear about successes only: refusals there would be noise.
    let results: Vec<&Result<ShareLink, ConvertError>> =
        results.iter().filter(|r| private || r.is_ok()).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    if results.is_empty() {
        return None;
    }
    let many = results.len() > 1;
    let mut out = String::new();
    if ok > 0 {
        out.push_str(lang.pick(
            "✅ 已转换，点击口令即可复制：\n",
            "✅ Converted; tap a password to copy it:\n",
        ));
    }
    for (i, r) in results.iter().enumerate() {
        if !out.is_empty() {
            out.push('\n');
        }
        if many {
            out.push_str(&format!(
                "<b>{} {}</b>\n",
                lang.pick("商品", "Product"),
                i + 1
            ));
        }
        match r {
            Ok(link) => {
                out.push_str(&format!("<code>{}</code>\n", escape(&link.dy_password)));
                if let Some(c) = &link.coupon {
                    out.push_str(&format!(
                        "{}\n<code>{}</code>\n",
                        lang.pick("🎟 领券口令：", "🎟 Coupon password:"),
                        escape(&c.share_command)
                    ));
                }
            }
            Err(e) => out.push_str(&format!("❌ {}\n", escape(&failure(lang, e)))),
        }
    }
    if ok > 0 {
        out.push_str(lang.pick(
            "\n复制后打开抖音即可查看商品。",
            "\nCopy it, then open Douyin to see the product.",
        ));
    }
    Some(out.trim_end().to_string())
}

/// A refusal in plain words. Upstream's own sentence is kept only where it speaks about the
/// product; operator-side problems never reveal details.
pub fn failure(lang: Lang, e: &ConvertError) -> String {
    let err = match e {
        ConvertError::Upstream(err) => err,
        ConvertError::NeedsProductLink => {
            return lang
                .pick(
                    "这个抖口令无法直接转换：请在抖音里打开商品，点“分享”→“复制链接”，把链接发给我。",
                    "This 抖口令 cannot be converted as it is: open the product in Douyin, tap Share → Copy link and send me the link.",
                )
                .into()
        }
        ConvertError::NotAProduct(what) => {
            return match lang {
                Lang::Zh => {
                    let what = match what {
                        NotProduct::Video => "一个视频",
                        NotProduct::Note => "一篇图文",
                        NotProduct::Live => "一个直播间",
                        NotProduct::Profile => "一个用户主页",
                    };
                    format!("这个链接打开的是{what}，不是商品，无法转换。请发送商品的分享链接。")
                }
                Lang::En => {
                    let what = match what {
                        NotProduct::Video => "a video",
                        NotProduct::Note => "a photo post",
                        NotProduct::Live => "a live room",
                        NotProduct::Profile => "someone's profile",
                    };
                    format!("This link opens {what}, not a product, so it cannot be converted. Send the product's share link.")
                }
            };
        }
        ConvertError::Unresolved => {
            return lang
                .pick(
                    "暂时打不开这个短链接，请稍后再试，或者发送商品页面的完整链接。",
                    "I cannot open this short link right now; try again later or send the product page's full link.",
                )
                .into()
        }
        ConvertError::Store(_) => return internal_error(lang).into(),
    };
    let msg = err.upstream_msg().unwrap_or_default();
    match err.class() {
        ErrorClass::Product => {
            // Upstream's words (Chinese) → what they mean, in the reader's language.
            let known = [
                ("精选联盟", "这个商品没有加入抖音精选联盟，暂时不能推广。", "This product is not in Douyin's affiliate alliance (精选联盟) and cannot be promoted for now."),
                ("下架", "这个商品已经下架了。", "This product has been taken down."),
                ("不存在", "没有找到这个商品，请确认链接是否完整。", "This product was not found; check that the link is complete."),
                ("站外分享", "这个商品暂不支持站外分享。", "This product cannot be shared outside Douyin for now."),
                ("不支持", "这个商品暂不支持转换。", "This product cannot be converted for now."),
                ("无效商品", "链接或口令无效，请重新复制完整的分享内容。", "The link or password is not valid; copy the whole share text again."),
                ("风险类目", "这个商品属于风险类目，不能转换。", "This product is in a restricted category and cannot be converted."),
                ("指定作者", "商家设置了仅指定作者可推广这个商品。", "The shop lets only chosen creators promote this product."),
            ];
            match known.iter().find(|(k, _, _)| msg.contains(k)) {
                Some((_, zh, en)) => lang.pick(*zh, *en).to_string(),
                None => format!(
                    "{}{}",
                    lang.pick("这个商品暂时无法转换：", "This product cannot be converted for now: "),
                    short(lang, msg)
                ),
            }
        }
        ErrorClass::Authorization | ErrorClass::KeyOrQuota | ErrorClass::Unexpected => lang
            .pick(
                "转换服务暂时不可用（需要管理员处理），请稍后再试。",
                "Converting is unavailable for now (the bot's operator has to fix it); please try again later.",
            )
            .into(),
        ErrorClass::Throttled => lang
            .pick(
                "抖音接口繁忙，请过一会儿再发一次。",
                "Douyin is busy; send it again in a little while.",
            )
            .into(),
        ErrorClass::Transport => lang
            .pick(
                "暂时连不上转换服务，请稍后再试。",
                "The converting service cannot be reached right now; please try again later.",
            )
            .into(),
        ErrorClass::Other if !msg.is_empty() => {
            format!("{}{}", lang.pick("转换失败：", "Converting failed: "), short(lang, msg))
        }
        ErrorClass::Other => lang
            .pick("转换失败，请稍后再试。", "Converting failed; please try again later.")
            .into(),
    }
}

/// Upstream's own words, cut to 60 characters and ended as a sentence of `lang`.
fn short(lang: Lang, msg: &str) -> String {
    let m: String = msg.chars().take(60).collect();
    m.trim_end_matches(['!', '！', '。', '.', '…']).to_string() + lang.pick("。", ".")
}

/// `s` trimmed and cut to `max` characters, `…` marking the cut: every name that comes
/// from upstream is bounded before it is shown.
pub fn bounded(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// Money in fen as shown to people: `¥21.00`. Integer arithmetic only.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", abs / 100, abs % 100)
}

/// The one answer a user gets when they ask for more conversions than the limit allows.
pub fn rate_limited(lang: Lang, retry_after: std::time::Duration, some_converted: bool) -> String {
    let secs = retry_after.as_secs().max(1);
    match (lang, some_converted) {
        (Lang::Zh, true) => format!("⏳ 发得太快了，其余的商品没有转换，请 {secs} 秒后再发。"),
        (Lang::Zh, false) => format!("⏳ 发得太快了，请 {secs} 秒后再发。"),
        (Lang::En, true) => {
            format!(
                "⏳ Too fast: the other products were not converted; send them again in {secs} s."
            )
        }
        (Lang::En, false) => format!("⏳ Too fast: send it again in {secs} s."),
    }
}

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, OrderFacts, OrderNews};
    use crate::veapi::{classify, Coupon, VeapiError};

    fn refused(msg: &str) -> Result<ShareLink, ConvertError> {
        Err(ConvertError::Upstream(VeapiError::Api {
            class: classify("4132", msg),
            code: "4132".into(),
            msg: msg.into(),
            request_id: None,
        }))
    }

    #[test]
    fn refusal_is_explained_in_private_and_hidden_in_groups() {
        let r = [refused("商品没有加入精选联盟")];
        assert_eq!(
            reply(Lang::Zh, &r, true).unwrap(),
            "❌ 这个商品没有加入抖音精选联盟，暂时不能推广。"
        );
        assert_eq!(reply(Lang::Zh, &r, false), None);
    }

    #[test]
    fn groups_see_only_the_successes_of_a_mixed_message() {
        let ok = Ok(ShareLink {
            dy_password: "口令A".into(),
            share_link: None,
            dy_deeplink: None,
            dy_zlink: None,
            coupon: None,
        });
        let text = reply(
            Lang::Zh,
            &[refused("商品没有加入精选联盟"), ok.clone()],
            false,
        )
        .unwrap();
        assert!(text.contains("<code>口令A</code>"));
        assert!(!text.contains("❌") && !text.contains("商品 2"), "{text}");
        let text = reply(Lang::Zh, &[refused("商品没有加入精选联盟"), ok], true).unwrap();
        assert!(text.contains("❌") && text.contains("商品 2"), "{text}");
    }

    #[test]
    fn password_and_coupon_are_tap_to_copy_and_escaped() {
        let link = ShareLink {
            dy_password: "长按<复制>&打开".into(),
            share_link: None,
            dy_deeplink: None,
            dy_zlink: None,
            coupon: Some(Coupon {
                share_command: "券口令".into(),
                share_link: None,
            }),
        };
        let text = reply(Lang::Zh, &[Ok(link)], true).unwrap();
        assert!(text.contains("<code>长按&lt;复制&gt;&amp;打开</code>"));
        assert!(text.contains("<code>券口令</code>"));
    }

    fn hostile_order(name: &str, id: &str) -> OrderFacts {
        OrderFacts {
            order_id: "<i>9</i>".into(),
            product_id: id.into(),
            product_name: name.into(),
            flow_point: "PAY_SUCC".into(),
            total_pay_amount: 2100,
            estimated_commission: 420,
            real_commission: 0,
        }
    }

    /// Markup Telegram's HTML mode would act on: tags, entities, a link.
    const HOSTILE: &[&str] = &[
        "<b>bold</b>",
        "3583117383482622604</code><a href=\"https://evil.example\">",
        "&lt;already&gt; & <",
        "<script>alert(1)</script>",
    ];

    /// Every `<` the bot did not write itself is escaped: stripping the bot's own tags from
    /// the text leaves no `<` at all.
    fn assert_no_foreign_markup(text: &str) {
        let mut rest = text.to_string();
        for tag in ["<b>", "</b>", "<code>", "</code>"] {
            rest = rest.replace(tag, "");
        }
        assert!(!rest.contains('<'), "unescaped markup: {text}");
    }

    #[test]
    fn hostile_product_names_and_ids_are_escaped_in_every_order_message() {
        for hostile in HOSTILE {
            for order in [hostile_order("", hostile), hostile_order(hostile, hostile)] {
                for news in [OrderNews::New, OrderNews::Refunded, OrderNews::Settled] {
                    for lang in [Lang::Zh, Lang::En] {
                        let e = Event::Order {
                            news,
                            order: order.clone(),
                        };
                        assert_no_foreign_markup(&event(lang, &e, &Money::default()));
                    }
                }
            }
        }
        let e = Event::Order {
            news: OrderNews::New,
            order: hostile_order(" ", "<b>1&2</b>"),
        };
        let text = event(Lang::Zh, &e, &Money::default());
        assert!(text.contains("商品 &lt;b&gt;1&amp;2&lt;/b&gt;"), "{text}");
        let text = event(Lang::En, &e, &Money::default());
        assert!(
            text.contains("Product &lt;b&gt;1&amp;2&lt;/b&gt;"),
            "{text}"
        );
        assert!(
            text.contains("New order") && text.contains("State: paid"),
            "{text}"
        );
    }

    #[test]
    fn the_group_notice_names_nothing_but_the_user_and_escapes_them() {
        let text = in_group_notice(Lang::Zh, 1001, Some("<b>Eve</b>"), Some("dy_link_bot"));
        assert!(text.contains("&lt;b&gt;Eve&lt;/b&gt;"), "{text}");
        assert!(
            text.contains(r#"<a href="https://t.me/dy_link_bot?start=orders">"#),
            "{text}"
        );
        assert!(text.contains(r#"<a href="tg://user?id=1001">"#), "{text}");
        assert!(!text.contains('¥'));
        let text = in_group_notice(Lang::Zh, 1001, None, None);
        assert!(text.contains("/start"), "{text}");
    }

    #[test]
    fn money_is_shown_in_yuan_from_integer_fen() {
        assert_eq!(yuan(2100), "¥21.00");
        assert_eq!(yuan(165), "¥1.65");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(-250), "-¥2.50");
    }

    #[test]
    fn operator_problems_reveal_nothing() {
        let e = ConvertError::Upstream(VeapiError::Api {
            class: ErrorClass::Authorization,
            code: "10008".into(),
            msg: "access_token expired for account 12345".into(),
            request_id: None,
        });
        for lang in [Lang::Zh, Lang::En] {
            assert!(!failure(lang, &e).contains("12345"));
        }
    }
}
