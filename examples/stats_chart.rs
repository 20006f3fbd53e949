//! Draws the `/stats` chart for a made-up month into two files, and times the drawing: for
//! looking at the chart after a change, and for its figures in BENCHMARKS.md.
//!
//! `cargo run --release --example stats_chart -- /tmp` writes stats-zh.png and stats-en.png.

use chrono::NaiveDate;
use douyin_link_bot::chart::{render_png, Day};
use douyin_link_bot::lang::Lang;
use std::time::Instant;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let first = NaiveDate::from_ymd_opt(2026, 11, 1).expect("a date");
    let days: Vec<Day> = first
        .iter_days()
        .take(30)
        .enumerate()
        .map(|(i, day)| {
            let i = i as i64;
            let (orders, commission_fen) = match i {
                3 | 4 | 17 => (0, 0),
                20 => (96, 248_350),
                _ => (i % 7 * 3 + 2, (i % 5 + 1) * 3_190 + i * 211),
            };
            Day {
                day,
                orders,
                commission_fen,
            }
        })
        .collect();
    for lang in [Lang::Zh, Lang::En] {
        // The first drawing also loads the font.
        let png = render_png(&days, lang).expect("the chart draws");
        const RUNS: u32 = 20;
        let start = Instant::now();
        for _ in 0..RUNS {
            render_png(&days, lang).expect("the chart draws");
        }
        let each = start.elapsed() / RUNS;
        let path = format!("{dir}/stats-{lang}.png");
        std::fs::write(&path, &png).expect("the file is written");
        println!("{path}: {} bytes, {each:.1?} a drawing", png.len());
    }
}
