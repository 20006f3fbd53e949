//! Finds URLs as they arrive in chat texts and tells which ones are product links.
//!
//! URLs come glued to Chinese text (the first non-ASCII character ends them), inside quotes
//! and brackets (markdown, JSON, `<…>`), glued to the next URL or word by a comma, escaped as
//! JSON strings (`https:\/\/…\u0026…`), and percent-encoded inside another URL's parameter
//! (redirectors). Each URL keeps the span the user wrote and a normalised form to classify
//! and to send upstream.

use super::Kind;
use once_cell::sync::Lazy;
use regex::Regex;
use std::borrow::Cow;
use std::ops::Range;

// A scheme (also JSON-escaped or percent-encoded) and a printable ASCII run, or a bare host
// with a path after a non-word character.
static URL_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(
        r"(?i)\bhttps?(?::|%3a)(?:\\?/|%2f){2}[!-~]+|(?:^|[^a-z0-9._/@:-]|[:：])((?:[a-z0-9-]+\.)+(?:com|cn|net|org|io|me|cc|top|xyz|info|co)(?::\d+)?\\?/[!-~]*)",
    )
    .unwrap()
});

static SHORT_RE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)^(?:https?://)?(v\.douyin\.com|v\.buydouke\.com)/([A-Za-z0-9_-]{3,32})(?:/|$)")
        .unwrap()
});

/// A short link's host (lower case) and code, when `s` is one and nothing else (no path
/// or query after the code).
pub(crate) fn short_link_parts(s: &str) -> Option<(String, String)> {
    let c = SHORT_RE.captures(s)?;
    (c[0].len() == s.len()).then(|| (c[1].to_ascii_lowercase(), c[2].to_string()))
}

/// One URL: where it is written, and its normalised text.
pub struct UrlSpan<'a> {
    pub range: Range<usize>,
    pub url: Cow<'a, str>,
}

impl UrlSpan<'_> {
    /// The short link's canonical form and the length of its written part, if it is one.
    pub fn short_link(&self) -> Option<(String, usize)> {
        let c = SHORT_RE.captures(&self.url)?;
        let value = format!("https://{}/{}/", c[1].to_ascii_lowercase(), &c[2]);
        // The written span: the whole URL unless it was normalised from an escaped form.
        let len = if matches!(self.url, Cow::Borrowed(_)) {
            c[0].len()
        } else {
            self.range.len()
        };
        Some((value, len))
    }
}

pub fn find_urls(text: &str) -> Vec<UrlSpan<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    // One match at a time: a URL cut at a comma or a bracket lets the search resume there,
    // so a URL glued after it is found too.
    while let Some(c) = URL_RE.captures_at(text, at) {
        let m = c.get(1).unwrap_or_else(|| c.get(0).unwrap());
        let end = m.start() + written_len(m.as_str());
        at = if end > m.start() {
            end
        } else {
            c.get(0).unwrap().end()
        };
        if end > m.start() {
            let written = &text[m.start()..end];
            out.push(UrlSpan {
                range: m.start()..end,
                url: normalise(written),
            });
        }
    }
    out
}

/// Where a URL written at the start of `s` ends: at a closing quote or bracket it did not
/// open, at a comma, at a JSON escape other than `\/` and `\uXXXX`, then without trailing
/// sentence punctuation.
fn written_len(s: &str) -> usize {
    let b = s.as_bytes();
    let (mut paren, mut square) = (0i32, 0i32);
    let mut end = b.len();
    for (i, &c) in b.iter().enumerate() {
        let stop = match c {
            b'"' | b'\'' | b'<' | b'>' | b'`' | b',' | b'{' | b'}' | b'|' => true,
            b'(' => {
                paren += 1;
                false
            }
            b'[' => {
                square += 1;
                false
            }
            b')' => {
                paren -= 1;
                paren < 0
            }
            b']' => {
                square -= 1;
                square < 0
            }
            b'\\' => !matches!(b.get(i + 1), Some(b'/' | b'u' | b'U')),
            _ => false,
        };
        if stop {
            end = i;
            break;
        }
    }
    // A closing bracket still here was opened inside the URL: it stays.
    while end > 0 && b".;:!?".contains(&b[end - 1]) {
        end -= 1;
    }
    end
}

/// JSON escapes undone; a URL written wholly percent-encoded is decoded.
fn normalise(s: &str) -> Cow<'_, str> {
    let mut url: Cow<'_, str> = Cow::Borrowed(s);
    if s.contains('\\') {
        url = Cow::Owned(unescape_json(s));
    }
    let starts = |u: &str, p: &str| {
        u.len() > p.len() && u.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    if starts(&url, "http%3a") || starts(&url, "https%3a") {
        url = Cow::Owned(percent_decode(&url));
    }
    url
}

fn unescape_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        if let Some(t) = tail.strip_prefix('/') {
            out.push('/');
            rest = t;
        } else if tail.len() >= 5 && matches!(tail.as_bytes()[0], b'u' | b'U') {
            match u32::from_str_radix(&tail[1..5], 16)
                .ok()
                .and_then(char::from_u32)
            {
                Some(c) => {
                    out.push(c);
                    rest = &tail[5..];
                }
                None => {
                    out.push('\\');
                    rest = tail;
                }
            }
        } else {
            out.push('\\');
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

pub(crate) fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
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

/// A product or colonel link, with the value to send upstream. A product URL carried in
/// another URL's parameter (a redirector) counts; a short link there does not: it is
/// somebody else's API argument and its target is unknown.
pub fn classify(url: &str) -> Option<(Kind, String)> {
    classify_product_url(url).or_else(|| nested_product_url(url))
}

fn with_scheme(s: &str) -> Cow<'_, str> {
    let starts = |p: &str| {
        s.as_bytes()
            .get(..p.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(p.as_bytes()))
    };
    if starts("http://") || starts("https://") {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("https://{s}"))
    }
}

fn nested_product_url(s: &str) -> Option<(Kind, String)> {
    // Cheap test first: most URLs carry no other URL.
    let lower_has = |needle: &str| {
        s.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    if !(lower_has("jinritemai") || lower_has("snssdk") || lower_has("haohuo")) {
        return None;
    }
    let url = url::Url::parse(&with_scheme(s)).ok()?;
    for (_, v) in url.query_pairs() {
        let mut v = v.into_owned();
        // Encoded twice by a chain of redirectors.
        // Bytes, not `str` slices: a decoded parameter may hold a multi-byte character
        // anywhere, and slicing inside one panics.
        let encoded = v
            .as_bytes()
            .get(..8)
            .is_some_and(|b| b.eq_ignore_ascii_case(b"https%3a"));
        if v.len() > 8 && encoded || v.starts_with("http%3") {
            v = percent_decode(&v);
        }
        if let Some(found) = classify_product_url(&v) {
            return Some(found);
        }
    }
    None
}

fn classify_product_url(s: &str) -> Option<(Kind, String)> {
    let full = with_scheme(s);
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
    let kind = if colonel {
        Kind::ColonelLink
    } else {
        Kind::ProductUrl
    };
    Some((kind, full.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A redirector's parameter that decodes to a multi-byte character near its start
    /// (found by review: slicing a `str` there panicked on any user's message).
    #[test]
    fn multibyte_parameters_never_panic() {
        for text in [
            "https://haohuo.jinritemai.com/x?a=abcdefg%E4%B8%AD",
            "https://haohuo.jinritemai.com/x?a=%E4%B8%AD%E6%96%87abc",
            "https://haohuo.jinritemai.com/x?a=ab%E4%B8%ADcdefgh",
            "haohuo.jinritemai.com/x?u=https%3%E4%B8%AD",
        ] {
            let _ = crate::detect::detect(text);
        }
    }

    fn urls(text: &str) -> Vec<(&str, String)> {
        find_urls(text)
            .into_iter()
            .map(|u| (&text[u.range], u.url.into_owned()))
            .collect()
    }

    #[test]
    fn urls_end_at_quotes_brackets_and_commas() {
        assert_eq!(
            urls("(\"https://a.com/x\") [https://b.com/y] <https://c.com/z>"),
            vec![
                ("https://a.com/x", "https://a.com/x".into()),
                ("https://b.com/y", "https://b.com/y".into()),
                ("https://c.com/z", "https://c.com/z".into())
            ]
        );
        assert_eq!(
            urls("https://a.com/x,https://b.com/y"),
            vec![
                ("https://a.com/x", "https://a.com/x".into()),
                ("https://b.com/y", "https://b.com/y".into())
            ]
        );
        // Parentheses the URL opened are its own.
        assert_eq!(urls("https://a.com/x_(y)")[0].0, "https://a.com/x_(y)");
    }

    #[test]
    fn json_escaped_urls_are_unescaped() {
        assert_eq!(
            urls(r#"{"u":"https:\/\/a.com\/p?id=1\u0026b=2"}"#),
            vec![(
                r"https:\/\/a.com\/p?id=1\u0026b=2",
                "https://a.com/p?id=1&b=2".into()
            )]
        );
    }
}
