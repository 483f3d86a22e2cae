//! `chart`: an SVG of latency by percentile from several `--json` results.
//!
//! One panel per run title (e.g. "put 1000 clients, 3 members"), one curve
//! per label (e.g. cairn, etcd). The x axis counts nines (0 → p0, 1 → p90,
//! 2 → p99, 3 → p99.9, ...) so the tail gets room; the y axis is latency on a
//! log scale.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::report::{histogram_from_buckets, read_report, Report};

const PANEL_WIDTH: f64 = 540.0;
const PANEL_HEIGHT: f64 = 300.0;
const PANEL_COLUMNS: usize = 2;
const MARGIN_LEFT: f64 = 72.0;
const MARGIN_RIGHT: f64 = 30.0;
const MARGIN_TOP: f64 = 34.0;
const MARGIN_BOTTOM: f64 = 40.0;
const HEADER_HEIGHT: f64 = 40.0;
/// Largest x: 4 nines, p99.99.
const NINES_MAX: f64 = 4.0;
const LEGEND_WIDTH: f64 = 210.0;
const NINES_STEP: f64 = 0.02;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// One curve: label, points (nines, latency µs), p99 and throughput for the legend.
struct Curve {
    label: String,
    points: Vec<(f64, f64)>,
    p99_us: f64,
    throughput_per_s: f64,
}

fn curve(report: &Report, fallback_label: String) -> Option<Curve> {
    let figures = &report.figures;
    if figures.count == 0 {
        return None;
    }
    let histogram = histogram_from_buckets(&figures.histogram_us);
    // Past log10(count) nines the curve is just the maximum.
    let nines_max = (figures.count as f64).log10().clamp(0.0, NINES_MAX);
    let mut points = Vec::new();
    let mut nines = 0.0;
    while nines <= nines_max + 1e-9 {
        let percentile = 100.0 * (1.0 - 10f64.powf(-nines));
        points.push((
            nines,
            histogram.value_at_percentile(percentile).max(1) as f64,
        ));
        nines += NINES_STEP;
    }
    points.push((nines_max, histogram.max().max(1) as f64));
    Some(Curve {
        label: report.label.clone().unwrap_or(fallback_label),
        points,
        p99_us: histogram.value_at_percentile(99.0) as f64,
        throughput_per_s: figures.throughput_per_s,
    })
}

/// Latency with a unit and at most three decimals, trailing zeros dropped.
fn format_latency(us: f64) -> String {
    let (value, unit) = if us >= 1e6 {
        (us / 1e6, "s")
    } else if us >= 1e3 {
        (us / 1e3, "ms")
    } else {
        (us, "µs")
    };
    let digits = format!("{value:.3}");
    let digits = digits.trim_end_matches('0').trim_end_matches('.');
    format!("{digits} {unit}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Reads the result files and writes the chart.
pub fn write_chart(files: &[impl AsRef<Path>], title: &str, out: &Path) -> Result<(), String> {
    // Panels in order of first appearance; labels get colors the same way.
    let mut panels: Vec<(String, Vec<Curve>)> = Vec::new();
    let mut label_colors: BTreeMap<String, &str> = BTreeMap::new();
    for file in files {
        let file = file.as_ref();
        let report = read_report(file)?;
        let panel_title = report
            .title
            .clone()
            .unwrap_or_else(|| report.workload.clone());
        let Some(curve) = curve(&report, file.display().to_string()) else {
            continue;
        };
        let next_color = COLORS[label_colors.len() % COLORS.len()];
        label_colors
            .entry(curve.label.clone())
            .or_insert(next_color);
        match panels.iter_mut().find(|(name, _)| *name == panel_title) {
            Some((_, curves)) => curves.push(curve),
            None => panels.push((panel_title, vec![curve])),
        }
    }
    if panels.is_empty() {
        return Err("no result with any successful request".to_string());
    }
    let svg = render(title, &panels, &label_colors);
    std::fs::write(out, svg).map_err(|error| format!("{}: {error}", out.display()))
}

fn render(title: &str, panels: &[(String, Vec<Curve>)], colors: &BTreeMap<String, &str>) -> String {
    let rows = panels.len().div_ceil(PANEL_COLUMNS);
    let width = PANEL_WIDTH * PANEL_COLUMNS.min(panels.len()) as f64;
    let height = HEADER_HEIGHT + PANEL_HEIGHT * rows as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    for (index, (panel_title, curves)) in panels.iter().enumerate() {
        let left = PANEL_WIDTH * (index % PANEL_COLUMNS) as f64;
        let top = HEADER_HEIGHT + PANEL_HEIGHT * (index / PANEL_COLUMNS) as f64;
        render_panel(&mut svg, left, top, panel_title, curves, colors);
    }
    svg.push_str("</svg>\n");
    svg
}

fn render_panel(
    svg: &mut String,
    left: f64,
    top: f64,
    title: &str,
    curves: &[Curve],
    colors: &BTreeMap<String, &str>,
) {
    let plot_left = left + MARGIN_LEFT;
    let plot_right = left + PANEL_WIDTH - MARGIN_RIGHT;
    let plot_top = top + MARGIN_TOP;
    let plot_bottom = top + PANEL_HEIGHT - MARGIN_BOTTOM;
    let all_points = curves.iter().flat_map(|curve| curve.points.iter());
    let (low_us, high_us) = all_points.fold((f64::MAX, 1.0f64), |(low, high), &(_, us)| {
        (low.min(us), high.max(us))
    });
    let decade_low = low_us.log10().floor();
    let decade_high = high_us.log10().ceil().max(decade_low + 1.0);
    let x_of = |nines: f64| plot_left + (plot_right - plot_left) * nines / NINES_MAX;
    let y_of = |us: f64| {
        plot_bottom
            - (plot_bottom - plot_top) * (us.log10() - decade_low) / (decade_high - decade_low)
    };
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#,
        (plot_left + plot_right) / 2.0,
        top + 20.0,
        escape(title)
    );
    // Grid and axes.
    let mut decade = decade_low;
    while decade <= decade_high + 1e-9 {
        let y = y_of(10f64.powf(decade));
        let _ = writeln!(
            svg,
            r##"<line x1="{plot_left}" y1="{y:.1}" x2="{plot_right}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            plot_left - 4.0,
            y + 4.0,
            format_latency(10f64.powf(decade))
        );
        decade += 1.0;
    }
    for (nines, label) in [
        (0.0, "p0"),
        (1.0, "p90"),
        (2.0, "p99"),
        (3.0, "p99.9"),
        (4.0, "p99.99"),
    ] {
        let x = x_of(nines);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{plot_top}" x2="{x:.1}" y2="{plot_bottom}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
            plot_bottom + 14.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">percentile</text>"##,
        (plot_left + plot_right) / 2.0,
        plot_bottom + 30.0
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{plot_left}" y="{plot_top}" width="{}" height="{}" fill="none" stroke="#888"/>"##,
        plot_right - plot_left,
        plot_bottom - plot_top
    );
    // Curves and legend.
    for (index, curve) in curves.iter().enumerate() {
        let color = colors.get(&curve.label).copied().unwrap_or("#000");
        let points: Vec<String> = curve
            .points
            .iter()
            .map(|&(nines, us)| format!("{:.1},{:.1}", x_of(nines), y_of(us)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{}"/>"#,
            points.join(" ")
        );
        // Legend bottom right: curves rise to the right, so that corner stays clear.
        let legend_left = plot_right - LEGEND_WIDTH;
        let legend_y = plot_bottom - 12.0 - 15.0 * (curves.len() - 1 - index) as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{LEGEND_WIDTH}" height="15" fill="white" fill-opacity="0.8"/><line x1="{:.1}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{} — {:.0}/s, p99 {}</text>"#,
            legend_left - 4.0,
            legend_y - 8.0,
            legend_left,
            legend_left + 18.0,
            legend_left + 22.0,
            legend_y + 4.0,
            escape(&curve.label),
            curve.throughput_per_s,
            format_latency(curve.p99_us)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_labels_drop_trailing_zeros() {
        assert_eq!(format_latency(100.0), "100 µs");
        assert_eq!(format_latency(1_000.0), "1 ms");
        assert_eq!(format_latency(2_500.0), "2.5 ms");
        assert_eq!(format_latency(10_000_000.0), "10 s");
    }
}
