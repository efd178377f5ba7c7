//! Lineages as SVG pictures, drawn here with nothing to install: a layered layout with the mines
//! on the left and what was made from them on the right, each transformation an arrow labelled
//! with its process, site, date and masses, and every lot whose making happened in a covered
//! country framed in red.
//!
//! The layout is computed on integers: the text is monospace, so a line's width is its number of
//! characters times a fixed advance. Layers are the longest path from a source (an extracted lot,
//! or the traced lot going forward), mines one layer before their lots; within a layer, lots are
//! ordered by the mean position of their neighbours (a few barycentre sweeps), to keep arrows from
//! crossing.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use lode_domain::Country;

use crate::render::{date, mass, share};
use crate::trace::{TraceEdge, TracedLot};
use crate::{TraceBack, TraceForward};

/// Advance of one character of the 11 px monospace text, rounded up.
const CHAR_W: i64 = 7;
const LINE_H: i64 = 14;
const PAD: i64 = 8;
const MARGIN: i64 = 24;
const GAP_Y: i64 = 28;
/// Lines of text in a box.
const BOX_LINES: i64 = 5;
const BOX_H: i64 = BOX_LINES * LINE_H + 2 * PAD;
const COVERED_STROKE: &str = "#c62828";

impl TraceBack {
    /// The lineage as an SVG picture: the mines on the left, the traced lot on the right. A lot
    /// whose making recorded a stage (mining, separation, metal, magnet) in one of the `covered`
    /// countries is framed in red. Pure: the server serves it as `GET /v1/lots/{lot}/graph.svg`.
    pub fn to_svg(&self, covered: &BTreeSet<Country>) -> String {
        let origin: Vec<String> = self.origin.iter().map(|m| format!("{} {}", m.mine, share(m.ppm))).collect();
        let subtitle = format!("origin: {}", if origin.is_empty() { "-".to_string() } else { origin.join(", ") });
        let truncated = self.truncated.then_some(self.lots_max);
        draw(&format!("Trace back of {}", self.lot), &subtitle, &self.lots, &self.edges, covered, truncated)
    }
}

impl TraceForward {
    /// The descendants as an SVG picture: the lot (after its mine, if it was extracted) on the
    /// left, what was made from it on the right, framed in red as [`TraceBack::to_svg`] does.
    pub fn to_svg(&self, covered: &BTreeSet<Country>) -> String {
        let subtitle = format!("{} lots made from it", self.lots.len().saturating_sub(1));
        let truncated = self.truncated.then_some(self.lots_max);
        draw(&format!("Trace forward (recall) of {}", self.lot), &subtitle, &self.lots, &self.edges, covered, truncated)
    }
}

/// Text for XML character data and attribute values: the five special characters as entities,
/// and characters XML 1.0 cannot carry as U+FFFD.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn width_of(line: &str) -> i64 {
    i64::try_from(line.chars().count()).unwrap_or(i64::MAX / 2).saturating_mul(CHAR_W)
}

/// A box of the picture: a mine or a lot.
#[derive(Debug)]
struct Node {
    lines: Vec<String>,
    /// The tooltip.
    title: String,
    covered: bool,
    bold: bool,
    mine: bool,
    layer: usize,
    /// Its index within its layer.
    rank: usize,
}

/// An arrow from node `from` to node `to`.
#[derive(Debug)]
struct Arrow {
    from: usize,
    to: usize,
    label: Vec<String>,
}

fn place(site: &impl std::fmt::Display, country: Option<Country>) -> String {
    match country {
        Some(c) => format!("{site} ({c})"),
        None => site.to_string(),
    }
}

fn draw(
    title: &str,
    subtitle: &str,
    lots: &[TracedLot],
    edges: &[TraceEdge],
    covered: &BTreeSet<Country>,
    truncated: Option<usize>,
) -> String {
    let is_covered = |c: Option<Country>| c.is_some_and(|c| covered.contains(&c));
    let mut nodes: Vec<Node> = Vec::new();
    let mut arrows: Vec<Arrow> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, lot) in lots.iter().enumerate() {
        let stage_covered = lot.stage.is_some() && is_covered(lot.made.country);
        let stage = match (lot.stage, lot.made.country) {
            (Some(s), Some(c)) if stage_covered => format!("{s} in {c} (covered)"),
            (Some(s), Some(c)) => format!("{s} in {c}"),
            (Some(s), None) => s.to_string(),
            (None, _) => String::new(),
        };
        let status = lot.status.as_str().replace('_', " ");
        let made = match lot.made.process {
            Some(p) => format!("made by {p} #{} {}", lot.made.seq, date(&lot.made.occurred_at)),
            None => format!("extracted #{} {}", lot.made.seq, date(&lot.made.occurred_at)),
        };
        nodes.push(Node {
            lines: vec![
                lot.lot.to_string(),
                format!("{}, {status}", lot.form),
                mass(lot.mass_g),
                place(&lot.site, lot.site_country),
                stage,
            ],
            title: format!(
                "{}: {}, {status}, {}; held by {}; {made}",
                lot.lot,
                lot.form,
                mass(lot.mass_g),
                lot.custodian
            ),
            covered: stage_covered,
            bold: i == 0,
            mine: false,
            layer: 0,
            rank: 0,
        });
        index.insert(lot.lot.to_string(), nodes.len() - 1);
    }
    // Mines, one box each, before the lots extracted there.
    let mut mines: HashMap<String, usize> = HashMap::new();
    for (i, lot) in lots.iter().enumerate() {
        let Some(mine) = &lot.mine else {
            continue;
        };
        let m = *mines.entry(mine.to_string()).or_insert_with(|| {
            let country = lot.made.country;
            let c = is_covered(country);
            nodes.push(Node {
                lines: vec![
                    "mine".to_string(),
                    mine.to_string(),
                    country.map(|c| c.to_string()).unwrap_or_default(),
                    String::new(),
                    if c { "mining in a covered country".to_string() } else { String::new() },
                ],
                title: format!("mine {}", place(mine, country)),
                covered: c,
                bold: false,
                mine: true,
                layer: 0,
                rank: 0,
            });
            nodes.len() - 1
        });
        arrows.push(Arrow { from: m, to: i, label: vec![format!("extracted {}", date(&lot.made.occurred_at))] });
    }
    for e in edges {
        let (Some(&from), Some(&to)) = (index.get(e.parent.as_str()), index.get(e.child.as_str())) else {
            continue;
        };
        let process = e.process.map_or("transformed", |p| p.as_str());
        arrows.push(Arrow {
            from,
            to,
            label: vec![
                format!("{process} at {}", place(&e.site, e.country)),
                format!("#{} {}", e.seq, date(&e.occurred_at)),
                format!("{} → {}", mass(e.input_g), mass(e.output_g)),
            ],
        });
    }
    layer(&mut nodes, lots.len(), edges, &index, !mines.is_empty());
    let layers = order(&mut nodes, &arrows);

    // Geometry, on integers.
    let box_w = nodes.iter().flat_map(|n| n.lines.iter()).map(|l| width_of(l)).max().unwrap_or(0).max(120) + 2 * PAD;
    let gap_x =
        arrows.iter().flat_map(|a| a.label.iter()).map(|l| width_of(l)).max().unwrap_or(0).max(60) + 2 * PAD + 24;
    let row_h = BOX_H + GAP_Y;
    let tallest = layers.iter().map(Vec::len).max().unwrap_or(1) as i64;
    let header_h = 3 * LINE_H + PAD;
    let top = MARGIN + header_h;
    let layer_count = layers.len() as i64;
    let width = (2 * MARGIN + layer_count * box_w + (layer_count - 1).max(0) * gap_x).max(width_of(title) + 2 * MARGIN);
    let legend_h = 3 * LINE_H;
    let x_of = |n: &Node| MARGIN + n.layer as i64 * (box_w + gap_x);
    let y_of = |n: &Node| {
        let count = layers[n.layer].len() as i64;
        top + (tallest - count) * row_h / 2 + n.rank as i64 * row_h
    };
    // Each label sits in the gap before the box its arrow points at, level with the arrow there;
    // labels that would overlap in one gap are pushed down, in order, until they do not.
    let mut labels: Vec<(i64, i64, i64, i64)> = arrows
        .iter()
        .map(|a| {
            let (from, to) = (&nodes[a.from], &nodes[a.to]);
            let (y1, y2) = (y_of(from) + BOX_H / 2, y_of(to) + BOX_H / 2);
            let cy = if to.layer == from.layer + 1 { (y1 + y2) / 2 } else { y2 + (y1 - y2) / 8 };
            let w = a.label.iter().map(|l| width_of(l)).max().unwrap_or(0) + PAD;
            let h = a.label.len() as i64 * LINE_H + 4;
            (x_of(to) - gap_x / 2 - w / 2, cy - h / 2, w, h)
        })
        .collect();
    let mut by_gap: Vec<usize> = (0..labels.len()).collect();
    by_gap.sort_by_key(|&i| (nodes[arrows[i].to].layer, labels[i].1, i));
    for pair in 1..by_gap.len() {
        let (prev, this) = (by_gap[pair - 1], by_gap[pair]);
        if nodes[arrows[prev].to].layer == nodes[arrows[this].to].layer {
            let bottom = labels[prev].1 + labels[prev].3 + 2;
            labels[this].1 = labels[this].1.max(bottom);
        }
    }
    let lowest = labels.iter().map(|l| l.1 + l.3).max().unwrap_or(0);
    let height = (top + tallest * row_h).max(lowest + GAP_Y) + legend_h + MARGIN;

    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(out, "<title>{}</title>", xml_escape(title));
    let _ = writeln!(
        out,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555555"/></marker></defs>"##
    );
    let _ = writeln!(out, r##"<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>"##);
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        MARGIN + LINE_H,
        xml_escape(title)
    );
    let _ = writeln!(out, r#"<text x="{MARGIN}" y="{}">{}</text>"#, MARGIN + 2 * LINE_H + 4, xml_escape(subtitle));

    let _ = writeln!(out, r##"<g fill="none" stroke="#555555" stroke-width="1.5">"##);
    for a in &arrows {
        let (from, to) = (&nodes[a.from], &nodes[a.to]);
        let (x1, y1) = (x_of(from) + box_w, y_of(from) + BOX_H / 2);
        let (x2, y2) = (x_of(to), y_of(to) + BOX_H / 2);
        let mx = (x1 + x2) / 2;
        let _ = writeln!(out, r#"<path d="M {x1} {y1} C {mx} {y1}, {mx} {y2}, {x2} {y2}" marker-end="url(#arrow)"/>"#);
    }
    let _ = writeln!(out, "</g>");

    for n in &nodes {
        let (x, y) = (x_of(n), y_of(n));
        let (fill, rx) = if n.mine { ("#f3e9dc", 14) } else { ("#eef3f8", 4) };
        let (stroke, stroke_w) = match (n.covered, n.bold) {
            (true, _) => (COVERED_STROKE, 3),
            (false, true) => ("#222222", 3),
            (false, false) => ("#7a8a99", 1),
        };
        let _ = writeln!(out, "<g>");
        let _ = writeln!(out, "<title>{}</title>", xml_escape(&n.title));
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="{y}" width="{box_w}" height="{BOX_H}" rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_w}"/>"#
        );
        for (i, line) in n.lines.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
            let ty = y + PAD + (i as i64 + 1) * LINE_H - 3;
            let weight = if i == 0 || (n.mine && i == 1) { r#" font-weight="bold""# } else { "" };
            let color = if n.covered && i + 1 == n.lines.len() {
                format!(r#" fill="{COVERED_STROKE}""#)
            } else {
                String::new()
            };
            let _ = writeln!(out, r#"<text x="{}" y="{ty}"{weight}{color}>{}</text>"#, x + PAD, xml_escape(line));
        }
        let _ = writeln!(out, "</g>");
    }

    // Labels last, over the arrows, each in the gap before the box it points at.
    for (a, (lx, ly, w, h)) in arrows.iter().zip(&labels) {
        let _ =
            writeln!(out, r##"<rect x="{lx}" y="{ly}" width="{w}" height="{h}" fill="#ffffff" fill-opacity="0.85"/>"##);
        let cx = lx + w / 2;
        for (i, line) in a.label.iter().enumerate() {
            let ty = ly + (i as i64 + 1) * LINE_H - 2;
            let _ = writeln!(
                out,
                r##"<text x="{cx}" y="{ty}" text-anchor="middle" fill="#333333">{}</text>"##,
                xml_escape(line)
            );
        }
    }

    // The legend.
    let ly = height - MARGIN - legend_h + LINE_H;
    let list = covered.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        out,
        r##"<rect x="{MARGIN}" y="{}" width="14" height="10" fill="#ffffff" stroke="{COVERED_STROKE}" stroke-width="3"/>"##,
        ly - 9
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{ly}">made in a covered country ({})</text>"#,
        MARGIN + 22,
        xml_escape(if list.is_empty() { "none listed" } else { &list })
    );
    let _ = writeln!(
        out,
        r##"<rect x="{MARGIN}" y="{}" width="14" height="10" fill="#ffffff" stroke="#222222" stroke-width="3"/>"##,
        ly + LINE_H - 9
    );
    let _ = writeln!(out, r#"<text x="{}" y="{}">the traced lot</text>"#, MARGIN + 22, ly + LINE_H);
    if let Some(max) = truncated {
        let _ = writeln!(
            out,
            r#"<text x="{MARGIN}" y="{}" fill="{COVERED_STROKE}">truncated: more than {max} lots; some are missing</text>"#,
            ly + 2 * LINE_H
        );
    }
    let _ = writeln!(out, "</svg>");
    out
}

/// Gives every node its layer: lots the longest path from a source, mines the layer before.
fn layer(nodes: &mut [Node], lot_count: usize, edges: &[TraceEdge], index: &HashMap<String, usize>, mines: bool) {
    let mut layer = vec![0usize; lot_count];
    // A child is made after its parents, so edges in ledger order are in topological order.
    let mut sorted: Vec<&TraceEdge> = edges.iter().collect();
    sorted.sort_by_key(|e| e.seq);
    for e in sorted {
        if let (Some(&p), Some(&c)) = (index.get(e.parent.as_str()), index.get(e.child.as_str())) {
            layer[c] = layer[c].max(layer[p] + 1);
        }
    }
    let shift = usize::from(mines);
    for (n, l) in nodes.iter_mut().zip(layer) {
        n.layer = l + shift;
    }
}

/// Orders the nodes within each layer, and answers the layers as lists of node indexes.
fn order(nodes: &mut [Node], arrows: &[Arrow]) -> Vec<Vec<usize>> {
    let count = nodes.iter().map(|n| n.layer + 1).max().unwrap_or(1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, n) in nodes.iter().enumerate() {
        layers[n.layer].push(i);
    }
    let mut position = vec![0i64; nodes.len()];
    let set = |layers: &Vec<Vec<usize>>, position: &mut Vec<i64>| {
        for layer in layers {
            for (r, &i) in layer.iter().enumerate() {
                position[i] = r as i64;
            }
        }
    };
    set(&layers, &mut position);
    let mut before: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for a in arrows {
        before[a.to].push(a.from);
        after[a.from].push(a.to);
    }
    // Barycentre sweeps: left to right by predecessors, then right to left by successors. The
    // mean is kept as a fraction scaled by 1024, so that the order is exact and repeatable.
    for _ in 0..4 {
        for forward in [true, false] {
            let sequence: Vec<usize> =
                if forward { (1..count).collect() } else { (0..count.saturating_sub(1)).rev().collect() };
            for l in sequence {
                let mut keyed: Vec<(i64, i64, usize)> = layers[l]
                    .iter()
                    .map(|&i| {
                        let linked = if forward { &before[i] } else { &after[i] };
                        let neighbours: Vec<i64> = linked.iter().map(|&j| position[j]).collect();
                        let key = if neighbours.is_empty() {
                            position[i] * 1024
                        } else {
                            neighbours.iter().sum::<i64>() * 1024 / neighbours.len() as i64
                        };
                        (key, position[i], i)
                    })
                    .collect();
                keyed.sort();
                layers[l] = keyed.into_iter().map(|(_, _, i)| i).collect();
                set(&layers, &mut position);
            }
        }
    }
    for layer in &layers {
        for (r, &i) in layer.iter().enumerate() {
            nodes[i].rank = r;
        }
    }
    layers
}
