//! The chart's one font, built into the binary: a subset of Noto Sans CJK SC holding only
//! the glyphs the chart writes (assets/fonts/README.md), so Chinese renders on a machine with
//! no fonts at all and nothing is looked up through fontconfig or FreeType.

use plotters::style::FontStyle;
use std::sync::OnceLock;

/// The font file (OpenType, CFF outlines).
pub const FONT: &[u8] = include_bytes!("../../assets/fonts/NotoSansSC-chart-subset.otf");

/// The family the chart asks plotters for. plotters' own defaults name "sans-serif", so the
/// font is registered under that name too: no text can fall back to a missing font.
pub const FAMILY: &str = "sans-serif";

/// Registers [`FONT`] with plotters, once per process. Returns whether it loaded (a damaged
/// font file is a build defect the tests catch; the caller turns it into an error).
pub fn register() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        [FontStyle::Normal, FontStyle::Bold]
            .into_iter()
            .all(|style| plotters::style::register_font(FAMILY, style, FONT).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::labels::Labels;
    use crate::lang::Lang;
    use ab_glyph::{Font, FontRef};

    fn missing(text: &str) -> Vec<char> {
        let font = FontRef::try_from_slice(FONT).expect("the vendored font parses");
        let mut missing: Vec<char> = text.chars().filter(|c| font.glyph_id(*c).0 == 0).collect();
        missing.dedup();
        missing
    }

    #[test]
    fn every_label_character_has_a_glyph() {
        for lang in [Lang::Zh, Lang::En] {
            for days in [0, 7, 30, 365] {
                for text in Labels::new(lang, days).all() {
                    assert_eq!(missing(text), Vec::<char>::new(), "{lang}: {text}");
                }
            }
        }
        // Numbers, dates and amounts on the axes: printable ASCII and the yuan sign.
        let ascii: String = (' '..='~').collect();
        assert_eq!(missing(&ascii), Vec::<char>::new());
        assert_eq!(missing("¥12.50 05-31"), Vec::<char>::new());
    }

    #[test]
    fn every_outline_starts_at_its_origin() {
        // plotters draws a glyph from its bounding box's left edge, ignoring the bearing:
        // the subset gives every outline a box that starts at x = 0 (assets/fonts/README.md).
        // 'Y' and 'j' reach slightly left of their origin in the font itself.
        let font = FontRef::try_from_slice(FONT).unwrap();
        let zh = Labels::new(Lang::Zh, 30).all().concat();
        for c in (' '..='~').chain(zh.chars()).filter(|c| !"Yj".contains(*c)) {
            if let Some(outline) = font.outline(font.glyph_id(c)) {
                assert_eq!(outline.bounds.min.x, 0.0, "{c:?}");
            }
        }
    }

    #[test]
    fn the_check_finds_a_character_the_subset_lacks() {
        // The test above is only as good as this: a character outside the subset is caught.
        assert_eq!(missing("订单龍"), vec!['龍']);
    }

    #[test]
    fn the_font_registers() {
        assert!(register());
        assert!(register(), "a second call is harmless");
    }
}
