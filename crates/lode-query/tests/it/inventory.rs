//! The inventory as of a past position or time, from the log, equals the live inventory then.

use std::str::FromStr;

use lode_projections::view::{InventoryFilter, InventoryRow};
use lode_query::{inventory_as_of, AsOf, AsOfError};

use crate::support::*;

#[test]
fn the_inventory_as_of_a_past_position_is_the_live_inventory_when_the_log_stood_there() {
    let f = Fixture::new();
    let lines = scenario(30, 11);
    // Appended in uneven batches; after each, the live inventory is what the log says at the head.
    let mut captured: Vec<(u64, Vec<InventoryRow>)> = vec![(0, Vec::new())];
    let mut at = 0;
    for size in [1, 37, 120, 3, 250, 500].into_iter().cycle() {
        if at >= lines.len() {
            break;
        }
        let end = (at + size).min(lines.len());
        f.append_lines(&lines[at..end]);
        at = end;
        captured.push((f.store.head().seq, f.inventory()));
    }
    assert!(captured.len() > 8);
    assert!(captured.iter().any(|(_, rows)| rows.iter().any(|r| r.in_transit_lots > 0)), "some lots in transit");
    let live_digest = f.ledger.digest();
    let reader = f.store.reader();
    let all = InventoryFilter::default();
    for (position, rows) in &captured {
        let past = inventory_as_of(&reader, AsOf::Position(*position), &all).unwrap();
        assert_eq!(past.position, *position);
        assert_eq!(&past.rows, rows, "as of position {position}");
    }
    // Filters apply as to the live inventory.
    let (position, rows) = &captured[captured.len() / 2];
    let party: lode_domain::PartyId = rows[0].party.clone();
    let filter = InventoryFilter { party: Some(party.clone()), ..InventoryFilter::default() };
    let past = inventory_as_of(&reader, AsOf::Position(*position), &filter).unwrap();
    let expected: Vec<InventoryRow> = rows.iter().filter(|r| r.party == party).cloned().collect();
    assert_eq!(past.rows, expected);
    // Nothing of the live ledger changed.
    assert_eq!(f.ledger.digest(), live_digest);
    assert_eq!(f.ledger.position(), f.store.head().seq);
}

#[test]
fn the_inventory_as_of_a_time_counts_the_events_recorded_until_then() {
    let f = Fixture::new();
    let lines = scenario(20, 3);
    let half = lines.len() / 2;
    f.append_lines(&lines[..half]);
    let middle = f.store.head().seq;
    let at_middle = f.inventory();
    std::thread::sleep(std::time::Duration::from_millis(5));
    f.append_lines(&lines[half..]);
    let reader = f.store.reader();
    let all = InventoryFilter::default();

    // The recorded_at of the last record of the first append: every record after it was recorded later.
    let recorded_at = reader.get(middle).unwrap().unwrap().header().recorded_at.to_string();
    let past = inventory_as_of(&reader, AsOf::from_str(&recorded_at).unwrap(), &all).unwrap();
    assert_eq!((past.position, past.recorded_at.as_deref()), (middle, Some(recorded_at.as_str())));
    assert_eq!(past.rows, at_middle);

    // The same instant written with another offset.
    let parsed = chrono::DateTime::parse_from_rfc3339(&recorded_at).unwrap();
    let tokyo = parsed.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap()).to_rfc3339();
    assert_eq!(inventory_as_of(&reader, AsOf::from_str(&tokyo).unwrap(), &all).unwrap().position, middle);

    let before = inventory_as_of(&reader, AsOf::from_str("2000-01-01T00:00:00Z").unwrap(), &all).unwrap();
    assert_eq!((before.position, before.rows.len()), (0, 0));
    let after = inventory_as_of(&reader, AsOf::from_str("9999-01-01T00:00:00+01:00").unwrap(), &all).unwrap();
    assert_eq!((after.position, &after.rows), (f.store.head().seq, &f.inventory()));
}

#[test]
fn past_points_are_positions_or_rfc_3339_times_within_the_log() {
    assert_eq!(AsOf::from_str("42"), Ok(AsOf::Position(42)));
    assert!(matches!(AsOf::from_str("2025-03-01T12:00:00+09:00"), Ok(AsOf::Time(_))));
    for bad in ["", "-3", "yesterday", "2025-03-01", "2025-03-01T12:00:00", "99999999999999999999999"] {
        assert_eq!(AsOf::from_str(bad), Err(AsOfError::Invalid { text: bad.into() }), "{bad:?}");
    }
    let f = Fixture::with(&story(Tweaks::default()));
    let head = f.store.head().seq;
    let err = inventory_as_of(&f.store.reader(), AsOf::Position(head + 1), &InventoryFilter::default()).unwrap_err();
    assert_eq!(err, AsOfError::BeyondHead { position: head + 1, head });
    assert_eq!(err.to_string(), format!("position {} is beyond the head of the log at {head}", head + 1));
    let whole = inventory_as_of(&f.store.reader(), AsOf::Position(head), &InventoryFilter::default()).unwrap();
    assert_eq!(whole.rows, f.inventory());
}
