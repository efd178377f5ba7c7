//! Where a lot's rare earths come from: its share from each mine, and the countries of its stages.
//!
//! # The rounding rule
//!
//! A lot's origin gives, for each mine, its share of the lot's mass in parts per million (ppm): whole
//! numbers that sum to exactly 1,000,000.
//!
//! - An extracted lot is 1,000,000 ppm its mine.
//! - Every output of a transformation gets the same origin: the mix of its inputs' origins weighted by
//!   the mass each input gave. Untraced additions (`additions_g`) do not dilute it, and the process
//!   loss does not matter: origin says where the rare earths came from.
//! - The mix is computed exactly, then rounded once. For input `i` giving `g_i` grams with `p_i(m)` ppm
//!   from mine `m`, the exact share of `m` is `s(m) = Σ_i g_i · p_i(m) / Σ_i g_i` ppm. Each mine first
//!   gets `floor(s(m))`; the ppm still missing to reach 1,000,000 then go one each to the mines with the
//!   largest remainders `Σ_i g_i · p_i(m) mod Σ_i g_i` (the largest remainder method), and among equal
//!   remainders to the mine whose id sorts first (byte order). Mines left at 0 ppm are not listed.
//! - Rounding happens at every transformation, from the inputs' already rounded origins: a lot's origin
//!   depends only on its parents' origins and the masses they gave, never on the rest of the history.
//! - All arithmetic is on unsigned 128-bit integers (at most 10^12 g × 10^6 ppm per input); there is no
//!   floating point.
//!
//! For example a blend of 3 t from mine A and 1 t from mine B is 750,000 ppm A and 250,000 ppm B; a
//! blend of 1 t each from mines A, B and C is 333,334 ppm A (the tie of equal remainders goes to the
//! first id) and 333,333 ppm each B and C.
//!
//! # Stages
//!
//! A lot's stages are its own and all its ancestors': for each of the four stages of the vocabulary
//! (mining, separation, metal, magnet) the set of countries where it happened. The mining stage is the
//! country of the mine of every extracted ancestor; a transformation whose outputs are of a form none of
//! its inputs has records the stage of that form (oxide and mixed oxide: separation; metal and alloy:
//! metal; magnet: magnet) in the country of its site.

use std::collections::{BTreeMap, BTreeSet};

use lode_domain::{Country, SiteId, Stage};
use serde::{Deserialize, Serialize};

/// A whole lot, in parts per million.
pub const ORIGIN_PPM_TOTAL: u32 = 1_000_000;

/// A lot's origin: parts per million of its mass from each mine (a site id), summing to exactly
/// [`ORIGIN_PPM_TOTAL`], by the [rounding rule](self#the-rounding-rule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<SiteId, u32>")]
pub struct Origin(BTreeMap<SiteId, u32>);

/// The shares as a map by mine id; written directly rather than through `serde(into)`, which
/// would clone the map each time a lot's view is persisted.
impl Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl Origin {
    /// All of it from one mine: the origin of an extracted lot.
    pub fn mine(mine: SiteId) -> Origin {
        Origin(BTreeMap::from([(mine, ORIGIN_PPM_TOTAL)]))
    }

    /// The mix of origins weighted by masses in grams, rounded by the [rounding
    /// rule](self#the-rounding-rule). Parts with an empty origin or no mass are left out; with none
    /// left the result is empty.
    pub fn mix<'a>(parts: impl IntoIterator<Item = (u64, &'a Origin)>) -> Origin {
        let parts: Vec<(u64, &Origin)> =
            parts.into_iter().filter(|(mass_g, origin)| *mass_g > 0 && !origin.0.is_empty()).collect();
        // One part (a split, a repack) is its own mix exactly: every share's remainder is 0.
        if let [(_, origin)] = parts.as_slice() {
            return (*origin).clone();
        }
        let mut weight: u128 = 0;
        let mut numerators: BTreeMap<&SiteId, u128> = BTreeMap::new();
        for (mass_g, origin) in parts {
            weight += u128::from(mass_g);
            for (mine, &ppm) in &origin.0 {
                *numerators.entry(mine).or_default() += u128::from(mass_g) * u128::from(ppm);
            }
        }
        if weight == 0 {
            return Origin::default();
        }
        let mut shares: BTreeMap<SiteId, u32> = BTreeMap::new();
        let mut remainders: Vec<(u128, &SiteId)> = Vec::with_capacity(numerators.len());
        let mut assigned: u128 = 0;
        for (mine, numerator) in &numerators {
            let floor = numerator / weight;
            assigned += floor;
            // Each share is at most the whole, so it fits.
            shares.insert((*mine).clone(), u32::try_from(floor).expect("a share is at most 1,000,000 ppm"));
            remainders.push((numerator % weight, mine));
        }
        // Largest remainder first; among equal remainders the first mine id (the list is in id order
        // and the sort is stable).
        remainders.sort_by_key(|(remainder, _)| std::cmp::Reverse(*remainder));
        let missing = u128::from(ORIGIN_PPM_TOTAL).saturating_sub(assigned);
        for (_, mine) in remainders.iter().take(usize::try_from(missing).unwrap_or(usize::MAX)) {
            if let Some(share) = shares.get_mut(*mine) {
                *share += 1;
            }
        }
        shares.retain(|_, ppm| *ppm > 0);
        Origin(shares)
    }

    /// The shares, by mine id.
    pub fn shares(&self) -> impl Iterator<Item = (&SiteId, u32)> {
        self.0.iter().map(|(mine, ppm)| (mine, *ppm))
    }

    /// The share of one mine, 0 if none.
    pub fn ppm(&self, mine: &str) -> u32 {
        self.0.get(mine).copied().unwrap_or(0)
    }

    /// The sum of the shares: [`ORIGIN_PPM_TOTAL`], or 0 for an empty origin.
    pub fn total_ppm(&self) -> u64 {
        self.0.values().map(|&ppm| u64::from(ppm)).sum()
    }

    /// Whether no mine is known.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<BTreeMap<SiteId, u32>> for Origin {
    type Error = String;

    fn try_from(shares: BTreeMap<SiteId, u32>) -> Result<Self, Self::Error> {
        let total: u64 = shares.values().map(|&ppm| u64::from(ppm)).sum();
        if !shares.is_empty() && total != u64::from(ORIGIN_PPM_TOTAL) {
            return Err(format!("origin shares sum to {total} ppm, not 1000000"));
        }
        if shares.values().any(|&ppm| ppm == 0) {
            return Err("an origin share is 0 ppm".to_string());
        }
        Ok(Origin(shares))
    }
}

impl From<Origin> for BTreeMap<SiteId, u32> {
    fn from(origin: Origin) -> Self {
        origin.0
    }
}

/// For each stage, the countries where it happened to a lot or any of its ancestors. Stages that
/// happened nowhere yet are absent.
///
/// Kept as one sorted list of (stage, country) pairs: a lot has a handful, and every output of a
/// transformation gets its own copy, which for a list is one allocation (as maps of sets, the
/// copies and merges were a quarter of the views' work in a bulk import). It reads and writes as
/// a map from stage to the set of its countries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageCountries(Vec<(Stage, Country)>);

impl StageCountries {
    /// Records that `stage` happened in `country`.
    pub fn insert(&mut self, stage: Stage, country: Country) {
        if let Err(at) = self.0.binary_search(&(stage, country)) {
            self.0.insert(at, (stage, country));
        }
    }

    /// Adds every stage and country of `other`.
    pub fn extend(&mut self, other: &StageCountries) {
        if other.0.iter().all(|pair| self.0.binary_search(pair).is_ok()) {
            return;
        }
        self.0.extend_from_slice(&other.0);
        self.0.sort_unstable();
        self.0.dedup();
    }

    /// The countries where `stage` happened, in code order.
    pub fn countries(&self, stage: Stage) -> impl Iterator<Item = Country> + '_ {
        self.0.iter().filter(move |(s, _)| *s == stage).map(|(_, country)| *country)
    }

    /// Every stage with its countries (in code order), in the order of the stages.
    pub fn iter(&self) -> impl Iterator<Item = (Stage, Vec<Country>)> + '_ {
        self.0.chunk_by(|a, b| a.0 == b.0).map(|run| (run[0].0, run.iter().map(|(_, c)| *c).collect()))
    }

    /// Whether any stage happened in one of `countries` (such as a list of covered countries).
    pub fn any_in(&self, countries: &BTreeSet<Country>) -> bool {
        self.0.iter().any(|(_, country)| countries.contains(country))
    }
}

impl Serialize for StageCountries {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// One stage's countries, written as a sequence.
        struct Countries<'a>(&'a [(Stage, Country)]);
        impl Serialize for Countries<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(|(_, country)| country))
            }
        }
        serializer.collect_map(self.0.chunk_by(|a, b| a.0 == b.0).map(|run| (run[0].0, Countries(run))))
    }
}

impl<'de> Deserialize<'de> for StageCountries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Stage, BTreeSet<Country>>::deserialize(deserializer)?;
        Ok(StageCountries(
            map.into_iter().flat_map(|(stage, countries)| countries.into_iter().map(move |c| (stage, c))).collect(),
        ))
    }
}
