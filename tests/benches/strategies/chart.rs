//! The SVG chart (leader share of reads against post-write read p99, one panel per scenario)
//! and the verdict: ryw's best policy at or left of each correct anchor's leader share.

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One strategy as a point of the chart.
pub(crate) struct Point {
    pub(crate) label: String,
    /// Leader share of reads, percent.
    pub(crate) x: f64,
    /// Post-write read p99, ms.
    pub(crate) y: f64,
    pub(crate) stale: u64,
    /// One of ryw's (else an anchor).
    pub(crate) ryw: bool,
    /// ryw's default policy (drawn apart from the replica-first curve).
    pub(crate) default: bool,
}

/// One scenario's points.
pub(crate) struct Panel {
    pub(crate) title: String,
    pub(crate) points: Vec<Point>,
}

impl Panel {
    /// ryw's points (the default and the replica-first curve), sorted by leader share (then
    /// latency).
    fn curve(&self) -> Vec<&Point> {
        let mut c: Vec<&Point> = self.points.iter().filter(|p| p.ryw).collect();
        c.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
        c
    }
}

/// Leader shares this close count as equal (percentage points): the shares are measured.
const SHARE_TOLERANCE: f64 = 0.5;

/// "verdict: …" for `panel`: for each anchor with no stale read, ryw's best post-write p99
/// among its policies with at most the anchor's leader share, against the anchor's own.
pub(crate) fn verdict(panel: &Panel) -> String {
    let curve = panel.curve();
    let (mut at_or_below, mut total) = (0, 0);
    let mut parts = String::new();
    for a in panel.points.iter().filter(|p| !p.ryw && p.stale == 0) {
        let best = curve
            .iter()
            .filter(|r| r.x <= a.x + SHARE_TOLERANCE)
            .min_by(|l, r| l.y.total_cmp(&r.y));
        let Some(r) = best else {
            continue;
        };
        total += 1;
        let ok = r.y <= a.y;
        at_or_below += usize::from(ok);
        let _ = write!(
            parts,
            "\n  - {} ({:.1}% leader, post-write p99 {:.1} ms): {} ({:.1}% leader) {:.1} ms → {}",
            a.label,
            a.x,
            a.y,
            r.label,
            r.x,
            r.y,
            if ok { "at or below" } else { "ABOVE" }
        );
    }
    format!("verdict: ryw at or below {at_or_below} of {total} correct anchors{parts}")
}

/// "default: …" for `panel`: ryw's default against leader only (post-write p99, the
/// physical limit) and against the per-read check (leader share).
pub(crate) fn default_verdict(panel: &Panel) -> String {
    let find = |label: &str| panel.points.iter().find(|p| p.label == label);
    let Some(d) = panel.points.iter().find(|p| p.default) else {
        return "default: not run".to_owned();
    };
    let mut out = format!(
        "default (latency first): {:.1}% leader, post-write p99 {:.1} ms",
        d.x, d.y
    );
    if let Some(l) = find("leader only") {
        let _ = write!(out, "; vs leader only {:.1} ms: {:+.1} ms", l.y, d.y - l.y);
    }
    if let Some(g) = find("per-read check, no wait") {
        let _ = write!(
            out,
            "; leader share vs the per-read check's {:.1}%: {}",
            g.x,
            if d.x <= g.x + SHARE_TOLERANCE {
                "at or below"
            } else {
                "ABOVE"
            }
        );
    }
    out
}

const ANCHOR_COLOURS: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];
const RYW_COLOUR: RGBColor = RGBColor(31, 119, 180);
const DEFAULT_COLOUR: RGBColor = RGBColor(0, 0, 0);

/// Writes one panel per scenario, side by side, to `path`.
pub(crate) fn write_svg(path: &Path, panels: &[Panel]) -> Result<(), Box<dyn Error>> {
    let width = 560 * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (width, 590)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(560);
    let areas = top.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    bottom.draw(&Text::new(
        "Filled markers: hand-written anchors with no stale read. Black: ryw's default (latency \
         first). Blue line: ryw replica first at increasing wait budgets (leader fallback). \
         Hollow marker, \"(stale)\": the strategy served stale reads.",
        (20, 8),
        ("sans-serif", 13),
    ))?;
    root.present()?;
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let ys = panel.points.iter().map(|p| p.y).filter(|y| y.is_finite());
    let y_max = ys.clone().fold(1.0_f64, f64::max) * 2.0;
    let y_min = ys.fold(y_max, f64::min).max(0.01) / 2.0;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(-2.0_f64..102.0_f64, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("leader share of reads (%)")
        .y_desc("post-write read p99 (ms, log)")
        .draw()?;

    let curve = panel.curve();
    chart.draw_series(LineSeries::new(
        curve.iter().filter(|p| !p.default).map(|p| (p.x, p.y)),
        RYW_COLOUR.stroke_width(2),
    ))?;
    let mut colours = ANCHOR_COLOURS.iter().cycle();
    for (i, p) in panel.points.iter().enumerate() {
        let colour = if p.default {
            DEFAULT_COLOUR
        } else if p.ryw {
            RYW_COLOUR
        } else {
            *colours.next().unwrap_or(&BLACK)
        };
        let stale = p.stale > 0;
        let style = if stale {
            colour.stroke_width(2)
        } else {
            colour.filled()
        };
        let name = if p.ryw {
            p.label.trim_start_matches("ryw ")
        } else {
            &p.label
        };
        let label = if stale {
            format!("{name} (stale)")
        } else {
            name.to_owned()
        };
        // Labels of earlier points drawn at about the same place push this one down a line.
        let crowd = panel.points[..i]
            .iter()
            .filter(|q| q.ryw == p.ryw && (q.x - p.x).abs() < 4.0 && (q.y / p.y).ln().abs() < 0.15)
            .count() as i32;
        let right = p.x > 80.0;
        let anchor = Pos::new(if right { HPos::Right } else { HPos::Left }, VPos::Top);
        let offset = (
            if right { -9 } else { 8 },
            if p.ryw { 2 } else { -16 } + 13 * crowd,
        );
        let font = ("sans-serif", 12).into_font().color(&colour).pos(anchor);
        let marker = EmptyElement::at((p.x, p.y))
            + Circle::new((0, 0), if p.ryw && !p.default { 4 } else { 6 }, style)
            + Text::new(label, offset, font);
        chart.draw_series(std::iter::once(marker))?;
    }
    Ok(())
}
