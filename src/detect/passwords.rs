//! 抖口令 without a URL: the obfuscated `…查看商品详情…XXXXXXXXXX…` texts.
//!
//! A password is an 8–16 character core of mixed letters and digits, either right after the
//! product words (`查看商品详情ŠŠko4Ryth…`, also with noise inside them: `查看:/ 商品详情`) or
//! enclosed in doubled delimiters on a Douyin-shaped line (`##…##`, `ŠŠ…▽▽`, `^^…※※`,
//! `ŠŠ…︽︽`, `➝➝…ǚǚ`). It is not a product when its line says what else it is (music,
//! comment, video, profile: see `shares.rs`), names another platform, or carries a URL (the
//! share is then one reference: the link). Taobao (`€…€`, `￥…￥`), JD (`@…@`) and Alipay
//! (吱口令) passwords borrow the same words; their delimiters give them away.

use super::shares::Marker;
use super::urls::UrlSpan;
use super::{floor_char_boundary, in_any, line_bounds, Kind, MarkerCache, Reference};
use once_cell::sync::Lazy;
use regex::Regex;
use std::ops::Range;

static CORE_RE: Lazy<Regex> = Lazy::new(|| Regex::new(r"[A-Za-z0-9]{8,16}").unwrap());

// Where a 抖口令 begins: "3M长按:/", "97:/", "8.92 HgV:/", or its "长按…" boilerplate.
static PASSWORD_START_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"\d{1,3}(?:\.\d{1,2})?\s*[A-Za-z]{0,4}\s*(?:长按|:/|：/)|长按|長按").unwrap()
});

/// Other platforms' password delimiters: Taobao's currency signs, JD's at-signs.
fn foreign_delimiters(before: Option<char>, after: Option<char>) -> bool {
    let taobao = |c: Option<char>| matches!(c, Some('￥' | '€' | '¥'));
    taobao(before) || taobao(after) || (before == after && matches!(before, Some('@' | '$')))
}

pub fn find(
    text: &str,
    urls: &[UrlSpan<'_>],
    markers: &mut MarkerCache<'_>,
    refs: &mut Vec<Reference>,
) {
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
        let pre_char = text[..core.start].chars().next_back();
        let post_char = text[core.end..].chars().next();
        if foreign_delimiters(pre_char, post_char) {
            continue;
        }
        if !line.as_ref().is_some_and(|l| l.range.contains(&core.start)) {
            line = None;
        }
        let facts = line.get_or_insert_with(|| line_facts(text, urls, markers, core.start));
        if facts.blocked {
            continue;
        }
        // The anchor sits right before the core, separated by delimiters only.
        let anchored = markers
            .get()
            .iter()
            .rfind(|(r, k)| {
                *k == Marker::Anchor && r.end <= core.start && r.start >= facts.range.start
            })
            .is_some_and(|(a, _)| {
                let gap = &text[a.end..core.start];
                gap.len() <= 6 * 4
                    && gap.chars().count() <= 6
                    && gap.chars().all(|c| is_delim(c) || c == ' ')
            });
        let window_start =
            floor_char_boundary(text, core.start.saturating_sub(48).max(facts.range.start));
        let before = &text[window_start..core.start];
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
        // on it) to the end of the delimiters closing its core (not into a bracket that follows).
        let prev_end = found
            .iter()
            .map(|r| r.end)
            .chain(refs.iter().map(|r| r.end))
            .filter(|&end| end <= core.start && end >= facts.range.start)
            .max()
            .unwrap_or(facts.range.start);
        let mut end = core.end;
        for (n, c) in text[core.end..].char_indices() {
            if n >= 16 || !is_delim(c) || matches!(c, '[' | '(' | '{' | '<') {
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
    /// A URL, another platform's words or a non-product share word: no password here.
    blocked: bool,
    douyin_shaped: bool,
}

fn line_facts(
    text: &str,
    urls: &[UrlSpan<'_>],
    markers: &mut MarkerCache<'_>,
    pos: usize,
) -> LineFacts {
    let range = line_bounds(text, pos);
    let line = &text[range.clone()];
    // A share text with a link is one reference: the link.
    let blocked = urls
        .iter()
        .any(|u| u.range.start >= range.start && u.range.end <= range.end)
        || markers.get().iter().any(|(r, k)| {
            matches!(k, Marker::NotProduct | Marker::Foreign)
                && r.start >= range.start
                && r.end <= range.end
        });
    LineFacts {
        douyin_shaped: line.contains(":/") || line.contains('抖'),
        range,
        blocked,
    }
}
