//! The `/stats` chart: orders per day as bars and the estimated commission per day as a line
//! on a second axis, drawn in-process into a PNG. Pure: points and a language in, PNG bytes
//! out; no system font (the font is built in, [`font`]), no C library, no file.

pub mod font;
pub mod labels;

use crate::lang::Lang;
use chrono::NaiveDate;
use labels::Labels;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

/// One day of the chart, a China-time calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub day: NaiveDate,
    pub orders: i64,
    /// Estimated commission, in fen.
    pub commission_fen: i64,
}

/// The picture's size in pixels.
pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 600;

const BARS: RGBColor = RGBColor(84, 130, 235);
const LINE: RGBColor = RGBColor(240, 110, 40);
const GRID: RGBColor = RGBColor(225, 228, 234);

#[derive(Debug, Error)]
pub enum ChartError {
    #[error("the chart's built-in font could not be loaded")]
    Font,
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("encoding the chart as PNG failed: {0}")]
    Encode(#[from] png::EncodingError),
}

fn drawing<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// The chart of `days` (oldest first) as a PNG of [`WIDTH`] × [`HEIGHT`], labelled in
/// `lang`. No days, or days without orders, still make a chart (axes and a note).
pub fn render_png(days: &[Day], lang: Lang) -> Result<Vec<u8>, ChartError> {
    if !font::register() {
        return Err(ChartError::Font);
    }
    let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    draw(&mut rgb, days, &Labels::new(lang, days.len()))?;
    encode(&rgb)
}

/// The commission axis' range in yuan: from 0 (or the lowest day, should one be negative)
/// to a little above the highest day, never empty.
fn yuan_range(days: &[Day]) -> (f64, f64) {
    let yuan = days.iter().map(|d| d.commission_fen as f64 / 100.0);
    let low = yuan.clone().fold(0.0, f64::min);
    let high = yuan.fold(1.0, f64::max);
    (low * 1.1, high * 1.1)
}

/// A commission tick: whole yuan once the axis reaches 10, else with the fen.
fn yuan_tick(v: f64, top: f64) -> String {
    if top >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn draw(rgb: &mut [u8], days: &[Day], labels: &Labels) -> Result<(), ChartError> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let text = |size: u32| (font::FAMILY, size).into_font();

    // At least one slot, so no range is empty and nothing is divided by zero.
    let slots = days.len().max(1) as i32;
    let most_orders = days.iter().map(|d| d.orders).max().unwrap_or(0).max(1);
    let orders_top = most_orders + (most_orders / 10).max(1);
    let (yuan_low, yuan_top) = yuan_range(days);

    let mut chart = ChartBuilder::on(&root)
        .caption(&labels.title, text(26))
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .right_y_label_area_size(86)
        .build_cartesian_2d((0..slots).into_segmented(), 0i64..orders_top)
        .map_err(drawing)?
        .set_secondary_coord((0..slots).into_segmented(), yuan_low..yuan_top);

    let date = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| days.get(i))
            .map(|d| d.day.format("%m-%d").to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&date)
        .y_label_formatter(&|v: &i64| v.to_string())
        .x_desc(labels.x_axis)
        .y_desc(labels.orders_axis)
        .label_style(text(15))
        .axis_desc_style(text(17))
        .draw()
        .map_err(drawing)?;
    chart
        .configure_secondary_axes()
        .y_labels(8)
        .y_label_formatter(&|v: &f64| yuan_tick(*v, yuan_top))
        .y_desc(labels.commission_axis)
        .label_style(text(15))
        .axis_desc_style(text(17))
        .draw()
        .map_err(drawing)?;

    chart
        .draw_series(days.iter().enumerate().map(|(i, d)| {
            let i = i as i32;
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0),
                    (SegmentValue::Exact(i + 1), d.orders),
                ],
                BARS.filled(),
            );
            bar.set_margin(0, 0, 3, 3);
            bar
        }))
        .map_err(drawing)?
        .label(labels.orders_series)
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], BARS.filled()));
    let points: Vec<(SegmentValue<i32>, f64)> = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            (
                SegmentValue::CenterOf(i as i32),
                d.commission_fen as f64 / 100.0,
            )
        })
        .collect();
    chart
        .draw_secondary_series(LineSeries::new(points.clone(), LINE.stroke_width(3)))
        .map_err(drawing)?
        .label(labels.commission_series)
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], LINE.stroke_width(3)));
    chart
        .draw_secondary_series(points.into_iter().map(|p| Circle::new(p, 3, LINE.filled())))
        .map_err(drawing)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(text(15))
        .background_style(WHITE.mix(0.9))
        .border_style(GRID)
        .draw()
        .map_err(drawing)?;

    if days.iter().all(|d| d.orders == 0 && d.commission_fen == 0) {
        let (x, y) = (WIDTH as i32 / 2, HEIGHT as i32 / 2);
        let style = text(24)
            .color(&RGBColor(120, 124, 134))
            .pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(labels.no_orders, (x, y), style))
            .map_err(drawing)?;
    }
    root.present().map_err(drawing)?;
    Ok(())
}

/// 8-bit RGB, no alpha: the chart is opaque.
fn encode(rgb: &[u8]) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests;
