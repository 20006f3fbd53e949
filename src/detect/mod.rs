//! Finds the Douyin product references in a chat message.
//!
//! Pure and allocation-light: no I/O, regexes compiled once. The rules follow what
//! kol_ProductShare accepts as `productUrl` (see `shared/veapi.md`): product ids, product
//! URLs, colonel links, `v.douyin.com` short links and 抖口令 without a URL.
//!
//! This module holds the public API and the order of work; each concern has its file:
//! `urls` (finding and normalising URLs), `shares` (which share template a text is),
//! `fold` (spellings folded to one form before template words are matched), `ids` (product
//! ids and the numbers that are not) and `passwords` (抖口令 and other platforms' passwords).
//! Template words are only looked for when a message has a short link or a password-shaped
//! core, once per message.

mod fold;
mod ids;
mod passwords;
mod shares;
mod urls;
pub(crate) use urls::{percent_decode, short_link_parts};

use serde::Serialize;
use shares::Marker;
use std::ops::Range;
use urls::UrlSpan;

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
        // The hidden URL is classified alone; a short link is then judged by the share words
        // around the text that carries it, as if the link were written there.
        for r in scan(link.url)
            .into_iter()
            .filter(|r| r.kind != Kind::Password)
        {
            if r.kind == Kind::ShortLink && !hidden_short_link_may_be_a_product(text, link) {
                continue;
            }
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

/// Whether the share words nearest to the text carrying a hidden short link leave it a
/// possible product (a caption "…直接观看视频" over a video link does not).
fn hidden_short_link_may_be_a_product(text: &str, link: &HiddenLink<'_>) -> bool {
    let mut spans: Vec<UrlSpan<'_>> = urls::find_urls(text)
        .into_iter()
        .filter(|u| u.range.end <= link.span.start || u.range.start >= link.span.end)
        .collect();
    let at = spans.partition_point(|u| u.range.start < link.span.start);
    spans.insert(
        at,
        UrlSpan {
            range: link.span.clone(),
            url: std::borrow::Cow::Borrowed(link.url),
        },
    );
    let markers = shares::markers(text);
    shares::classify(text, &spans, &markers)[at] != Some(false)
}

/// Template words of a message, found on first use.
pub(crate) struct MarkerCache<'t> {
    text: &'t str,
    found: Option<Vec<(Range<usize>, Marker)>>,
}

impl MarkerCache<'_> {
    fn get(&mut self) -> &[(Range<usize>, Marker)] {
        let text = self.text;
        self.found.get_or_insert_with(|| shares::markers(text))
    }
}

fn scan(text: &str) -> Vec<Reference> {
    let urls = urls::find_urls(text);
    let mut markers = MarkerCache { text, found: None };
    let shorts: Vec<Option<(String, usize)>> = urls.iter().map(|u| u.short_link()).collect();
    // Share words only matter around short links; most messages have none.
    let verdicts = if shorts.iter().any(Option::is_some) {
        shares::classify(text, &urls, markers.get())
    } else {
        vec![None; urls.len()]
    };
    let mut refs = Vec::new();
    for ((u, short), verdict) in urls.iter().zip(shorts).zip(verdicts) {
        if let Some((value, len)) = short {
            if verdict == Some(false) {
                continue;
            }
            refs.push(Reference {
                kind: Kind::ShortLink,
                value,
                start: u.range.start,
                end: u.range.start + len,
            });
        } else if let Some((kind, value)) = urls::classify(&u.url) {
            refs.push(Reference {
                kind,
                value,
                start: u.range.start,
                end: u.range.end,
            });
        }
    }
    ids::find(text, &urls, &mut refs);
    passwords::find(text, &urls, &mut markers, &mut refs);
    refs.sort_by_key(|r| r.start);
    refs
}

fn in_any(urls: &[UrlSpan<'_>], r: &Range<usize>) -> bool {
    urls.iter()
        .any(|u| r.start < u.range.end && u.range.start < r.end)
}

fn line_bounds(text: &str, pos: usize) -> Range<usize> {
    let start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    start..end
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
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

    /// What people type around a share does not outvote the share's own template.
    #[test]
    fn chatter_never_outvotes_the_template() {
        // A video share with "please order" typed right before its link.
        assert_eq!(
            kinds(
                "帮我下单 https://v.douyin.com/iXyZ123/ 复制此链接，打开抖音搜索，直接观看视频！"
            ),
            vec![]
        );
        // A product share with "follow me, live now" typed right after its link.
        assert_eq!(
            kinds("7.89 复制打开抖音，查看商品详情 https://v.douyin.com/iAbC456/ 关注我，直播中"),
            vec![(Kind::ShortLink, "https://v.douyin.com/iAbC456/".into())]
        );
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
    fn a_hidden_short_link_under_video_words_is_not_a_reference() {
        let text = "点这里 复制此链接，打开Dou音搜索，直接观看视频！";
        let links = [HiddenLink {
            url: "https://v.douyin.com/L5pbfdP/",
            span: 0.."点这里".len(),
        }];
        assert_eq!(detect_with_links(text, &links), vec![]);
        let text = "点这里 长按复制此条消息，打开抖音搜索，查看商品详情！";
        assert_eq!(detect_with_links(text, &links).len(), 1);
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
