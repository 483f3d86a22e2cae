//! A picture of one simulation run: a self-contained HTML page (inline SVG and CSS,
//! no scripts, no fonts to fetch) that opens offline in any browser.
//!
//! ```text
//!   title
//!   ├────┼────┼────┼────┼────┤  time axis (ms)
//!   node 1 ▕ follower t1 ▕ leader t2 ▕▒▒ crashed ▒▒▕
//!   node 2 ▕ follower t1 ▕ candidate ▕ follower t2 ▕        ░ partition bands
//!   client 0  ▭ put ▭  ▭get▭   ▨ put ? ▨▸                   span every lane
//!   client 1    ▭ cas ▭ ▭ range ▭ [violation in red]
//! ```
//!
//! Node lanes show each member's role over time, coloured, with its term; faults
//! are translucent bands (partitions across every lane, node faults across their
//! node's lane); client lanes show operations as bars coloured by kind, with the
//! details in a tooltip. An indeterminate operation is hatched and runs on to the
//! client's next call, since its outcome could land any time after it was made. The
//! violating operation, if any, is outlined in red and explained under the picture.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::history::{Input, Operation};

/// Everything the picture shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    pub title: String,
    /// Where the time axis ends.
    pub end_ms: u64,
    /// One lane per node, in this order.
    pub nodes: Vec<u64>,
    pub roles: Vec<RoleSpan>,
    pub bands: Vec<Band>,
    /// Client operations; one lane per client that appears.
    pub ops: Vec<Operation>,
    /// The operation the checker could not linearize, and why.
    pub violation: Option<(u64, String)>,
    /// Free-form remarks pinned to a time.
    pub notes: Vec<(u64, String)>,
}

/// A node held `role` in `term` from `from_ms` to `to_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSpan {
    pub node: u64,
    pub from_ms: u64,
    pub to_ms: u64,
    pub role: Role,
    pub term: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Leader,
    Candidate,
    PreCandidate,
    Follower,
    Learner,
    Down,
}

/// A fault in force from `from_ms` to `to_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    pub kind: BandKind,
    pub from_ms: u64,
    pub to_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BandKind {
    Partition { description: String },
    Crash { node: u64 },
    DiskFault { node: u64, description: String },
    Pause { node: u64 },
    ClockSkew { node: u64 },
}

const LABEL_WIDTH_PX: f64 = 90.0;
const LANE_HEIGHT_PX: f64 = 22.0;
const LANE_GAP_PX: f64 = 4.0;
const AXIS_HEIGHT_PX: f64 = 24.0;
const SECTION_GAP_PX: f64 = 14.0;
const PLOT_WIDTH_PX_MIN: f64 = 900.0;
const PLOT_WIDTH_PX_MAX: f64 = 16_000.0;
/// Pixels per millisecond before clamping to the limits above.
const PX_PER_MS: f64 = 0.25;

/// Renders `timeline` as a complete HTML document.
pub fn render(timeline: &Timeline) -> String {
    let end_ms = timeline.end_ms.max(1);
    let plot_width = (end_ms as f64 * PX_PER_MS).clamp(PLOT_WIDTH_PX_MIN, PLOT_WIDTH_PX_MAX);
    let clients: Vec<u32> = timeline
        .ops
        .iter()
        .map(|op| op.client)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let layout = Layout {
        end_ms,
        plot_width,
        nodes: &timeline.nodes,
        clients: &clients,
    };

    let mut svg = String::new();
    let width = LABEL_WIDTH_PX + plot_width + 10.0;
    let height = layout.height();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}">"#
    );
    svg.push_str(HATCH_PATTERN);
    draw_axis(&mut svg, &layout, &timeline.notes);
    draw_node_lanes(&mut svg, &layout, &timeline.roles);
    draw_client_lanes(
        &mut svg,
        &layout,
        &timeline.ops,
        timeline.violation.as_ref(),
    );
    draw_bands(&mut svg, &layout, &timeline.bands);
    svg.push_str("</svg>\n");

    let mut html = String::new();
    let title = escape(&timeline.title);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    let _ = write!(html, "<div class=\"scroll\">\n{svg}</div>\n{LEGEND}");
    if let Some((id, explanation)) = &timeline.violation {
        let _ = write!(
            html,
            "<h2 class=\"violation\">Linearizability violation (op {id})</h2>\n<pre>{}</pre>\n",
            escape(explanation)
        );
    }
    if !timeline.notes.is_empty() {
        html.push_str("<h2>Notes</h2>\n<ul>\n");
        for (at_ms, note) in &timeline.notes {
            let _ = writeln!(html, "<li>{at_ms} ms: {}</li>", escape(note));
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</body>\n</html>\n");
    html
}

/// Where things go on the canvas.
struct Layout<'a> {
    end_ms: u64,
    plot_width: f64,
    nodes: &'a [u64],
    clients: &'a [u32],
}

impl Layout<'_> {
    fn x(&self, at_ms: u64) -> f64 {
        LABEL_WIDTH_PX + at_ms.min(self.end_ms) as f64 / self.end_ms as f64 * self.plot_width
    }

    fn node_lane_y(&self, index: usize) -> f64 {
        AXIS_HEIGHT_PX + index as f64 * (LANE_HEIGHT_PX + LANE_GAP_PX)
    }

    fn nodes_bottom(&self) -> f64 {
        self.node_lane_y(self.nodes.len())
    }

    fn client_lane_y(&self, index: usize) -> f64 {
        self.nodes_bottom() + SECTION_GAP_PX + index as f64 * (LANE_HEIGHT_PX + LANE_GAP_PX)
    }

    fn height(&self) -> f64 {
        self.client_lane_y(self.clients.len()) + 6.0
    }

    fn node_index(&self, node: u64) -> Option<usize> {
        self.nodes.iter().position(|&candidate| candidate == node)
    }
}

fn draw_axis(svg: &mut String, layout: &Layout<'_>, notes: &[(u64, String)]) {
    let step_ms = tick_step_ms(layout.end_ms);
    let bottom = layout.height() - 6.0;
    let _ = writeln!(svg, r#"<g class="axis">"#);
    let mut at_ms = 0;
    while at_ms <= layout.end_ms {
        let x = layout.x(at_ms);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom:.1}" class="grid"/><text x="{x:.1}" y="12" class="tick">{at_ms} ms</text>"#,
            AXIS_HEIGHT_PX - 6.0
        );
        at_ms += step_ms;
    }
    for (at_ms, note) in notes {
        let x = layout.x(*at_ms);
        let _ = writeln!(
            svg,
            r#"<g class="note"><title>{at_ms} ms: {}</title><path d="M{x:.1} {y:.1} l-4 -6 h8 z"/></g>"#,
            escape(note),
            y = AXIS_HEIGHT_PX - 2.0
        );
    }
    svg.push_str("</g>\n");
}

/// A round tick spacing (1, 2 or 5 times a power of ten) giving 10 to 25 ticks.
fn tick_step_ms(end_ms: u64) -> u64 {
    let mut step = 1;
    loop {
        for factor in [1, 2, 5] {
            if end_ms / (step * factor) <= 25 {
                return step * factor;
            }
        }
        step *= 10;
    }
}

fn draw_node_lanes(svg: &mut String, layout: &Layout<'_>, roles: &[RoleSpan]) {
    for (index, node) in layout.nodes.iter().enumerate() {
        let y = layout.node_lane_y(index);
        let _ = writeln!(
            svg,
            r#"<g class="lane lane-node" data-node="{node}"><text x="4" y="{:.1}" class="label">node {node}</text><rect x="{LABEL_WIDTH_PX}" y="{y:.1}" width="{:.1}" height="{LANE_HEIGHT_PX}" class="lane-bg"/>"#,
            y + LANE_HEIGHT_PX * 0.7,
            layout.plot_width
        );
        for span in roles.iter().filter(|span| span.node == *node) {
            let (x1, x2) = (layout.x(span.from_ms), layout.x(span.to_ms));
            let width = (x2 - x1).max(1.0);
            let (class, name) = role_style(span.role);
            let _ = write!(
                svg,
                r#"<rect x="{x1:.1}" y="{y:.1}" width="{width:.1}" height="{LANE_HEIGHT_PX}" class="role {class}"><title>node {node}: {name}, term {term}, {from} ms to {to} ms</title></rect>"#,
                term = span.term,
                from = span.from_ms,
                to = span.to_ms
            );
            if width > 26.0 && span.role != Role::Down {
                let _ = write!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" class="term">t{}</text>"#,
                    x1 + 3.0,
                    y + LANE_HEIGHT_PX * 0.7,
                    span.term
                );
            }
            svg.push('\n');
        }
        svg.push_str("</g>\n");
    }
}

fn role_style(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Leader => ("leader", "leader"),
        Role::Candidate => ("candidate", "candidate"),
        Role::PreCandidate => ("precandidate", "pre-candidate"),
        Role::Follower => ("follower", "follower"),
        Role::Learner => ("learner", "learner"),
        Role::Down => ("down", "down"),
    }
}

fn draw_client_lanes(
    svg: &mut String,
    layout: &Layout<'_>,
    ops: &[Operation],
    violation: Option<&(u64, String)>,
) {
    for (index, client) in layout.clients.iter().enumerate() {
        let y = layout.client_lane_y(index);
        let _ = writeln!(
            svg,
            r#"<g class="lane lane-client" data-client="{client}"><text x="4" y="{:.1}" class="label">client {client}</text><rect x="{LABEL_WIDTH_PX}" y="{y:.1}" width="{:.1}" height="{LANE_HEIGHT_PX}" class="lane-bg"/>"#,
            y + LANE_HEIGHT_PX * 0.7,
            layout.plot_width
        );
        let mut mine: Vec<&Operation> = ops.iter().filter(|op| op.client == *client).collect();
        mine.sort_by_key(|op| (op.call_ms, op.id));
        for (position, op) in mine.iter().enumerate() {
            // An indeterminate operation runs on until the client's next call.
            let next_call_ms = mine
                .get(position + 1)
                .map_or(layout.end_ms, |next| next.call_ms);
            let end_ms = op.return_ms.unwrap_or(next_call_ms.max(op.call_ms));
            let (x1, x2) = (layout.x(op.call_ms), layout.x(end_ms));
            let width = (x2 - x1).max(1.5);
            let failed = violation.is_some_and(|(id, _)| *id == op.id);
            let mut classes = format!("op {}", op_kind(&op.input));
            if op.is_indeterminate() {
                classes.push_str(" indeterminate");
            }
            if failed {
                classes.push_str(" failed");
            }
            let _ = write!(
                svg,
                r#"<rect x="{x1:.1}" y="{:.1}" width="{width:.1}" height="{:.1}" class="{classes}"><title>{}</title></rect>"#,
                y + 3.0,
                LANE_HEIGHT_PX - 6.0,
                escape(&op_tooltip(op))
            );
            if failed {
                let _ = write!(
                    svg,
                    r#"<line x1="{x1:.1}" y1="{}" x2="{x1:.1}" y2="{:.1}" class="failed-line"/>"#,
                    AXIS_HEIGHT_PX,
                    layout.height() - 6.0
                );
            }
            svg.push('\n');
        }
        svg.push_str("</g>\n");
    }
}

fn op_kind(input: &Input) -> &'static str {
    match input {
        Input::Put { .. } => "put",
        Input::Get { .. } => "get",
        Input::Delete { .. } => "delete",
        Input::Cas { .. } => "cas",
        Input::Range { .. } => "range",
    }
}

fn op_tooltip(op: &Operation) -> String {
    let mut text = op.to_string();
    if op.is_indeterminate() {
        text.push_str("\noutcome unknown: it may take effect at any time after its call, or never");
    }
    text
}

fn draw_bands(svg: &mut String, layout: &Layout<'_>, bands: &[Band]) {
    let _ = writeln!(svg, r#"<g class="bands">"#);
    for band in bands {
        let (x1, x2) = (layout.x(band.from_ms), layout.x(band.to_ms));
        let width = (x2 - x1).max(1.0);
        let (class, node, what) = match &band.kind {
            BandKind::Partition { description } => {
                ("partition", None, format!("partition: {description}"))
            }
            BandKind::Crash { node } => ("crash", Some(*node), format!("node {node} crashed")),
            BandKind::DiskFault { node, description } => (
                "disk",
                Some(*node),
                format!("node {node} disk fault: {description}"),
            ),
            BandKind::Pause { node } => ("pause", Some(*node), format!("node {node} paused")),
            BandKind::ClockSkew { node } => {
                ("skew", Some(*node), format!("node {node} clock skewed"))
            }
        };
        // A node fault covers its node's lane; a partition covers every lane.
        let (y, height) = match node.and_then(|node| layout.node_index(node)) {
            Some(index) => (layout.node_lane_y(index), LANE_HEIGHT_PX),
            None => (AXIS_HEIGHT_PX, layout.height() - 6.0 - AXIS_HEIGHT_PX),
        };
        let _ = writeln!(
            svg,
            r#"<rect x="{x1:.1}" y="{y:.1}" width="{width:.1}" height="{height:.1}" class="band {class}"><title>{} ({} ms to {} ms)</title></rect>"#,
            escape(&what),
            band.from_ms,
            band.to_ms
        );
    }
    svg.push_str("</g>\n");
}

/// Escapes text for HTML element content and attribute values alike.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

const HATCH_PATTERN: &str = r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#888" stroke-width="3"/></pattern></defs>
"##;

const STYLE: &str = r##"
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; } h2 { font-size: 15px; }
.scroll { overflow-x: auto; border: 1px solid #ddd; }
svg text { font: 11px monospace; }
.tick { fill: #666; text-anchor: middle; }
.grid { stroke: #eee; }
.label { fill: #333; }
.lane-bg { fill: #fafafa; }
.role { stroke: #fff; stroke-width: 0.5; }
.leader { fill: #f2b705; } .candidate { fill: #f28705; } .precandidate { fill: #f8c58a; }
.follower { fill: #9cc3e6; } .learner { fill: #b5dfb0; } .down { fill: #555; }
.term { fill: #222; font-size: 10px; }
.op { stroke: #fff; stroke-width: 0.5; opacity: 0.9; }
.put { fill: #2f6fdf; } .get { fill: #2e9e4f; } .delete { fill: #d9622b; }
.cas { fill: #8e44ad; } .range { fill: #16a2a2; }
.indeterminate { fill: url(#hatch); stroke: #444; stroke-dasharray: 3 2; }
.failed { stroke: #e00; stroke-width: 3; }
.failed-line { stroke: #e00; stroke-width: 1; stroke-dasharray: 4 3; }
.band { pointer-events: all; }
.partition { fill: #e74c3c; opacity: 0.12; }
.crash { fill: #000; opacity: 0.35; } .disk { fill: #8e44ad; opacity: 0.3; }
.pause { fill: #7f8c8d; opacity: 0.35; } .skew { fill: #16a085; opacity: 0.25; }
.note path { fill: #c0392b; }
.legend span { display: inline-block; margin-right: 12px; }
.legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: middle; }
.violation { color: #c00; }
pre { background: #fdf2f2; border: 1px solid #f5c6c6; padding: 8px; white-space: pre-wrap; }
"##;

const LEGEND: &str = r##"<p class="legend">
<span><i style="background:#f2b705"></i>leader</span><span><i style="background:#f28705"></i>candidate</span><span><i style="background:#f8c58a"></i>pre-candidate</span><span><i style="background:#9cc3e6"></i>follower</span><span><i style="background:#b5dfb0"></i>learner</span><span><i style="background:#555"></i>down</span>
<br>
<span><i style="background:#2f6fdf"></i>put</span><span><i style="background:#2e9e4f"></i>get</span><span><i style="background:#d9622b"></i>delete</span><span><i style="background:#8e44ad"></i>cas</span><span><i style="background:#16a2a2"></i>range</span><span><i style="border:1px dashed #444"></i>outcome unknown</span>
<br>
<span><i style="background:rgba(231,76,60,0.3)"></i>partition</span><span><i style="background:rgba(0,0,0,0.35)"></i>crash</span><span><i style="background:rgba(142,68,173,0.3)"></i>disk fault</span><span><i style="background:rgba(127,140,141,0.35)"></i>pause</span><span><i style="background:rgba(22,160,133,0.25)"></i>clock skew</span>
</p>
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Output;

    fn sample() -> Timeline {
        let op = |id, client, call_ms, return_ms: Option<u64>, input: Input, output| Operation {
            id,
            client,
            call_ms,
            return_ms,
            input,
            output: return_ms.map(|_| output),
        };
        Timeline {
            title: "seed 42 <bug: local-reads>".into(),
            end_ms: 3_000,
            nodes: vec![1, 2, 3],
            roles: vec![
                RoleSpan {
                    node: 1,
                    from_ms: 0,
                    to_ms: 1_000,
                    role: Role::Follower,
                    term: 1,
                },
                RoleSpan {
                    node: 1,
                    from_ms: 1_000,
                    to_ms: 3_000,
                    role: Role::Leader,
                    term: 2,
                },
                RoleSpan {
                    node: 2,
                    from_ms: 0,
                    to_ms: 3_000,
                    role: Role::Follower,
                    term: 2,
                },
                RoleSpan {
                    node: 3,
                    from_ms: 500,
                    to_ms: 900,
                    role: Role::Down,
                    term: 1,
                },
            ],
            bands: vec![
                Band {
                    kind: BandKind::Partition {
                        description: "{1} | {2, 3} & <more>".into(),
                    },
                    from_ms: 1_200,
                    to_ms: 2_000,
                },
                Band {
                    kind: BandKind::Crash { node: 3 },
                    from_ms: 500,
                    to_ms: 900,
                },
            ],
            ops: vec![
                op(
                    0,
                    0,
                    100,
                    Some(150),
                    Input::Put {
                        key: "k<1>".into(),
                        value: "v\"0\"".into(),
                    },
                    Output::Put,
                ),
                op(
                    1,
                    0,
                    200,
                    None,
                    Input::Delete { key: "k1".into() },
                    Output::Delete { deleted: 1 },
                ),
                op(
                    2,
                    1,
                    300,
                    Some(420),
                    Input::Get { key: "k1".into() },
                    Output::Get(Some("v0".into())),
                ),
            ],
            violation: Some((2, "get(k1) -> Some(v0) <stale>".into())),
            notes: vec![(1_000, "leader elected & <ready>".into())],
        }
    }

    #[test]
    fn renders_a_self_contained_page_with_a_lane_per_node_and_client() {
        let html = render(&sample());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<svg"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(!html.contains("<script"), "no scripts");
        assert!(!html.contains("http://") || html.matches("http://").count() == 1);
        assert_eq!(html.matches(r#"class="lane lane-node""#).count(), 3);
        assert_eq!(html.matches(r#"class="lane lane-client""#).count(), 2);
        assert_eq!(html.matches(r#"class="role "#).count(), 4);
        assert!(html.contains("class=\"op delete indeterminate\""));
        assert!(html.contains("class=\"op get failed\""));
        assert!(html.contains(">t2</text>"));
    }

    #[test]
    fn escapes_every_piece_of_text() {
        let html = render(&sample());
        assert!(html.contains("seed 42 &lt;bug: local-reads&gt;"));
        assert!(html.contains("{1} | {2, 3} &amp; &lt;more&gt;"));
        assert!(html.contains("put(k&lt;1&gt;, v&quot;0&quot;)"));
        assert!(html.contains("Some(v0) &lt;stale&gt;"));
        assert!(html.contains("leader elected &amp; &lt;ready&gt;"));
        assert!(!html.contains("<bug"));
        assert!(!html.contains("<stale>"));
        assert!(!html.contains("<more>"));
    }

    #[test]
    fn tags_balance() {
        let html = render(&sample());
        for tag in ["svg", "g", "title", "rect", "text", "pre", "ul", "style"] {
            let opened = html.matches(&format!("<{tag} ")).count()
                + html.matches(&format!("<{tag}>")).count();
            let closed = html.matches(&format!("</{tag}>")).count();
            let self_closed = html
                .split(&format!("<{tag} "))
                .skip(1)
                .filter(|rest| {
                    rest.split('>')
                        .next()
                        .is_some_and(|attrs| attrs.ends_with('/'))
                })
                .count();
            assert_eq!(opened, closed + self_closed, "<{tag}> does not balance");
        }
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step_ms(3_000), 200);
        assert_eq!(tick_step_ms(40_000), 2_000);
        assert_eq!(tick_step_ms(10), 1);
        assert_eq!(tick_step_ms(0), 1);
    }
}
