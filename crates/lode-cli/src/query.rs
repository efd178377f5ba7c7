//! Questions about lots: `lode trace`, `lode custody`, `lode audit`, `lode lots`, and the text form
//! and the past (`--as-of`) of `lode inventory`.
//!
//! Text is for people: aligned columns, masses in kg or t with exact decimals. JSON is for programs:
//! one object on one line (for lists, one per line) with the field names of `lode-query`'s answers.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use lode_domain::{Country, Form, LotStatus};
use lode_projections::view::{InventoryFilter, InventoryRow};
use lode_query::render::{date, mass, percent, ppm, share, signed_mass};
use lode_query::{
    AsOf, AsOfError, Audit, AuditOptions, Custody, Handover, Limits, LotFilter, LotList, QueryError, TraceBack,
    TraceEdge, TraceForward, TracedLot, Verdict,
};

use crate::output::print_json;
use crate::{rejected, Failed, EXIT_USAGE};

/// How an answer is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: aligned columns.
    Text,
    /// For programs: JSON.
    Json,
}

/// How a trace is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    /// For people: aligned columns.
    Text,
    /// For programs: JSON.
    Json,
    /// The lineage as a Graphviz graph: `lode trace LOT --format dot | dot -Tsvg > lineage.svg`.
    Dot,
    /// The lineage as an SVG picture, drawn by lode itself: `lode trace LOT --format svg > lineage.svg`.
    Svg,
}

/// Exit code 1 for a lot that is not there or a log that does not read, 2 otherwise.
fn query_failed(e: QueryError) -> Failed {
    match e {
        QueryError::LotNotFound { .. } | QueryError::Log { .. } => rejected(e.into()),
        other => Failed { code: EXIT_USAGE, error: other.into() },
    }
}

// -------------------------------------------------------------------------------------------------
// lode trace

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// The lot id.
    lot: String,
    /// Trace forward, to every lot made from it (a recall), instead of back to the mines.
    #[arg(long)]
    forward: bool,
    #[arg(long, value_enum, default_value_t = TraceFormat::Text)]
    format: TraceFormat,
    /// The most lots to visit, the lot itself included; a longer trace is cut and says so.
    #[arg(long, value_name = "N", default_value_t = lode_query::TRACE_LOTS_MAX)]
    limit: usize,
    /// With --format svg: lots made in these countries are framed in red (ISO 3166-1 alpha-2 codes,
    /// comma separated).
    #[arg(long, value_name = "CN,RU,…", default_value = "CN,RU,KP,IR")]
    covered: String,
}

/// `lode trace LOT`: the lot's ancestors down to the mines with its origin and stages, or with
/// `--forward` its descendants with their custodians, statuses and sites.
pub fn trace(dir: &Path, args: TraceArgs) -> Result<(), Failed> {
    let covered = parse_countries(&args.covered)?;
    let (store, ledger) = crate::derived::open(dir, false)?;
    let limits = Limits { trace_lots_max: args.limit, ..Limits::default() };
    let answer = if args.forward {
        ledger.read(|s, v| lode_query::trace_forward(s, v, &args.lot, &limits)).map(Trace::Forward)
    } else {
        ledger.read(|s, v| lode_query::trace_back(s, v, &args.lot, &limits)).map(Trace::Back)
    };
    store.close().context("closing the ledger")?;
    let answer = answer.map_err(query_failed)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    match (args.format, &answer) {
        (TraceFormat::Json, Trace::Back(t)) => print_json(&serde_json::to_value(t)?)?,
        (TraceFormat::Json, Trace::Forward(t)) => print_json(&serde_json::to_value(t)?)?,
        (TraceFormat::Dot, Trace::Back(t)) => out.write_all(t.to_dot().as_bytes())?,
        (TraceFormat::Dot, Trace::Forward(t)) => out.write_all(t.to_dot().as_bytes())?,
        (TraceFormat::Svg, Trace::Back(t)) => out.write_all(t.to_svg(&covered).as_bytes())?,
        (TraceFormat::Svg, Trace::Forward(t)) => out.write_all(t.to_svg(&covered).as_bytes())?,
        (TraceFormat::Text, Trace::Back(t)) => write_trace_back(&mut out, t)?,
        (TraceFormat::Text, Trace::Forward(t)) => write_trace_forward(&mut out, t)?,
    }
    out.flush()?;
    Ok(())
}

#[derive(Debug)]
enum Trace {
    Back(TraceBack),
    Forward(TraceForward),
}

pub(crate) fn write_trace_back(out: &mut impl Write, t: &TraceBack) -> std::io::Result<()> {
    writeln!(out, "Trace back of {}", t.lot)?;
    writeln!(out, "  {}", describe(&t.lots[0]))?;
    writeln!(
        out,
        "  {} over {}",
        count(t.lots.len() - 1, "ancestor lot", "ancestor lots"),
        count(t.generations as usize, "generation", "generations")
    )?;
    if t.truncated {
        writeln!(out, "  truncated: more than {} lots; some ancestors are missing (raise --limit)", t.lots_max)?;
    }
    writeln!(out)?;
    writeln!(out, "Origin by mine")?;
    let rows = t
        .origin
        .iter()
        .map(|m| {
            let lots: Vec<&str> = m.lots.iter().map(|l| l.as_str()).collect();
            vec![m.mine.to_string(), opt(m.country), share(m.ppm), ppm(m.ppm), lots.join(", ")]
        })
        .collect();
    table(out, &["mine", "country", "share", "ppm", "mine lots traced"], &[false, false, true, true, false], rows)?;
    writeln!(out)?;
    writeln!(out, "Origin by country")?;
    let rows = t.countries.iter().map(|c| vec![c.country.to_string(), share(c.ppm), ppm(c.ppm)]).collect();
    table(out, &["country", "share", "ppm"], &[false, true, true], rows)?;
    writeln!(out)?;
    writeln!(out, "Stages")?;
    let rows = t.stages.iter().map(|s| vec![s.stage.to_string(), list(&s.countries)]).collect();
    table(out, &["stage", "countries"], &[false, false], rows)?;
    writeln!(out)?;
    write_edges(out, &t.edges)?;
    writeln!(out)?;
    write_lots(out, &t.lots)
}

fn write_trace_forward(out: &mut impl Write, t: &TraceForward) -> std::io::Result<()> {
    writeln!(out, "Trace forward (recall) of {}", t.lot)?;
    writeln!(out, "  {}", describe(&t.lots[0]))?;
    let made = &t.lots[1..];
    let in_status = |s: LotStatus| made.iter().filter(|l| l.status == s).count();
    writeln!(
        out,
        "  {} made from it over {}: {} active, {} in transit, {} closed",
        count(made.len(), "lot", "lots"),
        count(t.generations as usize, "generation", "generations"),
        in_status(LotStatus::Active),
        in_status(LotStatus::InTransit),
        in_status(LotStatus::Closed),
    )?;
    if t.truncated {
        writeln!(out, "  truncated: more than {} lots; some descendants are missing (raise --limit)", t.lots_max)?;
    }
    writeln!(out)?;
    write_lots(out, &t.lots)?;
    writeln!(out)?;
    write_edges(out, &t.edges)
}

/// "oxide, active, 9.995 t at kr-incheon-wh (KR), held by han-river-materials"
fn describe(l: &TracedLot) -> String {
    let mut s = format!(
        "{}, {}, {} at {}, held by {}",
        l.form,
        status(l.status),
        mass(l.mass_g),
        place(&l.site, l.site_country),
        l.custodian
    );
    if let (Some(shipment), Some(to)) = (&l.shipment, &l.in_transit_to) {
        s.push_str(&format!(", on {shipment} to {to}"));
    }
    s
}

fn write_lots(out: &mut impl Write, lots: &[TracedLot]) -> std::io::Result<()> {
    writeln!(out, "Lots")?;
    let rows = lots
        .iter()
        .map(|l| {
            let made = match l.made.process {
                Some(p) => format!("{p} {}", date(&l.made.occurred_at)),
                None => format!("extracted {} at {}", date(&l.made.occurred_at), place(&l.made.site, l.made.country)),
            };
            let status = match &l.in_transit_to {
                Some(to) => format!("{} to {to}", status(l.status)),
                None => status(l.status).to_string(),
            };
            vec![
                l.generation.to_string(),
                l.lot.to_string(),
                l.form.to_string(),
                status,
                mass(l.mass_g),
                l.custodian.to_string(),
                place(&l.site, l.site_country),
                made,
            ]
        })
        .collect();
    table(
        out,
        &["gen", "lot", "form", "status", "mass now", "custodian", "site", "made"],
        &[true, false, false, false, true, false, false, false],
        rows,
    )
}

fn write_edges(out: &mut impl Write, edges: &[TraceEdge]) -> std::io::Result<()> {
    writeln!(out, "Transformations, oldest first")?;
    let rows = edges
        .iter()
        .map(|e| {
            vec![
                format!("#{}", e.seq),
                date(&e.occurred_at).to_string(),
                e.process.map_or("-".to_string(), |p| p.to_string()),
                place(&e.site, e.country),
                e.parent.to_string(),
                e.child.to_string(),
                mass(e.input_g),
                mass(e.output_g),
            ]
        })
        .collect();
    table(
        out,
        &["event", "date", "process", "site", "from", "into", "given", "made"],
        &[true, false, false, false, false, false, true, true],
        rows,
    )
}

// -------------------------------------------------------------------------------------------------
// lode custody

#[derive(Debug, clap::Args)]
pub struct CustodyArgs {
    /// The lot id.
    lot: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `lode custody LOT`: every handover of the lot and of its ancestors, in order.
pub fn custody(dir: &Path, args: CustodyArgs) -> Result<(), Failed> {
    let (store, ledger) = crate::derived::open(dir, false)?;
    let answer = ledger.read(|s, v| lode_query::custody(s, v, &args.lot));
    store.close().context("closing the ledger")?;
    let custody = answer.map_err(query_failed)?;
    match args.format {
        Format::Json => print_json(&serde_json::to_value(&custody)?)?,
        Format::Text => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            write_custody(&mut out, &custody)?;
            out.flush()?;
        }
    }
    Ok(())
}

pub(crate) fn write_custody(out: &mut impl Write, c: &Custody) -> std::io::Result<()> {
    writeln!(out, "Custody chain of {}: {}", c.lot, count(c.handovers.len(), "handover", "handovers"))?;
    if c.truncated {
        writeln!(out, "  truncated: the ancestry has too many lots; some handovers are missing")?;
    }
    for (i, h) in c.handovers.iter().enumerate() {
        writeln!(out)?;
        write_handover(out, i + 1, h)?;
    }
    Ok(())
}

fn write_handover(out: &mut impl Write, n: usize, h: &Handover) -> std::io::Result<()> {
    let state = match h.status {
        lode_domain::ShippedLotStatus::Received => "received",
        lode_domain::ShippedLotStatus::Returned => "returned to the shipper",
        _ => "in transit",
    };
    writeln!(out, "{n}. {}: {}, {state}", h.shipment, h.lot)?;
    let mut rows = vec![
        vec!["from".to_string(), format!("{} at {}", h.shipper, place(&h.from_site, h.from_country))],
        vec!["to".to_string(), format!("{} at {}", h.receiver, place(&h.to_site, h.to_country))],
        vec!["carrier".to_string(), h.carrier.as_ref().map_or("-".to_string(), |c| c.to_string())],
        vec!["shipped".to_string(), format!("{}  #{}  {}", h.shipped.occurred_at, h.shipped.seq, mass(h.shipped_g))],
    ];
    if let (Some(r), Some(g), Some(d)) = (&h.received, h.received_g, h.difference_g) {
        rows.push(vec![
            "received".to_string(),
            format!(
                "{}  #{}  {}  ({}, {})",
                r.occurred_at,
                r.seq,
                mass(g),
                signed_mass(i128::from(d)),
                percent(i128::from(d), u128::from(h.shipped_g))
            ),
        ]);
    }
    if let Some(r) = &h.rejected {
        rows.push(vec!["rejected".to_string(), format!("{}  #{}  {}", r.event.occurred_at, r.event.seq, r.reason)]);
    }
    let mut documents = h.documents.iter().map(|d| {
        let how = if d.event.event == h.shipped.event {
            "listed when shipped".to_string()
        } else {
            format!("attached #{}", d.event.seq)
        };
        format!("{} {} ({how})", d.kind, d.reference)
    });
    rows.push(vec!["documents".to_string(), documents.next().unwrap_or_else(|| "none".to_string())]);
    rows.extend(documents.map(|d| vec![String::new(), d]));
    for row in &mut rows {
        row[0] = format!("  {}", row[0]);
    }
    write_rows(out, &[false, false], &rows)
}

// -------------------------------------------------------------------------------------------------
// lode audit

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The lot id.
    lot: String,
    /// Covered countries: ISO 3166-1 alpha-2 codes, comma separated.
    #[arg(long, value_name = "CN,RU,…", default_value = "CN,RU,KP,IR")]
    covered: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The most lots to examine, the lot itself included; a longer ancestry is cut and fails the audit.
    #[arg(long, value_name = "N", default_value_t = lode_query::TRACE_LOTS_MAX)]
    limit: usize,
}

/// `lode audit LOT`: origin, stage countries against the covered countries, custody and findings
/// over the lot and its ancestors. Prints the audit and exits 0 when it passed (no finding, no stage
/// in a covered country); otherwise prints it too and exits 1.
pub fn audit(dir: &Path, args: AuditArgs) -> Result<(), Failed> {
    let covered = parse_countries(&args.covered)?;
    let options = AuditOptions { covered, trace_lots_max: args.limit, ..AuditOptions::default() };
    let (store, ledger) = crate::derived::open(dir, false)?;
    let reader = store.reader();
    let answer = ledger.read(|s, v| lode_query::audit(s, v, &reader, &args.lot, &options));
    store.close().context("closing the ledger")?;
    let audit = answer.map_err(query_failed)?;
    match args.format {
        Format::Json => print_json(&serde_json::to_value(&audit)?)?,
        Format::Text => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            write_audit(&mut out, &audit)?;
            out.flush()?;
        }
    }
    if audit.passed() {
        return Ok(());
    }
    let mut why = Vec::new();
    if !audit.findings.is_empty() {
        why.push(count(audit.findings.len(), "finding", "findings"));
    }
    let covered: Vec<&str> =
        audit.stages.iter().filter(|s| s.verdict == Verdict::Covered).map(|s| s.stage.as_str()).collect();
    if !covered.is_empty() {
        why.push(format!("covered countries at {}", covered.join(", ")));
    }
    if audit.truncated {
        why.push(format!("more than {} lots, not all examined", audit.lots_max));
    }
    Err(rejected(anyhow::anyhow!("the audit of {} did not pass: {}", audit.lot, why.join("; "))))
}

pub(crate) fn parse_countries(list: &str) -> anyhow::Result<BTreeSet<Country>> {
    list.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            Country::parse(c)
                .ok_or_else(|| anyhow::anyhow!("--covered: {c:?} is not an ISO 3166-1 alpha-2 country code"))
        })
        .collect()
}

pub(crate) fn write_audit(out: &mut impl Write, a: &Audit) -> std::io::Result<()> {
    let result = if a.passed() { "passed" } else { "did not pass" };
    writeln!(out, "Audit of {}: {result}", a.lot)?;
    writeln!(out, "  {}, {}, {} at {}, held by {}", a.form, status(a.status), mass(a.mass_g), a.site, a.custodian)?;
    writeln!(out, "  {} examined: the lot and its ancestors", count(a.lots_examined, "lot", "lots"))?;
    if a.truncated {
        writeln!(out, "  truncated: more than {} lots; some ancestors were not examined (raise --limit)", a.lots_max)?;
    }
    let covered = list(&a.covered_countries);
    let verdict = match a.verdict {
        Verdict::Covered => format!("COVERED: a stage happened in a covered country ({covered})"),
        _ => format!("clear: no stage in a covered country ({covered})"),
    };
    writeln!(out, "  {verdict}")?;
    writeln!(out, "  {}", count(a.findings.len(), "finding", "findings"))?;
    writeln!(out)?;
    writeln!(out, "Origin")?;
    let rows = a.origin.iter().map(|m| vec![m.mine.to_string(), opt(m.country), share(m.ppm), ppm(m.ppm)]).collect();
    table(out, &["mine", "country", "share", "ppm"], &[false, false, true, true], rows)?;
    let by_country: Vec<String> = a.countries.iter().map(|c| format!("{} {}", c.country, share(c.ppm))).collect();
    writeln!(out, "  by country: {}", by_country.join(", "))?;
    writeln!(out)?;
    writeln!(out, "Stages")?;
    let rows = a
        .stages
        .iter()
        .map(|s| vec![s.stage.to_string(), list(&s.countries), list(&s.covered), s.verdict.as_str().replace('_', " ")])
        .collect();
    table(out, &["stage", "countries", "covered", "verdict"], &[false, false, false, false], rows)?;
    writeln!(out)?;
    writeln!(out, "Custody: {}", count(a.handovers.len(), "handover", "handovers"))?;
    let rows = a
        .handovers
        .iter()
        .map(|h| {
            vec![
                format!("#{}", h.shipped.seq),
                date(&h.shipped.occurred_at).to_string(),
                h.shipment.to_string(),
                h.lot.to_string(),
                format!("{} → {}", h.shipper, h.receiver),
                mass(h.shipped_g),
                h.received_g.map_or_else(|| "in transit".to_string(), mass),
            ]
        })
        .collect();
    table(
        out,
        &["event", "shipped", "shipment", "lot", "from → to", "shipped", "weighed"],
        &[true, false, false, false, false, true, true],
        rows,
    )?;
    writeln!(out)?;
    writeln!(out, "Findings: {}", a.findings.len())?;
    let rows = a
        .findings
        .iter()
        .map(|f| {
            vec![
                format!("#{}", f.seq),
                date(&f.occurred_at).to_string(),
                f.code().to_string(),
                f.lot.as_ref().map_or("-".to_string(), |l| l.to_string()),
                f.message(),
            ]
        })
        .collect();
    table(out, &["event", "date", "finding", "lot", "what"], &[true, false, false, false, false], rows)
}

// -------------------------------------------------------------------------------------------------
// lode lots

#[derive(Debug, clap::Args)]
pub struct LotsArgs {
    /// Only lots held by this party (while in transit, the shipper).
    #[arg(long, value_name = "PARTY")]
    party: Option<String>,
    /// Only lots of this material form (ore, concentrate, mixed_carbonate, mixed_oxide, oxide, metal, alloy, magnet, residue).
    #[arg(long, value_name = "FORM")]
    material: Option<String>,
    /// Only lots in this status (active, in_transit, closed).
    #[arg(long, value_name = "STATUS")]
    status: Option<String>,
    /// Only lots at this site.
    #[arg(long, value_name = "SITE")]
    site: Option<String>,
    /// Text, or JSON lines: one lot per line.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The most lots to list.
    #[arg(long, value_name = "N", default_value_t = lode_query::LIST_LOTS_MAX)]
    limit: usize,
}

/// `lode lots`: the lots matching every filter given, by id.
pub fn lots(dir: &Path, args: LotsArgs) -> Result<(), Failed> {
    let filter = LotFilter {
        party: args.party.as_deref().map(str::parse).transpose().map_err(|e| anyhow::anyhow!("--party: {e}"))?,
        form: args
            .material
            .as_deref()
            .map(|m| Form::parse(m).ok_or_else(|| anyhow::anyhow!("--material {m:?} is not a material form (ore, concentrate, mixed_carbonate, mixed_oxide, oxide, metal, alloy, magnet, residue)")))
            .transpose()?,
        status: args
            .status
            .as_deref()
            .map(|s| LotStatus::parse(s).ok_or_else(|| anyhow::anyhow!("--status {s:?} is not a lot status (active, in_transit, closed)")))
            .transpose()?,
        site: args.site.as_deref().map(str::parse).transpose().map_err(|e| anyhow::anyhow!("--site: {e}"))?,
    };
    let (store, ledger) = crate::derived::open(dir, false)?;
    let list: LotList = ledger.read(|s, _| lode_query::lots(s, &filter, args.limit));
    store.close().context("closing the ledger")?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Json => {
            for lot in &list.lots {
                serde_json::to_writer(&mut out, lot)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Text => {
            let rows = list
                .lots
                .iter()
                .map(|l| {
                    let mut status = status(l.status).to_string();
                    if let Some(s) = &l.shipment {
                        status.push_str(&format!(" on {s}"));
                    }
                    if l.on_hold {
                        status.push_str(", on hold");
                    }
                    vec![
                        l.lot.to_string(),
                        l.form.to_string(),
                        status,
                        mass(l.mass_g),
                        l.custodian.to_string(),
                        l.site.to_string(),
                    ]
                })
                .collect();
            table(
                &mut out,
                &["lot", "form", "status", "mass", "custodian", "site"],
                &[false, false, false, true, false, false],
                rows,
            )?;
            writeln!(out, "{}", count(list.lots.len(), "lot", "lots"))?;
        }
    }
    out.flush()?;
    drop(out);
    if list.truncated {
        eprintln!(
            "lode: more than {} lots match; only the first {} are listed (raise --limit)",
            list.lots_max, list.lots_max
        );
    }
    Ok(())
}

// -------------------------------------------------------------------------------------------------
// lode inventory --as-of, --format

/// The last position an inventory counts and its `recorded_at`, for an inventory as of a past point.
pub type PastPoint = Option<(u64, Option<String>)>;

/// The inventory rows as of a past point (a position or an RFC 3339 time), from the log alone, with
/// the position they stand at.
pub fn inventory_as_of(
    dir: &Path,
    as_of: &str,
    filter: &InventoryFilter,
) -> Result<(Vec<InventoryRow>, PastPoint), Failed> {
    let as_of: AsOf = as_of.parse().map_err(|e: AsOfError| anyhow::anyhow!("--as-of: {e}"))?;
    let store = crate::read::open_log(dir)?;
    let past = lode_query::inventory_as_of(&store.reader(), as_of, filter);
    store.close().context("closing the ledger")?;
    let past = past.map_err(|e| match e {
        AsOfError::Replay { .. } => rejected(e.into()),
        other => Failed { code: EXIT_USAGE, error: anyhow::anyhow!("--as-of: {other}") },
    })?;
    Ok((past.rows, Some((past.position, past.recorded_at))))
}

/// Prints inventory rows: JSON lines, or a table with the position they stand at.
pub fn print_inventory(
    rows: &[InventoryRow],
    format: Format,
    as_of: Option<(u64, Option<String>)>,
) -> Result<(), Failed> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    match format {
        Format::Json => {
            for row in rows {
                serde_json::to_writer(&mut out, row)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Text => {
            match as_of {
                Some((0, _)) => writeln!(out, "Inventory as of position 0, before the first event")?,
                Some((position, Some(at))) => writeln!(out, "Inventory as of position {position}, recorded at {at}")?,
                _ => writeln!(out, "Inventory now")?,
            }
            let table_rows = rows
                .iter()
                .map(|r| {
                    vec![
                        r.party.to_string(),
                        r.site.to_string(),
                        r.form.to_string(),
                        mass_u128(r.active_g),
                        r.active_lots.to_string(),
                        mass_u128(r.in_transit_g),
                        r.in_transit_lots.to_string(),
                    ]
                })
                .collect();
            table(
                &mut out,
                &["party", "site", "form", "active", "lots", "in transit", "lots"],
                &[false, false, false, true, true, true, true],
                table_rows,
            )?;
            let active: u128 = rows.iter().map(|r| r.active_g).sum();
            let in_transit: u128 = rows.iter().map(|r| r.in_transit_g).sum();
            writeln!(out, "total: {} active, {} in transit", mass_u128(active), mass_u128(in_transit))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// A sum of masses: exact as [`mass`] while it fits in 64 bits (18 million tonnes), else in grams.
fn mass_u128(g: u128) -> String {
    u64::try_from(g).map_or_else(|_| format!("{} g", lode_query::render::thousands(g)), mass)
}

// -------------------------------------------------------------------------------------------------
// Text helpers

fn status(s: LotStatus) -> &'static str {
    match s {
        LotStatus::InTransit => "in transit",
        other => other.as_str(),
    }
}

fn place(site: &impl std::fmt::Display, country: Option<Country>) -> String {
    match country {
        Some(c) => format!("{site} ({c})"),
        None => site.to_string(),
    }
}

fn opt(country: Option<Country>) -> String {
    country.map_or("-".to_string(), |c| c.to_string())
}

fn list(countries: &[Country]) -> String {
    if countries.is_empty() {
        "-".to_string()
    } else {
        countries.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A table indented by two spaces under its header, or "  none" when it has no rows.
fn table(out: &mut impl Write, header: &[&str], right: &[bool], rows: Vec<Vec<String>>) -> std::io::Result<()> {
    out.write_all(lode_query::render::table(header, right, rows).as_bytes())
}

/// Rows in columns two spaces apart, each as wide as its widest cell, right-aligned where asked.
fn write_rows(out: &mut impl Write, right: &[bool], rows: &[Vec<String>]) -> std::io::Result<()> {
    out.write_all(lode_query::render::columns(right, rows).as_bytes())
}
