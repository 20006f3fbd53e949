//! Every line of the real-message corpus (`fixtures/messages.jsonl`): the detector finds
//! exactly the labelled references, with the labelled kind and value, and nothing else.

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
    let corpus = include_str!("../fixtures/messages.jsonl");
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
                g.kind.as_str() == e.kind
                    && (g.value == e.value || e.accept_also.contains(&g.value))
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
    assert!(checked >= 30, "corpus unexpectedly small: {checked}");
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
