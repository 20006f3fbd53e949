//! Every line of the real-message corpora (`fixtures/messages*.jsonl`): the detector finds
//! exactly the labelled references, with the labelled kind and value, and nothing else.
//!
//! `accept_also` (as the corpus files use it): other values that kol_ProductShare accepts for
//! the same single product, whatever their kind. A share text whose short link is expected
//! may also be reported as its 抖口令 (the whole text, or the delimited core), never as both:
//! the number of references must still match.

use douyin_link_bot::detect::{detect, Kind};
use serde::Deserialize;

#[derive(Deserialize)]
struct Line {
    text: String,
    expect: Vec<Expected>,
}

#[derive(Deserialize)]
struct Expected {
    kind: String,
    value: String,
    #[serde(default)]
    accept_also: Vec<String>,
    #[serde(default)]
    core: Option<String>,
}

#[test]
fn corpus_messages_yield_exactly_the_labelled_references() {
    check_corpus(include_str!("../fixtures/messages.jsonl"), 30);
}

/// Our own additions, from share texts quoted in public code and messages built around them.
#[test]
fn extra_messages_yield_exactly_the_labelled_references() {
    check_corpus(include_str!("../fixtures/messages_extra.jsonl"), 36);
}

/// New real examples (`shared/corpus/messages2.jsonl`, copied with their sources): shares in
/// new shapes, music and comment 抖口令, labelled numbers that are not product ids.
#[test]
fn second_corpus_messages_yield_exactly_the_labelled_references() {
    check_corpus(include_str!("../fixtures/messages2.jsonl"), 20);
}

/// Variant spellings of real templates (each line names the template it varies): look-alike,
/// traditional and letter spellings, new delimiters, other platforms' passwords, escaped and
/// nested URLs, labelled numbers.
#[test]
fn variant_spellings_yield_exactly_the_labelled_references() {
    check_corpus(include_str!("../fixtures/messages_variants.jsonl"), 30);
}

/// Real share texts found in other projects' tests, docs and issues, each with its source.
#[test]
fn found_messages_yield_exactly_the_labelled_references() {
    check_corpus(include_str!("../fixtures/messages_found.jsonl"), 13);
}

fn check_corpus(corpus: &str, at_least: usize) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (n, raw) in corpus
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line: Line = serde_json::from_str(raw).expect("corpus line is JSON");
        let got = detect(&line.text);
        checked += 1;
        let ok = got.len() == line.expect.len()
            && got.iter().zip(&line.expect).all(|(g, e)| {
                (g.kind.as_str() == e.kind && g.value == e.value
                    || e.accept_also.contains(&g.value))
                    && e.core.as_ref().is_none_or(|c| g.value.contains(c.as_str()))
                    && line.text.is_char_boundary(g.start)
                    && line.text.is_char_boundary(g.end)
                    && g.start < g.end
                    && g.end <= line.text.len()
            });
        if !ok {
            failures.push(format!("line {}: {:?}\n  got {:?}", n + 1, line.text, got));
        }
    }
    assert!(checked >= at_least, "corpus unexpectedly small: {checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_reference_value_is_found_in_its_own_span() {
    // The span is what the user wrote; the value is what upstream receives. For links and
    // passwords the span must contain the value's identifying part.
    for raw in include_str!("../fixtures/messages.jsonl").lines() {
        let line: Line = serde_json::from_str(raw).unwrap();
        for r in detect(&line.text) {
            let span = &line.text[r.start..r.end];
            match r.kind {
                Kind::ShortLink => {
                    let code = r.value.trim_end_matches('/').rsplit('/').next().unwrap();
                    assert!(span.contains(code), "{span:?} vs {}", r.value);
                }
                Kind::Password | Kind::ProductId => assert_eq!(span, r.value),
                Kind::ProductUrl | Kind::ColonelLink => {
                    assert!(r.value.ends_with(span.trim_start_matches("https://")))
                }
            }
        }
    }
}

mod properties {
    use douyin_link_bot::detect::{detect, MAX_REFS};
    use proptest::prelude::*;

    // Pieces of real messages, so generated texts reach the interesting paths.
    const PIECES: &[&str] = &[
        "https://v.douyin.com/Riw-sVBtUlY/",
        "v.douyin.com/i2wDMRRN",
        "【抖音商城】",
        "查看商品详情",
        "ŠŠko4RythQX4B8▽▽",
        "##2kQkUmVF5gD8##",
        ":/",
        "3583117383482622604",
        "直接观看视频",
        "看TA直播",
        "\n\n",
        "9.28 reo:/ ",
        "https://haohuo.jinritemai.com/views/product/detail?id=",
        "&ins_activity_param=A",
        "订单号",
        "\u{202e}",
        "\u{0}",
        "👉",
        "，",
        " ",
        "🇨🇳",
    ];

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(PIECES).prop_map(str::to_string),
            "\\PC{0,12}",
            "[0-9]{1,22}",
            // Control, zero-width and bidi characters.
            "[\\x00-\\x1f\\x7f\u{200b}-\u{200f}\u{202a}-\u{202e}\u{2066}-\u{2069}]{1,4}",
        ]
    }

    fn message() -> impl Strategy<Value = String> {
        prop::collection::vec(piece(), 0..40).prop_map(|parts| parts.concat())
    }

    /// Up to Telegram's 4096 characters: floods of the same few pieces, links and delimiters.
    fn long_message() -> impl Strategy<Value = String> {
        (prop::collection::vec(piece(), 1..4), 50..400usize)
            .prop_map(|(parts, n)| parts.concat().repeat(n).chars().take(4096).collect())
    }

    proptest! {
        #[test]
        fn never_panics_and_reports_valid_bounded_spans(text in message()) {
            let refs = detect(&text);
            prop_assert!(refs.len() <= MAX_REFS);
            for r in &refs {
                prop_assert!(r.start < r.end && r.end <= text.len());
                prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
                prop_assert!(!r.value.is_empty());
            }
            prop_assert!(refs.windows(2).all(|w| w[0].start <= w[1].start));
        }

        #[test]
        fn long_floods_stay_bounded(text in long_message()) {
            let refs = detect(&text);
            prop_assert!(refs.len() <= MAX_REFS);
            for r in &refs {
                prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
                // A value is built from its span (a short link gains at most a scheme and a
                // trailing slash): output grows with the input, never beyond it.
                prop_assert!(r.value.len() <= r.end - r.start + "https://".len() + 1);
            }
        }
    }
}
