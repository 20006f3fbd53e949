//! Any text: the detector never panics, reports at most MAX_REFS references, and every span
//! lies on character boundaries inside the text.
#![no_main]

use douyin_link_bot::detect::{detect, MAX_REFS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Telegram delivers text as UTF-8; other bytes cannot reach the detector.
    let text = String::from_utf8_lossy(data);
    let refs = detect(&text);
    assert!(refs.len() <= MAX_REFS);
    for r in &refs {
        assert!(r.start < r.end && r.end <= text.len());
        assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
        assert!(!r.value.is_empty());
    }
});
