//! Writing answers for people: masses and shares with exact decimals computed on integers (never
//! floating point), and lineages as Graphviz DOT.
//!
//! ```
//! use lode_query::render::{mass, percent, share};
//! assert_eq!(mass(19_990_000), "19.990 t");
//! assert_eq!(mass(19_990_123), "19.990123 t");
//! assert_eq!(mass(250_500), "250.500 kg");
//! assert_eq!(share(750_000), "75.0000%");
//! assert_eq!(percent(-10_000, 20_000_000), "-0.050%");
//! ```

use std::fmt::Write as _;

pub use crate::svg::xml_escape;
use crate::trace::{TraceEdge, TracedLot};
use crate::{TraceBack, TraceForward};

const G_PER_KG: u64 = 1_000;
const G_PER_T: u64 = 1_000_000;

/// An integer with `,` between groups of three digits: `1,234,567`.
pub fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A mass in grams, exactly: below a tonne in kilograms with three decimals (`250.500 kg`); from a
/// tonne on in tonnes, with three decimals when it is whole kilograms (`19.990 t`) and six otherwise
/// (`19.990123 t`).
pub fn mass(g: u64) -> String {
    if g < G_PER_T {
        format!("{}.{:03} kg", thousands(u128::from(g / G_PER_KG)), g % G_PER_KG)
    } else if g % G_PER_KG == 0 {
        format!("{}.{:03} t", thousands(u128::from(g / G_PER_T)), (g % G_PER_T) / G_PER_KG)
    } else {
        format!("{}.{:06} t", thousands(u128::from(g / G_PER_T)), g % G_PER_T)
    }
}

/// A mass in grams as kilograms with exactly three decimals and no separators, for machines (CSV
/// and EPCIS exports): `1234.567`, `0.001`, `20000.000`. Exact: grams are thousandths of a kilogram.
pub fn kg(g: u128) -> String {
    format!("{}.{:03}", g / u128::from(G_PER_KG), g % u128::from(G_PER_KG))
}

/// A signed mass in grams as [`kg`] with a minus sign when negative: `-10.000`, `0.000`, `2.500`.
pub fn signed_kg(g: i128) -> String {
    let sign = if g < 0 { "-" } else { "" };
    format!("{sign}{}", kg(g.unsigned_abs()))
}

/// A signed mass difference in grams, as [`mass`] with a sign: `-10.000 kg`, `+1.250 t`, `0.000 kg`.
pub fn signed_mass(g: i128) -> String {
    let magnitude = u64::try_from(g.unsigned_abs()).unwrap_or(u64::MAX);
    match g.signum() {
        -1 => format!("-{}", mass(magnitude)),
        1 => format!("+{}", mass(magnitude)),
        _ => mass(0),
    }
}

/// `part / whole` as a percentage with three decimals, truncated toward zero: `-0.050%`. A whole
/// of 0 gives `0.000%`.
pub fn percent(part: i128, whole: u128) -> String {
    if whole == 0 {
        return "0.000%".to_string();
    }
    // Thousandths of a percent: part × 100,000 / whole. Masses are at most 10^12 g, so this fits.
    let scaled = part.unsigned_abs().saturating_mul(100_000) / whole;
    let sign = if part < 0 && scaled > 0 { "-" } else { "" };
    format!("{sign}{}.{:03}%", scaled / 1000, scaled % 1000)
}

/// A share in parts per million as a percentage with four decimals, exactly: `75.0000%`.
pub fn share(ppm: u32) -> String {
    format!("{}.{:04}%", ppm / 10_000, ppm % 10_000)
}

/// Parts per million with thousands separators: `750,000 ppm`.
pub fn ppm(ppm: u32) -> String {
    format!("{} ppm", thousands(u128::from(ppm)))
}

/// A table for people: the header and rows in columns two spaces apart, each as wide as its widest
/// cell (in characters), right-aligned where `right` says, indented by two spaces, with no trailing
/// white space; `  none` when there are no rows.
pub fn table(header: &[&str], right: &[bool], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return "  none\n".to_string();
    }
    let mut all = Vec::with_capacity(rows.len() + 1);
    all.push(header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    all.extend(rows);
    for row in &mut all {
        row[0] = format!("  {}", row[0]);
    }
    columns(right, &all)
}

/// Rows in columns two spaces apart, each as wide as its widest cell (in characters), right-aligned
/// where `right` says; one line each, without trailing white space.
pub fn columns(right: &[bool], rows: &[Vec<String>]) -> String {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; count];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The date of an RFC 3339 time as written: its first ten characters (`2025-03-10`).
pub fn date(occurred_at: &str) -> &str {
    occurred_at.get(..10).unwrap_or(occurred_at)
}

impl TraceBack {
    /// The lineage as Graphviz DOT: the mines on the left, the traced lot on the right, each
    /// transformation an edge labelled with its process, site, date and masses.
    pub fn to_dot(&self) -> String {
        dot(&format!("trace back of {}", self.lot), &self.lots, &self.edges)
    }
}

impl TraceForward {
    /// The descendants as Graphviz DOT: the mine (if the lot was extracted) and the lot on the left,
    /// what was made from it on the right.
    pub fn to_dot(&self) -> String {
        dot(&format!("trace forward of {}", self.lot), &self.lots, &self.edges)
    }
}

/// A DOT quoted string.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn dot(title: &str, lots: &[TracedLot], edges: &[TraceEdge]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "digraph lineage {{");
    let _ = writeln!(out, "  label={};", quoted(title));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [shape=box, fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=9];");
    let mut mines: Vec<(&str, String)> = Vec::new();
    for lot in lots {
        let place = match lot.site_country {
            Some(c) => format!("{} ({c})", lot.site),
            None => lot.site.to_string(),
        };
        let label =
            format!("{}\n{}, {}\n{} at {}, {}", lot.lot, lot.form, lot.status, mass(lot.mass_g), place, lot.custodian);
        let style = if lot.generation == 0 { ", style=bold" } else { "" };
        let _ = writeln!(out, "  {} [label={}{style}];", quoted(lot.lot.as_str()), quoted(&label));
        if let Some(mine) = &lot.mine {
            let node = format!("mine:{mine}");
            if !mines.iter().any(|(m, _)| *m == mine.as_str()) {
                let country = lot.made.country.map(|c| format!(" ({c})")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {} [label={}, shape=invhouse];",
                    quoted(&node),
                    quoted(&format!("mine {mine}{country}"))
                );
                mines.push((mine.as_str(), node.clone()));
            }
            let label = format!("extracted {}", date(&lot.made.occurred_at));
            let _ = writeln!(out, "  {} -> {} [label={}];", quoted(&node), quoted(lot.lot.as_str()), quoted(&label));
        }
    }
    for e in edges {
        let process = e.process.map_or("transformed", |p| p.as_str());
        let place = match e.country {
            Some(c) => format!("{} ({c})", e.site),
            None => e.site.to_string(),
        };
        let label =
            format!("{process} at {place}\n{}\n{} → {}", date(&e.occurred_at), mass(e.input_g), mass(e.output_g));
        let _ = writeln!(
            out,
            "  {} -> {} [label={}];",
            quoted(e.parent.as_str()),
            quoted(e.child.as_str()),
            quoted(&label)
        );
    }
    let _ = writeln!(out, "}}");
    out
}
