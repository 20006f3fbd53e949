//! Finds the Douyin product references in a chat message.
//!
//! Pure and allocation-light: no I/O, regexes compiled once. The rules follow what
//! kol_ProductShare accepts as `productUrl` (see `shared/veapi.md`): product ids, product
//! URLs, colonel links, `v.douyin.com` short links and 抖口令 without a URL.
//!
//! Share texts are the hard part: Douyin wraps every share (product, video, live room,
//! profile) in the same boilerplate around a short link. The short link alone says nothing
//! about what it points to, so the words around it decide. Each marker phrase is attached to
//! the nearest URL that is not separated from it by a share boundary (a blank line or the
//! noise header every Douyin share starts with); a short link whose nearest marker declares a
//! video, live room or profile is not a reference.

use once_cell::sync::Lazy;
use regex::Regex;
use serde::Serialize;
use std::ops::Range;

/// At most this many references are returned for one message: bounds the upstream calls a
/// single message can cause.
pub const MAX_REFS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ProductId,
    ProductUrl,
    ColonelLink,
    ShortLink,
    Password,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ProductId => "product_id",
            Kind::ProductUrl => "product_url",
            Kind::ColonelLink => "colonel_link",
            Kind::ShortLink => "short_link",
            Kind::Password => "password",
        }
    }

    /// Colonel (团长) links must be converted with `use_coupon=true`.
    pub fn needs_coupon(self) -> bool {
        self == Kind::ColonelLink
    }
}

/// One product reference: what it is, the value to send as `productUrl`, and where it sits
/// in the text (byte offsets, always on char boundaries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    pub kind: Kind,
    pub value: String,
    pub start: usize,
    pub end: usize,
}

/// A link hidden behind text (a Telegram `text_link` entity): the URL and the byte range of
/// the text that carries it.
#[derive(Debug, Clone)]
pub struct HiddenLink<'a> {
    pub url: &'a str,
    pub span: Range<usize>,
}

/// Detects references in `text`.
pub fn detect(text: &str) -> Vec<Reference> {
    detect_with_links(text, &[])
}

/// Detects references in `text` and in links hidden behind parts of it. A hidden link's
/// reference is reported at the span of the text that carries it.
pub fn detect_with_links(text: &str, hidden: &[HiddenLink<'_>]) -> Vec<Reference> {
    let mut refs = scan(text);
    for link in hidden {
        if link.span.end > text.len()
            || !text.is_char_boundary(link.span.start)
            || !text.is_char_boundary(link.span.end)
        {
            continue;
        }
        // A hidden link is a URL on its own: no share text around it to classify.
        for r in scan(link.url)
            .into_iter()
            .filter(|r| r.kind != Kind::Password)
        {
            if !refs.iter().any(|x| x.value == r.value) {
                refs.push(Reference {
                    start: link.span.start,
                    end: link.span.end,
                    ..r
                });
            }
        }
    }
    refs.sort_by_key(|r| (r.start, r.end));
    refs.truncate(MAX_REFS);
    refs
}

// Printable ASCII run after a scheme: Douyin shares glue Chinese text straight onto URLs, so
// the first non-ASCII character ends the URL.
static URL_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(
        r"(?i)\bhttps?://[!-~]+|(?:^|[^a-z0-9._/@:-]|[:：])((?:[a-z0-9-]+\.)+(?:com|cn|net|org|io|me|cc|top|xyz|info|co)(?::\d+)?/[!-~]*)",
    )
    .unwrap()
});

static SHORT_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)^(?:https?://)?v\.douyin\.com/([A-Za-z0-9_-]{3,32})(?:/|$)").unwrap()
});

static DIGITS_RE: Lazy<Regex> = Lazy::new(|| Regex::new(r"[0-9]{12,20}").unwrap());

static CORE_RE: Lazy<Regex> = Lazy::new(|| Regex::new(r"[A-Za-z0-9]{8,16}").unwrap());

static PRODUCT_ANCHOR_RE: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"查看商品详情|查看商品|商品详情|看商品").unwrap());

static SHARE_HEADER_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(
        // "9.28 08/16 bNW:/", "2.33 02/11 M@W.Mw QKw:/", "6.97 y@T.LJ 07/23 fOk:/", "6i- ", "3- ".
        r"(?m)(?:^|\s)(?:\d{1,2}(?:\.\d{1,2})?\s+(?:[A-Za-z@.]{2,8}:/|[A-Za-z]@[A-Za-z]\.[A-Za-z]{2}\s|\d{2}/\d{2}\s)|\d{1,2}[A-Za-z]{0,2}-\s|#在抖音，记录美好生活#)",
    )
    .unwrap()
});

// Where a 抖口令 begins: "3M长按:/", "97:/", "8.92 HgV:/", or its "长按…" boilerplate.
static PASSWORD_START_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"\d{1,3}(?:\.\d{1,2})?\s*[A-Za-z]{0,4}\s*(?:长按|:/|：/)|长按").unwrap()
});

static BLANK_LINE_RE: Lazy<Regex> = Lazy::new(|| Regex::new(r"\n[ \t\r\u3000]*\n").unwrap());

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Product,
    NotProduct,
}

static MARKERS: Lazy<Vec<(Regex, Marker)>> = Lazy::new(|| {
    let m = |re: &str, k| (Regex::new(re).unwrap(), k);
    vec![
        m(
            r"查看商品|商品详情|抖音商城|购买商品|去购买|下单",
            Marker::Product,
        ),
        // Videos and photo posts, including homoglyph spellings (觀看視頻, 矗接观看).
        m(
            r"(?:观看|觀看)(?:视频|視頻|作品|图文|圖文)|看看【[^】\n]{0,40}(?:的(?:图文)?作品】|】的(?:图文)?作品)|复制打开抖音[，,]?\s*看看|打开【抖音短视频】",
            Marker::NotProduct,
        ),
        // Live rooms.
        m(
            r"(?i)看ta直播|正在直播|的直播间|直播间】|(?:观看|觀看)直播|直播中",
            Marker::NotProduct,
        ),
        // Profiles, shop windows, shops and local-services deals: not one alliance product.
        m(
            r"(?i)更多作品|ta的主页|的主页|个人主页|关注我|抖音号是|橱窗|的店铺】|查看店铺|进店|团购详情|【抖音团购】",
            Marker::NotProduct,
        ),
    ]
});

// Other platforms' share words: a password-looking token near them is theirs.
static FOREIGN_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)淘宝|淘寶|天猫|支付宝|吱口令|京东|拼多多|快手|小红书|闲鱼|唯品会|美团|饿了么|微信|taobao|tmall|jd\.com|yangkeduo|kuaishou|xhslink|pinduoduo").unwrap()
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

struct UrlSpan {
    range: Range<usize>,
}

fn scan(text: &str) -> Vec<Reference> {
    let urls = find_urls(text);
    // Share markers only matter around short links; most messages have none.
    let verdicts = if urls
        .iter()
        .any(|u| SHORT_RE.is_match(&text[u.range.clone()]))
    {
        classify_shares(text, &urls)
    } else {
        vec![None; urls.len()]
    };
    let mut refs = Vec::new();
    for (u, verdict) in urls.iter().zip(verdicts) {
        let s = &text[u.range.clone()];
        if let Some(c) = SHORT_RE.captures(s) {
            if verdict == Some(Marker::NotProduct) {
                continue;
            }
            refs.push(Reference {
                kind: Kind::ShortLink,
                value: format!("https://v.douyin.com/{}/", &c[1]),
                start: u.range.start,
                end: u.range.start + c[0].len(),
            });
        } else if let Some((kind, value)) = classify_product_url(s) {
            refs.push(Reference {
                kind,
                value,
                start: u.range.start,
                end: u.range.end,
            });
        }
    }

    find_product_ids(text, &urls, &mut refs);
    find_passwords(text, &urls, &mut refs);
    refs.sort_by_key(|r| r.start);
    refs
}

fn find_urls(text: &str) -> Vec<UrlSpan> {
    let mut out = Vec::new();
    for c in URL_RE.captures_iter(text) {
        let m = c.get(1).unwrap_or_else(|| c.get(0).unwrap());
        let mut end = m.end();
        // Trailing sentence punctuation belongs to the sentence, not the URL.
        while end > m.start() {
            let b = text.as_bytes()[end - 1];
            if b".,;:!?)]}'\"<>".contains(&b) {
                end -= 1;
            } else {
                break;
            }
        }
        if end > m.start() {
            out.push(UrlSpan {
                range: m.start()..end,
            });
        }
    }
    out
}

const PRODUCT_HOSTS: &[&str] = &[
    "haohuo.snssdk.com",
    "haohuo.douyin.com",
    "ec.snssdk.com",
    "haohuo.jinritemai.com",
    "m.jinritemai.com",
    "www.jinritemai.com",
    "jinritemai.com",
    "ecom.jinritemai.com",
];

fn classify_product_url(s: &str) -> Option<(Kind, String)> {
    let full = if s.len() >= 7 && s[..7].eq_ignore_ascii_case("http://")
        || s.len() >= 8 && s[..8].eq_ignore_ascii_case("https://")
    {
        s.to_string()
    } else {
        format!("https://{s}")
    };
    let url = url::Url::parse(&full).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    if !PRODUCT_HOSTS.contains(&host.as_str()) {
        return None;
    }
    let path = url.path().to_ascii_lowercase();
    if path.contains("shop") || path.contains("store") {
        return None;
    }
    if !["product", "goods", "detail", "item"]
        .iter()
        .any(|k| path.contains(k))
    {
        return None;
    }
    let mut has_id = false;
    let mut colonel = false;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "id" | "product_id" | "goods_id" | "productId" | "item_id" => {
                has_id |= (12..=20).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit())
            }
            "ins_activity_param" => colonel |= !v.is_empty(),
            _ => {}
        }
    }
    // Some product pages carry the id as the last path segment.
    has_id |= url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .is_some_and(|seg| {
            (12..=20).contains(&seg.len()) && seg.bytes().all(|b| b.is_ascii_digit())
        });
    if !has_id {
        return None;
    }
    Some((
        if colonel {
            Kind::ColonelLink
        } else {
            Kind::ProductUrl
        },
        full,
    ))
}

/// For each URL, the class of the nearest marker phrase attached to it (None: no marker).
fn classify_shares(text: &str, urls: &[UrlSpan]) -> Vec<Option<Marker>> {
    let mut boundaries: Vec<Range<usize>> = BLANK_LINE_RE
        .find_iter(text)
        .map(|m| m.range())
        .chain(SHARE_HEADER_RE.find_iter(text).map(|m| m.range()))
        .collect();
    boundaries.sort_by_key(|r| r.start);

    // (distance, marker) of the best marker per URL.
    let mut best: Vec<Option<((usize, usize), Marker)>> = vec![None; urls.len()];
    for (re, kind) in MARKERS.iter() {
        for m in re.find_iter(text) {
            // Markers inside a URL (query strings) say nothing.
            if urls
                .iter()
                .any(|u| u.range.start <= m.start() && m.end() <= u.range.end)
            {
                continue;
            }
            let prev = urls.iter().rposition(|u| u.range.end <= m.start());
            let next = urls.iter().position(|u| u.range.start >= m.end());
            let mut cands = Vec::with_capacity(2);
            for (idx, gap) in [
                prev.map(|i| (i, urls[i].range.end..m.start())),
                next.map(|i| (i, m.end()..urls[i].range.start)),
            ]
            .into_iter()
            .flatten()
            {
                let crosses = boundaries
                    .iter()
                    .any(|b| b.start < gap.end && b.end > gap.start);
                if crosses {
                    continue;
                }
                let between = &text[gap];
                let dist = (between.matches('\n').count(), between.chars().count());
                cands.push((idx, dist));
            }
            if let Some(&(idx, dist)) = cands.iter().min_by_key(|(_, d)| *d) {
                if best[idx].is_none_or(|(d, _)| dist < d) {
                    best[idx] = Some((dist, *kind));
                }
            }
        }
    }
    best.into_iter().map(|b| b.map(|(_, k)| k)).collect()
}

fn in_any(urls: &[UrlSpan], r: &Range<usize>) -> bool {
    urls.iter()
        .any(|u| r.start < u.range.end && u.range.start < r.end)
}

fn line_bounds(text: &str, pos: usize) -> Range<usize> {
    let start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    start..end
}

/// Up to `n` characters of `text` before byte `pos` on the same line, lowercased.
fn context_before(text: &str, pos: usize, n: usize) -> String {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..pos];
    let skip = before.chars().count().saturating_sub(n);
    before.chars().skip(skip).collect::<String>().to_lowercase()
}

fn find_product_ids(text: &str, urls: &[UrlSpan], refs: &mut Vec<Reference>) {
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

fn is_delim(c: char) -> bool {
    !c.is_whitespace() && !c.is_ascii_alphanumeric() && !is_cjk_text(c)
}

fn is_cjk_text(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{3000}'..='\u{303f}' | '\u{ff00}'..='\u{ffef}')
}

fn has_mixed_classes(core: &str) -> bool {
    let lower = core.bytes().any(|b| b.is_ascii_lowercase());
    let upper = core.bytes().any(|b| b.is_ascii_uppercase());
    let digit = core.bytes().any(|b| b.is_ascii_digit());
    [lower, upper, digit].iter().filter(|x| **x).count() >= 2
}

/// Per-line facts the password rules need, computed once per line.
struct LineFacts {
    range: Range<usize>,
    /// A URL, another platform's words or a non-product share marker: no password here.
    blocked: bool,
    douyin_shaped: bool,
}

fn line_facts(text: &str, urls: &[UrlSpan], pos: usize) -> LineFacts {
    let range = line_bounds(text, pos);
    let line = &text[range.clone()];
    // A share text with a link is one reference: the link.
    let blocked = urls
        .iter()
        .any(|u| u.range.start >= range.start && u.range.end <= range.end)
        || FOREIGN_RE.is_match(line)
        || MARKERS
            .iter()
            .any(|(re, k)| *k == Marker::NotProduct && re.is_match(line));
    LineFacts {
        douyin_shaped: line.contains(":/") || line.contains('抖'),
        range,
        blocked,
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn find_passwords(text: &str, urls: &[UrlSpan], refs: &mut Vec<Reference>) {
    let mut found: Vec<Range<usize>> = Vec::new();
    let mut line: Option<LineFacts> = None;
    for m in CORE_RE.find_iter(text) {
        let core = m.range();
        if in_any(urls, &core) || !has_mixed_classes(m.as_str()) {
            continue;
        }
        let bytes = text.as_bytes();
        if core.start > 0 && bytes[core.start - 1].is_ascii_alphanumeric()
            || bytes
                .get(core.end)
                .is_some_and(|b| b.is_ascii_alphanumeric())
        {
            continue;
        }
        if !line.as_ref().is_some_and(|l| l.range.contains(&core.start)) {
            line = None;
        }
        let facts = line.get_or_insert_with(|| line_facts(text, urls, core.start));
        if facts.blocked {
            continue;
        }
        // The anchor sits right before the core: look in a short window only, so a long line
        // costs linear time.
        let window_start =
            floor_char_boundary(text, core.start.saturating_sub(48).max(facts.range.start));
        let before = &text[window_start..core.start];
        let anchored = PRODUCT_ANCHOR_RE.find_iter(before).last().is_some_and(|a| {
            let gap = &before[a.end()..];
            gap.chars().count() <= 6 && gap.chars().all(|c| is_delim(c) || c == ' ')
        });
        let enclosed = facts.douyin_shaped && {
            let mut pre = before.chars().rev();
            let mut post = text[core.end..].chars();
            let (a, b) = (pre.next(), pre.next());
            let (c, d) = (post.next(), post.next());
            matches!((a, b), (Some(a), Some(b)) if a == b && is_delim(a))
                && matches!((c, d), (Some(c), Some(d)) if c == d && is_delim(c))
        };
        if !anchored && !enclosed {
            continue;
        }
        // The password runs from the start of its line (or the end of the previous reference
        // on it) to the end of the delimiters closing its core.
        let prev_end = found
            .iter()
            .map(|r| r.end)
            .chain(refs.iter().map(|r| r.end))
            .filter(|&end| end <= core.start && end >= facts.range.start)
            .max()
            .unwrap_or(facts.range.start);
        let mut end = core.end;
        for (n, c) in text[core.end..].char_indices() {
            if n >= 16 || !is_delim(c) {
                break;
            }
            end = core.end + n + c.len_utf8();
        }
        // Chatter before the password ("复制这条口令 3M长按…") is not part of it.
        let head = PASSWORD_START_RE
            .find(&text[prev_end..core.start])
            .map_or(prev_end, |m| prev_end + m.start());
        let raw = &text[head..end];
        let trimmed_start = head + (raw.len() - raw.trim_start().len());
        if trimmed_start < end {
            found.push(trimmed_start..end);
        }
    }
    for r in found {
        refs.push(Reference {
            kind: Kind::Password,
            value: text[r.clone()].to_string(),
            start: r.start,
            end: r.end,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, String)> {
        detect(text)
            .into_iter()
            .map(|r| (r.kind, r.value))
            .collect()
    }

    #[test]
    fn short_link_without_scheme_or_slash_is_normalised() {
        assert_eq!(
            kinds("看看 v.douyin.com/Ab_c-9xY 这个"),
            vec![(Kind::ShortLink, "https://v.douyin.com/Ab_c-9xY/".into())]
        );
        assert_eq!(
            kinds("http://V.DOUYIN.COM/Ay1Q2QU"),
            vec![(Kind::ShortLink, "https://v.douyin.com/Ay1Q2QU/".into())]
        );
    }

    #[test]
    fn scheme_less_links_after_ascii_punctuation() {
        assert_eq!(
            kinds("链接:v.douyin.com/Ay1Q2QU,快抢(haohuo.jinritemai.com/views/product/detail?id=3583117383482622604)"),
            vec![
                (Kind::ShortLink, "https://v.douyin.com/Ay1Q2QU/".into()),
                (
                    Kind::ProductUrl,
                    "https://haohuo.jinritemai.com/views/product/detail?id=3583117383482622604".into()
                )
            ]
        );
        // Not the tail of another host.
        assert_eq!(kinds("https://iv.douyin.com/Ay1Q2QU/"), vec![]);
        assert_eq!(kinds("user@v.douyin.com/Ay1Q2QU"), vec![]);
    }

    #[test]
    fn short_link_offsets_cover_the_link_as_written() {
        let text = "买它👉https://v.douyin.com/i2wDMRRN/复制此条消息";
        let r = &detect(text)[0];
        assert_eq!(&text[r.start..r.end], "https://v.douyin.com/i2wDMRRN/");
    }

    #[test]
    fn video_share_next_to_product_share_is_dropped() {
        let text = "7.43 pda:/ 让你在几秒钟之内记住我  https://v.douyin.com/L5pbfdP/ 复制此链接，打开Dou音搜索，直接观看视频！\n\
                    9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】猫耳酥\n\
                    长按复制此条消息，打开抖音搜索，查看商品详情！";
        assert_eq!(
            kinds(text),
            vec![(Kind::ShortLink, "https://v.douyin.com/i2wDMRRN/".into())]
        );
    }

    #[test]
    fn product_share_then_live_share_keeps_only_the_product() {
        let text = "【抖音商城】https://v.douyin.com/1gROYzHbWMY/ Golden Goose商品\n\n\
                    6i- Q@x.Sl 03/23 【醒子8ke的直播间】  点击打开👉https://v.douyin.com/i8tBR7hX/  或长按复制此条消息，打开抖音，看TA直播";
        assert_eq!(
            kinds(text),
            vec![(Kind::ShortLink, "https://v.douyin.com/1gROYzHbWMY/".into())]
        );
    }

    #[test]
    fn product_boilerplate_on_next_line_followed_by_a_video_share() {
        let text = "9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】猫耳酥\n\
                    长按复制此条消息，打开抖音搜索，查看商品详情！\n\
                    7.43 pda:/ 让你在几秒钟之内记住我  https://v.douyin.com/L5pbfdP/ 复制此链接，打开Dou音搜索，直接观看视频！";
        assert_eq!(
            kinds(text),
            vec![(Kind::ShortLink, "https://v.douyin.com/i2wDMRRN/".into())]
        );
    }

    #[test]
    fn product_ids_need_to_stand_alone() {
        assert_eq!(kinds("sku3583117383482622604"), vec![]);
        assert_eq!(kinds("paid3583117383482622604"), vec![]);
        assert_eq!(kinds("3583117383482622604.5"), vec![]);
        assert_eq!(kinds("dy_107213597798095225100_20865_2675084869"), vec![]);
        assert_eq!(kinds("+8613812345678"), vec![]);
        assert_eq!(
            kinds("这个3583117383482622604，还有 351074636559038"),
            vec![
                (Kind::ProductId, "3583117383482622604".into()),
                (Kind::ProductId, "351074636559038".into())
            ]
        );
    }

    #[test]
    fn labelled_numbers_that_are_not_products_are_ignored() {
        assert_eq!(kinds("直播间房间号 7234567890123456789"), vec![]);
        assert_eq!(kinds("房间号：123456789012"), vec![]);
        assert_eq!(kinds("我的uid: 104255897823"), vec![]);
        assert_eq!(kinds("订单号 5012345678901234567"), vec![]);
        assert_eq!(kinds("视频 6914948781100338440"), vec![]);
        assert_eq!(kinds("4737996432465788974"), vec![]);
        assert_eq!(
            kinds("商品ID 7012345678901234567"),
            vec![(Kind::ProductId, "7012345678901234567".into())]
        );
    }

    #[test]
    fn unlabelled_numbers_shaped_like_other_ids_are_ignored() {
        assert_eq!(kinds("110101199003071234"), vec![]);
        assert_eq!(kinds("6222021234567890"), vec![]);
        assert_eq!(kinds("8613812345678"), vec![]);
        assert_eq!(kinds("PID: 1072135977980952251001"), vec![]);
        assert_eq!(kinds("快递单号 773012345678901"), vec![]);
        assert_eq!(kinds("身份证 11010119900307123X"), vec![]);
    }

    #[test]
    fn counts_timestamps_and_quantities_are_not_products() {
        assert_eq!(kinds("库存 100000000000 件"), vec![]);
        assert_eq!(kinds("1700000000123"), vec![]);
        assert_eq!(kinds("时间戳 1799999999999"), vec![]);
        assert_eq!(kinds("卖了 358311738348 单"), vec![]);
        assert_eq!(kinds("888888888888"), vec![]);
        // A real id with a repeated pair still counts.
        assert_eq!(
            kinds("3583117383482622604"),
            vec![(Kind::ProductId, "3583117383482622604".into())]
        );
    }

    #[test]
    fn profile_shop_window_and_shop_shares_are_not_products() {
        assert_eq!(
            kinds("长按复制此条消息，打开抖音搜索，查看TA的商品橱窗 https://v.douyin.com/abcD123/"),
            vec![]
        );
        assert_eq!(kinds("#在抖音，记录美好生活#我的抖音号是 xyz，快来关注我吧 https://v.douyin.com/abcD124/"), vec![]);
        assert_eq!(kinds("【好物小店的店铺】https://v.douyin.com/abcD125/ 长按复制此条消息，打开抖音搜索，查看店铺"), vec![]);
    }

    #[test]
    fn casual_words_near_a_link_do_not_make_it_a_video() {
        assert_eq!(
            kinds("看视频里那个同款 https://v.douyin.com/iUqwFX7b/ 好看作品集"),
            vec![(Kind::ShortLink, "https://v.douyin.com/iUqwFX7b/".into())]
        );
        assert_eq!(
            kinds("复制打开抖音，看看【抖音商城】 https://v.douyin.com/iUqwFX7c/"),
            vec![(Kind::ShortLink, "https://v.douyin.com/iUqwFX7c/".into())]
        );
    }

    #[test]
    fn product_id_in_the_path() {
        assert_eq!(
            kinds("https://haohuo.jinritemai.com/views/product/item/3455938529937469044"),
            vec![(
                Kind::ProductUrl,
                "https://haohuo.jinritemai.com/views/product/item/3455938529937469044".into()
            )]
        );
    }

    #[test]
    fn compound_product_labels_win_over_their_parts() {
        assert_eq!(
            kinds("商品编号：3583117383482622604"),
            vec![(Kind::ProductId, "3583117383482622604".into())]
        );
        assert_eq!(kinds("编号：3583117383482622604"), vec![]);
        assert_eq!(kinds("商品订单号 3583117383482622604"), vec![]);
    }

    #[test]
    fn an_id_label_glued_to_the_number_still_counts() {
        assert_eq!(
            kinds("商品ID3583117383482622604"),
            vec![(Kind::ProductId, "3583117383482622604".into())]
        );
        assert_eq!(kinds("uid3583117383482622604"), vec![]);
        assert_eq!(kinds("订单id3583117383482622604"), vec![]);
    }

    #[test]
    fn a_promoter_post_with_several_products_yields_each() {
        let text = "🔥今日好物\n1️⃣ 卡宾熊猫耳酥 券后9.9\n【抖音商城】https://v.douyin.com/i2wDMRRN/\n\
                    2️⃣ 抽纸 券后19.9\nhttps://v.douyin.com/iUqwFX7b/\n\
                    3️⃣ 商品ID：3583117383482622604\n\
                    4️⃣ https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=3605331890120301327&ins_activity_param=A7b3DEe\n\
                    5️⃣ 长按覆[呲牙]zhi此条消息,咑[玫瑰]搜[烟花],查看商品详情Ig9FOHrrl8";
        let got: Vec<Kind> = detect(text).into_iter().map(|r| r.kind).collect();
        assert_eq!(
            got,
            vec![
                Kind::ShortLink,
                Kind::ShortLink,
                Kind::ProductId,
                Kind::ColonelLink,
                Kind::Password
            ]
        );
    }

    #[test]
    fn local_services_deals_are_not_products() {
        assert_eq!(
            kinds("【抖音团购】海底捞双人餐 https://v.douyin.com/abcD126/ 复制此条消息，打开抖音搜索，查看团购详情"),
            vec![]
        );
    }

    #[test]
    fn a_title_mentioning_a_live_room_does_not_hide_a_product_share() {
        assert_eq!(
            kinds("【抖音商城】https://v.douyin.com/iUqwFX7d/ 李佳琦的直播间同款面膜 长按复制此条消息，打开抖音搜索，查看商品详情！"),
            vec![(Kind::ShortLink, "https://v.douyin.com/iUqwFX7d/".into())]
        );
    }

    #[test]
    fn numbers_inside_other_urls_are_ignored() {
        assert_eq!(
            kinds("https://www.douyin.com/video/6914948781100338440 和 jd.com/item/100012345678901.html"),
            vec![]
        );
        assert_eq!(
            kinds("https://item.taobao.com/item.htm?id=3583117383482622604"),
            vec![]
        );
    }

    #[test]
    fn product_urls_on_other_paths_and_hosts() {
        assert_eq!(
            kinds("haohuo.jinritemai.com/views/product/item2?id=3455938529937469044，快抢"),
            vec![(
                Kind::ProductUrl,
                "https://haohuo.jinritemai.com/views/product/item2?id=3455938529937469044".into()
            )]
        );
        assert_eq!(
            kinds("https://haohuo.snssdk.com/views/product/item?id=3455938529937469044&origin_type=604"),
            vec![(
                Kind::ProductUrl,
                "https://haohuo.snssdk.com/views/product/item?id=3455938529937469044&origin_type=604".into()
            )]
        );
        assert_eq!(
            kinds("https://haohuo.jinritemai.com/views/product/item2?id=abc"),
            vec![]
        );
        assert_eq!(
            kinds("https://buyin.jinritemai.com/dashboard/live/control"),
            vec![]
        );
    }

    #[test]
    fn colonel_link_is_recognised_by_its_activity_param() {
        let r = detect("团长链接 https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=3605331890120301327&ins_activity_param=A7b3DEe。");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, Kind::ColonelLink);
        assert!(r[0].value.ends_with("ins_activity_param=A7b3DEe"));
    }

    #[test]
    fn password_inside_a_sentence_spans_the_password() {
        let text =
            "宝贝在这\n3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽ \n快买";
        let r = detect(text);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, Kind::Password);
        assert_eq!(
            r[0].value,
            "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽"
        );
    }

    #[test]
    fn chatter_before_a_password_is_left_out_of_it() {
        let r = detect(
            "帮我转一下这个 3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽ 谢谢",
        );
        assert_eq!(
            r[0].value,
            "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽"
        );
        let r = detect("口令：8.92 HgV:/ ##Xk9sd8JhDb## 复制打开抖音");
        assert_eq!(r[0].value, "8.92 HgV:/ ##Xk9sd8JhDb##");
        let r = detect("好物 长按覆[呲牙]zhi此条消息,咑[玫瑰]搜[烟花],查看商品详情Ig9FOHrrl8");
        assert_eq!(
            r[0].value,
            "长按覆[呲牙]zhi此条消息,咑[玫瑰]搜[烟花],查看商品详情Ig9FOHrrl8"
        );
    }

    #[test]
    fn boilerplate_without_a_core_is_not_a_password() {
        assert_eq!(
            kinds("长按复制此条消息，打开抖音搜索，查看商品详情！"),
            vec![]
        );
        assert_eq!(kinds("复制口令 ##AbCdEf123## 打开淘宝"), vec![]);
    }

    #[test]
    fn hidden_links_count_at_the_span_that_carries_them() {
        let text = "点这里买";
        let links = [HiddenLink {
            url: "https://v.douyin.com/Ay1Q2QU/",
            span: 0..text.len(),
        }];
        let r = detect_with_links(text, &links);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].start, r[0].end), (0, text.len()));
        assert_eq!(r[0].value, "https://v.douyin.com/Ay1Q2QU/");
    }

    #[test]
    fn references_are_capped() {
        let text = (0..30)
            .map(|i| format!("https://v.douyin.com/code{i:04}/"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(detect(&text).len(), MAX_REFS);
    }
}
