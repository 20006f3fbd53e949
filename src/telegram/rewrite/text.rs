//! The rewrite itself, pure: a promoter's text with every reference replaced by the user's
//! own 抖口令, everything else byte for byte as it was.
//!
//! - Each reference's replaced extent is [`share_extent`]: a pasted share goes whole, a
//!   bare link or id is only itself.
//! - A hidden link (`text_link`) keeps the words that carried it, and the password follows
//!   them after a space: those words are the promoter's ("点这里抢"、the product's name), and
//!   the copied block can carry no link anyway. Words that are themselves a link are
//!   replaced instead, so the result never holds a link.
//! - Outcomes are looked up by the reference's value: the same link twice gets the same
//!   password. A reference that was not converted (refused, or beyond the rate limit) stays
//!   as written with [`MARK`] after it.
//! - Spans that overlap (a hidden link over a visible one, malformed offsets) never panic:
//!   the first in text order wins, the others are left as text; spans off char boundaries
//!   or past the end are ignored.

use super::extent::share_extent;
use crate::detect::Kind;
use std::collections::HashMap;
use std::ops::Range;

/// Put after a reference that stays as written.
pub const MARK: &str = "⚠️";

/// One reference as the rewrite sees it.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: Kind,
    pub value: String,
    /// Byte offsets of the reference in the text (for a hidden link: the words carrying it).
    pub span: Range<usize>,
    /// A `text_link`: the span is words, the reference is behind them.
    pub hidden: bool,
}

/// What became of one distinct reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The user's new 抖口令.
    Converted(String),
    /// Not converted: why, in the reader's language.
    Failed(String),
}

/// A reference left as written, for the line under the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// What the text shows there (shortened).
    pub shown: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub text: String,
    /// Replacements made (a reference written twice counts twice).
    pub replaced: usize,
    /// Distinct references left as written, in text order.
    pub left: Vec<Left>,
}

/// Whether `text` says anything besides its references: letters or digits (any script)
/// outside the extents the rewrite would replace. Whitespace, punctuation and emoji alone
/// are not a promoter's words, and a pasted share's header and boilerplate belong to it.
pub fn has_other_text(text: &str, targets: &[Target]) -> bool {
    let mut at = 0;
    for (range, _) in plan(text, targets) {
        if text[at..range.start].chars().any(char::is_alphanumeric) {
            return true;
        }
        at = range.end;
    }
    text[at..].chars().any(char::is_alphanumeric)
}

/// The replaced extent of each usable target, in text order, overlaps dropped.
fn plan<'t>(text: &str, targets: &'t [Target]) -> Vec<(Range<usize>, &'t Target)> {
    let mut sorted: Vec<&Target> = targets
        .iter()
        .filter(|t| {
            t.span.start < t.span.end
                && t.span.end <= text.len()
                && text.is_char_boundary(t.span.start)
                && text.is_char_boundary(t.span.end)
        })
        .collect();
    sorted.sort_by_key(|t| (t.span.start, std::cmp::Reverse(t.span.end)));
    let mut kept: Vec<&Target> = Vec::with_capacity(sorted.len());
    for t in sorted {
        if kept.last().is_none_or(|k| k.span.end <= t.span.start) {
            kept.push(t);
        }
    }
    let mut out = Vec::with_capacity(kept.len());
    let mut lo = 0;
    for (i, t) in kept.iter().enumerate() {
        let hi = kept.get(i + 1).map_or(text.len(), |n| n.span.start);
        let range = if t.hidden {
            t.span.clone()
        } else {
            share_extent(text, t.kind, t.span.clone(), lo, hi)
        };
        lo = range.end;
        out.push((range, *t));
    }
    out
}

/// Rewrites `text`: each target replaced by its outcome's password, or kept and marked.
pub fn rewrite(text: &str, targets: &[Target], outcomes: &HashMap<String, Outcome>) -> Rewritten {
    let mut out = String::with_capacity(text.len() + targets.len() * 64);
    let mut replaced = 0;
    let mut left: Vec<Left> = Vec::new();
    let mut at = 0;
    for (range, t) in plan(text, targets) {
        out.push_str(&text[at..range.start]);
        match outcomes.get(&t.value) {
            Some(Outcome::Converted(password)) => {
                let words = &text[t.span.clone()];
                if t.hidden && !looks_like_a_link(words) {
                    out.push_str(words);
                    out.push(' ');
                }
                out.push_str(password);
                replaced += 1;
            }
            other => {
                // Left as written, the mark right after the reference itself.
                out.push_str(&text[range.start..t.span.end]);
                out.push_str(MARK);
                out.push_str(&text[t.span.end..range.end]);
                let why = match other {
                    Some(Outcome::Failed(why)) => why.clone(),
                    _ => String::new(),
                };
                let shown = shorten(if t.hidden {
                    &t.value
                } else {
                    &text[t.span.clone()]
                });
                if !left.iter().any(|l| l.shown == shown) {
                    left.push(Left { shown, why });
                }
            }
        }
        at = range.end;
    }
    out.push_str(&text[at..]);
    Rewritten {
        text: out,
        replaced,
        left,
    }
}

fn looks_like_a_link(words: &str) -> bool {
    let lower = words.to_ascii_lowercase();
    lower.contains("://")
        || lower.contains("douyin.com")
        || lower.contains("jinritemai.com")
        || lower.contains("snssdk.com")
        || lower.contains("www.")
}

/// At most 40 characters of a reference, for the note under the block.
fn shorten(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= 40 {
        return s.to_string();
    }
    s.chars().take(39).collect::<String>() + "…"
}

/// Splits `text` into pieces of at most `max_utf16` UTF-16 units (Telegram's measure), at
/// line ends; the line break at a split is dropped (each piece is its own block). A line
/// longer than that is cut after its last whitespace that fits, else between characters.
pub fn blocks(text: &str, max_utf16: usize) -> Vec<&str> {
    let max = max_utf16.max(2);
    let mut out = Vec::new();
    let mut rest = text;
    while utf16(rest) > max {
        // The last line break that fits (dropped at the cut), else the last whitespace.
        let mut line_end = None;
        let mut last_space = None;
        let mut len = 0;
        let mut hard = 0;
        for (i, c) in rest.char_indices() {
            len += c.len_utf16();
            if len > max {
                break;
            }
            hard = i + c.len_utf8();
            if c == '\n' {
                line_end = Some(i);
            } else if c.is_whitespace() {
                last_space = Some(i + c.len_utf8());
            }
        }
        let (end, skip) = if let Some(i) = line_end {
            (i, 1)
        } else if let Some(s) = last_space.filter(|&s| s > 0) {
            (s, 0)
        } else {
            (hard, 0)
        };
        // A block of whitespace alone cannot be sent ("message text is empty"): the
        // spacing it held is the one thing a rewrite may lose.
        if end > 0 && !rest[..end].trim().is_empty() {
            out.push(&rest[..end]);
        }
        rest = &rest[end + skip..];
    }
    if !rest.trim().is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod whitespace_tests {
    use super::blocks;

    #[test]
    fn no_block_is_whitespace_alone() {
        let text = format!("{}\n{}", "字".repeat(4000), " ".repeat(200));
        let b = blocks(&text, 4000);
        assert_eq!(
            b.len(),
            1,
            "{:?}",
            b.iter().map(|b| b.len()).collect::<Vec<_>>()
        );
    }
}

pub fn utf16(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::detect;

    fn targets(text: &str) -> Vec<Target> {
        detect(text)
            .into_iter()
            .map(|r| Target {
                kind: r.kind,
                value: r.value,
                span: r.start..r.end,
                hidden: false,
            })
            .collect()
    }

    fn converted(pairs: &[(&str, &str)]) -> HashMap<String, Outcome> {
        pairs
            .iter()
            .map(|(v, p)| (v.to_string(), Outcome::Converted(p.to_string())))
            .collect()
    }

    const NEW1: &str = "3M长按:/ 緮墆此条消息,查看商品详情ŠŠNew1AbCdEf▽▽";
    const NEW2: &str = "3M长按:/ 緮墆此条消息,查看商品详情ŠŠNew2AbCdEf▽▽";

    #[test]
    fn everything_but_the_references_is_kept_exactly() {
        let text = "🔥今日好物🔥\n\n1️⃣ 抽纸 券后19.9👉https://v.douyin.com/iUqwFX7b/，冲！\r\n\t2️⃣  商品ID：3583117383482622604 。\n  ";
        let out = rewrite(
            text,
            &targets(text),
            &converted(&[
                ("https://v.douyin.com/iUqwFX7b/", NEW1),
                ("3583117383482622604", NEW2),
            ]),
        );
        assert_eq!(
            out.text,
            format!(
                "🔥今日好物🔥\n\n1️⃣ 抽纸 券后19.9👉{NEW1}，冲！\r\n\t2️⃣  商品ID：{NEW2} 。\n  "
            )
        );
        assert_eq!(out.replaced, 2);
        assert!(out.left.is_empty());
    }

    #[test]
    fn a_pasted_share_is_replaced_whole_and_an_old_password_by_the_new() {
        let share = "9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】猫耳酥\n长按复制此条消息，打开抖音搜索，查看商品详情！";
        let pw = "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽";
        let text = format!("第一款：{share}\n第二款：\n{pw}\n都是好价");
        let out = rewrite(
            &text,
            &targets(&text),
            &converted(&[("https://v.douyin.com/i2wDMRRN/", NEW1), (pw, NEW2)]),
        );
        assert_eq!(
            out.text,
            format!("第一款：{NEW1}\n第二款：\n{NEW2}\n都是好价")
        );
    }

    #[test]
    fn the_same_link_twice_gets_the_same_password() {
        let text = "A https://v.douyin.com/iUqwFX7b/ B https://v.douyin.com/iUqwFX7b/ C";
        let out = rewrite(
            text,
            &targets(text),
            &converted(&[("https://v.douyin.com/iUqwFX7b/", NEW1)]),
        );
        assert_eq!(out.text, format!("A {NEW1} B {NEW1} C"));
        assert_eq!(out.replaced, 2);
    }

    #[test]
    fn failures_stay_as_written_marked_and_listed_once() {
        let text = "好物 https://v.douyin.com/iUqwFX7b/ 和 3583117383482622604 再发一次 3583117383482622604";
        let mut outcomes = converted(&[("https://v.douyin.com/iUqwFX7b/", NEW1)]);
        outcomes.insert(
            "3583117383482622604".into(),
            Outcome::Failed("这个商品已经下架了。".into()),
        );
        let out = rewrite(text, &targets(text), &outcomes);
        assert_eq!(
            out.text,
            format!("好物 {NEW1} 和 3583117383482622604⚠️ 再发一次 3583117383482622604⚠️")
        );
        assert_eq!(
            out.left,
            vec![Left {
                shown: "3583117383482622604".into(),
                why: "这个商品已经下架了。".into()
            }]
        );
        // No outcome at all (beyond the rate limit): kept and marked too.
        let out = rewrite(text, &targets(text), &HashMap::new());
        assert_eq!(out.replaced, 0);
        assert_eq!(out.left.len(), 2);
        assert_eq!(out.text.matches(MARK).count(), 3);
    }

    #[test]
    fn a_failed_share_is_marked_after_its_link_and_kept_whole() {
        let share = "9.28 reo:/ 【抖音商城】https://v.douyin.com/i2wDMRRN/ 猫耳酥 长按复制此条消息，打开抖音搜索，查看商品详情！";
        let out = rewrite(share, &targets(share), &HashMap::new());
        assert_eq!(out.text, share.replace("i2wDMRRN/", "i2wDMRRN/⚠️"));
    }

    #[test]
    fn references_next_to_emoji_and_cjk_punctuation() {
        let text = "👉https://v.douyin.com/iUqwFX7b/👈【3583117383482622604】「商品ID：3605331890120301327」";
        let out = rewrite(
            text,
            &targets(text),
            &converted(&[
                ("https://v.douyin.com/iUqwFX7b/", "P1"),
                ("3583117383482622604", "P2"),
                ("3605331890120301327", "P3"),
            ]),
        );
        assert_eq!(out.text, "👉P1👈【P2】「商品ID：P3」");
    }

    #[test]
    fn a_hidden_link_keeps_its_words_and_gains_the_password() {
        let text = "今天的好物：点这里抢 还有链接 手慢无";
        let at = text.find("点这里抢").unwrap();
        let url_words = text.find("链接").unwrap();
        let t = vec![
            Target {
                kind: Kind::ShortLink,
                value: "https://v.douyin.com/iUqwFX7b/".into(),
                span: at..at + "点这里抢".len(),
                hidden: true,
            },
            Target {
                kind: Kind::ProductId,
                value: "3583117383482622604".into(),
                span: url_words..url_words + "链接".len(),
                hidden: true,
            },
        ];
        let mut outcomes = converted(&[("https://v.douyin.com/iUqwFX7b/", "P1")]);
        outcomes.insert("3583117383482622604".into(), Outcome::Failed("x".into()));
        let out = rewrite(text, &t, &outcomes);
        assert_eq!(out.text, "今天的好物：点这里抢 P1 还有链接⚠️ 手慢无");
        assert_eq!(out.left[0].shown, "3583117383482622604");
        // Words that are a link themselves are replaced: no link survives.
        let text = "v.douyin.com/xyz";
        let t = vec![Target {
            kind: Kind::ShortLink,
            value: "https://v.douyin.com/iUqwFX7b/".into(),
            span: 0..text.len(),
            hidden: true,
        }];
        assert_eq!(
            rewrite(
                text,
                &t,
                &converted(&[("https://v.douyin.com/iUqwFX7b/", "P1")])
            )
            .text,
            "P1"
        );
    }

    #[test]
    fn overlapping_and_broken_spans_never_panic() {
        let text = "买它👉https://v.douyin.com/iUqwFX7b/ 好";
        let link = text.find("https").unwrap();
        let end = link + "https://v.douyin.com/iUqwFX7b/".len();
        let mk = |span: Range<usize>, value: &str| Target {
            kind: Kind::ShortLink,
            value: value.into(),
            span,
            hidden: false,
        };
        let t = vec![
            mk(link..end, "a"),
            mk(link + 3..end + 2, "b"),
            mk(0..text.len(), "c"),
            mk(1..4, "d"),           // not on char boundaries
            mk(end..end + 999, "e"), // past the end
            mk(5..5, "f"),           // empty
        ];
        let outcomes = converted(&[("a", "A"), ("b", "B"), ("c", "C")]);
        let out = rewrite(text, &t, &outcomes);
        assert_eq!(out.text, "C", "the widest span at the earliest start wins");
        let out = rewrite(text, &t[..2], &outcomes);
        assert_eq!(out.text, "买它👉A 好");
        assert!(has_other_text(text, &t[..2]));
    }

    #[test]
    fn html_looking_text_is_kept_literally() {
        let text = "<b>限时</b> & <i>https://v.douyin.com/iUqwFX7b/</i>";
        let out = rewrite(
            text,
            &targets(text),
            &converted(&[("https://v.douyin.com/iUqwFX7b/", "P1")]),
        );
        assert_eq!(out.text, "<b>限时</b> & <i>P1</i>");
    }

    #[test]
    fn other_text_means_letters_or_digits_beyond_the_shares() {
        let only = |t: &str| has_other_text(t, &targets(t));
        assert!(!only("https://v.douyin.com/iUqwFX7b/"));
        assert!(!only(
            "👉 https://v.douyin.com/iUqwFX7b/ ！！\n3583117383482622604 🔥"
        ));
        assert!(!only("9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】猫耳酥\n长按复制此条消息，打开抖音搜索，查看商品详情！"));
        assert!(!only(
            "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽"
        ));
        assert!(only("今日好物 https://v.douyin.com/iUqwFX7b/"));
        assert!(only("https://v.douyin.com/iUqwFX7b/ 券后9.9"));
    }

    #[test]
    fn blocks_split_at_line_ends_within_the_limit() {
        let line = "🔥好物推荐 ¥19.9 👉 P1\n";
        let text = line.repeat(300);
        let parts = blocks(&text, 1000);
        assert!(parts.len() > 1);
        for p in &parts {
            assert!(utf16(p) <= 1000, "{}", utf16(p));
        }
        assert_eq!(
            parts.join("\n"),
            text,
            "nothing lost: only the break at each split"
        );
        assert_eq!(blocks("short", 1000), vec!["short"]);
        assert_eq!(blocks("", 1000), vec![""]);
    }

    #[test]
    fn a_line_longer_than_a_block_is_cut_at_a_space_or_between_characters() {
        let words = "好物 ".repeat(500);
        for p in blocks(&words, 100) {
            assert!(utf16(p) <= 100);
        }
        assert_eq!(blocks(&words, 100).concat(), words);
        // Emoji count twice and are never cut in half.
        let emoji = "😀".repeat(120);
        let parts = blocks(&emoji, 101);
        assert!(parts
            .iter()
            .all(|p| utf16(p) <= 101 && p.chars().all(|c| c == '😀')));
        assert_eq!(parts.concat(), emoji);
    }

    proptest::proptest! {
        /// Any spans over any text: no panic, and text outside every span is kept.
        #[test]
        fn arbitrary_spans_never_panic(
            text in "[a-z😀，【】\n 好]{0,40}",
            spans in proptest::collection::vec((0usize..200, 0usize..200, proptest::bool::ANY, 0u8..3), 0..6),
            max in 2usize..20,
        ) {
            let t: Vec<Target> = spans
                .iter()
                .map(|&(a, b, hidden, v)| Target {
                    kind: if v == 0 { Kind::ShortLink } else { Kind::Password },
                    value: v.to_string(),
                    span: a..b,
                    hidden,
                })
                .collect();
            let outcomes = converted(&[("0", "P0"), ("1", "P1")]);
            let out = rewrite(&text, &t, &outcomes);
            if t.iter().all(|x| x.span.end > text.len() || x.span.start >= x.span.end) {
                proptest::prop_assert_eq!(&out.text, &text);
            }
            let _ = has_other_text(&text, &t);
            for b in blocks(&out.text, max) {
                proptest::prop_assert!(utf16(b) <= max);
            }
        }
    }
}
