//! Lists of lots by custodian, material form, status and site.

use lode_domain::{Form, LotStatus, PartyId, SiteId};
use lode_query::{lots, LotFilter};

use crate::support::*;

fn ids(f: &Fixture, filter: &LotFilter, max: usize) -> (Vec<String>, bool) {
    let list = f.ledger.read(|s, _| lots(s, filter, max));
    (list.lots.iter().map(|l| l.lot.to_string()).collect(), list.truncated)
}

#[test]
fn lots_are_listed_by_custodian_form_status_and_site() {
    let mut events = story(Tweaks::default());
    events.push(hold(true, &day(20), "lot", RES));
    let f = Fixture::with(&events);
    let all = LotFilter::default();
    assert_eq!(ids(&f, &all, 100), ([ALLOY, MAGNET, METAL, ORE, OXIDE, RES].map(String::from).to_vec(), false));
    let party = |p: &str| Some(PartyId::new(p).unwrap());
    let refiner = LotFilter { party: party(REFINER), ..LotFilter::default() };
    assert_eq!(ids(&f, &refiner, 100).0, vec![ORE, RES]);
    let active_at_refinery = LotFilter {
        status: Some(LotStatus::Active),
        site: Some(SiteId::new(REFINERY).unwrap()),
        ..LotFilter::default()
    };
    assert_eq!(ids(&f, &active_at_refinery, 100).0, vec![ORE, RES]);
    let closed = LotFilter { status: Some(LotStatus::Closed), ..LotFilter::default() };
    assert_eq!(ids(&f, &closed, 100).0, vec![ALLOY, METAL, OXIDE]);
    let magnets = LotFilter { form: Some(Form::Magnet), party: party(MAKER), ..LotFilter::default() };
    let list = f.ledger.read(|s, _| lots(s, &magnets, 100));
    assert_eq!(list.lots.len(), 1);
    let magnet = &list.lots[0];
    assert_eq!(
        (magnet.lot.as_str(), magnet.status, magnet.site.as_str(), magnet.on_hold),
        (MAGNET, LotStatus::Active, MAGNET_PLANT, false)
    );
    let res = f.ledger.read(|s, _| lots(s, &refiner, 100)).lots.into_iter().find(|l| l.lot.as_str() == RES).unwrap();
    assert!(res.on_hold);
    assert_eq!(ids(&f, &LotFilter { form: Some(Form::Concentrate), ..LotFilter::default() }, 100), (vec![], false));
    // At most as many as asked, saying more matched.
    assert_eq!(ids(&f, &all, 2), (vec![ALLOY.to_string(), MAGNET.to_string()], true));
    assert_eq!(ids(&f, &closed, 3), ([ALLOY, METAL, OXIDE].map(String::from).to_vec(), false));
}
