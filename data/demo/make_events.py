#!/usr/bin/env python3
"""Writes data/demo/events.jsonl, the Lode demo ledger (all companies, people and sites fictional).

    python3 data/demo/make_events.py            # rewrites data/demo/events.jsonl beside this script
    python3 data/demo/make_events.py -          # prints the events to standard output

The story is written below as storylines (the Vietnamese campaigns and exports, the Korean
importer's splits and sales, the Korean, Japanese, German and US metal and magnet makers, the
Chinese blend, the audit). Each step is scheduled at its `occurred_at`; the steps are then played
in time order against a small model of the ledger's rules (custody, site, status, holds, exact
mass balance), so a mistake in the story fails here with a message instead of at `lode append`.
Masses are integer grams. An input may give ALL it has left; one output may get the REST (the
inputs and additions less the other outputs and a stated loss_g); otherwise loss_g is whatever the
inputs and additions give beyond the outputs. The generator is deterministic: no randomness, no
clock. The real rules are those of docs/vocabulary.md, checked by `lode append`.
"""

import json
import sys
from pathlib import Path

T = 1_000_000  # grams in a tonne
KG = 1_000  # grams in a kilogram
ALL = "ALL"  # an input gives everything it has left
REST = "REST"  # an output gets whatever the inputs have left


def at(md_hm):
    """'03-10 07:00' -> '2025-03-10T07:00:00Z'."""
    day, hm = md_hm.split()
    return f"2025-{day}T{hm}:00Z"


# Materials ---------------------------------------------------------------------------------------

VN_CONC = {"form": "concentrate", "elements": ["La", "Ce", "Pr", "Nd", "Dy"], "hs_code": "253090"}
CN_CONC = {"form": "concentrate", "elements": ["La", "Ce", "Pr", "Nd"], "hs_code": "253090"}
NDPR_OXIDE = {"form": "oxide", "elements": ["Nd", "Pr"], "grade": "99.5%", "hs_code": "284690"}
DY_OXIDE = {"form": "oxide", "elements": ["Dy"], "grade": "99.9%", "hs_code": "284690"}
LACE_OXIDE = {"form": "mixed_oxide", "elements": ["La", "Ce"], "hs_code": "284690"}
RESIDUE = {"form": "residue"}
NDPR_METAL = {"form": "metal", "elements": ["Nd", "Pr"], "grade": "99.5%", "hs_code": "280530"}
DY_METAL = {"form": "metal", "elements": ["Dy"], "grade": "99.5%", "hs_code": "280530"}
NDFEB_ALLOY = {"form": "alloy", "elements": ["Nd", "Pr", "Dy"], "grade": "NdFeB strip-cast flake"}
MAGNET = {"form": "magnet", "elements": ["Nd", "Pr", "Dy"], "grade": "N48H sintered", "hs_code": "850511"}


def doc(kind, ref):
    """A document listed on a shipment (attached documents may also name an issuer)."""
    return {"kind": kind, "ref": ref}


class Demo:
    """Scheduled steps, played in time order against a small model of the ledger."""

    def __init__(self):
        self.steps = []  # (occurred_at, order, build) where build() -> (type, actor, data, id)
        self.events = []
        self.parties, self.sites, self.lots, self.shipments = {}, {}, {}, {}
        self.held_parties = set()

    # scheduling ----------------------------------------------------------------------------------

    def step(self, when, build):
        self.steps.append((at(when), len(self.steps), build))

    def play(self):
        for occurred_at, _, build in sorted(self.steps, key=lambda s: s[:2]):
            try:
                kind, actor, data, event_id = build()
            except (AssertionError, KeyError) as e:
                raise SystemExit(f"the step at {occurred_at} breaks a rule: {e!r}") from e
            assert actor in self.parties, f"{occurred_at}: actor {actor} not registered"
            assert actor not in self.held_parties, f"{occurred_at}: actor {actor} on hold"
            event = {"type": kind, "actor": actor, "occurred_at": occurred_at, "data": data}
            if event_id is not None:
                event = {"id": event_id, **event}
            self.events.append(event)
        return self.events

    # model helpers -------------------------------------------------------------------------------

    def lot(self, lot_id, actor=None, site=None):
        s = self.lots[lot_id]
        if actor is not None:
            assert s["status"] == "active", f"{lot_id} is {s['status']}"
            assert s["custodian"] == actor, f"{lot_id} is held by {s['custodian']}, not {actor}"
            assert not s["held"], f"{lot_id} is on hold"
        if site is not None:
            assert s["site"] == site, f"{lot_id} is at {s['site']}, not {site}"
        return s

    def new_lot(self, lot_id, actor, site, material, mass_g):
        assert lot_id not in self.lots, f"lot {lot_id} exists"
        assert 1 <= mass_g <= 10**12, f"{lot_id}: mass {mass_g}"
        self.lots[lot_id] = {"custodian": actor, "site": site, "material": material,
                             "mass": mass_g, "status": "active", "held": False}

    def take(self, lot_id, mass_g):
        s = self.lots[lot_id]
        assert 0 < mass_g <= s["mass"], f"{lot_id} holds {s['mass']} g, cannot give {mass_g} g"
        s["mass"] -= mass_g
        if s["mass"] == 0:
            s["status"] = "closed"

    # master data ---------------------------------------------------------------------------------

    def party(self, when, actor, party, name, roles, country):
        def build():
            assert party not in self.parties
            self.parties[party] = country
            return "party.registered", actor, {"party": party, "name": name, "roles": roles, "country": country}, None
        self.step(when, build)

    def site(self, when, site, party, name, kind, country, lat=None, lon=None):
        def build():
            assert site not in self.sites and party in self.parties
            self.sites[site] = (party, kind, country)
            data = {"site": site, "party": party, "name": name, "kind": kind, "country": country}
            if lat is not None:
                data.update(lat=lat, lon=lon)
            return "site.registered", party, data, None
        self.step(when, build)

    # lots ----------------------------------------------------------------------------------------

    def extract(self, when, actor, lot, site, material, mass_g, permit):
        def build():
            assert self.sites[site][:2] == (actor, "mine")
            self.new_lot(lot, actor, site, material, mass_g)
            return "lot.extracted", actor, {"lot": lot, "site": site, "material": material,
                                            "mass_g": mass_g, "permit": permit}, None
        self.step(when, build)

    def move(self, when, actor, lot, to_site):
        def build():
            self.lot(lot, actor)
            assert self.sites[to_site][0] == actor
            self.lots[lot]["site"] = to_site
            return "lot.moved", actor, {"lot": lot, "to_site": to_site}, None
        self.step(when, build)

    def transform(self, when, actor, process, site, inputs, outputs, additions_g=0, loss_g=0):
        """inputs: [(lot, grams or ALL)]; outputs: [(lot, material or None, grams or REST)].

        With a REST output (at most one) the loss is loss_g; without, it is whatever is left over.
        An output material of None is the first input's material (as a split needs)."""
        def build():
            ins = []
            for lot, mass in inputs:
                s = self.lot(lot, actor, site)
                ins.append((lot, s["mass"] if mass == ALL else mass))
            total_in = sum(m for _, m in ins) + additions_g
            fixed = sum(m for _, _, m in outputs if m != REST)
            rests = [o for o in outputs if o[2] == REST]
            assert len(rests) <= 1
            same = self.lots[ins[0][0]]["material"]
            outs = [(lot, same if mat is None else mat, total_in - fixed - loss_g if m == REST else m)
                    for lot, mat, m in outputs]
            loss = total_in - sum(m for _, _, m in outs)
            assert loss >= 0 and all(m > 0 for _, _, m in outs), f"outputs exceed inputs by {-loss} g"
            if process == "split":
                assert len(ins) == 1
                assert all(mat == self.lots[ins[0][0]]["material"] for _, mat, _ in outs)
            for lot, mass in ins:
                self.take(lot, mass)
            for lot, mat, mass in outs:
                self.new_lot(lot, actor, site, mat, mass)
            data = {"process": process, "site": site,
                    "inputs": [{"lot": lot, "mass_g": m} for lot, m in ins],
                    "outputs": [{"lot": lot, "material": mat, "mass_g": m} for lot, mat, m in outs]}
            if additions_g:
                data["additions_g"] = additions_g
            if loss:
                data["loss_g"] = loss
            return "lot.transformed", actor, data, None
        self.step(when, build)

    def split(self, when, actor, site, lot, parts):
        """parts: [(new lot, grams or REST)]; the outputs get the lot's material."""
        give = ALL if any(m == REST for _, m in parts) else sum(m for _, m in parts)
        self.transform(when, actor, "split", site, [(lot, give)], [(new, None, m) for new, m in parts])

    def assay(self, when, actor, lot, lab, certificate, oxides_ppm, treo_ppm=None, event_id=None):
        def build():
            assert lot in self.lots, f"no lot {lot}"  # a lot in any status can be assayed
            data = {"lot": lot, "lab": lab, "certificate": certificate, "oxides_ppm": oxides_ppm}
            if treo_ppm is not None:
                data["treo_ppm"] = treo_ppm
            return "lot.assayed", actor, data, event_id
        self.step(when, build)

    def consume(self, when, actor, lot, mass_g, reason):
        def build():
            s = self.lot(lot, actor)
            mass = s["mass"] if mass_g == ALL else mass_g
            self.take(lot, mass)
            return "lot.consumed", actor, {"lot": lot, "mass_g": mass, "reason": reason}, None
        self.step(when, build)

    # custody -------------------------------------------------------------------------------------

    def ship(self, when, actor, shipment, lots, from_site, to_party, to_site, carrier, documents):
        def build():
            assert shipment not in self.shipments
            assert self.sites[to_site][0] == to_party
            for lot in lots:
                self.lot(lot, actor, from_site)["status"] = "in_transit"
            self.shipments[shipment] = {"lots": {lot: self.lots[lot]["mass"] for lot in lots},
                                        "to_party": to_party, "to_site": to_site}
            return "custody.shipped", actor, {"shipment": shipment, "lots": lots, "from_site": from_site,
                                              "to_party": to_party, "to_site": to_site, "carrier": carrier,
                                              "documents": documents}, None
        self.step(when, build)

    def receive(self, when, actor, shipment, short_pcm=None):
        """Receives every lot of the shipment; short_pcm: lot -> shortfall in per-cent-mille (1/100,000)."""
        short_pcm = short_pcm or {}
        def build():
            sh = self.shipments[shipment]
            assert sh["to_party"] == actor
            lots = []
            for lot, shipped in sh["lots"].items():
                s = self.lots[lot]
                assert s["status"] == "in_transit"
                weighed = shipped - shipped * short_pcm.get(lot, 0) // 100_000
                s.update(status="active", custodian=actor, site=sh["to_site"], mass=weighed)
                lots.append({"lot": lot, "mass_g": weighed})
            return "custody.received", actor, {"shipment": shipment, "lots": lots}, None
        self.step(when, build)

    def attach(self, when, actor, kind, ref, issuer=None, lot=None, shipment=None):
        def build():
            assert (lot is None) != (shipment is None)
            data = {"lot": lot} if lot is not None else {"shipment": shipment}
            data.update(kind=kind, ref=ref)
            if issuer is not None:
                data["issuer"] = issuer
            return "document.attached", actor, data, None
        self.step(when, build)

    # audit ---------------------------------------------------------------------------------------

    def hold(self, when, actor, reason, lot=None, party=None):
        def build():
            if party is not None:
                self.held_parties.add(party)
                return "hold.placed", actor, {"party": party, "reason": reason}, None
            self.lots[lot]["held"] = True
            return "hold.placed", actor, {"lot": lot, "reason": reason}, None
        self.step(when, build)

    def correct(self, when, actor, event_id, reason, note):
        def build():
            assert any(e.get("id") == event_id for e in self.events)
            return "event.corrected", actor, {"event": event_id, "reason": reason, "note": note}, None
        self.step(when, build)


# The assay that is keyed wrongly and then corrected carries its own id, so the correction can name it.
MISKEYED_ASSAY_ID = "0197f246-8f80-7a3c-9d5e-2b7c4f8a1e63"


def story():
    d = Demo()
    op, shm, hrm = "lode-op", "song-hong-mining", "han-river-materials"
    esl, hbl, lds = "east-sea-lines", "hanbit-logistics", "lingding-shipping"
    tla, dal, kes = "thang-long-analytical", "daejeon-assay-lab", "kestrel-assurance"
    urm, kmw, gnm = "ulsan-rare-metals", "kiso-magnet-works", "gyeongnam-magnetics"
    rhm, prm = "rheinmagnet", "prairie-magnetics"
    gre, pst = "ganshan-rare-earth", "pearl-strait-trading"
    mine_lc, mine_yb, sep, port = "vn-laichau-mine", "vn-yenbai-mine", "vn-yenbai-sep", "vn-haiphong-port"
    icn, uls, chw = "kr-incheon-wh", "kr-ulsan-metal", "kr-changwon-magnet"
    kiso, hanau, prairie = "jp-nakatsugawa-plant", "de-hanau-plant", "us-prairie-plant"
    cn_mine, cn_sep, hk_wh = "cn-ganshan-mine", "cn-ganshan-sep", "hk-kwaichung-wh"

    # --- January: the operator registers itself, then the first parties and their sites -------
    d.party("01-06 00:00", op, op, "Lode ledger operations (fictional)", ["operator"], "KR")
    for i, (party, name, roles, country) in enumerate([
        (shm, "Song Hong Mining Group (fictional)", ["miner", "processor", "refiner"], "VN"),
        (hrm, "Han River Materials Co. (fictional importer)", ["importer", "trader"], "KR"),
        (esl, "East Sea Lines (fictional carrier)", ["carrier"], "VN"),
        (hbl, "Hanbit Logistics (fictional carrier)", ["carrier"], "KR"),
        (tla, "Thang Long Analytical (fictional lab)", ["lab"], "VN"),
        (dal, "Daejeon Assay Lab (fictional)", ["lab"], "KR"),
        (kes, "Kestrel Assurance (fictional auditor)", ["auditor"], "SG"),
        (urm, "Ulsan Rare Metals (fictional metal and alloy maker)", ["processor"], "KR"),
        (kmw, "Kiso Magnet Works (fictional)", ["processor", "magnet_maker"], "JP"),
        (gnm, "Gyeongnam Magnetics (fictional)", ["magnet_maker"], "KR"),
        (rhm, "Rheinmagnet GmbH (fictional)", ["processor", "magnet_maker"], "DE"),
        (prm, "Prairie Magnetics Inc. (fictional)", ["magnet_maker"], "US"),
    ], 1):
        d.party(f"01-06 {i // 6:02}:{i % 6 * 10:02}", op, party, name, roles, country)
    d.site("01-07 00:00", mine_lc, shm, "Lai Chau open pit No. 1 (fictional)", "mine", "VN", "22.39", "103.46")
    d.site("01-07 00:10", mine_yb, shm, "Yen Bai open pit No. 2 (fictional)", "mine", "VN", "21.72", "104.90")
    d.site("01-07 00:20", sep, shm, "Yen Bai separation plant (fictional)", "separation_plant", "VN")
    d.site("01-07 00:30", port, shm, "Hai Phong export terminal (fictional berth)", "port", "VN", "20.86", "106.68")
    d.site("01-07 01:00", icn, hrm, "Incheon bonded warehouse (fictional)", "warehouse", "KR")
    d.site("01-07 01:10", uls, urm, "Ulsan metal and alloy plant (fictional)", "metal_plant", "KR")
    d.site("01-07 01:20", chw, gnm, "Changwon magnet plant (fictional)", "magnet_plant", "KR")
    d.site("01-07 01:30", kiso, kmw, "Nakatsugawa metal and magnet plant (fictional)", "magnet_plant", "JP")
    d.site("01-07 01:40", hanau, rhm, "Hanau metal and magnet plant (fictional)", "magnet_plant", "DE")
    d.site("01-07 01:50", prairie, prm, "Prairie magnet plant (fictional)", "magnet_plant", "US")

    # --- Song Hong Mining: four campaigns, each mined concentrate separated at Yen Bai ---------
    # Separation loses 0.5% of the concentrate; what is not NdPr, Dy or La-Ce oxide leaves as residue.
    def campaign(n, mine, extracted, moved, separated, conc_t, ndpr, dy, lace_t, assayed, nd_pr):
        conc = f"VN-CONC-2025-{n:04}"
        d.extract(extracted, shm, conc, mine, VN_CONC, conc_t * T, f"VN-MONRE-2024-{116 + n}")
        d.move(moved, shm, conc, sep)
        outputs = [(lot, NDPR_OXIDE, mass) for lot, mass in ndpr] + [(dy[0], DY_OXIDE, dy[1])]
        outputs += [(f"VN-LACE-2025-{n:04}", LACE_OXIDE, lace_t * T), (f"VN-RES-2025-{n:04}", RESIDUE, REST)]
        d.transform(separated, shm, "separation", sep, [(conc, ALL)], outputs, loss_g=conc_t * T * 5 // 1000)
        for i, (lot, _) in enumerate(ndpr, 1):
            oxides = {"Nd2O3": nd_pr[0], "Pr6O11": nd_pr[1]}
            event_id = None
            if lot == "VN-NDPR-2025-0005":  # keyed with Nd and Pr transposed; corrected in July
                oxides, event_id = {"Nd2O3": nd_pr[1], "Pr6O11": nd_pr[0]}, MISKEYED_ASSAY_ID
            d.assay(assayed, tla, lot, tla, f"TLA-2025-{n:02}{i:02}", oxides, 996000, event_id)
        d.assay(assayed, tla, dy[0], tla, f"TLA-2025-{n:02}09", {"Dy2O3": 998600, "Tb4O7": 600}, 999500)

    lai_chau, yen_bai = (752000, 244000), (781000, 215000)  # Nd2O3, Pr6O11 ppm of the NdPr oxide
    campaign(1, mine_lc, "01-20 06:00", "01-23 06:00", "02-24 06:00", 400,
             [("VN-NDPR-2025-0001", 24 * T), ("VN-NDPR-2025-0002", 24 * T)], ("VN-DY-2025-0001", 3_600 * KG),
             165, "02-27 03:00", lai_chau)
    campaign(2, mine_yb, "03-24 06:00", "03-27 06:00", "04-28 06:00", 370,
             [("VN-NDPR-2025-0003", 22 * T), ("VN-NDPR-2025-0004", 22 * T)], ("VN-DY-2025-0002", 4 * T),
             150, "05-02 03:00", yen_bai)
    campaign(3, mine_lc, "06-02 06:00", "06-05 06:00", "07-07 06:00", 410,
             [("VN-NDPR-2025-0005", 25 * T), ("VN-NDPR-2025-0006", 25 * T)], ("VN-DY-2025-0003", 3_200 * KG),
             170, "07-10 03:00", lai_chau)
    campaign(4, mine_yb, "08-25 06:00", "08-28 06:00", "10-06 06:00", 380,
             [("VN-NDPR-2025-0007", 24_500 * KG), ("VN-NDPR-2025-0008", 20 * T)], ("VN-DY-2025-0004", 3_500 * KG),
             155, "10-09 03:00", yen_bai)

    # The lab corrects the transposed assay and issues it again.
    d.correct("07-15 02:00", tla, MISKEYED_ASSAY_ID, "incorrect_data",
              "Nd2O3 and Pr6O11 transposed when certificate TLA-2025-0301 was keyed; reissued as TLA-2025-0301-R1")
    d.assay("07-15 02:30", tla, "VN-NDPR-2025-0005", tla, "TLA-2025-0301-R1",
            {"Nd2O3": lai_chau[0], "Pr6O11": lai_chau[1]}, 996000)

    # --- Exports: Hai Phong to Incheon, East Sea Lines, about every six weeks --------------------
    # short: the weighed shortfall at Incheon per lot, in 1/100,000 of the shipped mass.
    def export(n, lots, moved, shipped, received, short, assay_ndpr=True):
        shipment = f"SHP-VN-KR-2025-{n:04}"
        for lot in lots:
            d.move(moved, shm, lot, port)
        d.ship(shipped, shm, shipment, lots, port, hrm, icn, esl, [
            doc("bill_of_lading", f"ESL-HPH-ICN-25{n:02}"),
            doc("certificate_of_origin", vn_co(n)),
            doc("invoice", f"SHM-INV-2025-{n:04}"),
        ])
        d.attach(f"{shipped.split()[0]} 09:00", shm, "export_declaration", f"VN-EXD-2025-{311 + 17 * n:05}",
                 shipment=shipment)
        d.receive(received, hrm, shipment, dict(zip(lots, short)))
        if assay_ndpr:
            lot = lots[0]
            day = received.split()[0]
            d.assay(f"{day} 08:00", dal, lot, dal, f"DAL-2025-{400 + 11 * n:04}", ndpr_assay[lot], 995500)

    def vn_co(n):
        return f"VN-AK-2025-{1870 + 13 * n:05}"

    ndpr_assay = {  # Daejeon's check assays on receipt: close to, not equal to, the Vietnamese ones
        "VN-NDPR-2025-0001": {"Nd2O3": 751000, "Pr6O11": 244500}, "VN-NDPR-2025-0002": {"Nd2O3": 753000, "Pr6O11": 243000},
        "VN-NDPR-2025-0003": {"Nd2O3": 780000, "Pr6O11": 215500}, "VN-NDPR-2025-0004": {"Nd2O3": 781500, "Pr6O11": 214000},
        "VN-NDPR-2025-0005": {"Nd2O3": 752500, "Pr6O11": 243000}, "VN-NDPR-2025-0006": {"Nd2O3": 751500, "Pr6O11": 244000},
        "VN-NDPR-2025-0007": {"Nd2O3": 780500, "Pr6O11": 215000}, "VN-NDPR-2025-0008": {"Nd2O3": 782000, "Pr6O11": 214000},
    }
    export(1, ["VN-NDPR-2025-0001", "VN-DY-2025-0001"], "03-06 07:00", "03-10 07:00", "03-16 07:00", [3, 0])
    export(2, ["VN-NDPR-2025-0002"], "04-10 07:00", "04-14 07:00", "04-20 07:00", [2])
    export(3, ["VN-NDPR-2025-0003", "VN-DY-2025-0002"], "05-22 07:00", "05-26 07:00", "06-01 07:00", [3, 1])
    # The transit difference: 0.627% short at Incheon (two torn big bags at the transshipment).
    export(4, ["VN-NDPR-2025-0004"], "06-26 07:00", "06-30 07:00", "07-07 07:00", [627])
    d.attach("07-08 02:00", hrm, "other", "ICS-2025-0707-12", "Incheon Marine Survey (fictional)",
             shipment="SHP-VN-KR-2025-0004")
    export(5, ["VN-NDPR-2025-0005", "VN-DY-2025-0003"], "08-07 07:00", "08-11 07:00", "08-17 07:00", [2, 0])
    export(6, ["VN-NDPR-2025-0006"], "09-11 07:00", "09-15 07:00", "09-21 07:00", [3])
    export(7, ["VN-NDPR-2025-0007", "VN-DY-2025-0004"], "10-30 07:00", "11-03 07:00", "11-09 07:00", [2, 1])
    export(8, ["VN-NDPR-2025-0008"], "12-04 07:00", "12-08 07:00", "12-14 07:00", [4])

    def sale(when, seller, shipment, lots, from_site, buyer, to_site, docs):
        d.ship(when, seller, shipment, lots, from_site, buyer, to_site, hbl, docs)

    # --- The clean chain: Lai Chau oxide -> Ulsan metal and alloy (KR) -> Kiso magnets (JP) -----
    d.split("03-20 01:00", hrm, icn, "VN-NDPR-2025-0001",
            [("KR-NDPR-2025-0001-A", 10 * T), ("KR-NDPR-2025-0001-B", 8 * T), ("KR-NDPR-2025-0001-C", REST)])
    d.split("03-20 01:30", hrm, icn, "VN-DY-2025-0001",
            [("KR-DY-2025-0001-A", 800 * KG), ("KR-DY-2025-0001-B", 1_000 * KG), ("KR-DY-2025-0001-C", REST)])
    sale("03-25 01:00", hrm, "SHP-KR-KR-2025-0001", ["KR-NDPR-2025-0001-A", "KR-DY-2025-0001-A"], icn, urm, uls, [
        doc("bill_of_lading", "HBL-ICN-USN-250325"), doc("certificate_of_origin", vn_co(1)),
        doc("invoice", "HRM-INV-2025-0001")])
    d.receive("03-27 01:00", urm, "SHP-KR-KR-2025-0001")
    d.transform("04-03 01:00", urm, "reduction", uls, [("KR-NDPR-2025-0001-A", ALL)],
                [("KR-NDPRM-2025-0001", NDPR_METAL, 8_400 * KG)])
    d.transform("04-03 05:00", urm, "reduction", uls, [("KR-DY-2025-0001-A", ALL)],
                [("KR-DYM-2025-0001", DY_METAL, 690 * KG)])
    d.transform("04-10 01:00", urm, "alloying", uls, [("KR-NDPRM-2025-0001", ALL), ("KR-DYM-2025-0001", ALL)],
                [("KR-ALLOY-2025-0001", NDFEB_ALLOY, 15 * T), ("KR-ALLOY-2025-0002", NDFEB_ALLOY, 14 * T)],
                additions_g=20_000 * KG)  # iron and ferroboron, untraced
    sale("04-15 01:00", urm, "SHP-KR-JP-2025-0001", ["KR-ALLOY-2025-0001"], uls, kmw, kiso, [
        doc("bill_of_lading", "HBL-USN-NGO-250415"), doc("certificate_of_origin", "KR-CO-2025-04412"),
        doc("invoice", "URM-INV-2025-0007")])
    d.receive("04-19 01:00", kmw, "SHP-KR-JP-2025-0001", {"KR-ALLOY-2025-0001": 2})
    d.transform("05-12 01:00", kmw, "magnet_making", kiso, [("KR-ALLOY-2025-0001", ALL)],
                [("JP-MAG-2025-0001", MAGNET, 9 * T), ("JP-MAG-2025-0002", MAGNET, 4_500 * KG),
                 ("JP-RES-2025-0001", RESIDUE, 1_200 * KG)])  # residue: grinding swarf
    d.consume("06-20 01:00", kmw, "JP-MAG-2025-0002", ALL, "delivered_to_product")
    d.consume("07-01 01:00", kmw, "JP-MAG-2025-0001", 2 * KG, "sample")

    # --- The same alloy melt to Prairie Magnetics (US) -------------------------------------------
    sale("04-22 01:00", urm, "SHP-KR-US-2025-0001", ["KR-ALLOY-2025-0002"], uls, prm, prairie, [
        doc("bill_of_lading", "HBL-PUS-HOU-250422"), doc("certificate_of_origin", "KR-CO-2025-04468"),
        doc("invoice", "URM-INV-2025-0008")])
    d.receive("05-23 14:00", prm, "SHP-KR-US-2025-0001", {"KR-ALLOY-2025-0002": 4})
    d.transform("06-16 14:00", prm, "magnet_making", prairie, [("KR-ALLOY-2025-0002", ALL)],
                [("US-MAG-2025-0001", MAGNET, 12_400 * KG), ("US-RES-2025-0001", RESIDUE, 1_100 * KG)])
    d.consume("09-30 14:00", prm, "US-MAG-2025-0001", 6 * T, "delivered_to_product")

    # --- Rheinmagnet (DE): Yen Bai NdPr oxide and Lai Chau Dy oxide, metal and magnets in Hanau ----
    d.split("06-09 01:00", hrm, icn, "VN-NDPR-2025-0003",
            [("KR-NDPR-2025-0003-A", 8 * T), ("KR-NDPR-2025-0003-B", 6 * T), ("KR-NDPR-2025-0003-C", REST)])
    d.split("06-09 01:30", hrm, icn, "VN-DY-2025-0002", [("KR-DY-2025-0002-A", 700 * KG), ("KR-DY-2025-0002-B", REST)])
    sale("06-12 01:00", hrm, "SHP-KR-DE-2025-0001", ["KR-NDPR-2025-0003-A", "KR-DY-2025-0001-B"], icn, rhm, hanau, [
        doc("bill_of_lading", "HBL-ICN-HAM-250612"), doc("certificate_of_origin", vn_co(3)),
        doc("certificate_of_origin", vn_co(1)), doc("invoice", "HRM-INV-2025-0002")])
    d.receive("07-24 08:00", rhm, "SHP-KR-DE-2025-0001", {"KR-NDPR-2025-0003-A": 5})
    d.transform("08-05 08:00", rhm, "reduction", hanau, [("KR-NDPR-2025-0003-A", ALL)],
                [("DE-NDPRM-2025-0001", NDPR_METAL, 6_720 * KG)])
    d.transform("08-05 12:00", rhm, "reduction", hanau, [("KR-DY-2025-0001-B", ALL)],
                [("DE-DYM-2025-0001", DY_METAL, 860 * KG)])
    d.transform("08-19 08:00", rhm, "alloying", hanau, [("DE-NDPRM-2025-0001", ALL), ("DE-DYM-2025-0001", ALL)],
                [("DE-ALLOY-2025-0001", NDFEB_ALLOY, 24_200 * KG)], additions_g=16_700 * KG)
    d.transform("09-16 08:00", rhm, "magnet_making", hanau, [("DE-ALLOY-2025-0001", ALL)],
                [("DE-MAG-2025-0001", MAGNET, 21_500 * KG), ("DE-RES-2025-0001", RESIDUE, 2_100 * KG)])
    d.consume("11-10 08:00", rhm, "DE-MAG-2025-0001", 10 * T, "delivered_to_product")

    # --- The CN blend: Chinese oxide bought through a Hong Kong trader ---------------------------
    d.party("05-12 00:00", op, gre, "Ganshan Rare Earth Co. (fictional)", ["miner", "refiner"], "CN")
    d.party("05-12 00:10", op, pst, "Pearl Strait Trading Ltd. (fictional)", ["trader"], "HK")
    d.party("05-12 00:20", op, lds, "Lingding Shipping (fictional carrier)", ["carrier"], "HK")
    d.site("05-13 00:00", cn_mine, gre, "Ganshan open pit (fictional)", "mine", "CN")
    d.site("05-13 00:10", cn_sep, gre, "Ganshan separation plant (fictional)", "separation_plant", "CN")
    d.site("05-13 00:20", hk_wh, pst, "Kwai Chung warehouse (fictional)", "warehouse", "HK")
    d.extract("05-14 02:00", gre, "CN-CONC-2025-0001", cn_mine, CN_CONC, 60 * T, "CN-GS-2025-031")
    d.move("05-15 02:00", gre, "CN-CONC-2025-0001", cn_sep)
    d.transform("05-20 02:00", gre, "separation", cn_sep, [("CN-CONC-2025-0001", ALL)],
                [("CN-NDPR-2025-0001", NDPR_OXIDE, 6 * T), ("CN-RES-2025-0001", RESIDUE, REST)], loss_g=300 * KG)
    d.ship("05-22 02:00", gre, "SHP-CN-HK-2025-0001", ["CN-NDPR-2025-0001"], cn_sep, pst, hk_wh, lds, [
        doc("bill_of_lading", "LDS-GZ-HKG-250522"), doc("certificate_of_origin", "CN-CO-2025-118834"),
        doc("invoice", "GRE-INV-2025-0093")])
    d.receive("05-27 02:00", pst, "SHP-CN-HK-2025-0001")
    d.ship("06-03 02:00", pst, "SHP-HK-KR-2025-0001", ["CN-NDPR-2025-0001"], hk_wh, hrm, icn, lds, [
        doc("bill_of_lading", "LDS-HKG-ICN-250603"), doc("certificate_of_origin", "CN-CO-2025-118834"),
        doc("invoice", "PST-INV-2025-0311")])
    d.receive("06-10 02:00", hrm, "SHP-HK-KR-2025-0001")
    d.assay("06-12 08:00", dal, "CN-NDPR-2025-0001", dal, "DAL-2025-0530", {"Nd2O3": 748000, "Pr6O11": 248000}, 996500)
    # Gyeongnam's order asks for more Pr than Yen Bai oxide alone has: blend in 4 t of the CN oxide.
    d.transform("07-14 01:00", hrm, "blend", icn, [("KR-NDPR-2025-0003-B", ALL), ("CN-NDPR-2025-0001", 4 * T)],
                [("KR-BLEND-2025-0001", NDPR_OXIDE, 10 * T)])
    d.assay("07-15 08:00", dal, "KR-BLEND-2025-0001", dal, "DAL-2025-0561", {"Nd2O3": 768000, "Pr6O11": 228000}, 996200)
    sale("07-16 01:00", hrm, "SHP-KR-KR-2025-0002", ["KR-BLEND-2025-0001", "KR-DY-2025-0002-A"], icn, urm, uls, [
        doc("bill_of_lading", "HBL-ICN-USN-250716"), doc("certificate_of_origin", vn_co(3)),
        doc("certificate_of_origin", "CN-CO-2025-118834"), doc("invoice", "HRM-INV-2025-0003")])
    d.receive("07-17 01:00", urm, "SHP-KR-KR-2025-0002")
    d.transform("07-24 01:00", urm, "reduction", uls, [("KR-BLEND-2025-0001", ALL)],
                [("KR-NDPRM-2025-0002", NDPR_METAL, 8_400 * KG)])
    d.transform("07-24 05:00", urm, "reduction", uls, [("KR-DY-2025-0002-A", ALL)],
                [("KR-DYM-2025-0002", DY_METAL, 603 * KG)])
    d.transform("07-31 01:00", urm, "alloying", uls, [("KR-NDPRM-2025-0002", ALL), ("KR-DYM-2025-0002", ALL)],
                [("KR-ALLOY-2025-0003", NDFEB_ALLOY, 28_950 * KG)], additions_g=19_997 * KG)
    sale("08-04 01:00", urm, "SHP-KR-KR-2025-0003", ["KR-ALLOY-2025-0003"], uls, gnm, chw, [
        doc("bill_of_lading", "HBL-USN-CWN-250804"), doc("certificate_of_origin", "KR-CO-2025-08107"),
        doc("invoice", "URM-INV-2025-0015")])
    d.receive("08-05 01:00", gnm, "SHP-KR-KR-2025-0003")
    d.transform("09-02 01:00", gnm, "magnet_making", chw, [("KR-ALLOY-2025-0003", ALL)],
                [("KR-MAG-2025-0001", MAGNET, 26 * T), ("KR-RES-2025-0001", RESIDUE, 2_300 * KG)])
    d.consume("10-14 01:00", gnm, "KR-MAG-2025-0001", 12 * T, "delivered_to_product")

    # --- The audit: the Hong Kong trader comes under investigation -------------------------------
    d.hold("08-18 03:00", kes, "under customs investigation for reissued certificates of origin on other cargo",
           party=pst)
    d.hold("08-18 03:10", kes, "bought through pearl-strait-trading, which is under investigation; quarantined",
           lot="CN-NDPR-2025-0001")
    d.attach("08-19 03:00", kes, "audit_report", "KES-2025-AR-0042", "Kestrel Assurance (fictional)",
             shipment="SHP-HK-KR-2025-0001")

    # --- Autumn: Kiso makes its own metal in Japan; a second order for Rheinmagnet sails ---------
    d.split("09-01 01:00", hrm, icn, "VN-NDPR-2025-0005", [("KR-NDPR-2025-0005-A", 10 * T), ("KR-NDPR-2025-0005-B", REST)])
    d.split("09-01 01:30", hrm, icn, "VN-DY-2025-0003", [("KR-DY-2025-0003-A", 1 * T), ("KR-DY-2025-0003-B", REST)])
    sale("09-08 01:00", hrm, "SHP-KR-JP-2025-0002", ["KR-NDPR-2025-0005-A", "KR-DY-2025-0003-A"], icn, kmw, kiso, [
        doc("bill_of_lading", "HBL-ICN-NGO-250908"), doc("certificate_of_origin", vn_co(5)),
        doc("invoice", "HRM-INV-2025-0004")])
    d.receive("09-13 01:00", kmw, "SHP-KR-JP-2025-0002", {"KR-NDPR-2025-0005-A": 1})
    d.transform("10-06 01:00", kmw, "reduction", kiso, [("KR-NDPR-2025-0005-A", ALL)],
                [("JP-NDPRM-2025-0001", NDPR_METAL, 8_390 * KG)])
    d.transform("10-06 05:00", kmw, "reduction", kiso, [("KR-DY-2025-0003-A", ALL)],
                [("JP-DYM-2025-0001", DY_METAL, 862 * KG)])
    d.transform("10-20 01:00", kmw, "alloying", kiso, [("JP-NDPRM-2025-0001", ALL), ("JP-DYM-2025-0001", ALL)],
                [("JP-ALLOY-2025-0001", NDFEB_ALLOY, 29_200 * KG)], additions_g=20_000 * KG)
    d.transform("11-17 01:00", kmw, "magnet_making", kiso, [("JP-ALLOY-2025-0001", ALL)],
                [("JP-MAG-2025-0003", MAGNET, 26_300 * KG), ("JP-RES-2025-0002", RESIDUE, 2_200 * KG)])
    d.split("12-15 01:00", hrm, icn, "VN-NDPR-2025-0006", [("KR-NDPR-2025-0006-A", 12 * T), ("KR-NDPR-2025-0006-B", REST)])
    d.split("12-15 01:30", hrm, icn, "VN-DY-2025-0004", [("KR-DY-2025-0004-A", 1_500 * KG), ("KR-DY-2025-0004-B", REST)])
    sale("12-19 01:00", hrm, "SHP-KR-DE-2025-0002", ["KR-NDPR-2025-0006-A", "KR-DY-2025-0004-A"], icn, rhm, hanau, [
        doc("bill_of_lading", "HBL-ICN-HAM-251219"), doc("certificate_of_origin", vn_co(6)),
        doc("certificate_of_origin", vn_co(7)), doc("invoice", "HRM-INV-2025-0005")])
    return d  # SHP-KR-DE-2025-0002 is still at sea at the end of the year


def main():
    events = story().play()
    lines = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events)
    if sys.argv[1:] == ["-"]:
        sys.stdout.write(lines)
    else:
        out = Path(__file__).resolve().parent / "events.jsonl"
        out.write_text(lines, encoding="utf-8")
        print(f"{len(events)} events written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
