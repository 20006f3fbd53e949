//! The chart is checked as a picture: decoded, measured, its colours counted.

use super::*;
use std::collections::{HashMap, HashSet};

/// 30 days from 2026-11-01: quiet days, zero days, and one big day.
fn month() -> Vec<Day> {
    let first = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    first
        .iter_days()
        .take(30)
        .enumerate()
        .map(|(i, day)| {
            let (orders, commission_fen) = match i {
                3 | 4 | 17 => (0, 0),
                20 => (480, 1_234_567),
                _ => (i as i64 % 7 + 1, (i as i64 % 5 + 1) * 1_290),
            };
            Day {
                day,
                orders,
                commission_fen,
            }
        })
        .collect()
}

struct Picture {
    width: u32,
    height: u32,
    /// How many pixels have each colour.
    colours: HashMap<[u8; 3], usize>,
}

impl Picture {
    fn decode(png_bytes: &[u8]) -> Picture {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
        let frame = reader.next_frame(&mut buf).expect("a PNG image");
        assert_eq!(frame.color_type, png::ColorType::Rgb);
        assert_eq!(frame.bit_depth, png::BitDepth::Eight);
        let mut colours = HashMap::new();
        for px in buf[..frame.buffer_size()].chunks_exact(3) {
            *colours.entry([px[0], px[1], px[2]]).or_insert(0) += 1;
        }
        Picture {
            width: frame.width,
            height: frame.height,
            colours,
        }
    }

    fn count(&self, c: RGBColor) -> usize {
        self.colours.get(&[c.0, c.1, c.2]).copied().unwrap_or(0)
    }

    /// The share of pixels that are not the white background.
    fn inked(&self) -> f64 {
        let total = (self.width * self.height) as f64;
        (total - self.count(WHITE) as f64) / total
    }
}

#[test]
fn a_month_renders_as_a_png_with_bars_a_line_and_text() {
    for lang in [Lang::Zh, Lang::En] {
        let png = render_png(&month(), lang).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let pic = Picture::decode(&png);
        assert_eq!((pic.width, pic.height), (WIDTH, HEIGHT));
        // Anti-aliased text and lines make many shades; a blank or one-colour picture not.
        assert!(
            pic.colours.len() > 50,
            "{lang}: {} colours",
            pic.colours.len()
        );
        assert!(pic.inked() > 0.04, "{lang}: {:.3} inked", pic.inked());
        // The big day's bar alone is tall: thousands of bar-coloured pixels.
        assert!(
            pic.count(BARS) > 5_000,
            "{lang}: {} bar pixels",
            pic.count(BARS)
        );
        assert!(
            pic.count(LINE) > 500,
            "{lang}: {} line pixels",
            pic.count(LINE)
        );
    }
}

#[test]
fn the_two_languages_draw_different_words() {
    let zh = render_png(&month(), Lang::Zh).unwrap();
    let en = render_png(&month(), Lang::En).unwrap();
    assert_ne!(zh, en);
}

#[test]
fn no_days_or_empty_days_still_make_a_chart() {
    let zeros: Vec<Day> = month()
        .into_iter()
        .map(|d| Day {
            orders: 0,
            commission_fen: 0,
            ..d
        })
        .collect();
    let one = vec![month()[20]];
    for (name, days) in [("none", Vec::new()), ("zeros", zeros), ("one day", one)] {
        for lang in [Lang::Zh, Lang::En] {
            let pic = Picture::decode(&render_png(&days, lang).unwrap());
            assert_eq!((pic.width, pic.height), (WIDTH, HEIGHT), "{name}");
            // Axes, labels and the note: drawn, not blank.
            assert!(
                pic.colours.len() > 20,
                "{name} {lang}: {}",
                pic.colours.len()
            );
            assert!(pic.inked() > 0.005, "{name} {lang}: {:.4}", pic.inked());
        }
    }
}

#[test]
fn negative_and_huge_days_do_not_break_the_axes() {
    let mut days = month();
    days[1].commission_fen = -5_000;
    days[2].orders = i64::from(u32::MAX);
    days[2].commission_fen = 1_000_000_000_000;
    let pic = Picture::decode(&render_png(&days, Lang::Zh).unwrap());
    assert_eq!((pic.width, pic.height), (WIDTH, HEIGHT));
}

#[test]
fn the_axis_ranges_are_never_empty() {
    assert_eq!(yuan_range(&[]), (0.0, 1.1));
    let (low, high) = yuan_range(&month());
    assert!(low == 0.0 && high > 12_345.67, "{low} {high}");
    assert_eq!(yuan_tick(2.5, 5.0), "2.50");
    assert_eq!(yuan_tick(2500.0, 13_000.0), "2500");
    let distinct: HashSet<String> = [0.0, 0.25, 0.5]
        .iter()
        .map(|v| yuan_tick(*v, 1.1))
        .collect();
    assert_eq!(distinct.len(), 3, "small amounts keep their fen");
}
