//! The closed word lists of the vocabulary (roles, site kinds, forms, processes, …) and the small
//! checked values events carry: countries, element symbols, oxide formulas, digests, coordinates and
//! materials.

use std::collections::BTreeSet;
use std::fmt;

/// Declares an enum written as a fixed set of lowercase strings.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order the vocabulary lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The value as written in events.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value written as `text`, if it is one.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The accepted spellings, comma separated, for messages. (Some lists, such as the
            /// statuses, are never read from events, so this may go unused.)
            #[allow(dead_code)]
            pub(crate) fn allowed() -> &'static str {
                concat!($($text, ", ",)+)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {} {:?}", stringify!($name), s))
                })
            }
        }
    };
}

string_enum!(
    /// What a party does; a party has one or more roles.
    Role {
        Miner = "miner",
        Processor = "processor",
        Refiner = "refiner",
        Carrier = "carrier",
        Trader = "trader",
        Importer = "importer",
        MagnetMaker = "magnet_maker",
        Lab = "lab",
        Auditor = "auditor",
        /// Runs the ledger: registers parties, places holds.
        Operator = "operator",
    }
);

string_enum!(
    /// What a site is.
    SiteKind {
        Mine = "mine",
        ProcessingPlant = "processing_plant",
        SeparationPlant = "separation_plant",
        Refinery = "refinery",
        MetalPlant = "metal_plant",
        MagnetPlant = "magnet_plant",
        Warehouse = "warehouse",
        Port = "port",
        Lab = "lab",
    }
);

string_enum!(
    /// The physical form of a material.
    Form {
        Ore = "ore",
        Concentrate = "concentrate",
        MixedCarbonate = "mixed_carbonate",
        MixedOxide = "mixed_oxide",
        Oxide = "oxide",
        Metal = "metal",
        Alloy = "alloy",
        Magnet = "magnet",
        Residue = "residue",
    }
);

impl Form {
    /// Whether a material of this form must list its rare-earth elements.
    pub fn requires_elements(self) -> bool {
        matches!(self, Form::Oxide | Form::Metal | Form::Alloy | Form::Magnet)
    }

    /// The processing stage that making material of this form records, when the form is new to a
    /// transformation: oxides are separation, metals and alloys the metal stage, magnets the magnet stage.
    pub fn stage(self) -> Option<Stage> {
        match self {
            Form::Oxide | Form::MixedOxide => Some(Stage::Separation),
            Form::Metal | Form::Alloy => Some(Stage::Metal),
            Form::Magnet => Some(Stage::Magnet),
            _ => None,
        }
    }
}

string_enum!(
    /// The kind of a transformation.
    Process {
        Separation = "separation",
        Refining = "refining",
        Calcination = "calcination",
        Reduction = "reduction",
        Alloying = "alloying",
        MagnetMaking = "magnet_making",
        /// One input into outputs of exactly its material.
        Split = "split",
        /// Inputs of one form into outputs of that form.
        Blend = "blend",
        Repack = "repack",
        Other = "other",
    }
);

string_enum!(
    /// The kind of a document attached to a lot or shipment.
    DocumentKind {
        BillOfLading = "bill_of_lading",
        Invoice = "invoice",
        ExportDeclaration = "export_declaration",
        CertificateOfOrigin = "certificate_of_origin",
        CertificateOfAnalysis = "certificate_of_analysis",
        Permit = "permit",
        AuditReport = "audit_report",
        Other = "other",
    }
);

string_enum!(
    /// Why mass left the ledger through `lot.consumed`.
    ConsumeReason {
        DeliveredToProduct = "delivered_to_product",
        Destroyed = "destroyed",
        Lost = "lost",
        Sample = "sample",
    }
);

string_enum!(
    /// Why an event is corrected.
    CorrectionReason {
        DidNotOccur = "did_not_occur",
        IncorrectData = "incorrect_data",
    }
);

string_enum!(
    /// Where a lot is in its life.
    LotStatus {
        /// At a site, in its custodian's hands.
        Active = "active",
        /// On a shipment that its receiver has neither received nor rejected.
        InTransit = "in_transit",
        /// Its remaining mass reached 0.
        Closed = "closed",
    }
);

string_enum!(
    /// The four stages of the US NDAA FY2023 §857 disclosure.
    Stage {
        /// Where the ore was extracted.
        Mining = "mining",
        /// Separated or refined into oxide.
        Separation = "separation",
        /// Made into metal or alloy.
        Metal = "metal",
        /// Made into magnets.
        Magnet = "magnet",
    }
);

string_enum!(
    /// A rare-earth element: the lanthanides La to Lu, yttrium and scandium.
    Element {
        La = "La",
        Ce = "Ce",
        Pr = "Pr",
        Nd = "Nd",
        Pm = "Pm",
        Sm = "Sm",
        Eu = "Eu",
        Gd = "Gd",
        Tb = "Tb",
        Dy = "Dy",
        Ho = "Ho",
        Er = "Er",
        Tm = "Tm",
        Yb = "Yb",
        Lu = "Lu",
        Y = "Y",
        Sc = "Sc",
    }
);

/// The officially assigned ISO 3166-1 alpha-2 codes (249), sorted.
const COUNTRY_CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", //
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW",
    "BY", "BZ", //
    "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY",
    "CZ", //
    "DE", "DJ", "DK", "DM", "DO", "DZ", //
    "EC", "EE", "EG", "EH", "ER", "ES", "ET", //
    "FI", "FJ", "FK", "FM", "FO", "FR", //
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW",
    "GY", //
    "HK", "HM", "HN", "HR", "HT", "HU", //
    "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", //
    "JE", "JM", "JO", "JP", //
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", //
    "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", //
    "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV",
    "MW", "MX", "MY", "MZ", //
    "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", //
    "OM", //
    "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", //
    "QA", //
    "RE", "RO", "RS", "RU", "RW", //
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX",
    "SY", "SZ", //
    "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", //
    "UA", "UG", "UM", "US", "UY", "UZ", //
    "VA", "VC", "VE", "VG", "VI", "VN", "VU", //
    "WF", "WS", //
    "YE", "YT", //
    "ZA", "ZM", "ZW",
];

/// An officially assigned ISO 3166-1 alpha-2 country code (`VN`, `JP`). User-assigned (`XK`) and
/// reserved (`EU`, `UK`) codes are not countries here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country(&'static str);

impl Country {
    /// The country with this code, if it is officially assigned. Codes are upper case.
    pub fn parse(code: &str) -> Option<Self> {
        COUNTRY_CODES.binary_search(&code).ok().map(|i| Country(COUNTRY_CODES[i]))
    }

    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Every officially assigned code, sorted.
    pub fn all() -> impl Iterator<Item = Country> {
        COUNTRY_CODES.iter().map(|c| Country(c))
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Country::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown country {s:?}")))
    }
}

/// The symbols of the 118 named chemical elements, for oxide formulas.
const CHEMICAL_SYMBOLS: [&str; 118] = [
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca",
    "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",
    "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce",
    "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir",
    "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm",
    "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc",
    "Lv", "Ts", "Og",
];

/// Largest count after an element symbol in an oxide formula.
const FORMULA_COUNT_MAX: u32 = 999;

/// A chemical formula made of element symbols with optional counts, as used for oxides in assays:
/// `Nd2O3`, `Pr6O11`, `CeO2`. No parentheses, charges or hydrates; a count is 1 to 999 without leading
/// zeros.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OxideFormula(String);

impl OxideFormula {
    /// The formula written as `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        is_formula(text).then(|| OxideFormula(text.to_string()))
    }

    /// The formula's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OxideFormula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_formula(text: &str) -> bool {
    let b = text.as_bytes();
    if b.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_uppercase() {
            return false;
        }
        let symbol_end = if b.get(i + 1).is_some_and(u8::is_ascii_lowercase) { i + 2 } else { i + 1 };
        if !CHEMICAL_SYMBOLS.contains(&&text[i..symbol_end]) {
            return false;
        }
        i = symbol_end;
        let digits_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i > digits_start {
            let digits = &text[digits_start..i];
            if digits.starts_with('0') || digits.len() > 3 {
                return false;
            }
            match digits.parse::<u32>() {
                Ok(n) if (1..=FORMULA_COUNT_MAX).contains(&n) => {}
                _ => return false,
            }
        }
    }
    true
}

/// A BLAKE3 digest of a document's bytes: 64 lower-case hex characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// The digest written as `text`, if it is 64 lower-case hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 64 && text.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Digest(text.to_string()))
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Most digits after the decimal point in a coordinate (about 0.1 nm: plenty).
const COORDINATE_FRACTION_DIGITS_MAX: usize = 15;

/// A site's position as the decimal strings given, `lat` in [-90, 90] and `lon` in [-180, 180]. They are
/// kept as text so that no floating point is involved and the canonical form repeats them exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinates {
    /// Latitude in decimal degrees, e.g. `"21.0285"`.
    pub lat: String,
    /// Longitude in decimal degrees, e.g. `"105.8542"`.
    pub lon: String,
}

/// Whether `text` is a decimal number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?`) of magnitude at most `bound`.
pub(crate) fn is_bounded_decimal(text: &str, bound: u32) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    if int.is_empty() || int.len() > 3 || !int.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    if int.len() > 1 && int.starts_with('0') {
        return false;
    }
    if let Some(frac) = frac {
        if frac.is_empty() || frac.len() > COORDINATE_FRACTION_DIGITS_MAX || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    let Ok(whole) = int.parse::<u32>() else {
        return false;
    };
    whole < bound || (whole == bound && frac.is_none_or(|f| f.bytes().all(|c| c == b'0')))
}

/// What a lot is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// The physical form.
    pub form: Form,
    /// The rare-earth elements it carries, in the order given. Present (and non-empty) for the forms
    /// that [require](Form::requires_elements) it; optional for the others.
    pub elements: Option<Vec<Element>>,
    /// Free-text grade, e.g. `"99.5%"`.
    pub grade: Option<String>,
    /// Harmonized System code, e.g. `"284690"`.
    pub hs_code: Option<String>,
}

impl Material {
    /// The elements as a set (empty when none are listed).
    pub fn element_set(&self) -> BTreeSet<Element> {
        self.elements.iter().flatten().copied().collect()
    }

    /// Whether `other` is exactly this material, elements compared as sets: the rule for a `split`.
    pub fn same_material(&self, other: &Material) -> bool {
        self.form == other.form
            && self.element_set() == other.element_set()
            && self.grade == other.grade
            && self.hs_code == other.hs_code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_table_is_sorted_complete_and_unique() {
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(COUNTRY_CODES.iter().all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())));
        for code in ["VN", "CN", "JP", "US", "DE", "AX", "BQ", "SS", "CW", "SX", "BL", "MF", "TW", "PS", "EH"] {
            assert!(Country::parse(code).is_some(), "{code}");
        }
        // User-assigned, exceptionally or transitionally reserved, withdrawn, and wrong case.
        for code in ["XK", "EU", "UK", "AN", "YU", "CS", "SU", "ZZ", "vn", "Vn", "V", "VNM", ""] {
            assert!(Country::parse(code).is_none(), "{code}");
        }
    }

    #[test]
    fn chemical_symbols_are_unique() {
        let set: BTreeSet<&str> = CHEMICAL_SYMBOLS.iter().copied().collect();
        assert_eq!(set.len(), CHEMICAL_SYMBOLS.len());
        for e in Element::ALL {
            assert!(CHEMICAL_SYMBOLS.contains(&e.as_str()), "{e}");
        }
    }

    #[test]
    fn formulas_are_symbols_with_counts() {
        for ok in ["Nd2O3", "Pr6O11", "Dy2O3", "CeO2", "Y2O3", "ThO2", "Fe2O3", "O", "U3O8", "Nd999"] {
            assert!(OxideFormula::parse(ok).is_some(), "{ok}");
        }
        for bad in ["", "nd2O3", "Nd2o3", "Xx2O3", "Nd0O3", "Nd02O3", "Nd1000", "Nd2 O3", "(Nd)2O3", "2Nd", "Nd-O"] {
            assert!(OxideFormula::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn digests_are_lowercase_hex() {
        assert!(Digest::parse(&"a1".repeat(32)).is_some());
        assert!(Digest::parse(&"A1".repeat(32)).is_none());
        assert!(Digest::parse(&"a1".repeat(31)).is_none());
        assert!(Digest::parse(&"g1".repeat(32)).is_none());
    }

    #[test]
    fn coordinates_are_bounded_decimals() {
        for ok in ["0", "-0", "90", "-90", "90.000", "21.0285", "-89.999999999999999", "7"] {
            assert!(is_bounded_decimal(ok, 90), "{ok}");
        }
        for bad in ["", "-", "90.0001", "91", "+1", "01", "1.", ".5", "1e2", "1,5", " 1", "1.0000000000000001", "1000"]
        {
            assert!(!is_bounded_decimal(bad, 90), "{bad}");
        }
        assert!(is_bounded_decimal("-180", 180) && !is_bounded_decimal("180.5", 180));
    }
}
