//! Generated custody histories, for demonstrations, end-to-end tests and benchmarks.
//!
//! [`generate`] turns [`ScenarioOptions`] into a [`Scenario`]: an iterator over the events of a
//! realistic chain of custody, one JSON object per event, in the order a ledger appends them. An
//! empty ledger accepts every one of them: each carries its own `id` and an `occurred_at` in the past.
//!
//! The story. An operator registers itself, then the parties and their sites: a Vietnamese mining
//! group with three mines, a separation plant and an export yard at Hai Phong; a Chinese group with a
//! mine and its own separation plant; carriers; a Korean importer with a bonded warehouse; labs in
//! Vietnam, Korea and China; magnet makers in Korea, Japan, Germany and the United States, each with a
//! metal plant and a magnet plant; an auditor. Then every mine lot follows its chain:
//!
//! - Vietnam: ore extracted (20 to 200 t) → concentrated at the mine (process `other`, a small loss) →
//!   moved to the separation plant → separated into an NdPr oxide lot, a Dy oxide lot (1 to 25 t each)
//!   and residue, which goes to tailings → assayed by the lab → moved to Hai Phong → shipped to Korea
//!   with bill of lading, certificate of origin, invoice and export declaration → weighed in by the
//!   importer → split into customer lots → shipped to magnet makers → blended with Chinese oxide when
//!   the maker holds some → reduced to metal → alloyed with Dy oxide and untraced iron and boron →
//!   moved to the magnet plant → made into magnets → delivered into products.
//! - China (every seventh mine lot): extracted → concentrated → separated → assayed → shipped straight
//!   to a magnet maker, whose stock of Chinese oxide the next Vietnamese lots there are blended with.
//!
//! Sprinkled along the way, at fixed positions (so that every history of 20 mine lots or more has each
//! of them) and at random: receipts more than 0.5% short, each followed by a hold on the lot, a
//! reweighing report and the hold's release; export shipments without a certificate of origin, and
//! others whose certificate is attached later; assays keyed in wrongly, corrected and reissued;
//! duplicate moves corrected as `did_not_occur`; stocktake adjustments; a shipment the maker rejects,
//! shipped again later; audit reports; certificates of analysis. A forwarder is put on hold for a few
//! weeks in the middle of the history, and released.
//!
//! Every history spans the year before [`ScenarioOptions::start`]: the first event happens 365 days
//! before it and the last more than a week before it. Mine lots are extracted evenly over 150 days and
//! their chains take from three weeks to seven months, so many lots are in flight at once; the generator is a
//! small discrete-event simulation that keeps only the lots in flight and writes each event once, in
//! time order. Masses are integer grams and every transformation balances exactly.
//!
//! ```
//! use lode_domain::scenario::{generate, ScenarioOptions};
//! use lode_domain::{apply, decide, parse_event, Context, State};
//!
//! let opts = ScenarioOptions { mine_lots: 3, seed: 7, start: "2026-01-01T00:00:00Z".parse()? };
//! let mut state = State::default();
//! for (seq, line) in generate(&opts).enumerate() {
//!     let envelope = parse_event(line.as_bytes())?;
//!     let event_id = envelope.id().expect("generated events carry their id");
//!     let ctx = Context { event_id, seq: seq as u64, recorded_at: opts.start };
//!     let accepted = decide(&state, &envelope, &ctx)?;
//!     apply(&mut state, &envelope, &accepted, &ctx);
//! }
//! assert!(state.lot("VN-ORE-000000").is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::iter::FusedIterator;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioOptions {
    /// Lots extracted at mines. The history has about 33 events for each (between 15 and 40 over any
    /// history of 20 lots or more), plus 38 for the parties, the sites and a hold on a forwarder.
    pub mine_lots: usize,
    /// The same seed with the same other options gives the same bytes; another seed another history.
    pub seed: u64,
    /// The history ends before this time: it spans the year before it, so that every event lies in the
    /// past of a ledger recording at `start` or later. Fractions of a second are ignored. Events are
    /// written as RFC 3339 UTC, which the ledger only reads for years 0000 to 9999.
    pub start: DateTime<Utc>,
}

/// Generates the history described by `opts`, lazily: see the [module documentation](self).
pub fn generate(opts: &ScenarioOptions) -> Scenario {
    Scenario::new(opts)
}

const DAY: i64 = 86_400;
/// The first event happens this many days before `start`.
const HISTORY_DAYS: i64 = 365;
/// Mine lots are extracted from this many days after the first event...
const PRODUCTION_OFFSET_DAYS: i64 = 2;
/// ...evenly over this many days. The longest chain (a Vietnamese lot put on hold, adjusted, its
/// shipment to Germany rejected and shipped again, its magnets delivered in three parts) takes at most
/// 199 days, so the last event happens at least 14 days before `start`.
const PRODUCTION_WINDOW_DAYS: i64 = 150;
/// The time between the master-data events at the start.
const SETUP_GAP_SECONDS: i64 = 600;
/// The time between the events of one step of a chain, at most; less when lots are extracted more
/// often, so that dense histories do not drift forward in time.
const STEP_GAP_SECONDS_MAX: i64 = 300;

// Parties.
const OPERATOR: &str = "lode-op";
const VN_GROUP: &str = "song-hong-mining";
const CN_GROUP: &str = "northern-steppe-re";
const IMPORTER: &str = "han-river-materials";
const VN_CARRIER: &str = "east-sea-lines";
const KR_SHIPPING: &str = "han-pacific-shipping";
/// The forwarder put on hold for a few weeks.
const FORWARDER: &str = "north-star-freight";
const KR_TRUCKING: &str = "incheon-trucking";
const CN_CARRIER: &str = "yellow-sea-logistics";
const VN_LAB: &str = "red-river-assay";
const KR_LAB: &str = "daejeon-lab";
const CN_LAB: &str = "baotou-assay";
const AUDITOR: &str = "meridian-assurance";

// Sites.
const VN_MINES: [(&str, &str); 3] = [
    ("vn-lc-mine-1", "VN-MONRE-GP-2019-117"),
    ("vn-lch-mine-2", "VN-MONRE-GP-2021-042"),
    ("vn-yb-mine-3", "VN-MONRE-GP-2022-008"),
];
const VN_PLANT: &str = "vn-sep-plant";
const VN_PORT: &str = "vn-haiphong-port";
const CN_MINE: &str = "cn-nm-mine-1";
const CN_PERMIT: &str = "CN-MNR-C1500-2020-044";
const CN_PLANT: &str = "cn-bt-sep-plant";
const WAREHOUSE: &str = "kr-incheon-wh";

/// A party: id, name, roles, country.
type PartyDef = (&'static str, &'static str, &'static [&'static str], &'static str);

/// The parties, in the order they are registered; the operator first, by itself.
const PARTIES: [PartyDef; 17] = [
    (OPERATOR, "Lode ledger operations (fictional)", &["operator"], "KR"),
    (VN_GROUP, "Song Hong Mining Group (fictional)", &["miner", "processor", "refiner"], "VN"),
    (CN_GROUP, "Northern Steppe Rare Earths (fictional)", &["miner", "processor", "refiner"], "CN"),
    (IMPORTER, "Han River Materials (fictional importer)", &["importer", "trader"], "KR"),
    (VN_CARRIER, "East Sea Lines (fictional carrier)", &["carrier"], "VN"),
    (KR_SHIPPING, "Han Pacific Shipping (fictional carrier)", &["carrier"], "KR"),
    (FORWARDER, "North Star Freight (fictional forwarder)", &["carrier"], "SG"),
    (KR_TRUCKING, "Incheon Trucking (fictional)", &["carrier"], "KR"),
    (CN_CARRIER, "Yellow Sea Logistics (fictional carrier)", &["carrier"], "CN"),
    (VN_LAB, "Red River Assay Laboratory (fictional)", &["lab"], "VN"),
    (KR_LAB, "Daejeon Assay Lab (fictional)", &["lab"], "KR"),
    (CN_LAB, "Baotou Analytical Centre (fictional)", &["lab"], "CN"),
    (MAKERS[0].party, "Ulsan Magnetics (fictional)", MAKER_ROLES, "KR"),
    (MAKERS[1].party, "Neomag Fukui (fictional)", MAKER_ROLES, "JP"),
    (MAKERS[2].party, "Magnetwerk Hanau (fictional)", MAKER_ROLES, "DE"),
    (MAKERS[3].party, "Lone Star Magnetics (fictional)", MAKER_ROLES, "US"),
    (AUDITOR, "Meridian Assurance (fictional auditor)", &["auditor"], "CH"),
];
const MAKER_ROLES: &[&str] = &["processor", "refiner", "magnet_maker"];

/// A site: id, operating party, name, kind, country, coordinates.
type SiteDef =
    (&'static str, &'static str, &'static str, &'static str, &'static str, Option<(&'static str, &'static str)>);

/// The sites, registered by their operators after the parties.
const SITES: [SiteDef; 19] = [
    (VN_MINES[0].0, VN_GROUP, "Lao Cai open pit (fictional)", "mine", "VN", Some(("22.4856", "103.9707"))),
    (VN_MINES[1].0, VN_GROUP, "Dong Pao pit (fictional)", "mine", "VN", Some(("22.3167", "103.3833"))),
    (VN_MINES[2].0, VN_GROUP, "Yen Phu pit (fictional)", "mine", "VN", Some(("21.8833", "104.8167"))),
    (VN_PLANT, VN_GROUP, "Yen Bai separation plant (fictional)", "separation_plant", "VN", None),
    (VN_PORT, VN_GROUP, "Hai Phong export yard (fictional)", "port", "VN", Some(("20.8449", "106.6881"))),
    (CN_MINE, CN_GROUP, "Inner Mongolia open pit (fictional)", "mine", "CN", Some(("41.7667", "109.9667"))),
    (CN_PLANT, CN_GROUP, "Baotou separation plant (fictional)", "separation_plant", "CN", None),
    (WAREHOUSE, IMPORTER, "Incheon bonded warehouse (fictional)", "warehouse", "KR", Some(("37.4563", "126.7052"))),
    ("vn-hanoi-lab", VN_LAB, "Red River Assay, Hanoi laboratory", "lab", "VN", None),
    ("kr-daejeon-lab", KR_LAB, "Daejeon Assay Lab", "lab", "KR", None),
    ("cn-baotou-lab", CN_LAB, "Baotou Analytical Centre", "lab", "CN", None),
    (MAKERS[0].metal_site, MAKERS[0].party, "Ulsan metal plant (fictional)", "metal_plant", "KR", None),
    (MAKERS[0].magnet_site, MAKERS[0].party, "Ulsan magnet plant (fictional)", "magnet_plant", "KR", None),
    (MAKERS[1].metal_site, MAKERS[1].party, "Fukui metal plant (fictional)", "metal_plant", "JP", None),
    (MAKERS[1].magnet_site, MAKERS[1].party, "Fukui magnet plant (fictional)", "magnet_plant", "JP", None),
    (MAKERS[2].metal_site, MAKERS[2].party, "Hanau metal plant (fictional)", "metal_plant", "DE", None),
    (MAKERS[2].magnet_site, MAKERS[2].party, "Hanau magnet plant (fictional)", "magnet_plant", "DE", None),
    (MAKERS[3].metal_site, MAKERS[3].party, "Texas metal plant (fictional)", "metal_plant", "US", None),
    (MAKERS[3].magnet_site, MAKERS[3].party, "Texas magnet plant (fictional)", "magnet_plant", "US", None),
];

/// A magnet maker: its party, plants, the prefixes of the lots it makes and how long shipments take.
#[derive(Debug)]
struct Maker {
    party: &'static str,
    metal_site: &'static str,
    magnet_site: &'static str,
    blend: &'static str,
    metal: &'static str,
    alloy: &'static str,
    magnet: &'static str,
    /// Whether shipments from the Incheon warehouse go by road rather than by sea.
    domestic: bool,
    /// Days from Incheon, least and most.
    from_incheon: (i64, i64),
    /// Days from Baotou, least and most.
    from_baotou: (i64, i64),
}

const MAKERS: [Maker; 4] = [
    Maker {
        party: "kr-magnetics",
        metal_site: "kr-ulsan-metal",
        magnet_site: "kr-ulsan-magnet",
        blend: "KR-BLD-",
        metal: "KR-MET-",
        alloy: "KR-ALY-",
        magnet: "KR-MAG-",
        domestic: true,
        from_incheon: (1, 2),
        from_baotou: (7, 10),
    },
    Maker {
        party: "jp-neomag",
        metal_site: "jp-fukui-metal",
        magnet_site: "jp-fukui-magnet",
        blend: "JP-BLD-",
        metal: "JP-MET-",
        alloy: "JP-ALY-",
        magnet: "JP-MAG-",
        domestic: false,
        from_incheon: (4, 7),
        from_baotou: (8, 12),
    },
    Maker {
        party: "de-magnetwerk",
        metal_site: "de-hanau-metal",
        magnet_site: "de-hanau-magnet",
        blend: "DE-BLD-",
        metal: "DE-MET-",
        alloy: "DE-ALY-",
        magnet: "DE-MAG-",
        domestic: false,
        from_incheon: (28, 34),
        from_baotou: (32, 38),
    },
    Maker {
        party: "us-magnetics",
        metal_site: "us-texas-metal",
        magnet_site: "us-texas-magnet",
        blend: "US-BLD-",
        metal: "US-MET-",
        alloy: "US-ALY-",
        magnet: "US-MAG-",
        domestic: false,
        from_incheon: (20, 26),
        from_baotou: (25, 30),
    },
];

// Materials, as their JSON.
const ORE: &str = r#"{"form":"ore","elements":["La","Ce","Pr","Nd","Dy"],"hs_code":"253090"}"#;
const CONCENTRATE: &str =
    r#"{"form":"concentrate","elements":["La","Ce","Pr","Nd","Dy"],"grade":"TREO 58%","hs_code":"253090"}"#;
const NDPR_OXIDE: &str = r#"{"form":"oxide","elements":["Nd","Pr"],"grade":"99.5%","hs_code":"284690"}"#;
const DY_OXIDE: &str = r#"{"form":"oxide","elements":["Dy"],"grade":"99.9%","hs_code":"284690"}"#;
const RESIDUE: &str = r#"{"form":"residue"}"#;
const NDPR_METAL: &str = r#"{"form":"metal","elements":["Nd","Pr"],"grade":"99.5%","hs_code":"280530"}"#;
const ALLOY: &str = r#"{"form":"alloy","elements":["Nd","Pr"],"grade":"NdFeB strip cast","hs_code":"720299"}"#;
const ALLOY_DY: &str = r#"{"form":"alloy","elements":["Nd","Pr","Dy"],"grade":"NdFeB strip cast","hs_code":"720299"}"#;
const MAGNET: &str = r#"{"form":"magnet","elements":["Nd","Pr"],"grade":"N52","hs_code":"850511"}"#;
const MAGNET_DY: &str = r#"{"form":"magnet","elements":["Nd","Pr","Dy"],"grade":"N42SH","hs_code":"850511"}"#;

// Lot and shipment id prefixes.
const VN_ORE: &str = "VN-ORE-";
const VN_CONC: &str = "VN-CONC-";
const VN_NDPR: &str = "VN-NDPR-";
const VN_DY: &str = "VN-DY-";
const VN_RES: &str = "VN-RES-";
const KR_NDPR: &str = "KR-NDPR-";
const CN_ORE: &str = "CN-ORE-";
const CN_CONC: &str = "CN-CONC-";
const CN_NDPR: &str = "CN-NDPR-";
const CN_RES: &str = "CN-RES-";
const VN_SHIPMENT: &str = "SHP-VN-";
const CN_SHIPMENT: &str = "SHP-CN-";
const KR_SHIPMENT: &str = "SHP-KR-";

/// The events of a generated history, as JSON objects without a trailing newline. Made by
/// [`generate`]; see the [module documentation](self).
#[derive(Debug)]
pub struct Scenario {
    rng: SplitMix64,
    /// Keys the event ids, apart from `rng` so that ids do not depend on the story's draws.
    id_key: u64,
    /// Events written so far: the index of the next event.
    events: u64,
    /// The id of the event being written.
    last_id: Uuid,
    /// The time of the current step's next event.
    clock: i64,
    /// The time of the last event written; times never go backwards.
    now: i64,
    gap: i64,
    out: VecDeque<String>,
    queue: BinaryHeap<Pending>,
    /// Tie-breaker of `queue`, in scheduling order.
    scheduled: u64,
    mine_lots: u64,
    next_lot: u64,
    next_lot_at: i64,
    production_begin: i64,
    /// Customer lots made so far.
    customers: u64,
    /// Shipments from the Incheon warehouse so far.
    kr_shipments: u64,
    /// Chinese mine lots shipped so far.
    cn_shipments: u64,
    /// Per maker, oxide lots in stock at its metal plant with their remaining mass, oldest first.
    cn_stock: [VecDeque<(Id, u64)>; 4],
    dy_stock: [VecDeque<(Id, u64)>; 4],
    forwarder_held: bool,
}

impl Scenario {
    fn new(opts: &ScenarioOptions) -> Scenario {
        let end = opts.start.timestamp();
        let first = end - HISTORY_DAYS * DAY;
        let production_begin = first + PRODUCTION_OFFSET_DAYS * DAY;
        let mine_lots = opts.mine_lots as u64;
        let window = PRODUCTION_WINDOW_DAYS * DAY;
        let slot = if mine_lots == 0 { window } else { window / i64::try_from(mine_lots).unwrap_or(i64::MAX) };
        let mut scenario = Scenario {
            rng: SplitMix64(mix(opts.seed ^ 0x5ce4_a710_0000_0001)),
            id_key: mix(opts.seed ^ 0x1d5_0000_0000_0002),
            events: 0,
            last_id: Uuid::nil(),
            clock: first,
            now: first,
            gap: (slot / 256).min(STEP_GAP_SECONDS_MAX),
            out: VecDeque::new(),
            queue: BinaryHeap::new(),
            scheduled: 0,
            mine_lots,
            next_lot: 0,
            next_lot_at: production_begin,
            production_begin,
            customers: 0,
            kr_shipments: 0,
            cn_shipments: 0,
            cn_stock: Default::default(),
            dy_stock: Default::default(),
            forwarder_held: false,
        };
        scenario.master_data(first);
        let hold_at = production_begin + 60 * DAY;
        scenario.schedule(hold_at, Task::Global(Global::HoldForwarder));
        scenario
    }

    /// Runs the earliest pending step: the next mine lot's extraction or a step of a lot in flight.
    /// Returns false when the history is complete.
    fn advance(&mut self) -> bool {
        let lot_due = self.next_lot < self.mine_lots;
        match self.queue.peek() {
            Some(pending) if !lot_due || pending.at < self.next_lot_at => {
                let Some(Pending { at, task, .. }) = self.queue.pop() else {
                    return false;
                };
                self.clock = at;
                match task {
                    Task::Vn(lot) => self.vn_step(at, lot),
                    Task::Cn(lot) => self.cn_step(at, lot),
                    Task::Customer(lot) => self.customer_step(at, lot),
                    Task::Global(step) => self.global_step(at, step),
                }
                true
            }
            _ if lot_due => {
                let (n, at) = (self.next_lot, self.next_lot_at);
                self.clock = at;
                self.extract(at, n);
                self.next_lot += 1;
                // Lot n is extracted at an even share of the window, give or take half a share.
                let window = u128::from((PRODUCTION_WINDOW_DAYS * DAY).unsigned_abs());
                let share = window * u128::from(self.next_lot) / u128::from(self.mine_lots);
                let slot = window / u128::from(self.mine_lots);
                let jitter = self.rng.below(u64::try_from(slot / 2).unwrap_or(0).max(1));
                let next = i64::try_from(share).unwrap_or(i64::MAX) + i64::try_from(jitter).unwrap_or(0);
                self.next_lot_at = (self.production_begin + next).max(at);
                true
            }
            _ => false,
        }
    }

    fn schedule(&mut self, at: i64, task: Task) {
        self.scheduled += 1;
        self.queue.push(Pending { at, seq: self.scheduled, task });
    }

    /// A time between `lo` and `hi` days after `at`.
    fn after(&mut self, at: i64, lo: i64, hi: i64) -> i64 {
        let spread = u64::try_from((hi - lo) * DAY).unwrap_or(0) + 1;
        at + lo * DAY + i64::try_from(self.rng.below(spread)).unwrap_or(0)
    }

    /// `mass` weighed again after a trip: from 0.2% less to 0.05% more.
    fn weigh(&mut self, mass: u64) -> u64 {
        mass - mass * self.rng.range(0, 20) / 10_000 + mass * self.rng.range(0, 5) / 10_000
    }

    fn master_data(&mut self, first: i64) {
        let mut at = first;
        for (party, name, roles, country) in PARTIES {
            self.clock = at;
            let mut s = self.begin("party.registered", OPERATOR);
            s.push_str(r#""party":""#);
            s.push_str(party);
            s.push_str(r#"","name":""#);
            s.push_str(name);
            s.push_str(r#"","roles":["#);
            for (i, role) in roles.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push('"');
                s.push_str(role);
                s.push('"');
            }
            s.push_str(r#"],"country":""#);
            s.push_str(country);
            s.push('"');
            self.end(s);
            at += SETUP_GAP_SECONDS;
        }
        for (site, party, name, kind, country, coordinates) in SITES {
            self.clock = at;
            let mut s = self.begin("site.registered", party);
            s.push_str(r#""site":""#);
            s.push_str(site);
            s.push_str(r#"","party":""#);
            s.push_str(party);
            s.push_str(r#"","name":""#);
            s.push_str(name);
            s.push_str(r#"","kind":""#);
            s.push_str(kind);
            s.push_str(r#"","country":""#);
            s.push_str(country);
            s.push('"');
            if let Some((lat, lon)) = coordinates {
                s.push_str(r#","lat":""#);
                s.push_str(lat);
                s.push_str(r#"","lon":""#);
                s.push_str(lon);
                s.push('"');
            }
            self.end(s);
            at += SETUP_GAP_SECONDS;
        }
    }

    /// Mine lot `n` comes out of the ground: every seventh in China, the others in Vietnam.
    fn extract(&mut self, at: i64, n: u64) {
        let ore_g = self.rng.range(20_000, 200_000) * 1000;
        if n % 7 == 1 {
            self.extracted(CN_GROUP, Id::new(CN_ORE, n), CN_MINE, ore_g, CN_PERMIT);
            let lot = CnLot { n, step: CnStep::Concentrate, ore_g, conc_g: 0, ndpr_g: 0, maker: 0 };
            let next = self.after(at, 2, 4);
            self.schedule(next, Task::Cn(Box::new(lot)));
            return;
        }
        // Each special case happens at a fixed position in every 20 lots and at random elsewhere.
        let position = n % 20;
        let transit_difference = position == 3 || self.rng.per_mille(15);
        let missing_origin = position == 6 || self.rng.per_mille(15);
        let special = Specials {
            transit_difference,
            missing_origin,
            late_origin: !missing_origin && (position == 9 || self.rng.per_mille(40)),
            correction: position == 11 || self.rng.per_mille(8),
            duplicate_move: position == 12 || self.rng.per_mille(8),
            adjustment: position == 13 || self.rng.per_mille(15),
            rejection: position == 17 || self.rng.per_mille(8),
            audit_report: position == 4 || self.rng.per_mille(30),
            analysis_certificate: self.rng.per_mille(500),
            import_assay: self.rng.per_mille(600),
        };
        let mine = usize::try_from(self.rng.below(3)).unwrap_or(0);
        let (site, permit) = VN_MINES[mine];
        self.extracted(VN_GROUP, Id::new(VN_ORE, n), site, ore_g, permit);
        let lot = VnLot { n, mine, step: VnStep::Concentrate, special, ore_g, conc_g: 0, ndpr_g: 0, dy_g: 0 };
        let next = self.after(at, 3, 5);
        self.schedule(next, Task::Vn(Box::new(lot)));
    }

    fn vn_step(&mut self, at: i64, mut lot: Box<VnLot>) {
        let n = lot.n;
        let (ore, conc, ndpr, dy, res) =
            (Id::new(VN_ORE, n), Id::new(VN_CONC, n), Id::new(VN_NDPR, n), Id::new(VN_DY, n), Id::new(VN_RES, n));
        let shipment = Id::new(VN_SHIPMENT, n);
        let next = match lot.step {
            VnStep::Concentrate => {
                let loss = lot.ore_g * self.rng.range(3, 15) / 1000;
                lot.conc_g = lot.ore_g - loss;
                let site = VN_MINES[lot.mine].0;
                self.transformed(
                    VN_GROUP,
                    "other",
                    site,
                    &[(ore, lot.ore_g)],
                    &[(conc, CONCENTRATE, lot.conc_g)],
                    0,
                    loss,
                );
                (VnStep::MoveToPlant, self.after(at, 1, 3))
            }
            VnStep::MoveToPlant => {
                self.moved(VN_GROUP, conc, VN_PLANT);
                (VnStep::Separate, self.after(at, 4, 9))
            }
            VnStep::Separate => {
                let (ndpr_g, dy_g, loss, res_g) = self.separate(lot.conc_g, (60, 120), (3, 10));
                lot.ndpr_g = ndpr_g;
                lot.dy_g = dy_g;
                self.transformed(
                    VN_GROUP,
                    "separation",
                    VN_PLANT,
                    &[(conc, lot.conc_g)],
                    &[(ndpr, NDPR_OXIDE, ndpr_g), (dy, DY_OXIDE, dy_g), (res, RESIDUE, res_g)],
                    0,
                    loss,
                );
                // The residue's mass rides on in `conc_g`, no longer needed for the concentrate.
                lot.conc_g = res_g;
                (VnStep::Assay, self.after(at, 2, 4))
            }
            VnStep::Assay => {
                let (nd, pr, treo) = self.ndpr_assay();
                let certificate = Id::new("RRA-", n);
                if lot.special.correction {
                    // The lab keys the certificate in with two values transposed, then corrects it.
                    let wrong = self.assayed(VN_LAB, ndpr, VN_LAB, certificate.with('N'), &[pr, nd], treo);
                    self.corrected(
                        VN_LAB,
                        wrong,
                        "incorrect_data",
                        "Nd2O3 and Pr6O11 transposed when the certificate was keyed in",
                    );
                    self.assayed(VN_LAB, ndpr, VN_LAB, certificate.with('R'), &[nd, pr], treo);
                } else {
                    self.assayed(VN_LAB, ndpr, VN_LAB, certificate.with('N'), &[nd, pr], treo);
                }
                let dy2o3 = self.rng.range(998_500, 999_600);
                let dy_treo = dy2o3 + self.rng.range(100, 300);
                self.assayed_dy(certificate.with('D'), dy, dy2o3, dy_treo);
                self.consumed(VN_GROUP, res, lot.conc_g, "destroyed");
                if lot.special.analysis_certificate {
                    self.attached(
                        VN_GROUP,
                        Target::Lot(ndpr),
                        "certificate_of_analysis",
                        Id::new("RRA-COA-", n),
                        Some("Red River Assay Laboratory (fictional)"),
                    );
                }
                (VnStep::MoveToPort, self.after(at, 2, 4))
            }
            VnStep::MoveToPort => {
                self.moved(VN_GROUP, ndpr, VN_PORT);
                self.moved(VN_GROUP, dy, VN_PORT);
                if lot.special.duplicate_move {
                    let duplicate = self.moved(VN_GROUP, ndpr, VN_PORT);
                    self.corrected(
                        VN_GROUP,
                        duplicate,
                        "did_not_occur",
                        "duplicate gate-in scan at the Hai Phong yard",
                    );
                }
                (VnStep::Ship, self.after(at, 1, 3))
            }
            VnStep::Ship => {
                let carrier = if self.rng.per_mille(750) { VN_CARRIER } else { KR_SHIPPING };
                let mut documents = vec![Document::new("bill_of_lading", Id::new("BL-HPH-ICN-", n), true)];
                if !lot.special.missing_origin && !lot.special.late_origin {
                    documents.push(Document::new("certificate_of_origin", Id::new("VN-CO-", n), false));
                }
                documents.push(Document::new("invoice", Id::new("SHM-INV-", n), false));
                documents.push(Document::new("export_declaration", Id::new("VN-CUS-ED-", n), false));
                self.shipped(VN_GROUP, shipment, &[ndpr, dy], VN_PORT, IMPORTER, WAREHOUSE, carrier, &documents);
                (VnStep::Receive, self.after(at, 6, 10))
            }
            VnStep::Receive => {
                if lot.special.late_origin {
                    self.attached(
                        VN_GROUP,
                        Target::Shipment(shipment),
                        "certificate_of_origin",
                        Id::new("VN-CO-", n),
                        Some("VCCI Hai Phong (fictional)"),
                    );
                }
                let shipped_g = lot.ndpr_g;
                lot.ndpr_g = if lot.special.transit_difference {
                    shipped_g - shipped_g * self.rng.range(60, 150) / 10_000
                } else {
                    self.weigh(shipped_g)
                };
                lot.dy_g = self.weigh(lot.dy_g);
                // The difference rides on in `conc_g`, no longer needed for the residue.
                lot.conc_g = shipped_g.abs_diff(lot.ndpr_g);
                self.received(IMPORTER, shipment, &[(ndpr, lot.ndpr_g), (dy, lot.dy_g)]);
                if lot.special.import_assay {
                    let (nd, pr, treo) = self.ndpr_assay();
                    self.assayed(KR_LAB, ndpr, KR_LAB, Id::new("DAL-", n), &[nd, pr], treo);
                }
                if lot.special.audit_report {
                    self.attached(
                        AUDITOR,
                        Target::Shipment(shipment),
                        "audit_report",
                        Id::new("MA-AR-", n),
                        Some("Meridian Assurance (fictional)"),
                    );
                }
                if lot.special.transit_difference {
                    (VnStep::PlaceHold, self.after(at, 1, 2))
                } else {
                    self.after_receipt(at, &lot)
                }
            }
            VnStep::PlaceHold => {
                let mut reason = String::from("transit difference of ");
                push_u64(&mut reason, lot.conc_g);
                reason.push_str(" g on ");
                shipment.push_to(&mut reason);
                reason.push_str(" under investigation");
                self.hold("hold.placed", AUDITOR, Target::Lot(ndpr), &reason);
                (VnStep::Reweigh, self.after(at, 2, 4))
            }
            VnStep::Reweigh => {
                self.attached(
                    IMPORTER,
                    Target::Lot(ndpr),
                    "other",
                    Id::new("ICN-WT-", n),
                    Some("Incheon bonded warehouse scale office (fictional)"),
                );
                (VnStep::ReleaseHold, self.after(at, 1, 3))
            }
            VnStep::ReleaseHold => {
                self.hold(
                    "hold.released",
                    AUDITOR,
                    Target::Lot(ndpr),
                    "reweighed: loss traced to torn bulk bags, carrier claim filed",
                );
                self.after_receipt(at, &lot)
            }
            VnStep::Adjust => {
                let delta = lot.dy_g * self.rng.range(1, 4) / 1000;
                lot.dy_g -= delta;
                let delta = -i64::try_from(delta).unwrap_or(i64::MAX);
                self.adjusted(IMPORTER, dy, delta, "stocktake: drum tare weights corrected");
                (VnStep::Split, self.after(at, 2, 5))
            }
            VnStep::Split => {
                self.split(at, &lot);
                return;
            }
        };
        lot.step = next.0;
        self.schedule(next.1, Task::Vn(lot));
    }

    /// What comes after the importer took custody, and any hold on the lot was released.
    fn after_receipt(&mut self, at: i64, lot: &VnLot) -> (VnStep, i64) {
        if lot.special.adjustment {
            (VnStep::Adjust, self.after(at, 2, 5))
        } else {
            (VnStep::Split, self.after(at, 3, 8))
        }
    }

    /// Separates `conc_g` of concentrate into NdPr oxide, Dy oxide (each 1 to 25 t, by the given
    /// per-mille ranges of the concentrate), loss and residue. Returns (NdPr, Dy, loss, residue).
    fn separate(&mut self, conc_g: u64, ndpr: (u64, u64), dy: (u64, u64)) -> (u64, u64, u64, u64) {
        let oxide = |share: u64| (conc_g * share / 1000).clamp(1_000_000, 25_000_000) / 1000 * 1000;
        let ndpr_g = oxide(self.rng.range(ndpr.0, ndpr.1));
        let dy_g = if dy.1 == 0 { 0 } else { oxide(self.rng.range(dy.0, dy.1)) };
        let loss = conc_g * self.rng.range(2, 8) / 1000;
        // Concentrate weighs at least 19.7 t, of which the oxides take at most 13% or 1 t each, and the
        // loss 0.8%: the residue is never empty.
        let residue = conc_g - ndpr_g - dy_g - loss;
        (ndpr_g, dy_g, loss, residue)
    }

    /// An assay of NdPr oxide: (Nd2O3, Pr6O11, TREO) in parts per million.
    fn ndpr_assay(&mut self) -> (u64, u64, u64) {
        let nd = self.rng.range(735_000, 755_000);
        let pr = 995_000 - nd - self.rng.range(0, 2_000);
        let treo = nd + pr + self.rng.range(1_000, 4_000);
        (nd, pr, treo)
    }

    /// The importer splits the NdPr oxide into customer lots and sends each on its way.
    fn split(&mut self, at: i64, lot: &VnLot) {
        let n = lot.n;
        let ndpr = Id::new(VN_NDPR, n);
        let count: u64 = if lot.ndpr_g < 2_000_000 {
            1
        } else if lot.ndpr_g < 5_000_000 {
            2
        } else {
            self.rng.range(2, 4)
        };
        let mut parts: Vec<(Id, u64)> = Vec::with_capacity(4);
        if count == 1 {
            parts.push((ndpr, lot.ndpr_g));
        } else {
            let weights: Vec<u64> = (0..count).map(|_| self.rng.range(80, 120)).collect();
            let total: u64 = weights.iter().sum();
            let mut left = lot.ndpr_g;
            for (i, weight) in weights.iter().enumerate() {
                let suffix = char::from(b'A' + u8::try_from(i).unwrap_or(0));
                let mass = if i + 1 == weights.len() { left } else { lot.ndpr_g * weight / total };
                left -= mass;
                parts.push((Id::new(KR_NDPR, n).with(suffix), mass));
            }
            let outputs: Vec<(Id, &str, u64)> = parts.iter().map(|&(id, mass)| (id, NDPR_OXIDE, mass)).collect();
            self.transformed(IMPORTER, "split", WAREHOUSE, &[(ndpr, lot.ndpr_g)], &outputs, 0, 0);
        }
        // Customer lots of one mine lot go to different makers; the Dy oxide rides with the first.
        let first_maker = self.rng.below(4);
        for (i, (id, mass)) in parts.into_iter().enumerate() {
            let c = self.customers;
            self.customers += 1;
            let maker = usize::try_from((first_maker + i as u64) % 4).unwrap_or(0);
            let customer = CustomerLot {
                c,
                lot: id,
                mass_g: mass,
                maker,
                dy: (i == 0).then_some((Id::new(VN_DY, n), lot.dy_g)),
                rejection: i == 0 && lot.special.rejection,
                step: CustomerStep::Ship,
                shipment: id,
                oxide: id,
                dy_used: false,
                deliveries: 0,
                sample: false,
            };
            let next = self.after(at, 2, 10);
            self.schedule(next, Task::Customer(Box::new(customer)));
        }
    }

    fn customer_step(&mut self, at: i64, mut lot: Box<CustomerLot>) {
        let maker = &MAKERS[lot.maker];
        let c = lot.c;
        let (blend, metal, alloy, magnet) =
            (Id::new(maker.blend, c), Id::new(maker.metal, c), Id::new(maker.alloy, c), Id::new(maker.magnet, c));
        let next = match lot.step {
            CustomerStep::Ship => {
                self.kr_shipments += 1;
                let k = self.kr_shipments;
                lot.shipment = Id::new(KR_SHIPMENT, k);
                let carrier = if maker.domestic {
                    KR_TRUCKING
                } else if !self.forwarder_held && self.rng.per_mille(600) {
                    FORWARDER
                } else {
                    KR_SHIPPING
                };
                let documents = [
                    Document::new("bill_of_lading", Id::new("BL-ICN-", k), self.rng.per_mille(500)),
                    Document::new("certificate_of_origin", Id::new("KCCI-CO-", k), false),
                    Document::new("invoice", Id::new("HRM-INV-", k), false),
                ];
                let lots: Vec<Id> = std::iter::once(lot.lot).chain(lot.dy.map(|(id, _)| id)).collect();
                self.shipped(
                    IMPORTER,
                    lot.shipment,
                    &lots,
                    WAREHOUSE,
                    maker.party,
                    maker.metal_site,
                    carrier,
                    &documents,
                );
                let (lo, hi) = maker.from_incheon;
                (CustomerStep::Arrive, self.after(at, lo, hi))
            }
            CustomerStep::Arrive if lot.rejection => {
                self.rejected(maker.party, lot.shipment, "seals broken on arrival; drums returned for re-inspection");
                lot.rejection = false;
                (CustomerStep::Ship, self.after(at, 7, 12))
            }
            CustomerStep::Arrive => {
                lot.mass_g = self.weigh_closely(lot.mass_g);
                let mut received = vec![(lot.lot, lot.mass_g)];
                if let Some((dy, dy_g)) = lot.dy {
                    let dy_g = self.weigh_closely(dy_g);
                    received.push((dy, dy_g));
                    self.dy_stock[lot.maker].push_back((dy, dy_g));
                }
                self.received(maker.party, lot.shipment, &received);
                lot.oxide = lot.lot;
                (CustomerStep::Blend, self.after(at, 3, 7))
            }
            CustomerStep::Blend => {
                let stocked = self.cn_stock[lot.maker].front().copied();
                match stocked {
                    Some((cn, left)) if self.rng.per_mille(800) => {
                        let take = (lot.mass_g * self.rng.range(20, 50) / 100).clamp(1, left);
                        take_from(&mut self.cn_stock[lot.maker], take);
                        let blended = lot.mass_g + take;
                        self.transformed(
                            maker.party,
                            "blend",
                            maker.metal_site,
                            &[(lot.lot, lot.mass_g), (cn, take)],
                            &[(blend, NDPR_OXIDE, blended)],
                            0,
                            0,
                        );
                        lot.oxide = blend;
                        lot.mass_g = blended;
                        (CustomerStep::Reduce, self.after(at, 1, 3))
                    }
                    _ => {
                        lot.step = CustomerStep::Reduce;
                        return self.customer_step(at, lot);
                    }
                }
            }
            CustomerStep::Reduce => {
                // NdPr oxide is about 85% metal by mass; the oxygen leaves as the process loss.
                let metal_g = lot.mass_g * self.rng.range(835, 850) / 1000;
                self.transformed(
                    maker.party,
                    "reduction",
                    maker.metal_site,
                    &[(lot.oxide, lot.mass_g)],
                    &[(metal, NDPR_METAL, metal_g)],
                    0,
                    lot.mass_g - metal_g,
                );
                lot.mass_g = metal_g;
                (CustomerStep::Alloy, self.after(at, 2, 5))
            }
            CustomerStep::Alloy => {
                let mut inputs = vec![(metal, lot.mass_g)];
                if let Some((dy, left)) = self.dy_stock[lot.maker].front().copied() {
                    let take = (lot.mass_g * self.rng.range(10, 25) / 100).clamp(1, left);
                    take_from(&mut self.dy_stock[lot.maker], take);
                    inputs.push((dy, take));
                    lot.dy_used = true;
                }
                let traced: u64 = inputs.iter().map(|(_, mass)| mass).sum();
                // Iron and boron make up about 70% of the alloy.
                let additions = traced * self.rng.range(215, 235) / 100;
                let loss = (traced + additions) * self.rng.range(2, 8) / 1000;
                let alloy_g = traced + additions - loss;
                let material = if lot.dy_used { ALLOY_DY } else { ALLOY };
                self.transformed(
                    maker.party,
                    "alloying",
                    maker.metal_site,
                    &inputs,
                    &[(alloy, material, alloy_g)],
                    additions,
                    loss,
                );
                lot.mass_g = alloy_g;
                (CustomerStep::MoveToMagnetPlant, self.after(at, 1, 2))
            }
            CustomerStep::MoveToMagnetPlant => {
                self.moved(maker.party, alloy, maker.magnet_site);
                (CustomerStep::MakeMagnets, self.after(at, 3, 8))
            }
            CustomerStep::MakeMagnets => {
                let loss = lot.mass_g * self.rng.range(20, 80) / 1000;
                let magnet_g = lot.mass_g - loss;
                let material = if lot.dy_used { MAGNET_DY } else { MAGNET };
                self.transformed(
                    maker.party,
                    "magnet_making",
                    maker.magnet_site,
                    &[(alloy, lot.mass_g)],
                    &[(magnet, material, magnet_g)],
                    0,
                    loss,
                );
                lot.mass_g = magnet_g;
                lot.deliveries = self.rng.range(1, 3);
                lot.sample = self.rng.per_mille(100);
                (CustomerStep::Deliver, self.after(at, 3, 8))
            }
            CustomerStep::Deliver => {
                if lot.sample {
                    let sample_g = self.rng.range(100, 2_000).min(lot.mass_g / 2);
                    self.consumed(maker.party, magnet, sample_g, "sample");
                    lot.mass_g -= sample_g;
                    lot.sample = false;
                }
                if lot.deliveries <= 1 {
                    self.consumed(maker.party, magnet, lot.mass_g, "delivered_to_product");
                    return;
                }
                let delivered = lot.mass_g * self.rng.range(30, 60) / 100;
                self.consumed(maker.party, magnet, delivered, "delivered_to_product");
                lot.mass_g -= delivered;
                lot.deliveries -= 1;
                (CustomerStep::Deliver, self.after(at, 3, 8))
            }
        };
        lot.step = next.0;
        self.schedule(next.1, Task::Customer(lot));
    }

    /// `mass` weighed again after a short trip: within 0.05%.
    fn weigh_closely(&mut self, mass: u64) -> u64 {
        mass - mass * self.rng.range(0, 5) / 10_000 + mass * self.rng.range(0, 5) / 10_000
    }

    fn cn_step(&mut self, at: i64, mut lot: Box<CnLot>) {
        let n = lot.n;
        let (ore, conc, ndpr, res) = (Id::new(CN_ORE, n), Id::new(CN_CONC, n), Id::new(CN_NDPR, n), Id::new(CN_RES, n));
        let shipment = Id::new(CN_SHIPMENT, n);
        let next = match lot.step {
            CnStep::Concentrate => {
                let loss = lot.ore_g * self.rng.range(3, 15) / 1000;
                lot.conc_g = lot.ore_g - loss;
                self.transformed(
                    CN_GROUP,
                    "other",
                    CN_MINE,
                    &[(ore, lot.ore_g)],
                    &[(conc, CONCENTRATE, lot.conc_g)],
                    0,
                    loss,
                );
                (CnStep::MoveToPlant, self.after(at, 1, 2))
            }
            CnStep::MoveToPlant => {
                self.moved(CN_GROUP, conc, CN_PLANT);
                (CnStep::Separate, self.after(at, 4, 8))
            }
            CnStep::Separate => {
                let (ndpr_g, _, loss, res_g) = self.separate(lot.conc_g, (60, 120), (0, 0));
                self.transformed(
                    CN_GROUP,
                    "separation",
                    CN_PLANT,
                    &[(conc, lot.conc_g)],
                    &[(ndpr, NDPR_OXIDE, ndpr_g), (res, RESIDUE, res_g)],
                    0,
                    loss,
                );
                lot.ndpr_g = ndpr_g;
                // The residue's mass rides on in `ore_g`, no longer needed for the ore.
                lot.ore_g = res_g;
                (CnStep::Assay, self.after(at, 2, 3))
            }
            CnStep::Assay => {
                let (nd, pr, treo) = self.ndpr_assay();
                self.assayed(CN_LAB, ndpr, CN_LAB, Id::new("BAC-", n), &[nd, pr], treo);
                self.consumed(CN_GROUP, res, lot.ore_g, "destroyed");
                (CnStep::Ship, self.after(at, 2, 4))
            }
            CnStep::Ship => {
                lot.maker = usize::try_from(self.cn_shipments % 4).unwrap_or(0);
                self.cn_shipments += 1;
                let maker = &MAKERS[lot.maker];
                let documents = [
                    Document::new("bill_of_lading", Id::new("BL-TSN-", n), true),
                    Document::new("certificate_of_origin", Id::new("CCPIT-CO-", n), false),
                    Document::new("invoice", Id::new("NSR-INV-", n), false),
                    Document::new("export_declaration", Id::new("CN-CUS-ED-", n), false),
                ];
                self.shipped(
                    CN_GROUP,
                    shipment,
                    &[ndpr],
                    CN_PLANT,
                    maker.party,
                    maker.metal_site,
                    CN_CARRIER,
                    &documents,
                );
                let (lo, hi) = maker.from_baotou;
                (CnStep::Arrive, self.after(at, lo, hi))
            }
            CnStep::Arrive => {
                let received = self.weigh_closely(lot.ndpr_g);
                self.received(MAKERS[lot.maker].party, shipment, &[(ndpr, received)]);
                self.cn_stock[lot.maker].push_back((ndpr, received));
                return;
            }
        };
        lot.step = next.0;
        self.schedule(next.1, Task::Cn(lot));
    }

    fn global_step(&mut self, at: i64, step: Global) {
        match step {
            Global::HoldForwarder => {
                self.hold(
                    "hold.placed",
                    AUDITOR,
                    Target::Party(FORWARDER),
                    "beneficial ownership under sanctions screening",
                );
                self.forwarder_held = true;
                let release = self.after(at, 21, 28);
                self.schedule(release, Task::Global(Global::ReleaseForwarder));
            }
            Global::ReleaseForwarder => {
                self.hold(
                    "hold.released",
                    AUDITOR,
                    Target::Party(FORWARDER),
                    "screening cleared: no covered-country ownership",
                );
                self.forwarder_held = false;
            }
        }
    }

    /// An event id: a version 4 UUID from the seed and the event's index.
    fn event_id(&self, index: u64) -> Uuid {
        let high = mix(self.id_key.wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        let low = mix(high ^ self.id_key.rotate_left(32));
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&high.to_be_bytes());
        bytes[8..].copy_from_slice(&low.to_be_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// Starts an event at the current step's clock: the envelope up to the opening of `data`.
    fn begin(&mut self, type_name: &str, actor: &str) -> String {
        let at = self.clock.max(self.now);
        self.now = at;
        self.clock = at + self.gap;
        let id = self.event_id(self.events);
        self.events += 1;
        self.last_id = id;
        let mut s = String::with_capacity(512);
        s.push_str(r#"{"id":""#);
        let mut buffer = [0u8; 36];
        s.push_str(id.hyphenated().encode_lower(&mut buffer));
        s.push_str(r#"","type":""#);
        s.push_str(type_name);
        s.push_str(r#"","actor":""#);
        s.push_str(actor);
        s.push_str(r#"","occurred_at":""#);
        push_time(&mut s, at);
        s.push_str(r#"","data":{"#);
        s
    }

    /// Closes `data` and the envelope, queues the event and returns its id.
    fn end(&mut self, mut s: String) -> Uuid {
        s.push_str("}}");
        self.out.push_back(s);
        self.last_id
    }

    fn extracted(&mut self, actor: &str, lot: Id, site: &str, mass_g: u64, permit: &str) {
        let mut s = self.begin("lot.extracted", actor);
        push_field_id(&mut s, "lot", lot, false);
        push_field_str(&mut s, "site", site, true);
        s.push_str(r#","material":"#);
        s.push_str(ORE);
        push_field_u64(&mut s, "mass_g", mass_g);
        push_field_str(&mut s, "permit", permit, true);
        self.end(s);
    }

    #[allow(clippy::too_many_arguments)] // The fields of the event.
    fn transformed(
        &mut self,
        actor: &str,
        process: &str,
        site: &str,
        inputs: &[(Id, u64)],
        outputs: &[(Id, &str, u64)],
        additions_g: u64,
        loss_g: u64,
    ) {
        debug_assert_eq!(
            inputs.iter().map(|(_, m)| u128::from(*m)).sum::<u128>() + u128::from(additions_g),
            outputs.iter().map(|(_, _, m)| u128::from(*m)).sum::<u128>() + u128::from(loss_g),
            "a generated transformation balances"
        );
        let mut s = self.begin("lot.transformed", actor);
        push_field_str(&mut s, "process", process, false);
        push_field_str(&mut s, "site", site, true);
        s.push_str(r#","inputs":["#);
        for (i, (lot, mass_g)) in inputs.iter().enumerate() {
            s.push_str(if i == 0 { "{" } else { ",{" });
            push_field_id(&mut s, "lot", *lot, false);
            push_field_u64(&mut s, "mass_g", *mass_g);
            s.push('}');
        }
        s.push_str(r#"],"outputs":["#);
        for (i, (lot, material, mass_g)) in outputs.iter().enumerate() {
            s.push_str(if i == 0 { "{" } else { ",{" });
            push_field_id(&mut s, "lot", *lot, false);
            s.push_str(r#","material":"#);
            s.push_str(material);
            push_field_u64(&mut s, "mass_g", *mass_g);
            s.push('}');
        }
        s.push(']');
        if additions_g > 0 {
            push_field_u64(&mut s, "additions_g", additions_g);
        }
        if loss_g > 0 {
            push_field_u64(&mut s, "loss_g", loss_g);
        }
        self.end(s);
    }

    fn moved(&mut self, actor: &str, lot: Id, to_site: &str) -> Uuid {
        let mut s = self.begin("lot.moved", actor);
        push_field_id(&mut s, "lot", lot, false);
        push_field_str(&mut s, "to_site", to_site, true);
        self.end(s)
    }

    /// An assay of NdPr oxide: `oxides` are the ppm of Nd2O3 and Pr6O11.
    fn assayed(&mut self, actor: &str, lot: Id, lab: &str, certificate: Id, oxides: &[u64; 2], treo: u64) -> Uuid {
        let mut s = self.begin("lot.assayed", actor);
        push_field_id(&mut s, "lot", lot, false);
        push_field_str(&mut s, "lab", lab, true);
        push_field_id(&mut s, "certificate", certificate, true);
        s.push_str(r#","oxides_ppm":{"Nd2O3":"#);
        push_u64(&mut s, oxides[0]);
        s.push_str(r#","Pr6O11":"#);
        push_u64(&mut s, oxides[1]);
        s.push('}');
        push_field_u64(&mut s, "treo_ppm", treo);
        self.end(s)
    }

    fn assayed_dy(&mut self, certificate: Id, lot: Id, dy2o3: u64, treo: u64) {
        let mut s = self.begin("lot.assayed", VN_LAB);
        push_field_id(&mut s, "lot", lot, false);
        push_field_str(&mut s, "lab", VN_LAB, true);
        push_field_id(&mut s, "certificate", certificate, true);
        s.push_str(r#","oxides_ppm":{"Dy2O3":"#);
        push_u64(&mut s, dy2o3);
        s.push('}');
        push_field_u64(&mut s, "treo_ppm", treo);
        self.end(s);
    }

    #[allow(clippy::too_many_arguments)] // The fields of the event.
    fn shipped(
        &mut self,
        actor: &str,
        shipment: Id,
        lots: &[Id],
        from_site: &str,
        to_party: &str,
        to_site: &str,
        carrier: &str,
        documents: &[Document],
    ) {
        let mut s = self.begin("custody.shipped", actor);
        push_field_id(&mut s, "shipment", shipment, false);
        s.push_str(r#","lots":["#);
        for (i, lot) in lots.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('"');
            lot.push_to(&mut s);
            s.push('"');
        }
        s.push(']');
        push_field_str(&mut s, "from_site", from_site, true);
        push_field_str(&mut s, "to_party", to_party, true);
        push_field_str(&mut s, "to_site", to_site, true);
        push_field_str(&mut s, "carrier", carrier, true);
        s.push_str(r#","documents":["#);
        for (i, document) in documents.iter().enumerate() {
            s.push_str(if i == 0 { "{" } else { ",{" });
            push_field_str(&mut s, "kind", document.kind, false);
            push_field_id(&mut s, "ref", document.reference, true);
            if document.digest {
                s.push_str(r#","digest":""#);
                for _ in 0..4 {
                    push_hex(&mut s, self.rng.next_u64());
                }
                s.push('"');
            }
            s.push('}');
        }
        s.push(']');
        self.end(s);
    }

    fn received(&mut self, actor: &str, shipment: Id, lots: &[(Id, u64)]) {
        let mut s = self.begin("custody.received", actor);
        push_field_id(&mut s, "shipment", shipment, false);
        s.push_str(r#","lots":["#);
        for (i, (lot, mass_g)) in lots.iter().enumerate() {
            s.push_str(if i == 0 { "{" } else { ",{" });
            push_field_id(&mut s, "lot", *lot, false);
            push_field_u64(&mut s, "mass_g", *mass_g);
            s.push('}');
        }
        s.push(']');
        self.end(s);
    }

    fn rejected(&mut self, actor: &str, shipment: Id, reason: &str) {
        let mut s = self.begin("custody.rejected", actor);
        push_field_id(&mut s, "shipment", shipment, false);
        push_field_str(&mut s, "reason", reason, true);
        self.end(s);
    }

    fn attached(&mut self, actor: &str, target: Target, kind: &str, reference: Id, issuer: Option<&str>) {
        let mut s = self.begin("document.attached", actor);
        target.push_to(&mut s);
        push_field_str(&mut s, "kind", kind, true);
        push_field_id(&mut s, "ref", reference, true);
        if let Some(issuer) = issuer {
            push_field_str(&mut s, "issuer", issuer, true);
        }
        self.end(s);
    }

    fn consumed(&mut self, actor: &str, lot: Id, mass_g: u64, reason: &str) {
        let mut s = self.begin("lot.consumed", actor);
        push_field_id(&mut s, "lot", lot, false);
        push_field_u64(&mut s, "mass_g", mass_g);
        push_field_str(&mut s, "reason", reason, true);
        self.end(s);
    }

    fn adjusted(&mut self, actor: &str, lot: Id, delta_g: i64, reason: &str) {
        let mut s = self.begin("lot.adjusted", actor);
        push_field_id(&mut s, "lot", lot, false);
        s.push_str(r#","delta_g":"#);
        if delta_g < 0 {
            s.push('-');
        }
        push_u64(&mut s, delta_g.unsigned_abs());
        push_field_str(&mut s, "reason", reason, true);
        self.end(s);
    }

    fn hold(&mut self, type_name: &str, actor: &str, target: Target, reason: &str) {
        let mut s = self.begin(type_name, actor);
        target.push_to(&mut s);
        push_field_str(&mut s, "reason", reason, true);
        self.end(s);
    }

    fn corrected(&mut self, actor: &str, event: Uuid, reason: &str, note: &str) {
        let mut s = self.begin("event.corrected", actor);
        s.push_str(r#""event":""#);
        let mut buffer = [0u8; 36];
        s.push_str(event.hyphenated().encode_lower(&mut buffer));
        s.push('"');
        push_field_str(&mut s, "reason", reason, true);
        push_field_str(&mut s, "note", note, true);
        self.end(s);
    }
}

impl Iterator for Scenario {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            if let Some(event) = self.out.pop_front() {
                return Some(event);
            }
            if !self.advance() {
                return None;
            }
        }
    }
}

impl FusedIterator for Scenario {}

/// Takes `mass` from the oldest lot of a stock, dropping it when it is used up.
fn take_from(stock: &mut VecDeque<(Id, u64)>, mass: u64) {
    if let Some(front) = stock.front_mut() {
        front.1 -= mass;
        if front.1 == 0 {
            stock.pop_front();
        }
    }
}

/// A lot, shipment or document reference: a prefix, a number of at least six digits and an optional
/// one-letter suffix, such as `KR-NDPR-000123-A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id {
    prefix: &'static str,
    n: u64,
    suffix: Option<char>,
}

impl Id {
    fn new(prefix: &'static str, n: u64) -> Id {
        Id { prefix, n, suffix: None }
    }

    fn with(self, suffix: char) -> Id {
        Id { suffix: Some(suffix), ..self }
    }

    fn push_to(self, s: &mut String) {
        s.push_str(self.prefix);
        push_padded(s, self.n, 6);
        if let Some(suffix) = self.suffix {
            s.push('-');
            s.push(suffix);
        }
    }
}

/// What a document or a hold is about.
#[derive(Debug, Clone, Copy)]
enum Target {
    Lot(Id),
    Shipment(Id),
    Party(&'static str),
}

impl Target {
    /// Writes the target as the first field of `data`.
    fn push_to(self, s: &mut String) {
        match self {
            Target::Lot(lot) => push_field_id(s, "lot", lot, false),
            Target::Shipment(shipment) => push_field_id(s, "shipment", shipment, false),
            Target::Party(party) => push_field_str(s, "party", party, false),
        }
    }
}

/// A document listed on a shipment.
#[derive(Debug, Clone, Copy)]
struct Document {
    kind: &'static str,
    reference: Id,
    digest: bool,
}

impl Document {
    fn new(kind: &'static str, reference: Id, digest: bool) -> Document {
        Document { kind, reference, digest }
    }
}

/// The special cases a Vietnamese mine lot goes through.
#[derive(Debug, Clone, Copy)]
struct Specials {
    /// Received more than 0.5% short, then held, reweighed and released.
    transit_difference: bool,
    /// Exported without a certificate of origin.
    missing_origin: bool,
    /// The certificate of origin is attached to the shipment while it is at sea.
    late_origin: bool,
    /// The NdPr assay is keyed in wrongly, corrected and reissued.
    correction: bool,
    /// The move to the port is recorded twice, and the second corrected.
    duplicate_move: bool,
    /// The importer's stocktake adjusts the Dy oxide.
    adjustment: bool,
    /// The first customer shipment is rejected and shipped again.
    rejection: bool,
    audit_report: bool,
    analysis_certificate: bool,
    import_assay: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VnStep {
    Concentrate,
    MoveToPlant,
    Separate,
    Assay,
    MoveToPort,
    Ship,
    Receive,
    PlaceHold,
    Reweigh,
    ReleaseHold,
    Adjust,
    Split,
}

/// A Vietnamese mine lot on its way to the importer.
#[derive(Debug)]
struct VnLot {
    n: u64,
    mine: usize,
    step: VnStep,
    special: Specials,
    ore_g: u64,
    /// The concentrate's mass; later the residue's, then the transit difference of the NdPr oxide.
    conc_g: u64,
    ndpr_g: u64,
    dy_g: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CnStep {
    Concentrate,
    MoveToPlant,
    Separate,
    Assay,
    Ship,
    Arrive,
}

/// A Chinese mine lot on its way to a magnet maker.
#[derive(Debug)]
struct CnLot {
    n: u64,
    step: CnStep,
    /// The ore's mass; later the residue's.
    ore_g: u64,
    conc_g: u64,
    ndpr_g: u64,
    maker: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CustomerStep {
    Ship,
    Arrive,
    Blend,
    Reduce,
    Alloy,
    MoveToMagnetPlant,
    MakeMagnets,
    Deliver,
}

/// A customer lot of NdPr oxide, from the importer's warehouse to magnets in products.
#[derive(Debug)]
struct CustomerLot {
    /// The customer lot's number, which names the maker's lots made from it.
    c: u64,
    lot: Id,
    /// The mass of the lot currently worked on: the oxide, then the metal, alloy and magnets.
    mass_g: u64,
    maker: usize,
    /// Dy oxide shipped along, with its mass.
    dy: Option<(Id, u64)>,
    rejection: bool,
    step: CustomerStep,
    shipment: Id,
    /// The oxide reduced to metal: the customer lot or its blend.
    oxide: Id,
    dy_used: bool,
    deliveries: u64,
    sample: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    HoldForwarder,
    ReleaseForwarder,
}

#[derive(Debug)]
enum Task {
    Vn(Box<VnLot>),
    Cn(Box<CnLot>),
    Customer(Box<CustomerLot>),
    Global(Global),
}

/// A step waiting in the queue; the earliest first, then in scheduling order.
#[derive(Debug)]
struct Pending {
    at: i64,
    seq: u64,
    task: Task,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    // Reversed, so that the max-heap `BinaryHeap` pops the earliest step.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): small, fast and good enough for a story.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A number below `n` (which must not be 0), by Lemire's multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        let wide = u128::from(self.next_u64()) * u128::from(n);
        u64::try_from(wide >> 64).unwrap_or(0)
    }

    /// A number from `lo` to `hi`, both included.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True `p` times in a thousand.
    fn per_mille(&mut self, p: u64) -> bool {
        self.below(1000) < p
    }
}

/// The SplitMix64 finalizer: a bijection on 64-bit words that mixes every bit into every other.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn push_u64(s: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &digits[i..] {
        s.push(char::from(digit));
    }
}

/// Writes `n` with leading zeros to at least `width` digits.
fn push_padded(s: &mut String, n: u64, width: u32) {
    let digits = n.checked_ilog10().unwrap_or(0) + 1;
    for _ in digits..width {
        s.push('0');
    }
    push_u64(s, n);
}

fn push_hex(s: &mut String, n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        s.push(char::from(HEX[((n >> (shift * 4)) & 0xf) as usize]));
    }
}

/// Writes `,"name":"value"` (without the comma when `comma` is false).
fn push_field_str(s: &mut String, name: &str, value: &str, comma: bool) {
    if comma {
        s.push(',');
    }
    s.push('"');
    s.push_str(name);
    s.push_str(r#"":""#);
    s.push_str(value);
    s.push('"');
}

fn push_field_id(s: &mut String, name: &str, value: Id, comma: bool) {
    if comma {
        s.push(',');
    }
    s.push('"');
    s.push_str(name);
    s.push_str(r#"":""#);
    value.push_to(s);
    s.push('"');
}

/// Writes `,"name":value`.
fn push_field_u64(s: &mut String, name: &str, value: u64) {
    s.push_str(",\"");
    s.push_str(name);
    s.push_str("\":");
    push_u64(s, value);
}

/// Writes seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`, by the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn push_time(s: &mut String, seconds: i64) {
    let days = seconds.div_euclid(DAY);
    let second_of_day = seconds.rem_euclid(DAY).unsigned_abs();
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    if year < 0 {
        s.push('-');
    }
    push_padded(s, year.unsigned_abs(), 4);
    s.push('-');
    push_padded(s, month.unsigned_abs(), 2);
    s.push('-');
    push_padded(s, day.unsigned_abs(), 2);
    s.push('T');
    push_padded(s, second_of_day / 3600, 2);
    s.push(':');
    push_padded(s, second_of_day / 60 % 60, 2);
    s.push(':');
    push_padded(s, second_of_day % 60, 2);
    s.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        let mut rng = SplitMix64(1);
        let samples = [0, -1, 951_782_400, 4_107_542_399, -62_135_596_800, 253_402_300_799]
            .into_iter()
            .chain((0..10_000).map(|_| i64::try_from(rng.below(253_402_300_799)).unwrap_or(0)));
        for seconds in samples {
            let mut s = String::new();
            push_time(&mut s, seconds);
            let expected = DateTime::from_timestamp(seconds, 0)
                .expect("in chrono's range")
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(s, expected, "{seconds}");
        }
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 999_999, 1_000_000, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string());
            let mut s = String::new();
            push_padded(&mut s, n, 6);
            assert_eq!(s, format!("{n:06}"));
        }
    }

    #[test]
    fn draws_stay_in_range() {
        let mut rng = SplitMix64(42);
        for _ in 0..10_000 {
            let x = rng.range(3, 5);
            assert!((3..=5).contains(&x));
        }
        assert!((0..1000).filter(|_| rng.per_mille(500)).count() > 400);
    }
}
