//! CSV exports of the ledger for spreadsheets and compliance tools: lots, events, custody
//! handovers and inventory, with the stable headers `docs/exports.md` documents.
//!
//! RFC 4180: fields separated by `,`, records ending with CR LF, a header record first; a field is
//! quoted with `"` when it holds `"`, `,`, CR or LF, and a `"` inside it is doubled. Masses are
//! kilograms with exactly three decimals written from integer grams (`1234.567`); lists inside a
//! field (elements, lots, countries) are separated by single spaces, which ids never hold.
//!
//! ```
//! assert_eq!(lode_query::csv_export::record(&["a", "b,c", "say \"hi\""]), "a,\"b,c\",\"say \"\"hi\"\"\"\r\n");
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use lode_domain::{DocumentKind, DocumentTarget, Event, LotId, ShipmentId, ShippedLotStatus, Stage, State};
use lode_projections::view::{InventoryFilter, Views};
use lode_projections::Ledger;
use lode_store::Reader;

use crate::audit::{log_error, parse};
use crate::{render, ExportError};

/// The tables `lode export csv` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Table {
    /// One record per lot, by lot id.
    Lots,
    /// One record per record of the log, in order.
    Events,
    /// One record per lot per shipment, in shipping order.
    Custody,
    /// One record per custodian, site and material form holding active or in-transit mass.
    Inventory,
}

impl Table {
    /// Every table, in the order of `docs/exports.md`.
    pub const ALL: [Table; 4] = [Table::Lots, Table::Events, Table::Custody, Table::Inventory];

    /// The table's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Lots => "lots",
            Table::Events => "events",
            Table::Custody => "custody",
            Table::Inventory => "inventory",
        }
    }

    /// The table's header: a stability boundary, only ever extended at the end.
    pub fn header(self) -> &'static [&'static str] {
        match self {
            Table::Lots => &[
                "lot",
                "form",
                "elements",
                "grade",
                "hs_code",
                "status",
                "mass_kg",
                "custodian",
                "site",
                "site_country",
                "shipment",
                "on_hold",
                "made_by",
                "made_seq",
                "made_at",
                "made_site",
                "parents",
                "origin_ppm",
                "mining_countries",
                "separation_countries",
                "metal_countries",
                "magnet_countries",
            ],
            Table::Events => &[
                "seq",
                "event_id",
                "type",
                "occurred_at",
                "recorded_at",
                "actor",
                "lots",
                "leaf_hash",
                "chain_hash",
                "corrected_by",
            ],
            Table::Custody => &[
                "shipment",
                "lot",
                "status",
                "shipper",
                "from_site",
                "from_country",
                "receiver",
                "to_site",
                "to_country",
                "carrier",
                "shipped_seq",
                "shipped_at",
                "shipped_kg",
                "received_seq",
                "received_at",
                "received_kg",
                "difference_kg",
                "returned_seq",
                "returned_at",
                "documents",
            ],
            Table::Inventory => &[
                "custodian",
                "site",
                "site_country",
                "form",
                "active_kg",
                "active_lots",
                "in_transit_kg",
                "in_transit_lots",
            ],
        }
    }
}

impl std::str::FromStr for Table {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Table::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a table (lots, events, custody, inventory)"))
    }
}

/// Why a CSV export failed: the ledger's side, or writing it out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("writing the CSV: {0}")]
    Io(#[from] std::io::Error),
}

/// One CSV field, quoted when it must be.
pub fn field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['"', ',', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// One CSV record with its CR LF.
pub fn record<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = fields.iter().map(|f| field(f.as_ref())).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// Writes `table` as CSV, header first, and answers the number of records after the header. Reads
/// the derived state, and for `events` and `custody` the log up to its durable head.
///
/// # Errors
/// [`CsvError::Io`] when `out` fails; [`CsvError::Export`] with [`ExportError::Log`] when a record
/// does not read.
pub fn write(table: Table, reader: &Reader, ledger: &Ledger, out: &mut dyn Write) -> Result<u64, CsvError> {
    out.write_all(record(table.header()).as_bytes())?;
    let mut n = 0u64;
    let mut emit = |fields: Vec<String>| -> Result<(), CsvError> {
        out.write_all(record(&fields).as_bytes())?;
        n += 1;
        Ok(())
    };
    match table {
        Table::Lots => ledger.read(|state, views| lots(state, views, &mut emit))?,
        Table::Events => events(reader, ledger, &mut emit)?,
        Table::Custody => ledger.read(|state, _| custody(state, reader, &mut emit))?,
        Table::Inventory => ledger.read(|state, views| -> Result<(), CsvError> {
            for row in views.inventory(&InventoryFilter::default()) {
                emit(vec![
                    row.party.to_string(),
                    row.site.to_string(),
                    state.site(row.site.as_str()).map(|s| s.country.to_string()).unwrap_or_default(),
                    row.form.to_string(),
                    render::kg(row.active_g),
                    row.active_lots.to_string(),
                    render::kg(row.in_transit_g),
                    row.in_transit_lots.to_string(),
                ])?;
            }
            Ok(())
        })?,
    }
    Ok(n)
}

type Emit<'a> = dyn FnMut(Vec<String>) -> Result<(), CsvError> + 'a;

fn spaced<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" ")
}

fn lots(state: &State, views: &Views, emit: &mut Emit<'_>) -> Result<(), CsvError> {
    for (id, lot) in state.lots() {
        let Some(view) = views.lot(state, id.as_str()) else {
            continue;
        };
        let made = &view.created;
        let stage = |s: Stage| spaced(view.origin.stages.countries(s));
        emit(vec![
            id.to_string(),
            lot.material.form.to_string(),
            spaced(lot.material.elements.iter().flatten()),
            lot.material.grade.clone().unwrap_or_default(),
            lot.material.hs_code.clone().unwrap_or_default(),
            lot.status.to_string(),
            render::kg(u128::from(lot.mass_g)),
            lot.custodian.to_string(),
            lot.site.to_string(),
            state.site(lot.site.as_str()).map(|s| s.country.to_string()).unwrap_or_default(),
            lot.shipment
                .as_ref()
                .filter(|_| lot.status == lode_domain::LotStatus::InTransit)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            if lot.hold.is_some() { "yes" } else { "no" }.to_string(),
            made.process.map_or("extracted", |p| p.as_str()).to_string(),
            made.event.seq.to_string(),
            made.event.occurred_at.clone(),
            made.site.to_string(),
            spaced(lot.parents.iter().map(|p| &p.lot)),
            spaced(view.origin.mines.iter().map(|m| format!("{}:{}", m.mine, m.ppm))),
            stage(Stage::Mining),
            stage(Stage::Separation),
            stage(Stage::Metal),
            stage(Stage::Magnet),
        ])?;
    }
    Ok(())
}

fn events(reader: &Reader, ledger: &Ledger, emit: &mut Emit<'_>) -> Result<(), CsvError> {
    let head = reader.head().seq;
    for record in reader.iter_from(1) {
        let record = record.map_err(|e| ExportError::from(log_error(0, e)))?;
        if record.seq > head {
            break;
        }
        let (id, env) = parse(&record).map_err(ExportError::from)?;
        let header = record.header();
        let leaf = record.leaf();
        let corrected_by = ledger.read(|state, _| {
            let corrections = state.event(&id).map(|e| e.corrections.clone()).unwrap_or_default();
            spaced(corrections.iter().filter_map(|c| state.event(c)).map(|c| c.seq).filter(|&s| s <= head))
        });
        emit(vec![
            record.seq.to_string(),
            id.to_string(),
            env.type_name().to_string(),
            env.occurred_at_text().to_string(),
            header.recorded_at.to_string(),
            env.actor().to_string(),
            spaced(&header.streams),
            leaf.to_hex(),
            lode_store::record::chain_hash(&header.prev, &leaf).to_hex(),
            corrected_by,
        ])?;
    }
    Ok(())
}

/// A lot on a shipment, as the log tells it.
#[derive(Debug, Default)]
struct Passage {
    received: Option<(u64, String, u64)>,
    returned: Option<(u64, String)>,
}

fn custody(state: &State, reader: &Reader, emit: &mut Emit<'_>) -> Result<(), CsvError> {
    // The state knows each shipment's parties, sites and masses; when a lot was received or
    // returned, and the documents' references, only the log does.
    let head = reader.head().seq;
    let mut shipped: Vec<(u64, String, ShipmentId, Vec<LotId>)> = Vec::new();
    let mut passages: HashMap<(ShipmentId, LotId), Passage> = HashMap::new();
    let mut documents: HashMap<ShipmentId, Vec<(DocumentKind, String)>> = HashMap::new();
    for record in reader.iter_from(1) {
        let record = record.map_err(|e| ExportError::from(log_error(0, e)))?;
        if record.seq > head {
            break;
        }
        let (_, env) = parse(&record).map_err(ExportError::from)?;
        let at = env.occurred_at_text().to_string();
        match env.event() {
            Event::CustodyShipped(s) => {
                let docs = documents.entry(s.shipment.clone()).or_default();
                docs.extend(s.documents.iter().flatten().map(|d| (d.kind, d.reference.clone())));
                shipped.push((record.seq, at, s.shipment.clone(), s.lots.clone()));
            }
            Event::CustodyReceived(r) => {
                for l in &r.lots {
                    passages.entry((r.shipment.clone(), l.lot.clone())).or_default().received =
                        Some((record.seq, at.clone(), l.mass_g));
                }
            }
            Event::CustodyRejected(r) => {
                for lot in &record.header().streams {
                    if let Ok(lot) = LotId::new(*lot) {
                        passages.entry((r.shipment.clone(), lot)).or_default().returned =
                            Some((record.seq, at.clone()));
                    }
                }
            }
            Event::DocumentAttached(d) => {
                if let DocumentTarget::Shipment(s) = &d.target {
                    documents.entry(s.clone()).or_default().push((d.kind, d.reference.clone()));
                }
            }
            _ => {}
        }
    }
    let country =
        |site: &lode_domain::SiteId| state.site(site.as_str()).map(|s| s.country.to_string()).unwrap_or_default();
    for (seq, at, shipment_id, lots) in shipped {
        let Some(shipment) = state.shipment(shipment_id.as_str()) else {
            continue;
        };
        // References are free text: a JSON array keeps them exact whatever they hold.
        let docs: Vec<BTreeMap<&str, &str>> = documents
            .get(&shipment_id)
            .into_iter()
            .flatten()
            .map(|(kind, reference)| BTreeMap::from([("kind", kind.as_str()), ("ref", reference.as_str())]))
            .collect();
        let docs = serde_json::to_string(&docs).expect("a list of string maps serializes");
        for lot in lots {
            let passage = passages.remove(&(shipment_id.clone(), lot.clone())).unwrap_or_default();
            let on = shipment.lots.get(&lot);
            let shipped_g = on.map_or(0, |l| l.shipped_g);
            let status = match on.map(|l| l.status) {
                Some(ShippedLotStatus::Received) => "received",
                Some(ShippedLotStatus::Returned) => "returned",
                _ => "in_transit",
            };
            let (received_seq, received_at, received_kg, difference_kg) = match &passage.received {
                Some((s, a, g)) => (
                    s.to_string(),
                    a.clone(),
                    render::kg(u128::from(*g)),
                    render::signed_kg(i128::from(*g) - i128::from(shipped_g)),
                ),
                None => Default::default(),
            };
            let (returned_seq, returned_at) = passage.returned.map(|(s, a)| (s.to_string(), a)).unwrap_or_default();
            emit(vec![
                shipment_id.to_string(),
                lot.to_string(),
                status.to_string(),
                shipment.shipper.to_string(),
                shipment.from_site.to_string(),
                country(&shipment.from_site),
                shipment.to_party.to_string(),
                shipment.to_site.to_string(),
                country(&shipment.to_site),
                shipment.carrier.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                seq.to_string(),
                at.clone(),
                render::kg(u128::from(shipped_g)),
                received_seq,
                received_at,
                received_kg,
                difference_kg,
                returned_seq,
                returned_at,
                docs.clone(),
            ])?;
        }
    }
    Ok(())
}
