//! How much of a promoter's text one converted reference replaces.
//!
//! A reference's span is what the detector matched: the URL of a short link, the 抖口令
//! from its `长按…` head to its closing delimiters. A pasted Douyin share is more than that:
//! a noise header before the link (`9.28 reo:/ r@r.Rx 01/26 【抖音商城】`), the title and
//! the `长按复制此条消息，打开抖音搜索，查看商品详情！` boilerplate after it. The new 抖口令
//! upstream returns is itself a whole share text (header, words, core), so replacing only the
//! URL would leave the old share's words around the new one, and an old core
//! (`【➝➝8NYMAvB4XgE8︽︽】`) that Douyin could still read as someone else's password.
//! So for a short link or a 抖口令 the replaced extent grows to the share it sits in:
//! - back, on the same line, to the share's header (a number token followed by noise tokens
//!   and `:/`, not glued to a word or number before it), the `【抖音商城】` label right before the link, or `复制此条消息` boilerplate
//!   written before the link (with the core it carries);
//! - forward, on the same line or the next, through the product boilerplate
//!   (`…复制此条消息…查看商品详情！`) and the title between.
//!
//! Nothing else grows: a product id or URL is only itself, and promoter words are never
//! eaten (an extent never crosses the previous reference's extent or the next reference).

use crate::detect::Kind;
use once_cell::sync::Lazy;
use regex::Regex;
use std::ops::Range;

/// A share header starting at a number token: `9.28 reo:/`, `3.53 01/12 sEh:/`,
/// `2.33 02/11 M@W.Mw QKw:/`, `6:/`, `1e--.:/` (fixtures/messages*.jsonl).
static HEADER_RE: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"^\d{1,3}(?:\.\d{1,2})?[0-9A-Za-z@./ \t-]{0,30}?(?::/|：/)").unwrap());

/// A price right before the header (`券后 19.9 9.28 reo:/`): the header starts after it.
static TWO_DECIMALS_RE: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"^\d{1,3}\.\d{1,2}\s+\d{1,3}\.\d{1,2}\s").unwrap());

/// The product boilerplate written before a link (`【漫花抽纸】复制此条消息，…查看商品详情【➝➝…︽︽】 https://…`).
static BOILER_HEAD_RE: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"(?:长按|長按)?(?:复制|複製|復製)此(?:条|條)消息").unwrap());

/// `【抖音商城】` right before the link.
static MALL_RE: Lazy<Regex> = Lazy::new(|| Regex::new(r"【抖音商城】\s*$").unwrap());

/// The product boilerplate after a link, with the variants seen in real shares: `，有机会获得
/// 大额券！` (2025) and a glued `:7pm` (fixtures/messages2.jsonl, messages_extra.jsonl).
static BOILER_TAIL_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(
        r"(?:长按|長按)?(?:复制|複製|復製)此(?:条|條)消息[^\n]{0,30}?查看商品详情(?:[，,]有机会获得大额券)?[！!。]?(?::\d{1,2}[ap]m)?",
    )
    .unwrap()
});

/// The extent `raw` (a reference of `kind`, visible in the text) replaces, within
/// `lo..hi` (the end of the previous extent, the start of the next reference).
pub fn share_extent(
    text: &str,
    kind: Kind,
    raw: Range<usize>,
    lo: usize,
    hi: usize,
) -> Range<usize> {
    if !matches!(kind, Kind::ShortLink | Kind::Password) {
        return raw;
    }
    let line_start = text[..raw.start].rfind('\n').map_or(0, |i| i + 1);
    let from = line_start.max(lo).min(raw.start);
    let start = head(&text[from..raw.start]).map_or(raw.start, |h| from + h);
    let end = if kind == Kind::ShortLink {
        tail(text, raw.end, hi.max(raw.end))
    } else {
        raw.end
    };
    start..end
}

/// Where a share begins in `before` (the line up to the reference), if it does.
fn head(before: &str) -> Option<usize> {
    let header = before
        .char_indices()
        .filter(|&(i, c)| {
            c.is_ascii_digit()
                && before[..i]
                    .chars()
                    .next_back()
                    .is_none_or(|p| !p.is_alphanumeric() && p != '.')
        })
        .map(|(i, _)| i)
        .find(|&i| HEADER_RE.is_match(&before[i..]) && !TWO_DECIMALS_RE.is_match(&before[i..]));
    let boiler = BOILER_HEAD_RE.find(before).map(|m| m.start());
    let mall = MALL_RE.find(before).map(|m| m.start());
    [header, boiler, mall].into_iter().flatten().min()
}

/// Where the share that a short link ending at `end` belongs to ends: after its boilerplate
/// when that follows on the same line or the next, else at the link.
fn tail(text: &str, end: usize, hi: usize) -> usize {
    let hi = hi.min(text.len());
    let rest = &text[end..hi];
    // The same line and the next one, no further.
    let reach = match rest.find('\n') {
        Some(first) => rest[first + 1..]
            .find('\n')
            .map_or(rest.len(), |second| first + 1 + second),
        None => rest.len(),
    };
    BOILER_TAIL_RE
        .find(&rest[..reach])
        .map_or(end, |m| end + m.end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::detect;

    /// The text each detected reference's extent covers.
    fn extents(text: &str) -> Vec<&str> {
        let refs = detect(text);
        let mut lo = 0;
        refs.iter()
            .enumerate()
            .map(|(i, r)| {
                let hi = refs.get(i + 1).map_or(text.len(), |n| n.start);
                let e = share_extent(text, r.kind, r.start..r.end, lo, hi);
                lo = e.end;
                &text[e]
            })
            .collect()
    }

    #[test]
    fn a_pasted_share_is_replaced_whole() {
        let share = "9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】130g*10袋猫耳酥\n长按复制此条消息，打开抖音搜索，查看商品详情！";
        assert_eq!(extents(share), vec![share]);
        let glued = "2.33 02/11 M@W.Mw QKw:/ 【抖音商城】https://v.douyin.com/j5sqPp7x6lE/ 【棉屿T恤】短袖\n长按复制此条消息，打开抖音搜索，查看商品详情！:6pm";
        assert_eq!(extents(glued), vec![glued]);
        let coupon = "9.28 08/16 bNW:/ t@r.EH 【抖音商城】https://v.douyin.com/92ATSTRwUEY/ 挂钩\n长按复制此条消息，打开抖音搜索，查看商品详情，有机会获得大额券！";
        assert_eq!(extents(coupon), vec![coupon]);
    }

    #[test]
    fn promoter_words_around_a_share_stay() {
        let text = "1️⃣ 猫耳酥 券后 19.9 9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】猫耳酥 长按复制此条消息，打开抖音搜索，查看商品详情！快抢🔥";
        assert_eq!(
            extents(text),
            vec!["9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】猫耳酥 长按复制此条消息，打开抖音搜索，查看商品详情！"]
        );
        // A bare link is only itself; the title after it is the promoter's.
        assert_eq!(
            extents("2️⃣ 抽纸\nhttps://v.douyin.com/iUqwFX7b/ 超有趣的机关书"),
            vec!["https://v.douyin.com/iUqwFX7b/"]
        );
        // The mall label goes with the link it labels.
        assert_eq!(
            extents("好物：【抖音商城】https://v.douyin.com/1gROYzHbWMY/ Golden Goose"),
            vec!["【抖音商城】https://v.douyin.com/1gROYzHbWMY/"]
        );
    }

    #[test]
    fn an_old_core_before_the_link_goes_with_it() {
        let text = "【漫花抽纸】复制此条消息，打开抖音搜索，查看商品详情【➝➝8NYMAvB4XgE8︽︽】 https://v.douyin.com/iFR3AbCd/";
        assert_eq!(
            extents(text),
            vec!["复制此条消息，打开抖音搜索，查看商品详情【➝➝8NYMAvB4XgE8︽︽】 https://v.douyin.com/iFR3AbCd/"]
        );
    }

    #[test]
    fn a_password_keeps_its_own_span_and_product_ids_are_only_themselves() {
        let pw = "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽";
        assert_eq!(extents(&format!("第三款👇\n{pw}\n冲！")), vec![pw]);
        assert_eq!(
            extents("商品ID：3583117383482622604 复制此条消息"),
            vec!["3583117383482622604"]
        );
    }

    #[test]
    fn boilerplate_two_lines_away_belongs_to_nobody() {
        let text = "https://v.douyin.com/iUqwFX7b/\n第二行\n长按复制此条消息，打开抖音搜索，查看商品详情！";
        assert_eq!(extents(text), vec!["https://v.douyin.com/iUqwFX7b/"]);
    }

    #[test]
    fn two_shares_on_one_line_never_swallow_each_other() {
        let text = "A 9.28 reo:/ https://v.douyin.com/i2wDMRRN/ 长按复制此条消息，查看商品详情！ B 7.77 abc:/ https://v.douyin.com/iUqwFX7b/ 长按复制此条消息，查看商品详情！ C";
        let got = extents(text);
        assert_eq!(got.len(), 2);
        assert!(
            got[0].starts_with("9.28") && got[0].ends_with("详情！"),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("7.77") && got[1].ends_with("详情！"),
            "{got:?}"
        );
    }
}
