//! Product ids standing alone in a text, and the numbers of the same shape that are not.
//!
//! A product id is 12–20 digits not glued to another token. A label before it decides
//! (`商品ID`, `商品编号` yes; `订单号`, `计划ID`, `素材ID`, `房间号`, `uid` no); without a label,
//! numbers shaped like other ids (order numbers, card, phone and resident-id numbers,
//! timestamps, round figures) are left out. A number that is a value in another shop's JSON
//! (`"skuId":…` next to `"platform":"jd"`) is theirs.

use super::urls::UrlSpan;
use super::{in_any, Kind, Reference};
use once_cell::sync::Lazy;
use regex::Regex;

static DIGITS_RE: Lazy<Regex> = Lazy::new(|| Regex::new(r"[0-9]{12,20}").unwrap());

// Other shops named in a JSON object, or their field names.
static OTHER_SHOP_JSON_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r#"(?i)taobao|tmall|淘宝|天猫|"jd"|京东|jd\.com|\bpdd\b|pinduoduo|拼多多|yangkeduo|kuaishou|快手|1688|vip\.com|唯品会|"sku_?id"|"auction_?id"|"nid""#).unwrap()
});

static ID_NEGATIVE: &[&str] = &[
    "订单",
    "单号",
    "房间",
    "直播间",
    "room",
    "uid",
    "用户",
    "抖音号",
    "号码",
    "手机",
    "电话",
    "tel",
    "qq",
    "微信",
    "vx",
    "wx",
    "pid",
    "视频",
    "作品",
    "aweme",
    "video",
    "群",
    "卡号",
    "账号",
    "帐号",
    "身份证",
    "快递",
    "运单",
    "物流",
    "流水",
    "交易",
    "支付",
    "淘宝",
    "京东",
    "拼多多",
    "快手",
    "open_id",
    "openid",
    "作者",
    "达人",
    "店铺",
    "shop",
    "粉丝",
    "评论",
    "order",
    "user",
    "红包",
    "编号",
    "工号",
    "学号",
    "库存",
    "销量",
    "数量",
    "价格",
    "金额",
    "时间",
    "timestamp",
    // Ad-platform (千川, 巨量) numbers beside products: plans, creatives, accounts.
    "计划",
    "素材",
    "广告",
    "创意",
    "账户",
    "任务",
    "sku",
];
// Compounds ("商品编号") end where their negative part ("编号") does; ties go positive.
static ID_POSITIVE: &[&str] = &[
    "商品",
    "宝贝",
    "产品",
    "货品",
    "product",
    "goods",
    "item",
    "商品编号",
    "商品号",
    "宝贝编号",
];

pub fn find(text: &str, urls: &[UrlSpan<'_>], refs: &mut Vec<Reference>) {
    let bytes = text.as_bytes();
    for m in DIGITS_RE.find_iter(text) {
        let r = m.range();
        // Standing alone: not part of a longer token, a decimal, a signed or an underscored id.
        let before = r.start.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(r.end).copied();
        let glued = |b: Option<u8>| {
            b.is_some_and(|b| b.is_ascii_alphanumeric() || b"_-+./@#&%".contains(&b))
        };
        // "商品ID3583…": an `id` label typed without a separator still stands alone.
        let id_glued = before.is_some_and(|b| b.is_ascii_alphabetic())
            && r.start >= 2
            && text[..r.start].to_ascii_lowercase().ends_with("id")
            && !(r.start >= 3 && bytes[r.start - 3].is_ascii_alphanumeric());
        if (glued(before) && !id_glued) || glued(after) || in_any(urls, &r) {
            continue;
        }
        // "100000000000 件", "1299000000000元": a quantity, not an id.
        if text[r.end..]
            .trim_start_matches([' ', '\u{3000}'])
            .starts_with([
                '元', '件', '个', '次', '人', '万', '亿', '秒', '份', '单', '条', '张',
            ])
        {
            continue;
        }
        if in_other_shops_json(text, r.start) {
            continue;
        }
        let digits = m.as_str();
        let ctx = context_before(text, r.start, 12);
        let label = nearest_label(&ctx);
        let accept = match label {
            Some(true) => true,
            Some(false) => false,
            None => !looks_like_other_number(digits),
        };
        if accept {
            refs.push(Reference {
                kind: Kind::ProductId,
                value: digits.to_string(),
                start: r.start,
                end: r.end,
            });
        }
    }
}

/// Numbers of the same length as product ids that are something else.
fn looks_like_other_number(d: &str) -> bool {
    let b = d.as_bytes();
    let len = d.len();
    // 19 digits starting with 4: order numbers; with 6 or 7: video (aweme) or live-room ids.
    (len == 19 && matches!(b[0], b'4' | b'6' | b'7'))
        // UnionPay card numbers.
        || ((16..=19).contains(&len) && d.starts_with("62"))
        // Mobile numbers with the country code: 86 1[3-9]x xxxx xxxx.
        || (len == 13 && d.starts_with("861") && (b'3'..=b'9').contains(&b[3]))
        // Resident id numbers: region, then a birth date 19xx/20xx MM DD.
        || (len == 18 && is_birth_date(&d[6..14]))
        // Millisecond timestamps, 2015 to 2035.
        || (len == 13 && d.parse::<u64>().is_ok_and(|ms| (1_420_070_400_000..2_051_222_400_000).contains(&ms)))
        // Ids are random-looking; round figures and repeated digits are counts or filler.
        || longest_run(b) >= 7
}

fn longest_run(b: &[u8]) -> usize {
    let (mut best, mut run) = (0, 0);
    for (i, c) in b.iter().enumerate() {
        run = if i > 0 && b[i - 1] == *c { run + 1 } else { 1 };
        best = best.max(run);
    }
    best
}

fn is_birth_date(s: &str) -> bool {
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    matches!(&s[..2], "19" | "20") && (1..=12).contains(&n(4..6)) && (1..=31).contains(&n(6..8))
}

/// Some(true) if the closest label before a number names a product, Some(false) if it names
/// something else (order, room, user, phone, …), None without a label.
fn nearest_label(ctx: &str) -> Option<bool> {
    let last = |words: &[&str]| {
        words
            .iter()
            .filter_map(|w| ctx.rfind(w).map(|i| i + w.len()))
            .max()
    };
    match (last(ID_POSITIVE), last(ID_NEGATIVE)) {
        (Some(p), Some(n)) => Some(p >= n),
        (Some(_), None) => Some(true),
        (None, Some(_)) => Some(false),
        (None, None) => None,
    }
}

/// Up to `n` characters of `text` before byte `pos` on the same line, lowercased.
fn context_before(text: &str, pos: usize, n: usize) -> String {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..pos];
    let skip = before.chars().count().saturating_sub(n);
    before.chars().skip(skip).collect::<String>().to_lowercase()
}

/// Whether the number at `pos` is a JSON value (`"key": 123…` or `"key":"123…"`) in an
/// object that names another shop or uses its field names.
fn in_other_shops_json(text: &str, pos: usize) -> bool {
    let before = text[..pos].trim_end_matches('"').trim_end();
    if !before.ends_with(':') || !before[..before.len() - 1].trim_end().ends_with('"') {
        return false;
    }
    // The enclosing object, bounded so a long text costs little.
    let lo = text[..pos].rfind('{').unwrap_or(0);
    let hi = text[pos..].find('}').map_or(text.len(), |i| pos + i + 1);
    let lo = super::floor_char_boundary(text, lo.max(pos.saturating_sub(512)));
    let hi = super::floor_char_boundary(text, hi.min(pos + 512).min(text.len()));
    OTHER_SHOP_JSON_RE.is_match(&text[lo..hi])
}
