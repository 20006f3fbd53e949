//! Tells product shares from the other shares Douyin wraps in the same boilerplate.
//!
//! Douyin wraps every share (product, video, live room, profile, music, comment) in the same
//! words around a short link or a 抖口令 core, so the words decide. Template words are matched
//! in the folded text (see `fold.rs`: look-alike, traditional and letter spellings), found
//! once per message, and mapped back to the original offsets. Each word is attached to the
//! nearest URL it is not separated from by a share boundary (a blank line or the noise header
//! every Douyin share starts with); a short link whose nearest word declares a video, live
//! room, profile, music or comment is not a reference.

use super::fold::fold;
use super::urls::UrlSpan;
use once_cell::sync::Lazy;
use regex::Regex;
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// Says "product" and anchors a 抖口令 core right after it (`查看商品详情`).
    Anchor,
    /// Says "product" (`抖音商城`, `去购买`).
    Product,
    /// Video, live room, profile, shop, music, comment, local deal.
    NotProduct,
    /// Another platform's words (`淘宝`, `吱口令`, `京东`): a password near them is theirs.
    Foreign,
}

impl Marker {
    pub fn is_product(self) -> bool {
        matches!(self, Marker::Anchor | Marker::Product)
    }
}

// The words of each kind, in the folded text. All kinds are found in one pass (`ALL_RE`);
// the kind of a match is then read from the short match alone.
const ANCHOR: &str = r"查看[^\p{Han}\n]{0,4}商品[^\p{Han}\n]{0,4}详情|查看商品|商品详情|看商品";
const PRODUCT: &str = r"抖音商城|购买商品|去购买|下单";
const NOT_PRODUCT: &str = concat!(
    // Videos and photo posts: `直接观看视频`, the plain copy-this-link template (products say
    // `复制此条消息`), `看看【…的作品】`.
    r"观看(?:视频|作品|图文)|看看【[^】\n]{0,40}(?:的(?:图文)?作品】|】的(?:图文)?作品)",
    r"|复制打开抖音(?:极速版)?[，,]?\s*看看|打开【抖音短视频】|去抖音看看",
    r"|复制此链接[，,]?\s*打开抖音(?:极速版)?搜索",
    // Live rooms.
    r"|看ta直播|正在直播|的直播间|直播间】|观看直播|直播中",
    // Profiles, shop windows, shops, local deals: not one alliance product.
    r"|更多作品|ta的主页|的主页|个人主页|关注我|抖音号是|橱窗|的店铺】|查看店铺|进店|团购详情|【抖音团购】",
    // Music and comments.
    r"|聆听音乐|的原声|音乐】|发布作品的评论|作品的评论|的评论[:：]",
);
const FOREIGN: &[&str] = &[
    "淘宝",
    "天猫",
    "支付宝",
    "吱口令",
    "京东",
    "拼多多",
    "快手",
    "小红书",
    "闲鱼",
    "唯品会",
    "美团",
    "饿了么",
    "微信",
    "taobao",
    "tmall",
    "jd.com",
    "yangkeduo",
    "kuaishou",
    "xhslink",
    "pinduoduo",
];

static ALL_RE: Lazy<Regex> = Lazy::new(|| {
    let foreign: Vec<String> = FOREIGN.iter().map(|w| regex::escape(w)).collect();
    Regex::new(&format!(
        "(?i){ANCHOR}|{PRODUCT}|{NOT_PRODUCT}|{}",
        foreign.join("|")
    ))
    .unwrap()
});

/// The kind of a word `ALL_RE` found, read from the word alone (no second regex pass).
fn kind_of(word: &str) -> Marker {
    if matches!(word, "抖音商城" | "购买商品" | "去购买" | "下单") {
        Marker::Product
    } else if word.contains("商品") {
        Marker::Anchor
    } else if FOREIGN.iter().any(|f| f.eq_ignore_ascii_case(word)) {
        Marker::Foreign
    } else {
        Marker::NotProduct
    }
}

static SHARE_HEADER_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(
        // "9.28 08/16 bNW:/", "2.33 02/11 M@W.Mw QKw:/", "6.97 y@T.LJ 07/23 fOk:/", "6i- ", "3- ".
        r"(?m)(?:^|\s)(?:\d{1,2}(?:\.\d{1,2})?\s+(?:[A-Za-z@.]{2,8}:/|[A-Za-z]@[A-Za-z]\.[A-Za-z]{2}\s|\d{2}/\d{2}\s)|\d{1,2}[A-Za-z]{0,2}-\s|#在抖音，记录美好生活#)",
    )
    .unwrap()
});

static BLANK_LINE_RE: Lazy<Regex> = Lazy::new(|| Regex::new(r"\n[ \t\r\u3000]*\n").unwrap());

/// Every template word of a message, at its original offsets, in text order.
pub fn markers(text: &str) -> Vec<(Range<usize>, Marker)> {
    let folded = fold(text);
    let mut out: Vec<(Range<usize>, Marker)> = Vec::new();
    // The plain copy-this-link template is a video's unless 查看商品详情 follows it.
    let mut plain_link_template = false;
    for m in ALL_RE.find_iter(&folded.text) {
        let kind = kind_of(m.as_str());
        if kind == Marker::Anchor && plain_link_template {
            out.pop();
        }
        plain_link_template = kind == Marker::NotProduct
            && m.as_str().starts_with("复制此链接")
            && folded.text[m.end()..]
                .chars()
                .take_while(|c| !c.is_alphanumeric())
                .count()
                == folded.text[m.end()..].find("查看").map_or(usize::MAX, |i| {
                    folded.text[m.end()..m.end() + i].chars().count()
                });
        out.push((folded.to_original(m.range()), kind));
    }
    out
}

/// For each URL, whether its template words say product (Some(true)), something else
/// (Some(false)), or nothing is near (None).
///
/// Words from a share template outrank words anyone may type: `查看商品详情` and `抖音商城`
/// (only product shares carry them) decide first, then the other templates' words
/// (`直接观看视频`, `的主页`, …), and only then loose words like `下单` or `去购买`, so
/// "帮我下单" typed by a link from a video share does not make it a product, and "关注我"
/// typed by a product share does not drop it. Nearness ranks words of the same rank.
pub fn classify(
    text: &str,
    urls: &[UrlSpan<'_>],
    markers: &[(Range<usize>, Marker)],
) -> Vec<Option<bool>> {
    let mut boundaries: Vec<Range<usize>> = BLANK_LINE_RE
        .find_iter(text)
        .map(|m| m.range())
        .chain(SHARE_HEADER_RE.find_iter(text).map(|m| m.range()))
        .collect();
    boundaries.sort_by_key(|r| r.start);

    // (rank, distance): lower is stronger.
    type Vote = ((u8, usize, usize), bool);
    let mut best: Vec<Option<Vote>> = vec![None; urls.len()];
    for (m, kind) in markers {
        if *kind == Marker::Foreign {
            continue;
        }
        // Words inside a URL (query strings) say nothing.
        if urls
            .iter()
            .any(|u| u.range.start <= m.start && m.end <= u.range.end)
        {
            continue;
        }
        let prev = urls.iter().rposition(|u| u.range.end <= m.start);
        let next = urls.iter().position(|u| u.range.start >= m.end);
        let mut nearest: Option<(usize, (usize, usize))> = None;
        for (idx, gap) in [
            prev.map(|i| (i, urls[i].range.end..m.start)),
            next.map(|i| (i, m.end..urls[i].range.start)),
        ]
        .into_iter()
        .flatten()
        {
            if boundaries
                .iter()
                .any(|b| b.start < gap.end && b.end > gap.start)
            {
                continue;
            }
            let between = &text[gap];
            let dist = (between.matches('\n').count(), between.chars().count());
            if nearest.is_none_or(|(_, d)| dist < d) {
                nearest = Some((idx, dist));
            }
        }
        if let Some((idx, (lines, chars))) = nearest {
            let rank = match kind {
                Marker::Anchor => 0,
                Marker::Product if text[m.clone()].contains(['城', '場']) => 0,
                Marker::NotProduct => 1,
                _ => 2,
            };
            let key = (rank, lines, chars);
            if best[idx].is_none_or(|(k, _)| key < k) {
                best[idx] = Some((key, kind.is_product()));
            }
        }
    }
    best.into_iter().map(|b| b.map(|(_, p)| p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Marker> {
        markers(text).into_iter().map(|(_, k)| k).collect()
    }

    #[test]
    fn template_words_in_any_spelling() {
        assert_eq!(
            kinds("復製此链接，打kai Dou音搜索，値接觀看視频"),
            vec![Marker::NotProduct, Marker::NotProduct]
        );
        assert_eq!(kinds("查看:/ 商品详情"), vec![Marker::Anchor]);
        assert_eq!(kinds("聆聽音樂"), vec![Marker::NotProduct]);
        assert_eq!(kinds("發佈作品的評論"), vec![Marker::NotProduct]);
        assert_eq!(kinds("打开tao宝"), vec![Marker::Foreign]);
    }

    #[test]
    fn words_map_back_to_what_was_written() {
        let text = "链接 看ＴＡ直播";
        let (r, _) = &markers(text)[0];
        assert_eq!(&text[r.clone()], "看ＴＡ直播");
    }
}
