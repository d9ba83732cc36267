//! The report's two kinds of chart, drawn by plotters as SVG text: bars
//! across (a ranking: items, guilds, hosts, reasons) and columns over time.
//! Either stacks several series (item qualities, event types) with a legend.
//! Text stays `<text>` elements the browser draws, so no font is needed
//! here.

use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::RangedCoordusize;
use plotters::prelude::*;

/// A chart as inline SVG, with how many non-zero values it draws.
#[derive(Debug, Clone)]
pub struct Chart {
    pub svg: String,
    pub points: usize,
}

/// A named series of values, one per label.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Series {
        Series {
            name: name.into(),
            values,
        }
    }
}

const WIDTH: u32 = 860;
/// Plotters sets text at 80% of the size asked for.
const FONT: &str = "sans-serif";

/// Tableau's ten colours: distinct, and readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Error = DrawingAreaErrorKind<std::io::Error>;

fn failed(e: Error) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the chart: {e}")
}

/// The stack's running totals per label: where each series' bar starts and
/// ends.
fn stacks(labels: usize, series: &[Series]) -> (Vec<Vec<(f64, f64)>>, f64) {
    let mut base = vec![0.0; labels];
    let spans = series
        .iter()
        .map(|s| {
            (0..labels)
                .map(|i| {
                    let start = base[i];
                    base[i] += s.values.get(i).copied().unwrap_or(0.0);
                    (start, base[i])
                })
                .collect()
        })
        .collect();
    let top = base.into_iter().fold(0.0, f64::max);
    (spans, if top > 0.0 { top * 1.08 } else { 1.0 })
}

fn points(series: &[Series]) -> usize {
    series
        .iter()
        .flat_map(|s| &s.values)
        .filter(|v| **v > 0.0)
        .count()
}

/// Draws each series' spans as rectangles, stacked (`corners` places the
/// span of label `i`; `margin` is top, bottom, left, right in pixels), and
/// names the series in a legend inside the plot at `position` when there
/// are several.
fn draw_stacks<'a, 'b: 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>,
    series: &[Series],
    spans: &[Vec<(f64, f64)>],
    corners: impl Fn(usize, f64, f64) -> [(X::ValueType, Y::ValueType); 2],
    margin: [u32; 4],
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    for (k, s) in series.iter().enumerate() {
        let fill = colour(k).filled();
        let drawn = chart
            .draw_series(spans[k].iter().enumerate().map(|(i, (from, to))| {
                let mut rect = Rectangle::new(corners(i, *from, *to), fill);
                rect.set_margin(margin[0], margin[1], margin[2], margin[3]);
                rect
            }))
            .map_err(failed)?;
        if series.len() > 1 {
            drawn
                .label(s.name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], fill));
        }
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .position(position)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 16))
            .draw()
            .map_err(failed)?;
    }
    Ok(())
}

/// One slot per label. Plotters' integer ranges include their end, so
/// `0..n` would add an empty slot.
fn slots(n: usize) -> SegmentedCoord<RangedCoordusize> {
    (0..n.max(1) - 1).into_segmented()
}

/// The value axis' labels: whole numbers with thousands separators.
fn value_label(v: &f64) -> String {
    if v.fract().abs() > 1e-9 {
        return String::new();
    }
    super::thousands(*v as u64)
}

/// Bars across, the first label at the top: a ranking.
pub fn bars(labels: &[String], series: &[Series], value_name: &str) -> anyhow::Result<Chart> {
    let n = labels.len();
    let height = 70 + 26 * n.max(1) as u32;
    let (spans, top) = stacks(n, series);
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size((label_width as u32 * 8 + 16).clamp(60, 300))
            .build_cartesian_2d(0.0..top, slots(n))
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE.mix(0.0))
            .y_labels(n.max(1))
            .y_label_formatter(&|v| match v {
                // Row 0 is drawn at the bottom: put the first label on top.
                SegmentValue::CenterOf(i) if *i < n => labels[n - 1 - i].clone(),
                _ => String::new(),
            })
            .x_label_formatter(&value_label)
            .x_desc(value_name)
            .label_style((FONT, 16))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(failed)?;
        // Row 0 is drawn at the bottom: the first label's bar goes on top.
        draw_stacks(
            &mut chart,
            series,
            &spans,
            |i, from, to| {
                let row = n - 1 - i;
                [
                    (from, SegmentValue::Exact(row)),
                    (to, SegmentValue::Exact(row + 1)),
                ]
            },
            [3, 3, 0, 0],
            SeriesLabelPosition::LowerRight,
        )?;
        root.present().map_err(failed)?;
    }
    Ok(Chart {
        svg,
        points: points(series),
    })
}

/// Columns over time, one per bucket, in order; at most a dozen labels are
/// written along the axis.
pub fn columns(labels: &[String], series: &[Series], value_name: &str) -> anyhow::Result<Chart> {
    let n = labels.len();
    let (spans, top) = stacks(n, series);
    // Headroom for the legend, which sits inside the plot, top right.
    let top = if series.len() > 1 { top * 1.35 } else { top };
    let every = n.div_ceil(12).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(slots(n), 0.0..top)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_labels(n.max(1))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < n && i.is_multiple_of(every) => {
                    labels[*i].clone()
                }
                _ => String::new(),
            })
            .y_label_formatter(&value_label)
            .y_desc(value_name)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(failed)?;
        draw_stacks(
            &mut chart,
            series,
            &spans,
            |i, from, to| {
                [
                    (SegmentValue::Exact(i), from),
                    (SegmentValue::Exact(i + 1), to),
                ]
            },
            [0, 0, 1, 1],
            SeriesLabelPosition::UpperRight,
        )?;
        root.present().map_err(failed)?;
    }
    Ok(Chart {
        svg,
        points: points(series),
    })
}
