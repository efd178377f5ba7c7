//! `party.registered` and `site.registered`.

use lode_domain::{Role, SiteKind};
use serde_json::json;

use crate::support::*;

pub fn cases() -> Vec<Case> {
    vec![
        // party.registered
        case("an operator registers a party")
            .given([bootstrap()])
            .when(party(OP, MINER, &["miner", "trader"], "VN"))
            .accepts_lots(&[])
            .check(|s, _| {
                let p = s.party(MINER).expect("registered");
                assert!(p.has_role(Role::Miner) && p.has_role(Role::Trader) && !p.has_role(Role::Operator));
                assert_eq!(p.country.as_str(), "VN");
                assert!(p.public_key.is_none() && p.hold.is_none());
            }),
        case("an operator registers a party with a public key")
            .given([bootstrap()])
            .when(merge(party(OP, MINER, &["miner"], "VN"), json!({"data": {"public_key": public_key_b64(3)}})))
            .accepts()
            .check(|s, _| {
                let key = s.party(MINER).and_then(|p| p.public_key.as_ref()).expect("a key");
                assert_eq!(key.to_base64(), public_key_b64(3));
            }),
        case("a second operator registers parties")
            .given([bootstrap(), party(OP, "op-2", &["operator"], "DE")])
            .when(party("op-2", MINER, &["miner"], "VN"))
            .accepts(),
        case("a miner cannot register parties")
            .given(world())
            .when(party(MINER, "newco", &["miner"], "VN"))
            .rejects("role_required"),
        case("an auditor cannot register parties")
            .given(world())
            .when(party(AUDITOR, "newco", &["miner"], "VN"))
            .rejects("role_required"),
        case("a party id is registered once")
            .given(world())
            .when(party(OP, MINER, &["refiner"], "CN"))
            .rejects("party_exists"),
        case("the operator cannot register itself again").given(world()).when(bootstrap()).rejects("party_exists"),
        // site.registered
        case("a party registers its own site")
            .given(world())
            .when(site(MINER, "vn-mine-2", MINER, "mine", "VN"))
            .accepts_lots(&[])
            .check(|s, _| {
                let site = s.site("vn-mine-2").expect("registered");
                assert_eq!(site.party.as_str(), MINER);
                assert_eq!(site.kind, SiteKind::Mine);
            }),
        case("an operator registers a site for a party")
            .given(world())
            .when(site(OP, "vn-port-1", MINER, "port", "VN"))
            .accepts(),
        case("a site with coordinates")
            .given(world())
            .when(merge(
                site(MINER, "vn-mine-2", MINER, "mine", "VN"),
                json!({"data": {"lat": "21.0285", "lon": "-105.8542"}}),
            ))
            .accepts()
            .check(|s, _| {
                let c = s.site("vn-mine-2").and_then(|x| x.coordinates.as_ref()).expect("coordinates");
                assert_eq!((c.lat.as_str(), c.lon.as_str()), ("21.0285", "-105.8542"));
            }),
        case("a site id is registered once")
            .given(world())
            .when(site(OP, MINE, REFINER, "refinery", "VN"))
            .rejects("site_exists"),
        case("a site for an unregistered party")
            .given(world())
            .when(site(OP, "ghost-site", "ghost", "mine", "VN"))
            .rejects("party_not_found"),
        case("a party cannot register a site for another")
            .given(world())
            .when(site(REFINER, "vn-mine-2", MINER, "mine", "VN"))
            .rejects("not_authorized"),
        case("an auditor cannot register a site for another")
            .given(world())
            .when(site(AUDITOR, "vn-mine-2", MINER, "mine", "VN"))
            .rejects("not_authorized"),
    ]
}

#[test]
fn master_data_table() {
    run(&cases());
}
