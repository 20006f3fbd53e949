//! Bar charts as inline SVG: drawn on the server, no script, no stylesheet of their own
//! (presentation attributes only, which the Content-Security-Policy allows). Each bar says
//! its day and value in `data-` attributes and in a `<title>` (shown on hover or long press).

use super::esc;
use chrono::NaiveDate;

/// One series: what it is called and its value per day.
pub struct Series<'a> {
    /// A stable name (`orders`, `commission_settled`, …) for `data-series`.
    pub key: &'static str,
    pub label: &'a str,
    pub values: Vec<i64>,
    pub fill: &'static str,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 22.0;

/// A value as the chart labels it: fen as yuan, else the count.
pub fn show(v: i64, money: bool) -> String {
    if money {
        crate::telegram::texts::yuan(v)
    } else {
        v.to_string()
    }
}

/// Bars per day, one bar per series side by side; `money`: values are fen.
pub fn bars(title: &str, days: &[NaiveDate], series: &[Series<'_>], money: bool) -> String {
    let n = days.len().max(1) as f64;
    let k = series.len().max(1) as f64;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / n;
    let bar = (slot * 0.8 / k).max(0.5);
    let mut out = format!(
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\" font-family=\"sans-serif\">",
        esc(title)
    );
    // Axes and the scale's two ends.
    let base = TOP + plot_h;
    out.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#86909c\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{}\" y2=\"{TOP}\" stroke=\"#e5e6eb\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#4e5969\">{}</text>\
         <text x=\"{}\" y=\"{base}\" text-anchor=\"end\" fill=\"#4e5969\">0</text>",
        WIDTH - RIGHT,
        WIDTH - RIGHT,
        LEFT - 4.0,
        TOP + 4.0,
        esc(&show(max, money)),
        LEFT - 4.0,
    ));
    for (j, s) in series.iter().enumerate() {
        for (i, (day, v)) in days.iter().zip(&s.values).enumerate() {
            let h = (*v).max(0) as f64 / max as f64 * plot_h;
            let x = LEFT + i as f64 * slot + slot * 0.1 + j as f64 * bar;
            let day = day.format("%Y-%m-%d");
            out.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{}\" data-series=\"{}\" data-day=\"{day}\" data-value=\"{v}\"><title>{day} {}: {}</title></rect>",
                base - h,
                s.fill,
                s.key,
                esc(s.label),
                esc(&show(*v, money)),
            ));
        }
    }
    // Day labels: the first, the middle and the last.
    let mut labelled: Vec<usize> = vec![0, days.len() / 2, days.len().saturating_sub(1)];
    labelled.dedup();
    for i in labelled {
        if let Some(day) = days.get(i) {
            let x = LEFT + (i as f64 + 0.5) * slot;
            out.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#4e5969\">{}</text>",
                HEIGHT - 6.0,
                day.format("%m-%d")
            ));
        }
    }
    // A legend when there is more than one series.
    if series.len() > 1 {
        let mut x = LEFT;
        for s in series {
            out.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"15\" fill=\"#1d2129\">{}</text>",
                s.fill,
                x + 14.0,
                esc(s.label)
            ));
            x += 14.0 + 12.0 * s.label.chars().count() as f64 + 16.0;
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bar_carries_its_day_and_value_and_labels_are_escaped() {
        let days: Vec<NaiveDate> = (1..=3)
            .map(|d| NaiveDate::from_ymd_opt(2026, 1, d).unwrap())
            .collect();
        let svg = bars(
            "<t>",
            &days,
            &[Series {
                key: "orders",
                label: "a&b",
                values: vec![0, 5, 10],
                fill: "#165dff",
            }],
            false,
        );
        assert!(svg.contains("data-day=\"2026-01-03\" data-value=\"10\""));
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("aria-label=\"&lt;t&gt;\"") && svg.contains("a&amp;b"));
        assert!(!svg.contains("<t>"));
    }
}
