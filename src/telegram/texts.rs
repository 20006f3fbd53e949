//! Every text the bot sends, in one place. Chinese by default; HTML parse mode.

use crate::convert::ConvertError;
use crate::veapi::{ErrorClass, ShareLink};

pub const START: &str = "👋 你好！把抖音商品链接、分享口令或商品ID发给我，我会帮你转换成专属抖口令。\n\n\
用你的专属口令下单后，我会在订单出现、退款或结算时通知你。\n\n\
支持：\n• 抖音商城分享文案（含 v.douyin.com 短链接）\n• 商品链接（haohuo.jinritemai.com 等）\n• 团长链接\n• 抖口令\n• 商品ID\n\n\
发送 /help 查看使用说明。";

pub const HELP: &str = "📖 使用说明\n\n\
1. 在抖音里打开商品，点「分享」→「复制链接」。\n\
2. 把复制的内容直接发给我（一条消息里可以有多个商品）。\n\
3. 我会回复转换好的抖口令，点一下即可复制，打开抖音即可查看商品。\n\n\
在群里：我只回复含有商品链接的消息。\n\n\
命令：\n/start 开始\n/help 使用说明";

pub const NO_REFERENCE: &str = "🤔 没有在这条消息里找到抖音商品。\n\
请发送抖音商城的分享文案、商品链接、抖口令或商品ID。视频、直播间和主页链接不能转换。";

/// The reply for one message: successes as tap-to-copy blocks, failures explained (private
/// chats only; groups never see failures).
pub fn reply(results: &[Result<ShareLink, ConvertError>], private: bool) -> Option<String> {
    let ok = results.iter().filter(|r| r.is_ok()).count();
    if ok == 0 && !private {
        return None;
    }
    let many = results.len() > 1;
    let mut out = String::new();
    if ok > 0 {
        out.push_str("✅ 已转换，点击口令即可复制：\n");
    }
    for (i, r) in results.iter().enumerate() {
        if !out.is_empty() {
            out.push('\n');
        }
        if many {
            out.push_str(&format!("<b>商品 {}</b>\n", i + 1));
        }
        match r {
            Ok(link) => {
                out.push_str(&format!("<code>{}</code>\n", escape(&link.dy_password)));
                if let Some(c) = &link.coupon {
                    out.push_str(&format!(
                        "🎟 领券口令：\n<code>{}</code>\n",
                        escape(&c.share_command)
                    ));
                }
            }
            Err(e) if private => {
                out.push_str(&format!("❌ {}\n", escape(&failure(e))));
            }
            Err(_) => out.push_str("❌ 暂时无法转换\n"),
        }
    }
    if ok > 0 {
        out.push_str("\n复制后打开抖音即可查看商品。");
    }
    Some(out.trim_end().to_string())
}

/// A refusal in plain words. Upstream's own sentence is kept only where it speaks about the
/// product; operator-side problems never reveal details.
pub fn failure(e: &ConvertError) -> String {
    let ConvertError::Upstream(err) = e else {
        return "内部错误，请稍后再试。".into();
    };
    let msg = err.upstream_msg().unwrap_or_default();
    match err.class() {
        ErrorClass::Product => {
            let known = [
                ("精选联盟", "这个商品没有加入抖音精选联盟，暂时不能推广。"),
                ("下架", "这个商品已经下架了。"),
                ("不存在", "没有找到这个商品，请确认链接是否完整。"),
                ("站外分享", "这个商品暂不支持站外分享。"),
                ("不支持", "这个商品暂不支持转换。"),
                ("无效商品", "链接或口令无效，请重新复制完整的分享内容。"),
                ("风险类目", "这个商品属于风险类目，不能转换。"),
                ("指定作者", "商家设置了仅指定作者可推广这个商品。"),
            ];
            match known.iter().find(|(k, _)| msg.contains(k)) {
                Some((_, text)) => (*text).to_string(),
                None => format!("这个商品暂时无法转换：{}", short(msg)),
            }
        }
        ErrorClass::Authorization | ErrorClass::KeyOrQuota => {
            "转换服务暂时不可用（需要管理员处理），请稍后再试。".into()
        }
        ErrorClass::Throttled => "抖音接口繁忙，请过一会儿再发一次。".into(),
        ErrorClass::Transport => "暂时连不上转换服务，请稍后再试。".into(),
        ErrorClass::Other if !msg.is_empty() => format!("转换失败：{}", short(msg)),
        ErrorClass::Other => "转换失败，请稍后再试。".into(),
    }
}

fn short(msg: &str) -> String {
    let m: String = msg.chars().take(60).collect();
    m.trim_end_matches(['!', '！', '。', '.', '…']).to_string() + "。"
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
            reply(&r, true).unwrap(),
            "❌ 这个商品没有加入抖音精选联盟，暂时不能推广。"
        );
        assert_eq!(reply(&r, false), None);
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
        let text = reply(&[Ok(link)], true).unwrap();
        assert!(text.contains("<code>长按&lt;复制&gt;&amp;打开</code>"));
        assert!(text.contains("<code>券口令</code>"));
    }

    #[test]
    fn operator_problems_reveal_nothing() {
        let e = ConvertError::Upstream(VeapiError::Api {
            class: ErrorClass::Authorization,
            code: "10008".into(),
            msg: "access_token expired for account 12345".into(),
            request_id: None,
        });
        assert!(!failure(&e).contains("12345"));
    }
}
